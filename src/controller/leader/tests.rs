//! Leadership: the Lease held only while the API confirms it, and no bulk reconcile on a repeat.

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::metrics::Metrics;

/// A Lease API (get, create, strategic/apply patch) that can be switched to answer 503 to everything.
fn lease_api(down: Arc<std::sync::atomic::AtomicBool>) -> Client {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        let mut lease: Option<Value> = None;
        while let Some((req, send)) = handle.next_request().await {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let not_found = json!({"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404});
            let (code, resp) = if down.load(std::sync::atomic::Ordering::SeqCst) {
                (503, json!({"kind": "Status", "status": "Failure", "code": 503, "message": "unavailable"}))
            } else {
                match parts.method {
                    Method::GET => lease.clone().map_or((404, not_found), |l| (200, l)),
                    Method::POST => {
                        let mut l = body.clone();
                        l["apiVersion"] = json!("coordination.k8s.io/v1");
                        l["kind"] = json!("Lease");
                        l["metadata"]["namespace"] = json!("kafka-advertiser");
                        l["metadata"]["resourceVersion"] = json!("1");
                        lease = Some(l.clone());
                        (201, l)
                    }
                    Method::PATCH => match lease.as_mut() {
                        None => (404, not_found),
                        Some(l) => {
                            if !l["spec"].is_object() {
                                l["spec"] = json!({});
                            }
                            for (k, v) in body["spec"].as_object().into_iter().flatten() {
                                if v.is_null() {
                                    l["spec"].as_object_mut().unwrap().remove(k);
                                } else {
                                    l["spec"][k] = v.clone();
                                }
                            }
                            (200, l.clone())
                        }
                    },
                    _ => (500, json!({"kind": "Status", "code": 500, "message": "unexpected request"})),
                }
            };
            let resp = Response::builder()
                .status(StatusCode::from_u16(code).unwrap())
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&resp).unwrap()))
                .unwrap();
            send.send_response(resp);
        }
    });
    Client::new(svc, "kafka-advertiser")
}

async fn wait_leader(rx: &mut watch::Receiver<bool>, want: bool) {
    tokio::time::timeout(std::time::Duration::from_secs(20), rx.wait_for(|l| *l == want))
        .await
        .unwrap_or_else(|_| panic!("leadership never became {want}"))
        .unwrap();
}

/// kube-lease-manager keeps reporting leadership while its renewals fail; the leader must stop
/// writing once the API has not confirmed it as the holder within the renew deadline, and take the
/// Lease again when the API is back.
#[tokio::test]
async fn the_leader_steps_down_when_the_api_stops_confirming_the_lease() {
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = lease_api(down.clone());
    let args = super::ControllerConfig {
        namespaces: vec![],
        identity: "replica-a".into(),
        lease: crate::controller::LeaseSettings {
            name: "kafka-advertiser".into(),
            namespace: "kafka-advertiser".into(),
            duration: std::time::Duration::from_secs(3),
            renew_deadline: std::time::Duration::from_secs(2),
        },
        self_tls: None,
        concurrency: 8,
    };
    let (tx, mut rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::new());
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(super::lead(client, args, tx, metrics.clone(), stop.clone()));

    wait_leader(&mut rx, true).await;
    assert!(metrics.encode().contains("kafka_advertiser_leader 1"), "{}", metrics.encode());
    down.store(true, std::sync::atomic::Ordering::SeqCst);
    wait_leader(&mut rx, false).await;
    assert!(metrics.encode().contains("kafka_advertiser_leader 0"));
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    wait_leader(&mut rx, true).await;
    stop.cancel();
    task.await.unwrap();
    assert!(!*rx.borrow(), "a stopped replica does not lead");
}

#[test]
fn renew_deadline_keeps_leading_only_while_confirmed() {
    use std::time::Duration;
    let mut d = super::RenewDeadline::new(Duration::from_secs(10));
    let t0 = d.confirmed;
    assert!(d.observe(None, t0 + Duration::from_secs(9)), "a failed read within the deadline");
    assert!(!d.observe(None, t0 + Duration::from_secs(10)), "no confirmation for the whole deadline");
    assert!(d.observe(Some(true), t0 + Duration::from_secs(11)), "confirmed again");
    assert!(d.observe(None, t0 + Duration::from_secs(20)), "the deadline runs from the last confirmation");
    assert!(!d.observe(Some(false), t0 + Duration::from_secs(12)), "another holder ends it at once");
}

#[test]
fn a_lease_is_held_only_by_its_holder_and_until_it_expires() {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::jiff::{SignedDuration, Timestamp};
    let now = Timestamp::now();
    let lease = |holder: &str, renewed: Timestamp| -> Lease {
        serde_json::from_value(json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": holder,
            "renewTime": renewed.to_string(), "leaseDurationSeconds": 15}}))
        .unwrap()
    };
    assert!(super::holds(Some(&lease("a", now)), "a", now));
    assert!(!super::holds(Some(&lease("b", now)), "a", now));
    let stale = now.checked_sub(SignedDuration::from_secs(16)).unwrap();
    assert!(!super::holds(Some(&lease("a", stale)), "a", now), "expired");
    assert!(!super::holds(None, "a", now));
    let empty: Lease = serde_json::from_value(json!({"metadata": {"name": "l"}, "spec": {}})).unwrap();
    assert!(!super::holds(Some(&empty), "a", now));
}

#[tokio::test]
async fn confirming_leadership_again_does_not_wake_the_reconcilers() {
    let (tx, rx) = watch::channel(false);
    let mut woken = Box::pin(super::became_leader(rx));
    assert!(super::publish_leadership(&tx, true), "false → true is a change");
    assert_eq!(futures::StreamExt::next(&mut woken).await, Some(()));
    // Every Lease confirmation publishes `true` again: no bulk reconcile for that.
    for _ in 0..3 {
        assert!(!super::publish_leadership(&tx, true));
    }
    let again = tokio::time::timeout(std::time::Duration::from_millis(50), futures::StreamExt::next(&mut woken)).await;
    assert!(again.is_err(), "a repeated `true` woke the reconcilers");
    // Losing and regaining it does.
    assert!(super::publish_leadership(&tx, false));
    assert!(super::publish_leadership(&tx, true));
    assert_eq!(futures::StreamExt::next(&mut woken).await, Some(()));
}
