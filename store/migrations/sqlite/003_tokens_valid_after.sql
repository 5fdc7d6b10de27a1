-- Tokens (the service's own and catalog ones) issued to a user before this
-- time are refused: "log out everywhere" and a password change set it.
-- NULL: no token was ever revoked. Unix microseconds, like created_at, kept
-- in whole seconds, as a token's iat.
ALTER TABLE users ADD COLUMN tokens_valid_after INTEGER;
