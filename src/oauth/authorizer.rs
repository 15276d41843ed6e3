use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxide_auth::primitives::grant::{Extensions, Grant, Value};
use oxide_auth_async::primitives::Authorizer;
use uuid::Uuid;

use super::error::OAuthError;
use super::flow::FlowContext;
use super::token::GrantType;
use crate::audit::Audit;
use crate::crypto;
use crate::store::{AuditEvent, CodeRecord, Db};

/// The grant extension oxide-auth's PKCE add-on stores its challenge under.
const PKCE: &str = "pkce";

/// Authorization codes: 256-bit random, stored as SHA-256, single use, `GPTAUTH_CODE_TTL`
/// seconds (oxide-auth's own grants last a fixed 10 minutes; ours replace that).
pub struct DbAuthorizer {
    db: Db,
    code_ttl: i64,
    /// How long the access tokens of a replayed code's grant may live (see `extract`).
    access_ttl: i64,
    audit: Audit,
    ctx: FlowContext,
}

impl DbAuthorizer {
    pub fn new(db: Db, code_ttl: i64, access_ttl: i64, audit: Audit, ctx: FlowContext) -> Self {
        DbAuthorizer {
            db,
            code_ttl,
            access_ttl,
            audit,
            ctx,
        }
    }
}

impl DbAuthorizer {
    /// Logs and marks the flow, so the token endpoint answers 503, not a server error.
    fn storage_failed(&self, what: &str, e: impl std::fmt::Display) {
        tracing::error!(error = %e, "{what} failed");
        self.ctx.lock().fail(OAuthError::storage_unreachable());
    }
}

#[async_trait]
impl Authorizer for DbAuthorizer {
    async fn authorize(&mut self, grant: Grant) -> Result<String, ()> {
        let user_id = Uuid::parse_str(&grant.owner_id).map_err(|_| ())?;
        let pkce = grant
            .extensions
            .private()
            .find(|(k, _)| *k == PKCE)
            .and_then(|(_, v)| v.map(str::to_string));
        let code = crypto::random_token();
        let now = self.db.now();
        let (resource, nonce, auth_time, email) = {
            let ctx = self.ctx.lock();
            // The address travels only where the grant lets it.
            let email = ctx
                .email
                .clone()
                .filter(|_| grant.scope.iter().any(|s| s == "email"));
            (
                ctx.resource.clone(),
                ctx.nonce.clone(),
                ctx.auth_time,
                email,
            )
        };
        let record = CodeRecord {
            code_hash: crypto::digest(&code),
            client_id: grant.client_id.clone(),
            user_id,
            redirect_uri: grant.redirect_uri.to_string(),
            scope: grant.scope.to_string(),
            pkce,
            resource: crate::domain::ResourceIndicator::join(&resource),
            nonce,
            auth_time,
            email_verified: email.as_ref().is_some_and(|(_, v)| *v),
            email: email.map(|(e, _)| e),
            created_at: now,
            expires_at: now + self.code_ttl,
        };
        self.db
            .insert_code(&record)
            .await
            .map_err(|e| self.storage_failed("storing an authorization code", e))?;
        self.audit.record(AuditEvent {
            user_id: Some(user_id),
            client_id: Some(record.client_id),
            ..AuditEvent::new(crate::domain::AuditKind::CodeIssued)
        });
        Ok(code)
    }

    async fn extract(&mut self, code: &str) -> Result<Option<Grant>, ()> {
        let code_hash = crypto::digest(code);
        let record = self
            .db
            .take_code(&code_hash)
            .await
            .map_err(|e| self.storage_failed("redeeming an authorization code", e))?;
        let Some(record) = record else {
            // RFC 6749 §4.1.2: a code used twice SHOULD revoke what was issued for it: one of
            // the two presenters is not the client.
            let revoked = self
                .db
                .revoke_replayed_code(&code_hash, self.access_ttl)
                .await
                .map_err(|e| self.storage_failed("revoking a replayed code's tokens", e))?;
            if let Some((user_id, client_id)) = revoked {
                tracing::warn!(target: "security", client_id = %client_id, "authorization code replayed");
                self.audit.record(AuditEvent {
                    user_id: Some(user_id),
                    client_id: Some(client_id),
                    detail: Some("its tokens are revoked".into()),
                    ..AuditEvent::new(crate::domain::AuditKind::CodeReplayed)
                });
            }
            return Ok(None);
        };
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge means the challenge
        // was stripped from the authorization request on its way: refuse (the code is spent).
        if record.pkce.is_none() && self.ctx.lock().code_verifier_sent {
            self.ctx.lock().fail(GrantType::AuthorizationCode.refused());
            return Ok(None);
        }
        {
            let mut ctx = self.ctx.lock();
            ctx.code_hash = Some(code_hash);
            ctx.resource = crate::domain::ResourceIndicator::split(record.resource.as_deref());
            ctx.nonce = record.nonce.clone();
            ctx.auth_time = record.auth_time;
            ctx.email = record.email.clone().map(|e| (e, record.email_verified));
        }
        let mut extensions = Extensions::new();
        if let Some(challenge) = record.pkce {
            extensions.set_raw(PKCE.to_string(), Value::private(Some(challenge)));
        }
        Ok(Some(Grant {
            owner_id: record.user_id.to_string(),
            client_id: record.client_id,
            scope: record.scope.parse().map_err(|_| ())?,
            redirect_uri: record.redirect_uri.parse().map_err(|_| ())?,
            until: DateTime::<Utc>::from_timestamp(record.expires_at, 0).ok_or(())?,
            extensions,
        }))
    }
}
