//! Black-box tests: the real server on a random port, a fresh database per test, every
//! scenario on SQLite and on Postgres. One binary (link time), modules by topic.

mod helpers;

mod account;
mod audiences;
mod authorize;
mod cli;
mod client_metadata;
mod discovery;
mod extractors;
mod hardening;
mod instances;
mod key_encryption;
mod mail;
mod notes_example;
mod oidc;
mod openapi;
mod operations;
mod pages;
mod pkce;
mod portal;
mod private_key_jwt;
mod refresh;
mod registration;
mod resources;
mod revocation;
mod security;
mod step_up;
mod takeover;
mod throttling;
mod token;
mod use_cases;
mod userinfo;
mod verifier;
