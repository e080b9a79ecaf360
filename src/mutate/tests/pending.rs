//! `pending-timeout`: a broker whose address is still pending is admitted, once it has waited long
//! enough, with only its internal listener advertised; refused when it could not start that way.

use super::*;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// A view read at a chosen time.
struct At<'a>(&'a ClusterView, Timestamp);

impl crate::spec::class::ClassSource for At<'_> {}

impl ClusterLookup for At<'_> {
    fn address(&self, ns: &str, sts: &str, ordinal: u32) -> Option<Arc<str>> {
        self.0.address(ns, sts, ordinal)
    }
    fn synced(&self) -> bool {
        self.0.synced()
    }
    fn pending_since(&self, ns: &str, sts: &str, ordinal: u32) -> Option<Timestamp> {
        self.0.pending_since(ns, sts, ordinal)
    }
    fn now(&self) -> Timestamp {
        self.1
    }
    fn lookup_for(&self, ns: &str, sts: &str, ordinal: u32, expect: &Expect<'_>) -> Lookup {
        self.0.lookup_for(ns, sts, ordinal, expect)
    }
}

const SINCE: &str = "2026-12-06T05:00:00Z";
const INTERNAL_ONLY: &str = "INTERNAL://brokers-1.hs.ns.svc.cluster.local:9092";

/// A synced view where broker 1's Service has no address, pending since [`SINCE`].
fn pending_view() -> ClusterView {
    let book = ClusterView::new();
    book.mark_synced();
    book.set("ns", "brokers", 1, None);
    book.set_pending_since(
        "ns",
        "brokers",
        Some(crate::spec::pending::parse_since(r#"{"1":"2026-12-06T05:00:00Z"}"#, 0, 9)),
    );
    book
}

fn after(secs: i64) -> Timestamp {
    SINCE.parse::<Timestamp>().unwrap().checked_add(SignedDuration::from_secs(secs)).unwrap()
}

fn broker(timeout: Option<&str>, env: Value) -> Value {
    let mut pod = bare_pod("brokers-1", json!({}));
    if let Some(t) = timeout {
        pod["metadata"]["annotations"][ANN_PENDING_TIMEOUT] = json!(t);
    }
    pod["spec"]["containers"][0]["env"] = env;
    pod
}

#[test]
fn without_a_timeout_the_broker_waits_for_its_address() {
    let book = pending_view();
    let err = run(&broker(None, json!([])), &At(&book, after(3600))).unwrap_err();
    assert!(err.to_string().contains("has no status.loadBalancer.ingress yet"), "{err}");
}

#[test]
fn past_the_timeout_only_the_internal_listener_is_advertised() {
    let book = pending_view();
    let vars = json!([{"name": "KAFKA_ADVERTISED_LISTENERS", "value": "EXTERNAL://placeholder:9094,CLIENT://c:1"}]);
    let pod = broker(Some("60s"), vars);
    let err = run(&pod, &At(&book, after(59))).unwrap_err();
    assert!(matches!(err, MutateError::AddressPending { reason: Pending::NoAddress { .. }, .. }), "{err}");
    let (m, patched) = run(&pod, &At(&book, after(60))).unwrap();
    let m = m.unwrap();
    assert_eq!(m.advertised, INTERNAL_ONLY);
    assert_eq!(env(&patched, "kafka", APACHE_ENV).as_deref(), Some(&*format!("CLIENT://c:1,{INTERNAL_ONLY}")));
    assert_eq!(patched.metadata.annotations.as_ref().unwrap()[ANN_ADVERTISED], INTERNAL_ONLY);
    assert!(m.warnings.iter().any(|w| w.contains("admitted without its external address")), "{:?}", m.warnings);
    assert!(crate::spec::pending::internal_only(&m.advertised, "EXTERNAL"));
    // The address arrives: the same pod is given it (the controller's drift sees the difference).
    book.set("ns", "brokers", 1, Some("203.0.113.7"));
    let (m, _) = run(&pod, &At(&book, after(61))).unwrap();
    assert_eq!(m.unwrap().advertised, format!("{INTERNAL_ONLY},EXTERNAL://203.0.113.7:9094"));
}

#[test]
fn zero_admits_at_once_without_a_record_but_never_before_the_view_is_read() {
    let book = ClusterView::new();
    let pod = broker(Some("0s"), json!([]));
    let err = run(&pod, &At(&book, after(0))).unwrap_err();
    assert!(err.to_string().contains("has not read the cluster's Services yet"), "{err}");
    book.mark_synced();
    // No Service yet, nothing recorded: admitted at once all the same.
    let (m, _) = run(&pod, &At(&book, after(0))).unwrap();
    assert_eq!(m.unwrap().advertised, INTERNAL_ONLY);
}

#[test]
fn refused_when_the_brokers_replicate_over_the_external_listener() {
    let book = pending_view();
    let named = json!([{"name": "KAFKA_INTER_BROKER_LISTENER_NAME", "value": "external"}]);
    let err = run(&broker(Some("0s"), named), &At(&book, after(0))).unwrap_err();
    let m = err.to_string();
    assert!(err.is_retryable(), "{m}");
    assert!(m.contains("inter-broker listener is external, the external one"), "{m}");
    assert!(m.contains("remove kafka-advertiser.io/pending-timeout"), "{m}");
    // Unset, Kafka replicates over the listener named as the protocol: PLAINTEXT.
    let mut pod = broker(Some("0s"), json!([]));
    pod["metadata"]["annotations"][ANN_LISTENER] = json!("PLAINTEXT");
    let m = run(&pod, &At(&book, after(0))).unwrap_err().to_string();
    assert!(m.contains("inter-broker listener is PLAINTEXT"), "{m}");
    // Bitnami's spelling, another listener: admitted.
    let bitnami = json!([{"name": "KAFKA_CFG_ADVERTISED_LISTENERS", "value": ""},
        {"name": "KAFKA_CFG_INTER_BROKER_LISTENER_NAME", "value": "INTERNAL"}]);
    assert!(run(&broker(Some("0s"), bitnami), &At(&book, after(0))).is_ok());
}

#[test]
fn refused_when_nothing_would_be_advertised() {
    let book = pending_view();
    let mut pod = broker(Some("0s"), json!([{"name": "KAFKA_INTER_BROKER_LISTENER_NAME", "value": "REPL"}]));
    pod["metadata"]["annotations"][ANN_INTERNAL_LISTENER] = json!("none");
    let m = run(&pod, &At(&book, after(0))).unwrap_err().to_string();
    assert!(m.contains("no other listener would be advertised"), "{m}");
}

#[test]
fn a_bad_timeout_names_the_annotation() {
    let book = pending_view();
    for bad in ["soon", "-5s", "200h"] {
        let m = run(&broker(Some(bad), json!([])), &At(&book, after(0))).unwrap_err().to_string();
        assert!(m.contains("kafka-advertiser.io/pending-timeout"), "{bad}: {m}");
    }
}

/// shared-address without `address` learns it from a Service like loadbalancer mode: the same wait.
#[test]
fn a_shared_address_still_to_be_learned_waits_the_same() {
    let book = pending_view();
    let mut pod = broker(Some("60s"), json!([]));
    pod["metadata"]["annotations"][ANN_MODE] = json!("shared-address");
    assert!(run(&pod, &At(&book, after(59))).is_err());
    let (m, _) = run(&pod, &At(&book, after(60))).unwrap();
    assert_eq!(m.unwrap().advertised, INTERNAL_ONLY);
}
