//! Login throttling, shared by every instance through the database: per account (keyed on the
//! e-mail as typed, so unknown accounts behave exactly like real ones) and per client IP. A few
//! free attempts, then growing delays, then a temporary lock (OWASP Authentication Cheat Sheet).

use crate::store::{Db, StoreError, ThrottleRecord};

/// Limits for one kind of key.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures after which each further attempt must wait.
    pub free: i32,
    /// Longest delay between attempts, seconds.
    pub max_delay: i64,
    /// Failures after which the key is locked.
    pub lock_after: i32,
    /// How long a lock lasts, seconds.
    pub lock_seconds: i64,
}

pub const ACCOUNT: Policy = Policy {
    free: 3,
    max_delay: 60,
    lock_after: 10,
    lock_seconds: 15 * 60,
};

/// Many people can share one address (offices, carrier NAT): looser.
pub const IP: Policy = Policy {
    free: 20,
    max_delay: 30,
    lock_after: 100,
    lock_seconds: 15 * 60,
};

/// The first wait once the free attempts are used up, seconds; it doubles with each failure.
pub const FIRST_DELAY: i64 = 5;

/// Failures older than this are forgotten.
pub const WINDOW_SECONDS: i64 = 3600;

/// The keys one login attempt counts against.
pub struct Keys {
    pub account: Option<String>,
    pub ip: Option<String>,
}

impl Keys {
    /// A sign-in attempt: counts against the account and the address.
    pub fn new(email: &str, ip: Option<&str>) -> Self {
        Keys {
            account: Some(format!("account:{}", email.trim().to_lowercase())),
            ip: ip.map(|ip| format!("ip:{ip}")),
        }
    }

    /// Probing for taken e-mails at sign-up: counts against the address only.
    pub fn address(ip: Option<&str>) -> Self {
        Keys {
            account: None,
            ip: ip.map(|ip| format!("ip:{ip}")),
        }
    }

    /// Asking for mail (password reset, verification again): its own counters, so that mail
    /// requests neither lock sign-in nor are unlimited.
    pub fn mail(email: &str, ip: Option<&str>) -> Self {
        Keys {
            account: Some(format!("mail:{}", email.trim().to_lowercase())),
            ip: ip.map(|ip| format!("ip:mail:{ip}")),
        }
    }

    fn all(&self) -> Vec<String> {
        self.account.iter().chain(self.ip.iter()).cloned().collect()
    }
}

fn policy_for(key: &str) -> Policy {
    if key.starts_with("ip:") { IP } else { ACCOUNT }
}

/// Seconds to wait before this key may try again, or 0.
pub fn wait_seconds(record: &ThrottleRecord, now: i64) -> i64 {
    if record.locked_until > now {
        return record.locked_until - now;
    }
    let policy = policy_for(&record.key);
    if record.last_failure_at < now - WINDOW_SECONDS || record.failures < policy.free {
        return 0;
    }
    let excess = (record.failures - policy.free).clamp(0, 16) as u32;
    let delay = (FIRST_DELAY << excess).min(policy.max_delay);
    (record.last_failure_at + delay - now).max(0)
}

/// How long the caller must wait before trying again (0: go ahead).
pub async fn check(db: &Db, keys: &Keys) -> Result<i64, StoreError> {
    let now = crate::store::now();
    let records = db.throttle_records(&keys.all()).await?;
    Ok(records
        .iter()
        .map(|r| wait_seconds(r, now))
        .max()
        .unwrap_or(0))
}

/// Counts a failed attempt; returns which keys became locked by it.
pub async fn failed(db: &Db, keys: &Keys) -> Result<Vec<String>, StoreError> {
    let now = crate::store::now();
    let mut locked = Vec::new();
    for key in keys.all() {
        let failures = db.record_failure(&key, now - WINDOW_SECONDS).await?;
        let policy = policy_for(&key);
        if failures >= policy.lock_after {
            db.lock_key(&key, now + policy.lock_seconds).await?;
            locked.push(key);
        }
    }
    Ok(locked)
}

/// A successful sign-in clears the account's counter (not the address's: one valid account
/// must not reset the limit for guessing others from the same place).
pub async fn succeeded(db: &Db, keys: &Keys) -> Result<(), StoreError> {
    match &keys.account {
        Some(account) => db.clear_throttle(account).await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, failures: i32, last: i64, locked_until: i64) -> ThrottleRecord {
        ThrottleRecord {
            key: key.into(),
            failures,
            last_failure_at: last,
            locked_until,
        }
    }

    #[test]
    fn free_attempts_then_growing_delays_then_a_lock() {
        let now = 1_000_000;
        assert_eq!(wait_seconds(&record("account:a", 2, now, 0), now), 0);
        assert_eq!(wait_seconds(&record("account:a", 3, now, 0), now), 5);
        assert_eq!(wait_seconds(&record("account:a", 4, now, 0), now), 10);
        assert_eq!(wait_seconds(&record("account:a", 9, now, 0), now), 60);
        assert_eq!(
            wait_seconds(&record("account:a", 4, now - 10, 0), now),
            0,
            "delay served"
        );
        assert_eq!(
            wait_seconds(&record("account:a", 3, now - 1, 0), now),
            4,
            "delay partly served"
        );
        assert_eq!(
            wait_seconds(&record("account:a", 10, now, now + 900), now),
            900
        );
        assert_eq!(
            wait_seconds(&record("account:a", 9, now - WINDOW_SECONDS - 1, 0), now),
            0,
            "forgotten"
        );
    }

    #[test]
    fn addresses_get_more_room_than_accounts() {
        let now = 1_000_000;
        assert_eq!(wait_seconds(&record("ip:1.2.3.4", 19, now, 0), now), 0);
        assert_eq!(wait_seconds(&record("ip:1.2.3.4", 20, now, 0), now), 5);
    }
}
