-- Dialler campaigns (the class-V softswitch's ks_caller): a list of numbers called on the
-- owner's behalf (their category, trunks and CDR), each answered call connected to a group,
-- queue or IVR menu (destination, an internal number). Pacing: at most max_concurrent calls at
-- once and calls_per_s new calls a second, only within the weekly time window. An attempt that
-- ends busy, unanswered or failed is tried again after *_retry_s, at most *_retries times.
-- The PBX process running a campaign holds a lease on it (lease_owner until lease_until).
CREATE TABLE IF NOT EXISTS campaigns (
    id {pk},
    name VARCHAR(128) NOT NULL UNIQUE,
    owner_user_id BIGINT NOT NULL REFERENCES users(id),
    destination VARCHAR(32) NOT NULL,
    state VARCHAR(10) NOT NULL DEFAULT 'draft'
        CHECK (state IN ('draft', 'running', 'paused', 'finished', 'stopped')),
    max_concurrent INTEGER NOT NULL DEFAULT 2 CHECK (max_concurrent BETWEEN 1 AND 200),
    calls_per_s DOUBLE NOT NULL DEFAULT 1 CHECK (calls_per_s > 0 AND calls_per_s <= 50),
    ring_timeout_s INTEGER NOT NULL DEFAULT 30 CHECK (ring_timeout_s BETWEEN 1 AND 300),
    days VARCHAR(64) NOT NULL DEFAULT 'mon,tue,wed,thu,fri',
    time_from VARCHAR(5) NOT NULL DEFAULT '09:00',
    time_to VARCHAR(5) NOT NULL DEFAULT '20:00',
    timezone VARCHAR(64) NOT NULL DEFAULT 'Europe/Madrid',
    busy_retries INTEGER NOT NULL DEFAULT 2 CHECK (busy_retries BETWEEN 0 AND 20),
    busy_retry_s INTEGER NOT NULL DEFAULT 300 CHECK (busy_retry_s BETWEEN 1 AND 604800),
    no_answer_retries INTEGER NOT NULL DEFAULT 2 CHECK (no_answer_retries BETWEEN 0 AND 20),
    no_answer_retry_s INTEGER NOT NULL DEFAULT 600
        CHECK (no_answer_retry_s BETWEEN 1 AND 604800),
    failed_retries INTEGER NOT NULL DEFAULT 1 CHECK (failed_retries BETWEEN 0 AND 20),
    failed_retry_s INTEGER NOT NULL DEFAULT 900 CHECK (failed_retry_s BETWEEN 1 AND 604800),
    created_at DOUBLE NOT NULL,
    started_at DOUBLE,
    finished_at DOUBLE,
    lease_owner VARCHAR(64) NOT NULL DEFAULT '',
    lease_until DOUBLE NOT NULL DEFAULT 0
) {table};

-- The numbers of a campaign: pending (due at next_at), dialling (a call in progress), done
-- (outcome final: answered, refused by admission, or the retries used up).
CREATE TABLE IF NOT EXISTS campaign_numbers (
    id {pk},
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    number VARCHAR(32) NOT NULL,
    name VARCHAR(128) NOT NULL DEFAULT '',
    state VARCHAR(10) NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'dialling', 'done')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at DOUBLE NOT NULL DEFAULT 0,
    outcome VARCHAR(10) NOT NULL DEFAULT ''
        CHECK (outcome IN ('', 'answered', 'busy', 'no_answer', 'failed', 'refused')),
    last_status INTEGER NOT NULL DEFAULT 0,
    last_reason VARCHAR(128) NOT NULL DEFAULT '',
    last_attempt_at DOUBLE,
    answered_at DOUBLE,
    call_id VARCHAR(255) NOT NULL DEFAULT '',
    UNIQUE (campaign_id, number)
) {table};
CREATE INDEX IF NOT EXISTS campaign_numbers_due ON campaign_numbers (campaign_id, state, next_at);
