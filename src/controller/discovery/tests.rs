//! Each broker's endpoint and the bootstrap list, once every address is known.

use std::collections::BTreeMap;

use serde_json::json;

use crate::controller::tests::*;
use crate::mutate::Defaults;

#[test]
fn external_bootstrap_lists_every_broker_once_known() {
    use super::external_bootstrap;
    let none = BTreeMap::<u32, String>::new();
    let no_pods = BTreeMap::new();
    let lb = statefulset(3, json!({}));
    let d = crate::testing::desired(&lb, &Defaults::default()).unwrap();
    let mut addrs = BTreeMap::from([(0u32, "203.0.113.10".to_owned()), (2, "2001:db8::7".to_owned())]);
    let partial = endpoints_of(&d, &addrs, &no_pods);
    assert_eq!(partial.values().collect::<Vec<_>>(), ["203.0.113.10:9094", "[2001:db8::7]:9094"]);
    assert_eq!(external_bootstrap(&d, &partial), None, "broker 1 has no address yet");
    addrs.insert(1, "lb-1.example.net".to_owned());
    assert_eq!(
        external_bootstrap(&d, &endpoints_of(&d, &addrs, &no_pods)).as_deref(),
        Some("203.0.113.10:9094,lb-1.example.net:9094,[2001:db8::7]:9094")
    );
    let host = statefulset(
        2,
        json!({"kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template": "b{ordinal}.example.com"}),
    );
    let d = crate::testing::desired(&host, &Defaults::default()).unwrap();
    assert_eq!(
        external_bootstrap(&d, &endpoints_of(&d, &none, &no_pods)).as_deref(),
        Some("b0.example.com:9094,b1.example.com:9094")
    );
    // nodeport: each broker's node IP (from its pod) and node port; pod-ip: the pod's own IP.
    let pods = BTreeMap::from([
        (0u32, (Some("10.0.0.5".to_owned()), Some("10.244.1.7".to_owned()))),
        (1, (Some("fd00::5".to_owned()), None)),
    ]);
    let np = statefulset(2, json!({"kafka-advertiser.io/mode": "nodeport"}));
    let d = crate::testing::desired(&np, &Defaults::default()).unwrap();
    assert_eq!(
        external_bootstrap(&d, &endpoints_of(&d, &none, &pods)).as_deref(),
        Some("10.0.0.5:31090,[fd00::5]:31091")
    );
    let pip = statefulset(2, json!({"kafka-advertiser.io/mode": "pod-ip"}));
    let d = crate::testing::desired(&pip, &Defaults::default()).unwrap();
    let e = endpoints_of(&d, &none, &pods);
    assert_eq!(e.values().collect::<Vec<_>>(), ["10.244.1.7:9094"], "broker 1 has no pod IP yet");
    assert_eq!(external_bootstrap(&d, &e), None);
}

pub(crate) fn endpoints_of(
    d: &crate::controller::desired::Desired,
    lb: &BTreeMap<u32, String>,
    pods: &BTreeMap<u32, (Option<String>, Option<String>)>,
) -> BTreeMap<u32, String> {
    super::external_endpoints(d, &super::external_hosts(d, lb, pods))
}
