//! Refresh-token rotation: a first use rotates, a replay revokes the family (RFC 9700
//! §4.14.2), the grace window allows exactly one sibling, and racing rotations of one token
//! have exactly one winner.

use gptauth::store::{Db, NewRefreshFamily, Rotation, now};
use uuid::Uuid;

use crate::kit::{Side, TestDb, race};

const DAY: i64 = 86_400;

/// A new family for a new user of a new client; returns its id and its first token's hash.
async fn family(t: &TestDb) -> (Uuid, String) {
    let user = t
        .user(&format!("{}@example.com", Uuid::new_v4().simple()))
        .await;
    let client = t.client().await;
    let id = Uuid::now_v7();
    let token = hash("first");
    t.db.create_refresh_family(&NewRefreshFamily {
        id,
        client_id: &client,
        user_id: user,
        scope: "openid email",
        resource: None,
        auth_time: Some(now()),
        token_hash: &token,
        expires_at: now() + DAY,
    })
    .await
    .expect("create family");
    (id, token)
}

fn hash(label: &str) -> String {
    format!("{label}_{}", Uuid::new_v4().simple())
}

async fn rotate(db: &Db, old: &str, new: &str, grace: i64) -> Rotation {
    db.rotate_refresh(old, new, grace, now() + DAY)
        .await
        .expect("rotate")
}

async fn revoked(t: &TestDb, family: Uuid) -> bool {
    // Through `find_refresh` of any of its tokens: the store's own view of the family.
    let tokens = t.family_tokens(family).await;
    let lookup =
        t.db.find_refresh(&tokens[0])
            .await
            .expect("find")
            .expect("a token");
    assert_eq!(lookup.family_id, family);
    lookup.family_revoked_at.is_some()
}

impl TestDb {
    /// The hashes of a family's tokens, oldest first.
    async fn family_tokens(&self, family: Uuid) -> Vec<String> {
        let sql = "SELECT token_hash FROM refresh_tokens WHERE family_id = $1 \
                   ORDER BY created_at, token_hash";
        match self.side().await {
            Side::Postgres(p) => sqlx::query_scalar(sql).bind(family).fetch_all(&p).await,
            Side::Sqlite(p) => sqlx::query_scalar(sql).bind(family).fetch_all(&p).await,
        }
        .expect("family tokens")
    }
}

async fn a_first_use_rotates_and_a_replay_revokes_the_family(t: TestDb) {
    let (family, t0) = family(&t).await;
    let t1 = hash("second");
    assert_eq!(rotate(&t.db, &t0, &t1, 0).await, Rotation::Rotated);
    let old =
        t.db.find_refresh(&t0)
            .await
            .expect("find")
            .expect("t0 is kept");
    assert!(
        old.rotated_at.is_some(),
        "the presented token is marked rotated"
    );
    let new =
        t.db.find_refresh(&t1)
            .await
            .expect("find")
            .expect("the successor is stored");
    assert_eq!(new.family_id, family);
    assert_eq!(new.rotated_at, None);
    assert_eq!(new.scope, "openid email");
    assert!(!revoked(&t, family).await);

    // Strict rotation (no grace): presenting t0 again is a reuse.
    let t2 = hash("replay");
    assert_eq!(rotate(&t.db, &t0, &t2, 0).await, Rotation::Reused);
    assert!(revoked(&t, family).await, "reuse revokes the family");
    assert!(
        t.db.find_refresh(&t2).await.expect("find").is_none(),
        "no successor for a replay"
    );
    assert_eq!(
        t.count(
            "SELECT COUNT(*) FROM refresh_families WHERE revoked_reason = 'refresh token reused'"
        )
        .await,
        1
    );
    // The family is dead: its live token no longer rotates, and nothing unknown ever does.
    assert_eq!(
        rotate(&t.db, &t1, &hash("after"), 0).await,
        Rotation::Invalid
    );
    assert_eq!(
        rotate(&t.db, "unknown", &hash("x"), 60).await,
        Rotation::Invalid
    );
    assert_eq!(t.family_tokens(family).await.len(), 2);
    assert_eq!(t.count("SELECT COUNT(*) FROM refresh_tokens").await, 2);
}

async fn within_the_grace_window_one_sibling_is_allowed_and_a_second_replay_revokes(t: TestDb) {
    let (family, t0) = family(&t).await;
    let (t1, t2, t3) = (hash("a"), hash("b"), hash("c"));
    assert_eq!(rotate(&t.db, &t0, &t1, 60).await, Rotation::Rotated);
    assert_eq!(rotate(&t.db, &t0, &t2, 60).await, Rotation::WithinGrace);
    assert!(!revoked(&t, family).await);
    let sibling =
        t.db.find_refresh(&t2)
            .await
            .expect("find")
            .expect("the sibling is stored");
    assert_eq!(sibling.family_id, family);
    assert_eq!(rotate(&t.db, &t0, &t3, 60).await, Rotation::Reused);
    assert!(revoked(&t, family).await);
    assert!(t.db.find_refresh(&t3).await.expect("find").is_none());
    assert_eq!(t.family_tokens(family).await.len(), 3);
}

async fn once_one_branch_of_a_fork_is_used_the_other_is_a_reuse(t: TestDb) {
    let (family, t0) = family(&t).await;
    let (a, b) = (hash("a"), hash("b"));
    assert_eq!(rotate(&t.db, &t0, &a, 60).await, Rotation::Rotated);
    assert_eq!(rotate(&t.db, &t0, &b, 60).await, Rotation::WithinGrace);
    let a2 = hash("a2");
    assert_eq!(rotate(&t.db, &a, &a2, 60).await, Rotation::Rotated);
    assert!(!revoked(&t, family).await);
    assert_eq!(rotate(&t.db, &b, &hash("b2"), 60).await, Rotation::Reused);
    assert!(revoked(&t, family).await);
    assert_eq!(rotate(&t.db, &a2, &hash("a3"), 60).await, Rotation::Invalid);
}

/// `n` parallel rotations of one fresh token per round, spread over `handles`; returns each
/// round's family, the successors it asked for and the outcomes.
async fn race_rotations(
    t: &TestDb,
    handles: &[Db],
    n: usize,
    grace: i64,
) -> (Uuid, Vec<String>, Vec<Rotation>) {
    let (family, t0) = family(t).await;
    let successors: Vec<String> = (0..n).map(|i| hash(&format!("next{i}"))).collect();
    let outcomes = race(n, |i| {
        let db = handles[i % handles.len()].clone();
        let (old, new) = (t0.clone(), successors[i].clone());
        async move { rotate(&db, &old, &new, grace).await }
    })
    .await;
    (family, successors, outcomes)
}

fn tally(outcomes: &[Rotation], which: Rotation) -> usize {
    outcomes.iter().filter(|o| **o == which).count()
}

async fn two_racing_strict_rotations_have_one_winner_and_the_loser_revokes(t: TestDb) {
    let handles = [t.db.clone(), t.twin().await];
    for round in 0..5 {
        let (family, successors, outcomes) = race_rotations(&t, &handles, 2, 0).await;
        assert_eq!(
            tally(&outcomes, Rotation::Rotated),
            1,
            "round {round}: {outcomes:?}"
        );
        assert_eq!(
            tally(&outcomes, Rotation::Reused),
            1,
            "round {round}: {outcomes:?}"
        );
        assert!(
            revoked(&t, family).await,
            "round {round}: the loser's reuse revokes"
        );
        let winner = outcomes
            .iter()
            .position(|o| *o == Rotation::Rotated)
            .expect("a winner");
        for (i, s) in successors.iter().enumerate() {
            let stored = t.db.find_refresh(s).await.expect("find").is_some();
            assert_eq!(
                stored,
                i == winner,
                "round {round}: only the winner's successor exists"
            );
        }
        assert_eq!(t.family_tokens(family).await.len(), 2, "round {round}");
    }
}

async fn two_racing_rotations_within_the_grace_window_give_two_live_successors(t: TestDb) {
    let handles = [t.db.clone(), t.twin().await];
    for round in 0..5 {
        let (family, successors, outcomes) = race_rotations(&t, &handles, 2, 60).await;
        assert_eq!(
            tally(&outcomes, Rotation::Rotated),
            1,
            "round {round}: {outcomes:?}"
        );
        assert_eq!(
            tally(&outcomes, Rotation::WithinGrace),
            1,
            "round {round}: {outcomes:?}"
        );
        assert!(!revoked(&t, family).await, "round {round}");
        for s in &successors {
            let found =
                t.db.find_refresh(s)
                    .await
                    .expect("find")
                    .expect("both are stored");
            assert_eq!(found.family_id, family);
            assert_eq!(found.rotated_at, None);
        }
        assert_eq!(t.family_tokens(family).await.len(), 3, "round {round}");
    }
}

async fn of_eight_racing_rotations_one_rotates_one_is_the_sibling_and_the_family_dies(t: TestDb) {
    let handles = [t.db.clone(), t.twin().await];
    for round in 0..3 {
        let (family, _, outcomes) = race_rotations(&t, &handles, 8, 60).await;
        assert_eq!(
            tally(&outcomes, Rotation::Rotated),
            1,
            "round {round}: {outcomes:?}"
        );
        assert_eq!(
            tally(&outcomes, Rotation::WithinGrace),
            1,
            "round {round}: {outcomes:?}"
        );
        // The third use is a reuse and revokes; uses that see the family revoked already are
        // invalid (on Postgres two may both have seen it live, and both answer Reused).
        let reused = tally(&outcomes, Rotation::Reused);
        assert!(reused >= 1, "round {round}: {outcomes:?}");
        assert_eq!(
            reused + tally(&outcomes, Rotation::Invalid),
            6,
            "round {round}"
        );
        assert!(revoked(&t, family).await, "round {round}");
        assert_eq!(
            t.family_tokens(family).await.len(),
            3,
            "round {round}: two successors"
        );
    }
}

crate::both_backends!(
    a_first_use_rotates_and_a_replay_revokes_the_family,
    within_the_grace_window_one_sibling_is_allowed_and_a_second_replay_revokes,
    once_one_branch_of_a_fork_is_used_the_other_is_a_reuse,
    two_racing_strict_rotations_have_one_winner_and_the_loser_revokes,
    two_racing_rotations_within_the_grace_window_give_two_live_successors,
    of_eight_racing_rotations_one_rotates_one_is_the_sibling_and_the_family_dies,
);
