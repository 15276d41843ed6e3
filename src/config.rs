//! Configuration from the environment (and a `.env` file, read by the binary before this runs).

use std::fmt;

/// The shortest accepted secret: 32 characters, as Hydra asks.
pub const MIN_SECRET_CHARS: usize = 32;

use url::Url;

use crate::domain::ResourceIndicator;

/// Everything gptauth reads from its environment; see `.env.example`.
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub issuer: Issuer,
    pub bind: String,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub refresh_grace_seconds: i64,
    pub code_ttl: i64,
    pub signup: SignupPolicy,
    pub registration: RegistrationPolicy,
    /// How many proxies in front of this server append to `X-Forwarded-For`: the client address
    /// is the entry that many places from the right (0: the connection's peer).
    pub trust_proxy_hops: usize,
    /// Rotate the signing key when it is this many days old; 0 turns automatic rotation off.
    pub key_rotation_days: i64,
    /// Protected resources (RFC 8707; MCP servers, say) that every client may ask tokens for,
    /// dynamically registered ones included. Per-client resources add to these.
    pub resources: Vec<ResourceIndicator>,
    /// After a secret rotation in the portal, the old secret keeps working this long.
    pub secret_overlap_seconds: i64,
    /// Where mail goes (`smtp://…`, `smtps://…`); `None`: messages are logged.
    pub smtp_url: Option<String>,
    /// The sender of every message.
    pub mail_from: String,
    /// TESTS ONLY: let client ID metadata documents be fetched over plain http from 127.0.0.1
    /// (`GPTAUTH_CLIENT_METADATA_ALLOW_INSECURE_LOOPBACK`). Never in production: it lets any
    /// client ID make this server send requests to its own loopback interface.
    pub client_metadata_allow_insecure_loopback: bool,
    /// Which clients may identify with a client ID metadata document
    /// (`GPTAUTH_CLIENT_METADATA_DOCUMENTS`).
    pub client_metadata_documents: MetadataDocumentPolicy,
    pub log_filter: String,
    /// `GPTAUTH_LOG_FORMAT=json`: structured logs, one JSON object per line.
    pub log_json: bool,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
    /// A request's body must have arrived this many seconds after the request.
    pub request_body_timeout: i64,
    /// Encrypts the private signing keys at rest (`GPTAUTH_KEY_ENCRYPTION_KEY[_FILE]`).
    pub key_encryption_key: Option<Secret>,
    /// The one before, during a rotation: still opens what it sealed.
    pub key_encryption_key_previous: Option<Secret>,
}

/// Whether clients may register themselves at `/oauth/register` (RFC 7591).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationPolicy {
    /// Anyone may register (what MCP hosts expect).
    Open,
    /// Registration needs an initial access token (`gptauth registration-token create`).
    Token,
    Closed,
}

/// Which hosts may publish client ID metadata documents that this server accepts (issue 15,
/// finding 7: an open server lets anyone name a document URL and appear on the consent page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataDocumentPolicy {
    /// Any public host.
    Open,
    /// None: a URL `client_id` is refused.
    Off,
    /// Only these hosts (exact, lowercase), e.g. `chatgpt.com claude.ai`.
    Hosts(Vec<String>),
}

impl MetadataDocumentPolicy {
    /// Whether documents are accepted at all (and so advertised).
    pub fn is_on(&self) -> bool {
        *self != MetadataDocumentPolicy::Off
    }

    /// Whether a document served from `host` may be used.
    pub fn allows(&self, host: &str) -> bool {
        match self {
            MetadataDocumentPolicy::Open => true,
            MetadataDocumentPolicy::Off => false,
            MetadataDocumentPolicy::Hosts(hosts) => {
                hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
            }
        }
    }

    /// `open`, `off`, or a space- (or comma-) separated list of hosts; unset follows
    /// registration: open only when registration is.
    fn parse(raw: Option<&str>, registration: RegistrationPolicy) -> Result<Self, String> {
        let raw = raw.map(str::trim).filter(|r| !r.is_empty());
        let Some(raw) = raw else {
            return Ok(match registration {
                RegistrationPolicy::Open => MetadataDocumentPolicy::Open,
                RegistrationPolicy::Token | RegistrationPolicy::Closed => {
                    MetadataDocumentPolicy::Off
                }
            });
        };
        match raw.to_ascii_lowercase().as_str() {
            "open" => return Ok(MetadataDocumentPolicy::Open),
            "off" => return Ok(MetadataDocumentPolicy::Off),
            _ => {}
        }
        let mut hosts = Vec::new();
        for host in raw.split([' ', ',']).filter(|h| !h.is_empty()) {
            let valid = host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && url::Host::parse(host).is_ok();
            if !valid {
                return Err(format!(
                    "must be open, off, or host names separated by spaces (chatgpt.com claude.ai), got {host:?}"
                ));
            }
            hosts.push(host.to_ascii_lowercase());
        }
        Ok(MetadataDocumentPolicy::Hosts(hosts))
    }
}

/// Whether anyone may create an account on `/signup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignupPolicy {
    Open,
    Closed,
}

/// The public base URL of this server, without a trailing slash (the `iss` of every token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "scheme must be http or https, got {:?}",
                url.scheme()
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not carry a query or a fragment (RFC 8414 §2)".into());
        }
        if url.host_str().is_none() {
            return Err("has no host".into());
        }
        Ok(Issuer(raw.trim_end_matches('/').to_string()))
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// An absolute URL below the issuer, e.g. `url("/oauth/token")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bad value, reported as one line that names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads from any lookup function (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = |var: &'static str, default: &str| -> String {
            get(var)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        // `zero_ok`: 0 is a meaningful setting (no refresh grace window: strict rotation).
        let seconds_from = |var: &'static str, default: i64, zero_ok: bool| {
            let Some(raw) = get(var).filter(|v| !v.trim().is_empty()) else {
                return Ok(default);
            };
            match raw.trim().parse::<i64>() {
                Ok(n) if n > 0 || (zero_ok && n == 0) => Ok(n),
                _ => Err(ConfigError {
                    var,
                    message: if zero_ok {
                        format!("must be a whole number of seconds (0: none), got {raw:?}")
                    } else {
                        format!("must be a positive whole number of seconds, got {raw:?}")
                    },
                }),
            }
        };
        let seconds = |var: &'static str, default: i64| seconds_from(var, default, false);

        let database_url = text("DATABASE_URL", "sqlite://gptauth.db");
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                var: "DATABASE_URL",
                message: format!(
                    "unknown scheme in {:?}: use sqlite://FILE or postgres://…",
                    redact_url(&database_url)
                ),
            });
        }
        let issuer_raw = text("GPTAUTH_ISSUER", "http://127.0.0.1:8080");
        let issuer = Issuer::parse(&issuer_raw).map_err(|message| ConfigError {
            var: "GPTAUTH_ISSUER",
            message: format!("{message}: {issuer_raw:?}"),
        })?;
        let bind = text("GPTAUTH_BIND", "127.0.0.1:8080");
        if !bind.contains(':') {
            return Err(ConfigError {
                var: "GPTAUTH_BIND",
                message: format!("must be HOST:PORT, got {bind:?}"),
            });
        }
        let signup = match text("GPTAUTH_SIGNUP", "open").to_ascii_lowercase().as_str() {
            "open" => SignupPolicy::Open,
            "closed" => SignupPolicy::Closed,
            other => {
                return Err(ConfigError {
                    var: "GPTAUTH_SIGNUP",
                    message: format!("must be open or closed, got {other:?}"),
                });
            }
        };
        let registration = match text("GPTAUTH_REGISTRATION", "open")
            .to_ascii_lowercase()
            .as_str()
        {
            "open" => RegistrationPolicy::Open,
            "token" => RegistrationPolicy::Token,
            "closed" => RegistrationPolicy::Closed,
            other => {
                return Err(ConfigError {
                    var: "GPTAUTH_REGISTRATION",
                    message: format!("must be open, token or closed, got {other:?}"),
                });
            }
        };
        let trust_proxy_hops = match text("GPTAUTH_TRUST_PROXY", "false")
            .to_ascii_lowercase()
            .as_str()
        {
            "true" | "yes" => 1,
            "false" | "no" => 0,
            hops => match hops.parse::<usize>() {
                Ok(n) if n <= 16 => n,
                _ => {
                    return Err(ConfigError {
                        var: "GPTAUTH_TRUST_PROXY",
                        message: format!(
                            "must be true, false or the number of proxies in front (0 to 16), got {hops:?}"
                        ),
                    });
                }
            },
        };
        let client_metadata_allow_insecure_loopback =
            match text("GPTAUTH_CLIENT_METADATA_ALLOW_INSECURE_LOOPBACK", "false")
                .to_ascii_lowercase()
                .as_str()
            {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                other => {
                    return Err(ConfigError {
                        var: "GPTAUTH_CLIENT_METADATA_ALLOW_INSECURE_LOOPBACK",
                        message: format!("must be true or false (tests only), got {other:?}"),
                    });
                }
            };
        let key_encryption_key = secret(&get, "GPTAUTH_KEY_ENCRYPTION_KEY")?;
        let key_encryption_key_previous = secret(&get, "GPTAUTH_KEY_ENCRYPTION_KEY_PREVIOUS")?;
        let smtp_url = get("GPTAUTH_SMTP_URL").filter(|v| !v.trim().is_empty());
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(ConfigError {
                var: "GPTAUTH_SMTP_URL",
                message: format!(
                    "use smtp://HOST:PORT?tls=required (STARTTLS) or smtps://HOST:465, got {:?}",
                    redact_url(url)
                ),
            });
        }
        let mail_from = text(
            "GPTAUTH_MAIL_FROM",
            &format!(
                "gptauth <no-reply@{}>",
                // A domain of the issuer; an IP address or a bare name makes no valid sender.
                Url::parse(issuer.as_str())
                    .ok()
                    .and_then(|u| match u.host() {
                        Some(url::Host::Domain(d)) if d.contains('.') => Some(d.to_string()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "localhost.localdomain".into())
            ),
        );
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError {
                var: "GPTAUTH_MAIL_FROM",
                message: format!(
                    "not an address such as \"gptauth <no-reply@example.com>\": {mail_from:?}"
                ),
            });
        }
        let log_json = match text("GPTAUTH_LOG_FORMAT", "text")
            .to_ascii_lowercase()
            .as_str()
        {
            "text" => false,
            "json" => true,
            other => {
                return Err(ConfigError {
                    var: "GPTAUTH_LOG_FORMAT",
                    message: format!("must be text or json, got {other:?}"),
                });
            }
        };
        let client_metadata_documents = MetadataDocumentPolicy::parse(
            get("GPTAUTH_CLIENT_METADATA_DOCUMENTS").as_deref(),
            registration,
        )
        .map_err(|message| ConfigError {
            var: "GPTAUTH_CLIENT_METADATA_DOCUMENTS",
            message,
        })?;
        let mut resources = Vec::new();
        for raw in get("GPTAUTH_RESOURCES")
            .unwrap_or_default()
            .split([' ', ','])
            .filter(|r| !r.is_empty())
        {
            resources.push(ResourceIndicator::parse(raw).map_err(|e| ConfigError {
                var: "GPTAUTH_RESOURCES",
                message: e.to_string(),
            })?);
        }
        Ok(Config {
            database_url,
            issuer,
            bind,
            access_token_ttl: seconds("GPTAUTH_ACCESS_TOKEN_TTL", 3600)?,
            refresh_token_ttl: seconds("GPTAUTH_REFRESH_TOKEN_TTL", 7_776_000)?,
            refresh_grace_seconds: seconds_from("GPTAUTH_REFRESH_GRACE_SECONDS", 30, true)?,
            code_ttl: seconds("GPTAUTH_CODE_TTL", 60)?,
            signup,
            registration,
            trust_proxy_hops,
            key_rotation_days: match get("GPTAUTH_KEY_ROTATION_DAYS")
                .filter(|v| !v.trim().is_empty())
            {
                None => 0,
                Some(raw) => {
                    raw.trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|d| *d >= 0)
                        .ok_or(ConfigError {
                            var: "GPTAUTH_KEY_ROTATION_DAYS",
                            message: format!(
                                "must be a whole number of days (0: off), got {raw:?}"
                            ),
                        })?
                }
            },
            resources,
            secret_overlap_seconds: seconds("GPTAUTH_SECRET_OVERLAP_SECONDS", 3600)?,
            smtp_url,
            mail_from,
            client_metadata_allow_insecure_loopback,
            client_metadata_documents,
            log_filter: text("RUST_LOG", "info"),
            log_json,
            metrics_token: get("GPTAUTH_METRICS_TOKEN").filter(|t| !t.trim().is_empty()),
            key_encryption_key,
            key_encryption_key_previous,
            request_body_timeout: seconds("GPTAUTH_REQUEST_BODY_TIMEOUT", 10)?,
        })
    }
}

/// A secret from the configuration: never printed (its `Debug` is `***`).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A secret from `VAR`, or from the file `VAR_FILE` names (container secrets; one trailing
/// newline is dropped); both set is an error. A key-encryption key needs at least 32 characters.
fn secret(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<Option<Secret>, ConfigError> {
    let file_var = format!("{var}_FILE");
    let inline = get(var).filter(|v| !v.trim().is_empty());
    let file = get(&file_var).filter(|v| !v.trim().is_empty());
    let value = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError {
                var,
                message: format!("set either {var} or {file_var}, not both"),
            });
        }
        (Some(v), None) => v,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path.trim()).map_err(|e| ConfigError {
                var,
                message: format!("{file_var}: cannot read {:?}: {e}", path.trim()),
            })?;
            text.strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text)
                .to_string()
        }
        (None, None) => return Ok(None),
    };
    let min = MIN_SECRET_CHARS;
    if value.chars().count() < min {
        return Err(ConfigError {
            var,
            message: format!(
                "must be at least {min} characters (a random secret, e.g. `openssl rand -base64 32`)"
            ),
        });
    }
    Ok(Some(Secret(value)))
}

/// A database URL with any password replaced, for error messages and logs.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_design() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.database_url, "sqlite://gptauth.db");
        assert_eq!(c.issuer.as_str(), "http://127.0.0.1:8080");
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.access_token_ttl, 3600);
        assert_eq!(c.refresh_token_ttl, 7_776_000);
        assert_eq!(c.refresh_grace_seconds, 30);
        assert_eq!(c.code_ttl, 60);
        assert_eq!(c.signup, SignupPolicy::Open);
        assert!(!c.client_metadata_allow_insecure_loopback);
    }

    #[test]
    fn a_zero_ttl_names_its_variable() {
        let err = config(&[("GPTAUTH_CODE_TTL", "0")]).unwrap_err();
        assert_eq!(err.var, "GPTAUTH_CODE_TTL");
        assert!(err.to_string().starts_with("GPTAUTH_CODE_TTL: "));
    }

    #[test]
    fn a_zero_refresh_grace_is_strict_rotation_and_a_negative_one_is_refused() {
        let c = config(&[("GPTAUTH_REFRESH_GRACE_SECONDS", "0")]).unwrap();
        assert_eq!(c.refresh_grace_seconds, 0);
        let err = config(&[("GPTAUTH_REFRESH_GRACE_SECONDS", "-1")]).unwrap_err();
        assert_eq!(err.var, "GPTAUTH_REFRESH_GRACE_SECONDS");
    }

    #[test]
    fn key_rotation_is_off_by_default_and_must_be_whole_days() {
        assert_eq!(config(&[]).unwrap().key_rotation_days, 0);
        assert_eq!(
            config(&[("GPTAUTH_KEY_ROTATION_DAYS", "90")])
                .unwrap()
                .key_rotation_days,
            90
        );
        let err = config(&[("GPTAUTH_KEY_ROTATION_DAYS", "-1")]).unwrap_err();
        assert_eq!(err.var, "GPTAUTH_KEY_ROTATION_DAYS");
        let err = config(&[("GPTAUTH_RESOURCES", "https://mcp.example.com/mcp#x")]).unwrap_err();
        assert_eq!(err.var, "GPTAUTH_RESOURCES");
        let c = config(&[(
            "GPTAUTH_RESOURCES",
            "https://mcp.example.com/mcp, https://api.example.com",
        )])
        .expect("a list of resources");
        assert_eq!(c.resources.len(), 2);
        let err = config(&[("GPTAUTH_SMTP_URL", "http://mail.example.com")]).unwrap_err();
        assert_eq!(err.var, "GPTAUTH_SMTP_URL");
        let err = config(&[("GPTAUTH_MAIL_FROM", "not an address")]).unwrap_err();
        assert_eq!(err.var, "GPTAUTH_MAIL_FROM");
        let c = config(&[("GPTAUTH_ISSUER", "https://auth.example.com")]).expect("valid");
        assert_eq!(c.mail_from, "gptauth <no-reply@auth.example.com>");
        assert!(c.smtp_url.is_none(), "no SMTP by default: mail is logged");
        let err = config(&[("GPTAUTH_TRUST_PROXY", "maybe")]).unwrap_err();
        assert_eq!(err.var, "GPTAUTH_TRUST_PROXY");
    }

    #[test]
    fn metadata_documents_follow_registration_unless_set() {
        let policy = |env: &[(&str, &str)]| config(env).unwrap().client_metadata_documents;
        assert_eq!(policy(&[]), MetadataDocumentPolicy::Open);
        for closed in ["token", "closed"] {
            assert_eq!(
                policy(&[("GPTAUTH_REGISTRATION", closed)]),
                MetadataDocumentPolicy::Off
            );
        }
        assert_eq!(
            policy(&[
                ("GPTAUTH_REGISTRATION", "closed"),
                ("GPTAUTH_CLIENT_METADATA_DOCUMENTS", "open")
            ]),
            MetadataDocumentPolicy::Open
        );
        assert_eq!(
            policy(&[("GPTAUTH_CLIENT_METADATA_DOCUMENTS", "off")]),
            MetadataDocumentPolicy::Off
        );
        let hosts = policy(&[("GPTAUTH_CLIENT_METADATA_DOCUMENTS", "chatgpt.com Claude.ai")]);
        assert!(hosts.allows("chatgpt.com") && hosts.allows("claude.ai"));
        assert!(!hosts.allows("evil.example") && !hosts.allows("sub.chatgpt.com"));
        for bad in ["https://chatgpt.com", "chatgpt.com/x", "a_b.example"] {
            let err = config(&[("GPTAUTH_CLIENT_METADATA_DOCUMENTS", bad)]).unwrap_err();
            assert_eq!(err.var, "GPTAUTH_CLIENT_METADATA_DOCUMENTS", "{bad}");
        }
    }

    #[test]
    fn an_unknown_database_scheme_is_refused() {
        let err = config(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
    }

    #[test]
    fn an_unparsable_issuer_is_refused() {
        for bad in ["not a url", "ftp://x.example", "https://x.example/?a=b"] {
            let err = config(&[("GPTAUTH_ISSUER", bad)]).unwrap_err();
            assert_eq!(err.var, "GPTAUTH_ISSUER", "{bad}");
        }
    }

    #[test]
    fn the_issuer_loses_its_trailing_slash() {
        let c = config(&[("GPTAUTH_ISSUER", "https://auth.example.com/")]).unwrap();
        assert_eq!(c.issuer.as_str(), "https://auth.example.com");
        assert!(c.issuer.is_https());
        assert_eq!(
            c.issuer.url("/oauth/token"),
            "https://auth.example.com/oauth/token"
        );
    }

    #[test]
    fn a_password_in_a_database_url_is_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
    }
}
