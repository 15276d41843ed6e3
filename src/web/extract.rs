//! What handlers read from a request beyond its body: the client's address, the signed-in
//! person (`SignedIn`, `MaybeSignedIn`), the portal's builder and administrator (`Builder`,
//! `Admin`), and forms whose CSRF token was checked (`CsrfForm`, `SignedInForm`). Each is an
//! actix `FromRequest`: a handler names what it needs, and a request without it gets the page
//! it got before the extractors (a redirect to sign in, a 403 page, "Form expired").

use std::future::{Future, Ready, ready};
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use super::csrf;
use super::errors::unavailable;
use super::respond::{error_page, form_expired, see_other};
use super::session;
use super::state::AppState;
use crate::store::UserRecord;

type Extracting<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

/// Turns the response a page gives instead into the extractor's rejection: actix sends it
/// as it is.
fn reject(response: HttpResponse) -> actix_web::Error {
    InternalError::from_response("request refused", response).into()
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, actix_web::Error> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("no application state"))
}

/// Whether the request's body is declared as `media_type` (parameters such as `charset` aside).
pub fn has_media_type(req: &actix_web::HttpRequest, media_type: &str) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(media_type))
}

/// The address the request came from (see `GPTAUTH_TRUST_PROXY`).
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<String> {
    let peer = req.peer_addr().map(|a| a.ip());
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    forwarded_client(peer, forwarded, state.config.trust_proxy_hops).map(|ip| ip.to_string())
}

/// The address the request came from, as an extractor (see `client_ip`); none when the peer
/// is unknown.
pub struct ClientIp(pub Option<String>);

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(app_state(req).map(|state| ClientIp(client_ip(req, &state))))
    }
}

/// The session's user, looked up once per request (the portal's guard, then its handler's
/// extractor, read the same lookup).
#[derive(Clone)]
struct SessionUser(Option<UserRecord>);

async fn session_user(req: &HttpRequest) -> Result<Option<UserRecord>, actix_web::Error> {
    if let Some(SessionUser(user)) = req.extensions().get::<SessionUser>() {
        return Ok(user.clone());
    }
    let state = app_state(req)?;
    let user = session::current_user(req, &state.db, state.config.issuer.is_https())
        .await
        .map_err(|e| reject(unavailable(e)))?;
    req.extensions_mut().insert(SessionUser(user.clone()));
    Ok(user)
}

/// Where a request without a live session is sent to sign in: each page says (see
/// `SignedIn`).
pub trait SignInFirst: 'static {
    const LOGIN: &'static str;
}

/// Sign in, then go home.
pub struct ToLogin;
impl SignInFirst for ToLogin {
    const LOGIN: &'static str = "/login";
}

/// Sign in, then back to `/account`.
pub struct ToAccount;
impl SignInFirst for ToAccount {
    const LOGIN: &'static str = "/login?next=%2Faccount";
}

/// Sign in, then back to `/portal`.
pub struct ToPortal;
impl SignInFirst for ToPortal {
    const LOGIN: &'static str = "/login?next=%2Fportal";
}

/// A user with a live session. Without one, the browser is sent to sign in (`P` says where
/// it comes back to); a storage failure gets the "temporarily unavailable" page.
pub struct SignedIn<P: SignInFirst = ToLogin>(pub UserRecord, pub PhantomData<P>);

impl<P: SignInFirst> SignedIn<P> {
    pub fn into_user(self) -> UserRecord {
        self.0
    }

    async fn extract(req: HttpRequest) -> Result<Self, actix_web::Error> {
        match session_user(&req).await? {
            Some(user) => Ok(SignedIn(user, PhantomData)),
            None => Err(reject(see_other(P::LOGIN))),
        }
    }
}

impl<P: SignInFirst> Deref for SignedIn<P> {
    type Target = UserRecord;

    fn deref(&self) -> &UserRecord {
        &self.0
    }
}

impl<P: SignInFirst> FromRequest for SignedIn<P> {
    type Error = actix_web::Error;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(Self::extract(req.clone()))
    }
}

/// The signed-in user, if any (pages that show either way). A storage failure still gets the
/// "temporarily unavailable" page, not a signed-out one.
pub struct MaybeSignedIn(pub Option<UserRecord>);

impl FromRequest for MaybeSignedIn {
    type Error = actix_web::Error;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { session_user(&req).await.map(MaybeSignedIn) })
    }
}

/// The portal's visitor: a signed-in builder (or administrator). Nobody signed in is sent to
/// sign in; an end user gets a 403 page. `/portal` is a scope guarded by `require_builder`,
/// so a handler's `Builder` reads the guard's lookup.
pub struct Builder(pub UserRecord);

impl Builder {
    async fn extract(req: HttpRequest) -> Result<Self, actix_web::Error> {
        let SignedIn(user, _) = SignedIn::<ToPortal>::extract(req).await?;
        if user.may_build() {
            Ok(Builder(user))
        } else {
            Err(reject(error_page(
                StatusCode::FORBIDDEN,
                "For GPT builders",
                "The portal is where GPT builders manage their clients. Your account is not a builder's; an administrator can make it one.".into(),
            )))
        }
    }
}

impl Deref for Builder {
    type Target = UserRecord;

    fn deref(&self) -> &UserRecord {
        &self.0
    }
}

impl FromRequest for Builder {
    type Error = actix_web::Error;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(Self::extract(req.clone()))
    }
}

/// An administrator in the portal: a builder who is also an administrator, or a 403 page.
pub struct Admin(pub UserRecord);

impl Deref for Admin {
    type Target = UserRecord;

    fn deref(&self) -> &UserRecord {
        &self.0
    }
}

impl FromRequest for Admin {
    type Error = actix_web::Error;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Builder(user) = Builder::extract(req).await?;
            if user.is_admin {
                Ok(Admin(user))
            } else {
                Err(reject(error_page(
                    StatusCode::FORBIDDEN,
                    "For administrators",
                    "Only an administrator can manage who builds clients.".into(),
                )))
            }
        })
    }
}

/// The guard of the `/portal` scope: only a builder's request reaches its handlers; anyone
/// else gets `Builder`'s refusal (the login page, or the 403 page).
pub async fn require_builder<B: actix_web::body::MessageBody + 'static>(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::EitherBody<B>>, actix_web::Error> {
    match Builder::extract(req.request().clone()).await {
        Ok(_) => Ok(next.call(req).await?.map_into_left_body()),
        Err(refusal) => Ok(req
            .into_response(refusal.error_response())
            .map_into_right_body()),
    }
}

/// Which token a form carries (see `csrf`).
pub enum CsrfBinding {
    /// A signed-in person's form: the token is bound to the session.
    Session,
    /// A form that comes before a session (sign-in, sign-up, recovery, setup).
    BeforeSignIn,
}

/// A form with a CSRF token. Its fields should default (`#[serde(default)]`) where a form
/// without its token should get the "Form expired" answer rather than "Invalid form".
pub trait CsrfProtected: DeserializeOwned + 'static {
    const BINDING: CsrfBinding = CsrfBinding::Session;

    fn csrf_token(&self) -> &str;

    /// The answer to a stale or forged token: the "Form expired" page, unless the form shows
    /// itself again with the typed values and a note (the sign-in forms do).
    fn expired(self, req: &HttpRequest, state: &AppState) -> impl Future<Output = HttpResponse> {
        let _ = (req, state);
        std::future::ready(form_expired())
    }
}

/// A form whose CSRF token matched (`T::BINDING` says which kind); otherwise `T::expired`
/// answers. An unreadable form gets the "Invalid form" page (`FormConfig`).
pub struct CsrfForm<T>(pub T);

impl<T: CsrfProtected> CsrfForm<T> {
    fn checked(
        req: &HttpRequest,
        payload: &mut Payload,
    ) -> impl Future<Output = Result<T, actix_web::Error>> + 'static {
        let req = req.clone();
        let form = web::Form::<T>::from_request(&req, payload);
        async move {
            let web::Form(form) = form.await?;
            let state = app_state(&req)?;
            let secure = state.config.issuer.is_https();
            let matched = match T::BINDING {
                CsrfBinding::Session => csrf::verify(&req, secure, form.csrf_token()),
                CsrfBinding::BeforeSignIn => {
                    csrf::verify_before_sign_in(&req, secure, form.csrf_token())
                }
            };
            if matched {
                Ok(form)
            } else {
                Err(reject(form.expired(&req, &state).await))
            }
        }
    }
}

impl<T> Deref for CsrfForm<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: CsrfProtected> FromRequest for CsrfForm<T> {
    type Error = actix_web::Error;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = Self::checked(req, payload);
        Box::pin(async move { form.await.map(CsrfForm) })
    }
}

/// A signed-in person's form: its CSRF token first (a forged form learns nothing, not even
/// whether a session exists), then the session (see `SignedIn`). One extractor, so that the
/// order holds (actix extracts a handler's arguments concurrently).
pub struct SignedInForm<T, P: SignInFirst = ToLogin> {
    pub user: UserRecord,
    pub form: T,
    page: PhantomData<P>,
}

impl<T: CsrfProtected, P: SignInFirst> FromRequest for SignedInForm<T, P> {
    type Error = actix_web::Error;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let form = CsrfForm::<T>::checked(&req, payload);
        Box::pin(async move {
            let form = form.await?;
            let SignedIn(user, _) = SignedIn::<P>::extract(req).await?;
            Ok(SignedInForm {
                user,
                form,
                page: PhantomData,
            })
        })
    }
}
/// The client address behind `hops` trusted proxies: each appends the address it received the
/// request from to `X-Forwarded-For`, so the trustworthy entry is the `hops`-th from the right;
/// whatever stands left of it was written by the client and is ignored (as nginx's `real_ip`
/// with a trusted hop count). `Forwarded` is not read: a proxy that sets only `X-Forwarded-For`
/// would pass a client's own `Forwarded` through. A list shorter than `hops` (a request that
/// did not pass every proxy) or an entry that is not an address falls back to the peer.
fn forwarded_client<'a>(
    peer: Option<std::net::IpAddr>,
    headers: impl Iterator<Item = &'a str>,
    hops: usize,
) -> Option<std::net::IpAddr> {
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = headers.flat_map(|h| h.split(',')).map(str::trim).collect();
    match entries.len().checked_sub(hops).and_then(|i| entries.get(i)) {
        Some(entry) => entry.parse().ok().or(peer),
        None => peer,
    }
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;
    use std::net::IpAddr;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn the_client_address_is_the_one_the_trusted_proxy_added() {
        let peer = ip("10.0.0.2");
        let one = |headers: &[&str]| forwarded_client(peer, headers.iter().copied(), 1);
        assert_eq!(one(&["203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(
            one(&["fake, 203.0.113.9"]),
            ip("203.0.113.9"),
            "the client's own entry is ignored"
        );
        assert_eq!(
            one(&["1.1.1.1", "203.0.113.9"]),
            ip("203.0.113.9"),
            "repeated headers join in order"
        );
        assert_eq!(one(&[]), peer, "not through the proxy");
        assert_eq!(one(&["fake, not-an-address"]), peer);
        let two = forwarded_client(peer, ["fake, 203.0.113.9, 10.0.0.1"].into_iter(), 2);
        assert_eq!(two, ip("203.0.113.9"));
        assert_eq!(
            forwarded_client(peer, ["203.0.113.9"].into_iter(), 0),
            peer,
            "not trusted"
        );
    }
}
