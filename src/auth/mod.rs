//! End-user authentication: password hashing, sessions, CSRF tokens.

pub mod csrf;
pub mod email_links;
pub mod password;
pub mod session;
pub mod throttle;
