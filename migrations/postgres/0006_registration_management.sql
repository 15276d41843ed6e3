-- RFC 7592: a dynamically registered client is managed with its registration access token
-- (stored as SHA-256; NULL for clients made by an operator). RFC 7591 §3 initial access tokens
-- gate registration when GPTAUTH_REGISTRATION=token.
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
-- The token_endpoint_auth_method a registration named, returned as registered (RFC 7592 §3).
ALTER TABLE clients ADD COLUMN registered_auth_method TEXT;

CREATE TABLE initial_access_tokens (
    id             UUID PRIMARY KEY,
    token_hash     TEXT NOT NULL UNIQUE,
    note           TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    uses_left      BIGINT,                -- NULL: any number of registrations
    revoked_at     BIGINT
);
