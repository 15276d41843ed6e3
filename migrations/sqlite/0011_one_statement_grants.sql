-- Token grants in one statement each (one round trip to the database, atomic without an
-- explicit transaction). SQLite has no data-modifying WITH, so triggers do the second write.

-- A refresh token records the token it was rotated from. Inserting a successor marks its
-- predecessor rotated in the same statement (a no-op when it already was: the grace window).
ALTER TABLE refresh_tokens ADD COLUMN rotated_from TEXT;

CREATE TRIGGER refresh_tokens_rotate_predecessor AFTER INSERT ON refresh_tokens
WHEN NEW.rotated_from IS NOT NULL
BEGIN
    UPDATE refresh_tokens SET rotated_at = NEW.created_at
    WHERE token_hash = NEW.rotated_from AND rotated_at IS NULL;
END;

-- A new family and its first refresh token, as one row.
CREATE VIEW refresh_family_starts AS
SELECT f.id, f.client_id, f.user_id, f.scope, f.resource, f.auth_time, f.created_at,
       t.token_hash, t.expires_at
FROM refresh_families f JOIN refresh_tokens t ON t.family_id = f.id;

CREATE TRIGGER refresh_family_starts_insert INSTEAD OF INSERT ON refresh_family_starts
BEGIN
    INSERT INTO refresh_families (id, client_id, user_id, scope, resource, auth_time, created_at)
    VALUES (NEW.id, NEW.client_id, NEW.user_id, NEW.scope, NEW.resource, NEW.auth_time,
            NEW.created_at);
    INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at)
    VALUES (NEW.token_hash, NEW.id, NEW.created_at, NEW.expires_at);
END;
