//! What handlers read from a request beyond its body: headers, the client's address.

use actix_web::HttpRequest;

use super::state::AppState;

/// Whether the request's body is declared as `media_type` (parameters such as `charset` aside).
pub fn has_media_type(req: &actix_web::HttpRequest, media_type: &str) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(media_type))
}

/// The address the request came from (see `GPTAUTH_TRUST_PROXY`).
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<String> {
    let peer = req.peer_addr().map(|a| a.ip());
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    forwarded_client(peer, forwarded, state.config.trust_proxy_hops).map(|ip| ip.to_string())
}

/// The client address behind `hops` trusted proxies: each appends the address it received the
/// request from to `X-Forwarded-For`, so the trustworthy entry is the `hops`-th from the right;
/// whatever stands left of it was written by the client and is ignored (as nginx's `real_ip`
/// with a trusted hop count). `Forwarded` is not read: a proxy that sets only `X-Forwarded-For`
/// would pass a client's own `Forwarded` through. A list shorter than `hops` (a request that
/// did not pass every proxy) or an entry that is not an address falls back to the peer.
fn forwarded_client<'a>(
    peer: Option<std::net::IpAddr>,
    headers: impl Iterator<Item = &'a str>,
    hops: usize,
) -> Option<std::net::IpAddr> {
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = headers.flat_map(|h| h.split(',')).map(str::trim).collect();
    match entries.len().checked_sub(hops).and_then(|i| entries.get(i)) {
        Some(entry) => entry.parse().ok().or(peer),
        None => peer,
    }
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;
    use std::net::IpAddr;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn the_client_address_is_the_one_the_trusted_proxy_added() {
        let peer = ip("10.0.0.2");
        let one = |headers: &[&str]| forwarded_client(peer, headers.iter().copied(), 1);
        assert_eq!(one(&["203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(
            one(&["fake, 203.0.113.9"]),
            ip("203.0.113.9"),
            "the client's own entry is ignored"
        );
        assert_eq!(
            one(&["1.1.1.1", "203.0.113.9"]),
            ip("203.0.113.9"),
            "repeated headers join in order"
        );
        assert_eq!(one(&[]), peer, "not through the proxy");
        assert_eq!(one(&["fake, not-an-address"]), peer);
        let two = forwarded_client(peer, ["fake, 203.0.113.9, 10.0.0.1"].into_iter(), 2);
        assert_eq!(two, ip("203.0.113.9"));
        assert_eq!(
            forwarded_client(peer, ["203.0.113.9"].into_iter(), 0),
            peer,
            "not trusted"
        );
    }
}
