//! The status report from fixtures: healthy, waiting, drifting, not opted in, resolved warnings, classed.

use super::*;
use crate::mutate::NoAddresses;
use crate::status::view::render;
use crate::testing::StatefulSetFixture;
use serde_json::{json, Value};

fn sts(replicas: i32) -> StatefulSet {
    StatefulSetFixture::new("orders", "shop")
        .uid("u1")
        .replicas(replicas)
        .container(json!({"name": "kafka", "image": "apache/kafka:4.1.1",
            "env": [{"name": "KAFKA_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9094"}]}))
        .build()
}

fn service(o: u32, ip: Option<&str>) -> Service {
    let mut v = json!({"metadata": {"name": format!("orders-{o}-external"), "namespace": "shop", "labels": {
        "app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/statefulset": "orders",
        "kafka-advertiser.io/role": "broker", "kafka-advertiser.io/ordinal": o.to_string()},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "orders", "uid": "u1", "controller": true}]},
        "spec": {"type": "LoadBalancer"}});
    if let Some(ip) = ip {
        v["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
    }
    serde_json::from_value(v).unwrap()
}

fn pod(o: u32, advertised: Option<&str>) -> Pod {
    let mut p: Value = serde_json::to_value(crate::controller::template_check::pod_for(&sts(3), o)).unwrap();
    p["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "orders", "uid": "u1", "controller": true}]);
    if let Some(a) = advertised {
        p["metadata"]["annotations"] = json!({"kafka-advertiser.io/advertised": a});
    }
    p["status"] = json!({"phase": "Running"});
    p["spec"]["nodeName"] = json!("node-1");
    serde_json::from_value(p).unwrap()
}

fn adv(o: u32, ip: &str) -> String {
    format!("INTERNAL://orders-{o}.orders-hs.shop.svc.cluster.local:9092,EXTERNAL://{ip}:9094")
}

#[test]
fn every_broker_ok_is_healthy_with_a_bootstrap() {
    let svcs = [service(0, Some("203.0.113.10")), service(1, Some("203.0.113.11"))];
    let pods = [pod(0, Some(&adv(0, "203.0.113.10"))), pod(1, Some(&adv(1, "203.0.113.11")))];
    let r = report(&sts(2), &svcs, &pods, &[], &Defaults::default(), &NoAddresses);
    assert!(r.healthy(), "{r:?}");
    assert_eq!(r.bootstrap.as_deref(), Some("203.0.113.10:9094,203.0.113.11:9094"));
    assert_eq!(r.brokers[1].pod.as_deref(), Some("orders-1 (Running, node-1)"));
    assert_eq!(r.brokers[1].service.as_deref(), Some("orders-1-external LoadBalancer"));
    assert_eq!(r.cost.as_deref().map(|c| c.starts_with("2 load balancers, 2 node ports")), Some(true), "{r:?}");
    // A Service taken over with its maker's consent says so.
    let mut adopted = service(0, Some("203.0.113.10"));
    adopted.metadata.annotations = Some([("kafka-advertiser.io/adopt".to_owned(), "orders".to_owned())].into());
    let r = report(&sts(2), &[adopted, svcs[1].clone()], &pods, &[], &Defaults::default(), &NoAddresses);
    assert_eq!(r.brokers[0].service.as_deref(), Some("orders-0-external LoadBalancer (adopted)"));
    let text = render(&r);
    assert!(
        text.contains("broker 1  ok") && text.contains("bootstrap   203.0.113.10:9094,203.0.113.11:9094"),
        "{text}"
    );
}

#[test]
fn waiting_drifting_and_missing_brokers_are_unhealthy() {
    let svcs = [service(0, Some("203.0.113.99")), service(1, None)];
    let pods = [pod(0, Some(&adv(0, "203.0.113.10")))];
    let warn: Event = serde_json::from_value(json!({"metadata": {"name": "e1"}, "type": "Warning",
        "reason": "ServiceApplyFailed", "note": "quota exceeded", "eventTime": "2026-11-25T01:00:00.000000Z"}))
    .unwrap();
    let normal: Event = serde_json::from_value(json!({"metadata": {"name": "e2"}, "type": "Normal",
        "reason": "ServiceCreated", "note": "created", "eventTime": "2026-11-25T02:00:00.000000Z"}))
    .unwrap();
    let r = report(&sts(3), &svcs, &pods, &[normal, warn], &Defaults::default(), &NoAddresses);
    assert!(!r.healthy());
    assert_eq!(r.brokers[0].state, State::Drift { now: adv(0, "203.0.113.99") });
    assert!(matches!(&r.brokers[1].state, State::Waiting(w) if w.contains("orders-1-external")), "{:?}", r.brokers[1]);
    assert!(matches!(&r.brokers[2].state, State::Waiting(w) if w.contains("does not exist yet")), "{:?}", r.brokers[2]);
    assert_eq!(r.warnings, ["ServiceApplyFailed: quota exceeded"]);
    assert_eq!(r.bootstrap, None);
    let text = render(&r);
    assert!(text.contains("DRIFT: would now advertise") && text.contains("WAITING:"), "{text}");
}

#[test]
fn a_statefulset_that_did_not_opt_in_says_so() {
    let mut s = sts(1);
    s.spec.as_mut().unwrap().template.metadata.as_mut().unwrap().labels.as_mut().unwrap().clear();
    let r = report(&s, &[], &[], &[], &Defaults::default(), &NoAddresses);
    assert!(!r.healthy());
    assert!(render(&r).contains("not opted in"));
    assert_eq!(r.hint, None, "no sign of meaning to opt in");
    // The label with another value, or on the StatefulSet's own metadata: a hint says what is wrong.
    let mut yes = sts(1);
    let labels = yes.spec.as_mut().unwrap().template.metadata.as_mut().unwrap().labels.as_mut().unwrap();
    labels.insert("kafka-advertiser.io/enabled".into(), "yes".into());
    let text = render(&report(&yes, &[], &[], &[], &Defaults::default(), &NoAddresses));
    assert!(text.contains("hint: the pod template's label kafka-advertiser.io/enabled is \"yes\""), "{text}");
    s.metadata.labels = Some([("kafka-advertiser.io/enabled".to_owned(), "true".to_owned())].into());
    let text = render(&report(&s, &[], &[], &[], &Defaults::default(), &NoAddresses));
    assert!(text.contains("on the StatefulSet's own metadata"), "{text}");
}

#[test]
fn a_refused_create_that_a_later_create_resolved_is_not_a_current_warning() {
    let svcs = [service(0, Some("203.0.113.10"))];
    let mut p0 = pod(0, Some(&adv(0, "203.0.113.10")));
    p0.metadata.creation_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-11-25T01:05:00Z".parse().unwrap()));
    let failed = |pod: &str, at: &str| -> Event {
        serde_json::from_value(json!({"metadata": {"name": format!("f-{pod}")}, "type": "Warning", "reason": "FailedCreate",
            "note": format!("Create Pod {pod} in StatefulSet orders failed error: ... has no status.loadBalancer.ingress yet"),
            "eventTime": at}))
        .unwrap()
    };
    let events = [failed("orders-0", "2026-11-25T01:00:00.000000Z"), failed("orders-1", "2026-11-25T01:00:00.000000Z")];
    let r = report(&sts(2), &svcs, &[p0], &events, &Defaults::default(), &NoAddresses);
    assert_eq!(r.resolved, 1, "orders-0 was created after its refusal");
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("Create Pod orders-1"), "{:?}", r.warnings);
    assert!(render(&r).contains("1 earlier warning(s) resolved"));
}

/// A StatefulSet whose access class sets the mode is reported in that mode, with drift judged under
/// the class (the controller's reading), not as unclassed settings or a class that "does not exist".
#[test]
fn a_classed_statefulset_is_reported_as_its_class_makes_it() {
    let class = crate::spec::class::Class::from_value(&json!({"metadata": {"name": "public"},
        "spec": {"settings": {"mode": "hostname", "hostname-template": "{pod}.kafka.example.com"}}}))
    .unwrap();
    let platform = crate::status::Platform {
        classes: Some(std::sync::Arc::new(crate::spec::class::Classes {
            tenancy: crate::spec::class::Tenancy::Open,
            classes: vec![std::sync::Arc::new(class)],
        })),
        ..Default::default()
    };
    let mut s = sts(1);
    let template = s.spec.as_mut().unwrap().template.metadata.as_mut().unwrap();
    template.annotations = Some([("kafka-advertiser.io/class".to_owned(), "public".to_owned())].into());
    let mut p = pod(0, Some(&adv(0, "orders-0.kafka.example.com")));
    p.metadata.annotations.as_mut().unwrap().insert("kafka-advertiser.io/class".into(), "public".into());
    let pods = [p];
    let r = report(&s, &[], &pods, &[], &Defaults::default(), &platform);
    assert_eq!(r.mode, Some(Mode::Hostname), "{r:?}");
    assert_eq!(r.brokers[0].state, State::Ok, "{r:?}");
    assert_eq!(r.bootstrap.as_deref(), Some("orders-0.kafka.example.com:9094"));
    // Without the classes (the old reading) the same StatefulSet was a class that does not exist.
    let unclassed = report(&s, &[], &pods, &[], &Defaults::default(), &NoAddresses);
    assert!(matches!(&unclassed.brokers[0].state, State::Waiting(w) if w.contains("public")), "{unclassed:?}");
}

/// A broker admitted without its address (`pending-timeout`) is shown as internal-only, not Ok;
/// once its address is there, as drifting until it is restarted.
#[test]
fn a_broker_admitted_without_its_address_is_internal_only() {
    let timeout = json!({"kafka-advertiser.io/pending-timeout": "0s"});
    let s = StatefulSetFixture::new("orders", "shop")
        .uid("u1")
        .replicas(1)
        .annotations(timeout.clone())
        .container(json!({"name": "kafka", "image": "apache/kafka:4.1.1",
            "env": [{"name": "KAFKA_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9094"}]}))
        .build();
    let internal = "INTERNAL://orders-0.orders-hs.shop.svc.cluster.local:9092";
    let mut p = pod(0, Some(internal));
    p.metadata.annotations.as_mut().unwrap().insert("kafka-advertiser.io/pending-timeout".into(), "0s".into());
    let r = report(&s, &[service(0, None)], std::slice::from_ref(&p), &[], &Defaults::default(), &NoAddresses);
    assert_eq!(r.brokers[0].state, State::InternalOnly, "{:?}", r.brokers[0]);
    assert!(!r.healthy());
    assert_eq!(crate::status::view::state(&r), "InternalOnly(1)");
    assert!(render(&r).contains("internal-only: admitted without its external address"), "{}", render(&r));
    let r = report(&s, &[service(0, Some("203.0.113.10"))], &[p], &[], &Defaults::default(), &NoAddresses);
    assert_eq!(r.brokers[0].state, State::Drift { now: adv(0, "203.0.113.10") });
}

/// The StatefulSet controller's `FailedCreate` note as each Kubernetes release writes it
/// (pkg/controller/statefulset/stateful_pod_control.go, `recordPodEvent`): 1.35 title-cases the verb
/// (`cases.Title`), earlier releases lower-cased it (`strings.ToLower`).
#[test]
fn failed_create_notes_of_every_release_name_their_pod() {
    let err = "admission webhook \"pods.kafka-advertiser.io\" denied the request: waiting for the external address";
    let v1_35 = format!("Create Pod orders-1 in StatefulSet orders failed error: {err}");
    let before = format!("create Pod orders-1 in StatefulSet orders failed error: {err}");
    assert_eq!(super::failed_create_pod(&v1_35), Some("orders-1"));
    assert_eq!(super::failed_create_pod(&before), Some("orders-1"));
    assert_eq!(super::failed_create_pod("delete Pod x in StatefulSet y successful"), None);
    // Resolved alike: a pod created after the refusal.
    let mut p1 = pod(1, Some(&adv(1, "203.0.113.11")));
    p1.metadata.creation_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-11-25T01:05:00Z".parse().unwrap()));
    for note in [v1_35, before] {
        let e: Event = serde_json::from_value(json!({"metadata": {"name": "f"}, "type": "Warning",
            "reason": "FailedCreate", "note": note, "eventTime": "2026-11-25T01:00:00.000000Z"}))
        .unwrap();
        let svcs = [service(0, Some("203.0.113.10")), service(1, Some("203.0.113.11"))];
        let r = report(&sts(2), &svcs, &[p1.clone()], &[e], &Defaults::default(), &NoAddresses);
        assert_eq!(r.resolved, 1, "{note}");
    }
}
