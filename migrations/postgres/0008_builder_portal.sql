-- The builder portal: who may build clients, whose each client is, how it presents itself on
-- the consent page, a secret rotation that lets the old secret work a little longer, and the
-- per-client activity the portal charts.
ALTER TABLE users ADD COLUMN is_builder BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN owner_id UUID REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE clients ADD COLUMN logo_uri TEXT;
ALTER TABLE clients ADD COLUMN policy_uri TEXT;
ALTER TABLE clients ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at BIGINT;
CREATE INDEX clients_owner ON clients (owner_id);
CREATE INDEX audit_events_client_at ON audit_events (client_id, at);

-- One-time links that create the first administrator in the browser (logged at start while
-- there is none).
CREATE TABLE setup_links (
    token_hash     TEXT PRIMARY KEY,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
