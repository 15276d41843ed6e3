//! Validate [gptauth](https://github.com/) access tokens in your API.
//!
//! gptauth issues JWT access tokens (RFC 9068): signed with ES256, `typ: at+jwt`, a `kid` from
//! the server's JWKS, and the claims `iss`, `sub`, `aud`, `exp`, `iat`, `jti`, `client_id`,
//! `scope`. A [`Verifier`] checks all of that offline: it discovers the JWKS from the issuer's
//! metadata (RFC 8414), caches the keys, and refetches them once when a token names a key it
//! has not seen (key rotation), at most once per [`VerifierBuilder::refetch_interval`].
//!
//! ```no_run
//! # async fn run() -> Result<(), gptauth_verify::VerifyError> {
//! use gptauth_verify::Verifier;
//!
//! let verifier = Verifier::builder("https://auth.example.com")
//!     .client_id("gpt_0123…") // your GPT's client ID: every other client's token is refused
//!     .build()?;
//! let user = verifier.verify_header("Bearer eyJ…").await?;
//! println!("request from {} via GPT client {}", user.sub, user.client_id);
//! # Ok(()) }
//! ```
//!
//! With the `actix` or `axum` feature, [`AuthenticatedUser`] is an extractor: a handler that
//! takes one only runs for a valid token; anything else is answered `401` with
//! `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3). See the `actix` and `axum`
//! modules.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;

/// Why a token was refused. [`VerifyError::www_authenticate`] gives the header to send back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No `Authorization: Bearer …` header at all.
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// `alg` other than the asymmetric one of the key (`none`, `HS256`, …).
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// Not `typ: at+jwt` (an ID token, for example).
    #[error("not an access token")]
    WrongType,
    #[error("the token is signed with a key the issuer does not publish")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is from another issuer")]
    Issuer,
    #[error("the token is meant for another audience")]
    Audience,
    /// Issued to a client other than the ones pinned with [`VerifierBuilder::client_id`].
    #[error("the token was issued to another client")]
    Client,
    #[error("the token lacks a required claim")]
    Claims,
    /// The issuer's keys could not be fetched and none are cached.
    #[error("the issuer's keys are unavailable: {0}")]
    KeysUnavailable(String),
    /// The builder was given an unusable issuer URL.
    #[error("configuration: {0}")]
    Config(String),
}

impl VerifyError {
    /// The HTTP status to answer with: 401, or 503 when the keys cannot be had.
    pub fn status(&self) -> u16 {
        match self {
            VerifyError::KeysUnavailable(_) | VerifyError::Config(_) => 503,
            _ => 401,
        }
    }

    /// The `WWW-Authenticate` header value (RFC 6750 §3): a request without a token gets the
    /// bare challenge, a bad token `error="invalid_token"`.
    pub fn www_authenticate(&self) -> String {
        match self {
            VerifyError::Missing => "Bearer".to_string(),
            other => format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                other.to_string().replace('"', "'")
            ),
        }
    }
}

/// An extractor's refusal: the error and the `WWW-Authenticate` challenge to send with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct Rejection {
    pub error: VerifyError,
    pub challenge: String,
}

/// A missing scope: answer 403 with `error="insufficient_scope"` (RFC 6750 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token lacks the scope {required:?}")]
pub struct InsufficientScope {
    pub required: String,
}

impl InsufficientScope {
    pub fn www_authenticate(&self) -> String {
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"{}\"",
            self.required.replace('"', "'")
        )
    }
}

/// A 403 `insufficient_scope` with its complete challenge (RFC 6750 §3.1): the scopes the
/// route needs and, when the verifier knows it, `resource_metadata` (RFC 9728 §5.1), so an MCP
/// client can step up by asking for them (the MCP authorization spec's scope challenge).
/// Made by [`Verifier::require_scopes`] and the [`Scoped`] extractor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token lacks some of the scopes {scopes:?}")]
pub struct ScopeChallenge {
    /// Every scope the route needs, not only the missing ones (RFC 6750 §3: "the scope
    /// necessary to access the requested resource").
    pub scopes: Vec<String>,
    /// The `WWW-Authenticate` value to send with the 403.
    pub challenge: String,
}

/// The scopes a route needs, for the [`Scoped`] extractor:
///
/// ```
/// use gptauth_verify::RequiredScopes;
/// struct NotesWrite;
/// impl RequiredScopes for NotesWrite {
///     const SCOPES: &'static [&'static str] = &["notes.write"];
/// }
/// ```
pub trait RequiredScopes {
    const SCOPES: &'static [&'static str];
}

/// An [`AuthenticatedUser`] whose token carries every scope of `S`. As an extractor (features
/// `actix`, `axum`) a missing or invalid token is a 401 whose challenge names `S::SCOPES`, and a
/// token without them a 403 [`ScopeChallenge`]: both with `resource_metadata` when configured.
// Debug, Clone and PartialEq by hand: a derive would ask the same of the marker type `S`.
pub struct Scoped<S> {
    pub user: AuthenticatedUser,
    // `fn() -> S`: the marker never makes the extractor !Send or !Sync.
    _route: std::marker::PhantomData<fn() -> S>,
}

impl<S> Scoped<S> {
    pub fn into_inner(self) -> AuthenticatedUser {
        self.user
    }
}

impl<S> Clone for Scoped<S> {
    fn clone(&self) -> Self {
        Scoped {
            user: self.user.clone(),
            _route: std::marker::PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for Scoped<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoped").field("user", &self.user).finish()
    }
}

impl<S> PartialEq for Scoped<S> {
    fn eq(&self, other: &Self) -> bool {
        self.user == other.user
    }
}

impl<S> Eq for Scoped<S> {}

impl<S> std::ops::Deref for Scoped<S> {
    type Target = AuthenticatedUser;
    fn deref(&self) -> &AuthenticatedUser {
        &self.user
    }
}

/// The refusal of a [`Scoped`] extractor: 401 (or 503) for the token, 403 for its scopes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopedRejection {
    #[error(transparent)]
    Unauthorized(Rejection),
    #[error(transparent)]
    Forbidden(ScopeChallenge),
}

/// Writes a Bearer challenge (RFC 6750 §3) from its auth-params; `"` cannot occur inside a
/// quoted value (RFC 6750 §3 forbids it in `scope`, and descriptions are ours).
fn bearer_challenge(params: &[(&str, &str)]) -> String {
    let params: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace(['"', '\\'], "'")))
        .collect();
    if params.is_empty() {
        "Bearer".to_string()
    } else {
        format!("Bearer {}", params.join(", "))
    }
}

/// Who is calling: the verified claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    /// The person: the same value in every session, refresh and re-login.
    pub sub: String,
    /// The OAuth client (the GPT) that obtained the token.
    pub client_id: String,
    pub scopes: Vec<String>,
    pub audience: Vec<String>,
    pub issuer: String,
    pub expires_at: i64,
    pub issued_at: Option<i64>,
    pub jwt_id: Option<String>,
}

impl AuthenticatedUser {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// `Ok` when the token carries `scope`; otherwise the 403 to answer with.
    pub fn require_scope(&self, scope: &str) -> Result<(), InsufficientScope> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(InsufficientScope {
                required: scope.to_string(),
            })
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    #[serde(deserialize_with = "one_or_many")]
    aud: Vec<String>,
    exp: i64,
    iat: Option<i64>,
    jti: Option<String>,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    scope: String,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Configures a [`Verifier`].
pub struct VerifierBuilder {
    issuer: String,
    audience: Option<String>,
    resource: Option<String>,
    client_ids: Vec<String>,
    jwks_uri: Option<String>,
    leeway: u64,
    refetch_interval: Duration,
    timeout: Duration,
    resource_metadata: Option<String>,
}

impl VerifierBuilder {
    /// The `aud` your API accepts (the client's `--audience` in gptauth). Default: the issuer,
    /// which is what gptauth puts in `aud` for operator and portal clients without an audience
    /// (dynamically registered and metadata-document clients get their own `client_id`), so
    /// pin your client with [`Self::client_id`] too.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Accept only tokens issued to this client (the `client_id` claim, RFC 9068 §2.2): your
    /// GPT's client ID. Call again to accept several. Without it, any client's token for the
    /// audience passes, and with the default audience (the issuer) that is every client of
    /// the server made by its operator or in its portal.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_ids.push(client_id.into());
        self
    }

    /// This API's resource identifier (RFC 8707/9728), e.g. `https://api.example.com/mcp`.
    /// It becomes the accepted audience (unless [`Self::audience`] says otherwise), and 401
    /// challenges point MCP clients at the protected resource metadata
    /// (`WWW-Authenticate: Bearer resource_metadata="…"`, RFC 9728 §5.1).
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Where this API serves its protected resource metadata (RFC 9728 §3), named as
    /// `resource_metadata="…"` in every 401 and 403 challenge (RFC 9728 §5.1). Default: the
    /// well-known URL derived from [`Self::resource`], or none without a resource.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Skip discovery and fetch keys from this URL.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`, seconds (default 30).
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// How soon an unknown `kid` may trigger another key fetch (default 30 s), so a flood of
    /// forged tokens cannot turn into a flood of requests to the issuer.
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Timeout of each request to the issuer (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn build(self) -> Result<Verifier, VerifyError> {
        let issuer = self.issuer.trim_end_matches('/').to_string();
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(VerifyError::Config(format!(
                "the issuer must be an http(s) URL, got {issuer:?}"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .build()
            .map_err(|e| VerifyError::Config(e.to_string()))?;
        Ok(Verifier {
            inner: Arc::new(Inner {
                audience: self
                    .audience
                    .or_else(|| self.resource.clone())
                    .unwrap_or_else(|| issuer.clone()),
                resource: self.resource,
                client_ids: self.client_ids,
                resource_metadata: self.resource_metadata,
                issuer,
                jwks_uri: RwLock::new(self.jwks_uri),
                leeway: self.leeway,
                refetch_interval: self.refetch_interval,
                http,
                keys: RwLock::new(HashMap::new()),
                last_fetch: Mutex::new(None),
                cold_failure: Mutex::new(None),
            }),
        })
    }
}

/// Verifies access tokens of one issuer for one audience. Cheap to clone; share one.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audience: String,
    resource: Option<String>,
    /// Empty: any client.
    client_ids: Vec<String>,
    resource_metadata: Option<String>,
    jwks_uri: RwLock<Option<String>>,
    leeway: u64,
    refetch_interval: Duration,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
    /// When an unknown `kid` last caused a refetch, for rate limiting. Also serialises fetches.
    last_fetch: Mutex<Option<Instant>>,
    /// The last failed fetch while no key was cached.
    cold_failure: Mutex<Option<(Instant, VerifyError)>>,
}

/// How long a failed first fetch is remembered before the next try.
const COLD_RETRY: Duration = Duration::from_secs(1);

impl Verifier {
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.into(),
            audience: None,
            resource: None,
            client_ids: Vec::new(),
            jwks_uri: None,
            leeway: 30,
            refetch_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            resource_metadata: None,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The `WWW-Authenticate` value for a refusal: [`VerifyError::www_authenticate`], plus
    /// `resource_metadata` when the verifier knows its resource.
    pub fn challenge(&self, error: &VerifyError) -> String {
        self.challenge_for(error, &[])
    }

    /// The 401 challenge of a route that needs `scopes`: as [`Self::challenge`], plus
    /// `scope="…"` (RFC 6750 §3) so a client knows what to ask for before it retries.
    pub fn challenge_for(&self, error: &VerifyError, scopes: &[&str]) -> String {
        let description = error.to_string();
        let scope = scopes.join(" ");
        let metadata = self.resource_metadata_url();
        let mut params: Vec<(&str, &str)> = Vec::new();
        // A request without any token gets no error code (RFC 6750 §3.1).
        if *error != VerifyError::Missing {
            params.push(("error", "invalid_token"));
            params.push(("error_description", &description));
        }
        if !scope.is_empty() {
            params.push(("scope", &scope));
        }
        if let Some(url) = metadata.as_deref() {
            params.push(("resource_metadata", url));
        }
        bearer_challenge(&params)
    }

    /// A refusal ready to answer with, for a route that needs `scopes`.
    pub fn reject_for(&self, error: VerifyError, scopes: &[&str]) -> Rejection {
        Rejection {
            challenge: self.challenge_for(&error, scopes),
            error,
        }
    }

    /// The 403 for a token without (some of) `scopes`: `error="insufficient_scope"`, every
    /// scope the route needs, and `resource_metadata` (RFC 6750 §3.1, RFC 9728 §5.1).
    pub fn insufficient_scope(&self, scopes: &[&str]) -> ScopeChallenge {
        let scope = scopes.join(" ");
        let metadata = self.resource_metadata_url();
        let mut params = vec![("error", "insufficient_scope"), ("scope", scope.as_str())];
        if let Some(url) = metadata.as_deref() {
            params.push(("resource_metadata", url));
        }
        ScopeChallenge {
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            challenge: bearer_challenge(&params),
        }
    }

    /// `Ok` when `user`'s token carries every one of `scopes`; otherwise the 403 to answer with.
    pub fn require_scopes(
        &self,
        user: &AuthenticatedUser,
        scopes: &[&str],
    ) -> Result<(), ScopeChallenge> {
        if scopes.iter().all(|s| user.has_scope(s)) {
            Ok(())
        } else {
            Err(self.insufficient_scope(scopes))
        }
    }

    /// Verifies an `Authorization` header (if any) for a route that needs `scopes`: what the
    /// [`Scoped`] extractors do, for other frameworks.
    pub async fn verify_for_scopes(
        &self,
        authorization: Option<&str>,
        scopes: &[&str],
    ) -> Result<AuthenticatedUser, ScopedRejection> {
        let authorization = authorization.ok_or_else(|| {
            ScopedRejection::Unauthorized(self.reject_for(VerifyError::Missing, scopes))
        })?;
        let user = self
            .verify_header(authorization)
            .await
            .map_err(|e| ScopedRejection::Unauthorized(self.reject_for(e, scopes)))?;
        self.require_scopes(&user, scopes)
            .map_err(ScopedRejection::Forbidden)?;
        Ok(user)
    }

    /// [`Self::verify_for_scopes`] with the scopes of `S`, as a [`Scoped`] user.
    pub async fn verify_scoped<S: RequiredScopes>(
        &self,
        authorization: Option<&str>,
    ) -> Result<Scoped<S>, ScopedRejection> {
        Ok(Scoped {
            user: self.verify_for_scopes(authorization, S::SCOPES).await?,
            _route: std::marker::PhantomData,
        })
    }

    /// A refusal ready to answer with (the extractors' rejection).
    pub fn reject(&self, error: VerifyError) -> Rejection {
        Rejection {
            challenge: self.challenge(&error),
            error,
        }
    }

    /// Where this API's protected resource metadata is served: the URL given to
    /// [`VerifierBuilder::resource_metadata`], else (RFC 9728 §3.1) the resource's origin +
    /// `/.well-known/oauth-protected-resource` + the resource's path.
    pub fn resource_metadata_url(&self) -> Option<String> {
        if let Some(url) = &self.inner.resource_metadata {
            return Some(url.clone());
        }
        let resource = self.inner.resource.as_deref()?;
        let (scheme, rest) = resource.split_once("://")?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        Some(format!(
            "{scheme}://{host}/.well-known/oauth-protected-resource{path}"
        ))
    }

    /// The protected resource metadata document (RFC 9728 §2) to serve at
    /// [`Self::resource_metadata_url`], or `None` without a configured resource.
    pub fn protected_resource_metadata(&self) -> Option<serde_json::Value> {
        let resource = self.inner.resource.as_deref()?;
        Some(serde_json::json!({
            "resource": resource,
            "authorization_servers": [self.inner.issuer],
            "bearer_methods_supported": ["header"],
        }))
    }

    /// Verifies the value of an `Authorization` header (`Bearer <token>`).
    pub async fn verify_header(
        &self,
        authorization: &str,
    ) -> Result<AuthenticatedUser, VerifyError> {
        let token = authorization
            .strip_prefix("Bearer ")
            .or_else(|| authorization.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(VerifyError::Missing)?;
        self.verify(token).await
    }

    /// Verifies a token: signature with a published key, `typ`, `iss`, `aud`, `exp`/`nbf`, and
    /// the client when pinned.
    pub async fn verify(&self, token: &str) -> Result<AuthenticatedUser, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if !header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let (key, alg) = self.key(&kid).await?;
        // The algorithm comes from the key, never from the token (no `none`, no HS256 with a
        // public key as the secret).
        if header.alg != alg {
            return Err(VerifyError::Algorithm);
        }
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.inner.issuer]);
        validation.set_audience(&[&self.inner.audience]);
        validation.leeway = self.inner.leeway;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => VerifyError::Expired,
                ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
                ErrorKind::InvalidIssuer => VerifyError::Issuer,
                ErrorKind::InvalidAudience => VerifyError::Audience,
                ErrorKind::InvalidSignature => VerifyError::Signature,
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => VerifyError::Claims,
                ErrorKind::InvalidAlgorithm => VerifyError::Algorithm,
                _ => VerifyError::Malformed,
            }
        })?;
        let c = data.claims;
        // After the signature: an unsigned token learns nothing from this answer.
        if !self.inner.client_ids.is_empty() && !self.inner.client_ids.contains(&c.client_id) {
            return Err(VerifyError::Client);
        }
        Ok(AuthenticatedUser {
            sub: c.sub,
            client_id: c.client_id,
            scopes: c
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            audience: c.aud,
            issuer: c.iss,
            expires_at: c.exp,
            issued_at: c.iat,
            jwt_id: c.jti,
        })
    }

    /// The key for `kid`: from the cache, or after one (rate-limited) refetch.
    async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), VerifyError> {
        if let Some(found) = self.inner.keys.read().await.get(kid) {
            return Ok(found.clone());
        }
        {
            let mut last = self.inner.last_fetch.lock().await;
            // Another task may have fetched while this one waited for the lock.
            if let Some(found) = self.inner.keys.read().await.get(kid) {
                return Ok(found.clone());
            }
            let cold = self.inner.keys.read().await.is_empty();
            if !cold {
                // A warm cache refetches for an unknown `kid` (a rotation), once per interval.
                if last.is_some_and(|at| at.elapsed() < self.inner.refetch_interval) {
                    return Err(VerifyError::UnknownKey);
                }
                *last = Some(Instant::now());
            } else if let Some((at, error)) = self.inner.cold_failure.lock().await.as_ref() {
                // The issuer was unreachable a moment ago: do not hammer it on every request.
                if at.elapsed() < COLD_RETRY {
                    return Err(error.clone());
                }
            }
            let fetched = self.fetch_keys().await;
            match fetched {
                Ok(keys) => {
                    *self.inner.keys.write().await = keys;
                    *self.inner.cold_failure.lock().await = None;
                }
                Err(e) if cold => {
                    *self.inner.cold_failure.lock().await = Some((Instant::now(), e.clone()));
                    return Err(e);
                }
                // Keep serving from a warm cache while the issuer is unreachable.
                Err(_) => return Err(VerifyError::UnknownKey),
            }
        }
        self.inner
            .keys
            .read()
            .await
            .get(kid)
            .cloned()
            .ok_or(VerifyError::UnknownKey)
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, (DecodingKey, Algorithm)>, VerifyError> {
        let unavailable = |e: &dyn std::fmt::Display| VerifyError::KeysUnavailable(e.to_string());
        // Bound first: a guard in the match scrutinee would live through the arms below.
        let configured = self.inner.jwks_uri.read().await.clone();
        let jwks_uri = match configured {
            Some(uri) => uri,
            None => {
                let uri = self.discover().await?;
                *self.inner.jwks_uri.write().await = Some(uri.clone());
                uri
            }
        };
        let set: JwkSet = self
            .inner
            .http
            .get(&jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unavailable(&e))?
            .json()
            .await
            .map_err(|e| unavailable(&e))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let alg = match &jwk.algorithm {
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P384 => {
                    Algorithm::ES384
                }
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                // Symmetric keys have no place in a public key set.
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (key, alg));
            }
        }
        Ok(keys)
    }

    /// RFC 8414 discovery; the metadata must name the configured issuer (§3.3).
    async fn discover(&self) -> Result<String, VerifyError> {
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: String,
        }
        let url = format!(
            "{}/.well-known/oauth-authorization-server",
            self.inner.issuer
        );
        let meta: Metadata = self
            .inner
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| VerifyError::KeysUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| VerifyError::KeysUnavailable(e.to_string()))?;
        if meta.issuer.trim_end_matches('/') != self.inner.issuer {
            return Err(VerifyError::KeysUnavailable(format!(
                "the metadata names the issuer {:?}, not {:?}",
                meta.issuer, self.inner.issuer
            )));
        }
        Ok(meta.jwks_uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user holding `notes.read` only.
    fn reader() -> AuthenticatedUser {
        AuthenticatedUser {
            sub: "u".into(),
            client_id: "c".into(),
            scopes: vec!["notes.read".into()],
            audience: vec!["a".into()],
            issuer: "i".into(),
            expires_at: 0,
            issued_at: None,
            jwt_id: None,
        }
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        assert_eq!(VerifyError::Missing.www_authenticate(), "Bearer");
        assert_eq!(
            VerifyError::Expired.www_authenticate(),
            "Bearer error=\"invalid_token\", error_description=\"the token has expired\""
        );
        assert_eq!(
            InsufficientScope {
                required: "notes.write".into()
            }
            .www_authenticate(),
            "Bearer error=\"insufficient_scope\", scope=\"notes.write\""
        );
        assert_eq!(VerifyError::KeysUnavailable("down".into()).status(), 503);
        assert_eq!(VerifyError::Signature.status(), 401);
    }

    #[test]
    fn scopes_are_checked_one_by_one() {
        let user = reader();
        assert!(user.require_scope("notes.read").is_ok());
        assert_eq!(
            user.require_scope("notes.write"),
            Err(InsufficientScope {
                required: "notes.write".into()
            })
        );
    }

    #[tokio::test]
    async fn a_missing_or_garbled_header_is_refused_without_a_fetch() {
        let v = Verifier::builder("http://127.0.0.1:9").build().unwrap();
        assert_eq!(
            v.verify_header("Basic abc").await,
            Err(VerifyError::Missing)
        );
        assert_eq!(v.verify_header("Bearer ").await, Err(VerifyError::Missing));
        assert_eq!(v.verify("not-a-jwt").await, Err(VerifyError::Malformed));
    }

    #[test]
    fn resource_metadata_follows_rfc_9728() {
        let v = Verifier::builder("https://auth.example.com")
            .resource("https://api.example.com/mcp")
            .build()
            .unwrap();
        assert_eq!(
            v.resource_metadata_url().as_deref(),
            Some("https://api.example.com/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            v.challenge(&VerifyError::Missing),
            "Bearer resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\""
        );
        assert!(v.challenge(&VerifyError::Expired).ends_with(
            "error_description=\"the token has expired\", resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\""
        ));
        let meta = v.protected_resource_metadata().unwrap();
        assert_eq!(meta["resource"], "https://api.example.com/mcp");
        assert_eq!(meta["authorization_servers"][0], "https://auth.example.com");
        let plain = Verifier::builder("https://auth.example.com")
            .build()
            .unwrap();
        assert_eq!(plain.resource_metadata_url(), None);
        assert_eq!(plain.challenge(&VerifyError::Missing), "Bearer");
    }

    #[test]
    fn step_up_challenges_name_the_scopes_and_the_resource_metadata() {
        let meta = "https://api.example.com/.well-known/oauth-protected-resource";
        let v = Verifier::builder("https://auth.example.com")
            .resource_metadata(meta)
            .build()
            .unwrap();
        assert_eq!(v.resource_metadata_url().as_deref(), Some(meta));
        assert_eq!(
            v.challenge_for(&VerifyError::Missing, &["notes.read", "notes.write"]),
            format!("Bearer scope=\"notes.read notes.write\", resource_metadata=\"{meta}\"")
        );
        assert_eq!(
            v.challenge_for(&VerifyError::Expired, &["notes.write"]),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"the token has expired\", \
                 scope=\"notes.write\", resource_metadata=\"{meta}\""
            )
        );
        let user = reader();
        assert!(v.require_scopes(&user, &["notes.read"]).is_ok());
        let refused = v
            .require_scopes(&user, &["notes.read", "notes.write"])
            .unwrap_err();
        assert_eq!(refused.scopes, ["notes.read", "notes.write"]);
        assert_eq!(
            refused.challenge,
            format!(
                "Bearer error=\"insufficient_scope\", scope=\"notes.read notes.write\", \
                 resource_metadata=\"{meta}\""
            )
        );
        // Without resource metadata the 403 is the bare RFC 6750 §3.1 challenge.
        let plain = Verifier::builder("https://auth.example.com")
            .build()
            .unwrap();
        assert_eq!(
            plain.insufficient_scope(&["notes.write"]).challenge,
            "Bearer error=\"insufficient_scope\", scope=\"notes.write\""
        );
        assert_eq!(plain.challenge_for(&VerifyError::Missing, &[]), "Bearer");
    }

    #[tokio::test]
    async fn verify_for_scopes_answers_401_with_the_scope_before_any_fetch() {
        let v = Verifier::builder("http://127.0.0.1:9")
            .resource_metadata("http://127.0.0.1:9/.well-known/oauth-protected-resource")
            .build()
            .unwrap();
        match v.verify_for_scopes(None, &["notes.write"]).await {
            Err(ScopedRejection::Unauthorized(r)) => {
                assert_eq!(r.error, VerifyError::Missing);
                assert_eq!(
                    r.challenge,
                    "Bearer scope=\"notes.write\", resource_metadata=\"http://127.0.0.1:9/.well-known/oauth-protected-resource\""
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_issuer_is_a_configuration_error() {
        assert!(matches!(
            Verifier::builder("auth.example.com").build(),
            Err(VerifyError::Config(_))
        ));
    }
}
