//! `pending-timeout` in the plan: the record of since when each broker has waited, the nudge when a
//! broker's wait ends, and the broker admitted without its address restarted once it has one.

use super::*;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

const T0: &str = "2026-12-06T05:00:00Z";

fn at(o: &mut Observed, secs: i64) {
    o.now = T0.parse::<Timestamp>().unwrap().checked_add(SignedDuration::from_secs(secs)).unwrap();
}

fn sts_annotation(p: &Plan, key: &str) -> Option<String> {
    let a = p.apply.iter().find(|a| a.kind == Kind::StatefulSet)?;
    a.body["metadata"]["annotations"][key].as_str().map(str::to_owned)
}

#[test]
fn the_wait_is_recorded_once_and_its_end_nudges_the_statefulset() {
    let timeout = json!({"kafka-advertiser.io/pending-timeout": "90s"});
    let mut o = observed(sts(2, timeout));
    at(&mut o, 0);
    let p = run(&o);
    let since = sts_annotation(&p, ANN_PENDING_SINCE).expect("pending-since recorded");
    assert_eq!(since, format!(r#"{{"0":"{T0}","1":"{T0}"}}"#));
    assert_eq!(sts_annotation(&p, ANN_ADDRESSES_READY), None, "nothing admittable yet");
    assert_eq!(p.requeue, Some(SOON));

    // Later reconciles keep the first time; close to the end, the next look is due at the end.
    let mut o = converge(&o, &p);
    at(&mut o, 75);
    let p = run(&o);
    assert!(sts_annotation(&p, ANN_PENDING_SINCE).is_none(), "{:?}", kinds(&p));
    assert_eq!(p.requeue, Some(Duration::from_secs(16)));

    // The wait is over: the StatefulSet is nudged (the hash changes), then nothing more is written.
    at(&mut o, 90);
    let p = run(&o);
    let nudge = sts_annotation(&p, ANN_ADDRESSES_READY).expect("a nudge");
    let mut o = converge(&o, &p);
    assert!(kinds(&run(&o)).is_empty());

    // Broker 0's address arrives: its record goes, and the hash changes again.
    with_ingress(&mut o, 0, "203.0.113.10");
    let p = run(&o);
    assert_eq!(sts_annotation(&p, ANN_PENDING_SINCE).unwrap(), format!(r#"{{"1":"{T0}"}}"#));
    assert_ne!(sts_annotation(&p, ANN_ADDRESSES_READY).unwrap(), nudge);
    // Both arrive: no record left.
    let mut o = converge(&o, &p);
    with_ingress(&mut o, 1, "203.0.113.11");
    let p = run(&o);
    let body = &p.apply.iter().find(|a| a.kind == Kind::StatefulSet).unwrap().body;
    assert!(body["metadata"]["annotations"].get(ANN_PENDING_SINCE).is_none(), "{body}");
}

#[test]
fn without_a_timeout_nothing_is_recorded() {
    let p = run(&observed(sts(2, json!({}))));
    assert!(sts_annotation(&p, ANN_PENDING_SINCE).is_none());
    let p = run(&observed(sts(
        2,
        json!({"kafka-advertiser.io/mode": "nodeport",
        "kafka-advertiser.io/pending-timeout": "0s"}),
    )));
    assert!(sts_annotation(&p, ANN_PENDING_SINCE).is_none(), "nodeport learns no address");
}

fn broker(ordinal: u32, advertised: &str, ready: bool) -> Arc<Pod> {
    let mut pod = crate::controller::tests::running_broker(ordinal, advertised, ready);
    pod.metadata.annotations.as_mut().unwrap().remove("kafka-advertiser.io/roll-on-change");
    Arc::new(pod)
}

const INTERNAL_0: &str = "INTERNAL://kafka-0.kafka-headless.streaming.svc.cluster.local:9092";

/// Admitted without its address: a Warning while it lasts; once the address is there, it is
/// restarted without roll-on-change, only while the other brokers are Ready, one at a time.
#[test]
fn a_broker_admitted_without_its_address_is_restarted_once_it_has_one() {
    let book = ClusterView::new();
    book.mark_synced();
    let mut o = observed(sts(2, json!({"kafka-advertiser.io/pending-timeout": "0s"})));
    o.pods =
        vec![broker(0, INTERNAL_0, true), broker(1, &crate::controller::tests::advertised(1, "203.0.113.11"), true)];
    book.set("streaming", "kafka", 0, None);
    book.set("streaming", "kafka", 1, Some("203.0.113.11"));
    let p = plan_in(&o, &Defaults::default(), &book);
    let objects = &p.problems.iter().find(|(k, _)| *k == ProblemSet::Objects).unwrap().1;
    let w = objects.iter().find(|n| n.reason == "AdmittedWithoutExternalAddress").expect("a Warning");
    assert!(w.note.contains("kafka-0") && w.note.contains(INTERNAL_0), "{}", w.note);
    assert_eq!((p.status.internal_only, p.status.drifted), (1, 0));
    assert!(p.evict.is_none());

    book.set("streaming", "kafka", 0, Some("203.0.113.10"));
    o.pods[1] = broker(1, &crate::controller::tests::advertised(1, "203.0.113.11"), false);
    assert!(plan_in(&o, &Defaults::default(), &book).evict.is_none(), "another broker is not Ready");
    o.pods[1] = broker(1, &crate::controller::tests::advertised(1, "203.0.113.11"), true);
    let p = plan_in(&o, &Defaults::default(), &book);
    assert_eq!(p.evict.as_ref().map(|e| e.pod.as_str()), Some("kafka-0"));
    o.recently_evicted = true;
    assert!(plan_in(&o, &Defaults::default(), &book).evict.is_none(), "one at a time");
}
