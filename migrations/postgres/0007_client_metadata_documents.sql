-- Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document): a client whose
-- client_id is an https URL is kept here as its fetched document describes it, so codes,
-- consents and refresh families can refer to it. metadata_expires_at (Unix seconds) is when
-- the stored copy must be fetched again; NULL for every other client.
ALTER TABLE clients ADD COLUMN metadata_document BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN metadata_expires_at BIGINT;
