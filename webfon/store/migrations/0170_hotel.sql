-- Hotel PMS interface (CHAR / hmobile connect): rooms and their guests, wake-up calls,
-- room status codes dialled from the rooms, the calls billed to a stay, and the messages
-- waiting to be delivered to the PMS.

-- The hotel's settings: one row (id = 1), written by FONBO's admin API, read by the PBX.
-- char_user / char_password_hash: what CHAR presents in [credentials] (argon2id hash).
CREATE TABLE IF NOT EXISTS hotel_settings (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    site VARCHAR(64) NOT NULL DEFAULT '',
    char_user VARCHAR(64) NOT NULL DEFAULT '',
    char_password_hash VARCHAR(255) NOT NULL DEFAULT '',
    timezone VARCHAR(64) NOT NULL DEFAULT 'Europe/Madrid',
    wakeup_ring_s INTEGER NOT NULL DEFAULT 30 CHECK (wakeup_ring_s BETWEEN 2 AND 300),
    wakeup_retries INTEGER NOT NULL DEFAULT 2 CHECK (wakeup_retries BETWEEN 0 AND 10),
    wakeup_retry_s INTEGER NOT NULL DEFAULT 300 CHECK (wakeup_retry_s BETWEEN 1 AND 3600),
    wakeup_prompt_id BIGINT REFERENCES ivr_prompts(id) ON DELETE SET NULL,
    wakeup_repeat INTEGER NOT NULL DEFAULT 3 CHECK (wakeup_repeat BETWEEN 1 AND 10),
    wakeup_caller_name VARCHAR(64) NOT NULL DEFAULT 'Despertador',
    wakeup_code VARCHAR(8) NOT NULL DEFAULT '*55',
    wakeup_cancel_code VARCHAR(8) NOT NULL DEFAULT '*56',
    report_internal_calls INTEGER NOT NULL DEFAULT 0 CHECK (report_internal_calls IN (0, 1)),
    updated_at DOUBLE NOT NULL DEFAULT 0
) {table};

-- A room: its extension (whose owner user carries the guest's name while occupied), the
-- name it shows while vacant, and what the PMS set (DND, message waiting).
CREATE TABLE IF NOT EXISTS hotel_rooms (
    id {pk},
    room VARCHAR(16) NOT NULL UNIQUE,
    extension_id BIGINT NOT NULL UNIQUE REFERENCES extensions(id) ON DELETE CASCADE,
    vacant_name VARCHAR(128) NOT NULL DEFAULT '',
    state VARCHAR(10) NOT NULL DEFAULT 'vacant' CHECK (state IN ('vacant', 'occupied')),
    stay_id BIGINT,
    dnd INTEGER NOT NULL DEFAULT 0 CHECK (dnd IN (0, 1)),
    message_waiting INTEGER NOT NULL DEFAULT 0 CHECK (message_waiting IN (0, 1)),
    updated_at DOUBLE NOT NULL DEFAULT 0
) {table};

-- A guest's stay, from check-in to check-out; room is where the guest is now.
CREATE TABLE IF NOT EXISTS hotel_stays (
    id {pk},
    room VARCHAR(16) NOT NULL,
    guest_name VARCHAR(128) NOT NULL,
    guest_id VARCHAR(64) NOT NULL DEFAULT '',
    language VARCHAR(8) NOT NULL DEFAULT '',
    checkin_at DOUBLE NOT NULL,
    checkout_at DOUBLE
) {table};
CREATE INDEX IF NOT EXISTS hotel_stays_room ON hotel_stays (room, checkin_at);

-- Calls made from a room during a stay (answered), for billing.
CREATE TABLE IF NOT EXISTS hotel_calls (
    id {pk},
    stay_id BIGINT REFERENCES hotel_stays(id) ON DELETE SET NULL,
    room VARCHAR(16) NOT NULL,
    call_id VARCHAR(255) NOT NULL,
    number VARCHAR(64) NOT NULL,
    external INTEGER NOT NULL DEFAULT 0 CHECK (external IN (0, 1)),
    trunk VARCHAR(64) NOT NULL DEFAULT '',
    started_at DOUBLE NOT NULL,
    answered_at DOUBLE,
    ended_at DOUBLE NOT NULL,
    billsec DOUBLE NOT NULL DEFAULT 0
) {table};
CREATE INDEX IF NOT EXISTS hotel_calls_stay ON hotel_calls (stay_id, started_at);
CREATE INDEX IF NOT EXISTS hotel_calls_room ON hotel_calls (room, started_at);

-- Wake-up calls: due_at is the time asked for, next_at the next attempt; a node claims one
-- by moving it to 'calling' with a lease (a node that died mid-call leaves it to the others).
CREATE TABLE IF NOT EXISTS hotel_wakeups (
    id {pk},
    room VARCHAR(16) NOT NULL,
    due_at DOUBLE NOT NULL,
    next_at DOUBLE NOT NULL,
    state VARCHAR(10) NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'calling', 'done', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    source VARCHAR(8) NOT NULL DEFAULT 'pms' CHECK (source IN ('pms', 'phone')),
    lease_until DOUBLE NOT NULL DEFAULT 0,
    result VARCHAR(128) NOT NULL DEFAULT '',
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL
) {table};
CREATE INDEX IF NOT EXISTS hotel_wakeups_due ON hotel_wakeups (state, next_at);
CREATE INDEX IF NOT EXISTS hotel_wakeups_room ON hotel_wakeups (room, state);

-- Codes a room phone dials to tell the PMS something (room clean, minibar…): the phone dials
-- «dial»# or «dial»*<value># when the code takes a value; the PMS receives «code».
CREATE TABLE IF NOT EXISTS hotel_status_codes (
    id {pk},
    dial VARCHAR(8) NOT NULL UNIQUE,
    code VARCHAR(32) NOT NULL,
    label VARCHAR(64) NOT NULL DEFAULT '',
    takes_value INTEGER NOT NULL DEFAULT 0 CHECK (takes_value IN (0, 1))
) {table};

-- Messages for the PMS, delivered in order with retries (they survive restarts).
CREATE TABLE IF NOT EXISTS hotel_outbox (
    id {pk},
    action VARCHAR(16) NOT NULL,
    address VARCHAR(16) NOT NULL DEFAULT '',
    data {text} NOT NULL,
    state VARCHAR(10) NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'refused')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at DOUBLE NOT NULL,
    lease_until DOUBLE NOT NULL DEFAULT 0,
    last_error VARCHAR(255) NOT NULL DEFAULT '',
    created_at DOUBLE NOT NULL,
    delivered_at DOUBLE
) {table};
CREATE INDEX IF NOT EXISTS hotel_outbox_next ON hotel_outbox (state, next_at, id);
