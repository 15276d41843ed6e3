//! Property tests of the address filter against an independent classification of the ranges
//! the module names, written with octets and segments rather than prefix arithmetic. (`ssrf`
//! is private, so these live beside it; the parsers reachable from outside are tested in
//! `tests/properties.rs`.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::is_public;

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

/// What may be contacted, per the module docs: everything but the special-use blocks.
fn reference_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let this_network = a == 0;
    let private = ip.is_private(); // 10/8, 172.16/12, 192.168/16
    let cgnat = a == 100 && (64..=127).contains(&b);
    let loopback = ip.is_loopback();
    let link_local = ip.is_link_local();
    let ietf = a == 192 && b == 0 && c == 0;
    let documentation = ip.is_documentation(); // 192.0.2/24, 198.51.100/24, 203.0.113/24
    let relay_6to4 = a == 192 && b == 88 && c == 99;
    let benchmarking = a == 198 && (b == 18 || b == 19);
    let multicast = ip.is_multicast();
    let reserved = a >= 240; // 255.255.255.255 included
    !(this_network
        || private
        || cgnat
        || loopback
        || link_local
        || ietf
        || documentation
        || relay_6to4
        || benchmarking
        || multicast
        || reserved)
}

fn reference_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let low_v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // ::ffff:a.b.c.d reaches a.b.c.d.
    if s[..5] == [0; 5] && s[5] == 0xffff {
        return reference_v4(low_v4);
    }
    // 64:ff9b::a.b.c.d (NAT64, RFC 6052) reaches a.b.c.d too.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return reference_v4(low_v4);
    }
    let global_unicast = (0x2000..=0x3fff).contains(&s[0]);
    let ietf = s[0] == 0x2001 && s[1] <= 0x01ff; // 2001::/23
    let documentation = (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] <= 0x0fff);
    let six_to_four = s[0] == 0x2002;
    // The classes the docs name outside 2000::/3, checked on their own so that a change to
    // the 2000::/3 rule cannot let them through unnoticed.
    let named_elsewhere = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || (s[0] & 0xffc0) == 0xfec0 // site-local
        || s[..4] == [0x100, 0, 0, 0] // discard 100::/64
        || s[..3] == [0x64, 0xff9b, 1] // local-use NAT64
        || s[..6] == [0; 6]; // IPv4-compatible ::/96
    global_unicast && !ietf && !documentation && !six_to_four && !named_elsewhere
}

/// Interesting IPv4 blocks (the refused ones and their public neighbours).
const V4_BLOCKS: &[(u32, u32)] = &[
    (0x0000_0000, 8),
    (0x0a00_0000, 8),
    (0x6440_0000, 10),
    (0x7f00_0000, 8),
    (0xa9fe_0000, 16),
    (0xac10_0000, 12),
    (0xc000_0000, 24),
    (0xc000_0200, 24),
    (0xc058_6300, 24),
    (0xc0a8_0000, 16),
    (0xc612_0000, 15),
    (0xc633_6400, 24),
    (0xcb00_7100, 24),
    (0xe000_0000, 4),
    (0xf000_0000, 4),
];

/// Addresses in, at the edges of, and just outside the named blocks, plus any address at all.
fn v4() -> impl Strategy<Value = Ipv4Addr> {
    let near_block = (0..V4_BLOCKS.len(), any::<u32>(), 0u8..5).prop_map(|(i, host, edge)| {
        let (net, len) = V4_BLOCKS[i];
        let size = 1u64 << (32 - len);
        let offset = u64::from(host) % size;
        let bits = match edge {
            0 => u64::from(net).wrapping_sub(1),        // just below
            1 => u64::from(net),                        // first
            2 => u64::from(net) + size - 1,             // last
            3 => (u64::from(net) + size) & 0xffff_ffff, // just above
            _ => u64::from(net) + offset,               // inside
        };
        Ipv4Addr::from(bits as u32)
    });
    prop_oneof![any::<u32>().prop_map(Ipv4Addr::from), near_block]
}

fn v6() -> impl Strategy<Value = Ipv6Addr> {
    let prefixed = |prefix: u128, len: u32| {
        any::<u128>().prop_map(move |host| {
            let mask = if len == 0 {
                u128::MAX
            } else {
                u128::MAX >> len
            };
            Ipv6Addr::from((prefix & !mask) | (host & mask))
        })
    };
    prop_oneof![
        any::<u128>().prop_map(Ipv6Addr::from),
        v4().prop_map(|v| v.to_ipv6_mapped()),
        v4().prop_map(|v| {
            let [a, b, c, d] = v.octets();
            Ipv6Addr::new(
                0x64,
                0xff9b,
                0,
                0,
                0,
                0,
                u16::from_be_bytes([a, b]),
                u16::from_be_bytes([c, d]),
            )
        }),
        v4().prop_map(|v| v.to_ipv6_compatible()),
        prefixed(0x0064_ff9b_0001_u128 << 80, 48),
        prefixed(0x2000_u128 << 112, 3),
        prefixed(0x2001_u128 << 112, 16),
        prefixed(0x2001_0db8_u128 << 96, 32),
        prefixed(0x2002_u128 << 112, 16),
        prefixed(0x3fff_u128 << 112, 16),
        prefixed(0xfc00_u128 << 112, 7),
        prefixed(0xfe80_u128 << 112, 9),
        prefixed(0xff00_u128 << 112, 8),
        prefixed(0x0100_u128 << 112, 64),
        (0u128..65_536).prop_map(Ipv6Addr::from),
    ]
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn ipv4_answers_agree_with_the_reference(ip in v4()) {
        prop_assert_eq!(is_public(IpAddr::V4(ip)), reference_v4(ip), "{}", ip);
    }

    #[test]
    fn ipv6_answers_agree_with_the_reference(ip in v6()) {
        prop_assert_eq!(is_public(IpAddr::V6(ip)), reference_v6(ip), "{}", ip);
    }

    /// IPv4 wrapped in IPv6 (mapped, NAT64) gets the IPv4 answer; IPv4-compatible never passes.
    #[test]
    fn wrapped_ipv4_is_judged_as_ipv4(ip in v4()) {
        let direct = is_public(IpAddr::V4(ip));
        prop_assert_eq!(is_public(IpAddr::V6(ip.to_ipv6_mapped())), direct);
        let [a, b, c, d] = ip.octets();
        let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
        prop_assert_eq!(is_public(IpAddr::V6(nat64)), direct);
        prop_assert!(!is_public(IpAddr::V6(ip.to_ipv6_compatible())));
    }
}
