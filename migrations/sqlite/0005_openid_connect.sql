-- OpenID Connect: an RS256 key beside the ES256 one (one active key per algorithm), the nonce
-- and authentication time each grant carries into its ID tokens, and each client's ID token
-- algorithm (RS256 unless registered otherwise, as OpenID Connect Registration 1.0 says).
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE retired_at IS NULL;
ALTER TABLE auth_codes ADD COLUMN nonce TEXT;
ALTER TABLE auth_codes ADD COLUMN auth_time BIGINT;
ALTER TABLE refresh_families ADD COLUMN auth_time BIGINT;
ALTER TABLE clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'RS256';
