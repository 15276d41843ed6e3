//! The storage contract: `gptauth::store::Db` against a fresh, migrated database of each
//! backend (SQLite and Postgres), without the server. It covers the statements whose
//! correctness depends on the database: single-use codes, refresh rotation and reuse
//! detection, the throttle's count-before-check, and metadata-document upserts, each also
//! under concurrency (one handle, and two handles as two instances would have); and that both
//! backends' migrations build the same schema.

#[path = "../common/databases.rs"]
mod databases;
mod kit;

mod codes;
mod metadata_clients;
mod refresh;
mod schema;
mod throttle;
