//! Fresh test databases, shared by the API suite and the storage suite (each includes this
//! file with `#[path]`): a new SQLite file, or a new Postgres database below the admin URL.
//! Outside CI a missing Postgres skips that half with a loud warning; in CI (`CI=true`) it is
//! a failure.

use std::io::Write;
use std::sync::Once;

use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin Postgres URL; tests create one database each below it.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database URL, or `None` when Postgres is not reachable outside CI.
pub async fn fresh_database(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => {
            let dir =
                std::env::temp_dir().join(format!("gptauth-test-{}", Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            Some(format!("sqlite://{}", dir.join("gptauth.db").display()))
        }
        Backend::Postgres => {
            let admin = postgres_admin_url();
            let pool = match sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(std::time::Duration::from_secs(3))
                .connect(&admin)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
                        panic!("Postgres is required in CI but unreachable at {admin}: {e}");
                    }
                    warn_postgres_skipped(&admin, &e.to_string());
                    return None;
                }
            };
            let name = format!("gptauth_test_{}", Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .expect("create test database");
            pool.close().await;
            let mut url = url::Url::parse(&admin).expect("admin url");
            url.set_path(&name);
            Some(url.to_string())
        }
    }
}

fn warn_postgres_skipped(admin: &str, error: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Written straight to the process's stderr, past the test harness's capture.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !! POSTGRES SKIPPED: {admin} is unreachable ({error}).\n\
             !! Only the SQLite half of the suite ran. Start Postgres or set\n\
             !! TEST_POSTGRES_URL; in CI (CI=true) this is a failure.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
    });
}
