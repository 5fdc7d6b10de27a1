-- Emails are unique case-insensitively through an index on lower(email), so
-- that two concurrent signups differing only in case cannot both succeed.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    name          text,
    password_hash text NOT NULL DEFAULT '',
    is_admin      boolean NOT NULL DEFAULT false,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    digest       bytea NOT NULL UNIQUE CHECK (octet_length(digest) = 32),
    scopes       text NOT NULL DEFAULT '',
    expires_at   timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL
);
CREATE INDEX api_keys_user_created_idx ON api_keys (user_id, created_at DESC, id DESC);

CREATE TABLE cli_sessions (
    code_digest bytea PRIMARY KEY CHECK (octet_length(code_digest) = 32),
    device_name text NOT NULL,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'completed', 'delivered')),
    user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    sealed_key  bytea,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX cli_sessions_expires_idx ON cli_sessions (expires_at);
