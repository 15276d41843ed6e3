-- Account deletion keeps the user row as an anonymised tombstone (no e-mail, name or password),
-- so that its id, the `sub` of every token it was given, stays reserved and audit events keep
-- pointing at a row. deleted_at marks such tombstones.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
