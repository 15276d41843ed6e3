//! Clients described by a client ID metadata document: `upsert_metadata_client` inserts, then
//! updates in place (redirect URIs replaced), never takes over another client, and parallel
//! upserts of one URL leave one consistent row.

use gptauth::store::{Db, MetadataClient, StoreError, now};

use crate::kit::{TestDb, race};

const URL: &str = "https://app.example.com/oauth/client-metadata.json";

fn uris(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn upsert(db: &Db, name: &str, redirect_uris: &[String], expires_at: i64) {
    db.upsert_metadata_client(&MetadataClient {
        client_id: URL,
        name,
        scope: "openid profile",
        redirect_uris,
        expires_at,
        jwks_uri: None,
    })
    .await
    .unwrap_or_else(|e| panic!("upsert {name}: {e}"));
}

async fn redirect_rows(t: &TestDb) -> i64 {
    t.count(
        "SELECT COUNT(*) FROM client_redirect_uris \
         WHERE client_id = 'https://app.example.com/oauth/client-metadata.json'",
    )
    .await
}

async fn a_document_client_is_inserted_then_updated_in_place(t: TestDb) {
    let expires = now() + 300;
    let first = uris(&["https://app.example.com/cb", "https://app.example.com/cb2"]);
    let created =
        t.db.upsert_metadata_client(&MetadataClient {
            client_id: URL,
            name: "Example App",
            scope: "openid profile",
            redirect_uris: &first,
            expires_at: expires,
            jwks_uri: Some("https://app.example.com/jwks.json"),
        })
        .await
        .expect("insert");
    assert_eq!(created.client_id, URL);
    assert_eq!(created.name, "Example App");
    assert_eq!(created.scope, "openid profile");
    assert_eq!(created.secret_hash, None, "a document client is public");
    assert!(created.require_pkce);
    assert!(!created.chatgpt_callbacks);
    assert_eq!(created.metadata_expires_at, Some(expires));
    assert_eq!(
        created.jwks_uri.as_deref(),
        Some("https://app.example.com/jwks.json")
    );
    let mut got = created.redirect_uris.clone();
    got.sort();
    assert_eq!(got, first);
    assert!(created.is_anonymous());

    let second = uris(&["https://app.example.com/new-callback"]);
    let updated =
        t.db.upsert_metadata_client(&MetadataClient {
            client_id: URL,
            name: "Example App 2",
            scope: "openid",
            redirect_uris: &second,
            expires_at: expires + 600,
            jwks_uri: None,
        })
        .await
        .expect("update");
    assert_eq!(updated.name, "Example App 2");
    assert_eq!(updated.scope, "openid");
    assert_eq!(updated.metadata_expires_at, Some(expires + 600));
    assert_eq!(updated.jwks_uri, None);
    assert_eq!(
        updated.redirect_uris, second,
        "the redirect URIs are replaced"
    );
    let read = t.db.client(URL).await.expect("read").expect("stored");
    assert_eq!(read.name, "Example App 2");
    assert_eq!(read.redirect_uris, second);

    assert_eq!(t.count("SELECT COUNT(*) FROM clients").await, 1);
    assert_eq!(redirect_rows(&t).await, 1);
}

async fn an_upsert_never_takes_over_a_client_not_made_from_a_document(t: TestDb) {
    let id = t.client().await;
    let result =
        t.db.upsert_metadata_client(&MetadataClient {
            client_id: &id,
            name: "Takeover",
            scope: "openid",
            redirect_uris: &uris(&["https://evil.example/cb"]),
            expires_at: now() + 300,
            jwks_uri: None,
        })
        .await;
    assert!(
        matches!(result, Err(StoreError::Duplicate)),
        "{:?}",
        result.err()
    );
    let kept = t.db.client(&id).await.expect("read").expect("kept");
    assert_eq!(kept.name, "Notes GPT");
    assert_eq!(kept.scope, "openid profile email");
    assert_eq!(
        kept.redirect_uris,
        vec![crate::kit::REDIRECT_URI.to_string()]
    );
    assert_eq!(kept.metadata_expires_at, None);
    assert_eq!(t.count("SELECT COUNT(*) FROM clients").await, 1);
}

/// `n` parallel upserts of the one URL, spread over `handles`, each with its own name and
/// redirect URIs: one row remains, and its name and URIs come from the same upsert.
async fn race_upserts(t: &TestDb, handles: &[Db], n: usize) {
    let shared = "https://app.example.com/cb";
    let expires = now() + 300;
    race(n, |i| {
        let db = handles[i % handles.len()].clone();
        async move {
            let own = format!("https://app.example.com/cb/{i}");
            let list = uris(&[shared, &own]);
            upsert(&db, &format!("App {i}"), &list, expires + i as i64).await;
        }
    })
    .await;

    assert_eq!(t.count("SELECT COUNT(*) FROM clients").await, 1);
    assert_eq!(
        redirect_rows(t).await,
        2,
        "one upsert's two URIs, not a mixture"
    );
    let stored = t.db.client(URL).await.expect("read").expect("stored");
    let i: i64 = stored
        .name
        .strip_prefix("App ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("name {}", stored.name));
    let mut got = stored.redirect_uris.clone();
    got.sort();
    assert_eq!(
        got,
        uris(&[shared, &format!("https://app.example.com/cb/{i}")])
    );
    assert_eq!(stored.metadata_expires_at, Some(expires + i));
}

async fn parallel_upserts_of_one_url_leave_one_consistent_client(t: TestDb) {
    let handles = [t.db.clone()];
    race_upserts(&t, &handles, 8).await;
}

async fn parallel_upserts_at_two_instances_leave_one_consistent_client(t: TestDb) {
    let handles = [t.db.clone(), t.twin().await];
    race_upserts(&t, &handles, 8).await;
}

crate::both_backends!(
    a_document_client_is_inserted_then_updated_in_place,
    an_upsert_never_takes_over_a_client_not_made_from_a_document,
    parallel_upserts_of_one_url_leave_one_consistent_client,
    parallel_upserts_at_two_instances_leave_one_consistent_client,
);
