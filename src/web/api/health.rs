use actix_web::{HttpResponse, web};

use crate::web::api::docs::{Health, Readiness};
use crate::web::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "The process answers", body = Health)),
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    responses(
        (status = 200, description = "The database answers", body = Readiness),
        (status = 503, description = "The database cannot be reached", body = Readiness),
    ),
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok()
            .json(serde_json::json!({ "status": "ready", "database": state.db.backend() })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "unavailable", "database": "unreachable" }))
        }
    }
}

/// `GET /metrics` (Prometheus). With `GPTAUTH_METRICS_TOKEN` set, only for that bearer token.
pub async fn metrics(req: actix_web::HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(expected) = &state.config.metrics_token {
        let given = crate::web::api::bearer::bearer_token(&req).unwrap_or_default();
        if !crate::crypto::constant_time_eq(
            crate::crypto::digest(given).as_bytes(),
            crate::crypto::digest(expected).as_bytes(),
        ) {
            return actix_web::ResponseError::error_response(
                &crate::web::errors::ApiError::no_bearer(),
            );
        }
    }
    HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(state.metrics.render(state.db.pool_stats()))
}
