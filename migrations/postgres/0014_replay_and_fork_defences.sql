-- A redeemed authorization code is remembered while the access token issued for it lives, so
-- that a replay revokes what was issued for it (RFC 6749 §4.1.2).
CREATE TABLE spent_codes (
    code_hash         TEXT PRIMARY KEY,
    family_id         UUID NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    client_id         TEXT NOT NULL,
    access_jti        TEXT NOT NULL,
    access_expires_at BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL
);
CREATE INDEX spent_codes_expires_at ON spent_codes (expires_at);

-- The live (unrotated) tokens of a family: a first-use rotation supersedes the others (the
-- sibling a grace-window refresh made), so a replay can fork the chain for a moment at most.
CREATE INDEX refresh_tokens_live ON refresh_tokens (family_id) WHERE rotated_at IS NULL;

-- Every access token of a user for a client issued up to `revoked_before` is revoked (a
-- replayed code: refreshed tokens included, whose jti the store does not keep); kept until
-- those tokens would have expired anyway.
CREATE TABLE revoked_grants (
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    revoked_before BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX revoked_grants_expires_at ON revoked_grants (expires_at);
