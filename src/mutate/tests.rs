//! Unit tests of the pure mutation, on the kube-apiserver fixtures and on hand-made pods.

use super::*;
use crate::names::{ANN_ADVERTISED, ENABLED_LABEL};
use crate::spec::settings::*;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use std::collections::HashMap;

/// A plain map of addresses for tests: (namespace, statefulset, ordinal) → address.
#[derive(Default)]
struct Map(HashMap<(String, String, u32), String>);

impl Map {
    fn with(ns: &str, sts: &str, ordinal: u32, addr: &str) -> Self {
        let mut m = Map::default();
        m.0.insert((ns.into(), sts.into(), ordinal), addr.into());
        m
    }
}

impl crate::spec::class::ClassSource for Map {}

impl ClusterLookup for Map {
    fn address(&self, ns: &str, sts: &str, ordinal: u32) -> Option<Arc<str>> {
        self.0.get(&(ns.into(), sts.into(), ordinal)).map(|s| Arc::from(s.as_str()))
    }
}

use crate::testing::fixture;

fn fixture_pod(name: &str) -> Value {
    fixture(name)["request"]["object"].clone()
}

fn names(v: &Value) -> (String, String) {
    (
        v["metadata"]["name"].as_str().unwrap_or("").to_owned(),
        v["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
    )
}

/// Run the mutation, apply its patch, check the result is a Pod and that a second run is a no-op.
fn run(pod: &Value, addrs: &dyn ClusterLookup) -> Result<(Option<Mutation>, Pod), MutateError> {
    let typed: Pod = serde_json::from_value(pod.clone()).unwrap();
    let (name, namespace) = names(pod);
    let rn = RequestNames { name: &name, namespace: &namespace };
    let m = mutate(&typed, rn, &Defaults::default(), addrs)?;
    let mut doc = pod.clone();
    if let Some(m) = &m {
        json_patch::patch(&mut doc, &m.patch).expect("patch applies");
    }
    let patched: Pod = serde_json::from_value(doc).expect("patched object is a Pod");
    let again = mutate(&patched, rn, &Defaults::default(), addrs).unwrap();
    if let Some(again) = again {
        assert!(again.patch.0.is_empty(), "not idempotent: {:?}", again.patch);
    }
    Ok((m, patched))
}

fn env_of<'p>(pod: &'p Pod, container: &str) -> Vec<(&'p str, Option<&'p str>)> {
    let c =
        pod.spec.as_ref().unwrap().containers.iter().chain(pod.spec.as_ref().unwrap().init_containers.iter().flatten());
    c.filter(|c| c.name == container)
        .flat_map(|c| c.env.iter().flatten())
        .map(|e| (e.name.as_str(), e.value.as_deref()))
        .collect()
}

fn env(pod: &Pod, container: &str, var: &str) -> Option<String> {
    env_of(pod, container).into_iter().rev().find(|(n, _)| *n == var).and_then(|(_, v)| v.map(str::to_owned))
}

fn required_terms(pod: &Pod) -> Vec<PodAffinityTermView> {
    pod.spec
        .as_ref()
        .unwrap()
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|t| PodAffinityTermView {
            key: t.topology_key,
            labels: t.label_selector.and_then(|s| s.match_labels).unwrap_or_default(),
        })
        .collect()
}

#[derive(Debug, PartialEq)]
struct PodAffinityTermView {
    key: String,
    labels: BTreeMap<String, String>,
}

#[test]
fn loadbalancer_fixture_with_known_address() {
    let pod = fixture_pod("kafka-0-kraft-bitnami-loadbalancer");
    let (m, patched) = run(&pod, &Map::with("streaming", "kafka", 0, "203.0.113.10")).unwrap();
    let m = m.unwrap();
    assert_eq!(
        env(&patched, "kafka", BITNAMI_ENV).as_deref(),
        Some("INTERNAL://kafka-0.kafka-headless.streaming.svc.cluster.local:9092,EXTERNAL://203.0.113.10:9094")
    );
    assert_eq!(patched.metadata.annotations.as_ref().unwrap()[ANN_ADVERTISED], m.advertised);
    assert_eq!((m.statefulset.as_str(), m.ordinal), ("kafka", 0));
    let terms = required_terms(&patched);
    assert_eq!(terms.len(), 1);
    assert_eq!(terms[0].key, "kubernetes.io/hostname");
    let want: BTreeMap<String, String> =
        [("app.kubernetes.io/name", "kafka"), ("app.kubernetes.io/instance", "kafka"), (ENABLED_LABEL, "true")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    assert_eq!(terms[0].labels, want, "selector is the pod's labels minus the per-pod ones");
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

#[test]
fn loadbalancer_fixture_without_address_is_denied_naming_the_service() {
    let pod = fixture_pod("kafka-0-kraft-bitnami-loadbalancer");
    let err = run(&pod, &Map::default()).unwrap_err();
    assert!(err.is_retryable());
    assert!(err.to_string().contains("kafka-0-external"), "{err}");
    // A hostname ingress is advertised as is.
    let (_, patched) = run(&pod, &Map::with("streaming", "kafka", 0, "a1b2.elb.example.com")).unwrap();
    assert!(env(&patched, "kafka", BITNAMI_ENV).unwrap().ends_with("EXTERNAL://a1b2.elb.example.com:9094"));
}

/// A learned address is someone else's data (a load balancer's status, a Gateway's, an annotation a
/// tenant can edit on its Service): only an IP or a DNS name reaches the env, where the kubelet expands
/// `$(VAR)` and a ',' would add a listener.
#[test]
fn learned_addresses_that_are_not_hosts_are_refused_naming_their_source() {
    let pod = fixture_pod("kafka-0-kraft-bitnami-loadbalancer");
    for bad in
        ["$(KAFKA_PASSWORD)", "203.0.113.10,EXTERNAL2://evil.example.com:1", "a b", "x\ny", "-lead.example.com", ""]
    {
        let err = run(&pod, &Map::with("streaming", "kafka", 0, bad)).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, MutateError::InvalidAddress { .. }), "{bad:?}: {msg}");
        assert!(msg.contains("Service streaming/kafka-0-external") && msg.contains(&format!("{bad:?}")), "{msg}");
        assert!(!err.is_retryable());
    }
    for good in ["203.0.113.10", "2001:db8::1", "a1b2.elb.example.com", "LB.Example.COM"] {
        assert!(run(&pod, &Map::with("streaming", "kafka", 0, good)).is_ok(), "{good}");
    }
}

/// A node-port clash with another namespace's StatefulSet is refused without naming it.
#[test]
fn node_port_clash_across_namespaces_names_no_foreign_statefulset() {
    struct Held(String);
    impl crate::spec::class::ClassSource for Held {}
    impl ClusterLookup for Held {
        fn address(&self, _: &str, _: &str, _: u32) -> Option<Arc<str>> {
            None
        }
        fn node_port_owner(&self, _: u16) -> Option<(String, String, u32)> {
            Some((self.0.clone(), "secret-team-kafka".to_owned(), 3))
        }
    }
    let pod = fixture_pod("kafka-4-nodeport");
    let foreign = run(&pod, &Held("other-team".into())).unwrap_err().to_string();
    assert!(foreign.contains("another namespace") && !foreign.contains("other-team"), "{foreign}");
    assert!(!foreign.contains("secret-team-kafka"), "{foreign}");
    let ns = names(&pod).1;
    let local = run(&pod, &Held(ns.clone())).unwrap_err().to_string();
    assert!(local.contains(&format!("broker 3 of StatefulSet {ns}/secret-team-kafka")), "{local}");
}

#[test]
fn shared_address_fixture() {
    let (_, patched) = run(&fixture_pod("kafka-1-seed-shared-address"), &NoAddresses).unwrap();
    let v = env(&patched, "kafka", BITNAMI_ENV).unwrap();
    assert_eq!(v, "INTERNAL://kafka-1.kafka.streaming.svc.cluster.local:9092,EXTERNAL://198.51.100.7:9093");
}

#[test]
fn hostname_fixture_merges_and_keeps_user_affinity_and_other_containers() {
    let pod = fixture_pod("kafka-2-apache-hostname-existing-affinity");
    let before: Pod = serde_json::from_value(pod.clone()).unwrap();
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    assert_eq!(
        env(&patched, "kafka", APACHE_ENV).as_deref(),
        Some("INTERNAL://kafka-2.kafka-headless.streaming.svc.cluster.local:9092,EXTERNAL://broker-2.kafka.example.net:9094")
    );
    let (b, a) = (before.spec.as_ref().unwrap(), patched.spec.as_ref().unwrap());
    assert_eq!(b.init_containers, a.init_containers);
    let jmx = |s: &k8s_openapi::api::core::v1::PodSpec| s.containers.iter().find(|c| c.name == "jmx-exporter").cloned();
    assert!(jmx(b).is_some());
    assert_eq!(jmx(b), jmx(a), "jmx-exporter sidecar unchanged");
    // Only the listeners var changed in the kafka container, in place.
    let (eb, ea) = (env_of(&before, "kafka"), env_of(&patched, "kafka"));
    assert_eq!(eb.len(), ea.len());
    for (x, y) in eb.iter().zip(&ea) {
        assert_eq!(x.0, y.0);
        if x.0 != APACHE_ENV {
            assert_eq!(x, y);
        }
    }
    let (ab, aa) = (b.affinity.as_ref().unwrap(), a.affinity.as_ref().unwrap());
    assert_eq!(ab.node_affinity, aa.node_affinity);
    let anti = aa.pod_anti_affinity.as_ref().unwrap();
    assert_eq!(
        ab.pod_anti_affinity.as_ref().unwrap().preferred_during_scheduling_ignored_during_execution,
        anti.preferred_during_scheduling_ignored_during_execution
    );
    assert_eq!(required_terms(&patched).len(), 1);
}

#[test]
fn nodeport_fixture_injects_host_ip_before_listeners() {
    let (m, patched) = run(&fixture_pod("kafka-4-nodeport"), &NoAddresses).unwrap();
    let envs = env_of(&patched, "kafka");
    let h = envs.iter().position(|(n, _)| *n == HOST_IP_ENV).expect("host ip var");
    let l = envs.iter().position(|(n, _)| *n == BITNAMI_ENV).expect("listeners var");
    assert!(h < l);
    let hv = &patched.spec.as_ref().unwrap().containers[0].env.as_ref().unwrap()[h];
    assert_eq!(hv.value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path, "status.hostIP");
    assert!(envs[l].1.unwrap().ends_with("EXTERNAL://$(ADVERTISER_HOST_IP):31094"));
    assert!(m.unwrap().warnings.is_empty());
}

#[test]
fn ordinal_from_name_when_label_missing() {
    let (m, patched) = run(&fixture_pod("kafka-11-no-pod-index-label"), &NoAddresses).unwrap();
    assert_eq!(m.unwrap().ordinal, 11);
    assert!(env(&patched, "kafka", BITNAMI_ENV).unwrap().ends_with("EXTERNAL://kafka.example.net:9103"));
}

#[test]
fn not_opted_in_is_untouched() {
    assert!(run(&fixture_pod("kafka-0-not-opted-in"), &NoAddresses).unwrap().0.is_none());
    let mut pod = fixture_pod("kafka-1-seed-shared-address");
    pod["metadata"]["labels"][ENABLED_LABEL] = json!("false");
    assert!(run(&pod, &NoAddresses).unwrap().0.is_none());
}

#[test]
fn bad_port_base_names_the_annotation() {
    let err = run(&fixture_pod("kafka-0-bad-port-base"), &NoAddresses).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(ANN_PORT_BASE) && msg.contains("nine"), "{msg}");
}

#[test]
fn generate_name_pod_has_no_ordinal() {
    let err = run(&fixture_pod("kafka-client-generate-name-no-ordinal"), &NoAddresses).unwrap_err();
    assert!(matches!(err, MutateError::NoOrdinal { .. }));
    assert!(err.to_string().contains("kafka-client-"), "{err}");
}

/// A minimal pod built by hand: no env, no affinity, no annotations.
fn bare_pod(name: &str, annotations: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "ns",
            "labels": { ENABLED_LABEL: "true", "app": "broker" },
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "brokers", "uid": "u", "controller": true}]
        },
        "spec": { "hostname": name, "subdomain": "hs", "containers": [{ "name": "kafka", "image": "apache/kafka:3.9.0" }] }
    })
}

#[test]
fn parents_are_created_on_a_bare_pod() {
    let mut pod = bare_pod("brokers-3", json!({}));
    pod["metadata"].as_object_mut().unwrap().remove("annotations");
    let (m, patched) = run(&pod, &Map::with("ns", "brokers", 3, "10.0.0.3")).unwrap();
    assert_eq!(
        env(&patched, "kafka", APACHE_ENV).as_deref(),
        Some("INTERNAL://brokers-3.hs.ns.svc.cluster.local:9092,EXTERNAL://10.0.0.3:9094")
    );
    assert_eq!(patched.metadata.annotations.as_ref().unwrap()[ANN_ADVERTISED], m.unwrap().advertised);
    assert_eq!(required_terms(&patched).len(), 1);
}

#[test]
fn ordinal_from_label_wins_and_nonzero_start() {
    let mut pod =
        bare_pod("brokers-7", json!({ ANN_MODE: "shared-address", ANN_ADDRESS: "1.2.3.4", ANN_PORT_BASE: "19000" }));
    pod["metadata"]["labels"][POD_INDEX_LABEL] = json!("12");
    let (m, patched) = run(&pod, &NoAddresses).unwrap();
    assert_eq!(m.unwrap().ordinal, 12);
    assert!(env(&patched, "kafka", APACHE_ENV).unwrap().ends_with("EXTERNAL://1.2.3.4:19012"));
    pod["metadata"]["labels"][POD_INDEX_LABEL] = json!("x");
    assert!(matches!(run(&pod, &NoAddresses).unwrap_err(), MutateError::BadPodIndex { .. }));
}

#[test]
fn name_suffix_rules() {
    assert_eq!(name_suffix("kafka-0"), Some(("kafka", 0)));
    assert_eq!(name_suffix("my-kafka-123"), Some(("my-kafka", 123)));
    assert_eq!(name_suffix("kafka-01"), None);
    assert_eq!(name_suffix("kafka-"), None);
    assert_eq!(name_suffix("kafka"), None);
    assert_eq!(name_suffix("-3"), None);
    assert_eq!(name_suffix("kafka-99999999999"), None);
}

#[test]
fn bitnami_env_merge_keeps_other_listeners() {
    let mut pod = bare_pod(
        "brokers-0",
        json!({ ANN_MODE: "hostname", ANN_HOSTNAME_TEMPLATE: "b{ordinal}.{namespace}.example.com" }),
    );
    pod["spec"]["containers"][0]["image"] = json!("bitnami/kafka:3.9");
    pod["spec"]["containers"][0]["env"] = json!([
        {"name": "A", "value": "1"},
        {"name": BITNAMI_ENV, "value": "CLIENT://c:1,EXTERNAL://old:1"},
        {"name": "Z", "value": "2"}
    ]);
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    let envs = env_of(&patched, "kafka");
    assert_eq!(envs.iter().map(|e| e.0).collect::<Vec<_>>(), ["A", BITNAMI_ENV, "Z"]);
    assert_eq!(
        envs[1].1,
        Some("CLIENT://c:1,EXTERNAL://b0.ns.example.com:9094,INTERNAL://brokers-0.hs.ns.svc.cluster.local:9092")
    );
}

#[test]
fn env_defaults_by_image_and_annotation() {
    let mut pod = bare_pod("brokers-0", json!({ ANN_MODE: "nodeport" }));
    pod["spec"]["containers"][0]["image"] = json!("docker.io/bitnami/kafka:3.9");
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    assert!(env(&patched, "kafka", BITNAMI_ENV).is_some());
    pod["metadata"]["annotations"][ANN_ENV] = json!("MY_LISTENERS");
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    assert!(env(&patched, "kafka", "MY_LISTENERS").is_some());
    assert!(env(&patched, "kafka", BITNAMI_ENV).is_none());
}

#[test]
fn value_from_listeners_var_is_replaced_by_a_value() {
    let mut pod = bare_pod("brokers-1", json!({ ANN_MODE: "nodeport" }));
    pod["spec"]["containers"][0]["env"] = json!([
        {"name": APACHE_ENV, "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}},
        {"name": HOST_IP_ENV, "value": "wrong"}
    ]);
    let (m, patched) = run(&pod, &NoAddresses).unwrap();
    assert!(m.unwrap().warnings.iter().any(|w| w.contains("came from valueFrom")), "the override is said");
    let envs = env_of(&patched, "kafka");
    assert_eq!(envs.iter().map(|e| e.0).collect::<Vec<_>>(), [HOST_IP_ENV, APACHE_ENV]);
    assert!(envs[1].1.unwrap().contains("$(ADVERTISER_HOST_IP):31091"));
}

#[test]
fn container_selection() {
    let mut pod = bare_pod("brokers-0", json!({ ANN_MODE: "nodeport" }));
    // An injected sidecar first: the container running a Kafka image is the broker.
    pod["spec"]["containers"] =
        json!([{"name": "istio-proxy", "image": "istio/proxyv2"}, {"name": "broker", "image": "apache/kafka:4.1.1"}]);
    let (m, patched) = run(&pod, &NoAddresses).unwrap();
    assert!(env(&patched, "istio-proxy", APACHE_ENV).is_none(), "never the sidecar");
    assert!(env(&patched, "broker", APACHE_ENV).is_some());
    assert!(m.unwrap().warnings.iter().all(|w| !w.contains(ANN_CONTAINER)));
    // The container that defines listener env vars, whatever its image (a mirror, a custom build).
    pod["spec"]["containers"] = json!([{"name": "side", "image": "x"},
        {"name": "broker", "image": "registry.example/streaming/broker:1", "env": [{"name": "KAFKA_CFG_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9094"}]}]);
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    assert!(env(&patched, "side", BITNAMI_ENV).is_none() && env(&patched, "side", APACHE_ENV).is_none());
    // Nothing says which: the first, with a warning naming the annotation.
    pod["spec"]["containers"] = json!([{"name": "side", "image": "x"}, {"name": "broker", "image": "y"}]);
    let (m, patched) = run(&pod, &NoAddresses).unwrap();
    assert!(env(&patched, "side", APACHE_ENV).is_some(), "first container when nothing says which");
    assert!(m.unwrap().warnings.iter().any(|w| w.contains(ANN_CONTAINER)));
    pod["metadata"]["annotations"][ANN_CONTAINER] = json!("broker");
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    assert!(env(&patched, "side", APACHE_ENV).is_none());
    assert!(env(&patched, "broker", APACHE_ENV).is_some());
    pod["metadata"]["annotations"][ANN_CONTAINER] = json!("nope");
    let err = run(&pod, &NoAddresses).unwrap_err();
    assert!(err.to_string().contains("side, broker"), "{err}");
}

#[test]
fn affinity_merge_cases() {
    let sel = json!({"matchLabels": {"app": "broker", ENABLED_LABEL: "true"}});
    let ours = json!({"labelSelector": sel, "topologyKey": "kubernetes.io/hostname"});
    let user_req = json!({"labelSelector": {"matchLabels": {"app": "zk"}}, "topologyKey": "zone"});
    let cases = [
        // (existing affinity, mode, expected required count, expected preferred count)
        (json!(null), "required", 1, 0),
        (json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [user_req]}}), "required", 2, 0),
        (
            json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 5, "podAffinityTerm": user_req}]}}),
            "required",
            1,
            1,
        ),
        (json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [ours]}}), "required", 1, 0),
        (json!({"nodeAffinity": {}}), "preferred", 0, 1),
        (
            json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 5, "podAffinityTerm": ours}]}}),
            "preferred",
            0,
            1,
        ),
        (json!(null), "none", 0, 0),
    ];
    for (existing, mode, req, pref) in cases {
        let mut pod = bare_pod("brokers-0", json!({ ANN_MODE: "nodeport", ANN_ANTI_AFFINITY: mode }));
        if !existing.is_null() {
            pod["spec"]["affinity"] = existing.clone();
        }
        let (_, patched) = run(&pod, &NoAddresses).unwrap();
        let anti = patched.spec.unwrap().affinity.and_then(|a| a.pod_anti_affinity);
        let r = anti
            .as_ref()
            .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
            .map_or(0, Vec::len);
        let p = anti
            .as_ref()
            .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
            .map_or(0, Vec::len);
        assert_eq!((r, p), (req, pref), "existing {existing} mode {mode}");
        // The user's terms come first, in their order.
        if let Some(user) = existing.pointer("/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/0") {
            let first =
                &anti.as_ref().unwrap().required_during_scheduling_ignored_during_execution.as_ref().unwrap()[0];
            assert_eq!(serde_json::to_value(first).unwrap(), *user);
        }
    }
}

#[test]
fn topology_key_annotation() {
    let pod = bare_pod("brokers-0", json!({ ANN_MODE: "nodeport", ANN_TOPOLOGY_KEY: "topology.kubernetes.io/zone" }));
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    assert_eq!(required_terms(&patched)[0].key, "topology.kubernetes.io/zone");
}

#[test]
fn our_annotation_key_is_pointer_escaped_and_foreign_keys_survive() {
    // Our key's `/` must be written `~1` in the patch path; a foreign key with `~` and `/` must come
    // through the patch untouched (the patch adds one member, it does not rewrite the map).
    let pod = bare_pod("brokers-0", json!({ ANN_MODE: "nodeport", "a~b/c": "x", "d~1e": "y" }));
    let typed: Pod = serde_json::from_value(pod.clone()).unwrap();
    let m = mutate(&typed, RequestNames::default(), &Defaults::default(), &NoAddresses).unwrap().unwrap();
    let paths: Vec<String> = m.patch.0.iter().map(|op| op.path().to_string()).collect();
    assert!(paths.contains(&"/metadata/annotations/kafka-advertiser.io~1advertised".to_owned()), "{paths:?}");
    assert!(!paths.iter().any(|p| p == "/metadata/annotations"), "the map is not replaced: {paths:?}");
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    let anns = patched.metadata.annotations.unwrap();
    assert_eq!((anns["a~b/c"].as_str(), anns["d~1e"].as_str()), ("x", "y"));
    assert_eq!(anns.len(), 4, "{anns:?}");
}

#[test]
fn warnings_for_undeclared_listener_and_missing_shared_address() {
    let mut pod = bare_pod("brokers-2", json!({ ANN_MODE: "shared-address", ANN_LISTENER: "OUTSIDE" }));
    pod["spec"]["containers"][0]["env"] = json!([
        {"name": "KAFKA_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9094"},
        {"name": "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "value": "INTERNAL:PLAINTEXT,OUTSIDE:PLAINTEXT"}
    ]);
    // No address and none learned: `address` is optional, so the broker waits for its Service's
    // address as in loadbalancer mode (denied until then, saying so).
    let err = run(&pod, &NoAddresses).unwrap_err();
    assert!(matches!(err, MutateError::AddressPending { .. }), "{err}");
    assert!(err.to_string().contains("brokers-2-external"), "{err}");
    // An address learned from the Service: allowed, with a warning.
    let (m, _) = run(&pod, &Map::with("ns", "brokers", 2, "5.6.7.8")).unwrap();
    let w = m.unwrap().warnings;
    assert!(w.iter().any(|w| w.contains("KAFKA_LISTENERS") && w.contains("OUTSIDE")), "{w:?}");
    assert!(!w.iter().any(|w| w.contains("PROTOCOL_MAP")), "{w:?}");
    assert!(w.iter().any(|w| w.contains(ANN_ADDRESS)), "{w:?}");
}

#[test]
fn missing_subdomain_is_denied_unless_internal_disabled() {
    let mut pod = bare_pod("brokers-0", json!({ ANN_MODE: "nodeport" }));
    pod["spec"].as_object_mut().unwrap().remove("subdomain");
    assert!(matches!(run(&pod, &NoAddresses).unwrap_err(), MutateError::NoSubdomain { .. }));
    pod["metadata"]["annotations"][ANN_INTERNAL_LISTENER] = json!("none");
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    assert_eq!(env(&patched, "kafka", APACHE_ENV).as_deref(), Some("EXTERNAL://$(ADVERTISER_HOST_IP):31090"));
}

#[test]
fn unknown_mode_is_denied_naming_the_annotation() {
    let pod = bare_pod("brokers-0", json!({ ANN_MODE: "magic" }));
    let msg = run(&pod, &NoAddresses).unwrap_err().to_string();
    assert!(msg.contains(ANN_MODE) && msg.contains("magic"), "{msg}");
}

#[test]
fn legacy_host_ip_var_is_replaced_by_one_not_starting_with_kafka() {
    use crate::spec::settings::LEGACY_HOST_IP_ENV;
    assert!(!HOST_IP_ENV.starts_with("KAFKA_"), "apache/kafka turns KAFKA_* env into broker properties");
    // A pod admitted by an earlier release (re-invoked, or re-created from its stored spec).
    let mut pod = bare_pod("brokers-1", json!({ ANN_MODE: "nodeport" }));
    pod["spec"]["containers"][0]["env"] = json!([
        {"name": LEGACY_HOST_IP_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": APACHE_ENV, "value": "INTERNAL://x:9092,EXTERNAL://$(KAFKA_ADVERTISER_HOST_IP):31091"}
    ]);
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    let envs = env_of(&patched, "kafka");
    assert_eq!(envs.iter().map(|e| e.0).collect::<Vec<_>>(), [HOST_IP_ENV, APACHE_ENV]);
    assert!(envs[1].1.unwrap().ends_with("EXTERNAL://$(ADVERTISER_HOST_IP):31091"));
    // What it advertised under the old name is the same listener: not drift.
    assert!(crate::mutate::same_advertised(
        "INTERNAL://x:9092,EXTERNAL://$(KAFKA_ADVERTISER_HOST_IP):31091",
        "INTERNAL://x:9092,EXTERNAL://$(ADVERTISER_HOST_IP):31091"
    ));
    assert!(!crate::mutate::same_advertised("EXTERNAL://1.2.3.4:9094", "EXTERNAL://1.2.3.5:9094"));
}

#[test]
fn address_pending_denials_say_which_case_and_what_to_look_at() {
    let pod = bare_pod("brokers-1", json!({ ANN_MODE: "loadbalancer" }));
    let deny = |book: &ClusterView| match run(&pod, book) {
        Err(e @ MutateError::AddressPending { .. }) => {
            assert!(e.is_retryable());
            e.to_string()
        }
        other => panic!("expected a pending denial, got {other:?}"),
    };
    // Caches not filled yet (starting, or --standalone).
    let book = ClusterView::new();
    let m = deny(&book);
    assert!(m.contains("has not read the cluster's Services yet"), "{m}");
    // Synced, and no Service for the broker: the controller makes it, or says why on the StatefulSet.
    book.mark_synced();
    let m = deny(&book);
    assert!(m.contains("Service ns/brokers-1-external does not exist yet"), "{m}");
    assert!(m.contains("kubectl describe statefulset -n ns brokers"), "{m}");
    // The Service exists without an address.
    book.set("ns", "brokers", 1, None);
    let m = deny(&book);
    assert!(m.contains("has no status.loadBalancer.ingress yet"), "{m}");
    assert!(m.contains("kubectl describe service -n ns brokers-1-external"), "{m}");
    // The address arrives: admitted.
    book.set("ns", "brokers", 1, Some("203.0.113.7"));
    assert!(run(&pod, &book).is_ok());
    // An install scoped to other namespaces.
    let scoped = ClusterView::scoped(vec!["a".into(), "b".into()]);
    scoped.mark_synced();
    let m = deny(&scoped);
    assert!(m.contains("namespace ns is not watched by this install (--namespace a,b)"), "{m}");
}

#[test]
fn hostname_template_that_renders_to_no_dns_name_is_denied_naming_the_annotation() {
    for t in
        ["kafka {ordinal}.example.com", "a,{ordinal}", "kafka-{ordinal}.example.com:9095", "-{ordinal}.example.com"]
    {
        let pod = bare_pod("brokers-2", json!({ ANN_MODE: "hostname", ANN_HOSTNAME_TEMPLATE: t }));
        let e = run(&pod, &NoAddresses).unwrap_err().to_string();
        assert!(e.contains(ANN_HOSTNAME_TEMPLATE) && e.contains("broker 2"), "{t}: {e}");
    }
    let pod = bare_pod("brokers-2", json!({ ANN_MODE: "hostname", ANN_HOSTNAME_TEMPLATE: "b{ordinal}.example.com" }));
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    assert!(env(&patched, "kafka", APACHE_ENV).unwrap().ends_with("EXTERNAL://b2.example.com:9094"));
}

#[test]
fn both_listener_names_set_edits_the_one_the_image_reads_and_says_so() {
    let mut pod =
        bare_pod("brokers-0", json!({ ANN_MODE: "hostname", ANN_HOSTNAME_TEMPLATE: "b{ordinal}.example.com" }));
    pod["spec"]["containers"][0]["image"] = json!("bitnami/kafka:3.9");
    pod["spec"]["containers"][0]["env"] = json!([
        {"name": BITNAMI_ENV, "value": "PLAINTEXT://localhost:9092"},
        {"name": APACHE_ENV, "value": "PLAINTEXT://localhost:9092"}
    ]);
    let typed: Pod = serde_json::from_value(pod.clone()).unwrap();
    let m = mutate(&typed, RequestNames { name: "brokers-0", namespace: "ns" }, &Defaults::default(), &NoAddresses)
        .unwrap()
        .unwrap();
    assert!(m.warnings.iter().any(|w| w.contains("sets both")), "{:?}", m.warnings);
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    // Bitnami's libkafka.sh copies KAFKA_ADVERTISED_LISTENERS over KAFKA_CFG_ADVERTISED_LISTENERS.
    assert!(env(&patched, "kafka", APACHE_ENV).unwrap().contains("EXTERNAL://b0.example.com:9094"));
    assert_eq!(env(&patched, "kafka", BITNAMI_ENV).as_deref(), Some("PLAINTEXT://localhost:9092"));
}

#[test]
fn env_from_is_warned_about() {
    let mut pod =
        bare_pod("brokers-0", json!({ ANN_MODE: "hostname", ANN_HOSTNAME_TEMPLATE: "b{ordinal}.example.com" }));
    pod["spec"]["containers"][0]["envFrom"] = json!([{"configMapRef": {"name": "kafka-env"}}]);
    let typed: Pod = serde_json::from_value(pod.clone()).unwrap();
    let m = mutate(&typed, RequestNames { name: "brokers-0", namespace: "ns" }, &Defaults::default(), &NoAddresses)
        .unwrap()
        .unwrap();
    assert!(m.warnings.iter().any(|w| w.contains("envFrom")), "{:?}", m.warnings);
    // Through the webhook's decode path (PodView) too.
    let view: PodView = serde_json::from_value(pod).unwrap();
    assert_eq!(view.spec.unwrap().containers[0].env_from, 1);
}

#[test]
fn anti_affinity_selects_the_statefulsets_brokers_by_its_selector() {
    let mut pod =
        bare_pod("brokers-0", json!({ ANN_MODE: "hostname", ANN_HOSTNAME_TEMPLATE: "b{ordinal}.example.com" }));
    pod["metadata"]["labels"]["sidecar.example.com/injected"] = json!("true"); // added by a later webhook
    pod["metadata"]["labels"]["controller-revision-hash"] = json!("brokers-5d8c7");
    let term = |book: &ClusterView| {
        let (_, patched) = run(&pod, book).unwrap();
        let aa = patched.spec.unwrap().affinity.unwrap().pod_anti_affinity.unwrap();
        let t = &aa.required_during_scheduling_ignored_during_execution.unwrap()[0];
        t.label_selector.clone().unwrap().match_labels.unwrap()
    };
    // Known StatefulSet selector: exactly it.
    let book = ClusterView::new();
    book.set_selector("ns", "brokers", Some([("app".to_owned(), "broker".to_owned())].into()));
    assert_eq!(term(&book), [("app".to_owned(), "broker".to_owned())].into());
    // A selector the pod does not match is not trusted.
    book.set_selector("ns", "brokers", Some([("app".to_owned(), "other".to_owned())].into()));
    let fallback = term(&book);
    assert!(fallback.contains_key("app") && !fallback.contains_key("controller-revision-hash"), "{fallback:?}");
    // Unknown (standalone, offline): the pod's labels without the per-pod ones.
    book.set_selector("ns", "brokers", None);
    assert_eq!(term(&book), fallback);
}

#[test]
fn controller_only_kraft_pods_are_left_unchanged_with_a_warning() {
    for var in ["KAFKA_PROCESS_ROLES", "KAFKA_CFG_PROCESS_ROLES"] {
        let mut pod =
            bare_pod("quorum-0", json!({ ANN_MODE: "hostname", ANN_HOSTNAME_TEMPLATE: "q{ordinal}.example.com" }));
        pod["spec"]["containers"][0]["env"] = json!([{"name": var, "value": "controller"}]);
        let typed: Pod = serde_json::from_value(pod).unwrap();
        let m = mutate(&typed, RequestNames { name: "quorum-0", namespace: "ns" }, &Defaults::default(), &NoAddresses)
            .unwrap()
            .unwrap();
        assert!(m.patch.0.is_empty(), "{var}: {:?}", m.patch);
        assert!(m.warnings.iter().any(|w| w.contains("process.roles=controller")), "{:?}", m.warnings);
    }
    // Combined nodes are brokers too.
    let mut pod = bare_pod("kafka-0", json!({ ANN_MODE: "hostname", ANN_HOSTNAME_TEMPLATE: "k{ordinal}.example.com" }));
    pod["spec"]["containers"][0]["env"] = json!([{"name": "KAFKA_PROCESS_ROLES", "value": "controller, broker"}]);
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    assert!(env(&patched, "kafka", APACHE_ENV).is_some());
}

#[test]
fn a_node_port_held_by_another_statefulset_is_a_denial_naming_the_clash() {
    let pod = bare_pod("brokers-1", json!({ ANN_MODE: "nodeport" }));
    let book = ClusterView::new();
    book.mark_synced();
    // Our own broker's Service holding the port is no clash.
    book.set_node_port("ns", "brokers", 1, Some(31091));
    assert!(run(&pod, &book).is_ok());
    // Another StatefulSet on the same range.
    book.set_node_port("ns", "brokers", 1, None);
    book.set_node_port("other", "kafka", 1, Some(31091));
    let e = run(&pod, &book).unwrap_err();
    assert!(!e.is_retryable());
    let m = e.to_string();
    assert!(m.contains("node port 31091") && m.contains(ANN_NODE_PORT_BASE), "{m}");
    assert!(
        m.contains("another namespace") && !m.contains("other/kafka"),
        "names another namespace's StatefulSet: {m}"
    );
}

/// A generateName pod with a pod-index label but no StatefulSet owner: the message names the pod by
/// its generateName (it has no name yet), not `pod ""`.
#[test]
fn generate_name_pod_without_a_statefulset_is_named_in_the_denial() {
    let mut pod = bare_pod("x", json!({}));
    let md = pod["metadata"].as_object_mut().unwrap();
    md.remove("name");
    md.remove("ownerReferences");
    md.insert("generateName".into(), json!("ingest-"));
    md["labels"]["apps.kubernetes.io/pod-index"] = json!("3");
    let typed: Pod = serde_json::from_value(pod).unwrap();
    let err =
        mutate(&typed, RequestNames { name: "", namespace: "ns" }, &Defaults::default(), &NoAddresses).unwrap_err();
    assert!(matches!(err, MutateError::NoStatefulSet { .. }), "{err}");
    assert!(err.to_string().contains("ingest-<generated>"), "{err}");
}

/// Preview and the controller find what was edited through the mutation itself.
#[test]
fn the_mutation_names_its_container_and_variable() {
    let mut pod = bare_pod(
        "brokers-1",
        json!({ ANN_MODE: "hostname", "kafka-advertiser.io/hostname-template": "b{ordinal}.example.com" }),
    );
    pod["spec"]["containers"] = json!([
        {"name": "proxy", "image": "envoy"},
        {"name": "server", "image": "bitnami/kafka:3.9", "env": [{"name": "KAFKA_CFG_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9094"}]}
    ]);
    let (m, _) = run(&pod, &NoAddresses).unwrap();
    let m = m.unwrap();
    assert_eq!((m.container.as_str(), m.listeners_var.as_str()), ("server", "KAFKA_CFG_ADVERTISED_LISTENERS"));
}

/// pod-ip mode: the pod's own IP through a helper var (not KAFKA_*) defined before the listeners var.
#[test]
fn pod_ip_mode_advertises_the_pods_own_ip() {
    let mut pod = bare_pod("brokers-2", json!({ ANN_MODE: "pod-ip", "kafka-advertiser.io/port": "19094" }));
    pod["spec"]["containers"][0]["env"] =
        json!([{"name": "KAFKA_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:19094"}]);
    let (m, patched) = run(&pod, &NoAddresses).unwrap();
    let m = m.unwrap();
    assert_eq!(m.advertised, "INTERNAL://brokers-2.hs.ns.svc.cluster.local:9092,EXTERNAL://$(ADVERTISER_POD_IP):19094");
    let env = patched.spec.unwrap().containers[0].env.clone().unwrap();
    let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["KAFKA_LISTENERS", "ADVERTISER_POD_IP", "KAFKA_ADVERTISED_LISTENERS"]);
    assert_eq!(env[1].value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path, "status.podIP");
}

/// A pod that moves from nodeport to pod-ip (same name re-created from a changed template, or a
/// re-invocation) keeps exactly one helper: the one its mode needs.
#[test]
fn only_the_helper_of_the_mode_is_kept() {
    let mut pod = bare_pod("brokers-0", json!({ ANN_MODE: "pod-ip" }));
    pod["spec"]["containers"][0]["env"] = json!([
        {"name": "ADVERTISER_HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "KAFKA_ADVERTISED_LISTENERS", "value": "EXTERNAL://$(ADVERTISER_HOST_IP):31090"}
    ]);
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    let env = patched.spec.unwrap().containers[0].env.clone().unwrap();
    let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["ADVERTISER_POD_IP", "KAFKA_ADVERTISED_LISTENERS"]);
}

/// rack: "true" sets the broker-rack var by the listeners var's rule, from the pod's zone label
/// (or the label named by rack-label); an explicit value is replaced with a warning.
#[test]
fn rack_awareness_from_the_pods_zone_label() {
    let rack_of = |pod: &Value| -> (Vec<(String, String)>, Vec<String>) {
        let (m, patched) = run(pod, &NoAddresses).unwrap();
        let env = patched.spec.unwrap().containers[0].env.clone().unwrap();
        let racks = env
            .iter()
            .filter(|e| e.name.ends_with("BROKER_RACK"))
            .map(|e| {
                let path = e.value_from.as_ref().and_then(|v| v.field_ref.as_ref()).map(|f| f.field_path.clone());
                (e.name.clone(), path.or(e.value.clone()).unwrap_or_default())
            })
            .collect();
        (racks, m.unwrap().warnings)
    };
    let mut apache = bare_pod("brokers-0", json!({ ANN_MODE: "nodeport", "kafka-advertiser.io/rack": "true" }));
    let (racks, _) = rack_of(&apache);
    assert_eq!(racks, [("KAFKA_BROKER_RACK".to_owned(), "metadata.labels['topology.kubernetes.io/zone']".to_owned())]);

    apache["metadata"]["annotations"]["kafka-advertiser.io/rack-label"] = json!("example.com/rack");
    apache["spec"]["containers"][0]["env"] = json!([{"name": "KAFKA_BROKER_RACK", "value": "r1"}]);
    let (racks, warnings) = rack_of(&apache);
    assert_eq!(racks, [("KAFKA_BROKER_RACK".to_owned(), "metadata.labels['example.com/rack']".to_owned())]);
    assert!(warnings.iter().any(|w| w.contains("KAFKA_BROKER_RACK") && w.contains("replaced")), "{warnings:?}");

    let mut bitnami = bare_pod("brokers-1", json!({ ANN_MODE: "nodeport", "kafka-advertiser.io/rack": "true" }));
    bitnami["spec"]["containers"][0]["image"] = json!("bitnamilegacy/kafka:3.9");
    let (racks, _) = rack_of(&bitnami);
    assert_eq!(racks[0].0, "KAFKA_CFG_BROKER_RACK");

    let mut bad = bare_pod("brokers-1", json!({ ANN_MODE: "nodeport", "kafka-advertiser.io/rack-label": "a b" }));
    bad["metadata"]["annotations"]["kafka-advertiser.io/rack"] = json!("true");
    let err = run(&bad, &NoAddresses).unwrap_err().to_string();
    assert!(err.contains("kafka-advertiser.io/rack-label"), "{err}");
    // Off by default.
    let (racks, _) = rack_of(&bare_pod("brokers-1", json!({ ANN_MODE: "nodeport" })));
    assert!(racks.is_empty());
}

#[test]
fn gateway_tcp_waits_for_the_gateway_address_then_advertises_it_on_port_base_plus_ordinal() {
    let pod = bare_pod("brokers-2", json!({ ANN_MODE: "gateway-tcp", ANN_GATEWAY: "infra/shared" }));
    let book = ClusterView::new();
    book.mark_synced();
    book.set("ns", "brokers", 2, None);
    match run(&pod, &book) {
        Err(e @ MutateError::AddressPending { .. }) => {
            let m = e.to_string();
            assert!(m.contains("Gateway infra/shared has no status.addresses yet"), "{m}");
            assert!(m.contains("kubectl describe gateway -n infra shared"), "{m}");
        }
        other => panic!("expected a pending denial, got {other:?}"),
    }
    book.set("ns", "brokers", 2, Some("203.0.113.7"));
    let (_, patched) = run(&pod, &book).unwrap();
    assert!(env(&patched, "kafka", APACHE_ENV).unwrap().ends_with("EXTERNAL://203.0.113.7:9094"));
    // A set address needs no Gateway status.
    let pod = bare_pod(
        "brokers-0",
        json!({ ANN_MODE: "gateway-tcp", ANN_GATEWAY: "shared", ANN_ADDRESS: "kafka.example.com", ANN_PORT_BASE: "30000" }),
    );
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    assert!(env(&patched, "kafka", APACHE_ENV).unwrap().ends_with("EXTERNAL://kafka.example.com:30000"));
}

#[test]
fn gateway_tls_advertises_the_rendered_name_and_refuses_an_ip() {
    let ann = |t: &str| json!({ ANN_MODE: "gateway-tls", ANN_GATEWAY: "edge", ANN_GATEWAY_LISTENER: "kafka", ANN_HOSTNAME_TEMPLATE: t });
    let (_, patched) = run(&bare_pod("brokers-1", ann("b{ordinal}.example.com")), &NoAddresses).unwrap();
    assert!(env(&patched, "kafka", APACHE_ENV).unwrap().ends_with("EXTERNAL://b1.example.com:9094"));
    let e = run(&bare_pod("brokers-1", ann("10.0.0.{ordinal}")), &NoAddresses).unwrap_err().to_string();
    assert!(e.contains(ANN_HOSTNAME_TEMPLATE) && e.contains("not a valid DNS name"), "{e}");
    for missing in [ANN_GATEWAY, ANN_GATEWAY_LISTENER, ANN_HOSTNAME_TEMPLATE] {
        let mut a = ann("b{ordinal}.example.com");
        a.as_object_mut().unwrap().remove(missing);
        let e = run(&bare_pod("brokers-1", a), &NoAddresses).unwrap_err().to_string();
        assert!(e.contains(missing) && e.contains("required in gateway-tls mode"), "{missing}: {e}");
    }
}

#[test]
fn tls_issuer_mounts_the_brokers_certificate_secret_read_only() {
    let a = json!({ ANN_MODE: "shared-address", ANN_ADDRESS: "192.0.2.1", ANN_TLS_ISSUER: "Issuer/ca" });
    let (_, patched) = run(&bare_pod("brokers-4", a.clone()), &NoAddresses).unwrap();
    let spec = patched.spec.as_ref().unwrap();
    let v = spec.volumes.as_ref().unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(
        (v[0].name.as_str(), v[0].secret.as_ref().unwrap().secret_name.as_deref()),
        (TLS_VOLUME, Some("brokers-4-tls"))
    );
    let m = &spec.containers[0].volume_mounts.as_ref().unwrap()[0];
    assert_eq!((m.name.as_str(), m.mount_path.as_str(), m.read_only), (TLS_VOLUME, DEFAULT_TLS_MOUNT_PATH, Some(true)));

    // Existing volumes and mounts are kept; ours is appended (and a stale one corrected) once.
    let mut pod = bare_pod(
        "brokers-4",
        json!({ ANN_MODE: "shared-address", ANN_ADDRESS: "192.0.2.1",
        ANN_TLS_ISSUER: "ClusterIssuer/ca", ANN_TLS_MOUNT_PATH: "/opt/tls/" }),
    );
    pod["spec"]["volumes"] =
        json!([{"name": "data", "emptyDir": {}}, {"name": TLS_VOLUME, "secret": {"secretName": "old"}}]);
    pod["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "data", "mountPath": "/var/lib/kafka"}]);
    let (_, patched) = run(&pod, &NoAddresses).unwrap();
    let spec = patched.spec.as_ref().unwrap();
    let names: Vec<_> = spec.volumes.as_ref().unwrap().iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["data", TLS_VOLUME]);
    assert_eq!(
        spec.volumes.as_ref().unwrap()[1].secret.as_ref().unwrap().secret_name.as_deref(),
        Some("brokers-4-tls")
    );
    let mounts: Vec<_> = spec.containers[0]
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    assert_eq!(mounts, [("data", "/var/lib/kafka"), (TLS_VOLUME, "/opt/tls")]);

    // Another volume at that path: denied, saying what to change.
    pod["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "certs", "mountPath": "/opt/tls"}]);
    let e = run(&pod, &NoAddresses).unwrap_err().to_string();
    assert!(e.contains("\"certs\"") && e.contains(ANN_TLS_MOUNT_PATH), "{e}");
    // A bad path or issuer names its annotation.
    for (k, v) in [(ANN_TLS_MOUNT_PATH, "relative/dir"), (ANN_TLS_ISSUER, "ca"), (ANN_TLS_ISSUER, "Issuer/")] {
        let mut a = a.clone();
        a[k] = json!(v);
        let e = run(&bare_pod("brokers-4", a), &NoAddresses).unwrap_err().to_string();
        assert!(e.contains(k), "{k}={v}: {e}");
    }
}

#[test]
fn a_named_class_that_does_not_exist_is_a_denial_even_when_no_class_exists() {
    let pod = bare_pod(
        "brokers-0",
        json!({ANN_MODE: "hostname", "kafka-advertiser.io/class": "internet",
        "kafka-advertiser.io/hostname-template": "{pod}.kafka.example.com"}),
    );
    let book = ClusterView::new();
    book.mark_synced();
    let err = run(&pod, &book).unwrap_err().to_string();
    assert!(err.contains("ExternalAccessClass \"internet\"") && err.contains("does not exist"), "{err}");
    // The same pod without naming a class is admitted (open mode, no classes).
    let mut open = pod.clone();
    open["metadata"]["annotations"].as_object_mut().unwrap().remove("kafka-advertiser.io/class");
    assert!(run(&open, &book).unwrap().0.is_some());
}

#[test]
fn only_the_statefulsets_own_containers_are_edited_never_an_injected_sidecar() {
    let mut pod = bare_pod(
        "brokers-0",
        json!({ANN_MODE: "hostname", "kafka-advertiser.io/hostname-template": "{pod}.kafka.example.com"}),
    );
    pod["spec"]["containers"].as_array_mut().unwrap().push(
        json!({"name": "agent", "image": "example.com/agent", "env": [{"name": "AGENT_LISTENERS", "value": "x"}]}),
    );
    let book = ClusterView::new();
    book.mark_synced();
    book.set_template_containers("ns", "brokers", Some(vec!["kafka".into()]));
    // The tenant points the webhook at the injected agent: refused, naming the template's containers.
    let mut at_agent = pod.clone();
    at_agent["metadata"]["annotations"][ANN_CONTAINER] = json!("agent");
    at_agent["metadata"]["annotations"]["kafka-advertiser.io/env"] = json!("AGENT_LISTENERS");
    let err = run(&at_agent, &book).unwrap_err().to_string();
    assert!(
        err.contains("\"agent\" is not in StatefulSet brokers's pod template") && err.contains("one of: kafka"),
        "{err}"
    );
    // Its own container is edited; the agent is left exactly as it was.
    let (_, patched) = run(&pod, &book).unwrap();
    let agent = patched.spec.as_ref().unwrap().containers.iter().find(|c| c.name == "agent").unwrap();
    assert_eq!(serde_json::to_value(agent).unwrap(), pod["spec"]["containers"][1]);
}

#[test]
fn env_must_be_a_listeners_variable_and_certificates_stay_out_of_system_paths() {
    for (env, ok) in
        [("KAFKA_ADVERTISED_LISTENERS", true), ("MY_LISTENERS", true), ("AGENT_ENFORCE", false), ("PATH", false)]
    {
        let a = BTreeMap::from([("kafka-advertiser.io/env".to_owned(), env.to_owned())]);
        let got = Settings::from_annotations(&a, &Defaults::default());
        assert_eq!(got.is_ok(), ok, "{env}: {got:?}");
    }
    for (path, ok) in [
        ("/etc/kafka/tls", true),
        ("/opt/certs", true),
        ("/etc/ssl/certs", false),
        ("/etc/ssl", false),
        ("/var/run/secrets/kubernetes.io", false),
        ("/etc/sslx", true),
        ("/proc", false),
        // Cleaned as the runtime cleans a mount path before the deny-list is read (N7).
        ("//etc/ssl/certs", false),
        ("/etc/./ssl/certs", false),
        ("/var/run/./secrets/kubernetes.io/serviceaccount", false),
        ("/etc//kafka/./tls/", true),
        ("/./", false),
        ("/opt/../etc/ssl", false),
    ] {
        let a = BTreeMap::from([
            ("kafka-advertiser.io/tls-issuer".to_owned(), "Issuer/ca".to_owned()),
            ("kafka-advertiser.io/tls-mount-path".to_owned(), path.to_owned()),
        ]);
        let got = Settings::from_annotations(&a, &Defaults::default());
        assert_eq!(got.is_ok(), ok, "{path}: {got:?}");
    }
}

/// What Kafka refuses beyond the listener names: a name declared twice, and (apache/kafka rules) no
/// server setting but the advertised listeners, which costs the image its default config. JVM
/// settings are not server settings; envFrom may hold some, and Bitnami has its own defaults.
#[test]
fn duplicate_listener_names_and_no_server_settings_are_warned_about() {
    let warnings = |image: &str, env: Value, env_from: bool| {
        let mut pod =
            bare_pod("kafka-0", json!({ ANN_MODE: "hostname", ANN_HOSTNAME_TEMPLATE: "k{ordinal}.example.com" }));
        pod["spec"]["containers"][0]["image"] = json!(image);
        pod["spec"]["containers"][0]["env"] = env;
        if env_from {
            pod["spec"]["containers"][0]["envFrom"] = json!([{"configMapRef": {"name": "kafka"}}]);
        }
        run(&pod, &NoAddresses).unwrap().0.unwrap().warnings
    };
    let bare = "sets no KAFKA_* server setting";
    for env in
        [json!([]), json!([{"name": "KAFKA_HEAP_OPTS", "value": "-Xmx1g"}, {"name": "CLUSTER_ID", "value": "x"}])]
    {
        let w = warnings("apache/kafka:4.1.1", env.clone(), false);
        assert!(w.iter().any(|w| w.contains(bare) && w.contains("Kafka refuses to start")), "{env}: {w:?}");
        assert!(!warnings("apache/kafka:4.1.1", env.clone(), true).iter().any(|w| w.contains(bare)), "envFrom");
        assert!(!warnings("bitnamilegacy/kafka:3.9.0", env, false).iter().any(|w| w.contains(bare)), "Bitnami");
    }
    let w = warnings("apache/kafka:4.1.1", json!([{"name": "KAFKA_NODE_ID", "value": "0"}]), false);
    assert!(!w.iter().any(|w| w.contains(bare)), "{w:?}");

    let listeners = |v: &str| json!([{"name": "KAFKA_LISTENERS", "value": v}]);
    let w = warnings("apache/kafka:4.1.1", listeners("INTERNAL://:9092,EXTERNAL://:9094,external://:9095"), false);
    assert!(w.iter().any(|w| w.contains("declares the listener EXTERNAL twice; Kafka refuses to start")), "{w:?}");
    let w = warnings("apache/kafka:4.1.1", listeners("INTERNAL://:9092,EXTERNAL://:9094"), false);
    assert!(!w.iter().any(|w| w.contains("twice")), "{w:?}");
    // A listener the user advertises (kept as it was) that KAFKA_LISTENERS does not declare.
    let undeclared = |env: Value| {
        warnings("apache/kafka:4.1.1", env, false)
            .into_iter()
            .filter(|w| w.contains("which its advertised"))
            .collect::<Vec<_>>()
    };
    let w = undeclared(json!([{"name": "KAFKA_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9094"},
        {"name": "KAFKA_ADVERTISED_LISTENERS", "value": "PLAINTEXT://localhost:9092"}]));
    assert!(w.len() == 1 && w[0].contains("the listener PLAINTEXT") && w[0].contains("Kafka refuses"), "{w:?}");
    assert_eq!(crate::controller::template_check::warning_reason(&w[0]), "ListenerNotDeclared");
    for ok in [
        json!([{"name": "KAFKA_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9094"},
            {"name": "KAFKA_ADVERTISED_LISTENERS", "value": "internal://kafka-0.kafka-hs:9092"}]),
        json!([{"name": "KAFKA_LISTENERS", "value": "$(LISTENERS)"},
            {"name": "KAFKA_ADVERTISED_LISTENERS", "value": "PLAINTEXT://localhost:9092"}]),
    ] {
        assert!(undeclared(ok.clone()).is_empty(), "{ok}");
    }
    let reasons: Vec<&str> = warnings("apache/kafka:4.1.1", json!([]), false)
        .iter()
        .map(|w| crate::controller::template_check::warning_reason(w))
        .collect();
    assert!(reasons.contains(&"NoServerSettings"), "{reasons:?}");
}

/// A bare pod (no StatefulSet the view knows) is not refused for being bare (N7): the container
/// the webhook edits must be one of the pod's own, and only that container is edited.
#[test]
fn a_bare_pod_edits_only_a_container_it_has() {
    let mut pod = bare_pod(
        "x-0",
        json!({ ANN_MODE: "hostname", ANN_HOSTNAME_TEMPLATE: "{pod}.example.com",
        ANN_CONTAINER: "agent" }),
    );
    pod["metadata"].as_object_mut().unwrap().remove("ownerReferences");
    pod["spec"]["containers"] =
        json!([{"name": "kafka", "image": "apache/kafka"}, {"name": "agent", "image": "example.com/agent"}]);
    let (m, patched) = run(&pod, &NoAddresses).unwrap();
    assert_eq!(m.unwrap().container, "agent");
    let containers = patched.spec.unwrap().containers;
    assert!(containers[0].env.is_none(), "the other container is left as it was");
    assert!(containers[1]
        .env
        .as_ref()
        .unwrap()
        .iter()
        .any(|e| e.value.as_deref().is_some_and(|v| v.contains("x-0.example.com"))));
    pod["spec"]["containers"] = json!([{"name": "kafka", "image": "apache/kafka"}]);
    let err = run(&pod, &NoAddresses).unwrap_err();
    assert!(matches!(err, MutateError::ContainerNotFound { .. }), "{err}");
}

/// Granting `service-annotations` is judged at admission too (N5b): a broker whose Services the
/// class refuses is not admitted either.
#[test]
fn service_annotations_the_class_refuses_deny_the_broker() {
    let view = ClusterView::new();
    let class = crate::spec::class::Class::from_value(&json!({"metadata": {"name": "lan", "annotations": {
        "kafka-advertiser.io/is-default-class": "true"}}, "spec": {"settings": {"mode": "shared-address"},
        "tenantSettings": ["address", "service-annotations"], "addressRanges": ["203.0.113.0/24"]}}))
    .unwrap();
    view.set_classes(vec![Arc::new(class)]);
    view.set_namespace_labels("ns", Some(Default::default()));
    let pod = |annotations: &str| {
        bare_pod(
            "brokers-0",
            json!({ ANN_ADDRESS: "203.0.113.5", "kafka-advertiser.io/service-annotations": annotations }),
        )
    };
    assert!(run(&pod(r#"{"prometheus.io/scrape": "true"}"#), &view).is_ok());
    let err = run(&pod(r#"{"metallb.io/loadBalancerIPs": "198.51.100.7"}"#), &view).unwrap_err();
    assert!(err.to_string().contains("198.51.100.7") && err.to_string().contains("ExternalAccessClass lan"), "{err}");
}

mod pending;
