-- A redeemed authorization code is remembered while the access token issued for it lives, so
-- that a replay revokes what was issued for it (RFC 6749 §4.1.2).
CREATE TABLE spent_codes (
    code_hash         TEXT PRIMARY KEY,
    family_id         BLOB NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    client_id         TEXT NOT NULL,
    access_jti        TEXT NOT NULL,
    access_expires_at INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL
);
CREATE INDEX spent_codes_expires_at ON spent_codes (expires_at);

-- The live (unrotated) tokens of a family.
CREATE INDEX refresh_tokens_live ON refresh_tokens (family_id) WHERE rotated_at IS NULL;

-- A first-use rotation (the predecessor's rotated_at going from NULL to a time) supersedes
-- every other live token of the family: the sibling a grace-window refresh made. A superseded
-- token has rotated_at = 0, so its use is a reuse (Postgres does the same in the rotation's
-- WITH). The successor just inserted (rotated_from = the rotated token) stays live.
CREATE TRIGGER refresh_tokens_supersede_siblings AFTER UPDATE OF rotated_at ON refresh_tokens
WHEN OLD.rotated_at IS NULL AND NEW.rotated_at > 0
BEGIN
    UPDATE refresh_tokens SET rotated_at = 0
    WHERE family_id = NEW.family_id AND rotated_at IS NULL
      AND (rotated_from IS NULL OR rotated_from <> NEW.token_hash);
END;

-- Every access token of a user for a client issued up to `revoked_before` is revoked (a
-- replayed code: refreshed tokens included, whose jti the store does not keep); kept until
-- those tokens would have expired anyway.
CREATE TABLE revoked_grants (
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    revoked_before INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX revoked_grants_expires_at ON revoked_grants (expires_at);
