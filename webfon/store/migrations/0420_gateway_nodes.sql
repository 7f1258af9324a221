-- Gateway nodes' leases: each running gateway process keeps its row fresh (heartbeat) with
-- what it carries; the PBX releases the web phones of a node whose heartbeat stops, and
-- `webfon status --all` and the admin page list the rows.
-- state: up | draining (no new sessions, calls finishing) | stopped (clean exit) |
--        lost (heartbeat stopped; its web phones were released)
CREATE TABLE IF NOT EXISTS gateway_nodes (
    node_id INTEGER NOT NULL PRIMARY KEY,
    incarnation VARCHAR(32) NOT NULL,
    name VARCHAR(128) NOT NULL DEFAULT '',
    host VARCHAR(255) NOT NULL DEFAULT '',
    pid INTEGER NOT NULL DEFAULT 0,
    api_url VARCHAR(255) NOT NULL DEFAULT '',
    sip_address VARCHAR(255) NOT NULL DEFAULT '',
    state VARCHAR(10) NOT NULL CHECK (state IN ('up', 'draining', 'stopped', 'lost')),
    started_at DOUBLE NOT NULL,
    heartbeat_at DOUBLE NOT NULL,
    ended_at DOUBLE,
    sessions INTEGER NOT NULL DEFAULT 0,
    registered INTEGER NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    media_workers INTEGER NOT NULL DEFAULT 0,
    media_workers_alive INTEGER NOT NULL DEFAULT 0,
    media_legs INTEGER NOT NULL DEFAULT 0,
    released INTEGER NOT NULL DEFAULT 0
) {table};
