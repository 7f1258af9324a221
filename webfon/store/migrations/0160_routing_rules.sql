-- Dynamic routing rules, tried in position order before the fixed number classes (see
-- webfon/routing_rules.py for what each column means). Patterns are RE2 expressions checked
-- when saved; a rule that sends calls to a trunk names it (NULL: every trunk by priority).
CREATE TABLE IF NOT EXISTS routing_rules (
    id {pk},
    name VARCHAR(64) NOT NULL UNIQUE,
    position INTEGER NOT NULL DEFAULT 0,
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    origin VARCHAR(8) NOT NULL DEFAULT 'any' CHECK (origin IN ('any', 'phones', 'trunks')),
    number_pattern VARCHAR(200) NOT NULL,
    caller_pattern VARCHAR(200) NOT NULL DEFAULT '',
    days VARCHAR(64) NOT NULL DEFAULT 'mon,tue,wed,thu,fri,sat,sun',
    time_from VARCHAR(5) NOT NULL DEFAULT '00:00',
    time_to VARCHAR(5) NOT NULL DEFAULT '24:00',
    timezone VARCHAR(64) NOT NULL DEFAULT 'Europe/Madrid',
    action VARCHAR(12) NOT NULL
        CHECK (action IN ('extension', 'queue', 'ivr', 'trunk', 'rewrite', 'reject')),
    target VARCHAR(64) NOT NULL DEFAULT '',
    trunk_id BIGINT REFERENCES trunks(id),
    trunk_prefix VARCHAR(16) NOT NULL DEFAULT '',
    reject_status INTEGER NOT NULL DEFAULT 403
        CHECK (reject_status IN (403, 404, 480, 486, 503, 603)),
    description VARCHAR(255) NOT NULL DEFAULT '',
    CHECK (action = 'reject' OR target <> ''),
    CHECK (action = 'trunk' OR (trunk_id IS NULL AND trunk_prefix = ''))
) {table};
CREATE INDEX IF NOT EXISTS routing_rules_order ON routing_rules (position, id);
