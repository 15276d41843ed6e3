//! E-mail: verification, forgotten passwords, changing the address, and clients that admit only
//! verified addresses, through a real SMTP conversation with a mail sink on loopback.

use std::sync::{Arc, Mutex};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::*;

/// A delivered message: its recipients and raw text.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub to: Vec<String>,
    pub data: String,
}

/// A minimal SMTP server (RFC 5321: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that keeps what
/// it receives.
#[derive(Clone)]
pub struct MailSink {
    port: u16,
    inbox: Arc<Mutex<Vec<Delivered>>>,
}

impl MailSink {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let kept = inbox.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                    let mut to = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                            "HELO" | "MAIL" | "RSET" | "NOOP" => b"250 ok\r\n",
                            "RCPT" => {
                                let addr = line.split(['<', '>']).nth(1).unwrap_or("").to_string();
                                to.push(addr);
                                b"250 ok\r\n"
                            }
                            "DATA" => {
                                let _ = write.write_all(b"354 go on\r\n").await;
                                let mut data = String::new();
                                while let Ok(Some(l)) = lines.next_line().await {
                                    if l == "." {
                                        break;
                                    }
                                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                                    data.push('\n');
                                }
                                kept.lock().expect("inbox").push(Delivered {
                                    to: std::mem::take(&mut to),
                                    data,
                                });
                                b"250 kept\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"502 not here\r\n",
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        MailSink { port, inbox }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Messages to `address` so far.
    pub fn to(&self, address: &str) -> Vec<Delivered> {
        self.inbox
            .lock()
            .expect("inbox")
            .iter()
            .filter(|m| m.to.iter().any(|t| t == address))
            .cloned()
            .collect()
    }

    /// Waits for the `n`th message to `address` (they are sent in the background).
    pub async fn wait_for(&self, address: &str, n: usize) -> Delivered {
        for _ in 0..100 {
            if let Some(m) = self.to(address).get(n - 1) {
                return m.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "no message #{n} to {address}; inbox: {:?}",
            self.inbox.lock().expect("inbox")
        );
    }
}

impl Delivered {
    /// The text part, decoded (quoted-printable or base64, as lettre chose).
    pub fn text(&self) -> String {
        let start = self
            .data
            .find("Content-Type: text/plain")
            .expect("a text part");
        let part = &self.data[start..];
        let (headers, rest) = part.split_once("\n\n").expect("part headers");
        let body = rest.split("\n--").next().unwrap_or(rest);
        if headers.contains("Content-Transfer-Encoding: base64") {
            let joined: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .expect("base64"),
            )
            .expect("utf-8")
        } else if headers.contains("Content-Transfer-Encoding: quoted-printable") {
            quoted_printable(&body.replace("=\n", ""))
        } else {
            body.to_string()
        }
    }

    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("")
            .to_string()
    }

    /// The first link to this server in the text part, as a path.
    pub fn link(&self, app: &TestApp) -> String {
        let text = self.text();
        let start = text
            .find(&app.address)
            .unwrap_or_else(|| panic!("no link in {text}"));
        let end = text[start..]
            .find(char::is_whitespace)
            .map_or(text.len(), |e| start + e);
        text[start..end].to_string()
    }
}

/// Decodes quoted-printable text (RFC 2045 §6.7) whose soft line breaks are already gone.
fn quoted_printable(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) if bytes[i] == b'=' => {
                out.push(b);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// Generates one test per backend for each scenario, with the server sending mail to a sink:
/// `with_mail!(a, b);` lists top-level `async fn a(app: TestApp, mail: MailSink) { … }`
/// functions and makes the tests `a::sqlite` and `a::postgres`.
macro_rules! with_mail {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let mail = $crate::mail::MailSink::start().await;
                    let url = mail.url();
                    let backend = $crate::helpers::Backend::Sqlite;
                    let env = [("GPTAUTH_SMTP_URL", url.as_str())];
                    let app = $crate::helpers::spawn_app(backend, &env).await;
                    super::$name(app.expect("sqlite is always available"), mail).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let mail = $crate::mail::MailSink::start().await;
                    let url = mail.url();
                    let backend = $crate::helpers::Backend::Postgres;
                    let env = [("GPTAUTH_SMTP_URL", url.as_str())];
                    if let Some(app) = $crate::helpers::spawn_app(backend, &env).await {
                        super::$name(app, mail).await
                    }
                }
            }
        )+
    };
}
pub(crate) use with_mail;

/// Signs up through the form; returns the browser, signed in.
pub async fn sign_up(app: &TestApp, email: &str, next: &str) -> reqwest::Client {
    let browser = browser();
    let (_, _, page) = app
        .get(
            &browser,
            &app.url(&format!("/signup?next={}", urlencode(next))),
        )
        .await;
    let (status, _, body) = app
        .post_form(
            &browser,
            &app.url("/signup"),
            &[
                ("email", email),
                ("password", PASSWORD),
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("next", &form_value(&page, "next")),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    browser
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn userinfo(app: &TestApp, access_token: &str) -> Value {
    reqwest::Client::new()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

async fn sign_up_mails_a_link_that_verifies_the_address_once(app: TestApp, mail: MailSink) {
    let browser = sign_up(&app, "ada@example.com", "/account").await;
    let message = mail.wait_for("ada@example.com", 1).await;
    assert_eq!(message.subject(), "Confirm your e-mail address");
    assert!(
        message.data.contains("Content-Type: text/html"),
        "a text and an HTML part"
    );
    assert!(
        message.data.lines().any(|l| l.starts_with("Message-ID: <")),
        "{}",
        message.data
    );
    let link = message.link(&app);
    assert!(link.contains("/verify-email?token="), "{link}");
    let client = app.client().await;
    let before = app.tokens_for(&client, "ada@example.com").await;
    let claims = app
        .verify_jwt(before["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(
        (claims["email"].as_str(), claims["email_verified"].as_bool()),
        (Some("ada@example.com"), Some(false))
    );
    assert_eq!(
        userinfo(&app, before["access_token"].as_str().expect("at")).await["email_verified"],
        false
    );

    let (status, _, page) = app.get(&browser, &link).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("confirmed"));
    let (status, _, _) = app.get(&browser, &link).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "single use");

    let after = app.tokens_for(&client, "ada@example.com").await;
    let claims = app
        .verify_jwt(after["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(claims["email_verified"], true);
    assert_eq!(
        userinfo(&app, after["access_token"].as_str().expect("at")).await["email_verified"],
        true
    );
    // A refresh reads the address afresh too.
    let (_, refreshed) = app
        .refresh(&client, true, before["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(
        app.verify_jwt(refreshed["access_token"].as_str().expect("at"))
            .await["email_verified"],
        true
    );
    let (status, introspected) = app
        .post_as(
            "/oauth/introspect",
            Some((&client.id, &client.secret)),
            &[("token", after["access_token"].as_str().expect("at"))],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            introspected["email"].as_str(),
            introspected["email_verified"].as_bool()
        ),
        (Some("ada@example.com"), Some(true))
    );
    // Without the email scope, no address in the token.
    let narrow = app.client_with("openid", &[CHATGPT_OPENAI]).await;
    let tokens = app.tokens_for(&narrow, "ada@example.com").await;
    assert!(
        app.verify_jwt(tokens["access_token"].as_str().expect("at"))
            .await
            .get("email")
            .is_none()
    );
    let (_, _, account) = app.get(&browser, &app.url("/account")).await;
    assert!(account.contains("id=\"email-verified\""), "{account}");
}

async fn a_forgotten_password_is_reset_by_mail_and_signs_out_everywhere(
    app: TestApp,
    mail: MailSink,
) {
    let user = app.user("ada@example.com").await;
    let client = app.client().await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let other = browser();
    app.sign_in(
        &other,
        &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        "ada@example.com",
        PASSWORD,
    )
    .await;

    let forgot = |email: &'static str| {
        let app = &app;
        async move {
            let browser = browser();
            let (_, _, page) = app.get(&browser, &app.url("/forgot-password")).await;
            app.post_form(
                &browser,
                &app.url("/forgot-password"),
                &[
                    ("email", email),
                    ("csrf_token", &form_value(&page, "csrf_token")),
                ],
            )
            .await
        }
    };
    let (status, _, known) = forgot("ada@example.com").await;
    let (status_unknown, _, unknown) = forgot("nobody@example.com").await;
    assert_eq!((status, status_unknown), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        known.replace("ada@example.com", "X"),
        unknown.replace("nobody@example.com", "X"),
        "the same answer either way"
    );
    let message = mail.wait_for("ada@example.com", 1).await;
    assert_eq!(message.subject(), "Reset your password");
    let link = message.link(&app);

    let resetter = browser();
    let (status, _, page) = app.get(&resetter, &link).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let token = form_value(&page, "token");
    let csrf = form_value(&page, "csrf_token");
    let (status, _, again) = app
        .post_form(
            &resetter,
            &app.url("/reset-password"),
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("password", "password123"),
                ("confirm", "password123"),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a common password is refused and the link stays good"
    );
    assert!(again.contains("role=\"alert\""));
    let new_password = "a brand new passphrase 42";
    let (status, _, done) = app
        .post_form(
            &resetter,
            &app.url("/reset-password"),
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("password", new_password),
                ("confirm", new_password),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let (status, _, _) = app.get(&resetter, &link).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "single use");

    let (status, body) = app
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "every GPT must sign in again"
    );
    let (status, location, _) = app.get(&other, &app.url("/account")).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login?next=%2Faccount")),
        "other sessions are over"
    );
    let cb = app
        .sign_in(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            new_password,
        )
        .await;
    assert!(cb.param("code").is_some());
    let audit = app.db.audit_since(0, 1000).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "password_reset" && e.user_id == Some(user))
    );

    // An expired link does not work.
    let (_, _) = (forgot("ada@example.com").await, ());
    let late = mail.wait_for("ada@example.com", 2).await.link(&app);
    app.advance(gptauth::app::mail_links::RESET_SECONDS + 1);
    let (status, _, _) = app.get(&resetter, &late).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        mail.to("nobody@example.com").is_empty(),
        "no mail for an unknown address"
    );
}

async fn a_client_requiring_verified_email_continues_the_authorization_after_verification(
    app: TestApp,
    mail: MailSink,
) {
    let client = app.client().await;
    assert!(
        app.db
            .set_require_verified_email(&client.id, true)
            .await
            .expect("flag")
    );
    let authorize = app.authorize_url(&client, CHATGPT_OPENAI, "keep-me", None);
    let next = authorize.trim_start_matches(&app.address).to_string();
    let popup = sign_up(&app, "ada@example.com", &next).await;
    let (status, location, _) = app.get(&popup, &authorize).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let pending = location.expect("to verification");
    assert!(
        pending.starts_with("/verify-email/pending?next="),
        "{pending}"
    );
    let (_, _, page) = app.get(&popup, &app.url(&pending)).await;
    assert!(
        page.contains("Notes GPT") && page.contains("ada@example.com"),
        "{page}"
    );
    // "Send again" mails a second link.
    let (status, _, _) = app
        .post_form(
            &popup,
            &app.url("/verify-email/resend"),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("next", &form_value(&page, "next")),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let link = mail.wait_for("ada@example.com", 2).await.link(&app);
    // Opened elsewhere (the mail app), then the popup continues where it was.
    let (status, _, _) = app.get(&browser(), &link).await;
    assert_eq!(status, StatusCode::OK);
    let cb = app
        .sign_in(&popup, &authorize, "ada@example.com", PASSWORD)
        .await;
    assert_eq!(cb.param("state").as_deref(), Some("keep-me"));
    let (status, tokens) = app
        .exchange_code(&client, true, &cb.code(), CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    // prompt=none cannot ask: interaction_required.
    let other = app.client().await;
    assert!(
        app.db
            .set_require_verified_email(&other.id, true)
            .await
            .expect("flag")
    );
    let unverified = sign_up(&app, "bob@example.com", "/account").await;
    let (_, location, _) = app
        .get(
            &unverified,
            &app.authorize_url_with(&other, CHATGPT_OPENAI, &[("prompt", "none")]),
        )
        .await;
    assert!(
        location
            .unwrap_or_default()
            .contains("error=interaction_required")
    );
}

async fn the_address_changes_only_when_the_new_one_confirms_and_the_sub_stays(
    app: TestApp,
    mail: MailSink,
) {
    let user = app.user("ada@example.com").await;
    app.user("taken@example.com").await;
    let client = app.client().await;
    let browser = browser();
    app.sign_in(
        &browser,
        &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        "ada@example.com",
        PASSWORD,
    )
    .await;
    let (_, _, page) = app.get(&browser, &app.url("/account")).await;
    let csrf = form_value(&page, "csrf_token");
    let (status, _, wrong) = app
        .post_form(
            &browser,
            &app.url("/account/email"),
            &[
                ("csrf_token", &csrf),
                ("new_email", "ada@new.example"),
                ("current_password", "wrong password"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}");
    let (status, location, _) = app
        .post_form(
            &browser,
            &app.url("/account/email"),
            &[
                ("csrf_token", &csrf),
                ("new_email", "ada@new.example"),
                ("current_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/account?done=email"))
    );
    let confirm = mail.wait_for("ada@new.example", 1).await;
    let notice = mail.wait_for("ada@example.com", 1).await;
    assert!(
        notice.text().contains("ada@new.example"),
        "the old address is told"
    );
    assert_eq!(
        app.db
            .user_by_id(user)
            .await
            .expect("db")
            .expect("user")
            .email,
        "ada@example.com",
        "nothing changes before the link"
    );
    let (status, _, _) = app.get(&browser, &confirm.link(&app)).await;
    assert_eq!(status, StatusCode::OK);
    let moved = app.db.user_by_id(user).await.expect("db").expect("user");
    assert_eq!(
        (moved.email.as_str(), moved.email_verified_at.is_some()),
        ("ada@new.example", true)
    );
    let tokens = app.tokens_for(&client, "ada@new.example").await;
    assert_eq!(
        app.verify_jwt(tokens["access_token"].as_str().expect("at"))
            .await["sub"],
        user.to_string(),
        "the same person"
    );

    // An address another account has: the same answer, and no mail to it.
    let (_, _, page) = app.get(&browser, &app.url("/account")).await;
    let (status, location, _) = app
        .post_form(
            &browser,
            &app.url("/account/email"),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("new_email", "taken@example.com"),
                ("current_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/account?done=email"))
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(mail.to("taken@example.com").is_empty());
}

with_mail!(
    sign_up_mails_a_link_that_verifies_the_address_once,
    a_forgotten_password_is_reset_by_mail_and_signs_out_everywhere,
    a_client_requiring_verified_email_continues_the_authorization_after_verification,
    the_address_changes_only_when_the_new_one_confirms_and_the_sub_stays
);
