-- Conference rooms are dialable: the numbering learns the kind 'conference' (and 'ivr', which
-- IVR menus use); the column's CHECK is replaced, running it twice changes nothing.
ALTER TABLE numbering MODIFY kind VARCHAR(16) NOT NULL
    CHECK (kind IN ('user', 'extension', 'queue', 'ivr', 'conference'));
