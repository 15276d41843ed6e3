-- Browsers where an account signed in successfully (a long-lived cookie, stored as its SHA-256):
-- a sign-in from one of them is throttled on its own counter, so that a lock others cause by
-- guessing the password does not keep the owner out. A password change or reset forgets them.
CREATE TABLE known_devices (
    id_hash     TEXT PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX known_devices_user ON known_devices (user_id);
