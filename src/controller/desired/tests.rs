//! The desired Services from fixtures: each mode, service types, bootstrap, rendering, bad settings.

use super::*;
use crate::spec::settings::Defaults;
use crate::testing::desired;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};

fn sts(replicas: i32, start: Option<i32>, annotations: Value) -> StatefulSet {
    crate::testing::events_statefulset(replicas, start, "prod", annotations)
}

fn spec(s: &Service) -> &ServiceSpec {
    s.spec.as_ref().unwrap()
}

#[test]
fn service_only_settings_on_the_statefulset_win_over_the_template() {
    let mut st = sts(2, None, json!({"kafka-advertiser.io/external-traffic-policy": "Local"}));
    st.metadata.annotations = Some(BTreeMap::from([
        ("kafka-advertiser.io/external-traffic-policy".to_owned(), "Cluster".to_owned()),
        ("kafka-advertiser.io/service-annotations".to_owned(), "team: streaming".to_owned()),
        ("kafka-advertiser.io/bootstrap".to_owned(), "true".to_owned()),
        // Not a Service-only setting: the pod template decides it (the webhook reads only the pod).
        ("kafka-advertiser.io/port".to_owned(), "9999".to_owned()),
    ]));
    let d = desired(&st, &Defaults::default()).unwrap();
    let svc = &d.services[0].1;
    assert_eq!(spec(svc).external_traffic_policy.as_deref(), Some("Cluster"));
    assert_eq!(svc.metadata.annotations.as_ref().unwrap()["team"], "streaming");
    assert!(d.bootstrap.is_some());
    assert_eq!(spec(svc).ports.as_ref().unwrap()[0].port, 9094, "port comes from the template only");
}

#[test]
fn loadbalancer_mode_one_service_per_ordinal_from_start() {
    let d = desired(&sts(3, Some(4), json!({})), &Defaults::default()).unwrap();
    assert_eq!(d.ordinals(), 4..7);
    let names: Vec<_> = d.services.iter().map(|(o, s)| (*o, s.metadata.name.clone().unwrap())).collect();
    assert_eq!(
        names,
        [(4, "events-4-external".into()), (5, "events-5-external".into()), (6, "events-6-external".into())]
    );
    let (_, s) = &d.services[1];
    let sp = spec(s);
    assert_eq!(sp.type_.as_deref(), Some("LoadBalancer"));
    assert_eq!(sp.external_traffic_policy.as_deref(), Some("Local"));
    assert_eq!(sp.selector.as_ref().unwrap()[POD_NAME_LABEL], "events-5");
    let p = &sp.ports.as_ref().unwrap()[0];
    assert_eq!((p.port, p.target_port.clone()), (9094, Some(IntOrString::Int(19094))));
    let l = s.metadata.labels.as_ref().unwrap();
    assert_eq!(
        (l[MANAGED_BY_LABEL].as_str(), l[STATEFULSET_LABEL].as_str(), l[ORDINAL_LABEL].as_str()),
        (MANAGED_BY, "events", "5")
    );
    let o = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (o.kind.as_str(), o.name.as_str(), o.uid.as_str(), o.controller),
        ("StatefulSet", "events", "uid-1", Some(true))
    );
    assert!(d.bootstrap.is_none());
}

#[test]
fn shared_address_mode_ports_and_metallb() {
    let d = desired(
        &sts(
            3,
            None,
            json!({"kafka-advertiser.io/mode": "shared-address", "kafka-advertiser.io/address": "192.0.2.9",
            "kafka-advertiser.io/port-base": "30000", "kafka-advertiser.io/external-traffic-policy": "Local"}),
        ),
        &Defaults::default(),
    )
    .unwrap();
    for (o, s) in &d.services {
        let sp = spec(s);
        assert_eq!(sp.ports.as_ref().unwrap()[0].port, 30000 + *o as i32);
        assert_eq!(sp.external_traffic_policy.as_deref(), Some("Cluster"), "shared IP needs Cluster");
        let a = s.metadata.annotations.as_ref().unwrap();
        // The key comes from the StatefulSet's UID: another tenant cannot guess it.
        let key = sharing_key(s.metadata.owner_references.as_ref().unwrap()[0].uid.as_str().into());
        assert!(key.starts_with("kafka-advertiser-") && !key.contains("events"), "{key}");
        assert_eq!(a[METALLB_SHARED_ANN], key);
        assert_eq!(a[METALLB_IPS_ANN], "192.0.2.9");
        // MetalLB before 0.14.9 reads only the old prefix: both generations, same values.
        assert_eq!(a[METALLB_LEGACY_SHARED_ANN], key);
        assert_eq!(a[METALLB_LEGACY_IPS_ANN], "192.0.2.9");
    }
}

/// The bootstrap Service on a shared address sits below the brokers' ports, on the same IP; a
/// port a broker holds is refused naming the annotation.
#[test]
fn shared_address_bootstrap_takes_a_port_of_its_own_on_the_same_ip() {
    let ann = json!({"kafka-advertiser.io/mode": "shared-address", "kafka-advertiser.io/address": "192.0.2.9",
        "kafka-advertiser.io/port-base": "30000", "kafka-advertiser.io/bootstrap": "true"});
    let d = desired(&sts(3, Some(2), ann.clone()), &Defaults::default()).unwrap();
    let b = d.bootstrap.as_ref().unwrap();
    assert_eq!(spec(b).ports.as_ref().unwrap()[0].port, 29999);
    assert_eq!(b.metadata.annotations.as_ref().unwrap()[METALLB_IPS_ANN], "192.0.2.9");
    let key = &d.services[0].1.metadata.annotations.as_ref().unwrap()[METALLB_SHARED_ANN];
    assert_eq!(&b.metadata.annotations.as_ref().unwrap()[METALLB_SHARED_ANN], key, "one key for all");
    let mut clash = ann.clone();
    clash["kafka-advertiser.io/bootstrap-port"] = json!("30003");
    let e = desired(&sts(3, Some(2), clash.clone()), &Defaults::default()).unwrap_err().to_string();
    assert!(e.contains(ANN_BOOTSTRAP_PORT) && e.contains("30002..30004"), "{e}");
    clash["kafka-advertiser.io/bootstrap-port"] = json!("30005");
    assert!(desired(&sts(3, Some(2), clash), &Defaults::default()).is_ok());
}

/// A Service cannot select by expressions: a bootstrap over such a StatefulSet is refused, not
/// silently wider than the brokers.
#[test]
fn bootstrap_needs_a_label_only_selector() {
    let mut st = sts(3, None, json!({"kafka-advertiser.io/bootstrap": "true"}));
    st.spec.as_mut().unwrap().selector.match_expressions =
        Some(vec![serde_json::from_value(json!({"key": "role", "operator": "In", "values": ["broker"]})).unwrap()]);
    let e = desired(&st, &Defaults::default()).unwrap_err().to_string();
    assert!(e.contains(ANN_BOOTSTRAP) && e.contains("matchExpressions"), "{e}");
    st.spec.as_mut().unwrap().selector.match_expressions = None;
    let b = desired(&st, &Defaults::default()).unwrap().bootstrap.unwrap();
    assert_eq!(spec(&b).selector.as_ref().unwrap(), &BTreeMap::from([("app".to_owned(), "events".to_owned())]));
}

#[test]
fn nodeport_bootstrap_is_answered_by_every_node() {
    let d = desired(
        &sts(2, None, json!({"kafka-advertiser.io/mode": "nodeport", "kafka-advertiser.io/bootstrap": "true"})),
        &Defaults::default(),
    )
    .unwrap();
    assert_eq!(spec(&d.services[0].1).external_traffic_policy.as_deref(), Some("Local"));
    assert_eq!(spec(d.bootstrap.as_ref().unwrap()).external_traffic_policy.as_deref(), Some("Cluster"));
}

/// service-type chooses the Services' type; None makes none; ClusterIP carries no external fields.
#[test]
fn service_type_shapes_or_removes_the_services() {
    let ann = |t: &str| {
        json!({"kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template": "b{ordinal}.example.com",
            "kafka-advertiser.io/service-type": t, "kafka-advertiser.io/load-balancer-source-ranges": "10.0.0.0/8"})
    };
    let d = desired(&sts(2, None, ann("ClusterIP")), &Defaults::default()).unwrap();
    let sp = spec(&d.services[0].1);
    assert_eq!(sp.type_.as_deref(), Some("ClusterIP"));
    assert!(sp.external_traffic_policy.is_none() && sp.load_balancer_source_ranges.is_none());
    let d = desired(&sts(2, None, ann("None")), &Defaults::default()).unwrap();
    assert!(d.services.is_empty());
    let d = desired(&sts(2, None, ann("NodePort")), &Defaults::default()).unwrap();
    assert_eq!(spec(&d.services[1].1).type_.as_deref(), Some("NodePort"));
    assert_eq!(spec(&d.services[1].1).ports.as_ref().unwrap()[0].node_port, None, "the API picks it");
    // pod-ip makes no Service unless asked.
    let d = desired(&sts(2, None, json!({"kafka-advertiser.io/mode": "pod-ip"})), &Defaults::default()).unwrap();
    assert!(d.services.is_empty());
    // The address must come from somewhere.
    let e = desired(
        &sts(1, None, json!({"kafka-advertiser.io/mode": "loadbalancer", "kafka-advertiser.io/service-type": "None"})),
        &Defaults::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("kafka-advertiser.io/service-type") && e.contains("LoadBalancer Service"), "{e}");
    let e = desired(&sts(1, None, json!({"kafka-advertiser.io/service-type": "Ingress"})), &Defaults::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected LoadBalancer, NodePort, ClusterIP or None"), "{e}");
}

/// Per-broker values in service-annotations and service-labels; JSON braces stay as written;
/// the bootstrap gets only the values that do not name one broker.
#[test]
fn service_annotation_and_label_values_are_rendered_per_broker() {
    let d = desired(
        &sts(
            2,
            Some(3),
            json!({"kafka-advertiser.io/bootstrap": "true",
                "kafka-advertiser.io/service-annotations": "{\"lb.example.com/ip-name\": \"{statefulset}-{ordinal}-ip\", \"lb.example.com/json\": \"{\\\"a\\\": 1}\", \"team\": \"{namespace}\"}",
                "kafka-advertiser.io/service-labels": "broker: \"{pod}\""}),
        ),
        &Defaults::default(),
    )
    .unwrap();
    let (o, s4) = &d.services[1];
    assert_eq!(*o, 4);
    let a = s4.metadata.annotations.as_ref().unwrap();
    assert_eq!(a["lb.example.com/ip-name"], "events-4-ip");
    assert_eq!(a["lb.example.com/json"], "{\"a\": 1}");
    assert_eq!(a["team"], "prod");
    assert_eq!(s4.metadata.labels.as_ref().unwrap()["broker"], "events-4");
    assert_eq!(s4.metadata.labels.as_ref().unwrap()[ORDINAL_LABEL], "4", "our labels are kept");
    let b = d.bootstrap.as_ref().unwrap();
    let ba = b.metadata.annotations.as_ref().unwrap();
    assert_eq!(ba["team"], "prod");
    assert!(!ba.contains_key("lb.example.com/ip-name") && !b.metadata.labels.as_ref().unwrap().contains_key("broker"));
}

/// address-type and ip-family travel on the Service (the Service watch reads them), and an IP
/// family is one the Service has.
#[test]
fn address_choice_is_carried_by_the_services() {
    let d = desired(&sts(1, None, json!({"kafka-advertiser.io/ip-family": "IPv6"})), &Defaults::default()).unwrap();
    let s = &d.services[0].1;
    assert_eq!(s.metadata.annotations.as_ref().unwrap()[ANN_IP_FAMILY], "IPv6");
    assert_eq!(spec(s).ip_families.as_deref(), Some(&["IPv6".to_owned()][..]));
    assert_eq!(spec(s).ip_family_policy.as_deref(), Some("PreferDualStack"));
    let d =
        desired(&sts(1, None, json!({"kafka-advertiser.io/address-type": "hostname"})), &Defaults::default()).unwrap();
    assert_eq!(d.services[0].1.metadata.annotations.as_ref().unwrap()[ANN_ADDRESS_TYPE], "hostname");
    assert!(spec(&d.services[0].1).ip_families.is_none());
    let e = desired(
        &sts(1, None, json!({"kafka-advertiser.io/address-type": "hostname", "kafka-advertiser.io/ip-family": "IPv4"})),
        &Defaults::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains(ANN_IP_FAMILY), "{e}");
}

#[test]
fn hostname_mode_sets_external_dns() {
    let d = desired(
        &sts(2, None, json!({"kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template": "{statefulset}-{ordinal}.{namespace}.example.org"})),
        &Defaults::default(),
    )
    .unwrap();
    assert_eq!(d.services[1].1.metadata.annotations.as_ref().unwrap()[EXTERNAL_DNS_ANN], "events-1.prod.example.org");
}

#[test]
fn nodeport_mode_uses_node_ports() {
    let d = desired(
        &sts(
            2,
            Some(1),
            json!({"kafka-advertiser.io/mode": "nodeport", "kafka-advertiser.io/node-port-base": "32100",
            "kafka-advertiser.io/load-balancer-source-ranges": "10.0.0.0/8"}),
        ),
        &Defaults::default(),
    )
    .unwrap();
    let sp = spec(&d.services[1].1);
    assert_eq!(sp.type_.as_deref(), Some("NodePort"));
    assert_eq!(sp.ports.as_ref().unwrap()[0].node_port, Some(32102));
    assert!(sp.load_balancer_source_ranges.is_none(), "not meaningful for NodePort");
}

#[test]
fn annotations_pass_through_in_yaml_and_json() {
    for (form, value) in [
        ("yaml", "service.beta.kubernetes.io/aws-load-balancer-type: nlb\nteam: data\n"),
        ("json", r#"{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb", "team": "data"}"#),
    ] {
        let d = desired(
            &sts(
                1,
                None,
                json!({
                ANN_SERVICE_ANNOTATIONS: value, ANN_SERVICE_LABELS: "tier: edge",
                ANN_LB_SOURCE_RANGES: "203.0.113.0/24, 198.51.100.0/24", ANN_LB_CLASS: "example.com/lb",
                ANN_TARGET_PORT: "ext", ANN_BOOTSTRAP: "true", ANN_BOOTSTRAP_PORT: "9999"}),
            ),
            &Defaults::default(),
        )
        .unwrap();
        let s = &d.services[0].1;
        let a = s.metadata.annotations.as_ref().unwrap();
        assert_eq!(a["service.beta.kubernetes.io/aws-load-balancer-type"], "nlb", "{form}");
        assert_eq!(a["team"], "data");
        assert_eq!(s.metadata.labels.as_ref().unwrap()["tier"], "edge");
        let sp = spec(s);
        assert_eq!(
            sp.load_balancer_source_ranges.as_deref(),
            Some(&["203.0.113.0/24".to_owned(), "198.51.100.0/24".to_owned()][..])
        );
        assert_eq!(sp.load_balancer_class.as_deref(), Some("example.com/lb"));
        assert_eq!(sp.ports.as_ref().unwrap()[0].target_port, Some(IntOrString::String("ext".into())));
        let b = d.bootstrap.as_ref().unwrap();
        assert_eq!(b.metadata.name.as_deref(), Some("events-bootstrap"));
        assert_eq!(spec(b).selector.as_ref().unwrap(), &BTreeMap::from([("app".to_owned(), "events".to_owned())]));
        assert_eq!(spec(b).ports.as_ref().unwrap()[0].port, 9999);
    }
}

#[test]
fn scale_is_the_replica_count() {
    assert_eq!(desired(&sts(0, None, json!({})), &Defaults::default()).unwrap().services.len(), 0);
    assert_eq!(desired(&sts(5, None, json!({})), &Defaults::default()).unwrap().services.len(), 5);
}

#[test]
fn bad_controller_annotations_name_the_key() {
    for (k, v) in [
        (ANN_SERVICE_ANNOTATIONS, "[not, a, map]"),
        (ANN_EXTERNAL_TRAFFIC_POLICY, "Sometimes"),
        (ANN_BOOTSTRAP, "yes"),
        (ANN_TARGET_PORT, "70000"),
        (ANN_RETAIN, "maybe"),
    ] {
        let e = desired(&sts(1, None, json!({ k: v })), &Defaults::default()).unwrap_err().to_string();
        assert!(e.contains(k), "{e}");
    }
}

#[test]
fn service_name_template_override() {
    let d = desired(
        &sts(1, None, json!({"kafka-advertiser.io/service-name-template": "ext-{statefulset}-{ordinal}"})),
        &Defaults::default(),
    )
    .unwrap();
    assert_eq!(d.services[0].1.metadata.name.as_deref(), Some("ext-events-0"));
}
