-- Access tokens revoked before their expiry (RFC 7009), by JWT id, kept until they expire.
CREATE TABLE revoked_access_tokens (
    jti         TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    revoked_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);
