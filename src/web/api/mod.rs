//! The JSON and protocol endpoints: OAuth 2.0, OpenID Connect, registration, health, OpenAPI.

pub mod authorize;
pub mod bearer;
pub mod client_auth;
pub mod docs;
pub mod health;
pub mod introspect;
pub mod openapi;
pub mod presented_token;
pub mod register;
pub mod revoke;
pub mod token;
pub mod userinfo;
pub mod well_known;
