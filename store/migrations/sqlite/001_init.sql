-- Times are INTEGER unix microseconds (UTC), ids canonical lowercase uuid
-- TEXT, digests 32-byte BLOBs. STRICT makes SQLite reject values of the wrong
-- type instead of silently storing them.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL COLLATE NOCASE UNIQUE,
    name          TEXT,
    password_hash TEXT NOT NULL DEFAULT '',
    is_admin      INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    digest       BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),
    scopes       TEXT NOT NULL DEFAULT '',
    expires_at   INTEGER,
    last_used_at INTEGER,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX api_keys_user_created_idx ON api_keys (user_id, created_at DESC, id DESC);

CREATE TABLE cli_sessions (
    code_digest BLOB PRIMARY KEY CHECK (length(code_digest) = 32),
    device_name TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'completed', 'delivered')),
    user_id     TEXT REFERENCES users (id) ON DELETE CASCADE,
    sealed_key  BLOB,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX cli_sessions_expires_idx ON cli_sessions (expires_at);
