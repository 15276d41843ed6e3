//! The sign-in throttle: `begin_attempt` decides and counts in one statement, so parallel
//! attempts (at any number of instances) never get past more than the free ones.

use gptauth::store::{AttemptLimits, Db, now};

use crate::kit::{TestDb, race};

const LIMITS: AttemptLimits = AttemptLimits {
    free: 3,
    first_delay: 60,
    max_delay: 3600,
};

/// Failures older than this are forgotten.
fn window_start() -> i64 {
    now() - 900
}

async fn attempt(db: &Db, key: &str) -> Option<i32> {
    db.begin_attempt(key, window_start(), LIMITS)
        .await
        .expect("begin attempt")
}

async fn failures(db: &Db, key: &str) -> Option<i32> {
    let records = db
        .throttle_records(&[key.to_string()])
        .await
        .expect("records");
    assert!(records.len() <= 1);
    records.first().map(|r| r.failures)
}

async fn the_free_attempts_pass_then_the_key_waits_and_a_refund_gives_one_back(t: TestDb) {
    let key = "ip:192.0.2.1";
    assert_eq!(failures(&t.db, key).await, None);
    assert_eq!(attempt(&t.db, key).await, Some(1));
    assert_eq!(attempt(&t.db, key).await, Some(2));
    assert_eq!(attempt(&t.db, key).await, Some(3));
    assert_eq!(
        attempt(&t.db, key).await,
        None,
        "the fourth must wait first_delay"
    );
    assert_eq!(
        failures(&t.db, key).await,
        Some(3),
        "a refused attempt is not counted"
    );

    t.db.refund_attempt(key).await.expect("refund");
    assert_eq!(failures(&t.db, key).await, Some(2));
    assert_eq!(attempt(&t.db, key).await, Some(3));
    assert_eq!(attempt(&t.db, key).await, None);

    // Another key is not affected, and a cleared key starts over.
    assert_eq!(attempt(&t.db, "account:ada@example.com").await, Some(1));
    t.db.clear_throttle(key).await.expect("clear");
    assert_eq!(failures(&t.db, key).await, None);
    assert_eq!(attempt(&t.db, key).await, Some(1));
}

async fn failures_before_the_window_are_forgotten_and_a_lock_holds(t: TestDb) {
    let key = "account:ada@example.com";
    for n in 1..=3 {
        assert_eq!(attempt(&t.db, key).await, Some(n));
    }
    assert_eq!(attempt(&t.db, key).await, None);
    // A window that starts after the last failure: the count restarts at one.
    let later =
        t.db.begin_attempt(key, now() + 1, LIMITS)
            .await
            .expect("attempt");
    assert_eq!(later, Some(1));

    for n in 2..=3 {
        assert_eq!(attempt(&t.db, key).await, Some(n));
    }
    assert!(
        !t.db
            .lock_if_exceeded(key, 4, now() + 900)
            .await
            .expect("lock"),
        "3 < 4"
    );
    assert!(
        t.db.lock_if_exceeded(key, 3, now() + 900)
            .await
            .expect("lock")
    );
    assert!(
        !t.db
            .lock_if_exceeded(key, 3, now() + 900)
            .await
            .expect("lock"),
        "locked already"
    );
    // Locked: even a forgotten window does not let an attempt through.
    let locked =
        t.db.begin_attempt(key, now() + 1, LIMITS)
            .await
            .expect("attempt");
    assert_eq!(locked, None);
    assert_eq!(failures(&t.db, key).await, Some(3));
}

/// `n` parallel attempts on one key per round, spread over `handles`: exactly the free ones
/// pass, numbered 1 to `free`, and the counter ends at `free`.
async fn race_attempts(t: &TestDb, handles: &[Db], rounds: usize, n: usize) {
    for round in 0..rounds {
        let key = format!("ip:198.51.100.{round}");
        let outcomes = race(n, |i| {
            let db = handles[i % handles.len()].clone();
            let key = key.clone();
            async move { attempt(&db, &key).await }
        })
        .await;
        let mut admitted: Vec<i32> = outcomes.into_iter().flatten().collect();
        admitted.sort_unstable();
        assert_eq!(
            admitted,
            vec![1, 2, 3],
            "round {round}: only the free attempts pass"
        );
        assert_eq!(
            failures(&t.db, &key).await,
            Some(LIMITS.free),
            "round {round}"
        );
    }
}

async fn parallel_attempts_never_pass_more_than_the_free_ones(t: TestDb) {
    let handles = [t.db.clone()];
    race_attempts(&t, &handles, 5, 20).await;
}

async fn parallel_attempts_at_two_instances_never_pass_more_than_the_free_ones(t: TestDb) {
    let handles = [t.db.clone(), t.twin().await];
    race_attempts(&t, &handles, 5, 20).await;
}

crate::both_backends!(
    the_free_attempts_pass_then_the_key_waits_and_a_refund_gives_one_back,
    failures_before_the_window_are_forgotten_and_a_lock_holds,
    parallel_attempts_never_pass_more_than_the_free_ones,
    parallel_attempts_at_two_instances_never_pass_more_than_the_free_ones,
);
