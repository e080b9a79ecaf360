use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::*;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}

fn sts(generation: i64, observed: i64, policy: &str, min_ready: i32) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata": {"name": "kafka", "namespace": "ns", "generation": generation},
        "spec": {"replicas": 3, "podManagementPolicy": policy, "minReadySeconds": min_ready,
                 "selector": {}, "template": {}, "serviceName": "kafka-hs"},
        "status": {"replicas": 2, "observedGeneration": observed}
    }))
    .unwrap()
}

fn pod(name: &str, ready: bool, since: i64, terminating: bool) -> Arc<Pod> {
    let mut p = json!({
        "metadata": {"name": name, "namespace": "ns"},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                                    "lastTransitionTime": t(since).to_string()}]}
    });
    if terminating {
        p["metadata"]["deletionTimestamp"] = json!(t(0).to_string());
    }
    Arc::new(serde_json::from_value(p).unwrap())
}

fn addresses(ordinals: &[u32]) -> BTreeMap<u32, String> {
    ordinals.iter().map(|o| (*o, format!("203.0.113.{o}"))).collect()
}

fn scene<'a>(s: &'a StatefulSet, pods: &'a [Arc<Pod>], admittable: &'a BTreeMap<u32, String>, now: i64) -> Scene<'a> {
    Scene { sts: s, name: "kafka", ordinals: 0..3, pods, learns_address: true, admittable, now: t(now) }
}

#[test]
fn a_broker_refused_while_the_others_run_is_missing() {
    let s = sts(4, 4, "OrderedReady", 0);
    let pods = [pod("kafka-0", true, 0, false), pod("kafka-2", true, 0, false)];
    let known = addresses(&[0, 1, 2]);
    assert_eq!(missing(&scene(&s, &pods, &known, 100)), vec![1]);
}

#[test]
fn nothing_is_missing_while_the_statefulset_controller_is_busy_or_we_hold_it_back() {
    let known = addresses(&[0, 1, 2]);
    let ready = [pod("kafka-0", true, 0, false), pod("kafka-1", true, 0, false)];
    // A spec it has not seen yet.
    assert!(missing(&scene(&sts(5, 4, "OrderedReady", 0), &ready, &known, 100)).is_empty());
    let s = sts(4, 4, "OrderedReady", 0);
    // A broker still shutting down.
    let terminating = [pod("kafka-0", true, 0, false), pod("kafka-1", true, 0, true)];
    assert!(missing(&scene(&s, &terminating, &known, 100)).is_empty());
    // OrderedReady waits for the broker before.
    let starting = [pod("kafka-0", true, 0, false), pod("kafka-1", false, 0, false)];
    assert!(missing(&scene(&s, &starting, &known, 100)).is_empty());
    // Its address is not known: the addresses-ready nudge retries it when it is.
    let partly = addresses(&[0, 1]);
    assert!(missing(&scene(&s, &ready, &partly, 100)).is_empty());
    // minReadySeconds: ready, not yet available.
    let s = sts(4, 4, "OrderedReady", 30);
    let recent = [pod("kafka-0", true, 0, false), pod("kafka-1", true, 90, false)];
    assert!(missing(&scene(&s, &recent, &known, 100)).is_empty());
    assert_eq!(missing(&scene(&s, &recent, &known, 120)), vec![2]);
}

#[test]
fn parallel_and_modes_without_learned_addresses_do_not_wait() {
    let s = sts(4, 4, "Parallel", 0);
    let starting = [pod("kafka-0", false, 0, false)];
    let known = addresses(&[0, 1, 2]);
    assert_eq!(missing(&scene(&s, &starting, &known, 100)), vec![1, 2]);
    let none = BTreeMap::new();
    let mut sc = scene(&s, &starting, &none, 100);
    assert!(missing(&sc).is_empty(), "learned addresses not known");
    sc.learns_address = false;
    assert_eq!(missing(&sc), vec![1, 2]);
    // Another StatefulSet's pod of a longer name is not one of its brokers.
    let other = [pod("kafka-x-1", true, 0, false)];
    assert_eq!(missing(&scene(&s, &other, &known, 100)), vec![0, 1, 2]);
}

#[test]
fn the_first_retry_comes_after_the_wait_then_every_interval_then_slower() {
    // Nothing missing: nothing remembered, nothing written, no requeue.
    assert_eq!(decide(vec![], Some(Stuck { since: t(0), last: None, retries: 0 }), t(100)), Retry::default());
    // First seen: remembered from now, written after FIRST.
    let r = decide(vec![1], None, t(0));
    assert_eq!((r.write, r.due), (None, Some(FIRST + Duration::from_secs(1))));
    let stuck = r.stuck.unwrap();
    assert_eq!(stuck, Stuck { since: t(0), last: None, retries: 0 });
    assert_eq!(decide(vec![1], Some(stuck), t(14)).write, None);
    let r = decide(vec![1], Some(stuck), t(15));
    assert_eq!(r.write, Some(t(15)));
    assert_eq!(r.stuck.unwrap(), Stuck { since: t(0), last: Some(t(15)), retries: 1 });
    assert_eq!(r.due, Some(EVERY + Duration::from_secs(1)));
    // The next one EVERY later, not sooner (a reconcile in between writes nothing).
    let stuck = r.stuck.unwrap();
    assert_eq!(decide(vec![1], Some(stuck), t(29)).write, None);
    assert_eq!(decide(vec![1], Some(stuck), t(30)).write, Some(t(30)));
    // Missing for SLOWER_AFTER: every SLOW.
    let late = Stuck { since: t(0), last: Some(t(300)), retries: 20 };
    assert_eq!(decide(vec![1], Some(late), t(315)).write, None);
    let r = decide(vec![1], Some(late), t(420));
    assert_eq!((r.write, r.due), (Some(t(420)), Some(SLOW + Duration::from_secs(1))));
}

#[test]
fn the_first_retry_says_what_and_why() {
    let n = first_retry_note("kafka", &[1]);
    assert!(n.starts_with("kafka-1 missing for 15 s"), "{n}");
    assert!(n.contains("create it now") && n.contains("FailedCreate"), "{n}");
    assert!(
        first_retry_note("kafka", &[1, 2]).contains("kafka-1, kafka-2")
            && first_retry_note("kafka", &[1, 2]).contains("create them")
    );
}

#[test]
fn only_the_statefulsets_own_pod_names_count_as_brokers() {
    let s = sts(4, 4, "OrderedReady", 0);
    // `kafka-01` (a leading zero) and `kafka-connect-1` are not broker 1 of `kafka`.
    let pods =
        [pod("kafka-0", true, 0, false), pod("kafka-01", true, 0, false), pod("kafka-connect-1", true, 0, false)];
    let known = addresses(&[0, 1, 2]);
    assert_eq!(missing(&scene(&s, &pods, &known, 100)), vec![1, 2]);
}
