//! The SSRF guard: a client ID is any URL a stranger types, so the server may only ever connect
//! to public unicast addresses for it (draft-ietf-oauth-client-id-metadata-document §8.6, the
//! special-use registry of RFC 6890).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is a public unicast address this server may connect to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// IPv4 blocks never contacted: every special-use block of RFC 6890 and its successors.
const REFUSED_V4: &[(Ipv4Addr, u32)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8), // "this network", 0.0.0.0 included (RFC 1122)
    (Ipv4Addr::new(10, 0, 0, 0), 8), // private (RFC 1918)
    (Ipv4Addr::new(100, 64, 0, 0), 10), // carrier-grade NAT (RFC 6598)
    (Ipv4Addr::new(127, 0, 0, 0), 8), // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16), // link-local, cloud metadata endpoints (RFC 3927)
    (Ipv4Addr::new(172, 16, 0, 0), 12), // private
    (Ipv4Addr::new(192, 0, 0, 0), 24), // IETF protocol assignments (RFC 6890)
    (Ipv4Addr::new(192, 0, 2, 0), 24), // documentation TEST-NET-1 (RFC 5737)
    (Ipv4Addr::new(192, 88, 99, 0), 24), // 6to4 relay anycast (RFC 7526)
    (Ipv4Addr::new(192, 168, 0, 0), 16), // private
    (Ipv4Addr::new(198, 18, 0, 0), 15), // benchmarking (RFC 2544)
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation TEST-NET-2
    (Ipv4Addr::new(203, 0, 113, 0), 24), // documentation TEST-NET-3
    (Ipv4Addr::new(224, 0, 0, 0), 4), // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4), // reserved, and the broadcast address
];

/// IPv6 blocks never contacted inside global unicast 2000::/3, the only range allowed at all.
const REFUSED_V6: &[(Ipv6Addr, u32)] = &[
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23), // IETF assignments: Teredo, ORCHID…
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation (RFC 3849)
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16), // 6to4 (RFC 3056): reaches any IPv4
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation (RFC 9637)
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !REFUSED_V4
        .iter()
        .any(|(net, len)| (bits ^ u32::from(*net)) >> (32 - len) == 0)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // IPv4 wrapped in IPv6 reaches the IPv4 address: judge that one.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4); // ::ffff:0:0/96
    }
    let bits = u128::from(ip);
    if bits >> 32 == u128::from(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)) >> 32 {
        // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052) carries the IPv4 address.
        return is_public_v4(Ipv4Addr::from(bits as u32));
    }
    // Outside 2000::/3 lie ::, ::1, the IPv4-compatible ::/96, ULA fc00::/7, link-local
    // fe80::/10, site-local fec0::/10, multicast ff00::/8, discard 100::/64 and local-use
    // NAT64 64:ff9b:1::/48: none of them is ever contacted.
    let global_unicast = bits >> 125 == 1;
    global_unicast
        && !REFUSED_V6
            .iter()
            .any(|(net, len)| (bits ^ u128::from(*net)) >> (128 - len) == 0)
}

/// Why a host name was refused.
#[derive(Debug, Clone, thiserror::Error)]
/// The address stays out of the message: the message reaches whoever named the host, and what
/// an internal name resolves to is ours to know (the operator's logs have it).
#[error("{host} is not a public address")]
pub struct NonPublicHost {
    pub host: String,
    pub address: IpAddr,
}

/// A DNS resolver for reqwest that answers only with public addresses, and refuses a name
/// that resolves to any other. reqwest connects to exactly what it returns, so the address
/// checked is the address connected to: there is no second lookup that a rebinding DNS server
/// could answer differently. (IP literals never reach a resolver; the fetcher checks those.)
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = found.iter().find(|a| !is_public(a.ip())) {
                return Err(NonPublicHost {
                    host,
                    address: bad.ip(),
                }
                .into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(raw: &str) -> bool {
        is_public(raw.parse().expect("an IP address"))
    }

    #[test]
    fn special_use_ipv4_addresses_are_refused() {
        for refused in [
            "0.0.0.0",         // unspecified
            "0.1.2.3",         // this network
            "10.0.0.1",        // RFC 1918
            "10.255.255.255",  //
            "172.16.0.1",      //
            "172.31.255.254",  //
            "192.168.1.1",     //
            "127.0.0.1",       // loopback
            "127.255.0.9",     //
            "169.254.169.254", // link-local: cloud metadata endpoints
            "100.64.0.1",      // CGNAT
            "100.127.255.254", //
            "192.0.0.8",       // IETF protocol assignments
            "192.0.2.10",      // documentation
            "198.51.100.7",    //
            "203.0.113.99",    //
            "198.18.0.1",      // benchmarking
            "198.19.255.255",  //
            "192.88.99.1",     // 6to4 relay
            "224.0.0.1",       // multicast
            "239.255.255.250", //
            "240.0.0.1",       // reserved
            "255.255.255.255", // broadcast
        ] {
            assert!(!public(refused), "{refused} must be refused");
        }
    }

    #[test]
    fn special_use_ipv6_addresses_are_refused() {
        for refused in [
            "::",                     // unspecified
            "::1",                    // loopback
            "::ffff:127.0.0.1",       // IPv4-mapped loopback
            "::ffff:10.1.2.3",        // IPv4-mapped private
            "::ffff:169.254.169.254", // IPv4-mapped link-local
            "::ffff:100.64.0.1",      // IPv4-mapped CGNAT
            "::ffff:0.0.0.0",         // IPv4-mapped unspecified
            "::ffff:224.0.0.1",       // IPv4-mapped multicast
            "::ffff:192.0.2.1",       // IPv4-mapped documentation
            "::127.0.0.1",            // IPv4-compatible (deprecated)
            "64:ff9b::7f00:1",        // NAT64 of 127.0.0.1
            "64:ff9b::a01:203",       // NAT64 of 10.1.2.3
            "64:ff9b:1::1",           // local-use NAT64
            "fc00::1",                // ULA
            "fd12:3456:789a::1",      //
            "fe80::1",                // link-local
            "febf::1",                //
            "fec0::1",                // site-local (deprecated)
            "ff02::1",                // multicast
            "ff05::2",                //
            "100::1",                 // discard-only
            "2001:db8::1",            // documentation
            "3fff::1",                //
            "2001::1",                // Teredo
            "2001:2::1",              // benchmarking
            "2001:10::1",             // ORCHID
            "2002:7f00:1::1",         // 6to4
        ] {
            assert!(!public(refused), "{refused} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for allowed in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.1.1",
            "223.255.255.254",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(public(allowed), "{allowed} must be allowed");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_by_the_resolver() {
        let name: Name = "localhost".parse().expect("a name");
        let err = match PublicOnlyResolver.resolve(name).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e,
        };
        assert!(err.downcast_ref::<NonPublicHost>().is_some(), "{err}");
    }
}

#[cfg(test)]
mod proptests;
