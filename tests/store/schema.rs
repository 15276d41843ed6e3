//! Schema parity: after all migrations, SQLite and Postgres have the same tables, the same
//! columns in each, the same primary keys, and the same named indexes over the same columns
//! (and equally unique). Not compared: column types (the dialects differ: BLOB and UUID, say),
//! partial-index predicates, triggers and views (SQLite does in triggers what Postgres does in
//! a statement's WITH). The two migration
//! directories are written by hand side by side; this catches one that was forgotten.

use std::collections::BTreeMap;

use sqlx::{PgPool, SqlitePool};

use crate::kit::{Backend, Side, TestDb};

/// sqlx's bookkeeping, not part of the schema.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// Table name → its column names, sorted.
type Columns = BTreeMap<String, Vec<String>>;
/// Index name → (table, indexed columns in order, unique).
type Indexes = BTreeMap<String, (String, Vec<String>, bool)>;

#[derive(Debug, Default)]
struct Schema {
    columns: Columns,
    /// Table name → its primary key's columns in order (tables that have one).
    primary_keys: BTreeMap<String, Vec<String>>,
    indexes: Indexes,
}

/// Differences that exist on purpose or are known; each needs its reason. Index names only:
/// an index listed here may be missing from, or differ on, either side.
const KNOWN_INDEX_DIFFERENCES: &[&str] = &[];

async fn sqlite_schema(p: &SqlitePool) -> Schema {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> $1 ORDER BY name",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(p)
    .await
    .expect("tables");
    let mut schema = Schema::default();
    for table in tables {
        let mut columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
            .bind(&table)
            .fetch_all(p)
            .await
            .expect("columns");
        columns.sort();
        let key: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk")
                .bind(&table)
                .fetch_all(p)
                .await
                .expect("primary key");
        if !key.is_empty() {
            schema.primary_keys.insert(table.clone(), key);
        }
        // Automatic indexes (primary keys, UNIQUE constraints) are SQLite's own: `origin` 'c'
        // marks those made with CREATE INDEX.
        let indexes: Vec<(String, bool)> = sqlx::query_as(
            "SELECT name, \"unique\" FROM pragma_index_list($1) \
             WHERE origin = 'c' AND name NOT LIKE 'sqlite_autoindex_%'",
        )
        .bind(&table)
        .fetch_all(p)
        .await
        .expect("indexes");
        for (index, unique) in indexes {
            // An expression has no column name (NULL).
            let on: Vec<Option<String>> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(p)
                    .await
                    .expect("index columns");
            let on = on
                .into_iter()
                .map(|c| c.unwrap_or_else(|| "<expression>".into()))
                .collect();
            schema.indexes.insert(index, (table.clone(), on, unique));
        }
        schema.columns.insert(table, columns);
    }
    schema
}

async fn postgres_schema(p: &PgPool) -> Schema {
    let mut schema = Schema::default();
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c \
         JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.table_name <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(p)
    .await
    .expect("columns");
    for (table, column) in columns {
        schema.columns.entry(table).or_default().push(column);
    }
    for list in schema.columns.values_mut() {
        list.sort();
    }
    let keys: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT t.relname::text, array_agg(a.attname::text ORDER BY k.ord) \
         FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
         WHERE c.contype = 'p' AND n.nspname = 'public' AND t.relname <> $1 \
         GROUP BY t.relname",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(p)
    .await
    .expect("primary keys");
    schema.primary_keys.extend(keys);
    // Indexes made with CREATE INDEX: not those behind a PRIMARY KEY or UNIQUE constraint
    // (the counterparts of SQLite's automatic indexes).
    let indexes: Vec<(String, String, Vec<String>, bool)> = sqlx::query_as(
        "SELECT i.relname::text, t.relname::text, \
                array_agg(COALESCE(a.attname::text, '<expression>') ORDER BY k.ord), \
                x.indisunique \
         FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
         WHERE n.nspname = 'public' AND t.relname <> $1 \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) \
         GROUP BY i.relname, t.relname, x.indisunique",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(p)
    .await
    .expect("indexes");
    for (index, table, on, unique) in indexes {
        schema.indexes.insert(index, (table, on, unique));
    }
    schema
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_have_the_same_tables_columns_and_indexes() {
    let Some(postgres) = TestDb::fresh(Backend::Postgres).await else {
        return; // Postgres unreachable outside CI: warned about already.
    };
    let sqlite = TestDb::fresh(Backend::Sqlite).await.expect("sqlite");
    let Side::Sqlite(lite_pool) = sqlite.side().await else {
        panic!("not SQLite")
    };
    let Side::Postgres(pg_pool) = postgres.side().await else {
        panic!("not Postgres")
    };
    let lite = sqlite_schema(&lite_pool).await;
    let pg = postgres_schema(&pg_pool).await;

    // Guards against a query that sees nothing (and so agrees with anything).
    assert!(
        lite.columns.contains_key("refresh_tokens"),
        "{:?}",
        lite.columns.keys()
    );
    assert!(
        lite.indexes.contains_key("refresh_tokens_live"),
        "{:?}",
        lite.indexes
    );
    assert!(pg.columns.len() > 10 && pg.indexes.len() > 5, "{pg:?}");
    assert_eq!(
        lite.primary_keys.get("revoked_grants").map(Vec::as_slice),
        Some(&["user_id".to_string(), "client_id".to_string()][..])
    );

    let problems = differences(&lite, &pg);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The comparison sees a difference when there is one: an index and a column that only
    // SQLite has.
    for probe in [
        "CREATE INDEX parity_probe ON users (name)",
        "ALTER TABLE sessions ADD COLUMN parity_probe TEXT",
    ] {
        sqlx::query(probe).execute(&lite_pool).await.expect("probe");
    }
    let problems = differences(&sqlite_schema(&lite_pool).await, &pg);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("columns of sessions differ"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("index parity_probe differs"),
        "{problems:?}"
    );
}

/// What differs between the two schemas, one message each; empty when they agree.
fn differences(lite: &Schema, pg: &Schema) -> Vec<String> {
    let mut problems = Vec::new();
    let tables = |s: &Schema| s.columns.keys().cloned().collect::<Vec<_>>();
    if tables(lite) != tables(pg) {
        problems.push(format!(
            "tables differ:\n  sqlite only: {:?}\n  postgres only: {:?}",
            only(&lite.columns, &pg.columns),
            only(&pg.columns, &lite.columns)
        ));
    }
    for (table, columns) in &lite.columns {
        if let Some(other) = pg.columns.get(table)
            && columns != other
        {
            problems.push(format!(
                "columns of {table} differ:\n  sqlite: {columns:?}\n  postgres: {other:?}"
            ));
        }
    }
    if lite.primary_keys != pg.primary_keys {
        problems.push(format!(
            "primary keys differ:\n  sqlite: {:?}\n  postgres: {:?}",
            lite.primary_keys, pg.primary_keys
        ));
    }
    let names: std::collections::BTreeSet<&String> =
        lite.indexes.keys().chain(pg.indexes.keys()).collect();
    for name in names {
        if KNOWN_INDEX_DIFFERENCES.contains(&name.as_str()) {
            continue;
        }
        let (a, b) = (lite.indexes.get(name), pg.indexes.get(name));
        if a != b {
            problems.push(format!(
                "index {name} differs:\n  sqlite: {a:?}\n  postgres: {b:?}"
            ));
        }
    }
    problems
}

fn only(a: &Columns, b: &Columns) -> Vec<String> {
    a.keys().filter(|k| !b.contains_key(*k)).cloned().collect()
}
