//! The address view end to end inside the process: a managed Service's status as the controller's
//! watch sees it, and the webhook's answer for the broker it fronts.

use k8s_openapi::api::core::v1::Service;
use kafka_advertiser::admission::review::review;
use kafka_advertiser::controller::address_feed::apply;
use kafka_advertiser::metrics::AdmissionResult;
use kafka_advertiser::mutate::{ClusterView, Defaults};
use serde_json::{json, Value};

fn service(ingress: Value) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kafka-0-external", "namespace": "streaming", "labels": {
            "app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/statefulset": "kafka",
            "kafka-advertiser.io/ordinal": "0", "kafka-advertiser.io/role": "broker"},
            // The fixture pod's StatefulSet: only its own Service gives the broker an address.
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "kafka",
                "uid": "227ac407-cba4-56cd-b567-4327bc8817cf", "controller": true}]},
        "spec": {"type": "LoadBalancer"},
        "status": {"loadBalancer": {"ingress": ingress}}
    }))
    .unwrap()
}

fn decide(book: &ClusterView) -> (AdmissionResult, String) {
    let body =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kafka-0-kraft-bitnami-loadbalancer.json"))
            .unwrap();
    let d = review(&body, &Defaults::default(), book).unwrap();
    let v: Value = serde_json::from_slice(&d.body).unwrap();
    let text = match v.pointer("/response/patch").and_then(Value::as_str) {
        Some(p) => {
            use base64::Engine;
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(p).unwrap()).unwrap()
        }
        None => v.pointer("/response/status/message").and_then(Value::as_str).unwrap_or("").to_owned(),
    };
    (d.outcome, text)
}

#[test]
fn service_status_changes_reach_the_webhook() {
    let book = ClusterView::new();
    book.mark_synced();

    // No ingress yet: denied, naming the Service.
    assert!(!apply(&book, &service(json!([])), false));
    let (o, msg) = decide(&book);
    assert_eq!(o, AdmissionResult::Denied);
    assert!(msg.contains("streaming/kafka-0-external") && !msg.contains("standalone"), "{msg}");

    // An IP.
    assert!(apply(&book, &service(json!([{"ip": "203.0.113.10"}])), false));
    let (o, patch) = decide(&book);
    assert_eq!(o, AdmissionResult::Patched);
    assert!(patch.contains("EXTERNAL://203.0.113.10:9094"), "{patch}");

    // A hostname (cloud LBs that hand out names).
    assert!(apply(&book, &service(json!([{"hostname": "a1b2.elb.example.com"}])), false));
    assert!(decide(&book).1.contains("EXTERNAL://a1b2.elb.example.com:9094"));

    // Another Service with the broker's labels, a forged owner reference and another name: the
    // broker keeps its own Service's address.
    let mut forged = service(json!([{"ip": "192.0.2.66"}]));
    forged.metadata.name = Some("kafka-0-external-forged".into());
    apply(&book, &forged, false);
    assert!(decide(&book).1.contains("EXTERNAL://a1b2.elb.example.com:9094"));

    // Removed: denied again.
    assert!(apply(&book, &service(json!([{"hostname": "a1b2.elb.example.com"}])), true));
    assert_eq!(decide(&book).0, AdmissionResult::Denied);
}

#[test]
fn services_we_do_not_manage_are_ignored() {
    let book = ClusterView::new();
    let mut svc = service(json!([{"ip": "203.0.113.10"}]));
    svc.metadata.labels.as_mut().unwrap().remove("app.kubernetes.io/managed-by");
    assert!(!apply(&book, &svc, false));
    let mut boot = service(json!([{"ip": "203.0.113.10"}]));
    boot.metadata.labels.as_mut().unwrap().insert("kafka-advertiser.io/role".into(), "bootstrap".into());
    assert!(!apply(&book, &boot, false));
    assert!(book.is_empty());
}
