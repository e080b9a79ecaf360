//! `pending-timeout`: how long a broker waits for its external address. The controller records since
//! when each broker has waited (`pending-since` on the StatefulSet); the webhook reads that record
//! and, once the timeout has passed, admits the broker with only its internal listener advertised.
//! One reading of the record and of the clock for both roles.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Since when each broker has waited, by ordinal.
pub type Since = BTreeMap<u32, Timestamp>;

/// Read a `pending-since` value, keeping only ordinals `start..start + cap` (the brokers that may
/// exist): what a StatefulSet's metadata can hold is bounded by its broker cap, not by its size.
/// An entry that cannot be read is skipped: that broker waits as if nothing were recorded.
pub fn parse_since(value: &str, start: u32, cap: u32) -> Since {
    let Ok(map) = serde_json::from_str::<BTreeMap<String, String>>(value) else { return Since::new() };
    let end = start.saturating_add(cap);
    map.iter()
        .filter_map(|(o, t)| Some((o.parse::<u32>().ok()?, t.parse::<Timestamp>().ok()?)))
        .filter(|(o, _)| (start..end).contains(o))
        .collect()
}

/// The `pending-since` value: `{"0":"2026-12-06T05:00:00Z"}`, in ordinal order (whole seconds).
pub fn render_since(since: &Since) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        since.iter().map(|(o, t)| (o.to_string(), serde_json::Value::String(whole_seconds(*t).to_string()))).collect();
    serde_json::Value::Object(map).to_string()
}

/// A time without its fraction of a second (what the record holds).
pub fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// When a broker that has waited since `since` stops waiting.
pub fn deadline(since: Timestamp, timeout: Duration) -> Timestamp {
    let timeout = SignedDuration::try_from(timeout).unwrap_or(SignedDuration::MAX);
    since.checked_add(timeout).unwrap_or(Timestamp::MAX)
}

/// Whether a broker that has waited since `since` (none recorded: not yet) may stop waiting at `now`.
/// `0s` never waits, with or without a record.
pub fn expired(timeout: Option<Duration>, since: Option<Timestamp>, now: Timestamp) -> bool {
    match (timeout, since) {
        (None, _) => false,
        (Some(t), _) if t.is_zero() => true,
        (Some(_), None) => false,
        (Some(t), Some(s)) => deadline(s, t) <= now,
    }
}

/// Whether an `advertised` value (what the webhook gave a broker) lacks the external listener: the
/// broker was admitted while its address was pending.
pub fn internal_only(advertised: &str, listener: &str) -> bool {
    !advertised
        .split(',')
        .any(|e| e.trim().split_once("://").is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(listener)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_record_round_trips_within_the_cap() {
        let since = Since::from([(0, t("2026-12-06T05:00:00.75Z")), (2, t("2026-12-06T05:01:00Z"))]);
        let v = render_since(&since);
        assert_eq!(v, r#"{"0":"2026-12-06T05:00:00Z","2":"2026-12-06T05:01:00Z"}"#);
        assert_eq!(parse_since(&v, 0, 3).len(), 2);
        assert_eq!(parse_since(&v, 0, 2).keys().copied().collect::<Vec<_>>(), vec![0]);
        assert_eq!(parse_since(&v, 1, 256).keys().copied().collect::<Vec<_>>(), vec![2]);
        assert!(parse_since(r#"{"x":"now","1":"later","4294967296":"2026-12-06T05:00:00Z"}"#, 0, 9).is_empty());
        assert!(parse_since("[not a map", 0, 9).is_empty());
    }

    #[test]
    fn expiry_follows_the_timeout_and_the_record() {
        let since = t("2026-12-06T05:00:00Z");
        let m = Duration::from_secs(60);
        assert!(!expired(None, Some(since), Timestamp::MAX));
        assert!(expired(Some(Duration::ZERO), None, since));
        assert!(!expired(Some(m), None, Timestamp::MAX));
        assert!(!expired(Some(m), Some(since), t("2026-12-06T05:00:59Z")));
        assert!(expired(Some(m), Some(since), t("2026-12-06T05:01:00Z")));
        assert_eq!(deadline(Timestamp::MAX, m), Timestamp::MAX);
    }

    #[test]
    fn internal_only_is_told_by_the_external_entry() {
        assert!(internal_only("INTERNAL://kafka-0.kafka.ns.svc.cluster.local:9092", "EXTERNAL"));
        assert!(!internal_only("INTERNAL://k:9092,external://203.0.113.10:9094", "EXTERNAL"));
        assert!(internal_only("", "EXTERNAL"));
    }
}
