-- Links an identity of an external issuer (zectre-catalog's iss + sub) to the
-- local user created for it the first time it was seen. Linked users are
-- created for their subject and never matched by email, so a user has at
-- most one link (user_id is unique). Subjects compare case-sensitively, as
-- JWT's StringOrURI values do.
CREATE TABLE user_subjects (
    issuer     text NOT NULL,
    subject    text NOT NULL,
    user_id    uuid NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, subject)
);
