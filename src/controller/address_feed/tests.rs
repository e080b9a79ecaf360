//! The address feed: which ingress entry a Service gives, and the view surviving a dropped watch.

use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};

use crate::controller::tests::*;
use crate::mutate::ClusterView;

/// The API answers one list, then fails every request (watch dropped, API gone): the webhook's view
/// keeps the last known addresses.
#[tokio::test]
async fn address_view_survives_a_dropped_watch() {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let served = Arc::new(Mutex::new(Vec::<String>::new()));
    let rec = served.clone();
    let api_task = tokio::spawn(async move {
        let mut first = true;
        while let Some((req, send)) = handle.next_request().await {
            rec.lock().unwrap().push(req.uri().to_string());
            let (code, body) = if first {
                first = false;
                let mut svc = managed_service(0, Some("203.0.113.10"));
                svc["metadata"]["namespace"] = json!("streaming");
                (
                    200,
                    json!({"apiVersion": "v1", "kind": "ServiceList", "metadata": {"resourceVersion": "7"}, "items": [svc]}),
                )
            } else {
                (
                    500,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500, "message": "etcd down"}),
                )
            };
            send.send_response(
                Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap(),
            );
        }
    });
    let book = ClusterView::new();
    // Another namespace scope's entry (`--namespace streaming,elsewhere` shares one book).
    book.set("elsewhere", "kafka", 0, Some("198.51.100.1"));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let api: kube::Api<k8s_openapi::api::core::v1::Service> = kube::Api::namespaced(client, "streaming");
    let task = tokio::spawn(super::run(api, Some("streaming".into()), book.clone(), tx, stop.clone()));
    tokio::time::timeout(std::time::Duration::from_secs(5), rx).await.expect("synced after the first list").unwrap();
    use crate::mutate::{ClusterLookup, Expect, Lookup};
    let ours = Expect { service: "kafka-0-external", owner: Some("sts-uid"), gateway: false };
    let held = || book.lookup_for("streaming", "kafka", 0, &ours);
    assert_eq!(held(), Lookup::Address("203.0.113.10".into()));
    assert_eq!(
        book.address("elsewhere", "kafka", 0).as_deref(),
        Some("198.51.100.1"),
        "one scope's list must not wipe another scope's addresses"
    );
    // Let the watch fail and be retried a few times.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while served.lock().unwrap().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "watcher did not retry: {:?}", served.lock().unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(held(), Lookup::Address("203.0.113.10".into()), "last known view kept");
    stop.cancel();
    task.await.unwrap();
    api_task.abort();
}

/// The Service says which ingress entry to advertise (the controller copies the StatefulSet's
/// address-type and ip-family onto it).
#[test]
fn the_ingress_entry_follows_the_services_address_choice() {
    use super::ingress_address;
    let svc = |ann: Value| -> k8s_openapi::api::core::v1::Service {
        serde_json::from_value(
            json!({"metadata": {"name": "s", "annotations": ann}, "status": {"loadBalancer": {"ingress": [
                {"hostname": "a1b2.elb.example.com"},
                {"ip": "2001:db8::10"},
                {"ip": "203.0.113.10", "hostname": "lb.example.net"}
            ]}}}),
        )
        .unwrap()
    };
    assert_eq!(ingress_address(&svc(json!({}))), Some("a1b2.elb.example.com"), "first entry by default");
    assert_eq!(ingress_address(&svc(json!({"kafka-advertiser.io/address-type": "ip"}))), Some("2001:db8::10"));
    assert_eq!(
        ingress_address(&svc(json!({"kafka-advertiser.io/address-type": "hostname"}))),
        Some("a1b2.elb.example.com")
    );
    assert_eq!(ingress_address(&svc(json!({"kafka-advertiser.io/ip-family": "IPv4"}))), Some("203.0.113.10"));
    assert_eq!(ingress_address(&svc(json!({"kafka-advertiser.io/ip-family": "IPv6"}))), Some("2001:db8::10"));
    let only_v4: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({"metadata": {"name": "s",
        "annotations": {"kafka-advertiser.io/ip-family": "IPv6"}},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}}))
    .unwrap();
    assert_eq!(ingress_address(&only_v4), None, "no address of that family yet: the broker waits");
}

/// `gateway-address` counts on gateway-tcp's ClusterIP Services only: on a load balancer's Service
/// someone who may patch Services could otherwise send every client to a host of their choice.
#[test]
fn a_gateway_address_annotation_on_a_load_balancer_service_is_ignored() {
    use super::ingress_address;
    let svc = |type_: &str| -> k8s_openapi::api::core::v1::Service {
        serde_json::from_value(json!({
            "metadata": {"name": "s", "annotations": {"kafka-advertiser.io/gateway-address": "evil.example.com"}},
            "spec": {"type": type_},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}}))
        .unwrap()
    };
    assert_eq!(ingress_address(&svc("LoadBalancer")), Some("203.0.113.10"));
    assert_eq!(ingress_address(&svc("ClusterIP")), Some("evil.example.com"), "gateway-tcp's Service");
}
