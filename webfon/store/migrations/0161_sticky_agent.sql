-- Sticky agent: a queue with sticky_window_s > 0 first offers a returning caller to the
-- member who last spoke with their number within that many seconds (0: off).
ALTER TABLE queues {add_column} sticky_window_s INTEGER NOT NULL DEFAULT 0
    CHECK (sticky_window_s BETWEEN 0 AND 2592000);

-- Who last spoke with an outside party (or an internal caller), by their number: the extension
-- that answered their call, or that called them and was answered.
CREATE TABLE IF NOT EXISTS agent_contacts (
    number VARCHAR(64) NOT NULL PRIMARY KEY,
    extension_id BIGINT NOT NULL REFERENCES extensions(id) ON DELETE CASCADE,
    spoke_at DOUBLE NOT NULL
) {table};
