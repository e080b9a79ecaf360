//! Reconciler tests against a fake API server behind `kube::Client` (tower-test mock pair):
//! the fake routes each request, answers it, and records it; tests assert the exact writes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::client::Body;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{reflector, watcher};
use kube::Client;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::context::{Caches, Context, Shared};
use super::reconcile::reconcile;
use crate::admin::Readiness;
use crate::metrics::Metrics;
use crate::mutate::{AddressBook, Defaults};
use crate::names::{ANN_ADDRESSES_READY, ANN_EXTERNAL_BOOTSTRAP};

#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    query: String,
    body: Value,
}

/// What the fake API server holds.
#[derive(Default, Clone)]
struct World {
    /// Services returned by the managed-Services list.
    managed: Vec<Value>,
    /// Services that exist but are not in the managed list (GET by name answers them).
    others: BTreeMap<String, Value>,
    /// Status code for evictions.
    eviction_code: u16,
    /// Drop leadership when a read arrives (a lease lost mid-reconcile).
    lose_lease_on_read: bool,
    /// Client-discovery ConfigMaps in the cache.
    configmaps: Vec<Value>,
}

struct Fake {
    calls: Arc<Mutex<Vec<Call>>>,
    task: tokio::task::JoinHandle<()>,
}

fn fake(world: World, leader: Arc<watch::Sender<bool>>) -> (Client, Fake) {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let rec = calls.clone();
    let task = tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let path = parts.uri.path().to_owned();
            let query = parts.uri.query().unwrap_or("").to_owned();
            let segs: Vec<&str> = path.split('/').collect();
            let last = segs.last().copied().unwrap_or("");
            if parts.method == Method::GET && world.lose_lease_on_read {
                leader.send_replace(false);
            }
            let (code, resp) = match (parts.method.clone(), path.as_str()) {
                // A read by name (a Service, or an object about to be created): what `others` holds.
                (Method::GET, _) => match world.others.get(last) {
                    Some(s) => (200, s.clone()),
                    None => (
                        404,
                        json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
                    ),
                },
                (Method::PATCH, _) | (Method::POST, _) if !path.ends_with("/eviction") => {
                    (if parts.method == Method::POST { 201 } else { 200 }, body.clone())
                }
                (Method::POST, _) => {
                    let c = if world.eviction_code == 0 { 201 } else { world.eviction_code };
                    (
                        c,
                        json!({"apiVersion": "v1", "kind": "Status", "status": if c < 300 { "Success" } else { "Failure" }, "code": c, "message": "eviction"}),
                    )
                }
                (Method::DELETE, _) => {
                    (200, json!({"apiVersion": "v1", "kind": "Status", "status": "Success", "code": 200}))
                }
                _ => (500, json!({"kind": "Status", "code": 500, "message": "unexpected request"})),
            };
            rec.lock().unwrap().push(Call { method: parts.method, path, query, body });
            let resp = Response::builder()
                .status(StatusCode::from_u16(code).unwrap())
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&resp).unwrap()))
                .unwrap();
            send.send_response(resp);
        }
    });
    (Client::new(svc, "default"), Fake { calls, task })
}

impl Fake {
    async fn finish(self, ctx: Arc<Context>) -> Vec<Call> {
        drop(ctx);
        self.task.await.unwrap();
        Arc::try_unwrap(self.calls).unwrap().into_inner().unwrap()
    }
}

/// The fixture StatefulSet `streaming/kafka` (Bitnami, listener `EXTERNAL` on container port 9095).
pub(super) fn statefulset(replicas: i32, annotations: Value) -> StatefulSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "kafka", "namespace": "streaming", "uid": "sts-uid"},
        "spec": {
            "replicas": replicas, "serviceName": "kafka-headless",
            "selector": {"matchLabels": {"app": "kafka"}},
            "template": {
                "metadata": {"labels": {"app": "kafka", "kafka-advertiser.io/enabled": "true"}, "annotations": annotations},
                "spec": {"containers": [{"name": "kafka", "image": "bitnami/kafka:3.9.0",
                    "env": [{"name": "KAFKA_CFG_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9095"}],
                    "ports": [{"name": "external", "containerPort": 9095}]}]}
            }
        }
    }))
    .unwrap()
}

/// A managed broker Service as the API would return it, with an optional LB address.
fn managed_service(ordinal: u32, address: Option<&str>) -> Value {
    let sts = statefulset(3, json!({}));
    let d = crate::testing::desired(&sts, &Defaults::default()).unwrap();
    let mut v = serde_json::to_value(&d.services[0].1).unwrap();
    v["metadata"]["name"] = json!(format!("kafka-{ordinal}-external"));
    v["metadata"]["labels"]["kafka-advertiser.io/ordinal"] = json!(ordinal.to_string());
    if let Some(a) = address {
        v["status"] = json!({"loadBalancer": {"ingress": [{"ip": a}]}});
    }
    v
}

struct Setup {
    ctx: Arc<Context>,
    fake: Fake,
    addresses: AddressBook,
    metrics: Arc<Metrics>,
    _leader: Arc<watch::Sender<bool>>,
}

fn setup(world: World, leader: bool, pods: Vec<Pod>) -> Setup {
    let managed = world.managed.clone();
    let cms = world.configmaps.clone();
    let (tx, rx) = watch::channel(leader);
    let tx = Arc::new(tx);
    let (client, fake) = fake(world, tx.clone());
    let metrics = Arc::new(Metrics::new());
    let addresses = AddressBook::new();
    let shared = Shared {
        client: client.clone(),
        defaults: Arc::new(Defaults::default()),
        addresses: addresses.clone(),
        metrics: metrics.clone(),
        readiness: Arc::new(Readiness::default()),
    };
    // The caches are "synced" (every test fills them below); see `reconcile_waits_for_the_caches`.
    shared.readiness.caches.store(true, std::sync::atomic::Ordering::Release);
    let (store, mut writer) = reflector::store::<Pod>();
    for p in pods {
        writer.apply_watcher_event(&watcher::Event::Apply(p));
    }
    let recorder = Recorder::new(client, Reporter { controller: "kafka-advertiser".into(), instance: None });
    // The managed-Services cache holds what the list returns.
    let (services, mut svc_writer) = reflector::store::<k8s_openapi::api::core::v1::Service>();
    for svc in &managed {
        svc_writer.apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(svc.clone()).unwrap()));
    }
    let (configmaps, mut cm_writer) = reflector::store::<k8s_openapi::api::core::v1::ConfigMap>();
    for cm in &cms {
        cm_writer.apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(cm.clone()).unwrap()));
    }
    let caches = Caches {
        scope: None,
        statefulsets: reflector::store::<StatefulSet>().0,
        pods: store,
        services,
        configmaps,
        owned: Default::default(),
    };
    let ctx = Arc::new(Context::new(shared, recorder, rx, caches, Default::default()));
    Setup { ctx, fake, addresses, metrics, _leader: tx }
}

fn writes(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.method != Method::GET)
        .map(|c| {
            let what = if c.path.ends_with("/events") {
                format!("event {}", c.body["reason"].as_str().unwrap_or(""))
            } else {
                c.path.rsplit_once("/namespaces/streaming/").map_or(c.path.clone(), |(_, p)| p.to_owned())
            };
            format!("{} {what}", c.method)
        })
        .collect()
}

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

fn running_broker(ordinal: u32, advertised: &str, ready: bool) -> Pod {
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

fn advertised(ordinal: u32, addr: &str) -> String {
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
    let book = AddressBook::new();
    // Another namespace scope's entry (`--namespace streaming,elsewhere` shares one book).
    book.set("elsewhere", "kafka", 0, Some("198.51.100.1"));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let api: kube::Api<k8s_openapi::api::core::v1::Service> = kube::Api::namespaced(client, "streaming");
    let task = tokio::spawn(super::address_feed::run(api, Some("streaming".into()), book.clone(), tx, stop.clone()));
    tokio::time::timeout(std::time::Duration::from_secs(5), rx).await.expect("synced after the first list").unwrap();
    use crate::mutate::{AddressLookup, Expect, Lookup};
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

#[test]
fn external_bootstrap_lists_every_broker_once_known() {
    use super::discovery::external_bootstrap;
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
    let args = super::Settings {
        namespaces: vec![],
        identity: "replica-a".into(),
        lease: super::LeaseSettings {
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
    let task = tokio::spawn(super::leader::lead(client, args, tx, metrics.clone(), stop.clone()));

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
    let mut d = super::leader::RenewDeadline::new(Duration::from_secs(10));
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
    assert!(super::leader::holds(Some(&lease("a", now)), "a", now));
    assert!(!super::leader::holds(Some(&lease("b", now)), "a", now));
    let stale = now.checked_sub(SignedDuration::from_secs(16)).unwrap();
    assert!(!super::leader::holds(Some(&lease("a", stale)), "a", now), "expired");
    assert!(!super::leader::holds(None, "a", now));
    let empty: Lease = serde_json::from_value(json!({"metadata": {"name": "l"}, "spec": {}})).unwrap();
    assert!(!super::leader::holds(Some(&empty), "a", now));
}

/// The Service says which ingress entry to advertise (the controller copies the StatefulSet's
/// address-type and ip-family onto it).
#[test]
fn the_ingress_entry_follows_the_services_address_choice() {
    use super::address_feed::ingress_address;
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
    use super::address_feed::ingress_address;
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

fn endpoints_of(
    d: &super::desired::Desired,
    lb: &BTreeMap<u32, String>,
    pods: &BTreeMap<u32, (Option<String>, Option<String>)>,
) -> BTreeMap<u32, String> {
    super::discovery::external_endpoints(d, &super::discovery::external_hosts(d, lb, pods))
}

#[tokio::test]
async fn confirming_leadership_again_does_not_wake_the_reconcilers() {
    let (tx, rx) = watch::channel(false);
    let mut woken = Box::pin(super::leader::became_leader(rx));
    assert!(super::leader::publish_leadership(&tx, true), "false → true is a change");
    assert_eq!(futures::StreamExt::next(&mut woken).await, Some(()));
    // Every Lease confirmation publishes `true` again: no bulk reconcile for that.
    for _ in 0..3 {
        assert!(!super::leader::publish_leadership(&tx, true));
    }
    let again = tokio::time::timeout(std::time::Duration::from_millis(50), futures::StreamExt::next(&mut woken)).await;
    assert!(again.is_err(), "a repeated `true` woke the reconcilers");
    // Losing and regaining it does.
    assert!(super::leader::publish_leadership(&tx, false));
    assert!(super::leader::publish_leadership(&tx, true));
    assert_eq!(futures::StreamExt::next(&mut woken).await, Some(()));
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
