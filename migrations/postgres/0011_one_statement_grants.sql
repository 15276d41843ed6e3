-- A refresh token records the token it was rotated from (the rotation itself is one statement
-- with a data-modifying WITH; SQLite needs a trigger for the same, see its migration).
ALTER TABLE refresh_tokens ADD COLUMN rotated_from TEXT;
