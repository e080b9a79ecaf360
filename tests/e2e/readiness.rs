//! `/readyz` turns ready on every start (it once stayed 503 for good in one start out of two to five:
//! two tasks awaited kube-runtime's one-waker store readiness, and one was never woken), and ready
//! means ready: the pods the API server sends a freshly restarted replica are admitted with their
//! address, never refused for caches it has not read yet.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::Api;
use serde_json::json;

use crate::*;

/// The value of one series of the replica's metrics, e.g.
/// `kafka_advertiser_admission_requests_total{outcome="patched"}`.
async fn metric(admin: u16, series: &str) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{admin}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in the replica's metrics"))
}

#[tokio::test]
async fn readyz_turns_ready_on_every_start() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-ready").await;
    Broker::new("kafka", 1).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    let want = converged(&c, &ns, "kafka", 1, 9094).await;
    let want = format!("EXTERNAL://{}:9094", want[&0]);

    // From here on only the restarted replica admits this namespace's pods, through the API server.
    let (port, admin) = (free_port(), free_port());
    let mut replica = Some(Scoped::start_on(testenv(), &ns, port, admin));
    let _hook = replica.as_ref().unwrap().register(&c, &ns).await;
    let label = json!({"metadata": {"labels": {"kafka-advertiser.io/webhook": "disabled", SCOPED_LABEL: ns}}});
    Api::<Namespace>::all(c.clone()).patch(&ns, &PatchParams::default(), &Patch::Merge(&label)).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(c.clone(), &ns);
    let mut took = Vec::new();
    for i in 0..10 {
        if i > 0 {
            drop(replica.take());
            replica = Some(Scoped::start_on(testenv(), &ns, port, admin));
        }
        let started = Instant::now();
        let url = format!("http://127.0.0.1:{admin}/readyz");
        wait_for(&format!("/readyz 200 on start {i}"), Duration::from_secs(20), || async {
            let r = reqwest::get(&url).await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        took.push(started.elapsed());
        // The StatefulSet controller re-creates the deleted broker; the replica is asked at once.
        let old = pods.get("kafka-0").await.unwrap().metadata.uid;
        pods.delete("kafka-0", &DeleteParams::default()).await.unwrap();
        let pod = wait_for(&format!("kafka-0 re-created after start {i}"), Duration::from_secs(30), || async {
            let p = pods.get("kafka-0").await.ok()?;
            (p.metadata.uid != old).then_some(p)
        })
        .await;
        let env = &pod.spec.unwrap().containers[0].env.clone().unwrap_or_default();
        let advertised = env.iter().find(|e| e.name == "KAFKA_ADVERTISED_LISTENERS").and_then(|e| e.value.clone());
        assert!(advertised.as_deref().is_some_and(|v| v.contains(&want)), "start {i}: {advertised:?}");
        let patched = metric(admin, "kafka_advertiser_admission_requests_total{outcome=\"patched\"}").await;
        let denied = metric(admin, "kafka_advertiser_admission_requests_total{outcome=\"denied\"}").await;
        // A create that reaches admission while the deleted pod is still stored is admitted and then
        // refused by the API server's name check, so the StatefulSet controller may ask twice: what
        // matters is that no request was refused (a replica not ready would deny: caches not synced).
        assert!(
            patched >= 1.0 && denied == 0.0,
            "start {i}: admitted, none refused: {patched} patched, {denied} denied"
        );
    }
    eprintln!("ready after: {took:?}");
}
