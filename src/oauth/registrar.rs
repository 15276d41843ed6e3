use std::borrow::Cow;

use async_trait::async_trait;
use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, ExactUrl, PreGrant, RegisteredUrl, RegistrarError,
};
use oxide_auth::primitives::scope::Scope as OxideScope;
use oxide_auth_async::primitives::Registrar;

use super::error::OAuthError;
use super::flow::FlowContext;
use super::token::GrantType;
use crate::crypto;
use crate::domain::Scope;
use crate::store::{AuthMethod, ClientRecord, Db};

/// Clients from the database. Redirect URIs match exactly; secrets compare as SHA-256 digests
/// in constant time.
pub struct DbRegistrar {
    db: Db,
    ctx: FlowContext,
}

impl DbRegistrar {
    pub fn new(db: Db, ctx: FlowContext) -> Self {
        DbRegistrar { db, ctx }
    }

    /// The client of this flow: the one loaded already, or from the database.
    async fn client(&self, client_id: &str) -> Result<ClientRecord, RegistrarError> {
        if let Some(c) = self
            .ctx
            .lock()
            .client
            .as_ref()
            .filter(|c| c.client_id == client_id)
        {
            return Ok(c.clone());
        }
        let client = self.db.client(client_id).await.map_err(|e| {
            tracing::error!(error = %e, "client lookup failed");
            self.ctx.lock().fail(OAuthError::storage_unreachable());
            RegistrarError::PrimitiveError
        })?;
        let client = client.ok_or(RegistrarError::Unspecified)?;
        self.ctx.lock().client = Some(client.clone());
        Ok(client)
    }
}

#[async_trait]
impl Registrar for DbRegistrar {
    async fn bound_redirect<'a>(
        &self,
        bound: ClientUrl<'a>,
    ) -> Result<BoundClient<'a>, RegistrarError> {
        let client = self.client(&bound.client_id).await?;
        let chosen = match &bound.redirect_uri {
            Some(uri) if client.accepts_redirect(uri.as_str()) => uri.as_ref().clone(),
            Some(_) => return Err(RegistrarError::Unspecified),
            // Omitted: allowed only when exactly one is registered (RFC 6749 §3.1.2.3).
            None => match client.redirect_uris.as_slice() {
                [only] => ExactUrl::new(only.clone()).map_err(|_| RegistrarError::Unspecified)?,
                _ => return Err(RegistrarError::Unspecified),
            },
        };
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(RegisteredUrl::Exact(chosen)),
        })
    }

    async fn negotiate<'a>(
        &self,
        bound: BoundClient<'a>,
        requested: Option<OxideScope>,
    ) -> Result<PreGrant, RegistrarError> {
        let client = self.client(&bound.client_id).await?;
        let allowed = Scope::parse(&client.scope).map_err(|_| RegistrarError::PrimitiveError)?;
        let granted = match requested {
            // No scope (or an empty one, dropped at the edge): the client's default scopes.
            None => allowed,
            Some(req) => {
                let req =
                    Scope::parse(&req.to_string()).map_err(|_| RegistrarError::Unspecified)?;
                if !allowed.contains_all(&req) {
                    return Err(RegistrarError::Unspecified);
                }
                req
            }
        };
        let scope = to_oxide(&granted).ok_or(RegistrarError::Unspecified)?;
        Ok(PreGrant {
            client_id: bound.client_id.into_owned(),
            redirect_uri: bound.redirect_uri.into_owned(),
            scope,
        })
    }

    async fn check(
        &self,
        client_id: &str,
        passphrase: Option<&[u8]>,
    ) -> Result<(), RegistrarError> {
        // Without a Basic header, oxide-auth authenticates a refresh as the grant's own client:
        // hold it to the client the request named (RFC 6749 §6).
        let pre_authenticated = {
            let mut flow = self.ctx.lock();
            if flow.named_client.as_deref().is_some_and(|n| n != client_id) {
                // Only refreshes name a client this way.
                flow.fail(GrantType::RefreshToken.refused());
                return Err(RegistrarError::Unspecified);
            }
            flow.authenticated_client.as_deref() == Some(client_id)
        };
        let client = match self.db.client_credentials(client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(RegistrarError::Unspecified),
            Err(e) => {
                tracing::error!(error = %e, "client lookup failed");
                self.ctx.lock().fail(OAuthError::storage_unreachable());
                return Err(RegistrarError::PrimitiveError);
            }
        };
        if !pre_authenticated && !secret_matches(&client, passphrase) {
            return Err(RegistrarError::Unspecified);
        }
        self.ctx.lock().client = Some(client);
        Ok(())
    }
}

/// Whether `given` authenticates the client: its secret's digest for a confidential client
/// (compared in constant time), or, for a while after a rotation, the previous secret's;
/// nothing at all for a public one. An empty secret is none. A private_key_jwt client has no
/// secret, and "none" is not its method: it never matches (its assertion is checked at the edge).
pub fn secret_matches(client: &ClientRecord, given: Option<&[u8]>) -> bool {
    if client.auth_method() == AuthMethod::PrivateKeyJwt {
        return false;
    }
    match (&client.secret_hash, given.filter(|g| !g.is_empty())) {
        (Some(stored), Some(given)) => {
            let digest = crypto::digest(&String::from_utf8_lossy(given));
            let current = crypto::constant_time_eq(digest.as_bytes(), stored.as_bytes());
            let previous = match (
                &client.previous_secret_hash,
                client.previous_secret_expires_at,
            ) {
                (Some(old), Some(until)) if until > crate::store::now() => {
                    crypto::constant_time_eq(digest.as_bytes(), old.as_bytes())
                }
                _ => false,
            };
            current | previous
        }
        (None, None) => true,
        _ => false,
    }
}

/// oxide-auth's scope type cannot hold the empty set; a client with no scopes gets none.
pub(crate) fn to_oxide(scope: &Scope) -> Option<OxideScope> {
    scope.to_string().parse().ok()
}
