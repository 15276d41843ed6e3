use std::fmt;

use super::{ClientMetadataUrl, ParseError};

/// A client identifier: printable ASCII without spaces or `:` (RFC 6749 §2.3.1 puts it in a Basic
/// header, where `:` separates it from the secret), at most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.is_empty() || raw.len() > 255 {
            return Err(ParseError("a client id has 1 to 255 characters".into()));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(ParseError(
                "a client id is printable ASCII without spaces or ':'".into(),
            ));
        }
        Ok(ClientId(raw.to_string()))
    }

    /// A new random identifier (128 bits, URL-safe).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        ClientId(format!("gpt_{hex}"))
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a request names its client: an ID this server issued, or a Client Identifier URL whose
/// metadata document describes the client (draft-ietf-oauth-client-id-metadata-document).
/// Issued IDs never contain `:`, so the two cannot be confused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRef {
    Issued(ClientId),
    MetadataDocument(ClientMetadataUrl),
}

impl ClientRef {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if Self::is_url(raw) {
            ClientMetadataUrl::parse(raw).map(ClientRef::MetadataDocument)
        } else {
            ClientId::parse(raw).map(ClientRef::Issued)
        }
    }

    /// Whether `raw` is meant as a Client Identifier URL (so a refusal should say why).
    pub fn is_url(raw: &str) -> bool {
        raw.starts_with("https://") || raw.starts_with("http://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse() {
        let id = ClientId::generate();
        assert_eq!(ClientId::parse(id.as_ref()).unwrap(), id);
    }

    #[test]
    fn a_client_is_named_by_an_issued_id_or_a_metadata_url() {
        assert!(matches!(
            ClientRef::parse("gpt_0123"),
            Ok(ClientRef::Issued(_))
        ));
        assert!(matches!(
            ClientRef::parse("https://app.example/client.json"),
            Ok(ClientRef::MetadataDocument(_))
        ));
        for bad in ["https://app.example", "urn:x:y", "", "http://app.example/c"] {
            assert!(ClientRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn colons_spaces_and_empty_ids_are_refused() {
        for bad in ["", "a:b", "a b", "é"] {
            assert!(ClientId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
