//! The HTML pages people see: sign-in, consent, account, recovery, setup and the builder portal.

pub mod account;
pub mod consent;
pub mod home;
pub mod login;
pub mod logout;
pub mod portal;
pub mod recovery;
pub mod render;
pub mod setup;
pub mod signup;
pub mod verification;
