//! Cookie names, shared by the session, CSRF and device cookies.

/// A cookie's name: with the `__Host-` prefix when the issuer is https, so that no sibling
/// subdomain (which the GPT editor's one-root-domain rule implies) can set or shadow it
/// (RFC 6265bis §4.1.3.2: the browser accepts it only with `Secure`, `Path=/` and no `Domain`).
pub fn cookie_name(base: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}
