-- Conference rooms, callbacks («Retrollamada») and call recordings («Grabar por enrutamiento»).

-- A conference room, dialled by its number. owner_user_id: the user it belongs to (counts
-- against their «Salas de conferencia Webphone»); none for a room of the organisation.
-- pin_hash: argon2id of the PIN callers must key in (none: no PIN); the owner never keys it.
-- beep: «Conferencias BEEP» for this room (-1: the owner's setting). adhoc: made by the
-- «Conferencia» button for one call, gone when it empties (or at expires_at if nobody came).
CREATE TABLE IF NOT EXISTS conference_rooms (
    id {pk},
    number VARCHAR(32) NOT NULL UNIQUE,
    number_kind VARCHAR(16) NOT NULL DEFAULT 'conference' CHECK (number_kind = 'conference'),
    name VARCHAR(128) NOT NULL DEFAULT '',
    owner_user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    pin_hash VARCHAR(255),
    beep INTEGER NOT NULL DEFAULT -1 CHECK (beep IN (-1, 0, 1)),
    max_participants INTEGER NOT NULL DEFAULT 10 CHECK (max_participants BETWEEN 2 AND 64),
    adhoc INTEGER NOT NULL DEFAULT 0 CHECK (adhoc IN (0, 1)),
    created_at DOUBLE NOT NULL,
    expires_at DOUBLE,
    FOREIGN KEY (number, number_kind) REFERENCES numbering(number, kind),
    CHECK (adhoc = 0 OR owner_user_id IS NOT NULL)
) {table};
CREATE INDEX IF NOT EXISTS conference_rooms_owner ON conference_rooms (owner_user_id);

-- «Retrollamada»: ring the requester when the target is free, then call the target for them.
-- requester_phone_id: the phone that booked it (its category applies to the call placed
-- later); requester_number: who is rung back (the user's number, else the extension's).
CREATE TABLE IF NOT EXISTS callbacks (
    id {pk},
    requester_user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    requester_extension_id BIGINT REFERENCES extensions(id) ON DELETE CASCADE,
    requester_phone_id BIGINT REFERENCES phones(id) ON DELETE SET NULL,
    requester_number VARCHAR(32) NOT NULL,
    target_number VARCHAR(32) NOT NULL,
    state VARCHAR(16) NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'calling', 'done', 'cancelled', 'expired', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at DOUBLE NOT NULL,
    expires_at DOUBLE NOT NULL,
    last_attempt_at DOUBLE,
    finished_at DOUBLE,
    call_id VARCHAR(255) NOT NULL DEFAULT '',
    CHECK (requester_user_id IS NOT NULL OR requester_extension_id IS NOT NULL),
    CHECK (expires_at >= created_at)
) {table};
CREATE INDEX IF NOT EXISTS callbacks_state ON callbacks (state, expires_at);
CREATE INDEX IF NOT EXISTS callbacks_requester ON callbacks (requester_user_id);

-- «Grabar por enrutamiento» of an extension (the user's is in users.recording_mode): a call
-- is recorded always, may be recorded on demand, or never; the most permissive of the
-- party's user and extension applies.
ALTER TABLE extensions {add_column} recording_mode VARCHAR(16) NOT NULL DEFAULT 'none'
    CHECK (recording_mode IN ('none', 'always', 'on_demand'));

-- A recording of a call (one per start/stop on demand), linked to the call's CDR rows by
-- call_id: stereo WAV, the caller's side left, the other party right. owner_user_id: whose
-- recording it is (who asked for it, or whose «siempre» made it); the owner and admins
-- may play it. Deleted with its file at expires_at (the retention setting).
CREATE TABLE IF NOT EXISTS recordings (
    id {pk},
    call_id VARCHAR(255) NOT NULL,
    owner_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    caller VARCHAR(64) NOT NULL DEFAULT '',
    callee VARCHAR(64) NOT NULL DEFAULT '',
    reason VARCHAR(16) NOT NULL CHECK (reason IN ('always', 'on_demand')),
    state VARCHAR(16) NOT NULL DEFAULT 'recording'
        CHECK (state IN ('recording', 'done', 'failed')),
    path VARCHAR(1024) NOT NULL DEFAULT '',
    started_at DOUBLE NOT NULL,
    ended_at DOUBLE,
    duration_s DOUBLE NOT NULL DEFAULT 0 CHECK (duration_s >= 0),
    expires_at DOUBLE NOT NULL,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
) {table};
CREATE INDEX IF NOT EXISTS recordings_call ON recordings (call_id);
CREATE INDEX IF NOT EXISTS recordings_owner ON recordings (owner_user_id, started_at);
CREATE INDEX IF NOT EXISTS recordings_expiry ON recordings (expires_at);
