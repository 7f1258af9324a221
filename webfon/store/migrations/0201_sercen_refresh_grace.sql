-- When a refresh token was rotated: a second use within a few seconds is two tabs racing
-- (answered 409, nothing revoked); later it means the token was copied (session revoked).
ALTER TABLE sercen_refresh_tokens ADD COLUMN used_at DOUBLE NOT NULL DEFAULT 0;
