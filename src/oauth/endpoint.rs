use oxide_auth::endpoint::{OAuthError, Scopes, Template};
use oxide_auth::frontends::simple::extensions::{AddonList, Pkce};
use oxide_auth::primitives::scope::Scope as OxideScope;
use oxide_auth_async::endpoint::{Endpoint, Extension, OwnerSolicitor};
use oxide_auth_async::primitives::{Authorizer, Issuer, Registrar};

use super::Core;
use super::authorizer::DbAuthorizer;
use super::flow::FlowContext;
use super::issuer::JwtIssuer;
use super::registrar::DbRegistrar;
use super::request::{PlumbingError, ProtocolRequest, ProtocolResponse};
use super::solicitor::Solicitor;

/// Errors a flow ends with, before the edge shapes them.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("oauth flow failed: {0:?}")]
    OAuth(OAuthError),
    #[error(transparent)]
    Plumbing(#[from] PlumbingError),
}

/// One oxide-auth endpoint per request, over our storage.
pub struct OAuthEndpoint {
    registrar: DbRegistrar,
    authorizer: DbAuthorizer,
    issuer: JwtIssuer,
    solicitor: Option<Solicitor>,
    scopes: Vec<OxideScope>,
    addons: AddonList,
}

impl OAuthEndpoint {
    pub fn new(core: Core<'_>, ctx: FlowContext, solicitor: Option<Solicitor>) -> Self {
        let mut addons = AddonList::new();
        // S256 only (oxide-auth refuses `plain` unless told otherwise); optional because
        // ChatGPT's GPT Actions send no challenge (RFC 7636 §4.4.1: servers may require it).
        addons.push_code(Pkce::optional());
        OAuthEndpoint {
            registrar: DbRegistrar::new(core.db.clone(), ctx.clone()),
            authorizer: DbAuthorizer::new(
                core.db.clone(),
                core.config.code_ttl,
                core.config.access_token_ttl,
                core.audit.clone(),
                ctx.clone(),
            ),
            issuer: JwtIssuer::new(core, ctx),
            solicitor,
            scopes: Vec::new(),
            addons,
        }
    }
}

impl Endpoint<ProtocolRequest> for OAuthEndpoint {
    type Error = FlowError;

    fn registrar(&self) -> Option<&(dyn Registrar + Sync)> {
        Some(&self.registrar)
    }

    fn authorizer_mut(&mut self) -> Option<&mut (dyn Authorizer + Send)> {
        Some(&mut self.authorizer)
    }

    fn issuer_mut(&mut self) -> Option<&mut (dyn Issuer + Send)> {
        Some(&mut self.issuer)
    }

    fn owner_solicitor(&mut self) -> Option<&mut (dyn OwnerSolicitor<ProtocolRequest> + Send)> {
        self.solicitor
            .as_mut()
            .map(|s| s as &mut (dyn OwnerSolicitor<ProtocolRequest> + Send))
    }

    fn scopes(&mut self) -> Option<&mut dyn Scopes<ProtocolRequest>> {
        Some(&mut self.scopes)
    }

    fn response(
        &mut self,
        _request: &mut ProtocolRequest,
        _kind: Template,
    ) -> Result<ProtocolResponse, FlowError> {
        Ok(ProtocolResponse::ok())
    }

    fn error(&mut self, err: OAuthError) -> FlowError {
        FlowError::OAuth(err)
    }

    fn web_error(&mut self, err: PlumbingError) -> FlowError {
        FlowError::Plumbing(err)
    }

    fn extension(&mut self) -> Option<&mut (dyn Extension + Send)> {
        Some(&mut self.addons)
    }
}
