-- private_key_jwt client authentication (RFC 7523 §2.2, OpenID Connect Core §9). A client with
-- a jwks_uri, or a JWK Set of its own in jwks (JSON text), authenticates at the token,
-- revocation and introspection endpoints with a JWT signed by one of those keys, and only so.
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
ALTER TABLE clients ADD COLUMN jwks TEXT;

-- Each assertion's jti is used once until the assertion expires (RFC 7523 §3 item 7), across
-- every instance sharing this database. jti_hash is SHA-256 of the jti (bounded size).
CREATE TABLE client_assertion_jtis (
    client_id  TEXT NOT NULL,
    jti_hash   TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti_hash)
);
CREATE INDEX client_assertion_jtis_expiry ON client_assertion_jtis (expires_at);
