-- IVR menus are dialable: the numbering learns the kind 'ivr' (the column's CHECK is
-- replaced; running it twice changes nothing).
ALTER TABLE numbering MODIFY kind VARCHAR(16) NOT NULL
    CHECK (kind IN ('user', 'extension', 'queue', 'ivr'));
