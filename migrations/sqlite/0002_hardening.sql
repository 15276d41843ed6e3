-- Security BCP hardening: per-client policy, idle sessions, login throttling, audit log.
ALTER TABLE clients ADD COLUMN require_pkce INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN chatgpt_callbacks INTEGER NOT NULL DEFAULT 0;

ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at;

-- Failed sign-ins per key ("account:<e-mail>" or "ip:<address>"), shared by every instance.
CREATE TABLE login_throttle (
    key              TEXT PRIMARY KEY,
    failures         INTEGER NOT NULL,
    last_failure_at  INTEGER NOT NULL,
    locked_until     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    user_id    BLOB,
    client_id  TEXT,
    ip         TEXT,
    detail     TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
