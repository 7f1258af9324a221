-- Call centre: each kind of group with its own behaviour, agents and supervisors, IVR menus.

-- Group settings: wrap-up after each call (ACD), service-level threshold, how often a
-- waiting caller hears their position, and how many callers may wait (0: no limit).
ALTER TABLE queues {add_column} wrapup_s INTEGER NOT NULL DEFAULT 0
    CHECK (wrapup_s BETWEEN 0 AND 3600);
ALTER TABLE queues {add_column} sla_s INTEGER NOT NULL DEFAULT 20
    CHECK (sla_s BETWEEN 1 AND 3600);
ALTER TABLE queues {add_column} announce_s INTEGER NOT NULL DEFAULT 30
    CHECK (announce_s BETWEEN 0 AND 3600);
ALTER TABLE queues {add_column} max_waiting INTEGER NOT NULL DEFAULT 0
    CHECK (max_waiting BETWEEN 0 AND 10000);

-- Agents of ACD groups log in and out; a pause carries its reason; when the state changed.
ALTER TABLE queue_members {add_column} logged_in INTEGER NOT NULL DEFAULT 1
    CHECK (logged_in IN (0, 1));
ALTER TABLE queue_members {add_column} pause_reason VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE queue_members {add_column} state_since DOUBLE NOT NULL DEFAULT 0;

-- Calls a supervisor moved to another queue («Mover Cola»).
ALTER TABLE queue_stats {add_column} moved INTEGER NOT NULL DEFAULT 0;

-- Who supervises which queue (sees its calls and agents, acts on them).
CREATE TABLE IF NOT EXISTS queue_supervisors (
    queue_id BIGINT NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (queue_id, user_id)
) {table};

-- The reasons an agent may give for a pause (none defined: any short text).
CREATE TABLE IF NOT EXISTS acd_pause_reasons (
    id {pk},
    name VARCHAR(64) NOT NULL UNIQUE
) {table};

-- Uploaded IVR prompts, kept as 8 kHz mono 16-bit WAV so every PBX node can play them.
CREATE TABLE IF NOT EXISTS ivr_prompts (
    id {pk},
    name VARCHAR(128) NOT NULL UNIQUE,
    data {blob} NOT NULL,
    duration_s DOUBLE NOT NULL CHECK (duration_s > 0),
    original_format VARCHAR(64) NOT NULL DEFAULT '',
    created_at DOUBLE NOT NULL
) {table};

-- IVR menus, dialable by number; name is the accumulator name of Cen_Sub_Acumulados_IVR.
CREATE TABLE IF NOT EXISTS ivr_menus (
    id {pk},
    number VARCHAR(32) NOT NULL UNIQUE,
    number_kind VARCHAR(16) NOT NULL DEFAULT 'ivr' CHECK (number_kind = 'ivr'),
    name VARCHAR(64) NOT NULL UNIQUE,
    greeting_prompt_id BIGINT REFERENCES ivr_prompts(id),
    invalid_prompt_id BIGINT REFERENCES ivr_prompts(id),
    timeout_s INTEGER NOT NULL DEFAULT 5 CHECK (timeout_s BETWEEN 1 AND 60),
    max_tries INTEGER NOT NULL DEFAULT 3 CHECK (max_tries BETWEEN 1 AND 10),
    fallback_action VARCHAR(16) NOT NULL DEFAULT 'hangup'
        CHECK (fallback_action IN ('extension', 'queue', 'voicemail', 'menu', 'hangup')),
    fallback_target VARCHAR(32) NOT NULL DEFAULT '',
    FOREIGN KEY (number, number_kind) REFERENCES numbering(number, kind),
    CHECK (fallback_action = 'hangup' OR fallback_target <> '')
) {table};

-- What each key of a menu does; stats_enabled is the per-call «Si» of Cen_Sub_colaCentralita
-- for a queue reached this way; vv_name/vv_key count a free accumulator (Acumulados_VV).
CREATE TABLE IF NOT EXISTS ivr_options (
    id {pk},
    menu_id BIGINT NOT NULL REFERENCES ivr_menus(id) ON DELETE CASCADE,
    digit VARCHAR(1) NOT NULL CHECK (digit IN ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
                                               '*', '#')),
    action VARCHAR(16) NOT NULL
        CHECK (action IN ('extension', 'queue', 'voicemail', 'menu', 'hangup')),
    target VARCHAR(32) NOT NULL DEFAULT '',
    stats_enabled INTEGER NOT NULL DEFAULT 0 CHECK (stats_enabled IN (0, 1)),
    vv_name VARCHAR(64) NOT NULL DEFAULT '',
    vv_key VARCHAR(64) NOT NULL DEFAULT '',
    UNIQUE (menu_id, digit),
    CHECK (action = 'hangup' OR target <> '')
) {table};
