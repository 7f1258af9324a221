-- Embedded PBX: location (registrations), web phone sessions, ACD member memory.

-- One row per registered contact; several contacts per address of record (one per phone).
CREATE TABLE IF NOT EXISTS registrations (
    id {pk},
    aor VARCHAR(64) NOT NULL,
    contact VARCHAR(512) NOT NULL,
    username VARCHAR(64) NOT NULL DEFAULT '',
    phone_id BIGINT REFERENCES phones(id) ON DELETE CASCADE,
    source VARCHAR(128) NOT NULL DEFAULT '',
    transport VARCHAR(8) NOT NULL DEFAULT 'udp',
    call_id VARCHAR(255) NOT NULL DEFAULT '',
    cseq INTEGER NOT NULL DEFAULT 0,
    user_agent VARCHAR(255) NOT NULL DEFAULT '',
    registered_at DOUBLE NOT NULL,
    expires_at DOUBLE NOT NULL,
    reachable INTEGER NOT NULL DEFAULT 1 CHECK (reachable IN (0, 1)),
    UNIQUE (aor, contact)
) {table};
CREATE INDEX IF NOT EXISTS registrations_expiry ON registrations (expires_at);

-- A logged-in web phone; saved_state holds what logout must put back (JSON).
CREATE TABLE IF NOT EXISTS webphone_sessions (
    user_id BIGINT NOT NULL PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    node_id INTEGER NOT NULL,
    extension_id BIGINT NOT NULL UNIQUE,
    extension VARCHAR(32) NOT NULL,
    hard_extension_id BIGINT,
    phone_id BIGINT,
    mode VARCHAR(16) NOT NULL CHECK (mode IN ('exclusivo', 'multiterminal')),
    sip_username VARCHAR(64) NOT NULL,
    created_at DOUBLE NOT NULL,
    saved_state {text}
) {table};
CREATE INDEX IF NOT EXISTS webphone_sessions_node ON webphone_sessions (node_id);

-- ACD memory: last call and calls taken per member, round-robin position per queue.
CREATE TABLE IF NOT EXISTS queue_member_memory (
    queue_id BIGINT NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    extension_id BIGINT NOT NULL REFERENCES extensions(id) ON DELETE CASCADE,
    last_call_at DOUBLE NOT NULL DEFAULT 0,
    calls_taken INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, extension_id)
) {table};

CREATE TABLE IF NOT EXISTS queue_rr_memory (
    queue_id BIGINT NOT NULL PRIMARY KEY REFERENCES queues(id) ON DELETE CASCADE,
    last_extension_id BIGINT NOT NULL
) {table};

-- «Grupos de movilidad»: the extensions each mobility group may use for call-by-call mobility.
CREATE TABLE IF NOT EXISTS mobility_group_extensions (
    group_id BIGINT NOT NULL REFERENCES mobility_groups(id) ON DELETE CASCADE,
    extension_id BIGINT NOT NULL REFERENCES extensions(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, extension_id)
) {table};
