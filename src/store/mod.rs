//! Storage: the only place with SQL. One `Db` over a Postgres or an SQLite pool; the SQL text is
//! shared where the dialects agree (`$N` placeholders work in both, times are Unix seconds).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, PgPool, SqliteConnection, SqlitePool};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

mod audit;
mod client_assertions;
mod clients;
mod codes;
mod connections;
mod consents;
mod devices;
mod email_tokens;
mod keys;
mod portal;
mod refresh;
mod registrations;
mod revocations;
mod sessions;
mod throttle;
mod users;

pub use audit::{AuditEvent, AuditRecord};
pub use client_assertions::JtiOutcome;
pub use clients::{AuthMethod, ClientKeys, ClientRecord, MetadataClient, NewClient};
pub use codes::{CodeRecord, SpentCode};
pub use connections::Connection;
pub use email_tokens::{EmailChange, EmailPurpose, SecuredAccount, SpentEmailToken};
pub use keys::KeyRecord;
pub use portal::{CLIENT_ERROR_KINDS, DayCount, SetupOutcome};
pub use refresh::{NewRefreshFamily, RefreshLookup, Rotation};
pub use registrations::{InitialAccessToken, RegistrationUpdate};
pub use sessions::SessionRecord;
pub use throttle::{AttemptLimits, ThrottleRecord};
pub use users::{NewUser, UserRecord};

/// A connection pool to either backend, and the clock its statements read. Opaque: callers
/// go through its methods; a clone shares the pools and the clock.
#[derive(Clone, Debug)]
pub struct Db {
    pools: Pools,
    clock: Clock,
}

/// The two drivers. Every fork on the dialect goes through `on_db!`, `on_db_read!` or
/// `Db::per_dialect`, here.
#[derive(Clone, Debug)]
enum Pools {
    Postgres(PgPool),
    Sqlite(SqlitePools),
}

/// The server's time in Unix seconds: the system's, plus an offset that a test can advance to
/// age rows the way time would. Every clone shares one offset (the server's `Db` and a test's
/// copy of it read the same time). Production never moves it.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// System time, not moved.
    pub fn system() -> Self {
        Self::default()
    }

    /// Unix seconds now, as this clock tells it.
    pub fn now(&self) -> i64 {
        now().saturating_add(self.offset.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it) `seconds` ahead, for tests; negative moves it
    /// back.
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::Relaxed);
    }
}

/// SQLite lets one connection write at a time. Several pooled writers would queue inside
/// SQLite's busy handler, which sleeps (1, 2, 5, 10… ms) between tries: the benchmark's refresh
/// p99 was 93 ms at 16 users that way. One writer connection behind a mutex queues them in
/// order, without sleeping. It is not a pool of one because sqlx's pool pings a connection on
/// every acquire and release: two more trips to SQLite's worker thread for each statement.
/// Reads on hot paths use the readers (WAL lets them run beside the writer).
#[derive(Clone, Debug)]
struct SqlitePools {
    /// The connection that writes (and reads whatever is not marked as a plain read).
    writer: Arc<tokio::sync::Mutex<SqliteConnection>>,
    /// Connections for reads (one per core, up to 8); none for `:memory:`, where every
    /// connection would be a database of its own.
    readers: Option<SqlitePool>,
    /// Whether `on_db_read!` uses the readers (else the writer).
    read_beside_writer: bool,
}

/// Runs the same expression against whichever pool `db` holds; each arm is type-checked
/// against its own driver. On SQLite this is the writer.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db.pools() {
            $crate::store::Pools::Postgres($pool) => $body,
            $crate::store::Pools::Sqlite(pools) => {
                // `begin` on a connection, as on a pool.
                #[allow(unused_imports)]
                use sqlx::Connection as _;
                let mut writer = pools.writer.lock().await;
                let $pool = &mut *writer;
                $body
            }
        }
    };
}
pub(crate) use on_db;

/// `on_db!` for a statement that only reads: on SQLite it runs on a reader connection, so that
/// it does not queue behind writes.
macro_rules! on_db_read {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db.pools() {
            $crate::store::Pools::Sqlite($crate::store::SqlitePools {
                readers: Some($pool),
                read_beside_writer: true,
                ..
            }) => $body,
            _ => $crate::store::on_db!($db, |$pool| $body),
        }
    };
}
pub(crate) use on_db_read;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    Duplicate,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Maps a unique-constraint violation to `Duplicate`, anything else stays a database error.
    fn from_insert(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate,
            _ => StoreError::Database(err),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Unix seconds now, by the system's clock. Code with a `Db` at hand uses `Db::now`, which a
/// test can move.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Db {
    /// Connects (creating an SQLite file if missing) and applies pending migrations; the clock
    /// is the system's.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_clock(url, Clock::system()).await
    }

    /// `connect`, with the clock the store and the server read (a test holds a clone to move
    /// it).
    pub async fn connect_with_clock(url: &str, clock: Clock) -> Result<Self> {
        let pools = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                // sqlx pings every connection it hands out by default: one more round trip per
                // statement. A connection in steady use is known to work; one that sat idle
                // may have been cut (a restart, a proxy) and is checked before use.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for > Duration::from_secs(1) {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect(url)
                .await?;
            Pools::Postgres(pool)
        } else {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            let writer = options.connect().await?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let readers = if url.contains(":memory:") {
                None
            } else {
                Some(
                    SqlitePoolOptions::new()
                        .max_connections(u32::try_from(cores).unwrap_or(u32::MAX).clamp(1, 8))
                        // sqlx pings on acquire by default: a trip to the connection's thread
                        // for nothing, as a local file does not hang up.
                        .test_before_acquire(false)
                        .acquire_timeout(Duration::from_secs(5))
                        .connect_lazy_with(options),
                )
            };
            Pools::Sqlite(SqlitePools {
                writer: Arc::new(tokio::sync::Mutex::new(writer)),
                readers,
                // Readers only pay off with a core to spare: on one, the hops between threads
                // cost more than a read waiting for the writer (~10% of a refresh's CPU).
                read_beside_writer: cores > 1,
            })
        };
        let db = Db { pools, clock };
        db.migrate().await?;
        Ok(db)
    }

    /// The clock this store and the server read; clones share it.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Unix seconds now, by this store's clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    fn pools(&self) -> &Pools {
        &self.pools
    }

    /// The one of two values (SQL texts, say) for this store's dialect.
    fn per_dialect<T>(&self, postgres: T, sqlite: T) -> T {
        match self.pools {
            Pools::Postgres(_) => postgres,
            Pools::Sqlite(_) => sqlite,
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        match &self.pools {
            Pools::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
            Pools::Sqlite(pools) => {
                let mut writer = pools.writer.lock().await;
                sqlx::migrate!("migrations/sqlite")
                    .run(&mut *writer)
                    .await?
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        match &self.pools {
            Pools::Postgres(_) => "postgres",
            Pools::Sqlite(_) => "sqlite",
        }
    }

    /// A consistent copy of an SQLite database at `path`, taken while the server runs
    /// (`VACUUM INTO`). `None` for Postgres, which has its own tools (`pg_dump`).
    pub async fn backup_sqlite(&self, path: &str) -> Option<Result<()>> {
        // On a reader, even on one core: a copy must not hold up the writer while it runs.
        let vacuum = sqlx::query("VACUUM INTO $1").bind(path);
        let done = match &self.pools {
            Pools::Sqlite(SqlitePools {
                readers: Some(r), ..
            }) => vacuum.execute(r).await,
            Pools::Sqlite(SqlitePools { writer, .. }) => {
                vacuum.execute(&mut *writer.lock().await).await
            }
            Pools::Postgres(_) => return None,
        };
        Some(done.map(|_| ()).map_err(StoreError::from))
    }

    /// Connections open, and idle among them.
    pub fn pool_stats(&self) -> (u32, usize) {
        match &self.pools {
            Pools::Postgres(p) => (p.size(), p.num_idle()),
            Pools::Sqlite(SqlitePools {
                writer, readers, ..
            }) => {
                let (size, idle) = readers
                    .as_ref()
                    .map_or((0, 0), |r| (r.size(), r.num_idle()));
                // The writer counts as one connection, idle when its lock is free.
                (size + 1, idle + usize::from(writer.try_lock().is_ok()))
            }
        }
    }

    /// Readiness: one round trip.
    pub async fn ping(&self) -> Result<()> {
        on_db_read!(self, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Closes the pools; SQLite's writer closes when its last handle is dropped.
    pub async fn close(&self) {
        match &self.pools {
            Pools::Postgres(p) => p.close().await,
            Pools::Sqlite(SqlitePools { readers, .. }) => {
                if let Some(readers) = readers {
                    readers.close().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clone_of_a_clock_reads_the_time_it_was_moved_to() {
        let clock = Clock::system();
        let twin = clock.clone();
        assert!((clock.now() - now()).abs() <= 1, "starts at system time");
        twin.advance(3600);
        assert!(
            (clock.now() - now() - 3600).abs() <= 1,
            "{}",
            clock.now() - now()
        );
    }

    /// The store's own statements read its clock: a session lives until the clock passes its
    /// expiry, on every clone of the `Db`.
    #[tokio::test]
    async fn expiry_in_the_store_follows_its_clock() {
        let clock = Clock::system();
        let db = Db::connect_with_clock("sqlite::memory:", clock.clone())
            .await
            .expect("db");
        let user = uuid::Uuid::now_v7();
        db.insert_user(&NewUser {
            id: user,
            email: "ada@example.com",
            name: None,
            password_hash: "x",
            is_admin: false,
        })
        .await
        .expect("user");
        db.insert_session("s", user, db.now() + 60)
            .await
            .expect("session");
        let twin = db.clone();
        assert!(twin.session("s", 3600).await.expect("read").is_some());
        clock.advance(61);
        assert!(twin.now() - now() >= 60, "clones share the clock");
        assert!(
            twin.session("s", 3600).await.expect("read").is_none(),
            "expired"
        );
    }
}
