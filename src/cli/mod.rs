//! The `gptauth` command line: the public contract in DESIGN.md.

use std::io::Read;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use crate::config::Config;
use crate::domain::{DisplayName, Email, Password};
use crate::store::{AuditEvent, Db};
use crate::tokens;
use crate::web::server::Application;

mod clients;
mod context;
mod registration_tokens;

pub use clients::{ClientCommand, connector_redirects};

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
        Command::Client(cmd) => clients::run(&db, &config, cmd).await,
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
            let name = DisplayName::parse(name.as_deref().unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            let app = context::app(db, config).await?;
            let account = crate::app::users::NewAccount {
                email: email.clone(),
                name: name.clone(),
                password,
                admin,
            };
            let created = crate::app::users::create(&app, account, "by an operator").await;
            app.audit.flush().await;
            let id = created?;
            let name = name.as_ref().map(AsRef::<str>::as_ref);
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
            let app = context::app(db, config).await?;
            let disabled = crate::app::users::disable(&app, &email, "by an operator").await;
            app.audit.flush().await;
            disabled?;
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
pub(crate) fn shown(text: &str) -> String {
    crate::domain::escape_controls(text)
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
