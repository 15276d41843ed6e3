//! OAuth load driver for gptauth's side-by-side benchmark.
//!
//! `bench-driver run …` speaks OAuth to any server from its discovery document and measures the
//! scenarios `metadata`, `refresh`, `flow` and `introspect` at several concurrencies; it appends one
//! JSON object per (scenario, concurrency) to `--out`. `bench-driver report FILE…` merges such
//! files into one JSON document and prints a markdown table with ratios to the first target.

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
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-driver run --label L --issuer URL --client-id ID --client-secret S \\
           --redirect-uri URI --email E --password P [--scope 'openid'] \\
           [--scenarios metadata,refresh,flow,introspect] [--vus 1,16,64] [--seconds 10] \\
           [--warmup 2] [--pid SERVER_PID] [--note TEXT] [--introspect-token access|refresh] --out FILE.json
       bench-driver report [--json OUT.json] [--md OUT.md] FILE.json…"
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
    let get = |k: &str| m.get(k).cloned().unwrap_or_else(|| {
        eprintln!("missing --{k}");
        usage()
    });
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
        scenarios: or("scenarios", "metadata,refresh,flow,introspect")
            .split(',')
            .map(str::to_string)
            .collect(),
        vus: or("vus", "1,16,64").split(',').map(|v| v.parse().expect("--vus")).collect(),
        seconds: or("seconds", "10").parse().expect("--seconds"),
        warmup: or("warmup", "2").parse().expect("--warmup"),
        pid: m.get("pid").map(|p| p.parse().expect("--pid")),
        out: get("out"),
        note: or("note", ""),
        introspect_token: or("introspect-token", "access"),
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
            let loc = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or("redirect without location")?;
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
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
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

/// Per virtual user state.
struct Vu {
    client: Client,
    refresh_token: String,
    access_token: String,
}

async fn setup_vu(o: &Opts, m: &Meta) -> Res<Vu> {
    let client = http(true);
    let code = interactive_code(&client, o, m).await?;
    let t = exchange(&client, o, m, &code).await?;
    Ok(Vu {
        client,
        refresh_token: t.refresh_token.ok_or("no refresh_token from the code exchange")?,
        access_token: t.access_token,
    })
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

async fn run_scenario(o: &Opts, m: &Meta, scenario: &str, n: usize, vus: Vec<Vu>) -> (Row, Vec<Vu>) {
    let requests_per_op = if scenario == "flow" { 2 } else { 1 };
    let warmup = Duration::from_secs_f64(o.warmup);
    let measure = Duration::from_secs_f64(o.seconds);
    let start = Instant::now() + Duration::from_millis(50);
    let m = Arc::new(m.clone());
    let o2 = Arc::new(o.clone());
    let mut handles = Vec::new();
    for mut vu in vus {
        let m = m.clone();
        let o = o2.clone();
        let scenario = scenario.to_string();
        handles.push(tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let (w_end, end) = (start + warmup, start + warmup + measure);
            let mut lat: Vec<u64> = Vec::with_capacity(1 << 14);
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let r = match scenario.as_str() {
                    "metadata" => match vu.client.get(&m.discovery_url).send().await {
                        Ok(r) if r.status() == StatusCode::OK => r.bytes().await.map(|_| ()).map_err(|e| e.to_string()),
                        Ok(r) => Err(format!("metadata: {}", r.status())),
                        Err(e) => Err(format!("metadata: {e}")),
                    },
                    "refresh" => match refresh(&vu.client, &o, &m, &vu.refresh_token).await {
                        Ok(t) => match t.refresh_token {
                            Some(rt) => {
                                vu.refresh_token = rt;
                                vu.access_token = t.access_token;
                                Ok(())
                            }
                            None => Err("refresh: no rotated refresh_token".into()),
                        },
                        Err(e) => Err(e),
                    },
                    "flow" => flow_once(&vu.client, &o, &m).await,
                    "introspect" => match &m.introspection_endpoint {
                        Some(u) => {
                            let t = if o.introspect_token == "refresh" { &vu.refresh_token } else { &vu.access_token };
                            introspect_once(&vu.client, &o, u, t).await
                        }
                        None => Err("no introspection_endpoint".into()),
                    },
                    other => Err(format!("unknown scenario {other}")),
                };
                let dt = t0.elapsed();
                let counted = t0 >= w_end;
                match r {
                    Ok(()) if counted => lat.push(dt.as_micros() as u64),
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
        }));
    }
    // Server stats over the measured window only.
    tokio::time::sleep_until((start + warmup).into()).await;
    let cpu0 = o.pid.and_then(proc_cpu_ticks);
    tokio::time::sleep_until((start + warmup + measure).into()).await;
    let cpu1 = o.pid.and_then(proc_cpu_ticks);
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    let mut back = Vec::new();
    for h in handles {
        let (vu, lat, e, fe) = h.await.expect("vu task");
        all.extend(lat);
        errors += e;
        if first_error.is_none() {
            first_error = fe;
        }
        back.push(vu);
    }
    all.sort_unstable();
    let ops = all.len() as u64;
    let secs = measure.as_secs_f64();
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) if ops > 0 => {
            Some((b - a) as f64 / clk_tck() / (ops * requests_per_op as u64) as f64 * 1000.0)
        }
        _ => None,
    };
    let row = Row {
        target: o.label.clone(),
        scenario: scenario.to_string(),
        vus: n,
        seconds: secs,
        ops,
        requests_per_op,
        errors,
        first_error,
        ops_per_sec: ops as f64 / secs,
        p50_ms: pct(&all, 50.0),
        p90_ms: pct(&all, 90.0),
        p99_ms: pct(&all, 99.0),
        max_ms: pct(&all, 100.0),
        server_peak_rss_kib: o.pid.and_then(proc_hwm_kib),
        server_cpu_s_per_1k_req: cpu,
        note: o.note.clone(),
    };
    (row, back)
}

async fn run(o: Opts) -> i32 {
    let m = match discover(&o.issuer).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let max_vus = *o.vus.iter().max().unwrap_or(&1);
    // One signed-in user agent per virtual user, each through the real authorization-code flow.
    let needs_tokens = o.scenarios.iter().any(|s| s != "metadata");
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
            pool.push(Vu { client: http(true), refresh_token: String::new(), access_token: String::new() });
        }
    }
    eprintln!("[{}] {} users signed in in {:.1}s", o.label, pool.len(), t0.elapsed().as_secs_f64());
    let mut rows = Vec::new();
    let mut failed = false;
    for scenario in &o.scenarios {
        for &n in &o.vus {
            let rest = pool.split_off(n.min(pool.len()));
            let (row, mut back) = run_scenario(&o, &m, scenario, n, std::mem::take(&mut pool)).await;
            back.extend(rest);
            pool = back;
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
            failed |= row.errors > 0;
            rows.push(row);
            // Users whose chain broke are replaced so the next level starts clean.
            if needs_tokens && failed {
                for vu in pool.iter_mut() {
                    if let Ok(v) = setup_vu(&o, &m).await {
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

// ---------- report ----------

fn report(args: &[String]) -> i32 {
    let mut json_out = None;
    let mut md_out = None;
    let mut files = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--json" => {
                json_out = args.get(i + 1).cloned();
                i += 2;
            }
            "--md" => {
                md_out = args.get(i + 1).cloned();
                i += 2;
            }
            f => {
                files.push(f.to_string());
                i += 1;
            }
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    for f in &files {
        let Ok(s) = std::fs::read_to_string(f) else {
            eprintln!("skipping {f} (missing)");
            continue;
        };
        let r: Vec<Row> = serde_json::from_str(&s).expect("results file");
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
    println!("{md}");
    if let Some(p) = json_out {
        let doc = serde_json::json!({ "targets": targets, "rows": rows });
        std::fs::write(&p, serde_json::to_string_pretty(&doc).unwrap()).expect("write json");
    }
    if let Some(p) = md_out {
        std::fs::write(&p, &md).expect("write md");
    }
    if rows.iter().any(|r| r.errors > 0) {
        1
    } else {
        0
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("run") => run(parse_run(&args[1..])).await,
        Some("report") => report(&args[1..]),
        _ => usage(),
    };
    std::process::exit(code);
}
