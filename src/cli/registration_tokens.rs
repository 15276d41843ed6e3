//! `gptauth registration-token …`: the initial access tokens (RFC 7591 §3) that let a client
//! register itself when `GPTAUTH_REGISTRATION=token`.

use anyhow::bail;
use clap::Subcommand;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{parse_duration, print_json};
use crate::config::{Config, RegistrationPolicy};
use crate::crypto;
use crate::store::{Db, InitialAccessToken};

#[derive(Subcommand, Debug)]
pub enum RegistrationTokenCommand {
    /// Create a token and print it (once; only its hash is kept).
    Create {
        /// How long it stays valid: `90m`, `24h`, `7d`, ….
        #[arg(long, default_value = "7d")]
        expires_in: String,
        /// How many registrations it allows (default: any number until it expires).
        #[arg(long)]
        uses: Option<u32>,
        /// What it is for, shown in `list`.
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their values).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its ID.
    Revoke { id: Uuid },
}

fn as_json(t: &InitialAccessToken) -> Value {
    json!({
        "id": t.id, "note": t.note, "created_at": t.created_at, "expires_at": t.expires_at,
        "uses_left": t.uses_left, "revoked": t.revoked_at.is_some(),
    })
}

pub async fn run(db: &Db, config: &Config, cmd: RegistrationTokenCommand) -> anyhow::Result<()> {
    match cmd {
        RegistrationTokenCommand::Create {
            expires_in,
            uses,
            note,
            json,
        } => {
            let Some(lifetime) = parse_duration(&expires_in).filter(|s| *s > 0) else {
                bail!("--expires-in: use a duration such as 90m, 24h or 7d, not {expires_in:?}");
            };
            let value = crypto::random_token();
            let now = db.now();
            let token = InitialAccessToken {
                id: Uuid::now_v7(),
                note,
                created_at: now,
                expires_at: now.saturating_add(lifetime),
                uses_left: uses.map(i64::from),
                revoked_at: None,
            };
            db.insert_initial_access_token(&token, &crypto::digest(&value))
                .await?;
            if config.registration != RegistrationPolicy::Token {
                eprintln!(
                    "note: GPTAUTH_REGISTRATION is not `token`; the server does not ask for this token"
                );
            }
            if json {
                let mut out = as_json(&token);
                out["token"] = json!(value);
                print_json(&out);
            } else {
                println!("{value}");
                eprintln!(
                    "initial access token {} (shown once): send it as `Authorization: Bearer …` to {}",
                    token.id,
                    config.issuer.url("/oauth/register")
                );
            }
            Ok(())
        }
        RegistrationTokenCommand::List { json } => {
            let tokens = db.initial_access_tokens().await?;
            if json {
                print_json(&Value::Array(tokens.iter().map(as_json).collect()));
            } else {
                let now = db.now();
                for t in tokens {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else if t.expires_at <= now || t.uses_left == Some(0) {
                        "spent"
                    } else {
                        "active"
                    };
                    println!(
                        "{}  {state}  uses left: {}  {}",
                        t.id,
                        t.uses_left.map_or("any".to_string(), |n| n.to_string()),
                        t.note.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        RegistrationTokenCommand::Revoke { id } => {
            if !db.revoke_initial_access_token(id).await? {
                bail!("no active registration token {id}");
            }
            println!("registration token {id} revoked");
            Ok(())
        }
    }
}
