//! Typed domain values: raw strings stop at the edge, these are what the rest of the code sees.

mod audit_kind;
mod client_id;
mod client_metadata_url;
mod display_name;
mod email;
mod password;
mod printable;
mod redirect_uri;
mod resource;
mod scope;
mod signing_alg;

pub use audit_kind::AuditKind;
pub use client_id::{ClientId, ClientRef};
pub use client_metadata_url::ClientMetadataUrl;
pub use display_name::{DisplayName, NameTooLong};
pub use email::Email;
pub use password::Password;
pub use printable::{escape_controls, strip_controls};
pub use redirect_uri::RedirectUri;
pub use resource::{ResourceIndicator, may_be_named};
pub use scope::{DEFAULT_SCOPE, OFFLINE_ACCESS, Scope};
pub use signing_alg::alg_name;

/// Why a raw value was refused; the message is safe to show to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);
