//! The OpenID Connect parameters of an authorization request (Core 1.0 §3.1.2.1), parsed once:
//! `nonce`, `prompt`, `max_age`, `login_hint` and `id_token_hint`.

use super::Params;

/// Longest `nonce` accepted; clients send a few dozen characters.
const MAX_NONCE_LEN: usize = 512;

/// What the request asks of the sign-in, after parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OidcRequest {
    pub nonce: Option<String>,
    /// `prompt=none`: answer at once, without any page.
    pub no_prompt: bool,
    /// `prompt=login`: the user must enter their password again.
    pub force_login: bool,
    /// `prompt=consent`: ask again even when consent was given before.
    pub force_consent: bool,
    /// Seconds since the last password sign-in beyond which the user must sign in again.
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
}

/// An `invalid_request` with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidOidcRequest(pub &'static str);

/// The `prompt` values this server supports, as listed in its metadata.
pub const PROMPT_VALUES: [&str; 3] = ["none", "login", "consent"];

impl OidcRequest {
    pub fn parse(params: &Params) -> Result<Self, InvalidOidcRequest> {
        let mut out = OidcRequest {
            nonce: params.non_empty("nonce").map(str::to_string),
            login_hint: params.non_empty("login_hint").map(str::to_string),
            id_token_hint: params.non_empty("id_token_hint").map(str::to_string),
            ..Default::default()
        };
        if out.nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_LEN) {
            return Err(InvalidOidcRequest("nonce is too long"));
        }
        for value in params.get("prompt").unwrap_or("").split(' ') {
            match value {
                "" => {}
                "none" => out.no_prompt = true,
                "login" => out.force_login = true,
                "consent" => out.force_consent = true,
                _ => {
                    return Err(InvalidOidcRequest(
                        "unsupported prompt value; supported: none, login, consent",
                    ));
                }
            }
        }
        if out.no_prompt && (out.force_login || out.force_consent) {
            return Err(InvalidOidcRequest(
                "prompt=none cannot be combined with other values",
            ));
        }
        if let Some(raw) = params.non_empty("max_age") {
            let age = raw
                .parse::<i64>()
                .ok()
                .filter(|a| *a >= 0)
                .ok_or(InvalidOidcRequest("max_age must be a non-negative integer"))?;
            out.max_age = Some(age);
        }
        Ok(out)
    }

    /// Whether a user who signed in at `auth_time` must sign in again for this request.
    pub fn needs_fresh_login(&self, auth_time: i64, now: i64) -> bool {
        self.force_login || self.max_age.is_some_and(|age| now - auth_time > age)
    }
}

/// The request's query with `login` taken out of `prompt`: where the login page returns to, so
/// that signing in satisfies the prompt instead of asking again.
pub fn query_after_login(params: &Params) -> String {
    let mut params = params.clone();
    if let Some(prompt) = params.remove("prompt") {
        let rest: Vec<&str> = prompt
            .split(' ')
            .filter(|v| !v.is_empty() && *v != "login")
            .collect();
        if !rest.is_empty() {
            params.insert("prompt", &rest.join(" "));
        }
    }
    params.to_query()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<OidcRequest, InvalidOidcRequest> {
        OidcRequest::parse(&Params::parse(query.as_bytes()).expect("params"))
    }

    #[test]
    fn prompt_values_parse_and_conflicts_are_refused() {
        let r = parse("prompt=login%20consent&max_age=0&nonce=n").expect("valid");
        assert!(r.force_login && r.force_consent && !r.no_prompt);
        assert_eq!(r.max_age, Some(0));
        assert_eq!(r.nonce.as_deref(), Some("n"));
        assert!(parse("prompt=none%20login").is_err());
        assert!(parse("prompt=select_account").is_err());
        assert!(parse("max_age=-1").is_err());
        assert!(parse("max_age=soon").is_err());
        assert!(parse(&format!("nonce={}", "n".repeat(513))).is_err());
    }

    #[test]
    fn fresh_login_follows_prompt_and_max_age() {
        let r = parse("max_age=60").expect("valid");
        assert!(!r.needs_fresh_login(1_000, 1_060));
        assert!(r.needs_fresh_login(1_000, 1_061));
        assert!(
            parse("prompt=login")
                .expect("valid")
                .needs_fresh_login(5, 5)
        );
        assert!(!parse("").expect("valid").needs_fresh_login(0, 1_000_000));
    }

    #[test]
    fn the_login_page_returns_without_prompt_login() {
        let p = Params::parse(b"client_id=c&prompt=login%20consent&state=s").expect("params");
        let q = query_after_login(&p);
        assert!(q.contains("prompt=consent"), "{q}");
        assert!(!q.contains("login"), "{q}");
        let p = Params::parse(b"client_id=c&prompt=login").expect("params");
        assert!(!query_after_login(&p).contains("prompt"));
    }
}
