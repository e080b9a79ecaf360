//! The create retry. A broker pod the StatefulSet controller has not made although nothing of
//! kafka-advertiser holds it back (its address is known, or its mode learns none, and the brokers
//! before it are ready): its creates were refused earlier (the webhook unreachable during an outage
//! or a roll of its own, a quota) and the StatefulSet controller's queue now decides when it tries
//! again, after a back-off that doubles from 5 ms to 1000 s. After [`FIRST`] of that, the controller
//! writes the time on the StatefulSet's metadata (`create-retry`), which makes the StatefulSet
//! controller try at once; again every [`EVERY`] while the pod is missing, every [`SLOW`] once it
//! has been missing for [`SLOWER_AFTER`]. Nothing is written while no pod is missing. Pure.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// How long a pod is missing before the first retry.
pub const FIRST: Duration = Duration::from_secs(15);
/// Between retries while it is still missing.
pub const EVERY: Duration = Duration::from_secs(15);
/// Between retries once it has been missing for [`SLOWER_AFTER`] (a quota, not an outage).
pub const SLOW: Duration = Duration::from_secs(120);
pub const SLOWER_AFTER: Duration = Duration::from_secs(300);

/// A StatefulSet with missing pods, as remembered between reconciles (per process: a new leader
/// starts the wait again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stuck {
    /// Since when its pods have been missing with nothing of ours holding them back.
    pub since: Timestamp,
    /// The last retry written, if any.
    pub last: Option<Timestamp>,
    pub retries: u32,
}

/// What the create retry decides in one reconcile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Retry {
    /// What to remember (`None`: no pod is missing; forget).
    pub stuck: Option<Stuck>,
    /// Write this time as `create-retry` now.
    pub write: Option<Timestamp>,
    /// Look again by then.
    pub due: Option<Duration>,
    /// The missing brokers.
    pub missing: Vec<u32>,
}

/// What the decision reads about the StatefulSet and its pods.
pub struct Scene<'a> {
    pub sts: &'a StatefulSet,
    pub name: &'a str,
    pub ordinals: Range<u32>,
    pub pods: &'a [Arc<Pod>],
    /// Whether the mode learns each broker's address before its pod is admitted.
    pub learns_address: bool,
    /// The brokers the webhook admits now (an address, or a `pending-timeout` that ran out).
    pub admittable: &'a BTreeMap<u32, String>,
    pub now: Timestamp,
}

/// The brokers the StatefulSet controller should have made and has not, when nothing of ours holds
/// them back; empty while it is busy (a spec it has not seen, a pod still terminating, with
/// `OrderedReady` a broker not yet available).
pub fn missing(s: &Scene) -> Vec<u32> {
    let sts = s.sts;
    let seen = sts.status.as_ref().and_then(|st| st.observed_generation);
    if seen.is_none() || seen != sts.metadata.generation {
        return Vec::new();
    }
    let spec = sts.spec.as_ref();
    let ordered = spec.and_then(|s| s.pod_management_policy.as_deref()) != Some("Parallel");
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0).max(0);
    let ours: Vec<&Pod> = s.pods.iter().map(|p| &**p).filter(|p| ordinal(p, s.name).is_some()).collect();
    if ours.iter().any(|p| p.metadata.deletion_timestamp.is_some()) {
        return Vec::new();
    }
    if ordered && !ours.iter().all(|p| available(p, min_ready, s.now)) {
        return Vec::new();
    }
    let present: Vec<u32> = ours.iter().filter_map(|p| ordinal(p, s.name)).collect();
    let gone: Vec<u32> = s.ordinals.clone().filter(|o| !present.contains(o)).collect();
    if s.learns_address && !gone.iter().all(|o| s.admittable.contains_key(o)) {
        // The address nudge (`addresses-ready`) retries them when their addresses arrive.
        return Vec::new();
    }
    gone
}

/// Whether to write a retry now, from what is missing and what was remembered.
pub fn decide(missing: Vec<u32>, remembered: Option<Stuck>, now: Timestamp) -> Retry {
    if missing.is_empty() {
        return Retry::default();
    }
    let mut stuck = remembered.unwrap_or(Stuck { since: now, last: None, retries: 0 });
    let next = match stuck.last {
        None => add(stuck.since, FIRST),
        Some(last) if elapsed(stuck.since, last) >= SLOWER_AFTER => add(last, SLOW),
        Some(last) => add(last, EVERY),
    };
    let mut write = None;
    let due = if now >= next {
        write = Some(now);
        stuck.last = Some(now);
        stuck.retries += 1;
        if elapsed(stuck.since, now) >= SLOWER_AFTER {
            SLOW
        } else {
            EVERY
        }
    } else {
        elapsed(now, next)
    };
    // A second more: the clock the next reconcile reads is past the time, not just short of it.
    Retry { stuck: Some(stuck), write, due: Some(due + Duration::from_secs(1)), missing }
}

/// The Event of an episode's first retry.
pub fn first_retry_note(name: &str, missing: &[u32]) -> String {
    let pods: Vec<String> = missing.iter().map(|o| format!("{name}-{o}")).collect();
    format!(
        "{} missing for {} s although nothing of kafka-advertiser holds {} back (addresses known, the brokers \
         before ready): asked the StatefulSet controller to create {} now, not after its back-off, and again \
         every {} s while missing (every {} s after {} min); its FailedCreate Events say why its creates failed",
        pods.join(", "),
        FIRST.as_secs(),
        if pods.len() == 1 { "it" } else { "them" },
        if pods.len() == 1 { "it" } else { "them" },
        EVERY.as_secs(),
        SLOW.as_secs(),
        SLOWER_AFTER.as_secs() / 60,
    )
}

fn ordinal(p: &Pod, name: &str) -> Option<u32> {
    crate::mutate::name_suffix(p.metadata.name.as_deref()?).filter(|(prefix, _)| *prefix == name).map(|(_, o)| o)
}

/// Ready for `min_ready` seconds (what `OrderedReady` waits for before the next broker).
fn available(p: &Pod, min_ready: i32, now: Timestamp) -> bool {
    super::drift::ready_condition(p).is_some_and(|c| {
        min_ready == 0
            || c.last_transition_time
                .as_ref()
                .is_some_and(|t| elapsed(t.0, now) >= Duration::from_secs(u64::try_from(min_ready).unwrap_or(0)))
    })
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)).unwrap_or(Timestamp::MAX)
}

/// From `a` to `b`, zero when `b` is earlier.
fn elapsed(a: Timestamp, b: Timestamp) -> Duration {
    Duration::try_from(b.duration_since(a)).unwrap_or_default()
}

#[cfg(test)]
mod tests;
