//! Prometheus metrics at `GET /metrics` (text format 0.0.4): requests by route and status,
//! latency histograms, tokens issued by grant type, sign-in failures and locks, refresh-token
//! reuse, and the database pool. Security events are counted where the audit trail records
//! them, so the two always agree.

use crate::domain::AuditKind;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Audit event kinds that are also counters: (kind, metric name, help).
const EVENT_COUNTERS: [(AuditKind, &str, &str); 6] = [
    (
        AuditKind::TokenIssued,
        "gptauth_tokens_issued_authorization_code_total",
        "Access tokens issued for an authorization code.",
    ),
    (
        AuditKind::TokenRefreshed,
        "gptauth_tokens_issued_refresh_token_total",
        "Access tokens issued for a refresh token.",
    ),
    (
        AuditKind::LoginFailed,
        "gptauth_signin_failures_total",
        "Failed password sign-ins.",
    ),
    (
        AuditKind::LoginLocked,
        "gptauth_signin_locks_total",
        "Accounts or addresses locked after repeated failures.",
    ),
    (
        AuditKind::RefreshReuseDetected,
        "gptauth_refresh_reuse_detected_total",
        "Rotated refresh tokens presented again (their family is revoked).",
    ),
    (
        AuditKind::ClientAuthFailed,
        "gptauth_client_auth_failures_total",
        "Failed client authentications at the token endpoint.",
    ),
];

#[derive(Default)]
pub struct Metrics {
    /// (route pattern, method, status) → count.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    events: [AtomicU64; EVENT_COUNTERS.len()],
}

impl Metrics {
    /// One request done. `route` is the matched pattern (`/portal/clients/{id}`), never the
    /// path itself, so that the series stay few and hold no identifiers. The method is one of a
    /// fixed set: a client may send any token as a method, and one series per distinct value
    /// would grow memory and `/metrics` without bound.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        {
            let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            *requests
                .entry((route.to_string(), method_label(method).to_string(), status))
                .or_default() += 1;
        }
        let seconds = took.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = latency.entry(route.to_string()).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// A security event of `kind` happened.
    pub fn observe_event(&self, kind: AuditKind) {
        if let Some(i) = EVENT_COUNTERS.iter().position(|(k, _, _)| *k == kind) {
            self.events[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The exposition text; `pool` is (connections open, idle).
    pub fn render(&self, pool: (u32, usize)) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP gptauth_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE gptauth_http_requests_total counter\n");
        for ((route, method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "gptauth_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                escape(route),
                escape(method)
            );
        }
        out.push_str("# HELP gptauth_http_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE gptauth_http_request_duration_seconds histogram\n");
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let route = escape(route);
            for (bound, n) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "gptauth_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "gptauth_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "gptauth_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "gptauth_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        for ((_, name, help), value) in EVENT_COUNTERS.iter().zip(self.events.iter()) {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        let (open, idle) = pool;
        let _ = writeln!(
            out,
            "# HELP gptauth_db_pool_connections Database connections open, and idle among them.\n\
             # TYPE gptauth_db_pool_connections gauge\n\
             gptauth_db_pool_connections{{state=\"open\"}} {open}\n\
             gptauth_db_pool_connections{{state=\"idle\"}} {idle}"
        );
        out
    }
}

/// The label of a request method: the methods of RFC 9110 §9 and PATCH, else `OTHER`.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("OTHER")
}

/// A label value (RFC: backslash, quote and newline escaped).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_histograms_and_events_are_rendered() {
        let m = Metrics::default();
        m.observe_request("/oauth/token", "POST", 200, Duration::from_millis(3));
        m.observe_request("/oauth/token", "POST", 200, Duration::from_millis(300));
        m.observe_event(AuditKind::TokenIssued);
        m.observe_event(AuditKind::ConsentGranted);
        let text = m.render((3, 2));
        assert!(text.contains(
            "gptauth_http_requests_total{route=\"/oauth/token\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "gptauth_http_request_duration_seconds_bucket{route=\"/oauth/token\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "gptauth_http_request_duration_seconds_bucket{route=\"/oauth/token\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("gptauth_tokens_issued_authorization_code_total 1"));
        assert!(text.contains("gptauth_db_pool_connections{state=\"idle\"} 2"));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
        m.observe_request("unmatched", "X-ANYTHING", 405, Duration::from_millis(1));
        assert!(m.render((0, 0)).contains("method=\"OTHER\""));
    }
}
