//! ChatGPT apps: a client ID metadata document declaring `private_key_jwt` with a `jwks_uri`,
//! and token, revocation and introspection requests authenticated with signed assertions
//! (RFC 7523 §2.2). The document and the JWK Set are served by the test on 127.0.0.1, and the
//! assertions are signed with keys the test made.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client_metadata::{Publisher, pkce_pair};
use crate::helpers::*;

const SETTINGS: &[(&str, &str)] = &[
    ("GPTAUTH_CLIENT_METADATA_ALLOW_INSECURE_LOOPBACK", "true"),
    ("GPTAUTH_RESOURCES", RESOURCE),
];
const RESOURCE: &str = "https://mcp.example.com/mcp";
const DOC_PATH: &str = "/oauth/6f1c2e9a/client.json";
const JWKS_PATH: &str = "/oauth/jwks.json";
const CALLBACK: &str = "https://chatgpt.com/connector/oauth/6f1c2e9a";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A signing key of the test's, with the public half as a JWK.
struct Key {
    kid: String,
    alg: Algorithm,
    private: EncodingKey,
    public: Value,
}

impl Key {
    fn new(kid: &str, alg: Algorithm) -> Self {
        let record = gptauth::tokens::generate(alg).expect("a key");
        let private = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_der(&record.private_der),
            _ => EncodingKey::from_ec_der(&record.private_der),
        };
        let mut public: Value = serde_json::from_str(&record.public_jwk).expect("jwk");
        public["kid"] = json!(kid);
        Key {
            kid: kid.to_string(),
            alg,
            private,
            public,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.private).expect("signed")
    }
}

/// ChatGPT, as it presents itself: its document (exactly the published shape, on loopback) and
/// its key set.
struct ChatGpt {
    publisher: Publisher,
    id: String,
    key: Key,
}

impl ChatGpt {
    async fn start() -> Self {
        let publisher = Publisher::start().await;
        let id = publisher.url(DOC_PATH);
        let key = Key::new("chatgpt-2026-01", Algorithm::RS256);
        let chatgpt = ChatGpt { publisher, id, key };
        let doc = chatgpt.document();
        chatgpt
            .publisher
            .document(DOC_PATH, &doc, Some("max-age=3600"));
        chatgpt.publish_keys(&[&chatgpt.key]);
        chatgpt
    }

    fn document(&self) -> Value {
        json!({
            "client_id": self.id, "client_uri": "https://chatgpt.com/",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "client_name": "ChatGPT",
            "logo_uri": "https://persistent.oaistatic.com/sonic/misc/openai-logo.png",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "token_endpoint_auth_signing_alg": "RS256", "jwks_uri": self.publisher.url(JWKS_PATH),
        })
    }

    fn publish_keys(&self, keys: &[&Key]) {
        let set = json!({ "keys": keys.iter().map(|k| k.public.clone()).collect::<Vec<_>>() });
        self.publisher
            .document(JWKS_PATH, &set, Some("max-age=3600"));
    }

    /// Claims as ChatGPT would send them to `app`'s token endpoint.
    fn claims(&self, app: &TestApp) -> Value {
        let now = app.now();
        json!({
            "iss": self.id, "sub": self.id, "aud": app.url("/oauth/token"),
            "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
        })
    }

    fn assertion(&self, app: &TestApp) -> String {
        self.key.sign(&self.claims(app))
    }

    /// Signs in as ada through the popup, with PKCE and a resource; the code and its verifier.
    async fn code(&self, app: &TestApp) -> (String, String) {
        code_for(app, &self.id, CALLBACK).await
    }
}

/// Signs in as ada through the popup for `client_id`, with PKCE, a resource and
/// offline_access; the code and its verifier.
async fn code_for(app: &TestApp, client_id: &str, redirect_uri: &str) -> (String, String) {
    code_as(app, &browser(), "ada@example.com", client_id, redirect_uri).await
}

/// `code_for`, as `email` in `browser`.
async fn code_as(
    app: &TestApp,
    browser: &reqwest::Client,
    email: &str,
    client_id: &str,
    redirect_uri: &str,
) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let client = TestClient {
        id: client_id.to_string(),
        secret: String::new(),
    };
    let url = app.authorize_url_with(
        &client,
        redirect_uri,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
            // MCP clients ask for offline_access when it is listed.
            ("scope", "openid profile offline_access"),
        ],
    );
    let callback = app.sign_in(browser, &url, email, PASSWORD).await;
    assert!(
        callback.url.as_str().starts_with(redirect_uri),
        "{}",
        callback.url
    );
    (callback.code(), verifier)
}

/// An assertion for `client_id` at `app`'s token endpoint, signed with `key`.
fn assertion_for(app: &TestApp, client_id: &str, key: &Key) -> String {
    let now = app.now();
    key.sign(&json!({
        "iss": client_id, "sub": client_id, "aud": app.url("/oauth/token"),
        "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
    }))
}

/// Code exchange then refresh for an issued `client_id` that signs with `key`; also checks
/// that its bare client_id is refused.
async fn code_and_refresh_with_assertions(app: &TestApp, client_id: &str, key: &Key) {
    let (code, verifier) = code_for(app, client_id, CALLBACK).await;
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
    ];
    let mut bare = base.to_vec();
    bare.push(("client_id", client_id));
    let (status, body) = app.token_raw(None, &bare).await;
    assert_invalid_client(status, &body, "private_key_jwt", "a bare client_id");
    let assertion = assertion_for(app, client_id, key);
    let mut signed = base.to_vec();
    signed.extend([
        ("client_id", client_id),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion.as_str()),
    ]);
    let (status, tokens) = app.token_raw(None, &signed).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        app.verify_jwt_for(tokens["access_token"].as_str().expect("at"), RESOURCE)
            .await["client_id"],
        client_id
    );
    let (status, refreshed) = refresh(
        app,
        tokens["refresh_token"].as_str().expect("rt"),
        &assertion_for(app, client_id, key),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
}

fn gptauth(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gptauth"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("GPTAUTH_ISSUER", &app.address)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run gptauth")
}

fn json_out(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// The code grant with `assertion` (or none) as the client authentication.
async fn exchange(
    app: &TestApp,
    chatgpt: &ChatGpt,
    code: &str,
    verifier: &str,
    assertion: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
        ("resource", RESOURCE),
    ];
    match assertion {
        Some(a) => form.extend([
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", a),
        ]),
        None => form.push(("client_id", &chatgpt.id)),
    }
    app.token_raw(None, &form).await
}

async fn refresh(app: &TestApp, refresh_token: &str, assertion: &str) -> (StatusCode, Value) {
    app.token_raw(
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await
}

fn assert_invalid_client(status: StatusCode, body: &Value, needle: &str, case: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{case}: {body}"
    );
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(needle),
        "{case}: the description should say {needle:?}: {body}"
    );
}

/// An unsigned JWT (`alg: none`).
fn unsigned(claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

async fn metadata_advertises_private_key_jwt_its_algorithms_and_offline_access(app: TestApp) {
    let meta: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    for key in [
        "token_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
    ] {
        assert!(
            meta[key]
                .as_array()
                .expect(key)
                .contains(&json!("private_key_jwt")),
            "{key}: {meta}"
        );
    }
    for key in [
        "token_endpoint_auth_signing_alg_values_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
    ] {
        assert_eq!(
            meta[key],
            json!(["RS256", "PS256", "ES256", "EdDSA"]),
            "{key}"
        );
    }
    assert!(
        meta["scopes_supported"]
            .as_array()
            .expect("scopes")
            .contains(&json!("offline_access"))
    );
}

async fn chatgpt_connects_with_its_document_and_signed_assertions_from_code_to_refresh(
    app: TestApp,
) {
    app.user("ada@example.com").await;
    let chatgpt = ChatGpt::start().await;
    let (code, verifier) = chatgpt.code(&app).await;

    // It registered private_key_jwt: its bare client_id authenticates nothing.
    let (status, body) = exchange(&app, &chatgpt, &code, &verifier, None).await;
    assert_invalid_client(status, &body, "private_key_jwt", "a bare client_id");

    let (status, tokens) = exchange(
        &app,
        &chatgpt,
        &code,
        &verifier,
        Some(&chatgpt.assertion(&app)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = app
        .verify_jwt_for(tokens["access_token"].as_str().expect("at"), RESOURCE)
        .await;
    assert_eq!(claims["client_id"], chatgpt.id.as_str());
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(
        claims["scope"], "openid profile",
        "offline_access meant the refresh token"
    );
    let rt = tokens["refresh_token"].as_str().expect("a refresh token");

    // Refresh: the issuer as aud, in an array, and client_id named too.
    let mut claims = chatgpt.claims(&app);
    claims["aud"] = json!(["https://elsewhere.example", app.address]);
    let (status, refreshed) = app
        .token_raw(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("client_id", &chatgpt.id),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &chatgpt.key.sign(&claims)),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_ne!(
        refreshed["refresh_token"], tokens["refresh_token"],
        "rotated"
    );
    let rt = refreshed["refresh_token"].as_str().expect("rt");

    // A bare client_id cannot refresh either, nor can a secret.
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("client_id", &chatgpt.id),
            ],
        )
        .await;
    assert_invalid_client(
        status,
        &body,
        "private_key_jwt",
        "a bare client_id on refresh",
    );
    let (status, body) = app
        .token_raw(
            Some((&chatgpt.id, "guessed")),
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );

    // Introspection and revocation take the same authentication, and only it.
    let at = refreshed["access_token"].as_str().expect("at");
    let (status, body) = app
        .post_as(
            "/oauth/introspect",
            None,
            &[("token", at), ("client_id", &chatgpt.id)],
        )
        .await;
    assert_invalid_client(
        status,
        &body,
        "private_key_jwt",
        "a bare client_id at introspection",
    );
    let mut claims = chatgpt.claims(&app);
    claims["aud"] = json!(app.url("/oauth/introspect"));
    let (status, body) = app
        .post_as(
            "/oauth/introspect",
            None,
            &[
                ("token", at),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &chatgpt.key.sign(&claims)),
            ],
        )
        .await;
    assert_eq!(
        (status, &body["active"]),
        (StatusCode::OK, &json!(true)),
        "{body}"
    );
    let (status, body) = app
        .post_as(
            "/oauth/revoke",
            None,
            &[
                ("token", rt),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &chatgpt.assertion(&app)),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = refresh(&app, rt, &chatgpt.assertion(&app)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "revoked: {body}"
    );

    // One fetch of each for all of the above.
    assert_eq!(chatgpt.publisher.hits(DOC_PATH), 1);
    assert_eq!(chatgpt.publisher.hits(JWKS_PATH), 1);
}

async fn one_chatgpt_client_id_serves_many_people_and_each_disconnects_only_themselves(
    app: TestApp,
) {
    app.user("ada@example.com").await;
    app.user("bob@example.com").await;
    let chatgpt = ChatGpt::start().await;
    let (ada_browser, bob_browser) = (browser(), browser());
    let mut tokens = Vec::new();
    for (who, b) in [
        ("ada@example.com", &ada_browser),
        ("bob@example.com", &bob_browser),
    ] {
        let (code, verifier) = code_as(&app, b, who, &chatgpt.id, CALLBACK).await;
        let (status, t) = exchange(
            &app,
            &chatgpt,
            &code,
            &verifier,
            Some(&chatgpt.assertion(&app)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{who}: {t}");
        tokens.push(t["refresh_token"].as_str().expect("rt").to_string());
    }
    // ChatGPT revokes ada's refresh token: bob's still works.
    let (status, body) = app
        .post_as(
            "/oauth/revoke",
            None,
            &[
                ("token", &tokens[0]),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &chatgpt.assertion(&app)),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = refresh(&app, &tokens[0], &chatgpt.assertion(&app)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "ada's grant is gone");
    let (status, refreshed) = refresh(&app, &tokens[1], &chatgpt.assertion(&app)).await;
    assert_eq!(status, StatusCode::OK, "bob's is not: {refreshed}");

    // Bob disconnects ChatGPT on /account: his grant ends; ada's new one does not.
    let (code, verifier) =
        code_as(&app, &ada_browser, "ada@example.com", &chatgpt.id, CALLBACK).await;
    let (status, ada) = exchange(
        &app,
        &chatgpt,
        &code,
        &verifier,
        Some(&chatgpt.assertion(&app)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ada}");
    let (_, _, page) = app.get(&bob_browser, &app.url("/account")).await;
    let (status, _, _) = app
        .post_form(
            &bob_browser,
            &app.url("/account/disconnect"),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("client_id", &chatgpt.id),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = refresh(
        &app,
        refreshed["refresh_token"].as_str().expect("rt"),
        &chatgpt.assertion(&app),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "bob's grant is gone");
    let (status, body) = refresh(
        &app,
        ada["refresh_token"].as_str().expect("rt"),
        &chatgpt.assertion(&app),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "ada's is not: {body}");
}

async fn forged_expired_misaddressed_and_replayed_assertions_are_refused(app: TestApp) {
    app.user("ada@example.com").await;
    let chatgpt = ChatGpt::start().await;
    let (code, verifier) = chatgpt.code(&app).await;
    let now = app.now();
    let with = |field: &str, value: Value| {
        let mut claims = chatgpt.claims(&app);
        claims[field] = value;
        chatgpt.key.sign(&claims)
    };
    let without = |field: &str| {
        let mut claims = chatgpt.claims(&app);
        claims.as_object_mut().expect("object").remove(field);
        chatgpt.key.sign(&claims)
    };
    // Someone else's key, under ChatGPT's kid.
    let mut foreign = Key::new("chatgpt-2026-01", Algorithm::RS256);
    let forged = foreign.sign(&chatgpt.claims(&app));
    // HMAC keyed with ChatGPT's public key, which anyone can read.
    let public_key = chatgpt.key.public.to_string();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(chatgpt.key.kid.clone());
    let hmac = jsonwebtoken::encode(
        &hs_header,
        &chatgpt.claims(&app),
        &EncodingKey::from_secret(public_key.as_bytes()).expect("hmac key"),
    )
    .expect("hs256");
    foreign.kid = "somebody-else".into();
    let unknown_kid = foreign.sign(&chatgpt.claims(&app));
    let mut other_client = chatgpt.claims(&app);
    other_client["iss"] = json!("https://evil.example/client.json");
    other_client["sub"] = json!("https://evil.example/client.json");
    let cases: Vec<(&str, String, &str)> = vec![
        ("a foreign key", forged, "signature"),
        ("alg none", unsigned(&chatgpt.claims(&app)), "alg"),
        ("HS256 keyed with the public key", hmac, "alg"),
        ("an unknown kid", unknown_kid, "no key"),
        ("expired", with("exp", json!(now - 300)), "expired"),
        ("no exp", without("exp"), "exp"),
        (
            "a long lifetime",
            with("exp", json!(now + 3600)),
            "too far ahead",
        ),
        ("a future iat", with("iat", json!(now + 240)), "future"),
        ("a future nbf", with("nbf", json!(now + 240)), "future"),
        (
            "a wrong aud",
            with("aud", json!("https://evil.example/oauth/token")),
            "aud",
        ),
        ("no aud", without("aud"), "aud"),
        (
            "a wrong iss",
            with("iss", json!("https://evil.example/client.json")),
            "iss and sub",
        ),
        (
            "a wrong sub",
            with("sub", json!("https://evil.example/client.json")),
            "iss and sub",
        ),
        ("no jti", without("jti"), "jti"),
        // Taken for that client's (there is no client_id to hold it to): nobody signed in
        // with it, so it is refused without fetching anything.
        (
            "another client's claims",
            chatgpt.key.sign(&other_client),
            "unknown client",
        ),
    ];
    for (case, assertion, needle) in &cases {
        let (status, body) = exchange(&app, &chatgpt, &code, &verifier, Some(assertion)).await;
        assert_invalid_client(status, &body, needle, case);
    }
    // Naming another client_id than the assertion's is refused too.
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                ("client_id", "https://evil.example/client.json"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &chatgpt.assertion(&app)),
            ],
        )
        .await;
    assert_invalid_client(status, &body, "iss and sub", "a mismatched client_id");
    // A wrong assertion type, and an assertion beside a secret.
    let good = chatgpt.assertion(&app);
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
                ),
                ("client_assertion", &good),
            ],
        )
        .await;
    assert_invalid_client(
        status,
        &body,
        "client_assertion_type",
        "a SAML assertion type",
    );
    let (status, body) = app
        .token_raw(
            Some((&chatgpt.id, "x")),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &good),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );

    // None of that used up the code: the real assertion works, once.
    let (status, tokens) = exchange(&app, &chatgpt, &code, &verifier, Some(&good)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (status, body) = refresh(&app, tokens["refresh_token"].as_str().expect("rt"), &good).await;
    assert_invalid_client(status, &body, "used before", "a replayed jti");
    // The key set was fetched once: the unknown kid came too soon after it to fetch again.
    assert_eq!(chatgpt.publisher.hits(JWKS_PATH), 1);
}

async fn an_unknown_kid_is_refused_until_the_jwks_rotates_to_it_and_a_removed_key_stops_working(
    app: TestApp,
) {
    app.user("ada@example.com").await;
    let chatgpt = ChatGpt::start().await;
    let (code, verifier) = chatgpt.code(&app).await;
    let (status, tokens) = exchange(
        &app,
        &chatgpt,
        &code,
        &verifier,
        Some(&chatgpt.assertion(&app)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let next = Key::new("chatgpt-2026-02", Algorithm::ES256);

    // Before the rotation: the new kid is not in the set.
    let (status, body) = refresh(
        &app,
        tokens["refresh_token"].as_str().expect("rt"),
        &next.sign(&chatgpt.claims(&app)),
    )
    .await;
    assert_invalid_client(status, &body, "no key", "a kid not published yet");

    // ChatGPT rotates: the old key is gone, the new one published. Once the refetch interval
    // has passed, the unknown kid fetches the set again.
    chatgpt.publish_keys(&[&next]);
    tokio::time::sleep(gptauth::client_metadata::REFETCH_INTERVAL + Duration::from_secs(1)).await;
    let (status, refreshed) = refresh(
        &app,
        tokens["refresh_token"].as_str().expect("rt"),
        &next.sign(&chatgpt.claims(&app)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(chatgpt.publisher.hits(JWKS_PATH), 2);

    // The removed key no longer authenticates.
    let (status, body) = refresh(
        &app,
        refreshed["refresh_token"].as_str().expect("rt"),
        &chatgpt.assertion(&app),
    )
    .await;
    assert_invalid_client(status, &body, "no key", "a key removed from the set");
}

async fn a_dynamically_registered_private_key_jwt_client_signs_its_token_requests(app: TestApp) {
    app.user("ada@example.com").await;
    let key = Key::new("mcp-1", Algorithm::ES256);
    let url = app.url("/oauth/register");
    let register = |body: Value| {
        let url = url.clone();
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("register");
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, client) = register(json!({
        "client_name": "MCP host", "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": { "keys": [key.public] },
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    assert_eq!(client["token_endpoint_auth_method"], "private_key_jwt");
    assert!(
        client.get("client_secret").is_none(),
        "it signs instead: {client}"
    );
    assert_eq!(client["jwks"]["keys"][0]["kid"], "mcp-1");
    let id = client["client_id"].as_str().expect("client_id").to_string();
    code_and_refresh_with_assertions(&app, &id, &key).await;

    // Keys are required, public only, and a jwks_uri must be https.
    let mut private = key.public.clone();
    private["d"] = json!("c2VjcmV0");
    for (body, needle) in [
        (
            json!({
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": { "keys": [private] },
            }),
            "private key",
        ),
        (
            json!({
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "http://keys.example/jwks.json",
            }),
            "https",
        ),
        (
            json!({ "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "private_key_jwt" }),
            "jwks_uri or a jwks",
        ),
    ] {
        let (status, answer) = register(body.clone()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_client_metadata")),
            "{body}"
        );
        assert!(
            answer["error_description"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{needle}: {answer}"
        );
    }

    // Keys on a private address are never fetched (the test flag permits plain http on
    // 127.0.0.1 only): such a client cannot authenticate.
    for private in [
        "https://10.1.2.3/jwks.json",
        "https://127.0.0.1/jwks.json",
        "https://169.254.169.254/jwks.json",
    ] {
        let (status, client) = register(json!({
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": private,
        }))
        .await;
        assert_eq!(status, StatusCode::CREATED, "{client}");
        let id = client["client_id"].as_str().expect("client_id");
        let (status, body) = app
            .post_as(
                "/oauth/revoke",
                None,
                &[
                    ("token", "x"),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion_for(&app, id, &key)),
                ],
            )
            .await;
        assert_invalid_client(status, &body, "not a public address", private);
    }
}

async fn an_operator_client_created_with_jwks_file_or_jwks_uri_signs_its_token_requests(
    app: TestApp,
) {
    app.user("ada@example.com").await;
    let key = Key::new("operator-1", Algorithm::RS256);
    let dir = std::env::temp_dir().join(format!("gptauth-jwks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("jwks.json");
    std::fs::write(&file, json!({ "keys": [key.public] }).to_string()).expect("write jwks");
    let client = json_out(&gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "Signed",
            "--redirect-uri",
            CALLBACK,
            "--jwks-file",
            file.to_str().expect("path"),
            "--json",
        ],
    ));
    assert!(client.get("client_secret").is_none(), "{client}");
    assert_eq!(
        client["token_endpoint_auth_methods"],
        json!(["private_key_jwt"])
    );
    code_and_refresh_with_assertions(&app, client["client_id"].as_str().expect("id"), &key).await;

    let publisher = Publisher::start().await;
    let other = Key::new("operator-2", Algorithm::ES256);
    publisher.document("/keys.json", &json!({ "keys": [other.public] }), None);
    let client = json_out(&gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "Published keys",
            "--redirect-uri",
            CALLBACK,
            "--jwks-uri",
            &publisher.url("/keys.json"),
            "--json",
        ],
    ));
    assert_eq!(client["jwks_uri"], publisher.url("/keys.json"));
    code_and_refresh_with_assertions(&app, client["client_id"].as_str().expect("id"), &other).await;
    assert_eq!(publisher.hits("/keys.json"), 1);

    // What cannot work is refused before anything is stored.
    std::fs::write(&file, "{\"keys\": []}").expect("write");
    let out = gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            CALLBACK,
            "--jwks-file",
            file.to_str().expect("path"),
        ],
    );
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--jwks-file"),
        "{out:?}"
    );
    let out = gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            CALLBACK,
            "--jwks-uri",
            "https://k.example/j",
            "--public",
        ],
    );
    assert!(!out.status.success(), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn a_document_naming_keys_on_another_host_or_only_unsupported_methods_is_refused(
    app: TestApp,
) {
    let chatgpt = ChatGpt::start().await;
    let port = chatgpt
        .publisher
        .base
        .rsplit(':')
        .next()
        .expect("port")
        .to_string();
    let page = |app: &TestApp| {
        let (_, challenge) = pkce_pair();
        app.authorize_url_with(
            &TestClient {
                id: chatgpt.id.clone(),
                secret: String::new(),
            },
            CALLBACK,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
    };
    for (jwks_uri, case) in [
        (
            format!("http://localhost:{port}{JWKS_PATH}"),
            "another host",
        ),
        (
            "https://chatgpt.com/oauth/jwks.json".to_string(),
            "ChatGPT's real keys",
        ),
        (format!("http://127.0.0.1:1{JWKS_PATH}"), "another port"),
    ] {
        let mut doc = chatgpt.document();
        doc["jwks_uri"] = json!(jwks_uri);
        chatgpt.publisher.document(DOC_PATH, &doc, Some("no-store"));
        let (status, location, body) = app.get(&browser(), &page(&app)).await;
        assert_eq!(
            (status, location),
            (StatusCode::BAD_REQUEST, None),
            "{case}: {body}"
        );
        assert!(
            body.contains("jwks_uri must be an https URL on the document"),
            "{case}: {body}"
        );
        expire(&app, &chatgpt.id).await;
    }
    let mut doc = chatgpt.document();
    doc["token_endpoint_auth_method"] = json!("tls_client_auth");
    doc["token_endpoint_auth_methods_supported"] =
        json!(["tls_client_auth", "client_secret_basic"]);
    chatgpt.publisher.document(DOC_PATH, &doc, Some("no-store"));
    let (status, _, body) = app.get(&browser(), &page(&app)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("accepts only") && body.contains("private_key_jwt"),
        "{body}"
    );
    assert!(
        body.contains("tls_client_auth"),
        "the page names what the document asked for: {body}"
    );
}

crate::both_backends_with!(
    SETTINGS;
    metadata_advertises_private_key_jwt_its_algorithms_and_offline_access,
    chatgpt_connects_with_its_document_and_signed_assertions_from_code_to_refresh,
    one_chatgpt_client_id_serves_many_people_and_each_disconnects_only_themselves,
    forged_expired_misaddressed_and_replayed_assertions_are_refused,
    an_unknown_kid_is_refused_until_the_jwks_rotates_to_it_and_a_removed_key_stops_working,
    a_dynamically_registered_private_key_jwt_client_signs_its_token_requests,
    an_operator_client_created_with_jwks_file_or_jwks_uri_signs_its_token_requests,
    a_document_naming_keys_on_another_host_or_only_unsupported_methods_is_refused,
);

/// Makes the stored copy of a document, if there is one, stale: the server's clock moves past
/// its lifetime.
async fn expire(app: &TestApp, id: &str) {
    let stored = app.db.client(id).await.expect("query");
    if let Some(until) = stored.and_then(|c| c.metadata_expires_at) {
        app.advance((until - app.now()).max(0) + 1);
    }
}

/// Two instances on one Postgres: an assertion used at one is refused at the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jti_used_at_one_instance_is_refused_at_another() {
    let Some(a) = spawn_app(Backend::Postgres, SETTINGS).await else {
        return;
    };
    let mut twin_settings = vec![("GPTAUTH_ISSUER", a.address.as_str())];
    twin_settings.extend_from_slice(SETTINGS);
    let b = spawn_app_on(Backend::Postgres, &a.database_url, &twin_settings).await;
    a.user("ada@example.com").await;
    let chatgpt = ChatGpt::start().await;
    let (code, verifier) = chatgpt.code(&a).await;
    let assertion = chatgpt.assertion(&a);
    let (status, tokens) = exchange(&a, &chatgpt, &code, &verifier, Some(&assertion)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (status, body) = refresh(
        &b,
        tokens["refresh_token"].as_str().expect("rt"),
        &assertion,
    )
    .await;
    assert_invalid_client(status, &body, "used before", "a jti replayed at the twin");
    let (status, body) = refresh(
        &b,
        tokens["refresh_token"].as_str().expect("rt"),
        &chatgpt.assertion(&a),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a fresh assertion works at the twin: {body}"
    );
}

/// Without the test flag, a key set on 127.0.0.1 is never fetched, even though the client's
/// assertion is otherwise perfect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_test_flag_a_loopback_jwks_uri_is_never_fetched() {
    let app = spawn_app(Backend::Sqlite, &[]).await.expect("app");
    let publisher = Publisher::start().await;
    let key = Key::new("k", Algorithm::ES256);
    publisher.document(JWKS_PATH, &json!({ "keys": [key.public] }), None);
    let resp = reqwest::Client::new()
        .post(app.url("/oauth/register"))
        .json(&json!({
            "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": publisher.url(JWKS_PATH),
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let client: Value = resp.json().await.expect("json");
    let id = client["client_id"].as_str().expect("client_id");
    let (status, body) = app
        .post_as(
            "/oauth/revoke",
            None,
            &[
                ("token", "x"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &assertion_for(&app, id, &key)),
            ],
        )
        .await;
    assert_invalid_client(
        status,
        &body,
        "plain http is refused",
        "loopback keys without the flag",
    );
    assert_eq!(publisher.hits(JWKS_PATH), 0, "never fetched");
}

async fn a_builder_creates_a_private_key_jwt_client_in_the_portal(app: TestApp) {
    app.user("ada@example.com").await;
    let (_, portal) = crate::portal::builder(&app, "builder@example.com").await;
    let publisher = Publisher::start().await;
    let key = Key::new("portal-1", Algorithm::ES256);
    publisher.document("/keys.json", &json!({ "keys": [key.public] }), None);
    let page = crate::portal::create_client(
        &app,
        &portal,
        &[
            ("name", "Signed app"),
            ("redirect_uris", CALLBACK),
            ("scope", "openid profile offline_access"),
            ("jwks_uri", &publisher.url("/keys.json")),
        ],
    )
    .await;
    assert!(page.contains("private_key_jwt"), "{page}");
    let marker = "id=\"value-client-id\">";
    let start = page.find(marker).expect("the client ID on the page") + marker.len();
    let client_id = page[start..start + page[start..].find('<').expect("end")].to_string();
    let client = app
        .db
        .client(&client_id)
        .await
        .expect("db")
        .expect("client");
    assert!(
        client.secret_hash.is_none(),
        "a client with keys gets no secret"
    );
    code_and_refresh_with_assertions(&app, &client_id, &key).await;
    // A JWKS URI that cannot work is a form error, and nothing is stored.
    let (status, _, form) = app.get(&portal, &app.url("/portal/clients/new")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, refused) = app
        .post_form(
            &portal,
            &app.url("/portal/clients"),
            &[
                ("csrf_token", &form_value(&form, "csrf_token")),
                ("name", "Bad keys"),
                ("redirect_uris", CALLBACK),
                ("scope", "openid"),
                ("jwks_uri", "ftp://keys.example/jwks.json"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("JWKS URI"), "{refused}");
    assert_eq!(app.db.list_clients().await.expect("clients").len(), 1);
}

crate::both_backends_with!(SETTINGS; a_builder_creates_a_private_key_jwt_client_in_the_portal);
