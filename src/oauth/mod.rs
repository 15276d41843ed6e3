//! The protocol core: oxide-auth's flows over our storage, with adapters that make its
//! behaviour match RFC 6749 where its defaults differ.

pub mod authorize;
mod authorizer;
pub mod client_assertion;
pub mod client_auth;
mod endpoint;
pub mod error;
mod flow;
mod issuer;
pub mod oidc;
mod registrar;
pub mod registration;
pub mod request;
mod solicitor;
pub mod token;

pub use endpoint::OAuthEndpoint;
pub use error::{ErrorCode, OAuthError};
pub use flow::{FlowContext, FlowState};
pub use oidc::OidcRequest;
pub use registrar::secret_matches;
pub use request::{ParamError, Params, ProtocolRequest, ProtocolResponse};
pub use solicitor::{ConsentView, SignInPlan, Solicitor};

use crate::audit::Audit;
use crate::config::Config;
use crate::store::Db;
use crate::tokens::Keys;

/// What the protocol core works with, lent by the app's context for one request: the core
/// holds no state of its own and knows nothing of HTTP.
#[derive(Clone, Copy)]
pub struct Core<'a> {
    pub db: &'a Db,
    pub keys: &'a Keys,
    pub config: &'a Config,
    pub audit: &'a Audit,
}
