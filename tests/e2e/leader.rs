//! Leader hand-over between the two deployed controller replicas; the webhook without a controller;
//! a broker refused while the webhook was down.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use serde_json::Value;

use crate::*;

async fn holder(c: &kube::Client) -> Option<String> {
    let lease: Lease = Api::namespaced(c.clone(), "kafka-advertiser").get_opt("kafka-advertiser").await.ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

/// Stop the leader process (SIGTERM): it releases the Lease, the follower takes it and reconciles
/// a scale-up, and the webhook keeps answering through the surviving replica.
#[tokio::test]
async fn follower_takes_over_when_the_leader_stops() {
    hand_over("TERM").await;
}

/// Kill the leader (SIGKILL, as the OOM killer or a lost node does): it releases nothing, so the
/// follower takes the Lease only once it has expired (never two writers), then reconciles.
#[tokio::test]
async fn follower_takes_over_when_the_leader_is_killed() {
    hand_over("KILL").await;
}

async fn hand_over(signal: &str) {
    let _g = INSTALL.write().await;
    let env = testenv();
    let c = client().await;
    let ns = namespace(&c, &format!("e2e-leader-{}", signal.to_lowercase())).await;
    Broker::new("kafka", 2).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    wait_for("2 brokers admitted", Duration::from_secs(90), || async {
        let pods = pods_of(&c, &ns, "kafka").await;
        (pods.len() == 2 && pods.iter().all(|p| env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS").is_some()))
            .then_some(())
    })
    .await;

    let leader = wait_for("a Lease holder", Duration::from_secs(30), || holder(&c)).await;
    let replica = leader.strip_prefix("testenv-").unwrap_or_else(|| panic!("unexpected holder {leader}"));
    let pid_file = env.pid_file(&format!("kafka-advertiser-controller-{replica}"));
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let held = lease(&c).await;
    // The harness started this process (scripts/testenv.sh deploy); stop it by its pid.
    let status = std::process::Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap();
    assert!(status.success());
    wait_for("the old leader to exit", Duration::from_secs(30), || async {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    })
    .await;

    scale(&c, &ns, "kafka", 4).await;
    let new =
        wait_for("a new Lease holder", Duration::from_secs(60), || async { holder(&c).await.filter(|h| *h != leader) })
            .await;
    assert!(new.starts_with("testenv-"), "{new}");
    if signal == "KILL" {
        // Killed, the leader renewed no more: the Lease was taken no sooner than it expired.
        let spec = held.spec.expect("the Lease's spec");
        let renewed = spec.renew_time.expect("renewTime").0;
        let expiry = renewed + Duration::from_secs(spec.lease_duration_seconds.expect("leaseDurationSeconds") as u64);
        let taken = lease(&c).await.spec.and_then(|s| s.acquire_time).expect("acquireTime").0;
        assert!(taken >= expiry, "the Lease renewed at {renewed} was taken at {taken}, before it expired at {expiry}");
    }
    wait_for("brokers 2 and 3 admitted after the hand-over", Duration::from_secs(90), || async {
        let pods = pods_of(&c, &ns, "kafka").await;
        let svcs = services_of(&c, &ns, "kafka").await;
        (pods.len() == 4
            && svcs.len() == 4
            && pods.iter().all(|p| {
                env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS")
                    .is_some_and(|v| external_host(&v).is_some_and(in_test_pool))
            }))
        .then_some(())
    })
    .await;

    // Bring the stopped replica back (deploy is idempotent: it restarts what is not running).
    env.script(&["deploy"]);
}

async fn lease(c: &kube::Client) -> Lease {
    Api::namespaced(c.clone(), "kafka-advertiser").get("kafka-advertiser").await.expect("the controller's Lease")
}

/// The webhook runs as its own identity with its own view of the Services: with every controller
/// replica stopped it still admits a broker whose address is known, and a new broker waits with a
/// denial that says the controller makes its Service.
#[tokio::test]
async fn the_webhook_answers_while_the_controller_is_down() {
    let _g = INSTALL.write().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-nocontroller").await;
    Broker::new("kafka", 1).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    let before = converged(&c, &ns, "kafka", 1, 9094).await;

    let stopped = ReplicasStopped::stop("controller").await;
    // A broker pod recreated (a node lost, a roll): admitted with its known address.
    let pods: Api<Pod> = Api::namespaced(c.clone(), &ns);
    let old = pods.get("kafka-0").await.unwrap();
    pods.delete("kafka-0", &DeleteParams::default()).await.unwrap();
    let again = wait_for("kafka-0 recreated and admitted", Duration::from_secs(90), || async {
        let p = pods.get_opt("kafka-0").await.ok()??;
        (p.metadata.uid != old.metadata.uid).then_some(p)
    })
    .await;
    let advertised = env_value(&again, "kafka", "KAFKA_ADVERTISED_LISTENERS").expect("the listeners injected");
    assert!(advertised.contains(&format!("{}:9094", before[&0])), "{advertised}");
    // A new broker: nobody makes its Service, so it waits, and the denial says why.
    scale(&c, &ns, "kafka", 2).await;
    let ev = wait_event(&c, &ns, "kafka", "FailedCreate", "kafka-1-external does not exist yet").await;
    assert!(ev.note.unwrap().contains("check that the controller is running"));
    assert!(pods.get_opt("kafka-1").await.unwrap().is_none());

    drop(stopped);
    converged(&c, &ns, "kafka", 2, 9094).await;
}

/// The webhook down while a broker pod is recreated (a node lost, a roll): the StatefulSet
/// controller's creates are refused and its back-off grows. The controller sees the broker missing
/// with nothing of its own holding it back and writes `create-retry` every 15 s (never faster); once
/// the webhook is back the next one brings the broker back, within that interval, with its address;
/// then nothing more is written. From the API server's audit log: the refused creates, the writes,
/// the admitted create.
#[tokio::test]
async fn a_broker_refused_while_the_webhook_was_down_is_retried_when_it_is_back() {
    let _g = INSTALL.write().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-retry").await;
    Broker::new("kafka", 2).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    let before = converged(&c, &ns, "kafka", 2, 9094).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), &ns);
    wait_for("both brokers ready", Duration::from_secs(90), || async {
        let ready = |p: &Pod| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        };
        (pods_of(&c, &ns, "kafka").await.iter().filter(|p| ready(p)).count() == 2).then_some(())
    })
    .await;

    let audit = Audit::mark();
    let stopped = ReplicasStopped::stop("webhook").await;
    let old = pods.get("kafka-1").await.unwrap();
    pods.delete("kafka-1", &DeleteParams::default()).await.unwrap();
    wait_event(&c, &ns, "kafka", "FailedCreate", "kafka-1").await;
    let ev = wait_event(&c, &ns, "kafka", "PodCreateRetried", "kafka-1 missing").await;
    assert!(ev.note.unwrap().contains("FailedCreate"));
    // Down long enough for the StatefulSet controller's back-off to grow past the retry interval.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let restarting = Timestamp::now();
    drop(stopped); // deploy starts the webhook replicas again and waits until they are ready
    let back = Timestamp::now();
    let again = wait_for("kafka-1 recreated and admitted", Duration::from_secs(60), || async {
        let p = pods.get_opt("kafka-1").await.ok()??;
        (p.metadata.uid != old.metadata.uid).then_some(p)
    })
    .await;
    let advertised = env_value(&again, "kafka", "KAFKA_ADVERTISED_LISTENERS").expect("the listeners injected");
    assert!(advertised.contains(&format!("{}:9094", before[&1])), "the address it had: {advertised}");
    // Steady again: no retry is written once the broker exists.
    tokio::time::sleep(Duration::from_secs(17)).await;

    let entries: Vec<Value> =
        audit.entries().into_iter().filter(|e| e["objectRef"]["namespace"] == ns.as_str()).collect();
    let creates: Vec<(Timestamp, i64)> = entries
        .iter()
        .filter(|e| e["verb"] == "create" && e["objectRef"]["resource"] == "pods")
        .map(|e| (audit_time(e), e["responseStatus"]["code"].as_i64().unwrap_or(0)))
        .collect();
    let (admitted, refused) = creates.split_last().expect("the StatefulSet controller's creates are audited");
    assert_eq!(admitted.1, 201, "the last create is the admitted one: {creates:?}");
    assert!(!refused.is_empty() && refused.iter().all(|(_, code)| *code != 201), "refused first: {creates:?}");
    let retries: Vec<Timestamp> = entries
        .iter()
        .filter(|e| audit_is_ours(e) && e["objectRef"]["resource"] == "statefulsets")
        .filter(|e| (e["verb"] == "patch" || e["verb"] == "apply") && e["objectRef"]["subresource"].is_null())
        .map(audit_time)
        .collect();
    let secs = |a: Timestamp, b: Timestamp| b.duration_since(a).as_secs_f64();
    eprintln!(
        "create retry: {} refused creates, {} retries written ({:?} s after the first refusal), admitted {:.2} s after \
         the webhook was back, {:.2} s after the last retry",
        refused.len(),
        retries.len(),
        retries.iter().map(|t| format!("{:.1}", secs(refused[0].0, *t))).collect::<Vec<_>>(),
        secs(back, admitted.0),
        retries.iter().rfind(|t| **t <= admitted.0).map(|t| secs(*t, admitted.0)).unwrap_or(f64::NAN),
    );
    assert!(retries.len() >= 2, "retries while the webhook was down: {retries:?}");
    for w in retries.windows(2) {
        assert!(secs(w[0], w[1]) >= 14.0, "retries at least 15 s apart: {retries:?}");
    }
    assert!(retries.iter().all(|t| *t <= admitted.0), "nothing written once the broker exists: {retries:?}");
    // Brought back by a retry, not by the StatefulSet controller's back-off (no wall-clock bound): a
    // retry written after the webhook started again, and the admitted create the first create after it.
    let last = retries.iter().rfind(|t| **t <= admitted.0).expect("a retry before the admitted create");
    assert!(*last >= restarting, "the broker came back without a retry after the webhook restarted: {retries:?}");
    assert!(refused.iter().all(|(t, _)| t < last), "a create between the retry and the admitted one: {creates:?}");
    let sts = Api::<StatefulSet>::namespaced(c.clone(), &ns).get("kafka").await.unwrap();
    assert!(sts.annotations().contains_key("kafka-advertiser.io/create-retry"), "{:?}", sts.annotations());
}
