//! Reconciler tests against a fake API server ([`fake_api`]); tests assert the exact writes.

mod bounds;
pub(crate) mod fake_api;

pub(crate) use crate::controller::discovery::tests::endpoints_of;
pub(crate) use fake_api::*;

use std::collections::BTreeMap;
use std::sync::Arc;

use http::Method;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use crate::controller::reconcile::reconcile;
use crate::mutate::Defaults;
use crate::names::{ANN_ADDRESSES_READY, ANN_EXTERNAL_BOOTSTRAP};

#[tokio::test]
async fn scale_up_applies_one_service_per_broker_with_ssa() {
    let s = setup(World::default(), true, vec![]);
    let sts = Arc::new(statefulset(3, json!({})));
    reconcile(sts, s.ctx.clone()).await.unwrap();
    assert_eq!(s.metrics.managed_services.get(), 3);
    assert_eq!(s.metrics.brokers_waiting.get(), 3);
    let calls = s.fake.finish(s.ctx).await;
    assert_eq!(
        writes(&calls),
        [
            "PATCH services/kafka-0-external",
            "PATCH services/kafka-1-external",
            "PATCH services/kafka-2-external",
            "PATCH configmaps/kafka-external-bootstrap",
            "POST event ServiceCreated",
            "POST event ServiceCreated",
            "POST event ServiceCreated",
        ]
    );
    let cm = calls
        .iter()
        .find(|c| c.method == Method::PATCH && c.path.ends_with("/configmaps/kafka-external-bootstrap"))
        .unwrap();
    assert_eq!(cm.body["data"], json!({"bootstrap.servers": ""}), "written before any address, so mounts work");
    assert_eq!(cm.body["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
    // Names missing from the cache are read once each: someone else may hold them.
    let reads: Vec<&str> = calls.iter().filter(|c| c.method == Method::GET).map(|c| c.path.as_str()).collect();
    // (and the discovery ConfigMap's: one someone else made is not taken over)
    assert_eq!(reads.len(), 4, "{reads:?}");
    assert!(reads.iter().any(|r| r.ends_with("/configmaps/kafka-external-bootstrap")), "{reads:?}");
    for (i, patch) in calls.iter().filter(|c| c.method == Method::PATCH && c.path.contains("/services/")).enumerate() {
        assert!(
            patch.query.contains("fieldManager=kafka-advertiser") && patch.query.contains("force=true"),
            "{}",
            patch.query
        );
        let b = &patch.body;
        assert_eq!(b["apiVersion"], "v1");
        assert_eq!(b["kind"], "Service");
        assert_eq!(b["spec"]["type"], "LoadBalancer");
        assert_eq!(b["spec"]["externalTrafficPolicy"], "Local");
        assert_eq!(b["spec"]["selector"]["statefulset.kubernetes.io/pod-name"], format!("kafka-{i}"));
        assert_eq!(b["spec"]["ports"][0]["port"], 9094);
        assert_eq!(b["spec"]["ports"][0]["targetPort"], 9095, "target = the container port named external");
        assert_eq!(b["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kafka-advertiser");
        assert_eq!(b["metadata"]["labels"]["kafka-advertiser.io/ordinal"], i.to_string());
        let owner = &b["metadata"]["ownerReferences"][0];
        assert_eq!(
            (owner["kind"].as_str(), owner["name"].as_str(), owner["uid"].as_str()),
            (Some("StatefulSet"), Some("kafka"), Some("sts-uid"))
        );
        assert_eq!(owner["controller"], true);
    }
}

#[tokio::test]
async fn follower_never_writes() {
    let s = setup(World::default(), false, vec![]);
    reconcile(Arc::new(statefulset(3, json!({}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert!(calls.is_empty(), "{calls:?}");
}

#[tokio::test]
async fn scale_down_deletes_services_above_the_range_and_nudges_when_all_addresses_exist() {
    let world = World {
        managed: vec![
            managed_service(0, Some("203.0.113.10")),
            managed_service(1, Some("203.0.113.11")),
            managed_service(2, None),
        ],
        ..Default::default()
    };
    let s = setup(world, true, vec![]);
    reconcile(Arc::new(statefulset(1, json!({}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert_eq!(
        writes(&calls),
        [
            "PATCH services/kafka-0-external",
            "PATCH configmaps/kafka-external-bootstrap",
            "PATCH statefulsets/kafka",
            "DELETE services/kafka-1-external",
            "DELETE services/kafka-2-external",
            "POST event AddressAssigned",
            "POST event ServiceDeleted",
            "POST event ServiceDeleted",
        ]
    );
    let nudge = calls.iter().find(|c| c.path.ends_with("/statefulsets/kafka")).unwrap();
    assert!(nudge.query.contains("fieldManager=kafka-advertiser"));
    assert!(nudge.body["metadata"]["annotations"][ANN_ADDRESSES_READY].is_string());
    assert_eq!(nudge.body["metadata"]["annotations"][ANN_EXTERNAL_BOOTSTRAP], "203.0.113.10:9094");
    assert!(nudge.body.get("spec").is_none(), "the nudge must not touch the pod template");
}

#[tokio::test]
async fn nudge_is_not_repeated_for_the_same_addresses() {
    let world = World { managed: vec![managed_service(0, Some("203.0.113.10"))], ..Default::default() };
    let s = setup(world, true, vec![]);
    let mut sts = statefulset(1, json!({}));
    let addrs = BTreeMap::from([(0u32, "203.0.113.10".to_owned())]);
    let d = crate::testing::desired(&sts, &Defaults::default()).unwrap();
    let endpoints = endpoints_of(&d, &addrs, &BTreeMap::new());
    let bootstrap = super::discovery::external_bootstrap(&d, &endpoints).unwrap();
    assert_eq!(bootstrap, "203.0.113.10:9094");
    sts.metadata.annotations = Some(BTreeMap::from([
        (ANN_ADDRESSES_READY.to_owned(), super::plan::addresses_hash(&addrs)),
        (ANN_EXTERNAL_BOOTSTRAP.to_owned(), bootstrap),
    ]));
    reconcile(Arc::new(sts), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert!(!writes(&calls).iter().any(|w| w.contains("statefulsets")), "{:?}", writes(&calls));
}

#[tokio::test]
async fn retain_services_keeps_them_on_scale_down() {
    let world = World { managed: vec![managed_service(0, None), managed_service(1, None)], ..Default::default() };
    let s = setup(world, true, vec![]);
    reconcile(Arc::new(statefulset(1, json!({"kafka-advertiser.io/retain-services": "true"}))), s.ctx.clone())
        .await
        .unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert_eq!(writes(&calls), ["PATCH services/kafka-0-external", "PATCH configmaps/kafka-external-bootstrap"]);
}

#[tokio::test]
async fn a_foreign_service_with_our_name_is_not_taken_over() {
    let mut world = World::default();
    world.others.insert(
        "kafka-0-external".into(),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kafka-0-external", "namespace": "streaming"}, "spec": {}}),
    );
    let s = setup(world, true, vec![]);
    reconcile(Arc::new(statefulset(1, json!({}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert_eq!(writes(&calls), ["PATCH configmaps/kafka-external-bootstrap", "POST event ServiceConflict"]);
    let ev = calls.iter().find(|c| c.path.ends_with("/events")).unwrap();
    assert_eq!(ev.body["type"], "Warning");
    assert_eq!(ev.body["regarding"]["kind"], "StatefulSet");
}

/// Two StatefulSets whose name templates render the same Service name: the second does not take the
/// first one's Service (no tug-of-war of selector and owner on every reconcile).
#[tokio::test]
async fn another_statefulsets_service_with_our_name_is_not_taken_over() {
    let mut world = World::default();
    world.others.insert(
        "kafka-0-external".into(),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kafka-0-external", "namespace": "streaming",
            "labels": {"app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/statefulset": "billing"}}, "spec": {}}),
    );
    let s = setup(world, true, vec![]);
    reconcile(Arc::new(statefulset(1, json!({}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert_eq!(writes(&calls), ["PATCH configmaps/kafka-external-bootstrap", "POST event ServiceConflict"]);
    let ev = calls.iter().find(|c| c.path.ends_with("/events")).unwrap();
    assert!(ev.body["note"].as_str().unwrap().contains("belongs to StatefulSet billing"), "{}", ev.body);
}

/// No adoption: a ConfigMap of the discovery name that someone else made (labelled as ours, even) is
/// neither written nor, on opt-out, deleted; a Service labelled as ours without the owner reference
/// (left from an earlier StatefulSet of the name, or forged) is not taken over either.
#[tokio::test]
async fn objects_not_made_for_this_statefulset_are_never_written_nor_deleted() {
    let forged = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kafka-external-bootstrap", "namespace": "streaming",
            "labels": {"app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/statefulset": "kafka"}},
        "data": {"bootstrap.servers": "evil.example.com:9094"}});
    let mut world = World { configmaps: vec![forged.clone()], ..World::default() };
    world.others.insert("kafka-external-bootstrap".into(), forged);
    let mut orphan = managed_service(0, Some("203.0.113.10"));
    orphan["metadata"].as_object_mut().unwrap().remove("ownerReferences");
    world.others.insert("kafka-0-external".into(), orphan);
    let s = setup(world, true, vec![]);
    reconcile(Arc::new(statefulset(1, json!({}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert_eq!(writes(&calls), ["POST event OwnershipConflict", "POST event ServiceConflict"]);
    let notes: Vec<String> =
        calls.iter().filter(|c| c.path.ends_with("/events")).map(|c| c.body["note"].to_string()).collect();
    assert!(notes[0].contains("ConfigMap kafka-external-bootstrap exists"), "{notes:?}");
    // Related to the object in question, so each conflicting object has an Event of its own.
    let related = &calls.iter().find(|c| c.path.ends_with("/events")).unwrap().body["related"];
    assert_eq!(
        (related["kind"].as_str(), related["name"].as_str()),
        (Some("ConfigMap"), Some("kafka-external-bootstrap"))
    );
    assert!(notes[1].contains("was not made for it"), "{notes:?}");

    // Opting out deletes only what is ours: the forged ConfigMap stays.
    let forged = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kafka-external-bootstrap", "namespace": "streaming",
            "labels": {"app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/statefulset": "kafka"}},
        "data": {}});
    let s = setup(World { configmaps: vec![forged], ..World::default() }, true, vec![]);
    let mut sts = statefulset(1, json!({"kafka-advertiser.io/mode": "pod-ip"}));
    let tpl = sts.spec.as_mut().unwrap().template.metadata.as_mut().unwrap();
    tpl.labels.as_mut().unwrap().remove("kafka-advertiser.io/enabled");
    reconcile(Arc::new(sts), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert!(writes(&calls).is_empty(), "{:?}", writes(&calls));
}

#[test]
fn the_nudge_hash_depends_only_on_the_addresses() {
    let a = BTreeMap::from([(0, "203.0.113.10".to_owned()), (1, "203.0.113.11".to_owned())]);
    // FNV-1a of "0=203.0.113.10;1=203.0.113.11;", the same on every build and replica.
    assert_eq!(super::plan::addresses_hash(&a), "e1cc5438325ecaa9");
    let b = BTreeMap::from([(0, "203.0.113.10".to_owned()), (1, "203.0.113.12".to_owned())]);
    assert_ne!(super::plan::addresses_hash(&a), super::plan::addresses_hash(&b));
    let c = BTreeMap::from([(0, "203.0.113.1".to_owned()), (10, "203.0.113.11".to_owned())]);
    assert_ne!(super::plan::addresses_hash(&a), super::plan::addresses_hash(&c));
}

#[tokio::test]
async fn invalid_settings_emit_a_warning_and_write_nothing() {
    let s = setup(World::default(), true, vec![]);
    reconcile(Arc::new(statefulset(1, json!({"kafka-advertiser.io/port": "x"}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert_eq!(writes(&calls), ["POST event InvalidSettings"]);
    assert!(calls[0].body["note"].as_str().unwrap().contains("kafka-advertiser.io/port"));
}

#[tokio::test]
async fn opted_out_statefulset_loses_its_services() {
    let world = World { managed: vec![managed_service(0, None)], ..Default::default() };
    let s = setup(world, true, vec![]);
    let mut sts = statefulset(1, json!({}));
    let tpl = sts.spec.as_mut().unwrap().template.metadata.as_mut().unwrap();
    tpl.labels.as_mut().unwrap().remove("kafka-advertiser.io/enabled");
    reconcile(Arc::new(sts), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert_eq!(writes(&calls), ["DELETE services/kafka-0-external", "POST event ServiceDeleted"]);
}

fn discovery(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kafka-external-bootstrap", "namespace": "streaming",
            "labels": {"app.kubernetes.io/managed-by": "kafka-advertiser", "kafka-advertiser.io/statefulset": "kafka"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "kafka", "uid": "sts-uid", "controller": true}]},
        "data": data})
}

/// Opting out also removes the client-discovery ConfigMap (pod-ip mode: no Services at all).
#[tokio::test]
async fn opted_out_statefulset_loses_its_discovery_configmap() {
    let world =
        World { configmaps: vec![discovery(json!({"bootstrap.servers": "10.1.0.7:9094"}))], ..Default::default() };
    let s = setup(world, true, vec![]);
    let mut sts = statefulset(1, json!({"kafka-advertiser.io/mode": "pod-ip"}));
    let tpl = sts.spec.as_mut().unwrap().template.metadata.as_mut().unwrap();
    tpl.labels.as_mut().unwrap().remove("kafka-advertiser.io/enabled");
    reconcile(Arc::new(sts), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert_eq!(writes(&calls), ["DELETE configmaps/kafka-external-bootstrap"]);
}

/// The ConfigMap lists every known broker and is written only when that changes.
#[tokio::test]
async fn the_discovery_configmap_lists_known_brokers_and_is_rewritten_only_on_change() {
    let world = || World {
        managed: vec![managed_service(0, Some("203.0.113.10")), managed_service(1, None)],
        ..Default::default()
    };
    let s = setup(world(), true, vec![]);
    reconcile(Arc::new(statefulset(2, json!({}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    let cm = calls
        .iter()
        .find(|c| c.method == Method::PATCH && c.path.ends_with("/configmaps/kafka-external-bootstrap"))
        .unwrap();
    let want = json!({"bootstrap.servers": "203.0.113.10:9094", "broker.0": "203.0.113.10:9094"});
    assert_eq!(cm.body["data"], want);
    assert!(cm.query.contains("fieldManager=kafka-advertiser"));

    // The cache holds what was applied: nothing to send. (A ConfigMap of the same data written
    // without our intent, by an older release, is sent once more to carry it.)
    let s = setup(World { configmaps: vec![cm.body.clone()], ..world() }, true, vec![]);
    reconcile(Arc::new(statefulset(2, json!({}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert!(!writes(&calls).iter().any(|w| w.contains("configmaps")), "{:?}", writes(&calls));
}

pub(crate) fn running_broker(ordinal: u32, advertised: &str, ready: bool) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("kafka-{ordinal}"), "namespace": "streaming",
            "labels": {"app": "kafka", "kafka-advertiser.io/enabled": "true", "apps.kubernetes.io/pod-index": ordinal.to_string()},
            "annotations": {"kafka-advertiser.io/advertised": advertised, "kafka-advertiser.io/roll-on-change": "true"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "kafka", "uid": "sts-uid", "controller": true}]
        },
        "spec": {"hostname": format!("kafka-{ordinal}"), "subdomain": "kafka-headless",
                 "containers": [{"name": "kafka", "image": "bitnami/kafka:3.9.0"}]},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }))
    .unwrap()
}

pub(crate) fn advertised(ordinal: u32, addr: &str) -> String {
    format!("INTERNAL://kafka-{ordinal}.kafka-headless.streaming.svc.cluster.local:9092,EXTERNAL://{addr}:9094")
}

#[tokio::test]
async fn drift_warns_and_with_roll_on_change_evicts_one_pod() {
    let world = World {
        managed: vec![managed_service(0, Some("203.0.113.20")), managed_service(1, Some("203.0.113.11"))],
        ..Default::default()
    };
    let pods = vec![
        running_broker(0, &advertised(0, "203.0.113.10"), true),
        running_broker(1, &advertised(1, "203.0.113.11"), true),
    ];
    let s = setup(world, true, pods);
    s.addresses.set("streaming", "kafka", 0, Some("203.0.113.20"));
    s.addresses.set("streaming", "kafka", 1, Some("203.0.113.11"));
    let sts = statefulset(2, json!({"kafka-advertiser.io/roll-on-change": "true"}));
    reconcile(Arc::new(sts), s.ctx.clone()).await.unwrap();
    // One of the two brokers drifts: the StatefulSet's drift gauge says so.
    let series = r#"kafka_advertiser_statefulset_brokers_drifted{namespace="streaming",statefulset="kafka"} 1"#;
    assert!(s.metrics.encode().contains(series), "{}", s.metrics.encode());
    let calls = s.fake.finish(s.ctx).await;
    let w = writes(&calls);
    let drift: Vec<&Call> = calls.iter().filter(|c| c.body["reason"] == "AddressDrift").collect();
    assert_eq!(drift.len(), 2, "{w:?}");
    assert_eq!(drift[0].body["regarding"]["kind"], "Pod");
    assert_eq!(drift[0].body["regarding"]["name"], "kafka-0");
    assert_eq!(drift[1].body["regarding"]["kind"], "StatefulSet");
    assert!(drift[0].body["note"].as_str().unwrap().contains("203.0.113.20"));
    let evictions: Vec<&String> = w.iter().filter(|w| w.ends_with("/eviction")).collect();
    assert_eq!(evictions, ["POST pods/kafka-0/eviction"]);
    assert!(w.contains(&"POST event EvictedForNewAddress".to_owned()));
}

#[tokio::test]
async fn no_eviction_while_a_broker_is_not_ready_or_without_roll_on_change() {
    for (roll, ready) in [(true, false), (false, true)] {
        let world = World { managed: vec![managed_service(0, Some("203.0.113.20"))], ..Default::default() };
        let s = setup(world, true, vec![running_broker(0, &advertised(0, "203.0.113.10"), ready)]);
        s.addresses.set("streaming", "kafka", 0, Some("203.0.113.20"));
        let ann = if roll { json!({"kafka-advertiser.io/roll-on-change": "true"}) } else { json!({}) };
        reconcile(Arc::new(statefulset(1, ann)), s.ctx.clone()).await.unwrap();
        let calls = s.fake.finish(s.ctx).await;
        let w = writes(&calls);
        assert!(!w.iter().any(|w| w.ends_with("/eviction")), "{w:?}");
        assert_eq!(calls.iter().filter(|c| c.body["reason"] == "AddressDrift").count(), 2);
    }
}

#[tokio::test]
async fn eviction_blocked_by_a_pdb_is_retried_later_not_an_error() {
    let world =
        World { managed: vec![managed_service(0, Some("203.0.113.20"))], eviction_code: 429, ..Default::default() };
    let s = setup(world, true, vec![running_broker(0, &advertised(0, "203.0.113.10"), true)]);
    s.addresses.set("streaming", "kafka", 0, Some("203.0.113.20"));
    let action =
        reconcile(Arc::new(statefulset(1, json!({"kafka-advertiser.io/roll-on-change": "true"}))), s.ctx.clone()).await;
    assert!(action.is_ok());
    let calls = s.fake.finish(s.ctx).await;
    assert!(!writes(&calls).contains(&"POST event EvictedForNewAddress".to_owned()));
}

#[tokio::test]
async fn losing_the_lease_mid_reconcile_stops_writes() {
    // Leadership is lost while a read (of a Service name not in the cache) is answered, after the
    // reconcile started as leader.
    let world = World { managed: vec![managed_service(0, None)], lose_lease_on_read: true, ..Default::default() };
    let s = setup(world, true, vec![]);
    let action = reconcile(Arc::new(statefulset(2, json!({}))), s.ctx.clone()).await;
    assert!(action.is_ok());
    let calls = s.fake.finish(s.ctx).await;
    assert_eq!(calls.len(), 1, "only the read: {calls:?}");
    assert!(writes(&calls).is_empty(), "{:?}", writes(&calls));
}

#[tokio::test]
async fn statefulsets_that_never_opted_in_cost_no_api_call() {
    let s = setup(World::default(), true, vec![]);
    let mut sts = statefulset(3, json!({}));
    let tpl = sts.spec.as_mut().unwrap().template.metadata.as_mut().unwrap();
    tpl.labels.as_mut().unwrap().remove("kafka-advertiser.io/enabled");
    reconcile(Arc::new(sts), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert!(calls.is_empty(), "{calls:?}");
}

/// Scale-down keeps a broker's Service while its pod still runs (the StatefulSet controller removes
/// pods one at a time, each with its grace period), and deletes it once the pod is gone.
#[tokio::test]
async fn scale_down_keeps_the_service_until_the_pod_is_gone() {
    let world = || World {
        managed: vec![managed_service(0, Some("203.0.113.10")), managed_service(1, Some("203.0.113.11"))],
        ..Default::default()
    };
    let draining = running_broker(1, &advertised(1, "203.0.113.11"), true);
    let s = setup(world(), true, vec![draining]);
    let action = reconcile(Arc::new(statefulset(1, json!({}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert!(!writes(&calls).iter().any(|w| w.starts_with("DELETE")), "{:?}", writes(&calls));
    assert_eq!(action, kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(30)));

    let s = setup(world(), true, vec![]);
    reconcile(Arc::new(statefulset(1, json!({}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert!(writes(&calls).contains(&"DELETE services/kafka-1-external".to_owned()), "{:?}", writes(&calls));
}

#[tokio::test]
async fn reconcile_waits_for_the_caches() {
    let s = setup(World::default(), true, vec![]);
    s.ctx.shared.readiness.caches.store(false, std::sync::atomic::Ordering::Release);
    let action = reconcile(Arc::new(statefulset(3, json!({}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    assert!(calls.is_empty(), "no reads or writes before the caches are synced: {calls:?}");
    assert_eq!(action, kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(1)));
}

/// The webhook's configuration checks reach the StatefulSet as Warning Events (admission warnings
/// of StatefulSet pods reach nobody), a reason per problem, once per change, not at every reconcile.
#[tokio::test]
async fn template_problems_become_warning_events_once() {
    let mut sts = statefulset(
        1,
        json!({"kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template": "k{ordinal}.example.com"}),
    );
    let env = |n: &str, v: &str| k8s_openapi::api::core::v1::EnvVar {
        name: n.into(),
        value: Some(v.into()),
        value_from: None,
    };
    sts.spec.as_mut().unwrap().template.spec.as_mut().unwrap().containers[0].env = Some(vec![
        env("KAFKA_CFG_LISTENERS", "PLAINTEXT://:9092,EXTERNAL://:9094"),
        env("KAFKA_CFG_INTER_BROKER_LISTENER_NAME", "PLAINTEXT"),
    ]);
    let s = setup(World::default(), true, vec![]);
    let sts = Arc::new(sts);
    reconcile(sts.clone(), s.ctx.clone()).await.unwrap();
    reconcile(sts, s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    let events: Vec<(String, String)> = calls
        .iter()
        .filter(|c| c.method == Method::POST && c.body["type"] == "Warning")
        .map(|c| (c.body["reason"].as_str().unwrap().to_owned(), c.body["note"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(events.len(), 2, "one Event per problem, published once: {events:?}");
    assert_eq!(events[0].0, "ListenerNotDeclared");
    assert!(events[0].1.contains("does not declare the listener INTERNAL"), "{events:?}");
    assert_eq!(events[1].0, "InterBrokerListenerNotAdvertised");
    assert!(events[1].1.contains("KAFKA_CFG_INTER_BROKER_LISTENER_NAME=PLAINTEXT"), "{events:?}");
}

/// A deleted StatefulSet's gauges go with it (kube-runtime never reconciles deleted objects).
#[tokio::test]
async fn forgetting_a_deleted_statefulset_clears_its_gauges() {
    let world = World { managed: vec![managed_service(0, None)], ..Default::default() };
    let s = setup(world, true, vec![]);
    let sts = Arc::new(statefulset(1, json!({})));
    reconcile(sts.clone(), s.ctx.clone()).await.unwrap();
    assert_eq!(s.metrics.brokers_waiting.get(), 1);
    let series =
        r#"kafka_advertiser_statefulset_brokers_waiting_for_address{namespace="streaming",statefulset="kafka"} 1"#;
    assert!(s.metrics.encode().contains(series), "{}", s.metrics.encode());
    s.ctx.forget(&kube::runtime::reflector::ObjectRef::from_obj(&*sts));
    assert_eq!(s.metrics.brokers_waiting.get(), 0);
    assert_eq!(s.metrics.managed_services.get(), 0);
    assert!(!s.metrics.encode().contains(r#"statefulset="kafka""#), "{}", s.metrics.encode());
    let _ = s.fake.finish(s.ctx).await;
}

/// Brokers whose address is known are nudged even while another broker still waits for its own.
#[tokio::test]
async fn partial_addresses_nudge_too() {
    let world = World {
        managed: vec![managed_service(0, Some("203.0.113.10")), managed_service(1, None)],
        ..Default::default()
    };
    let s = setup(world, true, vec![]);
    reconcile(Arc::new(statefulset(2, json!({}))), s.ctx.clone()).await.unwrap();
    let calls = s.fake.finish(s.ctx).await;
    let nudge = calls.iter().find(|c| c.path.ends_with("/statefulsets/kafka")).expect("a nudge");
    assert!(nudge.body["metadata"]["annotations"][ANN_ADDRESSES_READY].is_string());
    assert!(
        nudge.body["metadata"]["annotations"].get(ANN_EXTERNAL_BOOTSTRAP).is_none(),
        "external-bootstrap only once every broker is known"
    );
}

/// A class-named StatefulSet's intent (class chosen, settings parsed, class bounds checked) is worked
/// out once per reconcile: observe reads it, the plan, the template check and the Services follow it.
#[tokio::test]
async fn a_classed_statefulset_is_resolved_once_per_reconcile() {
    let s = setup(World::default(), true, vec![]);
    let class = crate::spec::class::Class::from_value(&json!({"metadata": {"name": "internet"},
        "spec": {"settings": {"service-labels": "{\"zone\": \"public\"}"}, "tenantSettings": ["port"]}}))
    .unwrap();
    s.addresses.set_classes(vec![Arc::new(class)]);
    let sts = Arc::new(statefulset(3, json!({"kafka-advertiser.io/class": "internet"})));
    let (intents, parsed) = (crate::spec::WORKED_OUT.get(), crate::spec::settings::PARSED.get());
    reconcile(sts, s.ctx.clone()).await.unwrap();
    assert_eq!(crate::spec::WORKED_OUT.get() - intents, 1, "the intent is worked out once");
    assert_eq!(crate::spec::settings::PARSED.get() - parsed, 1, "its settings are parsed once");
    let calls = s.fake.finish(s.ctx).await;
    let svc = calls.iter().find(|c| c.method == Method::PATCH && c.path.contains("/services/")).unwrap();
    assert_eq!(svc.body["metadata"]["labels"]["zone"], "public", "the class applied");
}
