//! OAuth load driver for gptauth's side-by-side benchmark.
//!
//! `bench-driver run …` speaks OAuth to any server from its discovery document and measures the
//! scenarios `metadata`, `refresh`, `flow` and `introspect` at several concurrencies, and for
//! gptauth `login` (password sign-in through the login form) and `refresh+login-flood` (refresh
//! chains while other users post logins); it writes one JSON object per (scenario, concurrency)
//! to `--out`. `bench-driver argon2` times bare argon2id verifies with the server's parameters,
//! `bench-driver startup` times `gptauth serve` from spawn to a ready `/readyz`.
//! `bench-driver report FILE…` merges such files into one JSON document, prints a markdown table
//! with ratios to the peer and the targets, and draws a PNG chart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{redirect, Client, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;

type Res<T> = Result<T, String>;

#[derive(Clone, Debug)]
struct Opts {
    label: String,
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    email: String,
    password: String,
    scope: String,
    scenarios: Vec<String>,
    vus: Vec<usize>,
    seconds: f64,
    warmup: f64,
    pid: Option<u32>,
    out: String,
    note: String,
    introspect_token: String,
    flood_refresh_vus: usize,
    flood_login_vus: usize,
    /// Bare argon2id timing right after `login` at 1 VU (the server idle), pinned to this CPU.
    argon2_out: Option<String>,
    argon2_cpu: Option<String>,
    argon2_hash: Option<String>,
    argon2_runs: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-driver run --label L --issuer URL --client-id ID --client-secret S \\
           --redirect-uri URI --email E --password P [--scope 'openid'] \\
           [--scenarios metadata,refresh,flow,introspect,login,refresh+login-flood] [--vus 1,16,64] \\
           [--seconds 10] [--warmup 2] [--pid SERVER_PID] [--note TEXT] [--introspect-token access|refresh] \\
           [--flood-refresh-vus 16] [--flood-login-vus 64] \\
           [--argon2-out FILE.json [--argon2-cpu 0] [--argon2-hash PHC] [--argon2-runs 30]] --out FILE.json
       bench-driver argon2 [--password P] [--hash PHC] [--n 30] [--label L] [--out FILE.json]
       bench-driver startup --url http://HOST:PORT/readyz [--runs 10] [--every-ms 2] [--label L] \\
           [--out FILE.json] -- CMD ARG…
       bench-driver report [--json OUT.json] [--md OUT.md] [--png OUT.png] [--font TTF] FILE.json…"
    );
    std::process::exit(2)
}

fn parse_run(args: &[String]) -> Opts {
    let mut m: HashMap<String, String> = HashMap::new();
    let mut i = 0;
    while i < args.len() {
        let k = args[i].strip_prefix("--").unwrap_or_else(|| usage()).to_string();
        let v = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        m.insert(k, v);
        i += 2;
    }
    let get = |k: &str| {
        m.get(k).cloned().unwrap_or_else(|| {
            eprintln!("missing --{k}");
            usage()
        })
    };
    let or = |k: &str, d: &str| m.get(k).cloned().unwrap_or_else(|| d.to_string());
    Opts {
        label: get("label"),
        issuer: get("issuer").trim_end_matches('/').to_string(),
        client_id: get("client-id"),
        client_secret: get("client-secret"),
        redirect_uri: get("redirect-uri"),
        email: get("email"),
        password: get("password"),
        scope: or("scope", "openid"),
        scenarios: or("scenarios", "metadata,refresh,flow,introspect").split(',').map(str::to_string).collect(),
        vus: or("vus", "1,16,64").split(',').map(|v| v.parse().expect("--vus")).collect(),
        seconds: or("seconds", "10").parse().expect("--seconds"),
        warmup: or("warmup", "2").parse().expect("--warmup"),
        pid: m.get("pid").map(|p| p.parse().expect("--pid")),
        out: get("out"),
        note: or("note", ""),
        introspect_token: or("introspect-token", "access"),
        flood_refresh_vus: or("flood-refresh-vus", "16").parse().expect("--flood-refresh-vus"),
        flood_login_vus: or("flood-login-vus", "64").parse().expect("--flood-login-vus"),
        argon2_out: m.get("argon2-out").cloned(),
        argon2_cpu: m.get("argon2-cpu").cloned(),
        argon2_hash: m.get("argon2-hash").cloned().filter(|h| !h.is_empty()),
        argon2_runs: or("argon2-runs", "30").parse().expect("--argon2-runs"),
    }
}

#[derive(Clone, Debug)]
struct Meta {
    discovery_url: String,
    authorization_endpoint: String,
    token_endpoint: String,
    introspection_endpoint: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Row {
    target: String,
    scenario: String,
    vus: usize,
    seconds: f64,
    ops: u64,
    requests_per_op: u32,
    errors: u64,
    first_error: Option<String>,
    ops_per_sec: f64,
    /// Fastest op (the least disturbed by anything else on the machine).
    #[serde(default)]
    min_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    server_peak_rss_kib: Option<u64>,
    server_cpu_s_per_1k_req: Option<f64>,
    note: String,
}

fn http(cookies: bool) -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .cookie_store(cookies)
        .pool_max_idle_per_host(4)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

async fn discover(issuer: &str) -> Res<Meta> {
    let c = http(false);
    // OIDC first, then RFC 8414.
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let url = format!("{issuer}{path}");
        let Ok(r) = c.get(&url).send().await else { continue };
        if !r.status().is_success() {
            continue;
        }
        let v: Value = r.json().await.map_err(|e| format!("{url}: {e}"))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        return Ok(Meta {
            discovery_url: url.clone(),
            authorization_endpoint: s("authorization_endpoint").ok_or("no authorization_endpoint")?,
            token_endpoint: s("token_endpoint").ok_or("no token_endpoint")?,
            introspection_endpoint: s("introspection_endpoint"),
        });
    }
    Err(format!("no discovery document at {issuer}"))
}

// ---------- a tiny HTML form reader (enough for plain server-rendered forms) ----------

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e < 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                u32::from_str_radix(&ent[2..], 16).ok().and_then(char::from_u32)
            }
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn attrs(tag: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let b = tag.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let s = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'>' {
            i += 1;
        }
        let name = tag[s..i].to_ascii_lowercase();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            let (vs, ve);
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                i += 1;
                vs = i;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                ve = i;
                i += 1;
            } else {
                vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                ve = i;
            }
            m.insert(name, decode_entities(&tag[vs..ve.min(b.len())]));
        } else if !name.is_empty() {
            m.insert(name, String::new());
        } else {
            i += 1;
        }
    }
    m
}

struct Form {
    action: String,
    method: String,
    fields: Vec<(String, String)>,
    names: Vec<String>,
}

fn forms(html: &str) -> Vec<Form> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(s) = lower[pos..].find("<form") {
        let s = pos + s;
        let tag_end = lower[s..].find('>').map(|e| s + e).unwrap_or(lower.len());
        let end = lower[tag_end..].find("</form").map(|e| tag_end + e).unwrap_or(lower.len());
        let fa = attrs(&html[s + 5..tag_end]);
        let body = &html[tag_end..end];
        let lbody = &lower[tag_end..end];
        let mut fields = Vec::new();
        let mut names = Vec::new();
        let mut p = 0;
        while let Some(i) = lbody[p..].find("<input") {
            let i = p + i;
            let e = lbody[i..].find('>').map(|e| i + e).unwrap_or(lbody.len());
            let a = attrs(&body[i + 6..e]);
            if let Some(n) = a.get("name") {
                names.push(n.clone());
                if a.get("type").map(|t| t.eq_ignore_ascii_case("hidden")).unwrap_or(false) {
                    fields.push((n.clone(), a.get("value").cloned().unwrap_or_default()));
                }
            }
            p = e;
        }
        // Buttons with a name count as possible fields too (consent's decision).
        let mut p = 0;
        while let Some(i) = lbody[p..].find("<button") {
            let i = p + i;
            let e = lbody[i..].find('>').map(|e| i + e).unwrap_or(lbody.len());
            let a = attrs(&body[i + 7..e]);
            if let Some(n) = a.get("name") {
                names.push(format!("{n}={}", a.get("value").cloned().unwrap_or_default()));
            }
            p = e;
        }
        out.push(Form {
            action: fa.get("action").cloned().unwrap_or_default(),
            method: fa.get("method").cloned().unwrap_or_else(|| "get".into()).to_ascii_lowercase(),
            fields,
            names,
        });
        pos = end.max(s + 5);
    }
    out
}

// ---------- OAuth steps ----------

fn authorize_url(o: &Opts, m: &Meta, state: &str) -> String {
    let mut u = Url::parse(&m.authorization_endpoint).expect("authorization_endpoint");
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &o.client_id)
        .append_pair("redirect_uri", &o.redirect_uri)
        .append_pair("scope", &o.scope)
        .append_pair("state", state);
    u.to_string()
}

fn code_from(loc: &str, o: &Opts, state: &str) -> Res<Option<String>> {
    if !loc.starts_with(&o.redirect_uri) {
        return Ok(None);
    }
    let u = Url::parse(loc).map_err(|e| format!("callback {loc}: {e}"))?;
    let q: HashMap<_, _> = u.query_pairs().into_owned().collect();
    if let Some(e) = q.get("error") {
        return Err(format!("callback error {e}: {:?}", q.get("error_description")));
    }
    if q.get("state").map(String::as_str) != Some(state) {
        return Err("callback state mismatch".into());
    }
    q.get("code").cloned().map(Some).ok_or_else(|| "callback without code".into())
}

/// The first sign-in: follows redirects, fills a login form (email + password + hidden fields,
/// CSRF included) and a consent form (`decision=allow`), or, for a server whose interaction
/// endpoints finish on their own (the oidc-provider peer), just follows. Returns the code.
async fn interactive_code(c: &Client, o: &Opts, m: &Meta) -> Res<String> {
    let state = format!("s{}", rand_u64());
    let mut req = c.get(authorize_url(o, m, &state));
    let mut current = Url::parse(&m.authorization_endpoint).unwrap();
    for _ in 0..20 {
        let r = req.send().await.map_err(|e| format!("setup request: {e}"))?;
        let status = r.status();
        let url = r.url().clone();
        current = url.clone();
        if status.is_redirection() {
            let loc = r.headers().get("location").and_then(|v| v.to_str().ok()).ok_or("redirect without location")?;
            let next = url.join(loc).map_err(|e| format!("location {loc}: {e}"))?;
            if let Some(code) = code_from(next.as_str(), o, &state)? {
                return Ok(code);
            }
            req = c.get(next);
            continue;
        }
        let body = r.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("setup: {status} at {url}: {}", &body[..body.len().min(300)]));
        }
        let fs = forms(&body);
        let login = fs.iter().find(|f| f.method == "post" && f.names.iter().any(|n| n == "password"));
        let consent = fs.iter().find(|f| f.method == "post" && f.names.iter().any(|n| n == "decision=allow"));
        let (f, extra): (&Form, Vec<(String, String)>) = if let Some(f) = login {
            (f, vec![("email".into(), o.email.clone()), ("password".into(), o.password.clone())])
        } else if let Some(f) = consent {
            (f, vec![("decision".into(), "allow".into())])
        } else {
            return Err(format!("setup: no login or consent form at {url}"));
        };
        let mut fields = f.fields.clone();
        fields.extend(extra);
        let action = url.join(&f.action).map_err(|e| e.to_string())?;
        req = c.post(action).form(&fields);
    }
    Err(format!("setup: too many steps (last {current})"))
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
}

async fn exchange(c: &Client, o: &Opts, m: &Meta, code: &str) -> Res<Tokens> {
    let r = c
        .post(&m.token_endpoint)
        .basic_auth(&o.client_id, Some(&o.client_secret))
        .form(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", &o.redirect_uri)])
        .send()
        .await
        .map_err(|e| format!("token: {e}"))?;
    token_response(r).await
}

async fn token_response(r: reqwest::Response) -> Res<Tokens> {
    let s = r.status();
    if s != StatusCode::OK {
        let b = r.text().await.unwrap_or_default();
        return Err(format!("token: {s}: {}", &b[..b.len().min(200)]));
    }
    r.json().await.map_err(|e| format!("token body: {e}"))
}

async fn refresh(c: &Client, o: &Opts, m: &Meta, rt: &str) -> Res<Tokens> {
    let r = c
        .post(&m.token_endpoint)
        .basic_auth(&o.client_id, Some(&o.client_secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .send()
        .await
        .map_err(|e| format!("refresh: {e}"))?;
    token_response(r).await
}

/// A returning user: authorize answers 302 straight to the callback, then the code exchange.
async fn flow_once(c: &Client, o: &Opts, m: &Meta) -> Res<()> {
    let state = format!("f{}", rand_u64());
    let r = c.get(authorize_url(o, m, &state)).send().await.map_err(|e| format!("authorize: {e}"))?;
    if !r.status().is_redirection() {
        return Err(format!("authorize: {} (expected a redirect to the callback)", r.status()));
    }
    let loc = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let loc = r.url().join(&loc).map_err(|e| e.to_string())?;
    let code = code_from(loc.as_str(), o, &state)?
        .ok_or_else(|| format!("authorize redirected to {loc}, not to the callback (consent not remembered?)"))?;
    let t = exchange(c, o, m, &code).await?;
    if t.access_token.is_empty() {
        return Err("empty access_token".into());
    }
    Ok(())
}

async fn introspect_once(c: &Client, o: &Opts, url: &str, token: &str) -> Res<()> {
    let r = c
        .post(url)
        .basic_auth(&o.client_id, Some(&o.client_secret))
        .form(&[("token", token)])
        .send()
        .await
        .map_err(|e| format!("introspect: {e}"))?;
    if r.status() != StatusCode::OK {
        return Err(format!("introspect: {}", r.status()));
    }
    let v: Value = r.json().await.map_err(|e| e.to_string())?;
    if v.get("active") != Some(&Value::Bool(true)) {
        return Err(format!("introspect: not active: {v}"));
    }
    Ok(())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

// ---------- server process stats ----------

fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // fields 14 and 15 (utime, stime) of the full line are 11 and 12 after "pid (comm)".
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn proc_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

// ---------- the runner ----------

/// A browser that has loaded gptauth's login form once: the form's action, its hidden fields
/// (the CSRF token among them) and the cookies the page set (the CSRF cookie). The token stays
/// valid for as long as the cookie is sent, so one GET serves every POST of this user.
#[derive(Clone)]
struct LoginForm {
    /// Without a cookie store: each POST carries just the page's cookies, like a browser that has
    /// the form open and no session yet, so every op is a full sign-in.
    client: Client,
    action: Url,
    fields: Vec<(String, String)>,
    cookie: String,
}

/// Per virtual user state.
struct Vu {
    client: Client,
    refresh_token: String,
    access_token: String,
    login: Option<LoginForm>,
}

impl Vu {
    fn bare() -> Vu {
        Vu { client: http(true), refresh_token: String::new(), access_token: String::new(), login: None }
    }
}

async fn setup_vu(o: &Opts, m: &Meta) -> Res<Vu> {
    let client = http(true);
    let code = interactive_code(&client, o, m).await?;
    let t = exchange(&client, o, m, &code).await?;
    Ok(Vu {
        client,
        refresh_token: t.refresh_token.ok_or("no refresh_token from the code exchange")?,
        access_token: t.access_token,
        login: None,
    })
}

/// GET of the login form (gptauth's `/login`, without any session), kept for the `login` ops.
async fn load_login_form(o: &Opts) -> Res<LoginForm> {
    let url = Url::parse(&format!("{}/login", o.issuer)).map_err(|e| e.to_string())?;
    let client = http(false);
    let r = client.get(url.clone()).send().await.map_err(|e| format!("login form: {e}"))?;
    if r.status() != StatusCode::OK {
        return Err(format!("login form: {} at {url}", r.status()));
    }
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    let body = r.text().await.map_err(|e| e.to_string())?;
    let f = forms(&body)
        .into_iter()
        .find(|f| f.method == "post" && f.names.iter().any(|n| n == "password"))
        .ok_or_else(|| format!("no login form at {url}"))?;
    let action = url.join(&f.action).map_err(|e| e.to_string())?;
    let mut fields = f.fields;
    fields.retain(|(k, _)| k != "email" && k != "password");
    fields.push(("email".into(), o.email.clone()));
    fields.push(("password".into(), o.password.clone()));
    Ok(LoginForm { client, action, fields, cookie })
}

/// One password sign-in: the login form POST with the right e-mail and password and the CSRF
/// token, as a browser without a session sends it. Success is gptauth's 303 with a session cookie.
async fn login_once(f: &LoginForm) -> Res<()> {
    let r = f
        .client
        .post(f.action.clone())
        .header("cookie", &f.cookie)
        .form(&f.fields)
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    let s = r.status();
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with("gptauth_session="));
    if s != StatusCode::SEE_OTHER || !session {
        let b = r.text().await.unwrap_or_default();
        let msg = b.find("class=\"error").map(|i| &b[i..(i + 160).min(b.len())]).unwrap_or("");
        return Err(format!("login: {s} (session cookie: {session}) {msg}"));
    }
    Ok(())
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn requests_per_op(scenario: &str) -> u32 {
    if scenario == "flow" {
        2
    } else {
        1
    }
}

/// One operation of a scenario for one virtual user.
async fn op(scenario: &str, vu: &mut Vu, o: &Opts, m: &Meta) -> Res<()> {
    match scenario {
        "metadata" => match vu.client.get(&m.discovery_url).send().await {
            Ok(r) if r.status() == StatusCode::OK => r.bytes().await.map(|_| ()).map_err(|e| e.to_string()),
            Ok(r) => Err(format!("metadata: {}", r.status())),
            Err(e) => Err(format!("metadata: {e}")),
        },
        "refresh" => {
            let t = refresh(&vu.client, o, m, &vu.refresh_token).await?;
            let rt = t.refresh_token.ok_or("refresh: no rotated refresh_token")?;
            vu.refresh_token = rt;
            vu.access_token = t.access_token;
            Ok(())
        }
        "flow" => flow_once(&vu.client, o, m).await,
        "introspect" => match &m.introspection_endpoint {
            Some(u) => {
                let t = if o.introspect_token == "refresh" { &vu.refresh_token } else { &vu.access_token };
                introspect_once(&vu.client, o, u, t).await
            }
            None => Err("no introspection_endpoint".into()),
        },
        "login" => match &vu.login {
            Some(f) => login_once(f).await,
            None => Err("login: no login form loaded".into()),
        },
        other => Err(format!("unknown scenario {other}")),
    }
}

type VuResult = (Vu, Vec<u64>, u64, Option<String>);

/// Starts one task per virtual user doing `scenario` back to back from `start` until the end of
/// the measured window; latencies are kept from `start + warmup` on.
fn spawn_group(
    o: &Arc<Opts>,
    m: &Arc<Meta>,
    scenario: &str,
    vus: Vec<Vu>,
    start: Instant,
) -> Vec<tokio::task::JoinHandle<VuResult>> {
    let (w_end, end) =
        (start + Duration::from_secs_f64(o.warmup), start + Duration::from_secs_f64(o.warmup + o.seconds));
    vus.into_iter()
        .map(|mut vu| {
            let (o, m, scenario) = (o.clone(), m.clone(), scenario.to_string());
            tokio::spawn(async move {
                tokio::time::sleep_until(start.into()).await;
                let mut lat: Vec<u64> = Vec::with_capacity(1 << 14);
                let mut errors = 0u64;
                let mut first_error = None;
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let r = op(&scenario, &mut vu, &o, &m).await;
                    let dt = t0.elapsed();
                    match r {
                        Ok(()) if t0 >= w_end => lat.push(dt.as_micros() as u64),
                        Ok(()) => {}
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                            // A broken refresh chain cannot continue; stop this user.
                            break;
                        }
                    }
                }
                (vu, lat, errors, first_error)
            })
        })
        .collect()
}

struct Collected {
    lat: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
    vus: Vec<Vu>,
}

async fn collect(handles: Vec<tokio::task::JoinHandle<VuResult>>) -> Collected {
    let mut c = Collected { lat: Vec::new(), errors: 0, first_error: None, vus: Vec::new() };
    for h in handles {
        let (vu, lat, e, fe) = h.await.expect("vu task");
        c.lat.extend(lat);
        c.errors += e;
        if c.first_error.is_none() {
            c.first_error = fe;
        }
        c.vus.push(vu);
    }
    c.lat.sort_unstable();
    c
}

/// The server's CPU ticks at the start and at the end of the measured window.
async fn cpu_window(o: &Opts, start: Instant) -> (Option<u64>, Option<u64>) {
    tokio::time::sleep_until((start + Duration::from_secs_f64(o.warmup)).into()).await;
    let cpu0 = o.pid.and_then(proc_cpu_ticks);
    tokio::time::sleep_until((start + Duration::from_secs_f64(o.warmup + o.seconds)).into()).await;
    (cpu0, o.pid.and_then(proc_cpu_ticks))
}

fn cpu_per_1k(cpu: (Option<u64>, Option<u64>), requests: u64) -> Option<f64> {
    match cpu {
        (Some(a), Some(b)) if requests > 0 => Some((b - a) as f64 / clk_tck() / requests as f64 * 1000.0),
        _ => None,
    }
}

fn make_row(o: &Opts, scenario: &str, n: usize, c: &Collected, cpu: Option<f64>, note: &str) -> Row {
    let all = &c.lat;
    let ops = all.len() as u64;
    let secs = o.seconds;
    Row {
        target: o.label.clone(),
        scenario: scenario.to_string(),
        vus: n,
        seconds: secs,
        ops,
        requests_per_op: requests_per_op(scenario),
        errors: c.errors,
        first_error: c.first_error.clone(),
        ops_per_sec: ops as f64 / secs,
        min_ms: pct(all, 0.0),
        p50_ms: pct(all, 50.0),
        p90_ms: pct(all, 90.0),
        p99_ms: pct(all, 99.0),
        max_ms: pct(all, 100.0),
        server_peak_rss_kib: o.pid.and_then(proc_hwm_kib),
        server_cpu_s_per_1k_req: cpu,
        note: if note.is_empty() { o.note.clone() } else { format!("{}; {note}", o.note) },
    }
}

async fn run_scenario(o: &Opts, m: &Meta, scenario: &str, n: usize, vus: Vec<Vu>) -> (Row, Vec<Vu>) {
    let start = Instant::now() + Duration::from_millis(50);
    let (o2, m2) = (Arc::new(o.clone()), Arc::new(m.clone()));
    let handles = spawn_group(&o2, &m2, scenario, vus, start);
    let cpu = cpu_window(o, start).await;
    let c = collect(handles).await;
    let cpu = cpu_per_1k(cpu, c.lat.len() as u64 * requests_per_op(scenario) as u64);
    (make_row(o, scenario, n, &c, cpu, ""), c.vus)
}

/// `refresh+login-flood`: `flood_refresh_vus` users walk their refresh chains (as in `refresh`)
/// while `flood_login_vus` other users post the login form back to back, in the same window.
/// Two rows: the refresh latencies under the flood, and the logins' own.
async fn run_flood(o: &Opts, m: &Meta, refreshers: Vec<Vu>, loginers: Vec<Vu>) -> (Vec<Row>, Vec<Vu>, Vec<Vu>) {
    let (nr, nl) = (refreshers.len(), loginers.len());
    let start = Instant::now() + Duration::from_millis(50);
    let (o2, m2) = (Arc::new(o.clone()), Arc::new(m.clone()));
    let hr = spawn_group(&o2, &m2, "refresh", refreshers, start);
    let hl = spawn_group(&o2, &m2, "login", loginers, start);
    let cpu = cpu_window(o, start).await;
    let (cr, cl) = (collect(hr).await, collect(hl).await);
    let cpu = cpu_per_1k(cpu, (cr.lat.len() + cl.lat.len()) as u64);
    let note = format!("{nr} refresh VUs and {nl} login VUs at once; CPU per 1k of both");
    let rows =
        vec![make_row(o, "refresh+login-flood", nr, &cr, cpu, &note), make_row(o, "login-flood", nl, &cl, cpu, &note)];
    (rows, cr.vus, cl.vus)
}

fn print_row(row: &Row) {
    eprintln!(
        "[{}] {:<10} vus={:<3} {:>9.1} op/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  errors {}{}",
        row.target,
        row.scenario,
        row.vus,
        row.ops_per_sec,
        row.p50_ms,
        row.p90_ms,
        row.p99_ms,
        row.errors,
        row.first_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
    );
}

async fn attach_login_forms(o: &Opts, vus: &mut [Vu]) -> Res<()> {
    for vu in vus.iter_mut().filter(|v| v.login.is_none()) {
        vu.login = Some(load_login_form(o).await?);
    }
    Ok(())
}

async fn run(o: Opts) -> i32 {
    let m = match discover(&o.issuer).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let flood = o.scenarios.iter().any(|s| s == FLOOD);
    let mut max_vus = *o.vus.iter().max().unwrap_or(&1);
    if flood {
        max_vus = max_vus.max(o.flood_refresh_vus);
    }
    // One signed-in user agent per virtual user, each through the real authorization-code flow.
    let needs_tokens = o.scenarios.iter().any(|s| s != "metadata" && s != "login");
    let t0 = Instant::now();
    let mut pool: Vec<Vu> = Vec::new();
    for _ in 0..max_vus {
        if needs_tokens {
            match setup_vu(&o, &m).await {
                Ok(v) => pool.push(v),
                Err(e) => {
                    eprintln!("[{}] setup failed: {e}", o.label);
                    return 1;
                }
            }
        } else {
            pool.push(Vu::bare());
        }
    }
    eprintln!("[{}] {} users signed in in {:.1}s", o.label, pool.len(), t0.elapsed().as_secs_f64());
    let mut rows: Vec<Row> = Vec::new();
    let mut failed = false;
    for scenario in &o.scenarios {
        let mut done = Vec::new();
        if scenario == FLOOD {
            // The flood's baseline is plain `refresh` at the same number of refresh users, from
            // this run: measured here unless the run already has it.
            if !rows.iter().any(|r| r.scenario == "refresh" && r.vus == o.flood_refresh_vus) {
                let rest = pool.split_off(o.flood_refresh_vus.min(pool.len()));
                let (row, mut back) =
                    run_scenario(&o, &m, "refresh", o.flood_refresh_vus, std::mem::take(&mut pool)).await;
                back.extend(rest);
                pool = back;
                done.push(row);
            }
            let mut loginers: Vec<Vu> = (0..o.flood_login_vus).map(|_| Vu::bare()).collect();
            if let Err(e) = attach_login_forms(&o, &mut loginers).await {
                eprintln!("[{}] {e}", o.label);
                return 1;
            }
            let rest = pool.split_off(o.flood_refresh_vus.min(pool.len()));
            let (fr, mut back, _) = run_flood(&o, &m, std::mem::take(&mut pool), loginers).await;
            back.extend(rest);
            pool = back;
            done.extend(fr);
        } else {
            if scenario == "login" {
                if let Err(e) = attach_login_forms(&o, &mut pool).await {
                    eprintln!("[{}] {e}", o.label);
                    return 1;
                }
            }
            for &n in &o.vus {
                let rest = pool.split_off(n.min(pool.len()));
                let (row, mut back) = run_scenario(&o, &m, scenario, n, std::mem::take(&mut pool)).await;
                back.extend(rest);
                pool = back;
                done.push(row);
                if scenario == "login" && n == 1 {
                    // While the server is idle, right after the row it is compared with.
                    argon2_in_run(&o);
                }
            }
        }
        for row in done {
            print_row(&row);
            failed |= row.errors > 0;
            rows.push(row);
            // Users whose chain broke are replaced so the next level starts clean.
            if needs_tokens && failed {
                for vu in pool.iter_mut() {
                    if let Ok(mut v) = setup_vu(&o, &m).await {
                        v.login = vu.login.take();
                        *vu = v;
                    }
                }
            }
        }
    }
    let json = serde_json::to_string_pretty(&rows).unwrap();
    if let Err(e) = std::fs::write(&o.out, json) {
        eprintln!("{}: {e}", o.out);
        return 1;
    }
    if failed {
        1
    } else {
        0
    }
}

const FLOOD: &str = "refresh+login-flood";

// ---------- argon2id, bare ----------

/// `bench-driver argon2`: argon2id verification in this process, with the server's parameters
/// (`Argon2::default()` of the same argon2 0.6.0 that gptauth uses: m=19456 KiB, t=2, p=1), on
/// whatever CPU this process is pinned to. Without `--hash`, hashes `--password` first, exactly as
/// `gptauth user create` does.
fn argon2_cmd(args: &[String]) -> i32 {
    let m = flags(args);
    let password = m.get("password").cloned().unwrap_or_else(|| "bench-password-123".into());
    let n: usize = m.get("n").map(|v| v.parse().expect("--n")).unwrap_or(30);
    let label = m.get("label").cloned().unwrap_or_default();
    match argon2_measure(&label, &password, m.get("hash").map(String::as_str), n) {
        Ok(doc) => write_doc(m.get("out"), &doc),
        Err(e) => {
            eprintln!("argon2: {e}");
            1
        }
    }
}

/// Times `n` argon2id verifies (after two untimed ones: the first 19 MiB allocation's page faults,
/// caches) of `password` against `hash`, or against a fresh hash with the server's parameters.
/// Each verify is what the server's `verify_blocking` does: parse the PHC string, then verify.
fn argon2_measure(label: &str, password: &str, hash: Option<&str>, n: usize) -> Res<Value> {
    use argon2::password_hash::phc::PasswordHash;
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
    use argon2::Argon2;
    let n = n.max(1);
    let source = if hash.is_some() { "the stored hash" } else { "a fresh hash (Argon2::default())" };
    let hash = match hash {
        Some(h) => h.to_string(),
        None => Argon2::default().hash_password(password.as_bytes()).map_err(|e| e.to_string())?.to_string(),
    };
    PasswordHash::new(&hash).map_err(|e| format!("not a PHC string: {e}"))?;
    let params = hash.split('$').nth(3).unwrap_or("").to_string();
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 2 {
        let t0 = Instant::now();
        let ok = PasswordHash::new(&hash)
            .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false);
        let dt = t0.elapsed().as_secs_f64() * 1000.0;
        if !ok {
            return Err("the password does not verify against the hash".into());
        }
        if i >= 2 {
            times.push(dt);
        }
    }
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
    eprintln!(
        "[{label}] bare argon2id verify of {source} ({params}), {n} runs on CPUs {}: median {median:.2} ms, min {:.2} ms, max {:.2} ms",
        allowed_cpus(),
        sorted[0],
        sorted[n - 1]
    );
    Ok(serde_json::json!({
        "kind": "argon2",
        "target": label,
        "algorithm": hash.split('$').nth(1).unwrap_or(""),
        "params": params,
        "hash": source,
        "cpus": allowed_cpus(),
        "n": n,
        "median_ms": median,
        "min_ms": sorted[0],
        "max_ms": sorted[n - 1],
        "samples_ms": times,
    }))
}

/// The CPUs the calling thread may run on (`Cpus_allowed_list`).
fn allowed_cpus() -> String {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:").map(|v| v.trim().to_string())))
        .unwrap_or_default()
}

/// Pins the calling thread (not the process) to `cpu`, with taskset on its thread id.
fn pin_this_thread(cpu: &str) -> Res<()> {
    let link = std::fs::read_link("/proc/thread-self").map_err(|e| format!("/proc/thread-self: {e}"))?;
    let tid = link.file_name().and_then(|t| t.to_str()).ok_or("no thread id")?.to_string();
    let ok = std::process::Command::new("taskset")
        .args(["-pc", cpu, &tid])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?
        .success();
    if ok {
        Ok(())
    } else {
        Err(format!("taskset -pc {cpu} {tid} failed"))
    }
}

/// The bare argon2id timing of a `run`, in its own thread pinned to the server's CPU.
fn argon2_in_run(o: &Opts) {
    let Some(out) = o.argon2_out.clone() else { return };
    let label = o.label.clone();
    let o = o.clone();
    let r = std::thread::spawn(move || {
        if let Some(cpu) = &o.argon2_cpu {
            pin_this_thread(cpu)?;
        }
        argon2_measure(&o.label, &o.password, o.argon2_hash.as_deref(), o.argon2_runs)
    })
    .join()
    .unwrap_or_else(|_| Err("argon2 thread panicked".into()));
    match r {
        Ok(doc) => {
            write_doc(Some(&out), &doc);
        }
        Err(e) => eprintln!("[{label}] argon2: {e}"),
    }
}

fn flags(args: &[String]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut i = 0;
    while i < args.len() {
        let k = args[i].strip_prefix("--").unwrap_or_else(|| usage()).to_string();
        let v = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        m.insert(k, v);
        i += 2;
    }
    m
}

fn write_doc(out: Option<&String>, doc: &Value) -> i32 {
    let s = serde_json::to_string_pretty(doc).unwrap();
    match out {
        Some(p) => match std::fs::write(p, s) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{p}: {e}");
                1
            }
        },
        None => {
            println!("{s}");
            0
        }
    }
}

// ---------- start-up time ----------

/// One GET of `/readyz` over a fresh connection; true on a 200.
fn ready(addr: &std::net::SocketAddr, host: &str, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
    }
    buf[..got].starts_with(b"HTTP/1.1 200") || buf[..got].starts_with(b"HTTP/1.0 200")
}

fn stop_child(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `bench-driver startup --url http://HOST:PORT/readyz [--runs 10] [--every-ms 2] -- CMD…`: spawns
/// CMD (e.g. `taskset -c 0 gptauth serve`, with the environment of this process) and polls the URL
/// until it answers 200; the time from spawning to that answer, `--runs` times.
fn startup_cmd(args: &[String]) -> i32 {
    let sep = args.iter().position(|a| a == "--").unwrap_or_else(|| usage());
    let m = flags(&args[..sep]);
    let cmd = &args[sep + 1..];
    if cmd.is_empty() {
        usage()
    }
    let url = Url::parse(m.get("url").unwrap_or_else(|| usage())).expect("--url");
    let runs: usize = m.get("runs").map(|v| v.parse().expect("--runs")).unwrap_or(10).max(1);
    let every =
        Duration::from_secs_f64(m.get("every-ms").map(|v| v.parse().expect("--every-ms")).unwrap_or(2.0) / 1000.0);
    let host = format!("{}:{}", url.host_str().unwrap_or("127.0.0.1"), url.port_or_known_default().unwrap_or(80));
    let addr: std::net::SocketAddr =
        match std::net::ToSocketAddrs::to_socket_addrs(&host).ok().and_then(|mut a| a.next()) {
            Some(a) => a,
            None => {
                eprintln!("startup: cannot resolve {host}");
                return 1;
            }
        };
    let mut samples = Vec::new();
    for run in 0..runs {
        // The port must be free: nothing may answer before the spawn.
        let free_by = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            if Instant::now() > free_by {
                eprintln!("startup: something already listens on {host}");
                return 1;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let t0 = Instant::now();
        let mut child = match std::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("startup: {}: {e}", cmd[0]);
                return 1;
            }
        };
        let deadline = t0 + Duration::from_secs(30);
        let mut took = None;
        while Instant::now() < deadline {
            if ready(&addr, &host, url.path()) {
                took = Some(t0.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!("startup: the server exited ({status}) before it was ready");
                return 1;
            }
            std::thread::sleep(every);
        }
        stop_child(&mut child);
        match took {
            Some(ms) => {
                eprintln!("startup run {}: {ms:.1} ms", run + 1);
                samples.push(ms);
            }
            None => {
                eprintln!("startup: not ready within 30 s");
                return 1;
            }
        }
    }
    let mut sorted = samples.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
    eprintln!("startup to ready, {n} runs: median {median:.1} ms, max {:.1} ms", sorted[n - 1]);
    let doc = serde_json::json!({
        "kind": "startup",
        "target": m.get("label").cloned().unwrap_or_default(),
        "command": cmd.join(" "),
        "poll_every_ms": every.as_secs_f64() * 1000.0,
        "runs": n,
        "median_ms": median,
        "min_ms": sorted[0],
        "max_ms": sorted[n - 1],
        "samples_ms": samples,
    });
    write_doc(m.get("out"), &doc)
}

// ---------- report ----------

/// A measurement of `bench-driver argon2` or `bench-driver startup` (a JSON object with `kind`).
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Extra {
    kind: String,
    target: String,
    #[serde(default)]
    params: String,
    #[serde(default)]
    n: usize,
    #[serde(default)]
    runs: usize,
    median_ms: f64,
    #[serde(default)]
    min_ms: f64,
    max_ms: f64,
    #[serde(default)]
    samples_ms: Vec<f64>,
}

const LOGIN_OVERHEAD_TARGET_PCT: f64 = 5.0;
const FLOOD_RATIO_TARGET: f64 = 2.0;
const STARTUP_TARGET_MS: f64 = 100.0;

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**PASS**"
    } else {
        "**MISS**"
    }
}

fn report(args: &[String]) -> i32 {
    let mut json_out = None;
    let mut md_out = None;
    let mut png_out = None;
    let mut font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".to_string();
    let mut files = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--json" | "--md" | "--png" | "--font" => {
                let v = args.get(i + 1).cloned().unwrap_or_else(|| usage());
                match args[i].as_str() {
                    "--json" => json_out = Some(v),
                    "--md" => md_out = Some(v),
                    "--png" => png_out = Some(v),
                    _ => font = v,
                }
                i += 2;
            }
            f => {
                files.push(f.to_string());
                i += 1;
            }
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut extras: Vec<Extra> = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    for f in &files {
        let Ok(s) = std::fs::read_to_string(f) else {
            eprintln!("skipping {f} (missing)");
            continue;
        };
        let v: Value = serde_json::from_str(&s).expect("results file");
        if v.is_object() {
            extras.push(serde_json::from_value(v).expect("argon2/startup file"));
            continue;
        }
        let r: Vec<Row> = serde_json::from_value(v).expect("results file");
        for row in &r {
            if !targets.contains(&row.target) {
                targets.push(row.target.clone());
            }
        }
        rows.extend(r);
    }
    let peer = targets.iter().find(|t| t.contains("oidc-provider")).cloned();
    let find = |t: &str, s: &str, v: usize| rows.iter().find(|r| r.target == t && r.scenario == s && r.vus == v);
    let mut md = String::new();
    md.push_str("| scenario | VUs | target | op/s | p50 ms | p90 ms | p99 ms | errors | peak RSS MiB | CPU s / 1k req | op/s vs peer | p99 vs peer |\n");
    md.push_str("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut keys: Vec<(String, usize)> = Vec::new();
    for r in &rows {
        let k = (r.scenario.clone(), r.vus);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for (s, v) in &keys {
        for t in &targets {
            let Some(r) = find(t, s, *v) else { continue };
            let (ratio, p99r) = match peer.as_deref().and_then(|p| find(p, s, *v)) {
                Some(p) if p.target != r.target && p.ops_per_sec > 0.0 && r.errors == 0 && p.errors == 0 => (
                    format!("{:.2}×", r.ops_per_sec / p.ops_per_sec),
                    if p.p99_ms > 0.0 { format!("{:.2}×", r.p99_ms / p.p99_ms) } else { "".into() },
                ),
                _ => (String::new(), String::new()),
            };
            md.push_str(&format!(
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} |\n",
                s,
                v,
                t,
                r.ops_per_sec,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                if r.errors > 0 { format!("**{}** FAILED", r.errors) } else { "0".into() },
                r.server_peak_rss_kib.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or_default(),
                r.server_cpu_s_per_1k_req.map(|c| format!("{:.3}", c)).unwrap_or_default(),
                ratio,
                p99r
            ));
        }
    }

    // The targets that are not ratios to the peer.
    let mut login_checks = Vec::new();
    let mut summary: Vec<String> = Vec::new();
    let argon: Vec<&Extra> = extras.iter().filter(|e| e.kind == "argon2").collect();
    let mut login_targets: Vec<String> =
        rows.iter().filter(|r| r.scenario == "login").map(|r| r.target.clone()).collect();
    login_targets.extend(argon.iter().map(|e| e.target.clone()));
    login_targets.dedup();
    let mut seen = Vec::new();
    login_targets.retain(|t| {
        let new = !seen.contains(t);
        seen.push(t.clone());
        new
    });
    if !login_targets.is_empty() {
        md.push_str(&format!(
            "\n### Login: server overhead over bare argon2id (target ≤ {LOGIN_OVERHEAD_TARGET_PCT:.0}%)\n\n\
             `login` p50 at 1 VU (one POST of the login form: CSRF check, throttle lookup, user lookup, \
             argon2id verify, session insert, 303) against the median of in-process argon2id verifies with \
             the server's parameters on the server's CPU while the server is idle (`bench-driver argon2`).\n\n\
             Judged on p50 against the median; the minimums (fastest login against fastest bare verify) are \
             shown as a check against noise from other work on the machine.\n\n\
             | target | argon2id params | bare verify median ms (runs) | login p50 at 1 VU ms | overhead | \
             bare verify min ms | login min ms | overhead of the minimums | result |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---|\n"
        ));
        for t in &login_targets {
            let a = argon.iter().find(|e| &e.target == t);
            let l = find(t, "login", 1);
            let (overhead, result) = match (a, l) {
                (Some(a), Some(l)) if l.errors == 0 && l.ops > 0 && a.median_ms > 0.0 => {
                    let pct = (l.p50_ms / a.median_ms - 1.0) * 100.0;
                    (Some(pct), verdict(pct <= LOGIN_OVERHEAD_TARGET_PCT))
                }
                (_, Some(l)) if l.errors > 0 => (None, "**MISS** (login errors)"),
                _ => (None, "not measured"),
            };
            let min_overhead = match (a, l) {
                (Some(a), Some(l)) if l.min_ms > 0.0 && a.min_ms > 0.0 => Some((l.min_ms / a.min_ms - 1.0) * 100.0),
                _ => None,
            };
            md.push_str(&format!(
                "| {t} | {} | {} | {} | {} | {} | {} | {} | {result} |\n",
                a.map(|a| a.params.clone()).unwrap_or_default(),
                a.map(|a| format!("{:.2} ({})", a.median_ms, a.n)).unwrap_or_default(),
                l.map(|l| format!("{:.2}", l.p50_ms)).unwrap_or_default(),
                overhead.map(|p| format!("{p:+.1}%")).unwrap_or_default(),
                a.filter(|a| a.min_ms > 0.0).map(|a| format!("{:.2}", a.min_ms)).unwrap_or_default(),
                l.filter(|l| l.min_ms > 0.0).map(|l| format!("{:.2}", l.min_ms)).unwrap_or_default(),
                min_overhead.map(|p| format!("{p:+.1}%")).unwrap_or_default(),
            ));
            if let Some(p) = overhead {
                summary.push(format!(
                    "{t}: login overhead over bare argon2id {p:+.1}% (target ≤ {LOGIN_OVERHEAD_TARGET_PCT:.0}%: {})",
                    if p <= LOGIN_OVERHEAD_TARGET_PCT { "PASS" } else { "MISS" }
                ));
            }
            login_checks.push(serde_json::json!({
                "target": t,
                "argon2_params": a.map(|a| a.params.clone()),
                "argon2_verify_median_ms": a.map(|a| a.median_ms),
                "argon2_runs": a.map(|a| a.n),
                "argon2_verify_min_ms": a.map(|a| a.min_ms),
                "argon2_verify_samples_ms": a.map(|a| a.samples_ms.clone()),
                "login_p50_ms_1vu": l.map(|l| l.p50_ms),
                "login_min_ms_1vu": l.map(|l| l.min_ms),
                "overhead_pct": overhead,
                "overhead_of_minimums_pct": min_overhead,
                "target_pct": LOGIN_OVERHEAD_TARGET_PCT,
                "pass": overhead.map(|p| p <= LOGIN_OVERHEAD_TARGET_PCT),
            }));
        }
    }

    let mut flood_checks = Vec::new();
    let floods: Vec<&Row> = rows.iter().filter(|r| r.scenario == FLOOD).collect();
    if !floods.is_empty() {
        md.push_str(&format!(
            "\n### `refresh` p99 under a login flood (target ≤ {FLOOD_RATIO_TARGET:.0}×)\n\n\
             `{FLOOD}`: refresh-token chains walked by as many VUs as plain `refresh` at that VU count, \
             while other VUs post the login form as fast as they can, in the same window; against plain \
             `refresh` at the same VU count from the same run.\n\n\
             | target | refresh VUs | login VUs | plain refresh p99 ms | refresh p99 under flood ms | ratio | \
             refresh op/s under flood | login op/s under flood | login p99 ms | result |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        ));
        for f in floods {
            let base = find(&f.target, "refresh", f.vus);
            let lf = rows.iter().find(|r| r.target == f.target && r.scenario == "login-flood");
            let ok = base.is_some_and(|b| b.errors == 0 && b.ops > 0)
                && f.errors == 0
                && f.ops > 0
                && lf.is_some_and(|l| l.errors == 0);
            let ratio = base.filter(|_| ok).map(|b| f.p99_ms / b.p99_ms);
            let result = match ratio {
                Some(r) => verdict(r <= FLOOD_RATIO_TARGET),
                None if f.errors > 0 || lf.is_some_and(|l| l.errors > 0) => "**MISS** (errors)",
                None => "not measured",
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {:.2} | {} | {:.0} | {} | {} | {result} |\n",
                f.target,
                f.vus,
                lf.map(|l| l.vus.to_string()).unwrap_or_default(),
                base.map(|b| format!("{:.2}", b.p99_ms)).unwrap_or_default(),
                f.p99_ms,
                ratio.map(|r| format!("{r:.2}×")).unwrap_or_default(),
                f.ops_per_sec,
                lf.map(|l| format!("{:.0}", l.ops_per_sec)).unwrap_or_default(),
                lf.map(|l| format!("{:.2}", l.p99_ms)).unwrap_or_default(),
            ));
            if let Some(r) = ratio {
                summary.push(format!(
                    "{}: refresh p99 under a login flood {r:.2}× plain (target ≤ {FLOOD_RATIO_TARGET:.0}×: {})",
                    f.target,
                    if r <= FLOOD_RATIO_TARGET { "PASS" } else { "MISS" }
                ));
            }
            flood_checks.push(serde_json::json!({
                "target": f.target,
                "refresh_vus": f.vus,
                "login_vus": lf.map(|l| l.vus),
                "refresh_p99_ms": base.map(|b| b.p99_ms),
                "refresh_p99_under_flood_ms": f.p99_ms,
                "ratio": ratio,
                "target_ratio": FLOOD_RATIO_TARGET,
                "pass": ratio.map(|r| r <= FLOOD_RATIO_TARGET),
            }));
        }
    }

    let mut startup_checks = Vec::new();
    let starts: Vec<&Extra> = extras.iter().filter(|e| e.kind == "startup").collect();
    if !starts.is_empty() {
        md.push_str(&format!(
            "\n### Start-up to ready (target ≤ {STARTUP_TARGET_MS:.0} ms)\n\n\
             From spawning `gptauth serve` (pinned to the server's CPU) on an existing, migrated database \
             until `GET /readyz` answers 200, polled every 2 ms over fresh connections; judged on the median.\n\n\
             | target | runs | median ms | max ms | result |\n|---|---:|---:|---:|---|\n"
        ));
        for s in starts {
            let pass = s.median_ms <= STARTUP_TARGET_MS;
            md.push_str(&format!(
                "| {} | {} | {:.1} | {:.1} | {} |\n",
                s.target,
                s.runs,
                s.median_ms,
                s.max_ms,
                verdict(pass)
            ));
            summary.push(format!(
                "{}: start-up to ready, median {:.1} ms, max {:.1} ms (target ≤ {STARTUP_TARGET_MS:.0} ms: {})",
                s.target,
                s.median_ms,
                s.max_ms,
                if pass { "PASS" } else { "MISS" }
            ));
            startup_checks.push(serde_json::json!({
                "target": s.target,
                "runs": s.runs,
                "median_ms": s.median_ms,
                "max_ms": s.max_ms,
                "min_ms": s.min_ms,
                "samples_ms": s.samples_ms,
                "target_ms": STARTUP_TARGET_MS,
                "pass": pass,
            }));
        }
    }

    println!("{md}");
    if let Some(p) = json_out {
        let doc = serde_json::json!({
            "targets": targets,
            "rows": rows,
            "login_overhead": login_checks,
            "refresh_under_login_flood": flood_checks,
            "startup": startup_checks,
        });
        std::fs::write(&p, serde_json::to_string_pretty(&doc).unwrap()).expect("write json");
    }
    if let Some(p) = md_out {
        std::fs::write(&p, &md).expect("write md");
    }
    if let Some(p) = png_out {
        match chart(&rows, &targets, &summary, &p, &font) {
            Ok(()) => eprintln!("chart: {p}"),
            // The numbers are written already; a missing font must not fail the run.
            Err(e) => eprintln!("!! no chart {p}: {e}"),
        }
    }
    if rows.iter().any(|r| r.errors > 0) {
        1
    } else {
        0
    }
}

// ---------- chart ----------

fn compact(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1000.0 && v % 1000.0 != 0.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.0}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

/// Grouped bars of op/s per scenario, one bar per target, one panel per VU count, log scale;
/// above each gptauth bar its op/s and its ratio to the peer.
fn chart(rows: &[Row], targets: &[String], summary: &[String], path: &str, font: &str) -> Result<(), String> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    let bytes = std::fs::read(font).map_err(|e| format!("font {font}: {e} (apt-get install fonts-dejavu-core)"))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("{font}: not a font"))?;

    let plain = |r: &&Row| !r.scenario.contains("flood");
    let mut scenarios: Vec<String> = Vec::new();
    let mut vus: Vec<usize> = Vec::new();
    for r in rows.iter().filter(plain) {
        if !scenarios.contains(&r.scenario) {
            scenarios.push(r.scenario.clone());
        }
        if !vus.contains(&r.vus) {
            vus.push(r.vus);
        }
    }
    vus.sort_unstable();
    if scenarios.is_empty() {
        return Err("no rows to draw".into());
    }
    let peer = targets.iter().find(|t| t.contains("oidc-provider"));
    let find = |t: &str, s: &str, v: usize| rows.iter().find(|r| r.target == t && r.scenario == s && r.vus == v);
    let ymax = rows.iter().filter(plain).map(|r| r.ops_per_sec).fold(1.0, f64::max) * 4.0;
    let palette = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(120, 120, 120), RGBColor(44, 160, 44)];
    let color = |i: usize| palette[i % palette.len()];

    let (w, panel_h) = (1400u32, 400u32);
    let foot = if summary.is_empty() { 0 } else { 16 + 24 * summary.len() as u32 };
    let h = 70 + panel_h * vus.len() as u32 + foot;
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let title = "Throughput by scenario (op/s, log scale; higher is better) — ratios are gptauth / oidc-provider";
    root.draw_text(
        title,
        &("sans-serif", 24).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top)),
        (w as i32 / 2, 14),
    )
    .map_err(e)?;
    let (_, body) = root.split_vertically(60);
    let (body, footer) = body.split_vertically(panel_h * vus.len() as u32);
    let small = ("sans-serif", 17).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Top));
    for (i, line) in summary.iter().enumerate() {
        footer.draw_text(line, &small, (90, 8 + 24 * i as i32)).map_err(e)?;
    }
    let panels = body.split_evenly((vus.len(), 1));
    let nt = targets.len().max(1);
    let group = 0.8;
    let bw = group / nt as f64;
    for (pi, (panel, &v)) in panels.iter().zip(&vus).enumerate() {
        let mut c = ChartBuilder::on(panel)
            .caption(format!("{v} VU{}", if v == 1 { "" } else { "s" }), ("sans-serif", 22))
            .margin_left(10)
            .margin_right(20)
            .margin_bottom(8)
            .x_label_area_size(34)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..scenarios.len() as f64, (1f64..ymax).log_scale())
            .map_err(e)?;
        c.configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_label_formatter(&|_| String::new())
            .y_desc("op/s")
            .y_label_formatter(&|y| compact(*y))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(e)?;
        for (ti, t) in targets.iter().enumerate() {
            let col = color(ti);
            let bars: Vec<Rectangle<(f64, f64)>> = scenarios
                .iter()
                .enumerate()
                .filter_map(|(si, s)| {
                    let r = find(t, s, v)?;
                    let x0 = si as f64 + (1.0 - group) / 2.0 + ti as f64 * bw;
                    Some(Rectangle::new([(x0, 1.0), (x0 + bw * 0.92, r.ops_per_sec.max(1.0))], col.filled()))
                })
                .collect();
            let drawn = c.draw_series(bars).map_err(e)?;
            if pi == 0 {
                drawn
                    .label(t.as_str())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 16, y + 7)], col.filled()));
            }
        }
        if pi == 0 {
            c.configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 17))
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .draw()
                .map_err(e)?;
        }
        // Labels in pixels: scenario names under each group, values (and ratios) above each bar.
        let label = ("sans-serif", 15).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Bottom));
        let xname = ("sans-serif", 18).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
        for (si, s) in scenarios.iter().enumerate() {
            let (px, py) = c.backend_coord(&(si as f64 + 0.5, 1.0));
            root.draw_text(s, &xname, (px, py + 8)).map_err(e)?;
            for (ti, t) in targets.iter().enumerate() {
                let Some(r) = find(t, s, v) else { continue };
                let xc = si as f64 + (1.0 - group) / 2.0 + ti as f64 * bw + bw * 0.46;
                let (bx, by) = c.backend_coord(&(xc, r.ops_per_sec.max(1.0)));
                let ratio = peer
                    .filter(|p| *p != t)
                    .and_then(|p| find(p, s, v))
                    .filter(|p| p.ops_per_sec > 0.0 && p.errors == 0 && r.errors == 0)
                    .map(|p| format!("{:.2}×", r.ops_per_sec / p.ops_per_sec));
                let mut y = by - 3;
                if let Some(ratio) = ratio {
                    root.draw_text(&ratio, &label.color(&color(ti)), (bx, y)).map_err(e)?;
                    y -= 17;
                }
                let text = if r.errors > 0 { "FAILED".to_string() } else { compact(r.ops_per_sec) };
                root.draw_text(&text, &label, (bx, y)).map_err(e)?;
            }
        }
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("run") => run(parse_run(&args[1..])).await,
        Some("report") => report(&args[1..]),
        Some("argon2") => argon2_cmd(&args[1..]),
        Some("startup") => startup_cmd(&args[1..]),
        _ => usage(),
    };
    std::process::exit(code);
}
