-- sercen: pending second-factor challenges, regulation (failures and bans shared by every
-- sercen node), rotating refresh tokens and TOTP enrolments awaiting confirmation.
-- Opaque values (challenge ids, refresh tokens, email codes) are stored only as hashes.

CREATE TABLE IF NOT EXISTS sercen_challenges (
    id_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    method VARCHAR(8) NOT NULL CHECK (method IN ('email', 'totp')),
    code_hash VARCHAR(64) NOT NULL DEFAULT '',
    code_expires_at DOUBLE NOT NULL DEFAULT 0,
    sent_at DOUBLE NOT NULL DEFAULT 0,
    send_count INTEGER NOT NULL DEFAULT 0,
    ip VARCHAR(64) NOT NULL DEFAULT '',
    created_at DOUBLE NOT NULL,
    expires_at DOUBLE NOT NULL
) {table};
CREATE INDEX IF NOT EXISTS sercen_challenges_user ON sercen_challenges (user_id);
CREATE INDEX IF NOT EXISTS sercen_challenges_expiry ON sercen_challenges (expires_at);

-- subject_kind 'user' (subject 'u:<id>' or 'n:<login as typed>') or 'ip'.
CREATE TABLE IF NOT EXISTS sercen_failures (
    id {pk},
    subject_kind VARCHAR(8) NOT NULL CHECK (subject_kind IN ('user', 'ip')),
    subject VARCHAR(96) NOT NULL,
    factor VARCHAR(16) NOT NULL,
    at DOUBLE NOT NULL
) {table};
CREATE INDEX IF NOT EXISTS sercen_failures_subject ON sercen_failures (subject_kind, subject, at);

CREATE TABLE IF NOT EXISTS sercen_bans (
    subject_kind VARCHAR(8) NOT NULL CHECK (subject_kind IN ('user', 'ip')),
    subject VARCHAR(96) NOT NULL,
    banned_at DOUBLE NOT NULL,
    banned_until DOUBLE NOT NULL,
    PRIMARY KEY (subject_kind, subject)
) {table};

-- One row per refresh token; a family is one login session. used=1 once rotated: presenting
-- it again revokes the whole family (and its access tokens through access_jti).
CREATE TABLE IF NOT EXISTS sercen_refresh_tokens (
    token_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    family VARCHAR(64) NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    access_jti VARCHAR(64) NOT NULL,
    access_expires_at DOUBLE NOT NULL,
    amr VARCHAR(64) NOT NULL DEFAULT '',
    issued_at DOUBLE NOT NULL,
    expires_at DOUBLE NOT NULL,
    family_expires_at DOUBLE NOT NULL,
    used INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1)),
    revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) {table};
CREATE INDEX IF NOT EXISTS sercen_refresh_family ON sercen_refresh_tokens (family);
CREATE INDEX IF NOT EXISTS sercen_refresh_access ON sercen_refresh_tokens (access_jti);
CREATE INDEX IF NOT EXISTS sercen_refresh_expiry ON sercen_refresh_tokens (expires_at);

CREATE TABLE IF NOT EXISTS sercen_totp_pending (
    user_id BIGINT NOT NULL PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_enc VARCHAR(512) NOT NULL,
    created_at DOUBLE NOT NULL
) {table};
