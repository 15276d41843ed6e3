-- The live (unrotated) tokens of a family: a first-use rotation supersedes the others (the
-- sibling a grace-window refresh made), so a replay can fork the chain for a moment at most.
CREATE INDEX refresh_tokens_live ON refresh_tokens (family_id) WHERE rotated_at IS NULL;
