//! What a StatefulSet can make the controller and the webhook allocate: the broker cap
//! (`--max-brokers`, a class's `maxBrokers`) and the cost of parsing its Service-only maps.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use crate::controller::observe::Observed;
use crate::controller::plan::tests::plan_in;
use crate::controller::plan::ProblemSet;
use crate::mutate::{mutate, ClusterView, Defaults, MutateError, RequestNames};
use crate::spec::class::Class;
use crate::spec::TooManyBrokers;

fn sts(replicas: i32, annotations: Value) -> k8s_openapi::api::apps::v1::StatefulSet {
    crate::controller::tests::statefulset(replicas, annotations)
}

fn warnings(p: &crate::controller::plan::Plan) -> Vec<(&'static str, String)> {
    let template =
        p.problems.iter().find(|(set, _)| *set == ProblemSet::Template).map(|(_, n)| n.clone()).unwrap_or_default();
    template.into_iter().map(|n| (n.reason, n.note)).collect()
}

#[test]
fn a_huge_replica_count_builds_only_the_capped_brokers_and_says_so() {
    let s = sts(100_000, json!({}));
    let d = crate::testing::desired(&s, &Defaults::default()).unwrap();
    assert_eq!(d.services.len(), 256, "one Service per broker up to --max-brokers");
    assert_eq!(d.ordinals(), 0..256);
    assert_eq!(d.over_cap(), Some(TooManyBrokers { requested: 100_000, cap: 256 }));
    let p = plan_in(
        &Observed::new(Arc::new(s), &Defaults::default(), &ClusterView::new()),
        &Defaults::default(),
        &ClusterView::new(),
    );
    let services = p.apply.iter().filter(|a| a.kind == crate::controller::kinds::Kind::Service).count();
    assert_eq!(services, 256);
    let w = warnings(&p);
    let (_, note) = w.iter().find(|(r, _)| *r == "TooManyBrokers").expect("a TooManyBrokers Warning");
    assert!(note.contains("spec.replicas is 100000") && note.contains("--max-brokers"), "{note}");
    // Within the cap: no Warning.
    let p = plan_in(
        &Observed::new(Arc::new(sts(3, json!({}))), &Defaults::default(), &ClusterView::new()),
        &Defaults::default(),
        &ClusterView::new(),
    );
    assert!(warnings(&p).iter().all(|(r, _)| *r != "TooManyBrokers"));
}

#[test]
fn a_class_lowers_the_cap_and_never_raises_it() {
    let class = |max: u32| {
        Arc::new(
            Class::from_value(
                &json!({"metadata": {"name": "small"}, "spec": {"maxBrokers": max, "tenantSettings": ["mode"]}}),
            )
            .unwrap(),
        )
    };
    let d = Defaults { max_brokers: 10, ..Defaults::default() };
    assert_eq!(d.broker_cap(Some(&class(3))), 3);
    assert_eq!(d.broker_cap(Some(&class(50))), 10);
    assert_eq!(d.broker_cap(None), 10);
    let book = ClusterView::new();
    book.set_classes(vec![class(3)]);
    let s = sts(5, json!({"kafka-advertiser.io/class": "small"}));
    let p = plan_in(&Observed::new(Arc::new(s), &Defaults::default(), &book), &Defaults::default(), &book);
    let services: Vec<&str> =
        p.apply.iter().filter(|a| a.kind == crate::controller::kinds::Kind::Service).map(|a| a.name.as_str()).collect();
    assert_eq!(services, ["kafka-0-external", "kafka-1-external", "kafka-2-external"]);
    assert!(warnings(&p).iter().any(|(r, n)| *r == "TooManyBrokers" && n.contains("cap of 3")), "{:?}", warnings(&p));
}

fn pod(ordinal: u32) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("kafka-{ordinal}"), "namespace": "streaming",
            "labels": {"kafka-advertiser.io/enabled": "true", "apps.kubernetes.io/pod-index": ordinal.to_string()},
            "annotations": {"kafka-advertiser.io/mode": "hostname",
                "kafka-advertiser.io/hostname-template": "{pod}.kafka.example.com"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "kafka", "uid": "u", "controller": true}]},
        "spec": {"hostname": format!("kafka-{ordinal}"), "subdomain": "kafka-headless",
            "containers": [{"name": "kafka", "image": "apache/kafka:4.1.1"}]}
    }))
    .unwrap()
}

#[test]
fn the_webhook_refuses_brokers_past_the_cap_and_keeps_the_ones_below() {
    let book = ClusterView::new();
    book.mark_synced();
    book.set_ordinal_start("streaming", "kafka", Some(10));
    let d = Defaults { max_brokers: 4, ..Defaults::default() };
    let names = |n: &'static str| RequestNames { name: n, namespace: "streaming" };
    for (ordinal, name) in [(10, "kafka-10"), (13, "kafka-13")] {
        assert!(mutate(&pod(ordinal), names(name), &d, &book).unwrap().is_some(), "broker {ordinal}");
    }
    let err = mutate(&pod(14), names("kafka-14"), &d, &book).unwrap_err();
    assert!(matches!(err, MutateError::TooManyBrokers { ordinal: 14, start: 10, cap: 4 }), "{err:?}");
    assert_eq!(err.reason(), "too_many_brokers");
    let msg = err.to_string();
    assert!(
        msg.contains("past the cap of 4") && msg.contains("ordinals 10 to 13") && msg.contains("--max-brokers"),
        "{msg}"
    );
    // A StatefulSet the view does not know yet is not guessed at.
    let unknown = ClusterView::new();
    unknown.mark_synced();
    assert!(mutate(&pod(14), names("kafka-14"), &d, &unknown).unwrap().is_some());
}

#[test]
fn service_maps_refuse_yaml_anchors_and_aliases() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b]";
    let alias = "a: &v value\nb: *v";
    for v in [bomb, alias] {
        let s = sts(1, json!({"kafka-advertiser.io/service-annotations": v}));
        let e = crate::testing::desired(&s, &Defaults::default()).unwrap_err().to_string();
        assert!(
            e.contains("kafka-advertiser.io/service-annotations") && e.contains("expected a YAML or JSON map"),
            "{e}"
        );
    }
    let ok = sts(1, json!({"kafka-advertiser.io/service-annotations": "team: streaming\n\"x.io/y\": \"{ordinal}\""}));
    let d = crate::testing::desired(&ok, &Defaults::default()).unwrap();
    assert_eq!(d.service.annotations.len(), 2);
}

#[test]
fn the_service_cache_drops_large_foreign_annotations_and_keeps_what_is_read() {
    use crate::controller::address_feed::{slim_service, CACHED_ANNOTATION_MAX};
    let mut svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"name": "junk-1", "annotations": {
            "junk": "x".repeat(250_000),
            "kafka-advertiser.io/intent": "0123456789abcdef",
            "external-dns.alpha.kubernetes.io/hostname": "kafka-0.example.com"},
            "managedFields": [{"manager": "kubectl"}]}
    }))
    .unwrap();
    slim_service(&mut svc);
    let a = svc.metadata.annotations.as_ref().unwrap();
    assert!(!a.contains_key("junk"));
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(svc.metadata.managed_fields.is_none());
    // Many small ones past the total: only the ones read are kept.
    let many: serde_json::Map<String, Value> =
        (0..100).map(|i| (format!("k{i}"), json!("y".repeat(CACHED_ANNOTATION_MAX)))).collect();
    let mut svc: k8s_openapi::api::core::v1::Service =
        serde_json::from_value(json!({"metadata": {"name": "junk-2", "annotations": many}})).unwrap();
    svc.metadata.annotations.as_mut().unwrap().insert("kafka-advertiser.io/address-type".into(), "ip".into());
    slim_service(&mut svc);
    assert_eq!(svc.metadata.annotations.unwrap().keys().collect::<Vec<_>>(), ["kafka-advertiser.io/address-type"]);
}

#[test]
fn the_webhook_reads_a_statefulset_without_building_its_template() {
    use crate::controller::webhook_watches::SlimStatefulSet;
    let mut v = serde_json::to_value(sts(3, json!({}))).unwrap();
    v["spec"]["ordinals"] = json!({"start": 5});
    v["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("x".repeat(1 << 20));
    let slim: SlimStatefulSet = serde_json::from_value(v).unwrap();
    let s = slim.into_statefulset();
    let book = ClusterView::new();
    crate::controller::address_feed::publish_selector(&book, &s, false, &Defaults::default());
    use crate::mutate::ClusterLookup;
    assert_eq!(book.ordinal_start("streaming", "kafka"), Some(5));
    assert_eq!(book.template_containers("streaming", "kafka").unwrap().to_vec(), ["kafka"]);
    assert_eq!(book.selector("streaming", "kafka").unwrap().get("app").map(String::as_str), Some("kafka"));
    let c = &s.spec.unwrap().template.spec.unwrap().containers[0];
    assert!(c.env.is_none(), "nothing of the template but container names");
}

/// N6: a Service anyone labels as a broker's gives no address; only the one the controller names
/// for that broker, owned by the pod's StatefulSet, does. An owner reference alone (anyone may set
/// one) is not enough: the name is what makes it safe; and a right name without the owner neither.
#[test]
fn only_the_brokers_own_service_gives_it_an_address() {
    use k8s_openapi::api::core::v1::Service;
    let svc = |name: &str, owner_uid: Option<&str>, ip: &str, extra: Value| -> Service {
        let mut v = json!({"metadata": {"name": name, "namespace": "streaming",
            "labels": {"app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/role": "broker",
                "kafka-advertiser.io/statefulset": "kafka", "kafka-advertiser.io/ordinal": "0"}},
            "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}});
        if let Some(uid) = owner_uid {
            v["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "kafka", "uid": uid, "controller": true}]);
        }
        json_patch::merge(&mut v, &extra);
        serde_json::from_value(v).unwrap()
    };
    let pod = || -> Pod {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "kafka-0", "namespace": "streaming",
                "labels": {"kafka-advertiser.io/enabled": "true", "apps.kubernetes.io/pod-index": "0"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "kafka", "uid": "sts-uid", "controller": true}]},
            "spec": {"hostname": "kafka-0", "subdomain": "kafka-headless",
                "containers": [{"name": "kafka", "image": "apache/kafka:4.1.1"}]}}))
        .unwrap()
    };
    let names = RequestNames { name: "kafka-0", namespace: "streaming" };
    let advertised = |book: &ClusterView| -> Result<String, String> {
        match mutate(&pod(), names, &Defaults::default(), book) {
            Ok(Some(m)) => Ok(m.advertised),
            Ok(None) => Err("untouched".into()),
            Err(e) => Err(e.to_string()),
        }
    };
    let book = ClusterView::new();
    book.mark_synced();
    // Forged: right labels, the StatefulSet's UID, a wrong name; and the right name, no owner.
    crate::controller::address_feed::apply(&book, &svc("evil", Some("sts-uid"), "192.0.2.66", json!({})), false);
    crate::controller::address_feed::apply(&book, &svc("kafka-0-external", None, "192.0.2.67", json!({})), false);
    let e = advertised(&book).unwrap_err();
    assert!(e.contains("kafka-0-external") && e.contains("does not exist yet"), "{e}");
    // A gateway-address on a ClusterIP Service claiming the broker, in loadbalancer mode: not read either.
    let gw = json!({"metadata": {"annotations": {"kafka-advertiser.io/gateway-address": "192.0.2.68"}}, "spec": {"type": "ClusterIP"}});
    crate::controller::address_feed::apply(&book, &svc("kafka-0-external-x", Some("sts-uid"), "192.0.2.69", gw), false);
    assert!(advertised(&book).is_err());
    // The broker's own Service: its address, whatever the others say.
    crate::controller::address_feed::apply(
        &book,
        &svc("kafka-0-external", Some("sts-uid"), "203.0.113.10", json!({})),
        false,
    );
    let a = advertised(&book).unwrap();
    assert!(a.contains("203.0.113.10") && !a.contains("192.0.2."), "{a}");
    // The forged one deleted or not, the real one deleted: waits again.
    crate::controller::address_feed::apply(
        &book,
        &svc("kafka-0-external", Some("sts-uid"), "203.0.113.10", json!({})),
        true,
    );
    assert!(advertised(&book).is_err());
}

#[test]
fn cached_pods_configmaps_and_routes_keep_what_is_read_and_no_tenants_large_strings() {
    use crate::controller::watches::{slim_configmap, slim_dynamic, slim_pod};
    // A broker pod with a 1 MB env value, a long command and a large foreign annotation.
    let mut v = serde_json::to_value(pod(0)).unwrap();
    v["metadata"]["annotations"]["junk"] = json!("z".repeat(200_000));
    v["spec"]["containers"][0]["env"] = json!([{"name": "BIG", "value": "y".repeat(1 << 20)},
        {"name": "KAFKA_ADVERTISED_LISTENERS", "value": "EXTERNAL://kafka-0.kafka.example.com:9094"}]);
    v["spec"]["containers"][0]["command"] = json!(["sh", "-c", "x".repeat(100_000)]);
    v["spec"]["initContainers"] = json!([{"name": "init", "image": "i", "args": ["a".repeat(100_000)]}]);
    let full: Pod = serde_json::from_value(v).unwrap();
    let mut slim = full.clone();
    slim_pod(&mut slim);
    let size = |p: &Pod| serde_json::to_vec(p).unwrap().len();
    assert!(size(&slim) < 8 * 1024, "{} bytes kept", size(&slim));
    // The drift check's mutation reads the same from both.
    let names = RequestNames { name: "kafka-0", namespace: "streaming" };
    let book = ClusterView::new();
    let advertised = |p: &Pod| mutate(p, names, &Defaults::default(), &book).unwrap().unwrap().advertised;
    assert_eq!(advertised(&slim), advertised(&full));
    assert!(slim.metadata.annotations.as_ref().unwrap().keys().all(|k| k.starts_with("kafka-advertiser.io/")));

    let mut cm: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "junk"}, "data": {"a": "b".repeat(1 << 20)}})).unwrap();
    slim_configmap(&mut cm);
    assert_eq!(cm.data.map(|d| d.len()), Some(0));
    let mut small: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "kafka-external-bootstrap"}, "data": {"bootstrap": "h:1"}}))
            .unwrap();
    slim_configmap(&mut small);
    assert_eq!(small.data.unwrap()["bootstrap"], "h:1", "ours stays whole");

    let mut route: kube::api::DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "X",
        "metadata": {"name": "r"}, "spec": {"hostnames": vec!["h".repeat(1000); 200]}}))
    .unwrap();
    slim_dynamic(&mut route);
    assert_eq!(route.data, json!({}));
}
