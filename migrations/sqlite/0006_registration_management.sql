-- RFC 7592: a dynamically registered client is managed with its registration access token
-- (stored as SHA-256; NULL for clients made by an operator). RFC 7591 §3 initial access tokens
-- gate registration when GPTAUTH_REGISTRATION=token.
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
-- The token_endpoint_auth_method a registration named, returned as registered (RFC 7592 §3).
ALTER TABLE clients ADD COLUMN registered_auth_method TEXT;

CREATE TABLE initial_access_tokens (
    id             BLOB PRIMARY KEY,
    token_hash     TEXT NOT NULL UNIQUE,
    note           TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    uses_left      INTEGER,                -- NULL: any number of registrations
    revoked_at     INTEGER
);
