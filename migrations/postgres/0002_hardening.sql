-- Security BCP hardening: per-client policy, idle sessions, login throttling, audit log.
ALTER TABLE clients ADD COLUMN require_pkce BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN chatgpt_callbacks BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at;

-- Failed sign-ins per key ("account:<e-mail>" or "ip:<address>"), shared by every instance.
CREATE TABLE login_throttle (
    key              TEXT PRIMARY KEY,
    failures         INTEGER NOT NULL,
    last_failure_at  BIGINT NOT NULL,
    locked_until     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    UUID,
    client_id  TEXT,
    ip         TEXT,
    detail     TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
