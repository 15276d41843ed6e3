//! `GET /openapi.json`: the OpenAPI 3.1 document lists every JSON and form endpoint.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_json_and_form_endpoint() {
    let Some(app) = spawn_app(Backend::Sqlite, &[]).await else {
        return;
    };
    let resp = reqwest::get(app.url("/openapi.json")).await.expect("get");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let doc: Value = resp.json().await.expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["servers"][0]["url"], app.address);
    let expected = [
        ("/oauth/token", "post"),
        ("/oauth/revoke", "post"),
        ("/oauth/introspect", "post"),
        ("/oauth/register", "post"),
        ("/oauth/register/{client_id}", "get"),
        ("/oauth/register/{client_id}", "put"),
        ("/oauth/register/{client_id}", "delete"),
        ("/oauth/userinfo", "get"),
        ("/oauth/userinfo", "post"),
        ("/.well-known/oauth-authorization-server", "get"),
        ("/.well-known/openid-configuration", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ];
    let mut operation_ids = std::collections::HashSet::new();
    for (path, method) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is missing");
        let id = op["operationId"].as_str().expect("operationId");
        assert!(
            operation_ids.insert(id.to_string()),
            "duplicate operationId {id}"
        );
    }
    // The token endpoint's form, its RFC 6749 errors and the schemes.
    let token = &doc["paths"]["/oauth/token"]["post"];
    assert!(token["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
    for status in ["200", "400", "401", "503"] {
        assert!(token["responses"][status].is_object(), "token {status}");
    }
    assert!(token["responses"]["401"]["headers"]["WWW-Authenticate"].is_object());
    let codes = doc["components"]["schemas"]["TokenError"]["enum"].to_string();
    for code in [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unsupported_grant_type",
    ] {
        assert!(codes.contains(code), "{code}");
    }
    // private_key_jwt's parameters are documented on every client-authenticated form.
    for schema in ["TokenRequest", "TokenQuery"] {
        let properties = &doc["components"]["schemas"][schema]["properties"];
        for field in ["client_assertion_type", "client_assertion"] {
            assert!(properties[field].is_object(), "{schema}.{field}");
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["client_secret_basic"]["scheme"], "basic");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert!(
        doc["paths"]["/oauth/register"]["post"]["requestBody"]["content"]["application/json"]
            .is_object()
    );
}
