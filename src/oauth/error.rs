//! The one vocabulary of protocol errors: every endpoint (authorize, token, revocation,
//! introspection, registration, userinfo) answers with an `OAuthError`. How each is put on the
//! wire (status, headers, redirect or page) is the web edge's, in `web::errors`.

use std::fmt;

/// An error code, each from the clause that defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// RFC 6749 §4.1.2.1, §5.2: a parameter missing, repeated, or malformed.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (401, with `WWW-Authenticate`).
    InvalidClient,
    /// RFC 6749 §5.2: the code or refresh token is invalid, expired, revoked, or another
    /// client's, or the redirect URI does not match the code's.
    InvalidGrant,
    /// RFC 6749 §4.1.2.1, §5.2: this client may not use this grant or response type.
    UnauthorizedClient,
    /// RFC 6749 §5.2.
    UnsupportedGrantType,
    /// RFC 6749 §4.1.2.1.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1, §5.2: a scope unknown or beyond the client's (or the grant's).
    InvalidScope,
    /// RFC 6749 §4.1.2.1: the person (or the server) said no.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: the server failed; nothing the client can fix.
    ServerError,
    /// RFC 6749 §4.1.2.1: the server cannot serve now (storage unreachable); try again.
    TemporarilyUnavailable,
    /// RFC 8707 §2: a `resource` that is malformed or not the grant's.
    InvalidTarget,
    /// RFC 7009 §2.2.1: revocation of this type of token is not supported.
    UnsupportedTokenType,
    /// RFC 7591 §3.2.2: a redirect URI that is not acceptable.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: some other metadata value is not acceptable.
    InvalidClientMetadata,
    /// RFC 6750 §3.1: the access token is missing, expired, revoked or malformed (401).
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks a scope the request needs (403).
    InsufficientScope,
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, and nobody is signed in.
    LoginRequired,
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, and the person has not consented.
    ConsentRequired,
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, and a page would be needed.
    InteractionRequired,
    /// OpenID Connect Core §6.1: `request` objects are not supported.
    RequestNotSupported,
    /// OpenID Connect Core §6.2: `request_uri` is not supported.
    RequestUriNotSupported,
}

impl ErrorCode {
    /// The code on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
        }
    }

    /// This code with a description for the developer of the client.
    pub fn with(self, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code: self,
            description: description.into(),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error: its code and a description. The description is for a client's developer
/// (`error_description`): it may name what was wrong, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        ErrorCode::InvalidRequest.with(description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        ErrorCode::InvalidClient.with(description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        ErrorCode::InvalidGrant.with(description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        ErrorCode::InvalidScope.with(description)
    }

    pub fn invalid_target(description: impl Into<String>) -> Self {
        ErrorCode::InvalidTarget.with(description)
    }

    pub fn invalid_client_metadata(description: impl Into<String>) -> Self {
        ErrorCode::InvalidClientMetadata.with(description)
    }

    pub fn invalid_redirect_uri(description: impl Into<String>) -> Self {
        ErrorCode::InvalidRedirectUri.with(description)
    }

    /// Storage failed: logged here, with the cause, and answered without it.
    pub fn unavailable(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "storage failed");
        Self::storage_unreachable()
    }

    /// Storage failed, already logged by the caller: `temporarily_unavailable` (RFC 6749
    /// §4.1.2.1, §5.2), try again.
    pub fn storage_unreachable() -> Self {
        ErrorCode::TemporarilyUnavailable
            .with("the server cannot reach its database; retry shortly")
    }

    /// Something failed that the client cannot fix: logged here, with the cause.
    pub fn server_error(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "server error");
        ErrorCode::ServerError.with("The server could not complete the request.")
    }
}
