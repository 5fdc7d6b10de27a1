-- Links an identity of an external issuer (zectre-catalog's iss + sub) to the
-- local user created for it the first time it was seen. Linked users are
-- created for their subject and never matched by email, so a user has at
-- most one link (user_id is unique). Subjects compare case-sensitively
-- (BINARY collation), as JWT's StringOrURI values do.
CREATE TABLE user_subjects (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
) STRICT;
