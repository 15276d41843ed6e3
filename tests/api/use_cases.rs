//! The client and user use cases behave the same from every adapter: what the CLI does obeys
//! the portal's rules and lands in the audit trail.

use serde_json::Value;

use crate::cli::gptauth;
use crate::helpers::*;

fn ok_json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

fn kinds_by_operator(app: &TestApp) -> Vec<String> {
    let events = ok_json(&gptauth(app, &["audit", "--json"], None));
    events
        .as_array()
        .expect("an array")
        .iter()
        .filter(|e| e["detail"] == "by an operator")
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn the_clis_client_changes_are_audited(app: TestApp) {
    let client = ok_json(&gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            CHATGPT_OPENAI,
            "--json",
        ],
        None,
    ));
    let id = client["client_id"].as_str().expect("id").to_string();
    assert!(
        gptauth(&app, &["client", "rotate-secret", &id], None)
            .status
            .success()
    );
    assert!(
        gptauth(&app, &["client", "add-redirect", &id, CHATGPT_COM], None)
            .status
            .success()
    );
    assert!(
        gptauth(&app, &["client", "delete", &id], None)
            .status
            .success()
    );
    let kinds = kinds_by_operator(&app);
    for kind in [
        "client_created",
        "client_secret_rotated",
        "client_redirects_changed",
        "client_deleted",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing from {kinds:?}"
        );
    }
}

async fn a_client_the_cli_creates_obeys_the_portals_redirect_limit(app: TestApp) {
    let uris: Vec<String> = (0..21)
        .map(|i| format!("https://example.com/cb{i}"))
        .collect();
    let mut args = vec!["client", "create", "--name", "X"];
    for uri in &uris {
        args.extend(["--redirect-uri", uri.as_str()]);
    }
    let out = gptauth(&app, &args, None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 20 redirect URIs"));
    let clients = ok_json(&gptauth(&app, &["client", "list", "--json"], None));
    assert_eq!(clients, serde_json::json!([]));
}

async fn the_cli_does_not_remove_a_clients_last_redirect_uri(app: TestApp) {
    let client = ok_json(&gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            CHATGPT_OPENAI,
            "--json",
        ],
        None,
    ));
    let id = client["client_id"].as_str().expect("id");
    let out = gptauth(
        &app,
        &["client", "remove-redirect", id, CHATGPT_OPENAI],
        None,
    );
    assert!(!out.status.success());
    let shown = ok_json(&gptauth(&app, &["client", "show", id, "--json"], None));
    assert_eq!(shown["redirect_uris"], serde_json::json!([CHATGPT_OPENAI]));
}

async fn the_clis_user_changes_are_audited(app: TestApp) {
    let created = ok_json(&gptauth(
        &app,
        &[
            "user",
            "create",
            "--email",
            "grace@example.com",
            "--name",
            "Grace",
            "--password-stdin",
            "--json",
        ],
        Some(PASSWORD),
    ));
    let id = created["id"].as_str().expect("id").to_string();
    assert!(
        gptauth(
            &app,
            &["user", "disable", "--email", "grace@example.com"],
            None
        )
        .status
        .success()
    );
    let events = ok_json(&gptauth(&app, &["audit", "--json"], None));
    let of_grace: Vec<&str> = events
        .as_array()
        .expect("an array")
        .iter()
        .filter(|e| e["user_id"] == id.as_str())
        .map(|e| e["kind"].as_str().unwrap_or_default())
        .collect();
    assert!(of_grace.contains(&"user_created"), "{events}");
    assert!(of_grace.contains(&"user_disabled"), "{events}");
    // The same name rule as sign-up's: at most 100 characters.
    let long = "x".repeat(101);
    let out = gptauth(
        &app,
        &[
            "user",
            "create",
            "--email",
            "long@example.com",
            "--name",
            &long,
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert!(!out.status.success());
    assert!(
        app.db
            .user_by_email("long@example.com")
            .await
            .expect("query")
            .is_none()
    );
}

crate::both_backends!(
    the_clis_user_changes_are_audited,
    the_clis_client_changes_are_audited,
    a_client_the_cli_creates_obeys_the_portals_redirect_limit,
    the_cli_does_not_remove_a_clients_last_redirect_uri,
);
