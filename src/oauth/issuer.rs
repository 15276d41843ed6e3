use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxide_auth::primitives::grant::{Extensions, Grant};
use oxide_auth::primitives::issuer::{IssuedToken, RefreshedToken, TokenType};
use oxide_auth_async::primitives::Issuer;
use uuid::Uuid;

use super::Core;
use super::error::OAuthError;
use super::flow::FlowContext;
use super::token::GrantType;
use crate::audit::Audit;
use crate::config::Issuer as IssuerUrl;
use crate::crypto;
use crate::domain::{ResourceIndicator, Scope};
use crate::store::{AuditEvent, Db, NewRefreshFamily, Rotation, SpentCode};
use crate::tokens::{
    AccessClaims, Audience, IdClaims, Keys, at_hash, sign_access_token, sign_id_token,
    verify_access_token,
};

/// JWT access tokens (RFC 9068) and opaque refresh tokens rotated within a family.
pub struct JwtIssuer {
    db: Db,
    keys: Keys,
    issuer: IssuerUrl,
    access_ttl: i64,
    refresh_ttl: i64,
    grace: i64,
    ctx: FlowContext,
    audit: Audit,
}

impl JwtIssuer {
    pub fn new(core: Core<'_>, ctx: FlowContext) -> Self {
        JwtIssuer {
            db: core.db.clone(),
            keys: core.keys.clone(),
            issuer: core.config.issuer.clone(),
            access_ttl: core.config.access_token_ttl,
            refresh_ttl: core.config.refresh_token_ttl,
            grace: core.config.refresh_grace_seconds,
            ctx,
            audit: core.audit.clone(),
        }
    }

    /// `resources`: what this token is for (RFC 8707); without any, the client's default
    /// audience (`ClientRecord::default_audience`). Returns the token, its expiry and its `jti`.
    fn access_token(
        &self,
        grant: &Grant,
        resources: Vec<String>,
    ) -> Result<(String, DateTime<Utc>, String), ()> {
        let now = self.db.now();
        let email = if grant.scope.iter().any(|s| s == "email") {
            self.ctx.lock().email.clone()
        } else {
            None
        };
        let audience = Audience::of(resources).unwrap_or_else(|| {
            let ctx = self.ctx.lock();
            Audience::One(
                ctx.client
                    .as_ref()
                    .filter(|c| c.client_id == grant.client_id)
                    .map(|c| c.default_audience(self.issuer.as_str()))
                    // Client authentication always loads the client; should it not have, the
                    // narrowest audience rather than the issuer.
                    .unwrap_or_else(|| grant.client_id.clone()),
            )
        });
        let claims = AccessClaims {
            iss: self.issuer.to_string(),
            sub: grant.owner_id.clone(),
            aud: audience,
            exp: now + self.access_ttl,
            iat: now,
            jti: Uuid::now_v7().to_string(),
            client_id: grant.client_id.clone(),
            // oxide-auth keeps scopes in a hash set: print them in a stable order.
            scope: Scope::parse(&grant.scope.to_string())
                .map(|s| s.to_string())
                .unwrap_or_else(|_| grant.scope.to_string()),
            email: email.as_ref().map(|(e, _)| e.clone()),
            email_verified: email.as_ref().map(|(_, v)| *v),
        };
        let token = sign_access_token(&self.keys.current(), &claims)
            .map_err(|e| tracing::error!(error = %e, "signing an access token failed"))?;
        let until = DateTime::<Utc>::from_timestamp(claims.exp, 0).ok_or(())?;
        Ok((token, until, claims.jti))
    }

    /// With the `openid` scope, an ID token for the client (Core 1.0 §3.1.3.3), kept in the
    /// flow context for the token response. Refreshes carry no `nonce` (Core §12.2).
    fn id_token(&self, grant: &Grant, access_token: &str, with_nonce: bool) -> Result<(), ()> {
        if !grant.scope.iter().any(|s| s == "openid") {
            return Ok(());
        }
        let mut ctx = self.ctx.lock();
        let alg = ctx
            .client
            .as_ref()
            .filter(|c| c.client_id == grant.client_id)
            .map_or(jsonwebtoken::Algorithm::RS256, |c| c.id_token_alg);
        let now = self.db.now();
        let claims = IdClaims {
            iss: self.issuer.to_string(),
            sub: grant.owner_id.clone(),
            aud: grant.client_id.clone(),
            exp: now + self.access_ttl,
            iat: now,
            auth_time: ctx.auth_time,
            nonce: if with_nonce { ctx.nonce.clone() } else { None },
            at_hash: Some(at_hash(access_token)),
        };
        let token = sign_id_token(&self.keys.current(), alg, &claims)
            .map_err(|e| tracing::error!(error = %e, "signing an ID token failed"))?;
        ctx.id_token = Some(token);
        Ok(())
    }

    fn event(&self, kind: crate::domain::AuditKind, grant: &Grant, detail: Option<String>) {
        self.audit.record(AuditEvent {
            user_id: Uuid::parse_str(&grant.owner_id).ok(),
            client_id: Some(grant.client_id.clone()),
            detail,
            ..AuditEvent::new(kind)
        });
    }

    /// The resources this token is for: the ones the token request named, each of which must be
    /// the grant's (a token can be narrowed, never widened: RFC 8707 §2.2), or else all of the
    /// grant's.
    fn token_resources(&self) -> Result<Vec<String>, ()> {
        let mut ctx = self.ctx.lock();
        if ctx.requested_resource.is_empty() {
            return Ok(ctx.resource.clone());
        }
        if ctx
            .requested_resource
            .iter()
            .all(|r| ctx.resource.contains(r))
        {
            return Ok(ctx.requested_resource.clone());
        }
        ctx.fail(super::token::target_refused());
        Err(())
    }

    fn storage_failed(&self, what: &str, e: impl std::fmt::Display) {
        tracing::error!(error = %e, "{what} failed");
        self.ctx.lock().fail(OAuthError::storage_unreachable());
    }
}

#[async_trait]
impl Issuer for JwtIssuer {
    async fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        let user_id = Uuid::parse_str(&grant.owner_id).map_err(|_| ())?;
        let resources = self.token_resources()?;
        let (token, until, jti) = self.access_token(&grant, resources)?;
        self.id_token(&grant, &token, true)?;
        // The family keeps everything granted, so that a refresh may name any of it.
        let (auth_time, granted, code_hash) = {
            let ctx = self.ctx.lock();
            (
                ctx.auth_time,
                ResourceIndicator::join(&ctx.resource),
                ctx.code_hash.clone(),
            )
        };
        let refresh = crypto::random_token();
        let family_id = Uuid::now_v7();
        self.db
            .create_refresh_family(&NewRefreshFamily {
                id: family_id,
                client_id: &grant.client_id,
                user_id,
                scope: &grant.scope.to_string(),
                resource: granted.as_deref(),
                auth_time,
                token_hash: &crypto::digest(&refresh),
                expires_at: self.db.now() + self.refresh_ttl,
            })
            .await
            .map_err(|e| self.storage_failed("storing a refresh token", e))?;
        if let Some(code_hash) = code_hash {
            self.db
                .insert_spent_code(&SpentCode {
                    code_hash: &code_hash,
                    family_id,
                    client_id: &grant.client_id,
                    access_jti: &jti,
                    access_expires_at: until.timestamp(),
                })
                .await
                .map_err(|e| self.storage_failed("recording a redeemed code", e))?;
        }
        self.event(crate::domain::AuditKind::TokenIssued, &grant, None);
        Ok(IssuedToken {
            token,
            refresh: Some(refresh),
            until,
            token_type: TokenType::Bearer,
        })
    }

    async fn refresh(&mut self, old: &str, grant: Grant) -> Result<RefreshedToken, ()> {
        let resources = self.token_resources()?;
        let successor = crypto::random_token();
        let outcome = self
            .db
            .rotate_refresh(
                &crypto::digest(old),
                &crypto::digest(&successor),
                self.grace,
                // Sliding lifetime: each rotation starts a new period.
                self.db.now() + self.refresh_ttl,
            )
            .await
            .map_err(|e| self.storage_failed("rotating a refresh token", e))?;
        match outcome {
            Rotation::Rotated => self.event(crate::domain::AuditKind::TokenRefreshed, &grant, None),
            Rotation::WithinGrace => self.event(
                crate::domain::AuditKind::TokenRefreshed,
                &grant,
                Some("within the grace window".into()),
            ),
            Rotation::Reused => {
                self.event(
                    crate::domain::AuditKind::RefreshReuseDetected,
                    &grant,
                    Some("family revoked".into()),
                );
                self.ctx.lock().fail(GrantType::RefreshToken.refused());
                return Err(());
            }
            Rotation::Invalid => {
                self.ctx.lock().fail(GrantType::RefreshToken.refused());
                return Err(());
            }
        }
        let (token, until, _) = self.access_token(&grant, resources)?;
        self.id_token(&grant, &token, false)?;
        Ok(RefreshedToken {
            token,
            refresh: Some(successor),
            until,
            token_type: TokenType::Bearer,
        })
    }

    async fn recover_token(&mut self, token: &str) -> Result<Option<Grant>, ()> {
        let Ok(c) = verify_access_token(&self.keys.current(), self.issuer.as_str(), token) else {
            return Ok(None);
        };
        Ok(Some(Grant {
            owner_id: c.sub,
            client_id: c.client_id,
            scope: c.scope.parse().map_err(|_| ())?,
            redirect_uri: self.issuer.as_str().parse().map_err(|_| ())?,
            until: DateTime::<Utc>::from_timestamp(c.exp, 0).ok_or(())?,
            extensions: Extensions::new(),
        }))
    }

    async fn recover_refresh(&mut self, token: &str) -> Result<Option<Grant>, ()> {
        let found = self
            .db
            .find_refresh(&crypto::digest(token))
            .await
            .map_err(|e| self.storage_failed("reading a refresh token", e))?;
        let Some(found) = found else {
            return Ok(None);
        };
        let now = self.db.now();
        if found.family_revoked_at.is_some() || found.expires_at <= now {
            return Ok(None);
        }
        {
            let mut ctx = self.ctx.lock();
            ctx.resource = ResourceIndicator::split(found.resource.as_deref());
            ctx.auth_time = found.auth_time;
            ctx.email = Some((found.email.clone(), found.email_verified_at.is_some()));
        }
        if found
            .rotated_at
            .is_some_and(|rotated| now - rotated > self.grace)
        {
            // Reuse of a rotated token: someone holds a copy (RFC 9700 §4.14.2).
            self.audit.record(AuditEvent {
                user_id: Some(found.user_id),
                client_id: Some(found.client_id.clone()),
                detail: Some(format!("family {} revoked", found.family_id)),
                ..AuditEvent::new(crate::domain::AuditKind::RefreshReuseDetected)
            });
            self.db
                .revoke_refresh_family(found.family_id, "refresh token reused")
                .await
                .map_err(|e| self.storage_failed("revoking a refresh family", e))?;
            return Ok(None);
        }
        Ok(Some(Grant {
            owner_id: found.user_id.to_string(),
            client_id: found.client_id,
            scope: found.scope.parse().map_err(|_| ())?,
            redirect_uri: self.issuer.as_str().parse().map_err(|_| ())?,
            until: DateTime::<Utc>::from_timestamp(found.expires_at, 0).ok_or(())?,
            extensions: Extensions::new(),
        }))
    }
}
