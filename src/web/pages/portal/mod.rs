//! `/portal`: where GPT builders create and look after their clients, and administrators grant
//! the builder role. Every page needs a session of a builder (or an administrator); a builder
//! sees only their own clients, an administrator all of them.

mod chart;
mod clients;
mod users;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::store::{ClientRecord, UserRecord};
use crate::web::errors::unavailable;
pub(super) use crate::web::pages::render::date;
use crate::web::pages::render::error_page;
use crate::web::pages::render::see_other;
use crate::web::session;
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/portal", web::get().to(clients::list))
        .route("/portal/clients/new", web::get().to(clients::new_form))
        .route("/portal/clients", web::post().to(clients::create))
        .route("/portal/clients/{id}", web::get().to(clients::show))
        .route(
            "/portal/clients/{id}/redirects",
            web::post().to(clients::set_redirects),
        )
        .route(
            "/portal/clients/{id}/rotate-secret",
            web::post().to(clients::rotate_secret),
        )
        .route(
            "/portal/clients/{id}/delete",
            web::post().to(clients::delete),
        )
        .route("/portal/users", web::get().to(users::list))
        .route("/portal/users/role", web::post().to(users::set_role));
}

/// The signed-in builder, or the response that turns the request away: the login page when
/// nobody is signed in, a 403 page for end users.
pub(super) async fn builder(
    req: &HttpRequest,
    state: &AppState,
) -> Result<UserRecord, HttpResponse> {
    match session::current_user(req, &state.db, state.config.issuer.is_https()).await {
        Ok(Some(user)) if user.may_build() => Ok(user),
        Ok(Some(_)) => Err(error_page(
            StatusCode::FORBIDDEN,
            "For GPT builders",
            "The portal is where GPT builders manage their clients. Your account is not a builder's; an administrator can make it one.".into(),
        )),
        Ok(None) => Err(see_other("/login?next=%2Fportal")),
        Err(e) => Err(unavailable(e)),
    }
}

/// A client the user may manage. Someone else's client is "not found", as if it did not exist.
pub(super) async fn managed_client(
    state: &AppState,
    user: &UserRecord,
    client_id: &str,
) -> Result<ClientRecord, HttpResponse> {
    let not_found = || {
        error_page(
            StatusCode::NOT_FOUND,
            "No such client",
            "There is no client with this ID among yours.".into(),
        )
    };
    match state.db.client(client_id).await {
        Ok(Some(c)) if user.is_admin || c.owner_id == Some(user.id) => Ok(c),
        Ok(_) => Err(not_found()),
        Err(e) => Err(unavailable(e)),
    }
}
