-- Verified e-mail and account recovery: when the address was proven, the single-use links
-- mailed for it (stored as SHA-256), and clients that only admit verified addresses.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
ALTER TABLE clients ADD COLUMN require_verified_email BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE email_tokens (
    token_hash     TEXT PRIMARY KEY,
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose        TEXT NOT NULL,         -- verify | reset | change
    new_email      TEXT,                  -- for change: the address being confirmed
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);

-- A code granted with the `email` scope carries the address into its access token.
ALTER TABLE auth_codes ADD COLUMN email TEXT;
ALTER TABLE auth_codes ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
