//! The `gptauth` command line: the public contract in DESIGN.md.

use std::io::Read;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::hasher::hash_blocking;
use crate::config::Config;
use crate::crypto;
use crate::domain::{
    ClientId, DEFAULT_SCOPE, Email, Password, RedirectUri, ResourceIndicator, Scope,
};
use crate::store::{AuditEvent, AuthMethod, ClientRecord, Db, NewClient, NewUser, StoreError};
use crate::tokens;
use crate::web::server::Application;

mod registration_tokens;

#[derive(Parser, Debug)]
#[command(
    name = "gptauth",
    version,
    about = "OAuth 2.0 sign-in for GPT Actions and AI connectors"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Manage end users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OAuth clients (one per GPT).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage initial access tokens for dynamic registration (`GPTAUTH_REGISTRATION=token`).
    #[command(subcommand)]
    RegistrationToken(registration_tokens::RegistrationTokenCommand),
    /// Copy an SQLite database to PATH while the server runs (restore: stop the server and
    /// put the copy in place). For Postgres, use pg_dump.
    Backup {
        path: String,
        #[arg(long)]
        json: bool,
    },
    /// Show the security audit trail (sign-ins, consents, tokens, reuse, rotations).
    Audit {
        /// Only events since then: a duration back from now (`24h`, `7d`, `30m`), Unix seconds,
        /// or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input.
        #[arg(
            long,
            conflicts_with = "password",
            required_unless_present = "password"
        )]
        password_stdin: bool,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable a user and end their sessions.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Print a password reset link (single use, 30 minutes) to hand to the user, for servers
    /// without SMTP.
    ResetLink {
        #[arg(long)]
        email: String,
        #[arg(long)]
        json: bool,
    },
}

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

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List signing keys.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Make a new signing key active for each algorithm (ES256, RS256); the old ones stay
    /// published until their tokens expire.
    Rotate {
        #[arg(long)]
        json: bool,
    },
}

/// Runs a command. Serving returns when the server stops.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Serve = command {
        let app = Application::build(config.clone()).await?;
        tracing::info!(
            issuer = %config.issuer,
            bind = %config.bind,
            port = app.port(),
            database = app.state().db.backend(),
            "gptauth is listening"
        );
        app.run_until_stopped().await?;
        return Ok(());
    }
    let db = Db::connect(&config.database_url).await.with_context(|| {
        format!(
            "cannot open the database {}",
            crate::config::redact_url(&config.database_url)
        )
    })?;
    let result = match command {
        Command::Serve => unreachable!("handled above"),
        Command::Migrate => {
            println!("migrations applied ({})", db.backend());
            Ok(())
        }
        Command::User(cmd) => user(&db, &config, cmd).await,
        Command::Client(cmd) => client(&db, &config, cmd).await,
        Command::Keys(cmd) => keys(&db, &config, cmd).await,
        Command::RegistrationToken(cmd) => registration_tokens::run(&db, &config, cmd).await,
        Command::Audit { since, json } => audit(&db, since.as_deref(), json).await,
        Command::Backup { path, json } => backup(&db, &path, json).await,
    };
    db.close().await;
    result
}

pub(crate) fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

async fn user(db: &Db, config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            email,
            name,
            password_stdin,
            password,
            admin,
            json,
        } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let raw = if password_stdin {
                let mut buf = String::new();
                std::io::stdin()
                    .read_to_string(&mut buf)
                    .context("reading the password from stdin")?;
                buf.trim_end_matches(['\r', '\n']).to_string()
            } else {
                password.unwrap_or_default()
            };
            let password = Password::parse(&raw).map_err(|e| anyhow::anyhow!("password: {e}"))?;
            let hash =
                tokio::task::spawn_blocking(move || hash_blocking(password.expose())).await??;
            let id = Uuid::now_v7();
            let name = name.as_deref().map(str::trim).filter(|n| !n.is_empty());
            match db
                .insert_user(&NewUser {
                    id,
                    email: email.as_ref(),
                    name,
                    password_hash: &hash,
                    is_admin: admin,
                })
                .await
            {
                Ok(()) => {}
                Err(StoreError::Duplicate) => {
                    bail!("a user with the e-mail {email} exists already")
                }
                Err(e) => return Err(e.into()),
            }
            let out = json!({ "id": id, "email": email.as_ref(), "name": name, "admin": admin });
            if json {
                print_json(&out);
            } else {
                println!(
                    "created user {email} (id {id}{})",
                    if admin { ", admin" } else { "" }
                );
            }
            Ok(())
        }
        UserCommand::List { json } => {
            let users = db.list_users().await?;
            if json {
                let list: Vec<Value> = users
                    .iter()
                    .map(|u| {
                        json!({
                            "id": u.id, "email": u.email, "name": u.name, "admin": u.is_admin,
                            "disabled": u.disabled_at.is_some(), "created_at": u.created_at,
                        })
                    })
                    .collect();
                print_json(&Value::Array(list));
            } else {
                for u in users {
                    println!(
                        "{}  {}{}{}",
                        u.id,
                        shown(&u.email),
                        if u.is_admin { "  [admin]" } else { "" },
                        if u.disabled_at.is_some() {
                            "  [disabled]"
                        } else {
                            ""
                        }
                    );
                }
            }
            Ok(())
        }
        UserCommand::Disable { email } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            if !db.disable_user(email.as_ref()).await? {
                bail!("no user with the e-mail {email}");
            }
            println!("disabled {email}");
            Ok(())
        }
        UserCommand::ResetLink { email, json } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let Some(user) = db
                .user_by_email(email.as_ref())
                .await?
                .filter(|u| u.disabled_at.is_none())
            else {
                bail!("no active user with the e-mail {email}");
            };
            let link = crate::app::mail_links::reset_link(db, &config.issuer, user.id).await?;
            db.insert_audit(&[(
                db.now(),
                AuditEvent {
                    user_id: Some(user.id),
                    detail: Some("by an operator".into()),
                    ..AuditEvent::new(crate::domain::AuditKind::PasswordResetLinkIssued)
                },
            )])
            .await?;
            if json {
                print_json(
                    &json!({ "email": user.email, "link": link, "expires_in": crate::app::mail_links::RESET_SECONDS }),
                );
            } else {
                println!("{link}");
                eprintln!("single use, valid for 30 minutes; give it to {email} only");
            }
            Ok(())
        }
    }
}

/// Text from the database on its way to the operator's terminal: names, URIs and audit details
/// can be strangers' text (dynamic registration, tried redirect URIs), and rows written before
/// they were escaped on the way in may hold control characters.
fn shown(text: &str) -> String {
    crate::domain::escape_controls(text)
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

async fn load_client(db: &Db, id: &str) -> anyhow::Result<ClientRecord> {
    let id = ClientId::parse(id).map_err(|_| anyhow::anyhow!("no client with the ID {id}"))?;
    db.client(id.as_ref())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no client with the ID {id}"))
}

async fn client(db: &Db, config: &Config, cmd: ClientCommand) -> anyhow::Result<()> {
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
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                bail!("--name: a client name has 1 to 100 characters");
            }
            let mut uris: Vec<String> = Vec::new();
            let presets = connectors
                .iter()
                .flat_map(|c| connector_redirects(c).iter().map(|s| s.to_string()));
            for raw in redirect_uris.iter().cloned().chain(presets) {
                let raw = &raw;
                let uri =
                    RedirectUri::parse(raw).map_err(|e| anyhow::anyhow!("--redirect-uri: {e}"))?;
                if !uris.iter().any(|u| u == uri.as_ref()) {
                    uris.push(uri.to_string());
                }
            }
            let scope = Scope::parse(&scope).map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
            let mut checked_resources: Vec<String> = Vec::new();
            for raw in &resources {
                let r = ResourceIndicator::parse(raw)
                    .map_err(|e| anyhow::anyhow!("--resource: {e}"))?;
                if !checked_resources.iter().any(|x| x == r.as_ref()) {
                    checked_resources.push(r.to_string());
                }
            }
            if scope.is_empty() {
                bail!("--scope: name at least one scope");
            }
            if let Some(aud) = &audience {
                url::Url::parse(aud).map_err(|e| {
                    anyhow::anyhow!("--audience: {aud:?} is not an absolute URL ({e})")
                })?;
            }
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
            let keys = crate::client_metadata::check_keys(jwks_uri.as_deref(), jwks.as_ref())
                .map_err(|e| {
                    let flag = if jwks_uri.is_some() {
                        "--jwks-uri"
                    } else {
                        "--jwks-file"
                    };
                    anyhow::anyhow!("{flag}: {e}")
                })?;
            let client_id = ClientId::generate();
            // A client with keys signs instead of holding a secret.
            let secret = (!public && keys.is_none()).then(crypto::random_token);
            let secret_hash = secret.as_deref().map(crypto::digest);
            db.insert_client_with_keys(
                &NewClient {
                    client_id: client_id.as_ref(),
                    name,
                    secret_hash: secret_hash.as_deref(),
                    scope: &scope.to_string(),
                    audience: audience.as_deref(),
                    require_pkce,
                    // A ChatGPT app's callback carries an id ChatGPT picks per connector.
                    chatgpt_callbacks: chatgpt_callbacks
                        || connectors.iter().any(|c| c == "chatgpt"),
                    resources: &checked_resources,
                    id_token_alg: Some(if id_token_alg == "ES256" {
                        jsonwebtoken::Algorithm::ES256
                    } else {
                        jsonwebtoken::Algorithm::RS256
                    }),
                    registration_token_hash: None,
                    registered_auth_method: None,
                    owner_id: None,
                    logo_uri: None,
                    policy_uri: None,
                    redirect_uris: &uris,
                },
                keys.as_ref(),
            )
            .await?;
            if require_verified_email {
                db.set_require_verified_email(client_id.as_ref(), true)
                    .await?;
            }
            let client = load_client(db, client_id.as_ref()).await?;
            if json {
                print_json(&client_json(&client, secret.as_deref(), config));
            } else {
                print_client_human(&client, secret.as_deref(), config);
            }
            Ok(())
        }
        ClientCommand::List { json } => {
            let clients = db.list_clients().await?;
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
            let client = load_client(db, &id).await?;
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
            let client = load_client(db, &id).await?;
            if client.secret_hash.is_none() {
                bail!("client {id} is public and has no secret");
            }
            let secret = crypto::random_token();
            db.set_client_secret(
                &client.client_id,
                &crypto::digest(&secret),
                db.now().saturating_add(overlap),
            )
            .await?;
            db.insert_audit(&[(
                db.now(),
                AuditEvent {
                    client_id: Some(client.client_id.clone()),
                    ..AuditEvent::new(crate::domain::AuditKind::ClientSecretRotated)
                },
            )])
            .await?;
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
            let client = load_client(db, &id).await?;
            db.delete_client(&client.client_id).await?;
            if json {
                print_json(&json!({ "client_id": client.client_id, "deleted": true }));
            } else {
                println!("deleted client {}", client.client_id);
            }
            Ok(())
        }
        ClientCommand::AddRedirect { id, uri } => {
            let client = load_client(db, &id).await?;
            let uri = RedirectUri::parse(&uri).map_err(|e| anyhow::anyhow!("redirect URI: {e}"))?;
            match db.add_redirect_uri(&client.client_id, uri.as_ref()).await {
                Ok(()) | Err(StoreError::Duplicate) => {}
                Err(e) => return Err(e.into()),
            }
            println!("{} now accepts {uri}", client.client_id);
            Ok(())
        }
        ClientCommand::RemoveRedirect { id, uri } => {
            let client = load_client(db, &id).await?;
            if !db.remove_redirect_uri(&client.client_id, &uri).await? {
                bail!("{uri} is not registered for client {}", client.client_id);
            }
            println!("{} no longer accepts {uri}", client.client_id);
            Ok(())
        }
    }
}

async fn keys(db: &Db, config: &Config, cmd: KeysCommand) -> anyhow::Result<()> {
    let as_json = |k: &crate::store::KeyRecord| {
        json!({ "kid": k.kid, "alg": k.alg, "created_at": k.created_at,
                "retired_at": k.retired_at, "active": k.retired_at.is_none() })
    };
    match cmd {
        KeysCommand::List { json } => {
            let keys = db.signing_keys().await?;
            if json {
                print_json(&Value::Array(keys.iter().map(as_json).collect()));
            } else {
                for k in keys {
                    println!(
                        "{}  {}  {}",
                        k.kid,
                        k.alg,
                        if k.retired_at.is_none() {
                            "active"
                        } else {
                            "retired"
                        }
                    );
                }
            }
            Ok(())
        }
        KeysCommand::Rotate { json } => {
            let mut fresh = Vec::new();
            let sealer = crate::app::sealer(config);
            tokens::check_keys_open(db, &sealer).await?;
            for alg in tokens::SIGNING_ALGORITHMS {
                let key = tokens::generate_sealed(alg, &sealer)?;
                db.rotate_in_key(&key).await?;
                fresh.push(key);
            }
            if json {
                // The access-token key's fields at the top (what this printed before RS256
                // existed), and every new key under `rotated`.
                let mut out = as_json(&fresh[0]);
                out["rotated"] = Value::Array(fresh.iter().map(as_json).collect());
                print_json(&out);
            } else {
                for key in &fresh {
                    println!("new {} signing key {} is active", key.alg, key.kid);
                }
                println!("running servers pick them up within a minute");
            }
            Ok(())
        }
    }
}

async fn backup(db: &Db, path: &str, json: bool) -> anyhow::Result<()> {
    if std::path::Path::new(path).exists() {
        bail!("{path} exists already; choose a new file");
    }
    match db.backup_sqlite(path).await {
        Some(result) => result.with_context(|| format!("backing up to {path}"))?,
        None => bail!(
            "this is a Postgres database: back it up with pg_dump (see the README, \"Backups\")"
        ),
    }
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if json {
        print_json(&json!({ "path": path, "bytes": bytes }));
    } else {
        println!("backed up to {path} ({bytes} bytes)");
    }
    Ok(())
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

/// Parses a duration such as `90s`, `30m`, `24h` or `7d` into seconds.
pub fn parse_duration(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let unit = |suffix: char, seconds: i64| {
        raw.strip_suffix(suffix)
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .and_then(|n| n.checked_mul(seconds))
    };
    unit('s', 1)
        .or_else(|| unit('m', 60))
        .or_else(|| unit('h', 3600))
        .or_else(|| unit('d', 86_400))
}

/// Parses `--since`: `24h`, `7d`, `30m`, `90s`, Unix seconds, or RFC 3339.
pub fn parse_since(raw: &str, now: i64) -> anyhow::Result<i64> {
    let raw = raw.trim();
    if let Ok(at) = raw.parse::<i64>() {
        return Ok(at);
    }
    if let Some(ago) = parse_duration(raw) {
        return Ok(now - ago);
    }
    let at = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            anyhow::anyhow!("--since: use 24h, 7d, Unix seconds or an RFC 3339 time, not {raw:?}")
        })?;
    Ok(at.unix_timestamp())
}

async fn audit(db: &Db, since: Option<&str>, json: bool) -> anyhow::Result<()> {
    let since = match since {
        Some(raw) => parse_since(raw, db.now())?,
        None => 0,
    };
    let events = db.audit_since(since, 100_000).await?;
    if json {
        print_json(&Value::Array(
            events
                .iter()
                .map(|e| {
                    json!({ "id": e.id, "at": e.at, "kind": e.kind, "user_id": e.user_id,
                            "client_id": e.client_id, "ip": e.ip, "detail": e.detail })
                })
                .collect(),
        ));
    } else {
        for e in events {
            let at = time::OffsetDateTime::from_unix_timestamp(e.at)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_else(|| e.at.to_string());
            println!(
                "{at}  {:<24} user={} client={} ip={} {}",
                e.kind,
                e.user_id
                    .map(|u| u.to_string())
                    .unwrap_or_else(|| "-".into()),
                shown(e.client_id.as_deref().unwrap_or("-")),
                shown(e.ip.as_deref().unwrap_or("-")),
                shown(e.detail.as_deref().unwrap_or(""))
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_accepts_durations_seconds_and_rfc3339() {
        let now = 1_000_000;
        assert_eq!(parse_since("24h", now).unwrap(), now - 86_400);
        assert_eq!(parse_since("7d", now).unwrap(), now - 7 * 86_400);
        assert_eq!(parse_since("30m", now).unwrap(), now - 1800);
        assert_eq!(parse_since("12345", now).unwrap(), 12345);
        assert_eq!(parse_since("1970-01-01T00:01:00Z", now).unwrap(), 60);
        assert!(parse_since("yesterday", now).is_err());
    }
}
