//! The fake API server the reconcile tests run against (`kube::Client` over a tower-test mock pair:
//! it routes each request, answers it from a [`World`] and records it), and the fixtures they share.

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

use crate::admin::Readiness;
use crate::controller::context::{Caches, Context, Shared};
use crate::metrics::Metrics;
use crate::mutate::{ClusterView, Defaults};
use crate::testing::StatefulSetFixture;

#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) body: Value,
}

/// What the fake API server holds.
#[derive(Default, Clone)]
pub(crate) struct World {
    /// Services returned by the managed-Services list.
    pub(crate) managed: Vec<Value>,
    /// Services that exist but are not in the managed list (GET by name answers them).
    pub(crate) others: BTreeMap<String, Value>,
    /// Status code for evictions.
    pub(crate) eviction_code: u16,
    /// Drop leadership when a read arrives (a lease lost mid-reconcile).
    pub(crate) lose_lease_on_read: bool,
    /// Client-discovery ConfigMaps in the cache.
    pub(crate) configmaps: Vec<Value>,
}

pub(crate) struct Fake {
    pub(crate) calls: Arc<Mutex<Vec<Call>>>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

pub(crate) fn fake(world: World, leader: Arc<watch::Sender<bool>>) -> (Client, Fake) {
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
    pub(crate) async fn finish(self, ctx: Arc<Context>) -> Vec<Call> {
        drop(ctx);
        self.task.await.unwrap();
        Arc::try_unwrap(self.calls).unwrap().into_inner().unwrap()
    }
}

/// The fixture StatefulSet `streaming/kafka` (Bitnami, listener `EXTERNAL` on container port 9095).
pub(crate) fn statefulset(replicas: i32, annotations: Value) -> StatefulSet {
    StatefulSetFixture::new("kafka", "streaming")
        .uid("sts-uid")
        .service_name("kafka-headless")
        .replicas(replicas)
        .annotations(annotations)
        .container(json!({"name": "kafka", "image": "bitnami/kafka:3.9.0",
            "env": [{"name": "KAFKA_CFG_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9095"}],
            "ports": [{"name": "external", "containerPort": 9095}]}))
        .build()
}

/// A managed broker Service as the API would return it, with an optional LB address.
pub(crate) fn managed_service(ordinal: u32, address: Option<&str>) -> Value {
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

pub(crate) struct Setup {
    pub(crate) ctx: Arc<Context>,
    pub(crate) fake: Fake,
    pub(crate) addresses: ClusterView,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) _leader: Arc<watch::Sender<bool>>,
}

pub(crate) fn setup(world: World, leader: bool, pods: Vec<Pod>) -> Setup {
    let managed = world.managed.clone();
    let cms = world.configmaps.clone();
    let (tx, rx) = watch::channel(leader);
    let tx = Arc::new(tx);
    let (client, fake) = fake(world, tx.clone());
    let metrics = Arc::new(Metrics::new());
    let addresses = ClusterView::new();
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

pub(crate) fn writes(calls: &[Call]) -> Vec<String> {
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
