//! Metadata, keys, health, and the headers every page carries.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn metadata_lists_every_endpoint_and_what_it_supports(app: TestApp) {
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let meta: Value = reqwest::get(app.url(path))
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(meta["issuer"], app.address);
        assert_eq!(meta["authorization_endpoint"], app.url("/oauth/authorize"));
        assert_eq!(meta["token_endpoint"], app.url("/oauth/token"));
        assert_eq!(meta["jwks_uri"], app.url("/.well-known/jwks.json"));
        let methods = meta["token_endpoint_auth_methods_supported"].to_string();
        assert!(methods.contains("client_secret_post") && methods.contains("client_secret_basic"));
        assert_eq!(
            meta["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
        // Every advertised endpoint exists.
        for key in ["authorization_endpoint", "jwks_uri"] {
            let resp = reqwest::get(meta[key].as_str().expect("url"))
                .await
                .expect("get");
            assert_ne!(resp.status(), StatusCode::NOT_FOUND, "{key}");
        }
    }
}

async fn the_jwks_publishes_an_es256_and_an_rs256_key_and_never_a_private_part(app: TestApp) {
    let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "{jwks}");
    let mut algs: Vec<&str> = keys
        .iter()
        .map(|k| k["alg"].as_str().expect("alg"))
        .collect();
    algs.sort();
    assert_eq!(algs, ["ES256", "RS256"]);
    for key in keys {
        assert_eq!(key["kty"], if key["alg"] == "ES256" { "EC" } else { "RSA" });
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "no private key material: {private}"
            );
        }
    }
}

async fn health_and_readiness_answer(app: TestApp) {
    assert_eq!(
        reqwest::get(app.url("/healthz"))
            .await
            .expect("get")
            .status(),
        StatusCode::OK
    );
    let ready: Value = reqwest::get(app.url("/readyz"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["database"],
        match app.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );
}

async fn the_signing_key_survives_a_restart(app: TestApp) {
    let before: Value = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let again = gptauth::store::Db::connect(&app.database_url)
        .await
        .expect("connect");
    let keys = gptauth::tokens::Keys::load_or_create(&again, 3600, Default::default())
        .await
        .expect("keys");
    let published: Vec<&str> = before["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid"))
        .collect();
    let current = keys.current();
    for alg in gptauth::tokens::SIGNING_ALGORITHMS {
        let kid = current.signer(alg).expect("signer").kid.as_str();
        assert!(published.contains(&kid), "loaded, not regenerated: {kid}");
    }
}

crate::both_backends!(
    metadata_lists_every_endpoint_and_what_it_supports,
    the_jwks_publishes_an_es256_and_an_rs256_key_and_never_a_private_part,
    health_and_readiness_answer,
    the_signing_key_survives_a_restart
);
