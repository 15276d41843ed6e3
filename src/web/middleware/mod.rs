//! Middleware around every request: its span and id, its count for `/metrics`, and the
//! deadline for its body.

pub mod body_deadline;

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// The id a request is logged under (see `RequestSpan`).
#[derive(Clone)]
struct EffectiveRequestId(String);

/// The request span records the path only: query strings carry `state`, redirect URIs and
/// other values that do not belong in logs.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        // A proxy's or client's own `x-request-id` is kept, so one id follows the request
        // through every system; a missing or odd one is replaced by ours.
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|id| {
                (1..=64).contains(&id.len())
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            })
            .map(str::to_string)
            .or_else(|| {
                request
                    .extensions()
                    .get::<RequestId>()
                    .map(ToString::to_string)
            })
            .unwrap_or_default();
        request
            .extensions_mut()
            .insert(EffectiveRequestId(request_id.clone()));
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %request.method(),
            path = %request.path(),
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(resp) => resp.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        span.record("status", status);
        if status >= 500 {
            tracing::warn!(parent: &span, status, "request failed");
        } else {
            tracing::debug!(parent: &span, status, "request done");
        }
    }
}

/// Counts the request for `/metrics`, by its route pattern.
pub async fn count_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = std::time::Instant::now();
    let metrics = req
        .app_data::<actix_web::web::Data<crate::web::state::AppState>>()
        .map(|s| s.metrics.clone());
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let resp = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.observe_request(&route, &method, resp.status().as_u16(), started.elapsed());
    }
    Ok(resp)
}

/// Echoes the request id in an `x-request-id` response header, so a user's report can be
/// matched with the logs.
pub async fn echo_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .extensions()
        .get::<EffectiveRequestId>()
        .map(|id| id.0.clone());
    let mut resp = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        resp.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(resp)
}
