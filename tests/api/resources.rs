//! Resource indicators (RFC 8707): a token for a named API carries it as `aud`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const MCP: &str = "https://api.example.com/mcp";

async fn client_with_resource(app: &TestApp) -> TestClient {
    client_with_resources(app, &[MCP]).await
}

async fn client_with_resources(app: &TestApp, resources: &[&str]) -> TestClient {
    let id = format!("gpt_{}", uuid::Uuid::new_v4().simple());
    let secret = gptauth::crypto::random_token();
    let uris = vec![CHATGPT_OPENAI.to_string()];
    let resources: Vec<String> = resources.iter().map(|r| r.to_string()).collect();
    app.db
        .insert_client(&gptauth::store::NewClient {
            client_id: &id,
            name: "Connector",
            secret_hash: Some(&gptauth::crypto::digest(&secret)),
            scope: "openid profile",
            audience: None,
            require_pkce: false,
            chatgpt_callbacks: false,
            resources: &resources,
            id_token_alg: None,
            registration_token_hash: None,
            registered_auth_method: None,
            owner_id: None,
            logo_uri: None,
            policy_uri: None,
            redirect_uris: &uris,
        })
        .await
        .expect("insert client");
    TestClient { id, secret }
}

fn claims(token: &Value) -> Value {
    let payload = token["access_token"]
        .as_str()
        .expect("at")
        .split('.')
        .nth(1)
        .expect("payload")
        .to_string();
    use base64::Engine;
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64"),
    )
    .expect("json")
}

fn aud(token: &Value) -> String {
    claims(token)["aud"].as_str().expect("aud").to_string()
}

async fn a_named_resource_becomes_the_audience_through_refresh(app: TestApp) {
    let client = client_with_resource(&app).await;
    app.user("ada@example.com").await;
    let url = app.authorize_url_with(&client, CHATGPT_OPENAI, &[("resource", MCP)]);
    let code = app
        .sign_in(&browser(), &url, "ada@example.com", PASSWORD)
        .await
        .code();
    let (status, _, tokens) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CHATGPT_OPENAI),
                ("resource", MCP),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(aud(&tokens), MCP);
    let rt = tokens["refresh_token"].as_str().expect("rt");
    let (status, refreshed) = app.refresh(&client, false, rt).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(aud(&refreshed), MCP, "refresh keeps the resource");
    let (status, _, body) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    refreshed["refresh_token"].as_str().expect("rt"),
                ),
                ("resource", "https://other.example.com/api"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target")),
        "never widened to another resource"
    );
}

async fn a_resource_the_client_may_not_ask_for_is_invalid_target(app: TestApp) {
    let client = client_with_resource(&app).await;
    let plain = app.client().await;
    app.user("ada@example.com").await;
    for (c, resource) in [
        (&client, "https://other.example.com/api"),
        (&client, "not a uri"),
        (&plain, MCP),
    ] {
        let (status, location, _) = app
            .get(
                &browser(),
                &app.authorize_url_with(c, CHATGPT_OPENAI, &[("resource", resource)]),
            )
            .await;
        assert_eq!(status, StatusCode::FOUND);
        let location = location.expect("location");
        assert!(
            location.starts_with(CHATGPT_OPENAI) && location.contains("error=invalid_target"),
            "{location}"
        );
    }
}

async fn several_resources_give_an_audience_array_that_token_requests_may_narrow(app: TestApp) {
    const API: &str = "https://api.example.com/notes";
    let client = client_with_resources(&app, &[MCP, API]).await;
    app.user("ada@example.com").await;
    let url = app.authorize_url_with(
        &client,
        CHATGPT_OPENAI,
        &[("resource", MCP), ("resource", API)],
    );
    let code = app
        .sign_in(&browser(), &url, "ada@example.com", PASSWORD)
        .await
        .code();
    let (status, tokens) = app
        .exchange_code(&client, true, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        claims(&tokens)["aud"],
        serde_json::json!([MCP, API]),
        "every granted resource"
    );
    // A verifier for either API accepts it.
    app.verify_jwt_for(tokens["access_token"].as_str().expect("at"), API)
        .await;
    let rt = tokens["refresh_token"].as_str().expect("rt");
    let (status, _, narrowed) = app
        .token(
            &client,
            false,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("resource", API),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{narrowed}");
    assert_eq!(claims(&narrowed)["aud"], API, "narrowed to one");
    // Narrowing one token does not shrink the grant.
    let rt = narrowed["refresh_token"].as_str().expect("rt");
    let (status, _, both) = app
        .token(
            &client,
            false,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("resource", MCP),
                ("resource", API),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{both}");
    assert_eq!(claims(&both)["aud"], serde_json::json!([MCP, API]));
    let rt = both["refresh_token"].as_str().expect("rt");
    let (status, _, body) = app
        .token(
            &client,
            false,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("resource", MCP),
                ("resource", "https://other.example.com/"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target")),
        "never widened"
    );
    // Only `resource` may repeat.
    let url = format!(
        "{}&state=again",
        app.authorize_url_with(&client, CHATGPT_OPENAI, &[])
    );
    let (status, location, _) = app.get(&browser(), &url).await;
    assert_eq!(
        (status, location),
        (StatusCode::BAD_REQUEST, None),
        "a repeated state is an error page"
    );
}

async fn a_token_request_cannot_switch_the_resource(app: TestApp) {
    let client = client_with_resource(&app).await;
    app.user("ada@example.com").await;
    let code = app
        .sign_in(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await
        .code();
    let (status, _, body) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CHATGPT_OPENAI),
                ("resource", MCP),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target")),
        "the grant named no resource"
    );
    let code = app
        .sign_in(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await
        .code();
    let (status, body) = app
        .exchange_code(&client, true, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        aud(&body),
        app.address,
        "without a resource, the default audience"
    );
    let (status, _, body) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().expect("rt")),
                ("resource", "#bad"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
}

crate::both_backends!(
    a_named_resource_becomes_the_audience_through_refresh,
    a_resource_the_client_may_not_ask_for_is_invalid_target,
    several_resources_give_an_audience_array_that_token_requests_may_narrow,
    a_token_request_cannot_switch_the_resource
);

async fn an_mcp_style_resource_api_accepts_its_tokens_and_points_others_at_its_metadata(
    app: TestApp,
) {
    use gptauth_verify::{AuthenticatedUser, Verifier};
    let client = client_with_resource(&app).await;
    app.user("ada@example.com").await;
    let verifier = Verifier::builder(&app.address)
        .resource(MCP)
        .build()
        .expect("verifier");
    let metadata = verifier.protected_resource_metadata().expect("metadata");
    assert_eq!(metadata["authorization_servers"][0], app.address);
    async fn me(user: AuthenticatedUser) -> String {
        user.sub
    }
    let router = axum::Router::new()
        .route("/mcp", axum::routing::get(me))
        .with_state(verifier.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let http = reqwest::Client::new();

    let resp = http.get(format!("{api}/mcp")).send().await.expect("get");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(
        challenge,
        "Bearer resource_metadata=\
         \"https://api.example.com/.well-known/oauth-protected-resource/mcp\""
    );

    // A token for the resource is accepted; one for the default audience is not.
    let url = app.authorize_url_with(&client, CHATGPT_OPENAI, &[("resource", MCP)]);
    let code = app
        .sign_in(&browser(), &url, "ada@example.com", PASSWORD)
        .await
        .code();
    let (status, tokens) = app
        .exchange_code(&client, true, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK);
    let resp = http
        .get(format!("{api}/mcp"))
        .bearer_auth(tokens["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    let plain = app.tokens_for(&client, "ada@example.com").await;
    let resp = http
        .get(format!("{api}/mcp"))
        .bearer_auth(plain["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "a token for another audience"
    );
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\"")
            && challenge.contains("resource_metadata="),
        "{challenge}"
    );
    server.abort();
}

crate::both_backends!(
    an_mcp_style_resource_api_accepts_its_tokens_and_points_others_at_its_metadata
);

async fn a_server_wide_resource_serves_dynamically_registered_clients(app: TestApp) {
    let resp = reqwest::Client::new()
        .post(app.url("/oauth/register"))
        .json(&serde_json::json!({
            "client_name": "MCP host",
            "redirect_uris": [CHATGPT_OPENAI],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .send()
        .await
        .expect("register");
    let registered: Value = resp.json().await.expect("json");
    let client = TestClient {
        id: registered["client_id"].as_str().expect("id").into(),
        secret: registered["client_secret"].as_str().expect("secret").into(),
    };
    app.user("ada@example.com").await;
    let url = app.authorize_url_with(
        &client,
        CHATGPT_OPENAI,
        &[("resource", "https://mcp.example.com/mcp")],
    );
    let code = app
        .sign_in(&browser(), &url, "ada@example.com", PASSWORD)
        .await
        .code();
    let (status, _, tokens) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CHATGPT_OPENAI),
                ("resource", "https://mcp.example.com/mcp"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(aud(&tokens), "https://mcp.example.com/mcp");
    // Only the listed resources: not a prefix match, not another host.
    for other in [
        "https://mcp.example.com/mcp/admin",
        "https://evil.example.com/mcp",
    ] {
        let url = app.authorize_url_with(&client, CHATGPT_OPENAI, &[("resource", other)]);
        let (_, location, _) = app.get(&browser(), &url).await;
        assert!(
            location
                .unwrap_or_default()
                .contains("error=invalid_target"),
            "{other}"
        );
    }
}

crate::both_backends_with!(
    &[("GPTAUTH_RESOURCES", "https://mcp.example.com/mcp https://api.example.com/")];
    a_server_wide_resource_serves_dynamically_registered_clients,
);
