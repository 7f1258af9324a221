-- Conference rooms are dialable: the numbering learns the kind 'conference' (and 'ivr', which
-- IVR menus use). SQLite cannot change a CHECK constraint in place, so the table is rebuilt;
-- the foreign keys that point at it are checked again when the transaction commits.
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE numbering_before_conference AS SELECT number, kind FROM numbering;
DROP TABLE numbering;
CREATE TABLE numbering (
    number VARCHAR(32) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL CHECK (kind IN ('user', 'extension', 'queue', 'ivr',
                                              'conference')),
    UNIQUE (number, kind)
);
INSERT INTO numbering (number, kind) SELECT number, kind FROM numbering_before_conference;
DROP TABLE numbering_before_conference;
