//! How long a fetched metadata document may be used before it is fetched again.

/// Never refetch sooner: a client that forbids caching would otherwise make every sign-in
/// step (authorize, consent, token) a fetch, and tell its host when each user signs in.
pub const MIN_LIFETIME_SECONDS: i64 = 5 * 60;
/// Never trust a copy longer: a client's changed redirect URIs must take effect within a day.
pub const MAX_LIFETIME_SECONDS: i64 = 24 * 60 * 60;

/// The lifetime a `Cache-Control` header grants (RFC 9111 §5.2.2), clamped to our bounds:
/// `max-age` when given, the minimum for `no-store`, `no-cache` or no header at all.
pub fn lifetime(cache_control: Option<&str>) -> i64 {
    let mut max_age = None;
    for directive in cache_control.unwrap_or_default().split(',') {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return MIN_LIFETIME_SECONDS;
        }
        if name.eq_ignore_ascii_case("max-age") {
            // A malformed max-age is treated as stale (RFC 9111 §4.2.1).
            // With several, the first counts (RFC 9111 §4.2.1).
            if max_age.is_none() {
                max_age = Some(value.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
            }
        }
    }
    max_age
        .unwrap_or(MIN_LIFETIME_SECONDS)
        .clamp(MIN_LIFETIME_SECONDS, MAX_LIFETIME_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_honoured_within_bounds() {
        assert_eq!(lifetime(Some("max-age=3600")), 3600);
        assert_eq!(lifetime(Some("public, max-age=\"7200\"")), 7200);
        assert_eq!(lifetime(Some("Max-Age=600, must-revalidate")), 600);
        assert_eq!(lifetime(Some("max-age=10")), MIN_LIFETIME_SECONDS);
        assert_eq!(lifetime(Some("max-age=0")), MIN_LIFETIME_SECONDS);
        assert_eq!(lifetime(Some("max-age=31536000")), MAX_LIFETIME_SECONDS);
        assert_eq!(
            lifetime(Some("max-age=99999999999999999999")),
            MIN_LIFETIME_SECONDS
        );
    }

    #[test]
    fn no_caching_or_no_header_means_the_minimum() {
        for header in [
            None,
            Some(""),
            Some("no-store"),
            Some("max-age=3600, no-cache"),
            Some("private, no-store, max-age=3600"),
            Some("max-age=abc"),
        ] {
            assert_eq!(lifetime(header), MIN_LIFETIME_SECONDS, "{header:?}");
        }
    }
}

#[cfg(test)]
mod proptests;
