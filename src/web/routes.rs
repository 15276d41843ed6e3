//! The whole route table: every path the server answers, in one place.

use actix_web::middleware::from_fn;
use actix_web::web;

use super::extract::require_builder;

use super::api::{
    authorize, health, introspect, openapi, register, revoke, token, userinfo, well_known,
};
use super::pages::{
    account, consent, home, login, logout, portal, recovery, render, setup, signup, verification,
};

/// The whole route table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route(
            "/.well-known/oauth-authorization-server",
            web::get().to(well_known::metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            web::get().to(well_known::openid_configuration),
        )
        .route("/.well-known/jwks.json", web::get().to(well_known::jwks))
        .route("/openapi.json", web::get().to(openapi::document))
        .route("/oauth/authorize", web::get().to(authorize::get))
        .route("/oauth/authorize", web::post().to(authorize::post))
        .route("/oauth/token", web::post().to(token::post))
        .route("/oauth/revoke", web::post().to(revoke::post))
        .route("/oauth/introspect", web::post().to(introspect::post))
        .route("/oauth/register", web::post().to(register::post))
        .route("/oauth/register/{client_id}", web::get().to(register::read))
        .route(
            "/oauth/register/{client_id}",
            web::put().to(register::update),
        )
        .route(
            "/oauth/register/{client_id}",
            web::delete().to(register::delete),
        )
        .route("/oauth/userinfo", web::get().to(userinfo::userinfo))
        .route("/oauth/userinfo", web::post().to(userinfo::userinfo))
        .route("/login", web::get().to(login::get))
        .route("/login", web::post().to(login::post))
        .route("/signup", web::get().to(signup::get))
        .route("/signup", web::post().to(signup::post))
        .route("/consent", web::get().to(consent::get))
        .route("/consent", web::post().to(consent::post))
        .route("/logout", web::post().to(logout::post))
        .route("/account", web::get().to(account::get))
        .route("/account/disconnect", web::post().to(account::disconnect))
        .route("/account/profile", web::post().to(account::profile))
        .route("/account/email", web::post().to(account::change_email))
        .route("/account/password", web::post().to(account::password::post))
        .route("/account/delete", web::post().to(account::delete::post))
        .route("/", web::get().to(home::get))
        .route("/forgot-password", web::get().to(recovery::forgot_form))
        .route("/forgot-password", web::post().to(recovery::forgot))
        .route("/reset-password", web::get().to(recovery::reset_form))
        .route("/reset-password", web::post().to(recovery::reset))
        .route("/secure-account", web::get().to(recovery::secure_form))
        .route("/secure-account", web::post().to(recovery::secure))
        .route("/verify-email", web::get().to(verification::verify))
        .route(
            "/verify-email/pending",
            web::get().to(verification::pending),
        )
        .route("/verify-email/resend", web::post().to(verification::resend))
        .route(
            "/confirm-email",
            web::get().to(verification::confirm_change),
        )
        .route("/setup", web::get().to(setup::get))
        .route("/setup", web::post().to(setup::post))
        .route("/static/style.css", web::get().to(render::stylesheet))
        .route("/static/copy.js", web::get().to(render::copy_script))
        .service(portal_scope());
}

/// `/portal`: only a builder's (or an administrator's) request reaches these handlers; anyone
/// else is sent to sign in, or gets the 403 page (`extract::require_builder`).
fn portal_scope() -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    use portal::{clients, users};
    web::scope("/portal")
        .wrap(from_fn(require_builder))
        .route("", web::get().to(clients::list))
        .route("/clients/new", web::get().to(clients::new_form))
        .route("/clients", web::post().to(clients::create))
        .route("/clients/{id}", web::get().to(clients::show))
        .route(
            "/clients/{id}/redirects",
            web::post().to(clients::set_redirects),
        )
        .route(
            "/clients/{id}/rotate-secret",
            web::post().to(clients::rotate_secret),
        )
        .route("/clients/{id}/delete", web::post().to(clients::delete))
        .route("/users", web::get().to(users::list))
        .route("/users/role", web::post().to(users::set_role))
}
