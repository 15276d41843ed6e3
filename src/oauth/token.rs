//! The token endpoint's protocol rules (RFC 6749 §4.1.3, §5, §6): which grant a request is,
//! what it must carry, and the success response's shape. Running the grant is oxide-auth's,
//! over our primitives (`authorizer`, `registrar`, `issuer`).

use serde::{Deserialize, Serialize};

use super::client_auth::Credentials;
use super::error::{ErrorCode, OAuthError};
use super::request::Params;
use crate::domain::Scope;

/// The grants this server supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
}

/// What a client is told when the server has no grant types beyond these.
const SUPPORTED_GRANTS: &str = "supported grant types: authorization_code, refresh_token";

impl GrantType {
    /// RFC 6749 §5.2 `invalid_grant`: the same answer whatever was wrong with the grant, so
    /// that nobody learns whose it was.
    pub fn refused(self) -> OAuthError {
        OAuthError::invalid_grant(match self {
            GrantType::AuthorizationCode => {
                "the authorization code is invalid, expired, already used, or was issued to another client or redirect_uri"
            }
            GrantType::RefreshToken => {
                "the refresh token is invalid, expired, revoked, or was issued to another client"
            }
        })
    }
}

/// RFC 8707 §2.2: a token request's `resource` must be one of the grant's.
pub fn target_refused() -> OAuthError {
    OAuthError::invalid_target("the resource is not the one this grant was issued for")
}

/// A token request whose shape is right: the grant, its parameters (credentials taken out)
/// and the client's credentials. What oxide-auth reports as `invalid_request` afterwards can
/// then only concern the grant itself.
pub struct TokenRequest {
    pub grant: GrantType,
    pub params: Params,
    pub credentials: Credentials,
}

/// Checks the request's shape and takes the client's credentials out of it.
/// `authorization`: the raw `Authorization` header, if any.
pub fn parse(authorization: Option<&[u8]>, mut params: Params) -> Result<TokenRequest, OAuthError> {
    let invalid = OAuthError::invalid_request;
    // RFC 6749 §4.1.3, §6: grant_type is REQUIRED.
    let grant = match params.non_empty("grant_type") {
        None => return Err(invalid("grant_type is missing")),
        Some("authorization_code") => GrantType::AuthorizationCode,
        Some("refresh_token") => GrantType::RefreshToken,
        Some(_) => return Err(ErrorCode::UnsupportedGrantType.with(SUPPORTED_GRANTS)),
    };
    let required: &[&str] = match grant {
        // `redirect_uri` may be implied by the code (see `Db::implied_redirect_uri`).
        GrantType::AuthorizationCode => &["code"],
        GrantType::RefreshToken => &["refresh_token"],
    };
    for name in required {
        if params.non_empty(name).is_none() {
            return Err(OAuthError::invalid_request(format!("{name} is missing")));
        }
    }
    if params.get("scope") == Some("") {
        params.remove("scope");
    }
    super::authorize::drop_offline_access(&mut params);
    let credentials = Credentials::take(authorization, &mut params)?;
    Ok(TokenRequest {
        grant,
        params,
        credentials,
    })
}

/// Turns an error oxide-auth answered a token request with into the RFC's. The request's shape
/// was checked by [`parse`]: what remains is the grant (a replayed, expired or foreign code, a
/// PKCE mismatch, a refresh token that is no more).
pub fn refusal(grant: GrantType, status: u16, error: Option<&str>) -> OAuthError {
    if status == 401 {
        return OAuthError::invalid_client("client authentication failed");
    }
    match error.unwrap_or("invalid_request") {
        "invalid_scope" => {
            OAuthError::invalid_scope("the requested scope exceeds what was granted")
        }
        "unsupported_grant_type" => ErrorCode::UnsupportedGrantType.with(SUPPORTED_GRANTS),
        "invalid_client" => OAuthError::invalid_client("client authentication failed"),
        _ => grant.refused(),
    }
}

/// RFC 6749 §5.1 (and OpenID Connect Core §3.1.3.3 with the `openid` scope). Fields in name
/// order, as the response has always listed them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// A JWT (RFC 9068).
    pub access_token: String,
    /// Seconds.
    pub expires_in: i64,
    /// With the `openid` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub scope: Option<String>,
    /// Always `Bearer`.
    pub token_type: String,
}

/// What oxide-auth's successful answer holds.
#[derive(Deserialize)]
struct Issued {
    access_token: String,
    refresh_token: Option<String>,
    scope: Option<String>,
}

impl TokenResponse {
    /// The response for oxide-auth's successful answer (`body`), with the access token's
    /// lifetime and the ID token the issuer made. `None` if the answer is not one.
    pub fn from_flow(body: &str, access_ttl: i64, id_token: Option<String>) -> Option<Self> {
        let issued: Issued = serde_json::from_str(body).ok()?;
        Some(TokenResponse {
            access_token: issued.access_token,
            // oxide-auth counts down from the expiry, which reads one second short.
            expires_in: access_ttl,
            id_token,
            refresh_token: issued.refresh_token,
            scope: issued
                .scope
                .map(|s| Scope::parse(&s).map(|c| c.to_string()).unwrap_or(s)),
            // RFC 6750 §4 spells it "Bearer"; the comparison is case-insensitive anyway.
            token_type: "Bearer".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(raw: &str) -> Params {
        let Ok(p) = Params::parse(raw.as_bytes()) else {
            panic!("a test form parses");
        };
        p
    }

    #[test]
    fn the_shape_is_checked_before_the_grant() {
        let code = |raw: &str| parse(None, params(raw)).err().map(|e| e.code);
        assert_eq!(code(""), Some(ErrorCode::InvalidRequest));
        assert_eq!(
            code("grant_type=password"),
            Some(ErrorCode::UnsupportedGrantType)
        );
        assert_eq!(
            code("grant_type=authorization_code"),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code("grant_type=refresh_token&refresh_token=x"),
            Some(ErrorCode::InvalidClient)
        );
        let ok = parse(
            None,
            params("grant_type=refresh_token&refresh_token=x&client_id=c1"),
        );
        assert!(ok.is_ok_and(
            |r| r.grant == GrantType::RefreshToken && r.params.get("client_id").is_none()
        ));
    }

    #[test]
    fn oxide_errors_become_the_rfcs() {
        let g = GrantType::AuthorizationCode;
        assert_eq!(refusal(g, 401, None).code, ErrorCode::InvalidClient);
        assert_eq!(
            refusal(g, 400, Some("invalid_scope")).code,
            ErrorCode::InvalidScope
        );
        assert_eq!(
            refusal(g, 400, Some("invalid_request")).code,
            ErrorCode::InvalidGrant
        );
    }

    #[test]
    fn the_response_is_the_rfcs() {
        let body = r#"{"access_token":"a","refresh_token":"r","token_type":"bearer","expires_in":3599,"scope":"profile openid"}"#;
        let Some(resp) = TokenResponse::from_flow(body, 3600, None) else {
            panic!("parses");
        };
        let Ok(json) = serde_json::to_string(&resp) else {
            panic!("serializes");
        };
        assert!(json.starts_with(r#"{"access_token":"a","expires_in":3600,"refresh_token":"r","#));
        assert!(json.ends_with(r#""token_type":"Bearer"}"#));
        assert!(!json.contains("id_token"));
    }
}
