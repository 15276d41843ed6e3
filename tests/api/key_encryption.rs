//! Private signing keys are encrypted at rest with the operator's key-encryption key: the
//! database holds no usable key, a server without the key refuses to start, and the key can be
//! rotated.

use std::collections::HashMap;
use std::net::TcpListener;

use crate::helpers::*;
use gptauth::Application;
use gptauth::config::Config;
use gptauth::store::Db;

const KEK: &str = "the operator's key-encryption key, 32+ characters";
const NEXT_KEK: &str = "the next key-encryption key, also 32+ characters";

/// Starts (and at once drops) a server on `database_url` with `overrides`: the start-up's error
/// text, if it failed.
async fn start(database_url: &str, overrides: &[(&str, &str)]) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".to_string(), database_url.to_string()),
        ("RUST_LOG".to_string(), "warn".to_string()),
    ]);
    for (k, v) in overrides {
        env.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_lookup(|k| env.get(k).cloned()).map_err(|e| e.to_string())?;
    let db = Db::connect(&config.database_url).await.expect("connect");
    let built = Application::build_with(config, db.clone(), listener).await;
    db.close().await;
    built.map(|_| ()).map_err(|e| e.to_string())
}

/// The stored private halves.
async fn stored_private_keys(app: &TestApp) -> Vec<Vec<u8>> {
    app.db
        .signing_keys()
        .await
        .expect("keys")
        .into_iter()
        .map(|k| k.private_der)
        .collect()
}

fn all_sealed(keys: &[Vec<u8>]) -> bool {
    !keys.is_empty()
        && keys
            .iter()
            .all(|k| gptauth::tokens::sealing::is_sealed(k) && k[0] != 0x30)
}

async fn signing_keys_are_stored_encrypted_and_still_sign(app: TestApp) {
    let keys = stored_private_keys(&app).await;
    assert!(all_sealed(&keys), "no plain DER in the database");
    // Tokens are signed with them and verify against the JWKS.
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    app.verify_jwt(tokens["access_token"].as_str().expect("at"))
        .await;
    // A second instance without the key, or with another one, does not start.
    let missing = start(&app.database_url, &[])
        .await
        .expect_err("no key: no start");
    assert!(missing.contains("GPTAUTH_KEY_ENCRYPTION_KEY"), "{missing}");
    let wrong = start(
        &app.database_url,
        &[("GPTAUTH_KEY_ENCRYPTION_KEY", NEXT_KEK)],
    )
    .await
    .expect_err("wrong key: no start");
    assert!(
        wrong.contains("GPTAUTH_KEY_ENCRYPTION_KEY_PREVIOUS"),
        "{wrong}"
    );
    // `keys rotate` without the key refuses, rather than adding a plain key.
    let out = crate::cli::gptauth(&app, &["keys", "rotate"], None);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("GPTAUTH_KEY_ENCRYPTION_KEY"));
    assert_eq!(
        stored_private_keys(&app).await.len(),
        keys.len(),
        "nothing added"
    );
}

async fn the_key_encryption_key_can_be_rotated(app: TestApp) {
    let before = stored_private_keys(&app).await;
    start(
        &app.database_url,
        &[
            ("GPTAUTH_KEY_ENCRYPTION_KEY", NEXT_KEK),
            ("GPTAUTH_KEY_ENCRYPTION_KEY_PREVIOUS", KEK),
        ],
    )
    .await
    .expect("the new key with the old one as previous");
    let after = stored_private_keys(&app).await;
    assert!(all_sealed(&after));
    assert_ne!(before, after, "re-encrypted under the new key");
    start(
        &app.database_url,
        &[("GPTAUTH_KEY_ENCRYPTION_KEY", NEXT_KEK)],
    )
    .await
    .expect("the new key alone now");
    let old = start(&app.database_url, &[("GPTAUTH_KEY_ENCRYPTION_KEY", KEK)])
        .await
        .expect_err("the old key opens nothing now");
    assert!(old.contains("was not given"), "{old}");
    // The running server (still holding the opened keys) keeps signing.
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    app.verify_jwt(tokens["access_token"].as_str().expect("at"))
        .await;
}

crate::both_backends_with!(
    &[("GPTAUTH_KEY_ENCRYPTION_KEY", KEK)];
    signing_keys_are_stored_encrypted_and_still_sign, the_key_encryption_key_can_be_rotated,
);

async fn plain_keys_are_encrypted_once_a_key_encryption_key_is_given(app: TestApp) {
    assert!(
        stored_private_keys(&app).await.iter().all(|k| k[0] == 0x30),
        "plain without a key"
    );
    start(&app.database_url, &[("GPTAUTH_KEY_ENCRYPTION_KEY", KEK)])
        .await
        .expect("start with a key");
    assert!(all_sealed(&stored_private_keys(&app).await));
}

crate::both_backends!(plain_keys_are_encrypted_once_a_key_encryption_key_is_given);

#[test]
fn a_short_key_encryption_key_is_refused() {
    let err =
        Config::from_lookup(|k| (k == "GPTAUTH_KEY_ENCRYPTION_KEY").then(|| "short".to_string()))
            .expect_err("too short");
    assert_eq!(err.var, "GPTAUTH_KEY_ENCRYPTION_KEY");
    let dir = std::env::temp_dir().join(format!("gptauth-kek-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("kek");
    std::fs::write(&file, format!("{KEK}\n")).expect("write");
    let path = file.display().to_string();
    let config =
        Config::from_lookup(|k| (k == "GPTAUTH_KEY_ENCRYPTION_KEY_FILE").then(|| path.clone()))
            .expect("from a file");
    assert_eq!(
        config.key_encryption_key.as_ref().map(|s| s.expose()),
        Some(KEK),
        "one trailing newline dropped"
    );
    assert_eq!(
        format!("{:?}", config.key_encryption_key),
        "Some(***)",
        "never printed"
    );
}
