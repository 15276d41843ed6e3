//! gptauth: an OAuth 2.0 authorization server that tells a GPT builder's API which person is
//! calling. See `../shared/DESIGN.md` for the architecture.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod client_metadata;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod mail;
pub mod metrics;
pub mod oauth;
pub mod routes;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tokens;

pub use config::Config;
pub use startup::Application;
