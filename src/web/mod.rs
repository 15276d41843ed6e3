//! The HTTP edge, and the only place that knows actix: handlers parse a request, call one use
//! case (`crate::app`) or the protocol core (`crate::oauth`), and map the result.

pub mod api;
pub mod cookies;
pub mod csrf;
pub mod device;
pub mod errors;
pub mod extract;
pub mod middleware;
pub mod pages;
pub mod respond;
pub mod routes;
pub mod server;
pub mod session;
pub mod state;

pub use server::Application;
pub use state::AppState;
