use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use oxide_auth::endpoint::{OwnerConsent, Solicitation};
use oxide_auth_async::endpoint::OwnerSolicitor;

use super::error::ErrorCode;
use super::request::{ProtocolRequest, ProtocolResponse};
use crate::audit::Audit;
use crate::domain::Scope;
use crate::store::{AuditEvent, Db, UserRecord};

/// What the consent page shows: filled in by the flow after it validated the request.
#[derive(Debug, Clone, Default)]
pub struct ConsentView {
    pub scope: String,
    pub redirect_uri: String,
}

/// How the sign-in may proceed for one authorization request (OpenID Connect `prompt`,
/// `max_age`, `id_token_hint`), decided by the handler from the request and the session.
#[derive(Debug, Clone, Default)]
pub struct SignInPlan {
    /// The query to come back to after signing in (without `prompt=login`).
    pub login_query: String,
    /// The browser has a session, but the request wants a newer or another sign-in.
    pub fresh_login: bool,
    /// `prompt=none`: no page may be shown; what would need one is an error to the client.
    pub no_prompt: bool,
    /// `prompt=consent`: ask even when consent was given before.
    pub force_consent: bool,
    /// The client's `state`, for the errors `prompt=none` sends back.
    pub client_state: Option<String>,
}

impl SignInPlan {
    /// An OpenID Connect error (`login_required`, `consent_required`) sent to the client's
    /// verified redirect URI; the edge adds `iss`.
    fn error_to_client(&self, redirect_uri: &url::Url, error: ErrorCode) -> ProtocolResponse {
        let mut url = redirect_uri.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("error", error.as_str());
            if let Some(state) = &self.client_state {
                q.append_pair("state", state);
            }
        }
        ProtocolResponse::see_other(url.to_string())
    }

    fn to_login(&self) -> ProtocolResponse {
        let next = format!("/oauth/authorize?{}", self.login_query);
        let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let fresh = if self.fresh_login { "&fresh=1" } else { "" };
        ProtocolResponse::see_other(format!("/login?next={next}{fresh}"))
    }
}

/// Decides the resource owner's part of an authorization request. The HTTP handlers know the
/// session and the form; oxide-auth calls this once the request itself has been validated.
pub enum Solicitor {
    /// `GET /oauth/authorize`: sign in first, ask for consent unless it was given before.
    Authorize {
        /// The signed-in user, when their sign-in is good enough for this request.
        user: Option<UserRecord>,
        db: Db,
        /// The authorization request's query, for the consent page.
        query: String,
        plan: SignInPlan,
    },
    /// `GET /consent`: the handler renders the page from `view`.
    ShowConsent {
        view: Arc<Mutex<Option<ConsentView>>>,
    },
    /// `POST /consent`: the user chose.
    Decide {
        user: UserRecord,
        allow: bool,
        db: Db,
        audit: Audit,
    },
}

#[async_trait]
impl OwnerSolicitor<ProtocolRequest> for Solicitor {
    async fn check_consent(
        &mut self,
        _req: &mut ProtocolRequest,
        solicitation: Solicitation<'_>,
    ) -> OwnerConsent<ProtocolResponse> {
        let pre_grant = solicitation.pre_grant();
        let requested = Scope::parse(&pre_grant.scope.to_string()).unwrap_or_default();
        match self {
            Solicitor::Authorize {
                user: None, plan, ..
            } => OwnerConsent::InProgress(if plan.no_prompt {
                plan.error_to_client(&pre_grant.redirect_uri.to_url(), ErrorCode::LoginRequired)
            } else {
                plan.to_login()
            }),
            Solicitor::Authorize {
                user: Some(user),
                db,
                query,
                plan,
            } => {
                match db.consent(user.id, &pre_grant.client_id).await {
                    Ok(Some(given))
                        if !plan.force_consent
                            && Scope::parse(&given).is_ok_and(|g| g.contains_all(&requested)) =>
                    {
                        OwnerConsent::Authorized(user.id.to_string())
                    }
                    Ok(_) if plan.no_prompt => OwnerConsent::InProgress(plan.error_to_client(
                        &pre_grant.redirect_uri.to_url(),
                        ErrorCode::ConsentRequired,
                    )),
                    Ok(_) => OwnerConsent::InProgress(ProtocolResponse::see_other(format!(
                        "/consent?{query}"
                    ))),
                    Err(e) => {
                        tracing::error!(error = %e, "reading consent failed");
                        OwnerConsent::Error(super::request::PlumbingError::Storage)
                    }
                }
            }
            Solicitor::ShowConsent { view } => {
                *view.lock().unwrap_or_else(|e| e.into_inner()) = Some(ConsentView {
                    scope: requested.to_string(),
                    redirect_uri: pre_grant.redirect_uri.to_string(),
                });
                OwnerConsent::InProgress(ProtocolResponse::ok())
            }
            Solicitor::Decide {
                allow: false,
                user,
                audit,
                ..
            } => {
                audit.record(AuditEvent {
                    user_id: Some(user.id),
                    client_id: Some(pre_grant.client_id.clone()),
                    ..AuditEvent::new(crate::domain::AuditKind::ConsentDenied)
                });
                OwnerConsent::Denied
            }
            Solicitor::Decide {
                user,
                allow: true,
                db,
                audit,
            } => {
                // Remember the union of what was granted before and now.
                let previous = db
                    .consent(user.id, &pre_grant.client_id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|s| Scope::parse(&s).ok())
                    .unwrap_or_default();
                let merged = Scope::parse(&format!("{previous} {requested}"))
                    .unwrap_or_else(|_| requested.clone());
                match db
                    .save_consent(user.id, &pre_grant.client_id, &merged.to_string())
                    .await
                {
                    Ok(()) => {
                        audit.record(AuditEvent {
                            user_id: Some(user.id),
                            client_id: Some(pre_grant.client_id.clone()),
                            detail: Some(requested.to_string()),
                            ..AuditEvent::new(crate::domain::AuditKind::ConsentGranted)
                        });
                        OwnerConsent::Authorized(user.id.to_string())
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "saving consent failed");
                        OwnerConsent::Error(super::request::PlumbingError::Storage)
                    }
                }
            }
        }
    }
}
