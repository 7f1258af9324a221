-- Core data model (BDTR): organisation, numbering, users, extensions, phones, pools.
-- Times are epoch seconds (DOUBLE); booleans are 0/1 with CHECKs.

CREATE TABLE IF NOT EXISTS sites (
    id {pk},
    name VARCHAR(128) NOT NULL UNIQUE,
    address VARCHAR(255) NOT NULL DEFAULT ''
) {table};

CREATE TABLE IF NOT EXISTS nodes (
    id INTEGER PRIMARY KEY,
    name VARCHAR(128) NOT NULL UNIQUE,
    description VARCHAR(255) NOT NULL DEFAULT '',
    type VARCHAR(16) NOT NULL CHECK (type IN ('webrtc', 'registro', 'acd')),
    address VARCHAR(64) NOT NULL,
    site_id BIGINT NOT NULL REFERENCES sites(id)
) {table};

CREATE TABLE IF NOT EXISTS departments (
    id {pk},
    name VARCHAR(128) NOT NULL,
    site_id BIGINT REFERENCES sites(id),
    UNIQUE (name, site_id)
) {table};

-- Destination classes a category allows, comma separated from:
-- internal, emergency, local, national, mobile, international, premium, special.
CREATE TABLE IF NOT EXISTS categories (
    id {pk},
    name VARCHAR(64) NOT NULL UNIQUE,
    allowed VARCHAR(255) NOT NULL DEFAULT 'internal,emergency',
    description VARCHAR(255) NOT NULL DEFAULT ''
) {table};

CREATE TABLE IF NOT EXISTS mobility_groups (
    id {pk},
    name VARCHAR(128) NOT NULL UNIQUE
) {table};

-- «Pool de extensiones Webphone»: ranges like '7000-7009' and single numbers, comma separated.
CREATE TABLE IF NOT EXISTS webphone_pools (
    id {pk},
    name VARCHAR(128) NOT NULL UNIQUE,
    base_extension VARCHAR(32) NOT NULL DEFAULT '',
    ranges VARCHAR(1024) NOT NULL DEFAULT ''
) {table};

-- Every dialable number lives here once; users, extensions and queues point at it with
-- their kind, so a number can never belong to two things at once.
CREATE TABLE IF NOT EXISTS numbering (
    number VARCHAR(32) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL CHECK (kind IN ('user', 'extension', 'queue')),
    UNIQUE (number, kind)
) {table};

CREATE TABLE IF NOT EXISTS users (
    id {pk},
    display_name VARCHAR(128) NOT NULL,
    login_number VARCHAR(32) NOT NULL UNIQUE,
    number_kind VARCHAR(16) NOT NULL DEFAULT 'user' CHECK (number_kind = 'user'),
    username VARCHAR(64) UNIQUE,
    email VARCHAR(255) NOT NULL DEFAULT '',
    password_hash VARCHAR(255) NOT NULL,
    pin_hash VARCHAR(255),
    external_number VARCHAR(32) NOT NULL DEFAULT '',
    role VARCHAR(16) NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    user_type VARCHAR(20) NOT NULL DEFAULT 'normal'
        CHECK (user_type IN ('normal', 'solo_entrantes', 'test')),
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    category_id BIGINT REFERENCES categories(id),
    forward_category_id BIGINT REFERENCES categories(id),
    mobility_group_id BIGINT REFERENCES mobility_groups(id),
    department_id BIGINT REFERENCES departments(id),
    site_id BIGINT REFERENCES sites(id),
    personal_comms INTEGER NOT NULL DEFAULT 0 CHECK (personal_comms IN (0, 1)),
    recording_mode VARCHAR(16) NOT NULL DEFAULT 'none'
        CHECK (recording_mode IN ('none', 'always', 'on_demand')),
    second_factor VARCHAR(8) NOT NULL DEFAULT 'email' CHECK (second_factor IN ('email', 'totp')),
    webphone_pool_id BIGINT REFERENCES webphone_pools(id),
    webphone_extension VARCHAR(32),
    webphone_lines INTEGER NOT NULL DEFAULT -1 CHECK (webphone_lines >= -1),
    conference_rooms INTEGER NOT NULL DEFAULT -1 CHECK (conference_rooms >= -1),
    beep INTEGER NOT NULL DEFAULT -1 CHECK (beep IN (-1, 0, 1)),
    move_queue INTEGER NOT NULL DEFAULT -1 CHECK (move_queue IN (-1, 0, 1)),
    webphone_mode VARCHAR(16) NOT NULL DEFAULT 'exclusivo'
        CHECK (webphone_mode IN ('exclusivo', 'multiterminal')),
    webphone_position INTEGER CHECK (webphone_position BETWEEN 0 AND 7),
    created_at DOUBLE NOT NULL,
    FOREIGN KEY (login_number, number_kind) REFERENCES numbering(number, kind),
    -- a pool web extension cannot be multiterminal
    CHECK (webphone_mode = 'exclusivo' OR webphone_pool_id IS NULL)
) {table};

CREATE TABLE IF NOT EXISTS extension_templates (
    id {pk},
    name VARCHAR(64) NOT NULL UNIQUE,
    description VARCHAR(255) NOT NULL DEFAULT ''
) {table};

CREATE TABLE IF NOT EXISTS extensions (
    id {pk},
    number VARCHAR(32) NOT NULL UNIQUE,
    number_kind VARCHAR(16) NOT NULL DEFAULT 'extension' CHECK (number_kind = 'extension'),
    kind VARCHAR(8) NOT NULL DEFAULT 'hard' CHECK (kind IN ('hard', 'web')),
    owner_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    node_id INTEGER REFERENCES nodes(id),
    template_id BIGINT REFERENCES extension_templates(id),
    category_id BIGINT REFERENCES categories(id),
    pool_id BIGINT REFERENCES webphone_pools(id) ON DELETE CASCADE,
    mobility_enabled INTEGER NOT NULL DEFAULT 0 CHECK (mobility_enabled IN (0, 1)),
    line_count INTEGER NOT NULL DEFAULT 2 CHECK (line_count >= 1),
    conference_rooms INTEGER NOT NULL DEFAULT 0 CHECK (conference_rooms >= 0),
    beep INTEGER NOT NULL DEFAULT 0 CHECK (beep IN (0, 1)),
    FOREIGN KEY (number, number_kind) REFERENCES numbering(number, kind),
    CHECK (pool_id IS NULL OR kind = 'web')
) {table};

CREATE TABLE IF NOT EXISTS extension_groups (
    id {pk},
    name VARCHAR(128) NOT NULL UNIQUE
) {table};

CREATE TABLE IF NOT EXISTS extension_group_members (
    group_id BIGINT NOT NULL REFERENCES extension_groups(id) ON DELETE CASCADE,
    extension_id BIGINT NOT NULL REFERENCES extensions(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, extension_id)
) {table};

-- Multiterminal: up to 8 phones per extension (positions 0..7), rung by ring_order
-- (lowest first, equal orders together, 0 never rings). Secure phones get a generated SIP
-- secret (stored only as digest HA1s) with an expiry; «publicable en internet» needs secure;
-- the Web Call phone can be neither.
CREATE TABLE IF NOT EXISTS phones (
    id {pk},
    extension_id BIGINT NOT NULL REFERENCES extensions(id) ON DELETE CASCADE,
    model VARCHAR(64) NOT NULL DEFAULT 'generic',
    position INTEGER NOT NULL CHECK (position BETWEEN 0 AND 7),
    ring_order INTEGER NOT NULL DEFAULT 1 CHECK (ring_order >= 0),
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    secure INTEGER NOT NULL DEFAULT 0 CHECK (secure IN (0, 1)),
    publishable INTEGER NOT NULL DEFAULT 0 CHECK (publishable IN (0, 1)),
    is_webcall INTEGER NOT NULL DEFAULT 0 CHECK (is_webcall IN (0, 1)),
    category_id BIGINT REFERENCES categories(id),
    sip_username VARCHAR(64) NOT NULL UNIQUE,
    sip_ha1_md5 VARCHAR(64) NOT NULL DEFAULT '',
    sip_ha1_sha256 VARCHAR(64) NOT NULL DEFAULT '',
    secret_expires_at DOUBLE,
    UNIQUE (extension_id, position),
    CHECK (publishable = 0 OR secure = 1),
    CHECK (is_webcall = 0 OR (secure = 0 AND publishable = 0))
) {table};

CREATE TABLE IF NOT EXISTS forwarding_rules (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind VARCHAR(16) NOT NULL
        CHECK (kind IN ('not_logged_in', 'no_answer', 'busy', 'unconditional')),
    enabled INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    target_type VARCHAR(16) NOT NULL DEFAULT 'number'
        CHECK (target_type IN ('number', 'voicemail')),
    target_number VARCHAR(32) NOT NULL DEFAULT '',
    timeout_s INTEGER NOT NULL DEFAULT 20 CHECK (timeout_s BETWEEN 1 AND 600),
    UNIQUE (user_id, kind),
    CHECK (target_type = 'voicemail' OR enabled = 0 OR target_number <> '')
) {table};

CREATE TABLE IF NOT EXISTS queues (
    id {pk},
    number VARCHAR(32) NOT NULL UNIQUE,
    number_kind VARCHAR(16) NOT NULL DEFAULT 'queue' CHECK (number_kind = 'queue'),
    name VARCHAR(128) NOT NULL UNIQUE,
    kind VARCHAR(16) NOT NULL CHECK (kind IN ('hunt', 'operator', 'acd')),
    strategy VARCHAR(16) NOT NULL DEFAULT 'ringall'
        CHECK (strategy IN ('ringall', 'linear', 'roundrobin', 'leastrecent', 'fewestcalls',
                            'random')),
    ring_timeout_s INTEGER NOT NULL DEFAULT 15 CHECK (ring_timeout_s > 0),
    timeout_s INTEGER NOT NULL DEFAULT 60 CHECK (timeout_s > 0),
    overflow_target VARCHAR(32) NOT NULL DEFAULT '',
    stats_enabled INTEGER NOT NULL DEFAULT 0 CHECK (stats_enabled IN (0, 1)),
    FOREIGN KEY (number, number_kind) REFERENCES numbering(number, kind)
) {table};

CREATE TABLE IF NOT EXISTS queue_members (
    queue_id BIGINT NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    extension_id BIGINT NOT NULL REFERENCES extensions(id) ON DELETE CASCADE,
    penalty INTEGER NOT NULL DEFAULT 0 CHECK (penalty >= 0),
    paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    dynamic INTEGER NOT NULL DEFAULT 0 CHECK (dynamic IN (0, 1)),
    PRIMARY KEY (queue_id, extension_id)
) {table};

-- Gateways tried in priority order (Trunk_vivait_gw01, gw02, …).
CREATE TABLE IF NOT EXISTS trunks (
    id {pk},
    name VARCHAR(64) NOT NULL UNIQUE,
    host VARCHAR(255) NOT NULL,
    port INTEGER NOT NULL DEFAULT 5060 CHECK (port BETWEEN 1 AND 65535),
    transport VARCHAR(8) NOT NULL DEFAULT 'udp' CHECK (transport IN ('udp', 'tcp', 'tls')),
    priority INTEGER NOT NULL DEFAULT 1,
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    ip_auth INTEGER NOT NULL DEFAULT 1 CHECK (ip_auth IN (0, 1)),
    username VARCHAR(64) NOT NULL DEFAULT '',
    secret_enc VARCHAR(512) NOT NULL DEFAULT '',
    prefix_strip INTEGER NOT NULL DEFAULT 0 CHECK (prefix_strip >= 0)
) {table};

CREATE TABLE IF NOT EXISTS mdflow_flows (
    id {pk},
    section VARCHAR(64) NOT NULL UNIQUE,
    flujo VARCHAR(128) NOT NULL,
    en_paso INTEGER NOT NULL DEFAULT 1 CHECK (en_paso IN (0, 1)),
    tasa_sal_seg DOUBLE NOT NULL DEFAULT 1 CHECK (tasa_sal_seg > 0),
    dnis_max INTEGER NOT NULL DEFAULT 1 CHECK (dnis_max >= 0),
    dnis_umbral_masivo INTEGER NOT NULL DEFAULT 10 CHECK (dnis_umbral_masivo >= 1),
    to_desborda_seg DOUBLE NOT NULL DEFAULT 5 CHECK (to_desborda_seg > 0)
) {table};

-- owner_user_id NULL = corporate contact.
CREATE TABLE IF NOT EXISTS contacts (
    id {pk},
    owner_user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    name VARCHAR(128) NOT NULL,
    number VARCHAR(32) NOT NULL DEFAULT '',
    email VARCHAR(255) NOT NULL DEFAULT '',
    company VARCHAR(128) NOT NULL DEFAULT '',
    notes VARCHAR(1024) NOT NULL DEFAULT '',
    favourite INTEGER NOT NULL DEFAULT 0 CHECK (favourite IN (0, 1)),
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    CHECK (number <> '' OR email <> '')
) {table};
CREATE INDEX IF NOT EXISTS contacts_owner_name ON contacts (owner_user_id, name);

CREATE TABLE IF NOT EXISTS voicemail_messages (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    caller VARCHAR(64) NOT NULL DEFAULT '',
    caller_name VARCHAR(128) NOT NULL DEFAULT '',
    call_id VARCHAR(255) NOT NULL DEFAULT '',
    created_at DOUBLE NOT NULL,
    duration_s DOUBLE NOT NULL DEFAULT 0 CHECK (duration_s >= 0),
    path VARCHAR(1024) NOT NULL,
    heard INTEGER NOT NULL DEFAULT 0 CHECK (heard IN (0, 1))
) {table};
CREATE INDEX IF NOT EXISTS voicemail_user_created ON voicemail_messages (user_id, created_at);

-- One row per call leg outcome.
CREATE TABLE IF NOT EXISTS cdr (
    id {pk},
    call_id VARCHAR(255) NOT NULL,
    leg INTEGER NOT NULL DEFAULT 0,
    caller VARCHAR(64) NOT NULL,
    caller_name VARCHAR(128) NOT NULL DEFAULT '',
    callee VARCHAR(64) NOT NULL,
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    peer_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    extension VARCHAR(32) NOT NULL DEFAULT '',
    direction VARCHAR(10) NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    started_at DOUBLE NOT NULL,
    answered_at DOUBLE,
    ended_at DOUBLE NOT NULL,
    duration_s DOUBLE NOT NULL DEFAULT 0 CHECK (duration_s >= 0),
    billsec DOUBLE NOT NULL DEFAULT 0 CHECK (billsec >= 0),
    disposition VARCHAR(12) NOT NULL
        CHECK (disposition IN ('answered', 'busy', 'no_answer', 'failed', 'cancelled',
                               'voicemail', 'forwarded', 'rejected')),
    trunk VARCHAR(64) NOT NULL DEFAULT '',
    hangup_cause VARCHAR(64) NOT NULL DEFAULT '',
    CHECK (ended_at >= started_at)
) {table};
CREATE INDEX IF NOT EXISTS cdr_user_started ON cdr (user_id, started_at, id);
CREATE INDEX IF NOT EXISTS cdr_peer_started ON cdr (peer_user_id, started_at, id);
CREATE INDEX IF NOT EXISTS cdr_started ON cdr (started_at, id);
CREATE INDEX IF NOT EXISTS cdr_call ON cdr (call_id);

-- Corporate ACD statistics per 15-minute period (period_start = epoch of the period).
CREATE TABLE IF NOT EXISTS queue_stats (
    queue_id BIGINT NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    period_start DOUBLE NOT NULL,
    offered INTEGER NOT NULL DEFAULT 0,
    answered INTEGER NOT NULL DEFAULT 0,
    abandoned INTEGER NOT NULL DEFAULT 0,
    overflowed INTEGER NOT NULL DEFAULT 0,
    answered_in_sla INTEGER NOT NULL DEFAULT 0,
    wait_total_s DOUBLE NOT NULL DEFAULT 0,
    talk_total_s DOUBLE NOT NULL DEFAULT 0,
    max_wait_s DOUBLE NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, period_start)
) {table};

-- Cen_Sub_Acumulados_IVR(name, option, count) and Cen_Sub_Acumulados_VV(name, key, count).
CREATE TABLE IF NOT EXISTS ivr_accumulators (
    period_start DOUBLE NOT NULL,
    name VARCHAR(128) NOT NULL,
    option_value VARCHAR(128) NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (period_start, name, option_value)
) {table};

CREATE TABLE IF NOT EXISTS vv_accumulators (
    period_start DOUBLE NOT NULL,
    name VARCHAR(128) NOT NULL,
    acc_key VARCHAR(128) NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (period_start, name, acc_key)
) {table};

-- «Botones inteligentes»: user_id NULL is the seed's ID_TABLA=0 (global).
CREATE TABLE IF NOT EXISTS smart_buttons (
    id {pk},
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    code VARCHAR(32) NOT NULL,
    label VARCHAR(64) NOT NULL,
    kind VARCHAR(16) NOT NULL DEFAULT 'dial' CHECK (kind IN ('dial', 'feature', 'url')),
    position INTEGER NOT NULL DEFAULT 0
) {table};

CREATE TABLE IF NOT EXISTS twofa_secrets (
    user_id BIGINT NOT NULL PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    method VARCHAR(8) NOT NULL CHECK (method IN ('totp', 'email')),
    secret_enc VARCHAR(512) NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0 CHECK (confirmed IN (0, 1)),
    last_totp_step {bigint} NOT NULL DEFAULT 0,
    created_at DOUBLE NOT NULL
) {table};

CREATE TABLE IF NOT EXISTS token_revocations (
    jti VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    revoked_at DOUBLE NOT NULL,
    expires_at DOUBLE NOT NULL
) {table};
CREATE INDEX IF NOT EXISTS token_revocations_expiry ON token_revocations (expires_at);

CREATE TABLE IF NOT EXISTS audit_log (
    id {pk},
    at DOUBLE NOT NULL,
    actor_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    component VARCHAR(16) NOT NULL DEFAULT '',
    action VARCHAR(64) NOT NULL,
    target VARCHAR(255) NOT NULL DEFAULT '',
    detail {text},
    ip VARCHAR(64) NOT NULL DEFAULT ''
) {table};
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
