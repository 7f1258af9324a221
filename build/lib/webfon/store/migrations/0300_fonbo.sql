-- FONBO: per-user portal preferences, shared portal assets (the global logo), lookup indexes.

CREATE TABLE IF NOT EXISTS user_preferences (
    user_id BIGINT NOT NULL PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    audio_input_id VARCHAR(255) NOT NULL DEFAULT '',
    audio_output_id VARCHAR(255) NOT NULL DEFAULT '',
    ringer_output_id VARCHAR(255) NOT NULL DEFAULT '',
    language VARCHAR(8) NOT NULL DEFAULT '',
    updated_at DOUBLE NOT NULL
) {table};

-- Files every portal user sees (name 'logo'); kept in the store so every FONBO node serves them.
CREATE TABLE IF NOT EXISTS portal_assets (
    name VARCHAR(32) NOT NULL PRIMARY KEY,
    content_type VARCHAR(64) NOT NULL,
    data {blob} NOT NULL,
    etag VARCHAR(64) NOT NULL,
    updated_at DOUBLE NOT NULL,
    updated_by BIGINT REFERENCES users(id) ON DELETE SET NULL
) {table};

-- Presence fan-out: which users have a number in their agenda.
CREATE INDEX IF NOT EXISTS contacts_number_owner ON contacts (number, owner_user_id);

-- Missed-calls view and badge: unanswered calls of a user, newest first.
CREATE INDEX IF NOT EXISTS cdr_user_answered_started ON cdr (user_id, answered_at, started_at, id);
