//! Reading a client ID metadata document: the RFC 7591 client metadata a client publishes at
//! its Client Identifier URL (draft-ietf-oauth-client-id-metadata-document §4), held to the
//! same rules as dynamic registration.

use serde_json::{Map, Value};

use crate::domain::{ClientMetadataUrl, ParseError, RedirectUri, Scope};

/// At most this many redirect URIs, as for dynamic registration.
const MAX_REDIRECT_URIS: usize = 10;
/// Longest client name kept; longer ones are cut.
const MAX_NAME_CHARS: usize = 100;

/// What a valid document gives us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDocument {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub scope: Scope,
    /// `Some` when the client authenticates with private_key_jwt: where its keys are.
    pub jwks_uri: Option<url::Url>,
}

/// Longest `jwks_uri` accepted (the bound of a client ID URL).
const MAX_JWKS_URI_LEN: usize = 2000;

/// Why a document was refused; each message names the field to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("it is not JSON ({0})")]
    NotJson(String),
    #[error("it must be a JSON object")]
    NotObject,
    #[error(
        "its client_id must be exactly the URL it is served at ({expected}), but it is {found}"
    )]
    ClientIdMismatch { expected: String, found: String },
    #[error("{field} must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("redirect_uris must list 1 to {MAX_REDIRECT_URIS} redirect URIs")]
    RedirectUriCount,
    #[error("redirect_uris: {0}")]
    RedirectUri(ParseError),
    #[error(
        "token_endpoint_auth_method is {0}, but this server accepts only \"none\" (a public client using PKCE) or \"private_key_jwt\" (with a jwks_uri) for clients with a metadata document"
    )]
    AuthMethod(String),
    #[error(
        "token_endpoint_auth_method is private_key_jwt, but the document names no jwks_uri for its keys"
    )]
    MissingJwksUri,
    #[error(
        "jwks_uri must be an https URL on the document's own host ({0}), so that a document can only name its own publisher's keys"
    )]
    JwksUri(String),
    #[error("{0} must not appear: a metadata document cannot carry a shared secret")]
    Secret(&'static str),
    #[error("grant_types may list only authorization_code and refresh_token")]
    GrantTypes,
    #[error("response_types may list only code")]
    ResponseTypes,
    #[error("scope must name some of: {0}")]
    Scope(String),
    #[error("{field} must be an https URL")]
    NotHttpsUrl { field: &'static str },
}

/// Parses and validates a document fetched from `id`. `offered` bounds the scopes a client may
/// have; a document that names none gets all of them (as dynamic registration does).
pub fn validate(
    body: &[u8],
    id: &ClientMetadataUrl,
    offered: &Scope,
) -> Result<ClientDocument, DocumentError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| DocumentError::NotJson(e.to_string()))?;
    let Value::Object(doc) = value else {
        return Err(DocumentError::NotObject);
    };
    // §4: the document must name the very URL it was fetched from, compared as strings.
    match doc.get("client_id") {
        Some(Value::String(found)) if found == id.as_ref() => {}
        other => {
            return Err(DocumentError::ClientIdMismatch {
                expected: id.to_string(),
                found: other.map_or_else(|| "missing".to_string(), |v| v.to_string()),
            });
        }
    }
    // §4.1: no shared secrets, so only `none` among the methods we support.
    for field in ["client_secret", "client_secret_expires_at"] {
        if doc.contains_key(field) {
            return Err(DocumentError::Secret(field));
        }
    }
    let jwks_uri = match choose_auth_method(&doc)? {
        Chosen::None => None,
        Chosen::PrivateKeyJwt => Some(jwks_uri(&doc, id)?),
    };
    let raw_uris = strings(&doc, "redirect_uris")?.unwrap_or_default();
    if raw_uris.is_empty() || raw_uris.len() > MAX_REDIRECT_URIS {
        return Err(DocumentError::RedirectUriCount);
    }
    let mut redirect_uris: Vec<String> = Vec::new();
    for raw in raw_uris {
        let uri = RedirectUri::parse(raw).map_err(DocumentError::RedirectUri)?;
        if !redirect_uris.iter().any(|u| u == uri.as_ref()) {
            redirect_uris.push(uri.to_string());
        }
    }
    if strings(&doc, "grant_types")?.is_some_and(|g| {
        g.iter()
            .any(|t| !matches!(*t, "authorization_code" | "refresh_token"))
    }) {
        return Err(DocumentError::GrantTypes);
    }
    if strings(&doc, "response_types")?.is_some_and(|r| r.iter().any(|t| *t != "code")) {
        return Err(DocumentError::ResponseTypes);
    }
    let scope = match string(&doc, "scope")? {
        None => offered.clone(),
        Some(raw) => match Scope::parse(raw).map(Scope::without_offline_access) {
            Ok(s) if !s.is_empty() && offered.contains_all(&s) => s,
            _ => return Err(DocumentError::Scope(offered.to_string())),
        },
    };
    // Shown, never fetched: we do not follow URLs found in the document (§8.6).
    for field in ["client_uri", "logo_uri"] {
        if let Some(raw) = string(&doc, field)?
            && url::Url::parse(raw).map_or(true, |u| u.scheme() != "https")
        {
            return Err(DocumentError::NotHttpsUrl { field });
        }
    }
    let name = string(&doc, "client_name")?
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(id.host())
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    Ok(ClientDocument {
        name,
        redirect_uris,
        scope,
        jwks_uri,
    })
}

/// The token endpoint authentication methods this server can use for a document's client.
enum Chosen {
    None,
    PrivateKeyJwt,
}

/// OpenID Connect RP Metadata Choices: the document may list several methods in
/// `token_endpoint_auth_methods_supported` beside the one in `token_endpoint_auth_method`; of
/// all it names we take the strongest we support (private_key_jwt, then none). Naming none at
/// all means `none`: a document cannot carry a secret (§4.1).
fn choose_auth_method(doc: &Map<String, Value>) -> Result<Chosen, DocumentError> {
    let declared = string(doc, "token_endpoint_auth_method")?;
    let listed = strings(doc, "token_endpoint_auth_methods_supported")?;
    let mut named: Vec<&str> = listed.unwrap_or_default();
    named.extend(declared);
    if named.is_empty() {
        return Ok(Chosen::None);
    }
    if named.contains(&"private_key_jwt") {
        // Keys are needed for it; without any, `none` is the strongest left, if named.
        if doc.contains_key("jwks_uri") || !named.contains(&"none") {
            return Ok(Chosen::PrivateKeyJwt);
        }
    }
    if named.contains(&"none") {
        return Ok(Chosen::None);
    }
    // Shown on an error page (escaped there): kept short, and quoted so it reads as data.
    let shown: Vec<String> = named
        .iter()
        .take(4)
        .map(|m| format!("{:?}", m.chars().take(40).collect::<String>()))
        .collect();
    Err(DocumentError::AuthMethod(shown.join(", ")))
}

/// A private_key_jwt document's `jwks_uri`: https (or the test set-up's plain http loopback, as
/// the document itself), on the document's own origin, so nobody can publish a document naming
/// someone else's keys (ChatGPT's, say) and sign in as that client's users' grants.
fn jwks_uri(doc: &Map<String, Value>, id: &ClientMetadataUrl) -> Result<url::Url, DocumentError> {
    let origin = id.url().origin().ascii_serialization();
    let refused = || DocumentError::JwksUri(origin.clone());
    let Some(raw) = string(doc, "jwks_uri")? else {
        return Err(DocumentError::MissingJwksUri);
    };
    if raw.len() > MAX_JWKS_URI_LEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refused());
    }
    let url = url::Url::parse(raw).map_err(|_| refused())?;
    let same_origin = url.origin() == id.url().origin();
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && id.is_plain_http());
    if !same_origin
        || !scheme_ok
        || !url.username().is_empty()
        || url.password().is_some()
        || url.fragment().is_some()
    {
        return Err(refused());
    }
    Ok(url)
}

fn string<'a>(
    doc: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, DocumentError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(DocumentError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

fn strings<'a>(
    doc: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<Vec<&'a str>>, DocumentError> {
    let wrong = DocumentError::WrongType {
        field,
        expected: "an array of strings",
    };
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or(wrong.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "https://app.example/oauth/client.json";

    fn check(doc: Value) -> Result<ClientDocument, DocumentError> {
        let id = ClientMetadataUrl::parse(ID).expect("id");
        let offered = Scope::parse("openid profile email").expect("scope");
        validate(doc.to_string().as_bytes(), &id, &offered)
    }

    #[test]
    fn a_minimal_document_gets_the_offered_scopes_and_its_host_as_name() {
        let doc = check(json!({ "client_id": ID, "redirect_uris": ["https://app.example/cb", "https://app.example/cb"] }))
            .expect("valid");
        assert_eq!(doc.name, "app.example");
        assert_eq!(doc.redirect_uris, ["https://app.example/cb"]);
        assert_eq!(doc.scope.to_string(), "email openid profile");
    }

    #[test]
    fn a_full_document_is_read() {
        let doc = check(json!({
            "client_id": ID, "client_name": "  Example App\u{7}  ", "client_uri": "https://app.example",
            "logo_uri": "https://app.example/logo.png", "redirect_uris": ["http://127.0.0.1:3000/cb"],
            "scope": "openid profile", "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"], "token_endpoint_auth_method": "none", "jwks_uri": "ignored",
        }))
        .expect("valid");
        assert_eq!(doc.name, "Example App");
        assert_eq!(doc.scope.to_string(), "openid profile");
    }

    #[test]
    fn the_strongest_auth_method_both_sides_support_is_chosen() {
        let uris = json!(["https://app.example/cb"]);
        let jwks = "https://app.example/oauth/jwks.json";
        let chosen = |extra: Value| {
            let mut doc = json!({ "client_id": ID, "redirect_uris": uris });
            for (k, v) in extra.as_object().expect("object") {
                doc[k] = v.clone();
            }
            check(doc).map(|d| d.jwks_uri.map(|u| u.to_string()))
        };
        // ChatGPT's: both listed, keys published: private_key_jwt.
        assert_eq!(
            chosen(json!({ "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"], "jwks_uri": jwks })),
            Ok(Some(jwks.to_string()))
        );
        // Listed only among the supported ones, with keys: still the stronger.
        assert_eq!(
            chosen(
                json!({ "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"], "jwks_uri": jwks })
            ),
            Ok(Some(jwks.to_string()))
        );
        // No keys to verify with: none, which it also supports.
        assert_eq!(
            chosen(json!({ "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"] })),
            Ok(None)
        );
        // Claude's: none.
        assert_eq!(
            chosen(json!({ "token_endpoint_auth_method": "none" })),
            Ok(None)
        );
        assert_eq!(
            chosen(
                json!({ "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"] })
            ),
            Ok(None)
        );
        // Only methods we cannot do: named in the refusal.
        let err = chosen(json!({ "token_endpoint_auth_methods_supported": ["tls_client_auth", "client_secret_post"] }))
            .expect_err("unsupported only");
        assert!(err.to_string().contains("\"tls_client_auth\""), "{err}");
        // Keys elsewhere than the document's origin.
        for other in [
            "https://evil.example/jwks.json",
            "https://app.example:8443/jwks.json",
            "http://app.example/jwks.json",
            "https://user@app.example/jwks.json",
        ] {
            let err = chosen(
                json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": other }),
            )
            .expect_err(other);
            assert!(matches!(err, DocumentError::JwksUri(_)), "{other}: {err}");
        }
        assert_eq!(
            chosen(json!({ "token_endpoint_auth_method": "private_key_jwt" })),
            Err(DocumentError::MissingJwksUri)
        );
    }

    #[test]
    fn each_broken_rule_is_named() {
        let uris = json!(["https://app.example/cb"]);
        for (doc, needle) in [
            (json!({ "redirect_uris": uris }), "client_id"),
            (
                json!({ "client_id": "https://app.example/oauth/client.json/", "redirect_uris": uris }),
                "client_id",
            ),
            (json!({ "client_id": ID }), "redirect_uris"),
            (
                json!({ "client_id": ID, "redirect_uris": [] }),
                "redirect_uris",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": "https://app.example/cb" }),
                "redirect_uris",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": ["http://app.example/cb"] }),
                "redirect_uris",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": ["https://app.example/cb#x"] }),
                "fragment",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": uris, "token_endpoint_auth_method": "client_secret_basic" }),
                "token_endpoint_auth_method",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": uris, "token_endpoint_auth_method": "private_key_jwt" }),
                "token_endpoint_auth_method",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": uris, "client_secret": "s" }),
                "client_secret",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": uris, "grant_types": ["password"] }),
                "grant_types",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": uris, "response_types": ["token"] }),
                "response_types",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": uris, "scope": "admin" }),
                "scope",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": uris, "scope": "" }),
                "scope",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": uris, "client_name": 7 }),
                "client_name",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": uris, "logo_uri": "javascript:alert(1)" }),
                "logo_uri",
            ),
            (
                json!({ "client_id": ID, "redirect_uris": uris, "client_uri": "http://app.example" }),
                "client_uri",
            ),
            (json!([ID]), "object"),
        ] {
            let err = check(doc.clone()).expect_err(&doc.to_string());
            assert!(err.to_string().contains(needle), "{doc}: {err}");
        }
        let id = ClientMetadataUrl::parse(ID).expect("id");
        let err = validate(b"{not json", &id, &Scope::default()).expect_err("not json");
        assert!(err.to_string().contains("not JSON"), "{err}");
    }
}
