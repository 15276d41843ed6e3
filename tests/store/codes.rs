//! Authorization codes: `take_code` is single use, also when redemptions race.

use gptauth::store::{CodeRecord, Db, now};
use uuid::Uuid;

use crate::kit::{REDIRECT_URI, TestDb, race};

fn code(client_id: &str, user_id: Uuid, expires_in: i64) -> CodeRecord {
    let now = now();
    CodeRecord {
        code_hash: format!("code_{}", Uuid::new_v4().simple()),
        client_id: client_id.to_string(),
        user_id,
        redirect_uri: REDIRECT_URI.to_string(),
        scope: "openid email".to_string(),
        pkce: Some("S256:challenge".to_string()),
        resource: Some("https://api.example.com/".to_string()),
        nonce: Some("n-0S6_WzA2Mj".to_string()),
        auth_time: Some(now - 5),
        email: Some("ada@example.com".to_string()),
        email_verified: true,
        created_at: now,
        expires_at: now + expires_in,
    }
}

async fn a_code_is_taken_once_with_everything_it_was_issued_with(t: TestDb) {
    let user = t.user("ada@example.com").await;
    let client = t.client().await;
    let issued = code(&client, user, 60);
    t.db.insert_code(&issued).await.expect("insert code");

    let taken = t.db.take_code(&issued.code_hash).await.expect("take");
    let taken = taken.expect("the first take gets the code");
    assert_eq!(taken.code_hash, issued.code_hash);
    assert_eq!(taken.client_id, client);
    assert_eq!(taken.user_id, user);
    assert_eq!(taken.redirect_uri, REDIRECT_URI);
    assert_eq!(taken.scope, "openid email");
    assert_eq!(taken.pkce.as_deref(), Some("S256:challenge"));
    assert_eq!(taken.resource.as_deref(), Some("https://api.example.com/"));
    assert_eq!(taken.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
    assert_eq!(taken.auth_time, issued.auth_time);
    assert_eq!(taken.email.as_deref(), Some("ada@example.com"));
    assert!(taken.email_verified);
    assert_eq!(taken.created_at, issued.created_at);
    assert_eq!(taken.expires_at, issued.expires_at);

    let again = t.db.take_code(&issued.code_hash).await.expect("take again");
    assert!(again.is_none(), "a second take gets nothing");
    assert_eq!(t.count("SELECT COUNT(*) FROM auth_codes").await, 0);
}

async fn an_expired_code_is_not_handed_out_and_is_gone_after_the_attempt(t: TestDb) {
    let user = t.user("ada@example.com").await;
    let client = t.client().await;
    let expired = code(&client, user, -1);
    t.db.insert_code(&expired).await.expect("insert code");
    let live = code(&client, user, 60);
    t.db.insert_code(&live).await.expect("insert code");

    assert!(
        t.db.take_code(&expired.code_hash)
            .await
            .expect("take")
            .is_none()
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM auth_codes").await,
        1,
        "only the live one left"
    );
    assert!(
        t.db.take_code("no such code")
            .await
            .expect("take")
            .is_none()
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM auth_codes").await, 1);
}

/// `n` takes of each of `rounds` codes, spread over the given handles: exactly one take of each
/// code gets it.
async fn race_takes(t: &TestDb, handles: &[Db], rounds: usize, n: usize) {
    let user = t.user("ada@example.com").await;
    let client = t.client().await;
    for round in 0..rounds {
        let issued = code(&client, user, 60);
        t.db.insert_code(&issued).await.expect("insert code");
        let outcomes = race(n, |i| {
            let db = handles[i % handles.len()].clone();
            let hash = issued.code_hash.clone();
            async move { db.take_code(&hash).await.expect("take") }
        })
        .await;
        let winners: Vec<_> = outcomes.iter().flatten().collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one of {n} takes gets the code"
        );
        assert_eq!(winners[0].code_hash, issued.code_hash);
        assert_eq!(winners[0].user_id, user);
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM auth_codes").await, 0);
}

async fn of_parallel_takes_of_one_code_exactly_one_gets_it(t: TestDb) {
    let handles = [t.db.clone()];
    race_takes(&t, &handles, 10, 8).await;
}

async fn of_parallel_takes_at_two_instances_exactly_one_gets_the_code(t: TestDb) {
    let handles = [t.db.clone(), t.twin().await];
    race_takes(&t, &handles, 10, 8).await;
}

crate::both_backends!(
    a_code_is_taken_once_with_everything_it_was_issued_with,
    an_expired_code_is_not_handed_out_and_is_gone_after_the_attempt,
    of_parallel_takes_of_one_code_exactly_one_gets_it,
    of_parallel_takes_at_two_instances_exactly_one_gets_the_code,
);
