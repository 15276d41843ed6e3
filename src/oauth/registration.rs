//! The rules of dynamic client registration (RFC 7591) and its management protocol (RFC 7592):
//! which metadata a client may register, and what an anonymous client may ask for. The web
//! edge reads the request and writes the response; `app::clients` stores what passes here.

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

use super::OAuthError;
use crate::domain::{RedirectUri, ResourceIndicator, Scope, may_be_named};
use crate::store::{AuthMethod, ClientKeys, ClientRecord};

/// Largest registration document accepted.
pub const MAX_DOCUMENT: usize = 16 * 1024;

/// At most this many redirect URIs in one registration.
const MAX_REDIRECT_URIS: usize = 10;

/// The metadata we read; anything else is ignored, as RFC 7591 §2 asks.
#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    scope: Option<String>,
    /// OpenID Connect Registration §2; RS256 when absent.
    id_token_signed_response_alg: Option<String>,
    /// Only in RFC 7592 updates, where it must name the client being updated.
    client_id: Option<String>,
    /// private_key_jwt (RFC 7523 §2.2): where the client publishes its keys, or the keys.
    jwks_uri: Option<String>,
    jwks: Option<Value>,
}

/// The audiences (Hydra's name) or resources (RFC 8707's) a registration names, each a string
/// or an array of strings.
#[derive(Deserialize)]
struct Audiences {
    audience: Option<OneOrMany>,
    resource: Option<OneOrMany>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A registration document that passed every check (RFC 7591 §2).
pub struct Registration {
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_basic`, `client_secret_post` or `private_key_jwt`.
    pub method: &'static str,
    pub scope: Scope,
    pub id_token_alg: Algorithm,
    /// Set exactly when `method` is `private_key_jwt`.
    pub keys: Option<ClientKeys>,
    /// The `client_id` the document names (RFC 7592 §2.2 updates name their own).
    pub named_client_id: Option<String>,
    /// The audiences and resources the document names (or why they are malformed), checked
    /// by `check_audiences`.
    named_audiences: Result<Vec<String>, OAuthError>,
}

impl Registration {
    /// How a client registered like this authenticates.
    pub fn auth_method(&self) -> AuthMethod {
        match self.method {
            "none" => AuthMethod::None,
            "private_key_jwt" => AuthMethod::PrivateKeyJwt,
            _ => AuthMethod::ClientSecret,
        }
    }

    /// An anonymous client may name only what every client may ask for (`GPTAUTH_RESOURCES`)
    /// or its own ID; anything else could be a builder's private API (issue 15, finding 8).
    /// Nothing is stored: every client may already ask for those, and its own ID is its
    /// default `aud`.
    pub fn check_audiences(
        &self,
        server: &[ResourceIndicator],
        own_client_id: &str,
    ) -> Result<(), OAuthError> {
        for candidate in self.named_audiences.clone()?.iter() {
            if !may_be_named(candidate, server, &[], Some(own_client_id)) {
                let shown: String = crate::domain::strip_controls(candidate)
                    .chars()
                    .take(200)
                    .collect();
                return Err(OAuthError::invalid_client_metadata(format!(
                    "audience/resource {shown:?} is not offered by this server"
                )));
            }
        }
        Ok(())
    }

    /// An RFC 7592 §2.2 update names the client it updates.
    pub fn check_update_of(&self, client: &ClientRecord) -> Result<(), OAuthError> {
        if self.named_client_id.as_deref() != Some(client.client_id.as_str()) {
            return Err(OAuthError::invalid_client_metadata(
                "the document's client_id must be this client's",
            ));
        }
        Ok(())
    }

    /// An update keeps the client's kind of authentication (public, secret, or
    /// private_key_jwt).
    pub fn check_same_auth_method(&self, client: &ClientRecord) -> Result<(), OAuthError> {
        if self.auth_method() != client.auth_method() {
            return Err(OAuthError::invalid_client_metadata(
                "token_endpoint_auth_method cannot switch between a public client, a client with a secret and a private_key_jwt client; register a new client",
            ));
        }
        Ok(())
    }
}

/// The auth method as registered (both secret methods work at our token endpoint).
pub fn method_of(client: &ClientRecord) -> &str {
    if client.auth_method() == AuthMethod::PrivateKeyJwt {
        return "private_key_jwt";
    }
    match (&client.secret_hash, &client.registered_auth_method) {
        (None, _) => "none",
        (Some(_), Some(method)) => method,
        (Some(_), None) => "client_secret_basic",
    }
}

/// The audiences and resources a document names.
fn named_audiences(body: &[u8]) -> Result<Vec<String>, OAuthError> {
    let named: Audiences = serde_json::from_slice(body).map_err(|_| {
        OAuthError::invalid_client_metadata(
            "audience and resource are a string or an array of strings",
        )
    })?;
    Ok([named.audience, named.resource]
        .into_iter()
        .flatten()
        .flat_map(|n| match n {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        })
        .collect())
}

/// Parses and checks a registration document (RFC 7591 §2, §3.2.2).
pub fn validate(body: &[u8]) -> Result<Registration, OAuthError> {
    if body.len() > MAX_DOCUMENT {
        return Err(OAuthError::invalid_client_metadata(
            "the registration document is too large",
        ));
    }
    let meta: Metadata = serde_json::from_slice(body).map_err(|_| {
        OAuthError::invalid_client_metadata("the body must be a JSON object of client metadata")
    })?;
    if meta.redirect_uris.is_empty() || meta.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::invalid_redirect_uri(
            "give 1 to 10 redirect_uris",
        ));
    }
    let mut redirect_uris = Vec::new();
    for raw in &meta.redirect_uris {
        let uri = RedirectUri::parse(raw)
            .map_err(|e| OAuthError::invalid_redirect_uri(e.to_string()))?
            .to_string();
        if !redirect_uris.contains(&uri) {
            redirect_uris.push(uri);
        }
    }
    let method = match meta
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic")
    {
        "none" => "none",
        "client_secret_basic" => "client_secret_basic",
        "client_secret_post" => "client_secret_post",
        "private_key_jwt" => "private_key_jwt",
        _ => {
            return Err(OAuthError::invalid_client_metadata(
                "token_endpoint_auth_method must be none, client_secret_basic, client_secret_post or private_key_jwt",
            ));
        }
    };
    let keys = crate::client_metadata::check_keys(meta.jwks_uri.as_deref(), meta.jwks.as_ref())
        .map_err(|e| OAuthError::invalid_client_metadata(e.to_string()))?;
    let keys = match (method, keys) {
        ("private_key_jwt", Some(keys)) => Some(keys),
        ("private_key_jwt", None) => {
            return Err(OAuthError::invalid_client_metadata(
                "private_key_jwt needs the client's public keys: a jwks_uri or a jwks",
            ));
        }
        // Keys another method would never use are not kept.
        _ => None,
    };
    if meta.grant_types.as_ref().is_some_and(|g| {
        g.iter()
            .any(|t| t != "authorization_code" && t != "refresh_token")
    }) {
        return Err(OAuthError::invalid_client_metadata(
            "grant_types: authorization_code and refresh_token only",
        ));
    }
    if meta
        .response_types
        .as_ref()
        .is_some_and(|r| r.iter().any(|t| t != "code"))
    {
        return Err(OAuthError::invalid_client_metadata(
            "response_types: code only",
        ));
    }
    // Registered clients get at most what the server offers; none asked means all of it.
    let offered = Scope::parse(crate::domain::DEFAULT_SCOPE).unwrap_or_default();
    let scope = match meta
        .scope
        .as_deref()
        .map(|raw| Scope::parse(raw).map(Scope::without_offline_access))
    {
        None => offered,
        Some(Ok(s)) if !s.is_empty() && offered.contains_all(&s) => s,
        Some(_) => {
            return Err(OAuthError::invalid_client_metadata(
                "scope: choose among openid, profile and email",
            ));
        }
    };
    let id_token_alg = match meta.id_token_signed_response_alg.as_deref() {
        None | Some("RS256") => Algorithm::RS256,
        Some("ES256") => Algorithm::ES256,
        Some(_) => {
            return Err(OAuthError::invalid_client_metadata(
                "id_token_signed_response_alg must be RS256 or ES256",
            ));
        }
    };
    // Without control characters: the name is shown in the operator's terminal and logs.
    let name = meta
        .client_name
        .as_deref()
        .map(crate::domain::strip_controls)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Unnamed client".into())
        .chars()
        .take(100)
        .collect::<String>();
    Ok(Registration {
        name,
        redirect_uris,
        method,
        scope,
        id_token_alg,
        keys,
        named_client_id: meta.client_id,
        named_audiences: named_audiences(body),
    })
}
