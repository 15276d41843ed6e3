//! `GET /`: who is signed in, with a sign-out button.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::web::csrf;
use crate::web::extract::MaybeSignedIn;
use crate::web::pages::render::{HomePage, render};
use crate::web::state::AppState;

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    MaybeSignedIn(user): MaybeSignedIn,
) -> HttpResponse {
    let (csrf_token, cookie) = csrf::token_for(&req, state.config.issuer.is_https());
    render(
        StatusCode::OK,
        &HomePage {
            csrf_token,
            user_email: user.map(|u| u.email),
        },
        cookie.into_iter().collect(),
    )
}
