//! gptauth: an OAuth 2.0 / OpenID Connect server that tells a GPT builder's API which person is
//! calling. `docs/ARCHITECTURE.md` has the layers and what each may import.

pub mod app;
pub mod audit;
pub mod cli;
pub mod client_metadata;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod mail;
pub mod metrics;
pub mod oauth;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod web;

pub use config::Config;
pub use web::server::Application;
