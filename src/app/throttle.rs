//! Login throttling, shared by every instance through the database: per account (keyed on the
//! e-mail as typed, so unknown accounts behave exactly like real ones) and per client IP. A few
//! free attempts, then growing delays, then a temporary lock (OWASP Authentication Cheat Sheet).

use crate::store::{AttemptLimits, Db, StoreError, ThrottleRecord};

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

/// Sign-ups from one client address: a few at once, then slower (each one hashes a password
/// and mails someone).
pub const SIGNUP_IP: Policy = Policy {
    free: 5,
    max_delay: 300,
    lock_after: 30,
    lock_seconds: 3600,
};

/// Sign-ups naming one e-mail address: each mails it (or probes whether it has an account).
pub const SIGNUP_ADDRESS: Policy = Policy {
    free: 3,
    max_delay: 300,
    lock_after: 10,
    lock_seconds: 3600,
};

/// The keys one attempt counts against.
pub struct Keys {
    /// The account (or the known device, or the mailbox) the attempt is about.
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

    /// A sign-in attempt from a browser where this account signed in before (its device
    /// cookie's digest): counted on that device instead of the account, so that a lock others
    /// caused by guessing does not keep the owner out (OWASP's device cookies).
    pub fn known_device(device: &str, ip: Option<&str>) -> Self {
        Keys {
            account: Some(format!("device:{device}")),
            ip: ip.map(|ip| format!("ip:{ip}")),
        }
    }

    /// A sign-up: counts against the address it names and the client address, every time.
    pub fn signup(email: &str, ip: Option<&str>) -> Self {
        Keys {
            account: Some(format!("signup:{}", email.trim().to_lowercase())),
            ip: ip.map(|ip| format!("ip:signup:{ip}")),
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

    /// The client address first: a request refused there counts nowhere, so that a flood from
    /// one address cannot push a victim's account into its delays.
    fn all(&self) -> impl Iterator<Item = &String> {
        self.ip.iter().chain(self.account.iter())
    }
}

fn policy_for(key: &str) -> Policy {
    if key.starts_with("ip:signup:") {
        SIGNUP_IP
    } else if key.starts_with("signup:") {
        SIGNUP_ADDRESS
    } else if key.starts_with("ip:") {
        IP
    } else {
        ACCOUNT
    }
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

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Counted (as a failure, until `succeeded` says otherwise): check the password now.
    Go,
    /// Refused without counting: try again after this many seconds.
    Wait(i64),
}

/// Counts an attempt against every key *before* the expensive or revealing work (a password
/// hash, a mail), atomically per key (see `Db::begin_attempt`): N parallel attempts cost at most
/// what the policy allows, on one instance or many. A refusal by one key takes back what the
/// earlier keys counted.
pub async fn begin(db: &Db, keys: &Keys) -> Result<Verdict, StoreError> {
    let now = db.now();
    let mut counted: Vec<&String> = Vec::new();
    for key in keys.all() {
        let policy = policy_for(key);
        let limits = AttemptLimits {
            free: policy.free,
            first_delay: FIRST_DELAY,
            max_delay: policy.max_delay,
        };
        if db
            .begin_attempt(key, now - WINDOW_SECONDS, limits)
            .await?
            .is_some()
        {
            counted.push(key);
            continue;
        }
        for earlier in counted {
            db.refund_attempt(earlier).await?;
        }
        let records = db.throttle_records(std::slice::from_ref(key)).await?;
        let wait = records.iter().map(|r| wait_seconds(r, now)).max();
        // The counter may have moved since the refusal; never say "wait 0 seconds".
        return Ok(Verdict::Wait(wait.unwrap_or(0).max(1)));
    }
    Ok(Verdict::Go)
}

/// For requests where every one counts, whatever comes of it (mail, sign-up): `begin`, and the
/// locks of `failed`.
pub async fn count(db: &Db, keys: &Keys) -> Result<Verdict, StoreError> {
    let verdict = begin(db, keys).await?;
    if verdict == Verdict::Go {
        failed(db, keys).await?;
    }
    Ok(verdict)
}

/// The attempt begun was a failure: locks the keys it took past their policy's limit and
/// returns them.
pub async fn failed(db: &Db, keys: &Keys) -> Result<Vec<String>, StoreError> {
    let now = db.now();
    let mut locked = Vec::new();
    for key in keys.all() {
        let policy = policy_for(key);
        if db
            .lock_if_exceeded(key, policy.lock_after, now + policy.lock_seconds)
            .await?
        {
            locked.push(key.clone());
        }
    }
    Ok(locked)
}

/// The attempt begun succeeded: the account's counter is cleared, and the address's gets its
/// attempt back (one valid account must not reset the limit for guessing others from the same
/// place, nor use it up).
pub async fn succeeded(db: &Db, keys: &Keys) -> Result<(), StoreError> {
    if let Some(ip) = &keys.ip {
        db.refund_attempt(ip).await?;
    }
    match &keys.account {
        Some(account) => db.clear_throttle(account).await,
        None => Ok(()),
    }
}

/// Lifts a lock on the account (a password reset through the mailbox proves the owner).
pub async fn unlock_account(db: &Db, email: &str) -> Result<(), StoreError> {
    if let Some(account) = &Keys::new(email, None).account {
        db.clear_throttle(account).await?;
    }
    Ok(())
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
