//! `GET /openapi.json`: the OpenAPI 3.1 document of the JSON and form endpoints, assembled from
//! the `#[utoipa::path]` annotations next to their handlers and the shapes in `api.rs`. The
//! HTML pages (sign-in, consent, account, portal) are not in it.

use std::sync::OnceLock;

use actix_web::{HttpResponse, http::header, web};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Server, ServerBuilder};
use utoipa::{Modify, OpenApi};

use crate::web::api::health;

use crate::web::api::introspect;

use crate::web::api::register;

use crate::web::api::revoke;

use crate::web::api::token;

use crate::web::api::userinfo;

use crate::web::api::well_known;
use crate::web::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gptauth",
        description = "OAuth 2.0 / OpenID Connect authorization server: the token, revocation, introspection, registration, userinfo, discovery and health endpoints.",
    ),
    paths(
        token::post,
        revoke::post,
        introspect::post,
        register::post,
        register::read,
        register::update,
        register::delete,
        userinfo::userinfo,
        well_known::metadata,
        well_known::openid_configuration,
        well_known::jwks,
        health::healthz,
        health::readyz,
    ),
    modifiers(&SecuritySchemes),
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = |description: &str, auth: HttpAuthScheme| {
            let mut http = Http::new(auth);
            http.description = Some(description.to_string());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            "client_secret_basic",
            scheme(
                "The client's ID and secret (RFC 6749 §2.3.1). Alternatively `client_secret_post` (both in the form) or, for a public client, `client_id` alone in the form.",
                HttpAuthScheme::Basic,
            ),
        );
        components.add_security_scheme(
            "bearer",
            scheme(
                "An access token issued by this server (RFC 6750).",
                HttpAuthScheme::Bearer,
            ),
        );
        components.add_security_scheme(
            "initial_access_token",
            scheme(
                "An initial access token (`gptauth registration-token create`), needed when `GPTAUTH_REGISTRATION=token`.",
                HttpAuthScheme::Bearer,
            ),
        );
        components.add_security_scheme(
            "registration_access_token",
            scheme(
                "The registration access token returned at registration (RFC 7592).",
                HttpAuthScheme::Bearer,
            ),
        );
    }
}

/// The document, built once (the server entry is added per request: it is the issuer).
fn base() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        // One handler serves GET and POST /oauth/userinfo: operation IDs must still be unique.
        if let Some(item) = doc.paths.paths.get_mut("/oauth/userinfo") {
            for (op, method) in [(&mut item.get, "get"), (&mut item.post, "post")] {
                if let Some(op) = op {
                    op.operation_id = Some(format!("userinfo_{method}"));
                }
            }
        }
        doc
    })
}

pub async fn document(state: web::Data<AppState>) -> HttpResponse {
    let mut doc = base().clone();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let server: Server = ServerBuilder::new()
        .url(state.config.issuer.as_str().trim_end_matches('/'))
        .build();
    doc.servers = Some(vec![server]);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(doc)
}
