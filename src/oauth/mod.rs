//! The protocol core: oxide-auth's flows over our storage, with adapters that make its
//! behaviour match RFC 6749 where its defaults differ.

mod authorizer;
pub mod client_assertion;
mod endpoint;
mod issuer;
pub mod oidc;
mod registrar;
pub mod request;
mod solicitor;

pub use endpoint::{FlowContext, OAuthEndpoint};
pub use oidc::OidcRequest;
pub use registrar::secret_matches;
pub use request::{ParamError, Params, ProtocolRequest, ProtocolResponse};
pub use solicitor::{ConsentView, SignInPlan, Solicitor};
