//! `/portal`: where GPT builders create and look after their clients, and administrators grant
//! the builder role. Every page needs a session of a builder (or an administrator): `/portal`
//! is a scope guarded by `web::extract::require_builder`, and its handlers take `Builder` (or
//! `Admin`). A builder sees only their own clients, an administrator all of them.

mod chart;
pub mod clients;
pub mod users;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use crate::store::{ClientRecord, UserRecord};
use crate::web::errors::unavailable;
pub(super) use crate::web::pages::render::date;
use crate::web::pages::render::error_page;
use crate::web::state::AppState;

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
