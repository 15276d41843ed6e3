//! Property tests (proptest) of the parsers at the HTTP edge, through the public API: no input
//! makes them panic (arbitrary bytes and text, huge, percent-encoded, Unicode, control
//! characters), and the round trips that should hold do hold.
//!
//! The private parsers without a public way in have their properties beside them:
//! `src/client_metadata/ssrf/proptests.rs` (the address filter) and
//! `src/client_metadata/cache/proptests.rs` (`Cache-Control`); run those with
//! `cargo test --lib proptests`. The Basic-header and Bearer parsers are private too, but the
//! token and userinfo endpoints reach them, so they are tested here over HTTP against one
//! in-process server on a temporary SQLite database.
//!
//! Each block sets its number of cases explicitly; `PROPTEST_CASES` overrides them all.
//! Properties that found a bug are kept, marked `#[ignore = "bug: …"]` with the minimal input,
//! so that `cargo test` stays green until the fix: run them with `-- --ignored`.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gptauth::domain::{
    ClientId, ClientMetadataUrl, ClientRef, Email, Password, RedirectUri, ResourceIndicator, Scope,
};
use gptauth::oauth::oidc::{OidcRequest, query_after_login};
use gptauth::oauth::request::MAX_VALUE_LEN;
use gptauth::oauth::{ParamError, Params};
use gptauth::tokens::{
    AccessClaims, Audience, IdClaims, KeySet, hint_subject, sign_access_token, sign_id_token,
    verify_access_token,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Shared strategies
// ---------------------------------------------------------------------------------------------

/// `cases` unless `PROPTEST_CASES` says otherwise; no regression files are written (the minimal
/// inputs of the bugs found are in the `#[ignore]` reasons instead).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Pieces that URLs, forms and headers are made of, with the awkward ones.
#[rustfmt::skip]
const PIECES: &[&str] = &[
    "https://", "http://", "HTTPS://", "ftp://", "javascript:", "//", "/", "\\", "?", "#", "&",
    "=", "+", "%", "%2", "%41", "%2e", "%2E", "%2F", "%00", "%FF", "%C3%A9", "%EF%BF%BD", ".",
    "..", "@", ":", ";", " ", "\t", "\n", "\r", "\0", "a", "Z", "0", "9", "-", "_", "~", "é", "İ",
    "Σ", "\u{FFFD}", "\u{202E}", "🕴", "example.com", "127.0.0.1", "localhost", "[::1]",
    "chatgpt.com", "/aip/g-", "/oauth/callback", "resource", "state", "prompt", "none", "login",
];

/// Text of every kind: arbitrary, printable ASCII, made of awkward pieces, control
/// characters, and huge.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => short_text(),
        1 => prop::collection::vec(any::<char>(), 1_000..6_000).prop_map(String::from_iter),
    ]
}

/// `text()` without the huge ones (for HTTP headers and URLs, which have size limits).
fn short_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        3 => "[ -~]{0,80}",
        3 => prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|v| v.concat()),
        1 => "[\\x00-\\x1f\\x7f ]{0,12}",
    ]
}

/// `any::<String>()` without U+FFFD (see the `Params` bug below).
fn text_without_fffd() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.replace('\u{FFFD}', "?"))
}

fn form_encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The parameters a `Params` holds, read back through its query string.
fn pairs_of(params: &Params) -> Vec<(String, String)> {
    url::form_urlencoded::parse(params.to_query().as_bytes())
        .into_owned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Params: query strings and form bodies
// ---------------------------------------------------------------------------------------------

const MAX_RAW: usize = 16 * 1024;
const MAX_KEY: usize = 128;

/// Form decoding written from the WHATWG application/x-www-form-urlencoded parser, on bytes.
fn reference_form_decode(raw: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    fn unescape(s: &[u8]) -> Vec<u8> {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let mut out = Vec::new();
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                },
                b => out.push(b),
            }
            i += 1;
        }
        out
    }
    raw.split(|b| *b == b'&')
        .filter(|seq| !seq.is_empty())
        .map(|seq| match seq.iter().position(|b| *b == b'=') {
            Some(i) => (unescape(&seq[..i]), unescape(&seq[i + 1..])),
            None => (unescape(seq), Vec::new()),
        })
        .collect()
}

/// What `Params::parse` is documented to do: refuse over 16 KiB, refuse bad UTF-8 after
/// decoding, refuse values over `MAX_VALUE_LEN` bytes and names over 128, refuse any repeated
/// name but `resource`; otherwise keep every pair, in order, exactly.
fn reference_params(raw: &[u8]) -> Result<Vec<(String, String)>, ParamError> {
    if raw.len() > MAX_RAW {
        return Err(ParamError::TooLarge);
    }
    let mut pairs = Vec::new();
    for (k, v) in reference_form_decode(raw) {
        let (Ok(k), Ok(v)) = (String::from_utf8(k), String::from_utf8(v)) else {
            return Err(ParamError::Malformed);
        };
        if v.len() > MAX_VALUE_LEN || k.len() > MAX_KEY {
            return Err(ParamError::TooLong(k.chars().take(64).collect()));
        }
        pairs.push((k, v));
    }
    let mut seen = HashSet::new();
    for (k, _) in &pairs {
        if !seen.insert(k.clone()) && k != "resource" {
            return Err(ParamError::Repeated(k.clone()));
        }
    }
    Ok(pairs)
}

/// Raw bodies and query strings: arbitrary bytes, form-shaped text, arbitrary bytes
/// percent-encoded, and sizes around the 16 KiB limit.
fn form_bytes() -> impl Strategy<Value = Vec<u8>> {
    #[rustfmt::skip]
    const FORM_PIECES: &[&str] = &[
        "a", "b", "resource", "state", "scope", "=", "=", "&", "&", "%", "%2", "%41", "%FF", "%C3",
        "%C3%A9", "%EF%BF%BD", "\u{FFFD}", "+", "%2B", "%26", "%3D", "é", "x", "1", " ", "\n",
        "\0",
    ];
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..200),
        4 => prop::collection::vec(prop::sample::select(FORM_PIECES), 0..40)
            .prop_map(|v| v.concat().into_bytes()),
        2 => text().prop_map(String::into_bytes),
        2 => prop::collection::vec(any::<u8>(), 0..100).prop_map(|bytes| {
            bytes.iter().map(|b| format!("%{b:02X}")).collect::<String>().into_bytes()
        }),
        1 => (MAX_RAW - 8..MAX_RAW + 8, any::<u8>()).prop_map(|(n, b)| {
            let mut v = b"k=".to_vec();
            v.resize(n, b'a' + b % 26);
            v
        }),
        1 => prop::collection::vec(any::<u8>(), MAX_RAW - 100..MAX_RAW + 100),
    ]
}

/// A parameter name within the limits (no U+FFFD).
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_]{1,16}",
        2 => text_without_fffd().prop_filter("name too long", |k| k.len() <= MAX_KEY),
        1 => Just(String::new()),
    ]
}

/// A parameter value, sometimes over the limit.
fn value(fffd: bool) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[ -~]{0,64}",
        1 => prop::collection::vec(any::<char>(), 0..1_400).prop_map(String::from_iter),
        1 => (MAX_VALUE_LEN - 2..MAX_VALUE_LEN + 3).prop_map(|n| "v".repeat(n)),
    ]
    .prop_map(move |s| if fffd { s } else { s.replace('\u{FFFD}', "?") })
}

/// Distinct names with values, in any order.
fn unique_pairs(fffd: bool) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(key(), value(fffd), 0..8)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>())
        .prop_shuffle()
}

/// What parsing the serialised `pairs` must give.
fn expected_for(pairs: &[(String, String)], encoded: &str) -> Result<(), ParamError> {
    if encoded.len() > MAX_RAW {
        return Err(ParamError::TooLarge);
    }
    match pairs
        .iter()
        .find(|(k, v)| v.len() > MAX_VALUE_LEN || k.len() > MAX_KEY)
    {
        Some((k, _)) => Err(ParamError::TooLong(k.chars().take(64).collect())),
        None => Ok(()),
    }
}

fn check_any_bytes(raw: &[u8], parsed: Result<Params, ParamError>) -> Result<(), TestCaseError> {
    let expected = reference_params(raw);
    match (&parsed, &expected) {
        (Ok(p), Ok(pairs)) => prop_assert_eq!(&pairs_of(p), pairs),
        (Err(a), Err(b)) => prop_assert_eq!(a, b),
        _ => prop_assert!(
            false,
            "parse gave {:?}, expected {:?}",
            parsed.as_ref().map(pairs_of),
            expected
        ),
    }
    if let Ok(p) = &parsed {
        let again = Params::parse(p.to_query().as_bytes());
        prop_assert!(
            again.is_ok(),
            "to_query of an accepted input is refused: {:?}",
            again.err()
        );
        let again = again.expect("checked");
        prop_assert_eq!(pairs_of(&again), pairs_of(p));
        for (k, v) in pairs_of(p) {
            prop_assert!(v.len() <= MAX_VALUE_LEN && k.len() <= MAX_KEY);
            prop_assert_eq!(p.get(&k), p.get_all(&k).first().copied());
            prop_assert!(p.get_all(&k).contains(&v.as_str()));
        }
    }
    Ok(())
}

fn check_round_trip(pairs: Vec<(String, String)>) -> Result<(), TestCaseError> {
    let encoded = form_encode(&pairs);
    let parsed = Params::parse(encoded.as_bytes());
    match expected_for(&pairs, &encoded) {
        Err(e) => prop_assert_eq!(parsed.err(), Some(e)),
        Ok(()) => {
            let params = parsed.map_err(|e| TestCaseError::fail(format!("{e:?} for {pairs:?}")))?;
            prop_assert_eq!(&pairs_of(&params), &pairs);
            for (k, v) in &pairs {
                prop_assert_eq!(params.get(k), Some(v.as_str()));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// Any bytes: no panic, and exactly the documented answer (checked against an independent
    /// form decoder); an accepted one re-encodes (`to_query`) to the same parameters.
    /// Inputs whose decoded text holds U+FFFD are left to the ignored property below.
    #[test]
    fn params_parse_any_bytes_as_documented(raw in form_bytes()) {
        let parsed = Params::parse(&raw);
        let holds_fffd = reference_form_decode(&raw)
            .iter()
            .any(|(k, v)| [k, v].iter().any(|b| std::str::from_utf8(b).is_ok_and(|s| s.contains('\u{FFFD}'))));
        if !holds_fffd {
            check_any_bytes(&raw, parsed)?;
        }
    }

    /// parse(serialise(pairs)) gives back exactly the pairs, for distinct names within the
    /// limits; over a limit it is refused (never truncated).
    #[test]
    fn params_round_trip(pairs in unique_pairs(false)) {
        check_round_trip(pairs)?;
    }

    /// Any repeated name other than `resource` is refused, wherever the repeat is.
    #[test]
    fn params_repeated_names_are_refused(
        pairs in prop::collection::btree_map("[a-z]{1,8}", "[ -~]{0,16}", 1..6)
            .prop_map(|m| m.into_iter().collect::<Vec<_>>())
            .prop_shuffle(),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        again in "[ -~]{0,16}",
    ) {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "resource").collect();
        prop_assume!(!pairs.is_empty());
        let name = pairs[which.index(pairs.len())].0.clone();
        let position = at.index(pairs.len() + 1);
        pairs.insert(position, (name.clone(), again));
        let encoded = form_encode(&pairs);
        prop_assert_eq!(Params::parse(encoded.as_bytes()).err(), Some(ParamError::Repeated(name)));
    }

    /// `resource` may repeat (RFC 8707): every value is kept, in order.
    #[test]
    fn params_resource_may_repeat(
        resources in prop::collection::vec("[ -~]{0,40}", 1..6),
        others in prop::collection::btree_map("[a-q]{1,8}", "[ -~]{0,16}", 0..4),
        seed in any::<u64>(),
    ) {
        let mut pairs: Vec<(String, String)> = others.into_iter().collect();
        for (i, r) in resources.iter().enumerate() {
            let at = (seed as usize).wrapping_add(i * 7) % (pairs.len() + 1);
            // Keep the resources' relative order: insert after every earlier resource.
            let last_resource = pairs.iter().rposition(|(k, _)| k == "resource").map_or(0, |p| p + 1);
            pairs.insert(at.max(last_resource), ("resource".into(), r.clone()));
        }
        let params = Params::parse(form_encode(&pairs).as_bytes()).expect("accepted");
        let got: Vec<&str> = params.get_all("resource");
        let want: Vec<&str> = resources.iter().map(String::as_str).collect();
        prop_assert_eq!(got, want);
    }

    /// A value over the limit is refused, whatever its characters; one at the limit is kept
    /// whole.
    #[test]
    fn params_overlong_values_are_refused_not_truncated(
        name in "[a-z_]{1,12}",
        unit in prop::sample::select(vec!["x", "é", "€", "🕴", "%", " ", "&"]),
        extra in 1usize..300,
        before in prop::collection::btree_map("[A-Z]{1,6}", "[a-z]{0,8}", 0..3),
    ) {
        let at_limit: String = unit.repeat(MAX_VALUE_LEN / unit.len()) + &"y".repeat(MAX_VALUE_LEN % unit.len());
        prop_assert_eq!(at_limit.len(), MAX_VALUE_LEN);
        let over = format!("{at_limit}{}", "z".repeat(extra));
        let mut pairs: Vec<(String, String)> = before.into_iter().collect();
        pairs.push((name.clone(), at_limit.clone()));
        let encoded = form_encode(&pairs);
        if encoded.len() <= MAX_RAW {
            let params = Params::parse(encoded.as_bytes()).expect("a value at the limit is accepted");
            prop_assert_eq!(params.get(&name), Some(at_limit.as_str()));
        }
        pairs.pop();
        pairs.push((name.clone(), over));
        let got = Params::parse(form_encode(&pairs).as_bytes());
        prop_assert!(
            matches!(&got, Err(ParamError::TooLong(n)) if *n == name) || matches!(got, Err(ParamError::TooLarge)),
            "{:?}", got.map(|p| pairs_of(&p).into_iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>())
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { max_shrink_iters: 50_000, ..config(256) })]

    /// The round trips and the documented answer for any input, U+FFFD included.
    #[test]
    fn params_handle_u_fffd(pairs in unique_pairs(true), raw in form_bytes()) {
        check_any_bytes(&raw, Params::parse(&raw))?;
        check_round_trip(pairs)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Domain values
// ---------------------------------------------------------------------------------------------

/// URL-shaped strings: schemes, hosts, paths, queries and fragments, right and wrong.
fn uri_like() -> impl Strategy<Value = String> {
    #[rustfmt::skip]
    const SCHEMES: &[&str] = &[
        "https://", "https://", "https://", "http://", "HTTPS://", "HtTp://", "ftp://",
        "javascript:", "", "https:", "https:/", "https:///", " https://", "\thttps://", "urn:",
        "mailto:",
    ];
    #[rustfmt::skip]
    const HOSTS: &[&str] = &[
        "example.com", "app.example", "chatgpt.com", "chat.openai.com", "127.0.0.1", "127.0.0.2",
        "localhost", "LOCALHOST", "[::1]", "[::ffff:127.0.0.1]", "user:pw@app.example",
        "user@app.example", "app.example:443", "app.example:8443", "app.example:99999",
        "exa mple.com", "xn--nxasmq6b.com", "ex%41mple.com", "éxample.com", "", "@",
        "evil.example\\@good.example", "127.1", "2130706433", "[::]", "a.b", "app.example.", "[",
        "app.example:",
    ];
    #[rustfmt::skip]
    const PATH: &[&str] = &[
        "/", "/cb", "/a", "/.", "/..", "/%2e", "/%2E%2e", "/.%2E", "\\", "\\..", "\\.",
        "/client.json", "/aip/g-abc/oauth/callback", "/connector/oauth/x", " ", "%20", "\t", "\n",
        "é", "%ZZ", "%", "//", ";", "/g-", "\"", "<", "{", "`", "^", "|", "@",
    ];
    const QUERY: &[&str] = &["", "", "", "?x=1", "?", "?a=/b", "?a=/../b", "?é", "?x= y"];
    const FRAGMENT: &[&str] = &["", "", "", "", "#", "#frag", "%23"];
    const AROUND: &[&str] = &["", "", "", "", " ", "\n", "\t", "\u{0}"];
    (
        prop::sample::select(AROUND),
        prop::sample::select(SCHEMES),
        prop::sample::select(HOSTS),
        prop::collection::vec(prop::sample::select(PATH), 0..6),
        prop::sample::select(QUERY),
        prop::sample::select(FRAGMENT),
        prop::sample::select(AROUND),
    )
        .prop_map(|(a, s, h, p, q, f, b)| format!("{a}{s}{h}{}{q}{f}{b}", p.concat()))
}

fn any_input() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => uri_like(),
        2 => text(),
        1 => (uri_like(), 1_900usize..2_100).prop_map(|(u, n)| {
            let pad = n.saturating_sub(u.len());
            format!("{u}{}", "a".repeat(pad))
        }),
    ]
}

/// The `<id>` of a ChatGPT callback and near misses.
fn callback_like() -> impl Strategy<Value = String> {
    #[rustfmt::skip]
    const PREFIXES: &[&str] = &[
        "https://chat.openai.com/aip/g-", "https://chatgpt.com/aip/g-",
        "https://chatgpt.com/connector/oauth/", "http://chatgpt.com/aip/g-",
        "https://chatgpt.com.evil.example/aip/g-", "https://chat.openai.com/connector/oauth/",
        "https://chatgpt.com:443/aip/g-", "https://CHATGPT.com/aip/g-", "https://chatgpt.com/aip/",
        "https://chatgpt.com/aip/g-g-", "",
    ];
    #[rustfmt::skip]
    const SUFFIXES: &[&str] = &[
        "/oauth/callback", "/oauth/callback", "", "/oauth/callback/", "/oauth/callback?x=1",
        "/oauth/callback#x", "/OAUTH/callback", "/oauth/callback%20", "/b/oauth/callback",
    ];
    (
        prop::sample::select(PREFIXES),
        prop_oneof![
            3 => "[A-Za-z0-9_-]{0,40}",
            2 => "[A-Za-z0-9_-]{127,129}",
            1 => "[A-Za-z0-9_/?#%.é -]{1,20}",
        ],
        prop::sample::select(SUFFIXES),
    )
        .prop_map(|(p, id, s)| format!("{p}{id}{s}"))
}

/// The ChatGPT callback shapes, from the doc comment of `is_chatgpt_callback`.
fn reference_chatgpt_callback(raw: &str) -> bool {
    let id_ok = |id: &str| {
        (1..=128).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    [
        ("https://chat.openai.com/aip/g-", "/oauth/callback"),
        ("https://chatgpt.com/aip/g-", "/oauth/callback"),
        ("https://chatgpt.com/connector/oauth/", ""),
    ]
    .iter()
    .any(|(prefix, suffix)| {
        raw.len() >= prefix.len() + suffix.len()
            && raw.starts_with(prefix)
            && raw.ends_with(suffix)
            && id_ok(&raw[prefix.len()..raw.len() - suffix.len()])
    })
}

/// RFC 6749 §2.3.1 client IDs as the type documents them.
fn reference_client_id(raw: &str) -> bool {
    (1..=255).contains(&raw.len()) && raw.chars().all(|c| ('!'..='~').contains(&c) && c != ':')
}

/// The path of a Client Identifier URL as it was sent: after the authority (which ends at the
/// first `/`, `?`, `#` or — for the URL parser, in https URLs — `\`), up to the query.
fn raw_path(raw: &str) -> &str {
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .unwrap_or(raw);
    let start = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let path = &rest[start..];
    &path[..path.find(['?', '#']).unwrap_or(path.len())]
}

fn percent_decoded(s: &str) -> Vec<u8> {
    url::form_urlencoded::parse(
        format!("x={}", s.replace('+', "%2B").replace('&', "%26")).as_bytes(),
    )
    .next()
    .map(|(_, v)| v.into_owned().into_bytes())
    .unwrap_or_default()
}

fn nqchar(c: char) -> bool {
    c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c)
}

fn scope_token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["openid", "profile", "email", "offline_access", "read:notes", "a", "B"]).prop_map(str::to_string),
        3 => "[!#-\\[\\]-~]{1,12}",
        1 => "[ -~]{1,6}",
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// A client ID is 1 to 255 printable ASCII characters other than `:`; it keeps its text.
    #[test]
    fn client_id_follows_its_grammar(raw in prop_oneof![text(), "[!-~]{0,300}", "[ -~]{250,260}"]) {
        let parsed = ClientId::parse(&raw);
        prop_assert_eq!(parsed.is_ok(), reference_client_id(&raw), "{:?}", raw);
        if let Ok(id) = parsed {
            prop_assert_eq!(id.as_ref(), raw.as_str());
            let shown = id.to_string(); // the Display form
            prop_assert_eq!(ClientId::parse(&shown), Ok(id));
        }
    }

    /// An issued ID or a metadata URL, never confused; the text is kept and re-parses equal.
    #[test]
    fn client_ref_is_never_ambiguous(raw in prop_oneof![any_input(), "[!-~]{1,40}"]) {
        match ClientRef::parse(&raw) {
            Ok(ClientRef::Issued(id)) => {
                prop_assert!(!ClientRef::is_url(&raw) && reference_client_id(&raw), "{:?}", raw);
                prop_assert_eq!(id.as_ref(), raw.as_str());
                prop_assert_eq!(ClientRef::parse(id.as_ref()), Ok(ClientRef::Issued(id)));
            }
            Ok(ClientRef::MetadataDocument(url)) => {
                prop_assert!(ClientRef::is_url(&raw), "{:?}", raw);
                prop_assert_eq!(url.as_ref(), raw.as_str());
                prop_assert_eq!(ClientRef::parse(url.as_ref()), Ok(ClientRef::MetadataDocument(url)));
            }
            Err(_) => prop_assert!(!reference_client_id(&raw) || ClientRef::is_url(&raw), "{:?}", raw),
        }
    }

    /// A Client Identifier URL keeps its text and obeys its rules: printable ASCII, https (or
    /// http to 127.0.0.1), no user info, no fragment, a path, no dot segments.
    #[test]
    fn client_metadata_url_rules_hold(raw in any_input()) {
        if let Ok(u) = ClientMetadataUrl::parse(&raw) {
            prop_assert_eq!(u.as_ref(), raw.as_str());
            prop_assert_eq!(u.to_string(), raw.clone());
            prop_assert!(raw.len() <= 2000 && raw.bytes().all(|b| b.is_ascii_graphic()), "{:?}", raw);
            prop_assert!(!raw.contains('#'), "{:?}", raw);
            prop_assert!(u.url().username().is_empty() && u.url().password().is_none(), "{:?}", raw);
            prop_assert!(!u.host().is_empty(), "{:?}", raw);
            prop_assert!(
                raw.starts_with("https://")
                    || (raw.starts_with("http://") && u.url().host_str() == Some("127.0.0.1")),
                "{:?}", raw
            );
            prop_assert_eq!(u.is_plain_http(), raw.starts_with("http://"));
            // Text the URL parser rewrites (`\\`, extra slashes) is the ignored property's.
            let rewritten = raw.contains('\\') || raw.starts_with("https:///") || raw.starts_with("http:///");
            if !rewritten {
                let path = raw_path(&raw);
                prop_assert!(path.starts_with('/'), "{:?}", raw);
                prop_assert!(
                    !path.split('/').any(|s| matches!(s.to_ascii_lowercase().replace("%2e", ".").as_str(), "." | "..")),
                    "{:?}", raw
                );
            }
            let again = ClientMetadataUrl::parse(u.as_ref());
            prop_assert_eq!(again.as_ref().ok(), Some(&u));
        }
    }

    /// A redirect URI keeps its text, re-parses equal, has no fragment, is https or http on a
    /// loopback host, and names a host.
    #[test]
    fn redirect_uri_rules_hold(raw in prop_oneof![any_input(), callback_like()]) {
        if let Ok(u) = RedirectUri::parse(&raw) {
            prop_assert_eq!(u.as_ref(), raw.as_str());
            prop_assert_eq!(u.to_string(), raw.clone());
            prop_assert_eq!(RedirectUri::parse(u.as_ref()), Ok(u.clone()));
            prop_assert!(raw.len() <= 2000 && !raw.contains('#'), "{:?}", raw);
            let url = url::Url::parse(&raw).expect("a parsed redirect URI is a URL");
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.octets()[0] == 127,
                Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
                None => false,
            };
            prop_assert!(url.scheme() == "https" || (url.scheme() == "http" && loopback), "{:?}", raw);
            prop_assert!(url.host_str().is_some_and(|h| !h.is_empty()), "{:?}", raw);
        }
    }

    /// Exactly the two ChatGPT callback shapes are recognised, and each is a valid redirect URI.
    #[test]
    fn chatgpt_callbacks_are_recognised_exactly(raw in prop_oneof![3 => callback_like(), 1 => any_input()]) {
        let recognised = RedirectUri::is_chatgpt_callback(&raw);
        prop_assert_eq!(recognised, reference_chatgpt_callback(&raw), "{:?}", raw);
        if recognised {
            prop_assert!(RedirectUri::parse(&raw).is_ok(), "{:?}", raw);
        }
        prop_assert!(!RedirectUri::is_chatgpt_action_callback(&raw) || recognised);
        prop_assert!(!RedirectUri::is_chatgpt_connector_callback(&raw) || recognised);
    }

    /// A resource indicator keeps its text, re-parses equal, has no fragment and names a host.
    #[test]
    fn resource_indicator_rules_hold(raw in any_input()) {
        if let Ok(r) = ResourceIndicator::parse(&raw) {
            prop_assert_eq!(r.as_ref(), raw.as_str());
            let shown = r.to_string(); // the Display form
            prop_assert_eq!(ResourceIndicator::parse(&shown), Ok(r.clone()));
            prop_assert!(!raw.is_empty() && raw.len() <= 2000 && !raw.contains('#'), "{:?}", raw);
            let url = url::Url::parse(&raw).expect("a parsed resource is a URL");
            prop_assert!(url.host_str().is_some(), "{:?}", raw);
        }
    }

    /// A scope parses exactly when every space-separated token is of NQCHARs (RFC 6749 §3.3)
    /// and it has at most 1000 characters.
    #[test]
    fn scope_follows_its_grammar(raw in prop_oneof![
        text(),
        prop::collection::vec(scope_token(), 0..8).prop_map(|t| t.join(" ")),
        "[a-z ]{990,1010}",
    ]) {
        let parsed = Scope::parse(&raw);
        let expected = raw.len() <= 1000 && raw.split(' ').all(|t| t.chars().all(nqchar));
        prop_assert_eq!(parsed.is_ok(), expected, "{:?}", raw);
        if let Ok(scope) = parsed {
            let tokens: BTreeSet<&str> = raw.split(' ').filter(|t| !t.is_empty()).collect();
            prop_assert_eq!(scope.iter().collect::<BTreeSet<_>>(), tokens);
            prop_assert_eq!(scope.is_empty(), raw.split(' ').all(str::is_empty));
        }
    }

    /// The canonical form does not depend on order, spacing or repeats, and is a fixed point.
    #[test]
    fn scope_canonical_form_is_order_independent_and_idempotent(
        tokens in prop::collection::vec("[!#-\\[\\]-~]{1,10}", 0..10),
        shuffled_seed in any::<u64>(),
        spaces in prop::collection::vec(1usize..3, 0..24),
        repeat in any::<prop::sample::Index>(),
    ) {
        let original = Scope::parse(&tokens.join(" ")).expect("valid tokens");
        // The same tokens in another order, with runs of spaces and a repeated token.
        let mut other = tokens.clone();
        let n = other.len();
        for i in (1..n).rev() {
            other.swap(i, (shuffled_seed as usize).wrapping_mul(i + 1) % (i + 1));
        }
        if n > 0 {
            other.push(tokens[repeat.index(n)].clone());
        }
        let mut raw = String::new();
        for (i, t) in other.iter().enumerate() {
            raw.push_str(&" ".repeat(spaces.get(i).copied().unwrap_or(1)));
            raw.push_str(t);
        }
        let reordered = Scope::parse(&raw).expect("valid tokens");
        prop_assert_eq!(&reordered, &original);
        prop_assert_eq!(reordered.to_string(), original.to_string());
        let canonical = original.to_string();
        let again = Scope::parse(&canonical).expect("the canonical form parses");
        prop_assert_eq!(&again, &original);
        prop_assert_eq!(again.to_string(), canonical.clone());
        // Sorted, distinct, single spaces.
        let words: Vec<&str> = canonical.split(' ').filter(|w| !w.is_empty()).collect();
        prop_assert_eq!(words.join(" "), canonical.clone());
        prop_assert!(words.windows(2).all(|w| w[0] < w[1]), "{:?}", canonical);
        prop_assert!(original.contains_all(&reordered) && reordered.contains_all(&original));
    }

    /// `contains_all` is the subset relation.
    #[test]
    fn scope_contains_all_is_subset(
        a in prop::collection::btree_set("[a-e]{1,2}", 0..6),
        b in prop::collection::btree_set("[a-e]{1,2}", 0..6),
    ) {
        let sa = Scope::parse(&a.iter().cloned().collect::<Vec<_>>().join(" ")).unwrap();
        let sb = Scope::parse(&b.iter().cloned().collect::<Vec<_>>().join(" ")).unwrap();
        prop_assert_eq!(sa.contains_all(&sb), b.is_subset(&a));
    }

    /// An e-mail address is stored trimmed and lower-cased, re-parses to itself, and obeys the
    /// shape rules.
    #[test]
    fn email_normalises_and_round_trips(raw in prop_oneof![
        text(),
        (
            prop::sample::select(vec!["", " ", "\t", "\n", "\u{a0}"]),
            prop_oneof!["[A-Za-z0-9._+-]{0,70}", any::<String>(), Just("ΑΣ".to_string()), Just("İ".repeat(40))],
            prop::sample::select(vec!["@", "@", "@@", "", " @"]),
            prop_oneof!["[A-Za-z0-9.-]{0,20}", Just("EXAMPLE.COM".to_string()), Just("İ.io".to_string()), any::<String>()],
            prop::sample::select(vec!["", " ", "\r\n", "\u{2003}"]),
        ).prop_map(|(a, l, at, d, b)| format!("{a}{l}{at}{d}{b}")),
    ]) {
        if let Ok(email) = Email::parse(&raw) {
            let value = email.as_ref();
            prop_assert_eq!(value, raw.trim().to_lowercase());
            prop_assert_eq!(Email::parse(value), Ok(email.clone()));
            prop_assert!(value.len() <= 254, "{:?}", raw);
            prop_assert!(!value.chars().any(|c| c.is_whitespace() || c.is_control()), "{:?}", raw);
            prop_assert_eq!(value.matches('@').count(), 1, "{:?}", raw);
            let (local, domain) = value.split_once('@').unwrap();
            prop_assert!((1..=64).contains(&local.len()), "{:?}", raw);
            prop_assert!(domain.len() >= 3 && domain.contains('.'), "{:?}", raw);
            prop_assert!(!domain.starts_with('.') && !domain.ends_with('.'), "{:?}", raw);
        }
    }

    /// A new password has 8 to 128 characters (not bytes); a login password at most 128, kept
    /// exactly.
    #[test]
    fn password_lengths_are_counted_in_characters(raw in prop_oneof![
        text(),
        (0usize..140, prop::sample::select(vec!["x", "é", "🕴", " ", "\0"])).prop_map(|(n, c)| c.repeat(n)),
    ]) {
        let n = raw.chars().count();
        let parsed = Password::parse(&raw);
        if !(8..=128).contains(&n) {
            prop_assert!(parsed.is_err(), "{} characters accepted", n);
        }
        if let Ok(p) = parsed {
            prop_assert_eq!(p.expose(), raw.as_str());
        }
        let login = Password::for_login(&raw);
        prop_assert_eq!(login.is_some(), n <= 128);
        if let Some(p) = login {
            prop_assert_eq!(p.expose(), raw.as_str());
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Resources are stored joined by spaces and split again: a parsed resource must survive.
    #[test]
    fn resource_indicators_survive_join_and_split(raws in prop::collection::vec(prop_oneof![
        any_input(),
        "https://[a-z]{1,8}\\.example(/[a-z%]{0,6}){0,2}",
        "[ \t]?https://[a-z]{1,8}\\.example(/[a-z \t]{0,6}){0,2}[ \t]?",
    ], 1..4)) {
        let resources: Vec<String> = raws
            .iter()
            .filter_map(|r| ResourceIndicator::parse(r).ok())
            .map(|r| r.to_string())
            .collect();
        let joined = ResourceIndicator::join(&resources);
        prop_assert_eq!(joined.is_none(), resources.is_empty());
        prop_assert_eq!(ResourceIndicator::split(joined.as_deref()), resources);
    }

    /// What is fetched is what was sent: the URL parser must not rewrite the path (the
    /// documented reason for refusing dot segments and whitespace).
    #[test]
    fn client_metadata_url_path_is_fetched_as_sent(raw in prop_oneof![
        any_input(),
        (
            prop::sample::select(vec!["https://", "https:///", "https://\\", "http://127.0.0.1"]),
            prop::sample::select(vec!["app.example", "127.0.0.1:9", "a.b"]),
            prop::collection::vec(prop::sample::select(vec!["/", "\\", "a", "..", ".", "%2e", "client.json"]), 1..8),
        ).prop_map(|(s, h, p)| format!("{s}{h}{}", p.concat())),
    ]) {
        if let Ok(u) = ClientMetadataUrl::parse(&raw) {
            prop_assert_eq!(
                percent_decoded(u.url().path()),
                percent_decoded(raw_path(&raw)),
                "{:?} fetches {}", raw, u.url()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OpenID Connect request parameters
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct OidcInput {
    pairs: Vec<(String, String)>,
}

impl OidcInput {
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn prompt_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(
            prop::sample::select(vec!["none", "login", "consent", "", "login", "consent", "NONE", "Login", "select_account", "create", "login\t", "none,login"]),
            0..4,
        ).prop_map(|t| t.join(" ")),
        1 => text_without_fffd().prop_map(|s| s.chars().take(200).collect()),
    ]
}

fn max_age_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[0-9]{1,3}",
        2 => "[+-]?[0-9]{1,21}",
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec!["", " 5", "5 ", "1e3", "0x10", "5.0", "-0", "+0", "٣", "９", "9223372036854775807", "9223372036854775808", "-9223372036854775808"]).prop_map(str::to_string),
        1 => "[ -~]{0,6}",
    ]
}

fn oidc_input() -> impl Strategy<Value = OidcInput> {
    let opt = |s: BoxedStrategy<String>| prop::option::weighted(0.6, s);
    (
        opt(prop_oneof![
            3 => "[ -~]{0,40}",
            1 => (500usize..520).prop_map(|n| "n".repeat(n)),
            1 => text_without_fffd().prop_map(|s| s.chars().take(300).collect()),
        ]
        .boxed()),
        opt(prompt_value().boxed()),
        opt(max_age_value().boxed()),
        opt(prop_oneof!["[ -~]{0,20}", Just(String::new())].boxed()),
        opt(prop_oneof!["[ -~]{0,20}", Just(String::new())].boxed()),
        prop::collection::btree_map("[a-z_]{1,10}", "[ -~]{0,10}", 0..4),
    )
        .prop_map(
            |(nonce, prompt, max_age, login_hint, id_token_hint, others)| {
                let mut pairs: Vec<(String, String)> = others
                    .into_iter()
                    .filter(|(k, _)| {
                        !["nonce", "prompt", "max_age", "login_hint", "id_token_hint"]
                            .contains(&k.as_str())
                    })
                    .collect();
                for (name, v) in [
                    ("nonce", nonce),
                    ("prompt", prompt),
                    ("max_age", max_age),
                    ("login_hint", login_hint),
                    ("id_token_hint", id_token_hint),
                ] {
                    if let Some(v) = v {
                        pairs.push((name.to_string(), v));
                    }
                }
                OidcInput { pairs }
            },
        )
        // In any order: the order of parameters carries no meaning.
        .prop_flat_map(|input| {
            Just(input.pairs)
                .prop_shuffle()
                .prop_map(|pairs| OidcInput { pairs })
        })
}

/// `max_age`: a decimal integer (an optional sign, ASCII digits) that is not negative and fits.
fn reference_max_age(raw: &str) -> Option<i64> {
    let (negative, digits) = match raw.as_bytes().first() {
        Some(b'+') => (false, &raw[1..]),
        Some(b'-') => (true, &raw[1..]),
        _ => (false, raw),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude: u128 = digits.trim_start_matches('0').parse().unwrap_or(
        if digits.trim_start_matches('0').is_empty() {
            0
        } else {
            u128::MAX
        },
    );
    match (negative, magnitude) {
        (_, 0) => Some(0),
        (true, _) => None,
        (false, m) => i64::try_from(m).ok(),
    }
}

fn params_of(input: &OidcInput) -> Params {
    Params::parse(form_encode(&input.pairs).as_bytes()).expect("the test's parameters parse")
}

/// The expected outcome, from OpenID Connect Core §3.1.2.1 and RFC 6749 §3.1 (a parameter sent
/// without a value is treated as omitted).
fn check_oidc(input: &OidcInput, empty_is_omitted: bool) -> Result<(), TestCaseError> {
    let non_empty = |name: &str| input.get(name).filter(|v| !v.is_empty());
    let prompt: Vec<&str> = input
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|t| !t.is_empty())
        .collect();
    let prompt_ok = prompt
        .iter()
        .all(|t| ["none", "login", "consent"].contains(t))
        && !(prompt.contains(&"none")
            && prompt.len() > prompt.iter().filter(|t| **t == "none").count());
    let nonce_ok = non_empty("nonce").is_none_or(|n| n.len() <= 512);
    let max_age_raw = if empty_is_omitted {
        non_empty("max_age")
    } else {
        input.get("max_age")
    };
    let max_age = max_age_raw.map(reference_max_age);
    let max_age_ok = max_age.is_none_or(|m| m.is_some());
    let parsed = OidcRequest::parse(&params_of(input));
    prop_assert_eq!(
        parsed.is_ok(),
        prompt_ok && nonce_ok && max_age_ok,
        "{:?} gave {:?}",
        input,
        parsed
    );
    if let Ok(r) = parsed {
        prop_assert_eq!(r.no_prompt, prompt.contains(&"none"));
        prop_assert_eq!(r.force_login, prompt.contains(&"login"));
        prop_assert_eq!(r.force_consent, prompt.contains(&"consent"));
        prop_assert!(!(r.no_prompt && (r.force_login || r.force_consent)));
        prop_assert_eq!(r.max_age, max_age.flatten());
        prop_assert!(r.max_age.is_none_or(|a| a >= 0));
        prop_assert_eq!(r.nonce.as_deref(), non_empty("nonce"));
        prop_assert_eq!(r.login_hint.as_deref(), non_empty("login_hint"));
        prop_assert_eq!(r.id_token_hint.as_deref(), non_empty("id_token_hint"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1024))]

    /// Prompt values are none/login/consent, none never with another; max_age is a
    /// non-negative integer; nonce is at most 512 bytes; the hints pass through.
    #[test]
    fn oidc_request_obeys_the_rules(input in oidc_input()) {
        prop_assume!(input.get("max_age") != Some(""));
        check_oidc(&input, false)?;
    }

    /// Any parameters at all: no panic.
    #[test]
    fn oidc_request_never_panics(raw in form_bytes()) {
        if let Ok(params) = Params::parse(&raw) {
            let _ = OidcRequest::parse(&params);
            let _ = query_after_login(&params);
        }
    }

    /// The login page returns to the same request with `login` taken out of `prompt`, and
    /// nothing else changed.
    #[test]
    fn query_after_login_only_drops_login(input in oidc_input()) {
        let params = params_of(&input);
        let query = query_after_login(&params);
        let after = Params::parse(query.as_bytes()).expect("the query parses again");
        let without_prompt = |pairs: Vec<(String, String)>| -> Vec<(String, String)> {
            pairs.into_iter().filter(|(k, _)| k != "prompt").collect()
        };
        prop_assert_eq!(without_prompt(pairs_of(&after)), without_prompt(pairs_of(&params)));
        let kept: Vec<&str> = input
            .get("prompt")
            .unwrap_or("")
            .split(' ')
            .filter(|t| !t.is_empty() && *t != "login")
            .collect();
        if kept.is_empty() {
            prop_assert_eq!(after.get("prompt"), None);
        } else {
            let kept = kept.join(" ");
            prop_assert_eq!(after.get("prompt"), Some(kept.as_str()));
        }
        if let Ok(before) = OidcRequest::parse(&params) {
            let now = OidcRequest::parse(&after).expect("still valid");
            prop_assert!(!now.force_login);
            prop_assert_eq!(
                (now.no_prompt, now.force_consent, now.max_age, now.nonce, now.login_hint),
                (before.no_prompt, before.force_consent, before.max_age, before.nonce, before.login_hint)
            );
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted".
    #[test]
    fn oidc_empty_parameters_are_omitted(input in oidc_input()) {
        check_oidc(&input, true)?;
    }
}

// ---------------------------------------------------------------------------------------------
// PKCE: oxide-auth's add-on, configured as src/oauth/endpoint.rs does (optional, S256 only)
// ---------------------------------------------------------------------------------------------

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43 to 128 of `[A-Za-z0-9-._~]`.
fn verifier() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~-]{43,128}"
}

proptest! {
    #![proptest_config(config(512))]

    /// The S256 challenge of a verifier accepts that verifier and no other.
    #[test]
    fn pkce_s256_accepts_exactly_its_verifier(v in verifier(), other in prop_oneof![verifier(), text()]) {
        use oxide_auth::frontends::simple::extensions::Pkce;
        use std::borrow::Cow;
        prop_assume!(other != v);
        let pkce = Pkce::optional();
        let stored = pkce
            .challenge(Some(Cow::Borrowed("S256")), Some(Cow::Owned(s256(&v))))
            .expect("an S256 challenge is accepted")
            .expect("and stored");
        prop_assert!(pkce.verify(Some(stored.clone()), Some(Cow::Borrowed(v.as_str()))).is_ok());
        prop_assert!(pkce.verify(Some(stored.clone()), Some(Cow::Borrowed(other.as_str()))).is_err());
        prop_assert!(pkce.verify(Some(stored), None).is_err());
    }

    /// Only S256: `plain`, no method (which means `plain`), or any other name is refused;
    /// no challenge at all is allowed (PKCE is optional for confidential clients).
    #[test]
    fn pkce_methods_other_than_s256_are_refused(
        method in prop_oneof![Just("plain".to_string()), Just("s256".to_string()), Just("S384".to_string()), text()],
        challenge in prop_oneof![verifier(), text()],
        absent_method in any::<bool>(),
        v in text(),
    ) {
        use oxide_auth::frontends::simple::extensions::Pkce;
        use std::borrow::Cow;
        prop_assume!(method != "S256");
        let pkce = Pkce::optional();
        let method = (!absent_method).then_some(Cow::Owned(method));
        prop_assert!(pkce.challenge(method, Some(Cow::Owned(challenge))).is_err());
        prop_assert!(matches!(pkce.challenge(None, None), Ok(None)));
        prop_assert!(pkce.verify(None, Some(Cow::Owned(v))).is_ok());
    }
}

// ---------------------------------------------------------------------------------------------
// One server for the token, HTTP and PKCE properties
// ---------------------------------------------------------------------------------------------

const CALLBACK: &str = "https://chatgpt.com/aip/g-properties/oauth/callback";
const PASSWORD: &str = "correct horse battery staple";

struct Harness {
    rt: tokio::runtime::Runtime,
    server: Server,
}

impl std::ops::Deref for Harness {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt.block_on(Server::start());
        Harness { rt, server }
    })
}

/// The server, a client, a user, and two HTTP clients.
struct Server {
    base: String,
    issuer: String,
    db: gptauth::store::Db,
    state: Arc<gptauth::web::AppState>,
    client_id: String,
    client_secret: String,
    user_id: uuid::Uuid,
    /// No cookies, no redirects.
    http: reqwest::Client,
    /// Signed in with consent given (cookies), no redirects.
    browser: reqwest::Client,
}

fn html_value(html: &str, marker: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in page"))
        + marker.len();
    let end = start + html[start..].find('"').expect("closing quote");
    html[start..end]
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

impl Server {
    async fn start() -> Server {
        let dir = std::env::temp_dir().join(format!(
            "gptauth-properties-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let database_url = format!("sqlite://{}", dir.join("gptauth.db").display());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let base = format!("http://127.0.0.1:{port}");
        let env = std::collections::HashMap::from([
            ("DATABASE_URL".to_string(), database_url.clone()),
            ("GPTAUTH_ISSUER".to_string(), base.clone()),
            ("GPTAUTH_BIND".to_string(), format!("127.0.0.1:{port}")),
        ]);
        let config = gptauth::Config::from_lookup(|k| env.get(k).cloned()).expect("config");
        let issuer = config.issuer.as_str().to_string();
        let db = gptauth::store::Db::connect(&database_url)
            .await
            .expect("database");
        let app = gptauth::Application::build_with(config, db.clone(), listener)
            .await
            .expect("app");
        let state = app.state();
        tokio::spawn(app.run_until_stopped());

        let client_id = format!("gpt_{}", uuid::Uuid::new_v4().simple());
        let client_secret = gptauth::crypto::random_token();
        insert_client(&db, &client_id, &client_secret).await;
        let user_id = uuid::Uuid::now_v7();
        let hash = gptauth::app::hasher::hash_blocking(PASSWORD).expect("hash");
        db.insert_user(&gptauth::store::NewUser {
            id: user_id,
            email: "ada@example.com",
            name: Some("Ada"),
            password_hash: &hash,
            is_admin: false,
        })
        .await
        .expect("user");

        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("client");
        let server = Server {
            base,
            issuer,
            db,
            state,
            client_id,
            client_secret,
            user_id,
            http,
            browser,
        };
        server.sign_in().await;
        server
    }
}

async fn insert_client(db: &gptauth::store::Db, id: &str, secret: &str) {
    db.insert_client(&gptauth::store::NewClient {
        client_id: id,
        name: "Properties GPT",
        secret_hash: Some(&gptauth::crypto::digest(secret)),
        scope: "openid profile email",
        audience: None,
        require_pkce: false,
        chatgpt_callbacks: false,
        resources: &[],
        id_token_alg: None,
        registration_token_hash: None,
        registered_auth_method: None,
        owner_id: None,
        logo_uri: None,
        policy_uri: None,
        redirect_uris: &[CALLBACK.to_string()],
    })
    .await
    .expect("insert client");
}

fn location(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Server {
    fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&format!("{}/oauth/authorize", self.base)).expect("url");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", CALLBACK)
            .append_pair("scope", "openid")
            .append_pair("state", "st")
            .extend_pairs(extra);
        url.to_string()
    }

    /// Signs Ada in and gives consent once, like a person in the popup.
    async fn sign_in(&self) {
        let mut next = self.authorize_url(&[]);
        for _ in 0..8 {
            let resp = self.browser.get(&next).send().await.expect("GET");
            let status = resp.status();
            let loc = location(&resp);
            let body = resp.text().await.unwrap_or_default();
            let form = |pairs: &[(&str, &str)]| {
                form_encode(
                    &pairs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<Vec<_>>(),
                )
            };
            let (action, fields) = if status == 200 && body.contains("action=\"/login\"") {
                (
                    "/login".to_string(),
                    form(&[
                        ("email", "ada@example.com"),
                        ("password", PASSWORD),
                        (
                            "csrf_token",
                            &html_value(&body, "name=\"csrf_token\" value=\""),
                        ),
                        ("next", &html_value(&body, "name=\"next\" value=\"")),
                    ]),
                )
            } else if status == 200 && body.contains("name=\"decision\"") {
                (
                    html_value(&body, "action=\""),
                    form(&[
                        (
                            "csrf_token",
                            &html_value(&body, "name=\"csrf_token\" value=\""),
                        ),
                        ("decision", "allow"),
                    ]),
                )
            } else {
                let loc = loc.unwrap_or_else(|| panic!("{status} at {next}: {body}"));
                if loc.starts_with(CALLBACK) {
                    return;
                }
                next = if loc.starts_with('/') {
                    format!("{}{loc}", self.base)
                } else {
                    loc
                };
                continue;
            };
            let resp = self
                .browser
                .post(format!("{}{action}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(fields)
                .send()
                .await
                .expect("POST");
            let loc = location(&resp).unwrap_or_else(|| panic!("{} from {action}", resp.status()));
            if loc.starts_with(CALLBACK) {
                return;
            }
            next = if loc.starts_with('/') {
                format!("{}{loc}", self.base)
            } else {
                loc
            };
        }
        panic!("the sign-in never reached the callback");
    }
}

impl Harness {
    fn keys(&self) -> Arc<KeySet> {
        self.state.keys.current()
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn access_claims(&self) -> AccessClaims {
        let now = gptauth::store::now();
        AccessClaims {
            iss: self.issuer.clone(),
            sub: self.user_id.to_string(),
            aud: Audience::One(self.issuer.clone()),
            exp: now + 600,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: self.client_id.clone(),
            scope: "openid profile email".into(),
            email: None,
            email_verified: None,
        }
    }

    fn access_token(&self) -> String {
        sign_access_token(&self.keys(), &self.access_claims()).expect("signed")
    }

    fn id_token(&self, alg: jsonwebtoken::Algorithm) -> String {
        let now = gptauth::store::now();
        let claims = IdClaims {
            iss: self.issuer.clone(),
            sub: self.user_id.to_string(),
            aud: self.client_id.clone(),
            exp: now + 600,
            iat: now,
            auth_time: Some(now),
            nonce: Some("n".into()),
            at_hash: None,
        };
        sign_id_token(&self.keys(), alg, &claims).expect("signed")
    }

    fn verifies(&self, token: &str) -> bool {
        verify_access_token(&self.keys(), &self.issuer, token).is_ok()
    }

    fn hint(&self, token: &str) -> Option<String> {
        hint_subject(&self.keys(), &self.issuer, &self.client_id, token)
    }
}

// ---------------------------------------------------------------------------------------------
// Signed tokens: verify_access_token and hint_subject
// ---------------------------------------------------------------------------------------------

/// Ways to spoil a signed token.
#[derive(Debug, Clone)]
enum Tamper {
    /// One character replaced by another (`at` taken modulo the length).
    Replace {
        at: usize,
        by: char,
    },
    Truncate {
        at: usize,
    },
    Append(String),
    DropSignature {
        keep_dot: bool,
    },
    /// A new header (`alg`, maybe `typ`/`kid` changed), the payload kept, and a signature.
    Header {
        alg: Option<String>,
        typ: Option<Option<String>>,
        kid: Option<Option<String>>,
        signature: Signature,
    },
    /// Claims changed, the signature kept.
    Claims {
        field: String,
        value: Value,
    },
    /// Signed anew with a key of the attacker's, under the server's `kid`.
    ForeignKey,
}

#[derive(Debug, Clone)]
enum Signature {
    Keep,
    Drop,
    Random(Vec<u8>),
    /// HS256 with the public key material as the secret (algorithm confusion).
    HmacWithPublicKey,
}

fn tamper() -> impl Strategy<Value = Tamper> {
    let b64_char = prop::sample::select(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ %"
            .chars()
            .collect::<Vec<_>>(),
    );
    let alg = prop::option::of(
        prop::sample::select(vec![
            "none", "None", "NONE", "", "HS256", "HS384", "HS512", "RS256", "RS512", "PS256",
            "ES256", "ES384", "EdDSA", "at+jwt",
        ])
        .prop_map(str::to_string),
    );
    prop_oneof![
        4 => (any::<usize>(), prop_oneof![b64_char, any::<char>()]).prop_map(|(at, by)| Tamper::Replace { at, by }),
        1 => any::<usize>().prop_map(|at| Tamper::Truncate { at }),
        1 => prop_oneof!["[A-Za-z0-9_-]{1,4}", Just(".".to_string()), Just("=".to_string()), text()].prop_map(Tamper::Append),
        1 => any::<bool>().prop_map(|keep_dot| Tamper::DropSignature { keep_dot }),
        3 => (
            alg,
            prop::option::of(prop::option::of(prop::sample::select(vec!["JWT", "at+jwt", "AT+JWT", "application/at+jwt", ""]).prop_map(str::to_string))),
            prop::option::of(prop::option::of(prop_oneof![Just("other".to_string()), "[a-zA-Z0-9_-]{0,43}"])),
            prop_oneof![
                Just(Signature::Keep),
                Just(Signature::Drop),
                prop::collection::vec(any::<u8>(), 0..300).prop_map(Signature::Random),
                Just(Signature::HmacWithPublicKey),
            ],
        ).prop_map(|(alg, typ, kid, signature)| Tamper::Header { alg, typ, kid, signature }),
        2 => (
            prop::sample::select(vec!["sub", "iss", "exp", "aud", "client_id", "scope", "typ", "nbf"]).prop_map(str::to_string),
            prop_oneof![
                Just(json!("someone-else")),
                Just(json!(null)),
                any::<i64>().prop_map(|n| json!(n)),
                Just(json!(["a", "b"])),
            ],
        ).prop_map(|(field, value)| Tamper::Claims { field, value }),
        1 => Just(Tamper::ForeignKey),
    ]
}

fn segments(token: &str) -> (Value, Value, String) {
    let mut parts = token.splitn(3, '.');
    let json_of = |s: Option<&str>| -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(s.unwrap_or_default())
                .unwrap_or_default(),
        )
        .unwrap_or(Value::Null)
    };
    let header = json_of(parts.next());
    let payload = json_of(parts.next());
    (
        header,
        payload,
        parts.next().unwrap_or_default().to_string(),
    )
}

fn b64_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

/// The spoiled token; `None` when the change happens to leave it as it was.
fn apply(h: &Harness, token: &str, t: &Tamper) -> Option<String> {
    let (header, payload, signature) = segments(token);
    let spoiled = match t {
        Tamper::Replace { at, by } => {
            let chars: Vec<char> = token.chars().collect();
            let at = at % chars.len();
            if chars[at] == *by {
                return None;
            }
            let mut chars = chars;
            chars[at] = *by;
            chars.into_iter().collect()
        }
        Tamper::Truncate { at } => token[..at % token.len()].to_string(),
        Tamper::Append(s) => format!("{token}{s}"),
        Tamper::DropSignature { keep_dot } => {
            let end = token.rfind('.').expect("three parts");
            if *keep_dot {
                token[..=end].to_string()
            } else {
                token[..end].to_string()
            }
        }
        Tamper::Header {
            alg,
            typ,
            kid,
            signature: sig,
        } => {
            let mut header = header.clone();
            if let Some(alg) = alg {
                header["alg"] = json!(alg);
            }
            match typ {
                Some(Some(typ)) => header["typ"] = json!(typ),
                Some(None) => {
                    header.as_object_mut().expect("object").remove("typ");
                }
                None => {}
            }
            match kid {
                Some(Some(kid)) if kid == "other" => {
                    // The server's other key.
                    let own = header["kid"].as_str().unwrap_or_default().to_string();
                    let other = h
                        .keys()
                        .decoding
                        .keys()
                        .find(|k| **k != own)
                        .cloned()
                        .unwrap_or_default();
                    header["kid"] = json!(other);
                }
                Some(Some(kid)) => header["kid"] = json!(kid),
                Some(None) => {
                    header.as_object_mut().expect("object").remove("kid");
                }
                None => {}
            }
            let message = format!("{}.{}", b64_json(&header), b64_json(&payload));
            let sig = match sig {
                Signature::Keep => signature.clone(),
                Signature::Drop => String::new(),
                Signature::Random(bytes) => URL_SAFE_NO_PAD.encode(bytes),
                Signature::HmacWithPublicKey => {
                    let kid = header["kid"].as_str().unwrap_or_default().to_string();
                    let jwk = h
                        .keys()
                        .jwks
                        .keys
                        .iter()
                        .find(|k| k.common.key_id.as_deref() == Some(kid.as_str()))
                        .map(|k| serde_json::to_string(k).expect("jwk"))
                        .unwrap_or_else(|| "no such key".to_string());
                    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
                    header.kid = Some(kid);
                    header.typ = Some("at+jwt".into());
                    return Some(
                        jsonwebtoken::encode(
                            &header,
                            &payload,
                            &jsonwebtoken::EncodingKey::from_secret(jwk.as_bytes())
                                .expect("an HMAC key"),
                        )
                        .expect("hmac"),
                    );
                }
            };
            format!("{message}.{sig}")
        }
        Tamper::Claims { field, value } => {
            let mut payload = payload.clone();
            if payload.get(field) == Some(value) {
                return None;
            }
            payload[field.as_str()] = value.clone();
            format!("{}.{}.{signature}", b64_json(&header), b64_json(&payload))
        }
        Tamper::ForeignKey => {
            let foreign = gptauth::tokens::generate_es256().expect("key");
            let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            jwt_header.kid = header["kid"].as_str().map(str::to_string);
            jwt_header.typ = header["typ"].as_str().map(str::to_string);
            jsonwebtoken::encode(
                &jwt_header,
                &payload,
                &jsonwebtoken::EncodingKey::from_ec_der(&foreign.private_der),
            )
            .expect("signed")
        }
    };
    (spoiled != token).then_some(spoiled)
}

/// Random JWT-shaped text: three base64url parts of JSON or of noise.
fn jwt_like() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..120).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        (
            prop::sample::select(vec!["ES256", "RS256", "HS256", "none"]),
            prop::option::of(prop::sample::select(vec!["at+jwt", "JWT"])),
            prop::option::of("[a-zA-Z0-9_-]{0,43}"),
        )
            .prop_map(|(alg, typ, kid)| b64_json(&json!({"alg": alg, "typ": typ, "kid": kid}))),
        Just(b64_json(
            &json!({"iss": "x", "sub": "y", "exp": 4_000_000_000_i64})
        )),
        "[A-Za-z0-9_=+/-]{0,40}",
    ];
    (part.clone(), part.clone(), part).prop_map(|(a, b, c)| format!("{a}.{b}.{c}"))
}

#[test]
fn real_tokens_verify() {
    // The tampering properties mean something only if the untouched tokens pass.
    let h = harness();
    let token = h.access_token();
    assert!(h.verifies(&token), "a real access token verifies");
    for alg in gptauth::tokens::SIGNING_ALGORITHMS {
        let id_token = h.id_token(alg);
        assert_eq!(h.hint(&id_token), Some(h.user_id.to_string()), "{alg:?}");
        assert!(!h.verifies(&id_token), "an ID token is not an access token");
    }
    assert_eq!(
        h.hint(&token),
        None,
        "an access token is not an ID token hint"
    );
}

proptest! {
    #![proptest_config(config(256))]

    /// Any text: an error, never a panic.
    #[test]
    fn tokens_refuse_any_text(raw in prop_oneof![text(), jwt_like()]) {
        let h = harness();
        prop_assert!(!h.verifies(&raw));
        prop_assert_eq!(h.hint(&raw), None);
    }

    /// A spoiled access token is refused: changed bytes, a truncation, a dropped signature,
    /// another `alg` (none, HS256 keyed with the public key…), `kid` or `typ`, changed claims,
    /// or another key.
    #[test]
    fn tampered_access_tokens_are_refused(t in tamper()) {
        let h = harness();
        let token = h.access_token();
        prop_assert!(h.verifies(&token));
        if let Some(spoiled) = apply(h, &token, &t) {
            prop_assert!(!h.verifies(&spoiled), "accepted: {}", spoiled);
            prop_assert_eq!(h.hint(&spoiled), None);
        }
    }

    /// The same for ID token hints, with either signing algorithm.
    #[test]
    fn tampered_id_token_hints_are_refused(t in tamper(), rsa in any::<bool>()) {
        let h = harness();
        let alg = if rsa { jsonwebtoken::Algorithm::RS256 } else { jsonwebtoken::Algorithm::ES256 };
        let token = h.id_token(alg);
        prop_assert!(h.hint(&token).is_some());
        if let Some(spoiled) = apply(h, &token, &t) {
            prop_assert_eq!(h.hint(&spoiled), None, "accepted: {}", spoiled);
            prop_assert!(!h.verifies(&spoiled));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Over HTTP: the Basic header (token endpoint), the Bearer header (userinfo), the authorization
// endpoint and PKCE end to end
// ---------------------------------------------------------------------------------------------

struct Answer {
    status: u16,
    json: Value,
}

impl Harness {
    fn post_token(&self, authorization: Option<&[u8]>, body: Vec<u8>) -> Answer {
        self.block_on(async {
            let mut req = self
                .http
                .post(format!("{}/oauth/token", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
            if let Some(value) = authorization {
                req = req.header(
                    "authorization",
                    reqwest::header::HeaderValue::from_bytes(value).expect("a header value"),
                );
            }
            let resp = req.send().await.expect("the server answers (no panic)");
            let status = resp.status().as_u16();
            let json = resp.json().await.unwrap_or(Value::Null);
            Answer { status, json }
        })
    }

    fn get_status(&self, url: &str, authorization: Option<&[u8]>) -> u16 {
        self.block_on(async {
            let mut req = self.http.get(url);
            if let Some(value) = authorization {
                req = req.header(
                    "authorization",
                    reqwest::header::HeaderValue::from_bytes(value).expect("a header value"),
                );
            }
            req.send()
                .await
                .expect("the server answers (no panic)")
                .status()
                .as_u16()
        })
    }
}

/// Bytes an HTTP header value may hold (no CR, LF or other controls but tab), with outer
/// whitespace trimmed as the HTTP parser does.
fn header_safe(bytes: &[u8]) -> Vec<u8> {
    let kept: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f))
        .collect();
    let start = kept
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(kept.len());
    let end = kept
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |e| e + 1);
    kept[start..end].to_vec()
}

/// RFC 6749 §2.3.1 and Appendix B: form-urlencode, in any of the encodings that decode alike
/// (each character may be percent-encoded, space as `+` or `%20`).
fn form_urlencode_variant(s: &str, mask: u64) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        let literal_ok = c.is_ascii_alphanumeric() || "*-._ ".contains(c);
        let encode = !literal_ok || (mask >> (i % 64)) & 1 == 1;
        if c == ' ' && !encode {
            out.push('+');
        } else if encode {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn scheme_variant(mask: u64, scheme: &str) -> String {
    scheme
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if (mask >> i) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// What `parse_basic` should accept, from RFC 7617 and RFC 6749 §2.3.1: `Basic`, spaces, the
/// base64 of UTF-8 `id:secret`, each form-urlencoded, a non-empty id.
fn reference_basic(value: &[u8]) -> Option<(String, String)> {
    // A header value the server can read is visible ASCII (`HeaderValue::to_str`).
    let value = std::str::from_utf8(value)
        .ok()
        .filter(|v| v.is_ascii())?
        .trim();
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        let bytes: Vec<u8> =
            reference_form_decode(format!("x={}", s.replace('&', "%26")).as_bytes())
                .pop()
                .map(|(_, v)| v)
                .unwrap_or_default();
        String::from_utf8(bytes).ok()
    };
    let id = unescape(id)?;
    (!id.is_empty()).then_some(())?;
    Some((id, unescape(secret)?))
}

fn basic_header_like() -> impl Strategy<Value = Vec<u8>> {
    let scheme = prop::sample::select(vec![
        "Basic", "basic", "BASIC", "Bearer", "Basic:", "Basicx", "",
    ]);
    let sep = prop::sample::select(vec![" ", "  ", "\t", ""]);
    let credentials = prop_oneof![
        (short_text(), short_text()).prop_map(|(a, b)| format!("{a}:{b}").into_bytes()),
        ("[a-zA-Z0-9%+&=_]{0,12}", "[a-zA-Z0-9%+&=:_ ]{0,12}")
            .prop_map(|(a, b)| format!("{a}:{b}").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..40),
        Just(b":secret".to_vec()),
        Just(b"%FF:x".to_vec()),
        Just(b"id:%FF".to_vec()),
    ];
    let encoding = prop::sample::select(vec![0u8, 0, 0, 1, 2, 3]);
    prop_oneof![
        3 => (scheme, sep, credentials, encoding).prop_map(|(scheme, sep, creds, enc)| {
            let encoded = match enc {
                0 => STANDARD.encode(&creds),
                1 => URL_SAFE_NO_PAD.encode(&creds),
                2 => STANDARD.encode(&creds).trim_end_matches('=').to_string(),
                _ => format!(" {} ", STANDARD.encode(&creds)),
            };
            header_safe(format!("{scheme}{sep}{encoded}").as_bytes())
        }),
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| header_safe(&b)),
        1 => short_text().prop_map(|t| header_safe(t.as_bytes())),
    ]
}

/// Whether the credentials in a Basic header hold a literal `&`, or %-escapes that decode to
/// bad UTF-8.
fn basic_quirk(header: &[u8]) -> bool {
    let text = std::str::from_utf8(header)
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .and_then(|(_, b)| STANDARD.decode(b.trim()).ok())
        .and_then(|d| String::from_utf8(d).ok());
    text.is_some_and(|t| {
        t.contains('&')
            || t.split(':').any(|part| {
                let decoded = reference_form_decode(format!("x={part}").as_bytes());
                decoded
                    .first()
                    .is_some_and(|(_, v)| std::str::from_utf8(v).is_err())
            })
    })
}

/// Client IDs of the issued kind, unique per case.
fn issued_id() -> impl Strategy<Value = String> {
    "[!-9;-~]{1,200}".prop_map(|id| format!("{id}{}", uuid::Uuid::new_v4().simple()))
}

proptest! {
    #![proptest_config(config(48))]

    /// RFC 6749 §2.3.1: whatever the client ID and secret, their form-urlencoding in a Basic
    /// header authenticates the client (the refresh grant then fails on the bogus token, as
    /// `invalid_grant`); a wrong secret is `invalid_client`.
    #[test]
    fn basic_credentials_round_trip(
        id in issued_id(),
        secret in prop_oneof![any::<String>(), short_text(), "[ -~]{1,40}"].prop_filter("a secret", |s| !s.is_empty()),
        masks in (any::<u64>(), any::<u64>(), any::<u64>()),
        wrong in any::<bool>(),
    ) {
        let h = harness();
        h.block_on(insert_client(&h.db, &id, &secret));
        let sent = if wrong { format!("{secret}x") } else { secret.clone() };
        let credentials = format!(
            "{}:{}",
            form_urlencode_variant(&id, masks.0),
            form_urlencode_variant(&sent, masks.1)
        );
        let header = format!("{} {}", scheme_variant(masks.2, "basic"), STANDARD.encode(credentials));
        let answer = h.post_token(
            Some(header.as_bytes()),
            b"grant_type=refresh_token&refresh_token=not-a-real-one".to_vec(),
        );
        if wrong {
            prop_assert_eq!((answer.status, answer.json["error"].as_str()), (401, Some("invalid_client")), "{}", answer.json);
        } else {
            prop_assert_eq!((answer.status, answer.json["error"].as_str()), (400, Some("invalid_grant")), "{}", answer.json);
        }
    }
}

proptest! {
    #![proptest_config(config(96))]

    /// Any Authorization header: an RFC 6749 §5.2 error, never a 5xx; "malformed" exactly when
    /// the header is not `Basic base64(urlencoded id:urlencoded secret)` with a non-empty id.
    #[test]
    fn basic_header_garbage_is_an_error(header in basic_header_like()) {
        let h = harness();
        let answer = h.post_token(Some(&header), b"grant_type=refresh_token&refresh_token=x".to_vec());
        prop_assert!(answer.status == 400 || answer.status == 401, "{} {}", answer.status, answer.json);
        let description = answer.json["error_description"].as_str().unwrap_or_default();
        let malformed = description == "malformed Basic authorization header";
        // Two quirks are left out here: a literal `&` (never in form-urlencoded text; it cuts
        // the id or secret short), and %-escapes that decode to bad UTF-8 (the ignored
        // property below).
        if !basic_quirk(&header) {
            prop_assert_eq!(
                malformed,
                reference_basic(&header).is_none(),
                "{:?}: {}",
                String::from_utf8_lossy(&header),
                answer.json
            );
        }
        if malformed {
            prop_assert_eq!(answer.json["error"].as_str(), Some("invalid_client"));
        }
    }

    /// Any form body: a §5.2 error (400 or 401) as JSON, never a 5xx or a dropped connection.
    #[test]
    fn token_endpoint_answers_any_body(body in form_bytes(), basic in any::<bool>()) {
        let h = harness();
        let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", h.client_id, h.client_secret)));
        let answer = h.post_token(basic.then_some(header.as_bytes()), body);
        prop_assert!(answer.status == 400 || answer.status == 401, "{} {}", answer.status, answer.json);
        prop_assert!(answer.json["error"].is_string(), "{}", answer.json);
    }

    /// The Bearer scheme in any case, one space, the token with outer whitespace: accepted;
    /// any other header: 401, never a 5xx.
    #[test]
    fn bearer_header_is_parsed_as_rfc_6750_says(
        scheme in prop::sample::select(vec!["Bearer", "bearer", "BEARER", "bEaReR", "Bearer:", "Basic", "Bearerx", "", "MAC"]),
        sep in prop::sample::select(vec![" ", "  ", "\t", "", " \t"]),
        token in prop_oneof![
            4 => Just(None),
            1 => Just(Some(String::from("spoiled"))),
            1 => short_text().prop_map(Some),
            1 => jwt_like().prop_map(Some),
        ],
        after in prop::sample::select(vec!["", " ", "\t", "  "]),
        garbage in prop::option::weighted(0.15, prop::collection::vec(any::<u8>(), 0..60)),
    ) {
        let h = harness();
        let real = h.access_token();
        let token = match token.as_deref() {
            None => real.clone(),
            Some("spoiled") => real[..real.len() - 1].to_string(),
            Some(t) => t.to_string(),
        };
        let value = match garbage {
            Some(bytes) => header_safe(&bytes),
            None => header_safe(format!("{scheme}{sep}{token}{after}").as_bytes()),
        };
        let status = h.get_status(&format!("{}/oauth/userinfo", h.base), Some(&value));
        let expected_ok = std::str::from_utf8(&value).ok().and_then(|v| v.split_once(' ')).is_some_and(|(s, t)| {
            s.eq_ignore_ascii_case("bearer") && t.trim() == real
        });
        prop_assert_eq!(status == 200, expected_ok, "{:?} gave {}", String::from_utf8_lossy(&value), status);
        if !expected_ok {
            prop_assert_eq!(status, 401, "{:?}", String::from_utf8_lossy(&value));
        }
    }

    /// Any query string at the authorization endpoint: a page or a redirect, never a 5xx.
    #[test]
    fn authorize_answers_any_query(query in prop_oneof![
        short_text(),
        prop::collection::vec((prop::sample::select(vec!["response_type", "client_id", "redirect_uri", "scope", "state", "prompt", "max_age", "nonce", "resource", "code_challenge", "code_challenge_method", "login_hint", "id_token_hint", "x"]), short_text()), 0..8)
            .prop_map(|pairs| form_encode(&pairs.into_iter().map(|(k, v)| (k.to_string(), v.chars().take(300).collect())).collect::<Vec<_>>())),
    ], with_client in any::<bool>()) {
        let h = harness();
        let mut url = url::Url::parse(&format!("{}/oauth/authorize", h.base)).expect("url");
        let query: String = if with_client {
            format!("response_type=code&client_id={}&redirect_uri={}&{query}", h.client_id, form_urlencode_variant(CALLBACK, 0))
        } else {
            query
        };
        url.set_query(Some(&query));
        let status = h.get_status(url.as_str(), None);
        prop_assert!(status < 500, "{} for {:?}", status, query);
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// %-escapes that decode to bad UTF-8 make the header malformed (what `parse_basic`'s
    /// `String::from_utf8(…).ok()?` is there for).
    #[test]
    fn basic_credentials_with_bad_utf8_are_malformed(
        prefix in "[a-z0-9]{0,8}",
        bad in prop::sample::select(vec!["%FF", "%C3", "%C3%28", "%ED%A0%80", "%F4%90%80%80", "%C0%AF", "%80"]),
        in_id in any::<bool>(),
    ) {
        let h = harness();
        let credentials = if in_id {
            format!("{prefix}{bad}:{}", h.client_secret)
        } else {
            format!("{}:{prefix}{bad}", h.client_id)
        };
        let header = format!("Basic {}", STANDARD.encode(credentials));
        let answer = h.post_token(Some(header.as_bytes()), b"grant_type=refresh_token&refresh_token=x".to_vec());
        prop_assert_eq!(
            answer.json["error_description"].as_str(),
            Some("malformed Basic authorization header"),
            "{}", answer.json
        );
    }
}

/// A fresh code for Ada with this challenge.
fn code_for(h: &Harness, challenge: &str, method: &str) -> Result<String, String> {
    h.block_on(async {
        let url = h.authorize_url(&[
            ("code_challenge", challenge),
            ("code_challenge_method", method),
        ]);
        let resp = h.browser.get(url).send().await.expect("GET");
        let loc = location(&resp).ok_or_else(|| format!("{} without a redirect", resp.status()))?;
        let back = url::Url::parse(&loc).map_err(|e| format!("{loc}: {e}"))?;
        let param = |name: &str| {
            back.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        param("code").ok_or_else(|| param("error").unwrap_or(loc))
    })
}

fn redeem(h: &Harness, code: &str, verifier: Option<&str>) -> Answer {
    let mut pairs = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), code.to_string()),
        ("redirect_uri".to_string(), CALLBACK.to_string()),
    ];
    if let Some(v) = verifier {
        pairs.push(("code_verifier".to_string(), v.to_string()));
    }
    let header = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", h.client_id, h.client_secret))
    );
    h.post_token(Some(header.as_bytes()), form_encode(&pairs).into_bytes())
}

proptest! {
    #![proptest_config(config(24))]

    /// End to end: a code bound to an S256 challenge is redeemed with its verifier and with no
    /// other (nor with none); a `plain` or absent method gets no code.
    #[test]
    fn pkce_end_to_end(
        v in verifier(),
        other in prop_oneof![verifier(), text_without_fffd().prop_map(|s| s.chars().take(1000).collect())],
        method in prop::sample::select(vec!["plain", "", "s256", "S512"]),
    ) {
        let h = harness();
        prop_assume!(other != v);
        let challenge = s256(&v);
        let code = code_for(h, &challenge, "S256").map_err(TestCaseError::fail)?;
        let wrong = redeem(h, &code, Some(&other));
        prop_assert_eq!((wrong.status, wrong.json["error"].as_str()), (400, Some("invalid_grant")), "{}", wrong.json);
        let code = code_for(h, &challenge, "S256").map_err(TestCaseError::fail)?;
        let missing = redeem(h, &code, None);
        prop_assert_eq!((missing.status, missing.json["error"].as_str()), (400, Some("invalid_grant")), "{}", missing.json);
        let code = code_for(h, &challenge, "S256").map_err(TestCaseError::fail)?;
        let right = redeem(h, &code, Some(&v));
        prop_assert_eq!(right.status, 200, "{}", right.json);
        prop_assert!(code_for(h, &challenge, method).is_err(), "method {:?} got a code", method);
    }
}
