//! `GET|POST /oauth/userinfo` (OpenID Connect Core §5.3): who the access token's user is, as far
//! as its scopes allow.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use crate::tokens::verify_access_token;
use crate::web::api::bearer::{bearer_token, refuse};
use crate::web::api::docs::UserInfo;
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
pub async fn userinfo(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let Some(token) = bearer_token(&req) else {
        return refuse(StatusCode::UNAUTHORIZED, "Bearer");
    };
    let invalid = "Bearer error=\"invalid_token\"";
    let keys = state
        .keys
        .for_token(token, &state.db, state.config.access_token_ttl)
        .await;
    let Ok(claims) = verify_access_token(&keys, state.config.issuer.as_str(), token) else {
        return refuse(StatusCode::UNAUTHORIZED, invalid);
    };
    match state.db.is_access_token_revoked(&claims.jti).await {
        Ok(false) => {}
        Ok(true) => return refuse(StatusCode::UNAUTHORIZED, invalid),
        Err(e) => {
            tracing::error!(error = %e, "storage failed");
            return HttpResponse::ServiceUnavailable().finish();
        }
    }
    let scopes: Vec<&str> = claims.scope.split(' ').collect();
    if !scopes.contains(&"openid") {
        return refuse(
            StatusCode::FORBIDDEN,
            "Bearer error=\"insufficient_scope\", scope=\"openid\"",
        );
    }
    let Ok(user_id) = uuid::Uuid::parse_str(&claims.sub) else {
        return refuse(StatusCode::UNAUTHORIZED, invalid);
    };
    // A disabled or deleted user's, or a deleted client's, tokens are no longer honoured.
    let user = match state
        .db
        .token_parties_active(user_id, &claims.client_id, Some(claims.iat))
        .await
    {
        Ok(true) => match state.db.user_by_id(user_id).await {
            Ok(Some(u)) if u.disabled_at.is_none() => u,
            Ok(_) => return refuse(StatusCode::UNAUTHORIZED, invalid),
            Err(e) => {
                tracing::error!(error = %e, "storage failed");
                return HttpResponse::ServiceUnavailable().finish();
            }
        },
        Ok(false) => return refuse(StatusCode::UNAUTHORIZED, invalid),
        Err(e) => {
            tracing::error!(error = %e, "storage failed");
            return HttpResponse::ServiceUnavailable().finish();
        }
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
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Value::Object(body))
}
