//! Login throttling, as pure arithmetic over a failure counter: failures are
//! counted per key (`account:<email>`, `ip:<address>`) within a window; past
//! the key's allowance each further failure blocks it for twice as long as the
//! last, up to a ceiling. A success clears the key.

use chrono::{NaiveDateTime, TimeDelta};

use crate::db::accounts::ThrottleEntry;

/// Failures counted together when they fall within this window.
pub const WINDOW: TimeDelta = TimeDelta::minutes(15);
/// First block once the allowance is used up; doubles per further failure.
pub const BASE_BLOCK: TimeDelta = TimeDelta::seconds(30);
pub const MAX_BLOCK: TimeDelta = TimeDelta::minutes(15);
/// Failures allowed per account before blocking it.
pub const ACCOUNT_ALLOWANCE: i32 = 5;
/// Failures allowed per client address (shared offices and NATs get more room).
pub const ADDRESS_ALLOWANCE: i32 = 20;

pub fn account_key(email: &str) -> String {
    format!("account:{email}")
}

pub fn address_key(address: &str) -> String {
    format!("ip:{address}")
}

/// Seconds until the key may try again, if it is blocked now.
pub fn retry_after(entry: Option<&ThrottleEntry>, now: NaiveDateTime) -> Option<u64> {
    let until = entry?.blocked_until?;
    let remaining = (until - now).num_seconds();
    (until > now).then(|| remaining.max(1) as u64)
}

/// The entry after one more failure.
pub fn record_failure(
    key: &str,
    entry: Option<ThrottleEntry>,
    allowance: i32,
    now: NaiveDateTime,
) -> ThrottleEntry {
    let (failures, window_start) = match entry {
        Some(e) if now - e.window_start < WINDOW => (e.failures + 1, e.window_start),
        _ => (1, now),
    };
    // The failure that uses up the allowance starts the block: the next attempt waits.
    let blocked_until = (failures >= allowance).then(|| {
        let doublings = (failures - allowance).clamp(0, 16) as u32;
        let block = BASE_BLOCK * 2_i32.pow(doublings);
        now + block.min(MAX_BLOCK)
    });
    ThrottleEntry {
        throttle_key: key.to_string(),
        failures,
        window_start,
        blocked_until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn blocks_after_the_allowance_and_doubles() {
        let mut entry = None;
        for i in 0..4 {
            let e = record_failure("k", entry, 5, t(i));
            assert_eq!(e.blocked_until, None, "failure {} must not block", i + 1);
            entry = Some(e);
        }
        let fifth = record_failure("k", entry, 5, t(10));
        assert_eq!(fifth.blocked_until, Some(t(10) + BASE_BLOCK));
        assert_eq!(retry_after(Some(&fifth), t(10)), Some(30));
        assert_eq!(retry_after(Some(&fifth), t(40)), None);
        let sixth = record_failure("k", Some(fifth), 5, t(41));
        assert_eq!(sixth.blocked_until, Some(t(41) + BASE_BLOCK * 2));
    }

    #[test]
    fn block_is_capped_and_window_resets() {
        let mut entry = None;
        for i in 0..40 {
            entry = Some(record_failure("k", entry, 5, t(i)));
        }
        let e = entry.unwrap();
        assert_eq!(e.blocked_until, Some(t(39) + MAX_BLOCK));
        let later = record_failure("k", Some(e), 5, t(39) + WINDOW + TimeDelta::seconds(1));
        assert_eq!(later.failures, 1);
        assert_eq!(later.blocked_until, None);
    }
}
