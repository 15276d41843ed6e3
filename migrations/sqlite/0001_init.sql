-- gptauth schema. Times are Unix seconds (INTEGER) in both dialects, so SQL compares them alike.
CREATE TABLE users (
    id             BLOB PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT,
    password_hash  TEXT NOT NULL,
    is_admin       INTEGER NOT NULL DEFAULT 0,
    disabled_at    INTEGER,
    created_at     INTEGER NOT NULL
);

CREATE TABLE clients (
    client_id      TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    secret_hash    TEXT,                 -- SHA-256 of the secret; NULL for a public client
    scope          TEXT NOT NULL,        -- allowed scopes, also the default for an empty request
    audience       TEXT,                 -- `aud` of its access tokens; NULL means the issuer
    created_at     INTEGER NOT NULL
);

CREATE TABLE client_redirect_uris (
    client_id      TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    uri            TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (client_id, uri)
);

CREATE TABLE auth_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    pkce           TEXT,                 -- oxide-auth's PKCE grant extension, as it stored it
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE refresh_families (
    id             BLOB PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
);
CREATE INDEX refresh_families_user_client ON refresh_families (user_id, client_id);

CREATE TABLE refresh_tokens (
    token_hash     TEXT PRIMARY KEY,
    family_id      BLOB NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    rotated_at     INTEGER                -- set when it was exchanged for a successor
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE consents (
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE sessions (
    id_hash        TEXT PRIMARY KEY,     -- SHA-256 of the cookie value
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    private_der    BLOB NOT NULL,       -- PKCS#8
    public_jwk     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER
);
