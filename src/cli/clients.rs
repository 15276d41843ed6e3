//! `gptauth client …`: an adapter over `app::clients`, the same use cases the portal and
//! `/oauth/register` call.

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::{context, parse_duration, print_json, shown};
use crate::app::App;
use crate::app::clients::{self, Actor, ClientError, NewClientRequest};
use crate::config::Config;
use crate::domain::{DEFAULT_SCOPE, RedirectUri, ResourceIndicator, Scope};
use crate::store::{AuthMethod, ClientRecord, Db};

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client and print the values to paste into the GPT editor.
    Create {
        #[arg(long)]
        name: String,
        /// A redirect URI; repeat for several (register both ChatGPT callback hosts).
        #[arg(
            long = "redirect-uri",
            required_unless_present_any = ["chatgpt_callbacks", "connectors"]
        )]
        redirect_uris: Vec<String>,
        /// Register a known AI client's callbacks: `chatgpt` (ChatGPT apps / connectors) or
        /// `claude` (Claude's MCP connectors). Repeat for several.
        #[arg(long = "connector", value_parser = ["chatgpt", "claude"])]
        connectors: Vec<String>,
        /// Allowed scopes, space-separated; also the default for an empty request.
        #[arg(long, default_value = DEFAULT_SCOPE)]
        scope: String,
        /// `aud` of this client's access tokens (default: the issuer).
        #[arg(long)]
        audience: Option<String>,
        /// A resource (RFC 8707) this client may ask tokens for with `resource=`; that token's
        /// `aud` is then the resource. Repeat for several.
        #[arg(long = "resource")]
        resources: Vec<String>,
        /// A public client (no secret; PKCE).
        #[arg(long, conflicts_with_all = ["jwks_uri", "jwks_file"])]
        public: bool,
        /// A private_key_jwt client (RFC 7523): no secret; it signs its token requests with a
        /// key published at this https URL (a JWK Set).
        #[arg(long, conflicts_with = "jwks_file")]
        jwks_uri: Option<String>,
        /// A private_key_jwt client whose public keys (a JWK Set, JSON) are in this file.
        #[arg(long)]
        jwks_file: Option<std::path::PathBuf>,
        /// Demand PKCE (S256) although the client has a secret.
        #[arg(long)]
        require_pkce: bool,
        /// Only people who confirmed their e-mail address may sign in (the popup asks the
        /// others to confirm it first, then continues).
        #[arg(long)]
        require_verified_email: bool,
        /// How this client's ID tokens are signed: `RS256` (the OpenID Connect default) or
        /// `ES256` (shorter, and cheaper to sign).
        #[arg(long, value_parser = ["RS256", "ES256"], default_value = "RS256")]
        id_token_alg: String,
        /// Also accept every ChatGPT callback: GPT Actions'
        /// (`https://{chat.openai.com,chatgpt.com}/aip/g-<id>/oauth/callback`) and ChatGPT apps'
        /// (`https://chatgpt.com/connector/oauth/<id>`), so that editing the action or app needs
        /// no re-registration. Trade-off: any GPT or app that knows this client's ID (and secret)
        /// can use it. `--connector chatgpt` turns this on.
        #[arg(long)]
        chatgpt_callbacks: bool,
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace the client's secret (the old one stops working at once, or after --overlap).
    RotateSecret {
        id: String,
        /// Let the old secret keep working this long (`10m`, `1h`, `1d`), time to paste the new
        /// one into the GPT editor.
        #[arg(long, default_value = "0s")]
        overlap: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a client with its codes, tokens and consents.
    Delete {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Register another redirect URI.
    AddRedirect { id: String, uri: String },
    /// Unregister a redirect URI.
    RemoveRedirect { id: String, uri: String },
}

/// What a builder pastes into the GPT editor.
fn client_json(client: &ClientRecord, secret: Option<&str>, config: &Config) -> Value {
    let mut out = json!({
        "client_id": client.client_id,
        "name": client.name,
        "redirect_uris": client.redirect_uris,
        "scope": client.scope,
        "audience": client.default_audience(config.issuer.as_str()),
        "public": client.secret_hash.is_none(),
        "require_pkce": client.requires_pkce(),
        "chatgpt_callbacks": client.chatgpt_callbacks,
        "resources": client.resources,
        "dynamically_registered": client.registration_token_hash.is_some(),
        "require_verified_email": client.require_verified_email,
        "id_token_signed_response_alg": crate::domain::alg_name(client.id_token_alg),
        "authorization_url": config.issuer.url("/oauth/authorize"),
        "token_url": config.issuer.url("/oauth/token"),
        "token_exchange_method": match client.auth_method() {
            AuthMethod::ClientSecret => "Default (POST request)",
            AuthMethod::PrivateKeyJwt => "private_key_jwt (signed client assertion)",
            AuthMethod::None => "none (public client, PKCE)",
        },
        "token_endpoint_auth_methods": match client.auth_method() {
            AuthMethod::ClientSecret => json!(["client_secret_post", "client_secret_basic"]),
            AuthMethod::PrivateKeyJwt => json!(["private_key_jwt"]),
            AuthMethod::None => json!(["none"]),
        },
        "jwks_uri": client.jwks_uri,
        "created_at": client.created_at,
        "metadata_document": client.metadata_expires_at.is_some(),
        "metadata_expires_at": client.metadata_expires_at,
    });
    if let (Some(secret), Some(obj)) = (secret, out.as_object_mut()) {
        obj.insert("client_secret".into(), json!(secret));
    }
    out
}

fn print_client_human(client: &ClientRecord, secret: Option<&str>, config: &Config) {
    println!("Client \"{}\"", shown(&client.name));
    println!();
    println!("Paste into the GPT editor (Authentication → OAuth):");
    println!("  Client ID:              {}", shown(&client.client_id));
    match secret {
        Some(s) => println!("  Client Secret:          {s}   (shown once; store it now)"),
        None if client.secret_hash.is_some() => {
            println!("  Client Secret:          (hidden; rotate-secret makes a new one)")
        }
        None if client.auth_method() == AuthMethod::PrivateKeyJwt => {
            println!(
                "  Client Secret:          (none: it signs with its own keys, private_key_jwt)"
            )
        }
        None => println!("  Client Secret:          (none: public client)"),
    }
    println!(
        "  Authorization URL:      {}",
        config.issuer.url("/oauth/authorize")
    );
    println!(
        "  Token URL:              {}",
        config.issuer.url("/oauth/token")
    );
    println!("  Scope:                  {}", client.scope);
    println!(
        "  Token Exchange Method:  Default (POST request)   (Basic authorization header works too)"
    );
    println!();
    println!("Redirect URIs:");
    for uri in &client.redirect_uris {
        println!("  {}", shown(uri));
    }
    if client.chatgpt_callbacks {
        println!("  any https://{{chat.openai.com,chatgpt.com}}/aip/g-<id>/oauth/callback");
    }
}

/// A refused change, named by the flag that carries the value.
fn refusal(error: ClientError, jwks_flag: &str) -> anyhow::Error {
    match error {
        ClientError::Name => anyhow::anyhow!("--name: {error}"),
        ClientError::TooManyRedirectUris | ClientError::NoRedirectUri => {
            anyhow::anyhow!("--redirect-uri: {error}")
        }
        ClientError::NoScope => anyhow::anyhow!("--scope: {error}"),
        ClientError::AudienceNotUrl(_) | ClientError::AudienceNotOffered(_) => {
            anyhow::anyhow!("--audience: {error}")
        }
        ClientError::Keys(_) => anyhow::anyhow!("{jwks_flag}: {error}"),
        other => other.into(),
    }
}

pub(super) async fn run(db: &Db, config: &Config, cmd: ClientCommand) -> anyhow::Result<()> {
    let app = context::app(db, config).await?;
    let result = client(&app, config, cmd).await;
    app.audit.flush().await;
    result
}

async fn client(app: &App, config: &Config, cmd: ClientCommand) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Create {
            name,
            redirect_uris,
            connectors,
            scope,
            audience,
            resources,
            public,
            jwks_uri,
            jwks_file,
            require_pkce,
            require_verified_email,
            id_token_alg,
            chatgpt_callbacks,
            json,
        } => {
            let presets = connectors
                .iter()
                .flat_map(|c| connector_redirects(c).iter().map(|s| s.to_string()));
            let uris = redirect_uris
                .iter()
                .cloned()
                .chain(presets)
                .map(|raw| {
                    RedirectUri::parse(&raw).map_err(|e| anyhow::anyhow!("--redirect-uri: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let scope = Scope::parse(&scope).map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
            let resources = resources
                .iter()
                .map(|raw| {
                    ResourceIndicator::parse(raw).map_err(|e| anyhow::anyhow!("--resource: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let jwks = match &jwks_file {
                None => None,
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        anyhow::anyhow!("--jwks-file: cannot read {}: {e}", path.display())
                    })?;
                    Some(serde_json::from_str::<Value>(&text).map_err(|e| {
                        anyhow::anyhow!("--jwks-file: {} is not JSON: {e}", path.display())
                    })?)
                }
            };
            let jwks_flag = if jwks_uri.is_some() {
                "--jwks-uri"
            } else {
                "--jwks-file"
            };
            let mut request = NewClientRequest::new(name, uris, scope);
            // A ChatGPT app's callback carries an id ChatGPT picks per connector.
            request.chatgpt_callbacks =
                chatgpt_callbacks || connectors.iter().any(|c| c == "chatgpt");
            request.audience = audience;
            request.resources = resources;
            request.public = public;
            request.jwks_uri = jwks_uri;
            request.jwks = jwks;
            request.require_pkce = require_pkce;
            request.require_verified_email = require_verified_email;
            request.id_token_alg = Some(if id_token_alg == "ES256" {
                jsonwebtoken::Algorithm::ES256
            } else {
                jsonwebtoken::Algorithm::RS256
            });
            let created = clients::create(app, Actor::Operator, request)
                .await
                .map_err(|e| refusal(e, jwks_flag))?;
            let (client, secret) = (created.client, created.secret);
            if json {
                print_json(&client_json(&client, secret.as_deref(), config));
            } else {
                print_client_human(&client, secret.as_deref(), config);
            }
            Ok(())
        }
        ClientCommand::List { json } => {
            let clients = app.db.list_clients().await?;
            if json {
                print_json(&Value::Array(
                    clients
                        .iter()
                        .map(|c| client_json(c, None, config))
                        .collect(),
                ));
            } else {
                for c in clients {
                    // Clients that named themselves by a client ID metadata document URL.
                    let marker = if c.metadata_expires_at.is_some() {
                        "  [metadata document]"
                    } else {
                        ""
                    };
                    println!(
                        "{}  {}  ({} redirect URIs){}{marker}",
                        shown(&c.client_id),
                        shown(&c.name),
                        c.redirect_uris.len(),
                        if c.registration_token_hash.is_some() {
                            "  [registered at /oauth/register]"
                        } else {
                            ""
                        }
                    );
                }
            }
            Ok(())
        }
        ClientCommand::Show { id, json } => {
            let client = clients::find(app, &id).await?;
            if json {
                print_json(&client_json(&client, None, config));
            } else {
                print_client_human(&client, None, config);
            }
            Ok(())
        }
        ClientCommand::RotateSecret { id, overlap, json } => {
            let Some(overlap) = parse_duration(&overlap) else {
                bail!("--overlap: use a duration such as 10m, 1h or 1d, not {overlap:?}");
            };
            let client = clients::find(app, &id).await?;
            let secret =
                clients::rotate_secret(app, Actor::Operator, &client.client_id, overlap).await?;
            if json {
                print_json(&json!({ "client_id": client.client_id, "client_secret": secret }));
            } else {
                println!(
                    "new secret for {}: {secret}   (shown once)",
                    client.client_id
                );
            }
            Ok(())
        }
        ClientCommand::Delete { id, json } => {
            let client = clients::find(app, &id).await?;
            clients::delete(app, Actor::Operator, &client.client_id).await?;
            if json {
                print_json(&json!({ "client_id": client.client_id, "deleted": true }));
            } else {
                println!("deleted client {}", client.client_id);
            }
            Ok(())
        }
        ClientCommand::AddRedirect { id, uri } => {
            let client = clients::find(app, &id).await?;
            let uri = RedirectUri::parse(&uri).map_err(|e| anyhow::anyhow!("redirect URI: {e}"))?;
            clients::add_redirect(app, Actor::Operator, &client.client_id, uri.clone())
                .await
                .context("redirect URI")?;
            println!("{} now accepts {uri}", client.client_id);
            Ok(())
        }
        ClientCommand::RemoveRedirect { id, uri } => {
            let client = clients::find(app, &id).await?;
            clients::remove_redirect(app, Actor::Operator, &client.client_id, &uri).await?;
            println!("{} no longer accepts {uri}", client.client_id);
            Ok(())
        }
    }
}

/// The fixed callbacks of AI clients that connect to authorization servers on their own.
pub fn connector_redirects(name: &str) -> &'static [&'static str] {
    match name {
        "chatgpt" => &["https://chatgpt.com/connector_platform_oauth_redirect"],
        "claude" => &[
            "https://claude.ai/api/mcp/auth_callback",
            "https://claude.com/api/mcp/auth_callback",
        ],
        _ => &[],
    }
}
