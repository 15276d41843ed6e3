//! `GET|POST /oauth/userinfo` (OpenID Connect Core §5.3): who the access token's user is, as far
//! as its scopes allow.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use crate::oauth::{ErrorCode, OAuthError};
use crate::tokens::verify_access_token;
use crate::web::api::bearer::bearer_token;
use crate::web::api::docs::UserInfo;
use crate::web::errors::ApiError;
use crate::web::state::AppState;

#[utoipa::path(
    method(get, post),
    path = "/oauth/userinfo",
    tag = "openid",
    summary = "The access token's user (OpenID Connect Core §5.3)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims the token's scopes allow", body = UserInfo),
        (status = 401, description = "No bearer token, or one that is invalid, expired, revoked or whose user is gone",
            headers(("WWW-Authenticate" = String, description = "`Bearer` or `Bearer error=\"invalid_token\"`"))),
        (status = 403, description = "The token lacks the `openid` scope",
            headers(("WWW-Authenticate" = String, description = "`Bearer error=\"insufficient_scope\", scope=\"openid\"`"))),
        (status = 503, description = "The database cannot be reached"),
    )
)]
pub async fn userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // RFC 6750 §3.1: a missing token gets a challenge without an error code.
    let Some(token) = bearer_token(&req) else {
        return Err(ApiError::no_bearer());
    };
    let invalid = || ApiError::bearer(ErrorCode::InvalidToken.with(""));
    // The resource cannot tell: a bare 503, nothing to challenge.
    let unavailable = |e: crate::store::StoreError| ApiError::bearer(OAuthError::unavailable(e));
    let keys = state
        .keys
        .for_token(token, &state.db, state.config.access_token_ttl)
        .await;
    let Ok(claims) = verify_access_token(&keys, state.config.issuer.as_str(), token) else {
        return Err(invalid());
    };
    match state.db.is_access_token_revoked(&claims.jti).await {
        Ok(false) => {}
        Ok(true) => return Err(invalid()),
        Err(e) => return Err(unavailable(e)),
    }
    let scopes: Vec<&str> = claims.scope.split(' ').collect();
    // OpenID Connect Core §5.3: the UserInfo endpoint is for `openid` tokens.
    if !scopes.contains(&"openid") {
        return Err(ApiError::insufficient_scope("openid"));
    }
    let Ok(user_id) = uuid::Uuid::parse_str(&claims.sub) else {
        return Err(invalid());
    };
    // A disabled or deleted user's, or a deleted client's, tokens are no longer honoured.
    let user = match state
        .db
        .token_parties_active(user_id, &claims.client_id, Some(claims.iat))
        .await
    {
        Ok(true) => match state.db.user_by_id(user_id).await {
            Ok(Some(u)) if u.disabled_at.is_none() => u,
            Ok(_) => return Err(invalid()),
            Err(e) => return Err(unavailable(e)),
        },
        Ok(false) => return Err(invalid()),
        Err(e) => return Err(unavailable(e)),
    };
    let mut body = Map::new();
    body.insert("sub".into(), json!(claims.sub));
    if scopes.contains(&"email") {
        body.insert("email".into(), json!(user.email));
        body.insert(
            "email_verified".into(),
            json!(user.email_verified_at.is_some()),
        );
    }
    if scopes.contains(&"profile")
        && let Some(name) = user.name
    {
        body.insert("name".into(), json!(name));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Value::Object(body)))
}
