//! Test kit of the storage suite: a migrated `Db` on a fresh database of either backend, a
//! second handle on the same database (another instance), fixtures, and row counts.

use gptauth::store::{Db, NewClient, NewUser};
use uuid::Uuid;

pub use crate::databases::{Backend, fresh_database};

/// Generates one test per backend for each scenario: `both_backends!(a, b);` lists top-level
/// `async fn a(db: TestDb) { … }` functions and makes the tests `a::sqlite` and `a::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let backend = $crate::kit::Backend::Sqlite;
                    let db = $crate::kit::TestDb::fresh(backend).await;
                    super::$name(db.expect("sqlite is always available")).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let backend = $crate::kit::Backend::Postgres;
                    if let Some(db) = $crate::kit::TestDb::fresh(backend).await {
                        super::$name(db).await
                    }
                }
            }
        )+
    };
}

/// A raw pool on a test's database (see `TestDb::side`).
pub enum Side {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// A migrated database of its own.
pub struct TestDb {
    pub url: String,
    pub db: Db,
}

impl TestDb {
    /// A fresh, migrated database; `None` when Postgres is unreachable outside CI.
    pub async fn fresh(backend: Backend) -> Option<TestDb> {
        let url = fresh_database(backend).await?;
        let db = Db::connect(&url).await.expect("connect and migrate");
        Some(TestDb { url, db })
    }

    /// Another handle on the same database, as a second server instance would have: its own
    /// pool (and, on SQLite, its own writer connection).
    pub async fn twin(&self) -> Db {
        Db::connect(&self.url)
            .await
            .expect("connect a second handle")
    }

    /// A pool of the test's own on this database, beside the store's (whose `Db` is opaque):
    /// for reads the store has no method for.
    pub async fn side(&self) -> Side {
        match self.db.backend() {
            "postgres" => Side::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&self.url)
                    .await
                    .expect("a side connection"),
            ),
            _ => Side::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect(&self.url)
                    .await
                    .expect("a side connection"),
            ),
        }
    }

    /// Runs a query returning one integer (a `COUNT(*)`, say), bypassing the store.
    pub async fn count(&self, sql: &'static str) -> i64 {
        match self.side().await {
            Side::Postgres(p) => sqlx::query_scalar(sql).fetch_one(&p).await,
            Side::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(&p).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A user; returns their id.
    pub async fn user(&self, email: &str) -> Uuid {
        let id = Uuid::now_v7();
        self.db
            .insert_user(&NewUser {
                id,
                email,
                name: None,
                password_hash: "not a real hash",
                is_admin: false,
            })
            .await
            .expect("insert user");
        id
    }

    /// A confidential client with one redirect URI; returns its id.
    pub async fn client(&self) -> String {
        let id = format!("gpt_{}", Uuid::new_v4().simple());
        self.db
            .insert_client(&NewClient {
                client_id: &id,
                name: "Notes GPT",
                secret_hash: Some("digest"),
                scope: "openid profile email",
                audience: None,
                require_pkce: false,
                chatgpt_callbacks: false,
                resources: &[],
                id_token_alg: None,
                registration_token_hash: None,
                registered_auth_method: None,
                owner_id: None,
                logo_uri: None,
                policy_uri: None,
                redirect_uris: &[REDIRECT_URI.to_string()],
            })
            .await
            .expect("insert client");
        id
    }
}

pub const REDIRECT_URI: &str = "https://chatgpt.com/aip/g-0123/oauth/callback";

/// Runs `n` copies of `task` on the runtime's threads, released at once by a barrier; returns
/// their answers in spawn order.
pub async fn race<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let work = task(i);
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.expect("task panicked"));
    }
    out
}
