//! The create retry in the plan: a broker missing although its address is known and the broker
//! before it is ready gets `create-retry` written after 15 s (with one Event), again 15 s later, and
//! nothing once it exists.

use super::*;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

const T0: &str = "2026-12-06T05:00:00Z";

fn at(o: &mut Observed, secs: i64) {
    o.now = T0.parse::<Timestamp>().unwrap().checked_add(SignedDuration::from_secs(secs)).unwrap();
}

fn retry_written(p: &Plan) -> Option<&Apply> {
    p.apply
        .iter()
        .find(|a| a.kind == Kind::StatefulSet && a.body["metadata"]["annotations"][ANN_CREATE_RETRY].is_string())
}

/// Two brokers with their addresses; the StatefulSet controller has seen the spec; broker 0 runs
/// and is ready, broker 1 does not exist.
fn one_missing() -> Observed {
    let mut s = sts(2, json!({}));
    s.metadata.generation = Some(3);
    s.status = Some(serde_json::from_value(json!({"replicas": 1, "observedGeneration": 3})).unwrap());
    let o = observed(s);
    let p = run(&o);
    let mut o = converge(&o, &p);
    with_ingress(&mut o, 0, "203.0.113.10");
    with_ingress(&mut o, 1, "203.0.113.11");
    let p = run(&o);
    let mut o = converge(&o, &p);
    let mut ready = (*pod(0)).clone();
    ready.status.get_or_insert_default().conditions = Some(vec![serde_json::from_value(
        json!({"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-06T04:00:00Z"}),
    )
    .unwrap()]);
    o.pods = vec![Arc::new(ready)];
    o
}

#[test]
fn a_missing_broker_is_retried_after_the_wait_once_per_interval() {
    let mut o = one_missing();
    at(&mut o, 0);
    let p = run(&o);
    assert!(retry_written(&p).is_none(), "not at once: {:?}", kinds(&p));
    assert_eq!(p.requeue, Some(crate::controller::plan::retry::FIRST + Duration::from_secs(1)));
    let stuck = p.status.stuck.expect("remembered");
    o.stuck = Some(stuck);

    at(&mut o, 15);
    let p = run(&o);
    let a = retry_written(&p).expect("a retry after 15 s");
    assert_eq!(a.body["metadata"]["annotations"][ANN_CREATE_RETRY], "2026-12-06T05:00:15Z");
    assert!(a.body.get("spec").is_none(), "the pod template is not touched");
    let ev = a.done.as_ref().expect("the first retry is an Event");
    assert_eq!(ev.reason, "PodCreateRetried");
    assert!(ev.note.starts_with("kafka-1 missing"), "{}", ev.note);
    let mut o = converge(&o, &p);
    o.stuck = p.status.stuck;

    // In between: nothing written. The next one, without an Event.
    at(&mut o, 20);
    assert!(kinds(&run(&o)).is_empty());
    at(&mut o, 30);
    let p = run(&o);
    let a = retry_written(&p).expect("the second retry");
    assert!(a.done.is_none());

    // The broker exists: nothing written, nothing remembered.
    let mut o = converge(&o, &p);
    o.stuck = p.status.stuck;
    o.pods.push(pod(1));
    at(&mut o, 60);
    let p = run(&o);
    assert!(kinds(&p).is_empty(), "{:?}", kinds(&p));
    assert_eq!(p.status.stuck, None);
}

#[test]
fn brokers_the_webhook_refuses_for_their_settings_are_not_retried() {
    let mut o = one_missing();
    let mut s = (*o.sts).clone();
    let template = s.spec.as_mut().unwrap().template.metadata.get_or_insert_default();
    template.annotations.get_or_insert_default().insert("kafka-advertiser.io/container".into(), "nope".into());
    o.sts = Arc::new(s);
    at(&mut o, 0);
    let p = run(&o);
    let template_notes = &p.problems.iter().find(|(set, _)| *set == ProblemSet::Template).unwrap().1;
    assert!(template_notes.iter().any(|n| n.reason == "InvalidSettings"), "{template_notes:?}");
    assert_eq!(p.status.stuck, None);
    o.stuck = Some(crate::controller::plan::retry::Stuck { since: o.now, last: None, retries: 0 });
    at(&mut o, 60);
    assert!(retry_written(&run(&o)).is_none());
}
