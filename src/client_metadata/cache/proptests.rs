//! Property tests of the `Cache-Control` reading: never a panic, always within the clamps, and
//! the documented meaning of each directive. (`cache` is private, so these live beside it.)

use proptest::prelude::*;

use super::{MAX_LIFETIME_SECONDS, MIN_LIFETIME_SECONDS, lifetime};

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

/// One directive, as a model, and how it is spelt.
#[derive(Debug, Clone)]
enum Directive {
    /// `max-age` with a well-formed non-negative value.
    MaxAge(u64),
    /// `max-age` whose value is not a number.
    BadMaxAge,
    /// `no-store` or `no-cache`, with or without an argument.
    NoCaching,
    /// Anything else (`public`, `s-maxage=…`, extensions).
    Other,
}

fn mixed_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// One `max-age`, well-formed or not.
fn max_age_directive() -> impl Strategy<Value = (Directive, String)> {
    let pad = || prop::sample::select(vec!["", " ", "  ", "\t"]);
    prop_oneof![
        (
            prop_oneof![
                0u64..1_000,
                0u64..200_000,
                any::<u64>().prop_map(|v| v % 10_000_000_000)
            ],
            any::<u64>(),
            pad(),
            pad(),
            any::<bool>()
        )
            .prop_map(|(n, mask, p1, p2, quoted)| {
                let value = if quoted {
                    format!("\"{n}\"")
                } else {
                    n.to_string()
                };
                let text = format!("{p1}{}{p2}={p2}{value}{p1}", mixed_case("max-age", mask));
                (Directive::MaxAge(n), text)
            }),
        (
            prop_oneof![
                Just(String::new()),
                "[a-z]{1,6}",
                "-[0-9]{1,5}",
                "[0-9]{1,3}[a-z.][0-9]{0,3}",
                "[1-9][0-9]{19,24}"
            ],
            any::<u64>()
        )
            .prop_map(|(v, mask)| {
                let text = format!("{}={v}", mixed_case("max-age", mask));
                (Directive::BadMaxAge, text)
            }),
    ]
}

/// Any directive but `max-age`.
fn other_directive() -> impl Strategy<Value = (Directive, String)> {
    prop_oneof![
        (
            prop::sample::select(vec!["no-store", "no-cache"]),
            any::<u64>(),
            prop::option::of("\"?[a-z-]{1,10}\"?")
        )
            .prop_map(|(name, mask, arg)| {
                let mut text = format!(" {}", mixed_case(name, mask));
                if let Some(arg) = arg {
                    text = format!("{text}={arg}");
                }
                (Directive::NoCaching, text)
            }),
        prop_oneof![
            Just("public".to_string()),
            Just("private".to_string()),
            Just("must-revalidate".to_string()),
            Just("immutable".to_string()),
            "s-maxage=[0-9]{1,6}",
            "stale-while-revalidate=[0-9]{1,4}",
            "max-agex=[0-9]{1,6}",
            "x-max-age=[0-9]{1,6}",
            "[a-z]{1,8}(=[a-z0-9]{1,8})?",
        ]
        .prop_map(|t| (Directive::Other, t)),
    ]
}

fn clamp(seconds: i64) -> i64 {
    seconds.clamp(MIN_LIFETIME_SECONDS, MAX_LIFETIME_SECONDS)
}

proptest! {
    #![proptest_config(config(1024))]

    /// Any text at all: no panic, and a lifetime within the clamps.
    #[test]
    fn any_header_gives_a_lifetime_within_the_clamps(
        raw in prop_oneof![
            any::<String>(),
            "[-a-zA-Z0-9=,\" \t]{0,80}",
            prop::collection::vec(any::<char>(), 0..5_000).prop_map(String::from_iter),
        ]
    ) {
        let seconds = lifetime(Some(&raw));
        prop_assert!((MIN_LIFETIME_SECONDS..=MAX_LIFETIME_SECONDS).contains(&seconds), "{seconds}");
    }

    /// The documented meaning: `no-store`/`no-cache` anywhere means the minimum; otherwise a
    /// `max-age` is honoured within the clamps (a malformed one is stale: the minimum); no
    /// `max-age` means the minimum.
    #[test]
    fn directives_mean_what_the_docs_say(
        others in prop::collection::vec(other_directive(), 0..6),
        // At most one max-age here; repeated ones are the next property's subject.
        max_age in prop::option::of(max_age_directive()),
        at in any::<prop::sample::Index>(),
    ) {
        let mut directives = others;
        if let Some(m) = max_age {
            let at = at.index(directives.len() + 1);
            directives.insert(at, m);
        }
        let header: Vec<&str> = directives.iter().map(|(_, t)| t.as_str()).collect();
        let header = header.join(",");
        let expected = if directives.iter().any(|(d, _)| matches!(d, Directive::NoCaching)) {
            MIN_LIFETIME_SECONDS
        } else {
            match directives.iter().find_map(|(d, _)| match d {
                Directive::MaxAge(n) => Some(i64::try_from(*n).unwrap_or(i64::MAX)),
                Directive::BadMaxAge => Some(0),
                _ => None,
            }) {
                Some(n) => clamp(n),
                None => MIN_LIFETIME_SECONDS,
            }
        };
        prop_assert_eq!(lifetime(Some(&header)), expected, "{:?}", header);
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// RFC 9111 §4.2.1: with several `max-age`s, a cache uses the first or treats the response
    /// as stale; never a later, longer one.
    #[test]
    fn repeated_max_age_uses_the_first_or_is_stale(first in 0u64..200_000, second in 0u64..200_000) {
        let header = format!("max-age={first}, max-age={second}");
        let got = lifetime(Some(&header));
        let first = clamp(i64::try_from(first).unwrap_or(i64::MAX));
        prop_assert!(got == first || got == MIN_LIFETIME_SECONDS, "{header:?} gave {got}");
    }
}
