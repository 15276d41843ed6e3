//! What one flow (an authorization or a token request) carries between oxide-auth's primitives.

use std::sync::{Arc, Mutex, MutexGuard};

use super::error::OAuthError;
use crate::store::ClientRecord;

/// What one flow learns along the way and the edge needs afterwards.
#[derive(Default)]
pub struct FlowState {
    /// The client, once loaded (so later steps need no second query).
    pub client: Option<ClientRecord>,
    /// Why the flow failed, told by the primitive that knew (see [`FlowState::fail`]): a grant
    /// refused (`invalid_grant`, not a server error), a resource not the grant's
    /// (`invalid_target`), storage unreachable (`temporarily_unavailable`). The edge answers it
    /// as it is; oxide-auth's own error then carries nothing more.
    failure: Option<OAuthError>,
    /// The resources (RFC 8707) of the grant: from the authorization request, then from the
    /// code or refresh family. They become the access token's `aud`.
    pub resource: Vec<String>,
    /// The `resource`s a token request named: some of the grant's, to narrow the token to.
    pub requested_resource: Vec<String>,
    /// OpenID Connect: the authorization request's `nonce`, then the code's.
    pub nonce: Option<String>,
    /// When the user last signed in with a password: from the session, then the code or the
    /// refresh family.
    pub auth_time: Option<i64>,
    /// The signed-in user's address and whether it is proven: from the session, then the code
    /// or the refresh family. Access tokens with the `email` scope carry it.
    pub email: Option<(String, bool)>,
    /// The ID token the issuer made, for the token response.
    pub id_token: Option<String>,
    /// A public client a token request names in its body rather than a Basic header (a client
    /// ID metadata document URL cannot go in one): a refresh must be this client's.
    pub named_client: Option<String>,
    /// The token request carried a `code_verifier`: a code issued without a challenge is then
    /// refused (RFC 9700 §2.1.1, against PKCE downgrade).
    pub code_verifier_sent: bool,
    /// The digest of the code being redeemed, once taken: what is issued for it is recorded
    /// under it, for a replay to revoke.
    pub code_hash: Option<String>,
    /// A client the edge authenticated already (a private_key_jwt assertion, or a metadata
    /// document client that is public): the registrar accepts it without a passphrase.
    pub authenticated_client: Option<String>,
}

impl FlowState {
    /// Records why the flow fails. The first failure wins: the primitive that records one ends
    /// the flow at once, so a later one can only be a consequence of it.
    pub fn fail(&mut self, error: OAuthError) {
        if self.failure.is_none() {
            self.failure = Some(error);
        }
    }

    /// Why the flow failed, if a primitive said.
    pub fn failure(&self) -> Option<&OAuthError> {
        self.failure.as_ref()
    }
}

/// Shared between the primitives of one flow.
#[derive(Clone, Default)]
pub struct FlowContext(Arc<Mutex<FlowState>>);

impl FlowContext {
    pub fn with_client(client: ClientRecord) -> Self {
        let ctx = FlowContext::default();
        ctx.lock().client = Some(client);
        ctx
    }

    pub fn lock(&self) -> MutexGuard<'_, FlowState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
