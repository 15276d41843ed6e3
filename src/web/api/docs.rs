//! The shapes of the JSON and form endpoints' requests and answers, for the OpenAPI document
//! (`GET /openapi.json`, see `openapi.rs`). Where a handler builds its body from a real type
//! (`TokenResponse`), that type is the one described; the rest only describe bodies built with
//! `json!`, so they are never constructed.
#![allow(dead_code)]

use std::borrow::Cow;

use serde::Serialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::oauth::ErrorCode;
pub use crate::oauth::token::TokenResponse;

/// An RFC 6749 §5.2 error, as the token, revocation and introspection endpoints answer it
/// (`web::errors::ApiError`).
#[derive(Serialize, ToSchema)]
pub struct OAuthError {
    pub error: TokenError,
    pub error_description: String,
}

/// The codes the token, revocation and introspection endpoints answer with: these of the one
/// vocabulary, `oauth::ErrorCode`.
const TOKEN_ENDPOINT_CODES: [ErrorCode; 8] = [
    ErrorCode::InvalidRequest,
    ErrorCode::InvalidClient,
    ErrorCode::InvalidGrant,
    ErrorCode::UnsupportedGrantType,
    ErrorCode::InvalidScope,
    ErrorCode::InvalidTarget,
    ErrorCode::TemporarilyUnavailable,
    ErrorCode::ServerError,
];

/// An `ErrorCode` the token, revocation and introspection endpoints use; in the document as
/// the schema `TokenError`.
#[derive(Serialize)]
#[serde(transparent)]
pub struct TokenError(pub ErrorCode);

impl PartialSchema for TokenError {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(TOKEN_ENDPOINT_CODES.map(ErrorCode::as_str)))
            .description(Some(
                "RFC 6749 §5.2 error codes (and RFC 8707 §2 `invalid_target`).",
            ))
            .into()
    }
}

impl ToSchema for TokenError {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TokenError")
    }
}

/// `POST /oauth/token` (RFC 6749 §4.1.3, §6; RFC 7636; RFC 8707). The client authenticates
/// with HTTP Basic (`client_secret_basic`), with `client_id` and `client_secret` here
/// (`client_secret_post`), with `client_assertion_type` and `client_assertion`
/// (`private_key_jwt`), or, when public, with `client_id` alone. Parameters in the URL are
/// refused; each parameter at most once except `resource`.
#[derive(Serialize, ToSchema)]
pub struct TokenRequest {
    pub grant_type: GrantType,
    /// With `authorization_code`.
    #[schema(nullable = false)]
    pub code: Option<String>,
    /// With `authorization_code`, unless the code is bound by PKCE.
    #[schema(nullable = false)]
    pub redirect_uri: Option<String>,
    /// With `authorization_code` (PKCE, RFC 7636).
    #[schema(nullable = false)]
    pub code_verifier: Option<String>,
    /// With `refresh_token`.
    #[schema(nullable = false)]
    pub refresh_token: Option<String>,
    /// With `refresh_token`: at most the scope granted.
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// RFC 8707 resource indicator (absolute URI, no fragment).
    #[schema(nullable = false)]
    pub resource: Option<String>,
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
    /// `private_key_jwt` (RFC 7523 §2.2):
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    #[schema(nullable = false)]
    pub client_assertion_type: Option<String>,
    /// `private_key_jwt`: a JWT signed with the client's key (`iss` = `sub` = client ID, `aud`
    /// the issuer or this endpoint, `exp` within five minutes, a single-use `jti`).
    #[schema(nullable = false)]
    pub client_assertion: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
}

/// `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662): the token, and the
/// client's credentials when it does not use HTTP Basic.
#[derive(Serialize, ToSchema)]
pub struct TokenQuery {
    pub token: String,
    /// Accepted and not needed: access tokens are JWTs, refresh tokens are not.
    #[schema(nullable = false)]
    pub token_type_hint: Option<String>,
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
    /// `private_key_jwt`, as at the token endpoint.
    #[schema(nullable = false)]
    pub client_assertion_type: Option<String>,
    #[schema(nullable = false)]
    pub client_assertion: Option<String>,
}

/// RFC 7662 §2.2. An inactive token is `{"active": false}` and nothing else.
#[derive(Serialize, ToSchema)]
pub struct IntrospectionResponse {
    pub active: bool,
    /// `Bearer` or `refresh_token`.
    #[schema(required = false, nullable = false)]
    pub token_type: Option<String>,
    #[schema(required = false, nullable = false)]
    pub sub: Option<String>,
    #[schema(required = false, nullable = false)]
    pub client_id: Option<String>,
    #[schema(required = false, nullable = false)]
    pub scope: Option<String>,
    #[schema(required = false, nullable = false)]
    pub exp: Option<i64>,
    #[schema(required = false, nullable = false)]
    pub iat: Option<i64>,
    #[schema(required = false, nullable = false)]
    pub iss: Option<String>,
    #[schema(required = false, nullable = false)]
    pub aud: Option<Audience>,
    #[schema(required = false, nullable = false)]
    pub jti: Option<String>,
    #[schema(required = false, nullable = false)]
    pub email: Option<String>,
    #[schema(required = false, nullable = false)]
    pub email_verified: Option<bool>,
}

/// One audience as a string, several as an array.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// RFC 7591 §2 client metadata (anything else is ignored). In an RFC 7592 update, `client_id`
/// must name the client updated.
#[derive(Serialize, ToSchema)]
pub struct ClientMetadataRequest {
    /// 1 to 10.
    pub redirect_uris: Vec<String>,
    #[schema(required = false, nullable = false)]
    pub client_name: Option<String>,
    #[schema(required = false, nullable = false)]
    pub token_endpoint_auth_method: Option<AuthMethod>,
    #[schema(required = false, nullable = false)]
    pub grant_types: Option<Vec<GrantType>>,
    #[schema(required = false, nullable = false)]
    pub response_types: Option<Vec<String>>,
    /// Among `openid`, `profile` and `email`; all of them when absent.
    #[schema(required = false, nullable = false)]
    pub scope: Option<String>,
    #[schema(required = false, nullable = false)]
    pub id_token_signed_response_alg: Option<IdTokenAlg>,
    #[schema(required = false, nullable = false)]
    pub client_id: Option<String>,
    /// `private_key_jwt`: where the client publishes its public keys (https).
    #[schema(required = false, nullable = false)]
    pub jwks_uri: Option<String>,
    /// `private_key_jwt`: the client's public keys, as a JWK Set (instead of `jwks_uri`).
    #[schema(required = false, nullable = false)]
    pub jwks: Option<Jwks>,
    /// Audiences (a string or an array): each must be one of the server's `GPTAUTH_RESOURCES`.
    #[schema(required = false, nullable = false)]
    pub audience: Option<Vec<String>>,
    /// Resources (RFC 8707; a string or an array): each must be one of `GPTAUTH_RESOURCES`.
    #[schema(required = false, nullable = false)]
    pub resource: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with one of the client's keys (RFC 7523 §2.2).
    PrivateKeyJwt,
}

#[derive(Serialize, ToSchema)]
pub enum IdTokenAlg {
    RS256,
    ES256,
}

/// A registered client's metadata (RFC 7591 §3.2.1, RFC 7592 §3). At registration it also
/// carries `registration_access_token` and, for a confidential client, `client_secret`.
#[derive(Serialize, ToSchema)]
pub struct ClientInformation {
    pub client_id: String,
    pub client_id_issued_at: i64,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: AuthMethod,
    pub grant_types: Vec<GrantType>,
    pub response_types: Vec<String>,
    pub scope: String,
    pub id_token_signed_response_alg: IdTokenAlg,
    pub registration_client_uri: String,
    /// A `private_key_jwt` client's, as registered.
    #[schema(required = false, nullable = false)]
    pub jwks_uri: Option<String>,
    #[schema(required = false, nullable = false)]
    pub jwks: Option<Jwks>,
    /// At registration only.
    #[schema(required = false, nullable = false)]
    pub registration_access_token: Option<String>,
    /// At registration only, for a confidential client.
    #[schema(required = false, nullable = false)]
    pub client_secret: Option<String>,
    /// `0`: the secret does not expire.
    #[schema(required = false, nullable = false)]
    pub client_secret_expires_at: Option<i64>,
}

/// An RFC 7591 §3.2.2 error; also `access_denied` (403) when registration is closed and
/// `temporarily_unavailable` (503, without a description) when storage fails.
#[derive(Serialize, ToSchema)]
pub struct RegistrationError {
    pub error: RegistrationErrorCode,
    #[schema(required = false, nullable = false)]
    pub error_description: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationErrorCode {
    InvalidClientMetadata,
    InvalidRedirectUri,
    AccessDenied,
    TemporarilyUnavailable,
}

/// OpenID Connect Core §5.3.2: the claims the token's scopes allow.
#[derive(Serialize, ToSchema)]
pub struct UserInfo {
    pub sub: String,
    /// With the `email` scope.
    #[schema(required = false, nullable = false)]
    pub email: Option<String>,
    #[schema(required = false, nullable = false)]
    pub email_verified: Option<bool>,
    /// With the `profile` scope, when the user gave one.
    #[schema(required = false, nullable = false)]
    pub name: Option<String>,
}

/// RFC 8414 authorization server metadata (also the OpenID discovery document).
#[derive(Serialize, ToSchema)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub userinfo_endpoint: String,
    /// Absent when dynamic registration is closed.
    #[schema(required = false, nullable = false)]
    pub registration_endpoint: Option<String>,
    pub response_types_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// For `private_key_jwt` assertions: RS256, PS256, ES256, EdDSA.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub authorization_response_iss_parameter_supported: bool,
    pub client_id_metadata_document_supported: bool,
}

/// RFC 7517 §5: the public keys that verify this server's tokens.
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One public key (RSA `n`/`e` or EC `crv`/`x`/`y`); never a private part.
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    pub kty: String,
    #[schema(required = false, nullable = false)]
    pub kid: Option<String>,
    #[schema(required = false, nullable = false)]
    pub alg: Option<String>,
    #[schema(required = false, nullable = false)]
    #[serde(rename = "use")]
    pub use_: Option<String>,
    #[schema(required = false, nullable = false)]
    pub n: Option<String>,
    #[schema(required = false, nullable = false)]
    pub e: Option<String>,
    #[schema(required = false, nullable = false)]
    pub crv: Option<String>,
    #[schema(required = false, nullable = false)]
    pub x: Option<String>,
    #[schema(required = false, nullable = false)]
    pub y: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    /// `sqlite` or `postgres` when ready, `unreachable` when not.
    pub database: String,
}
