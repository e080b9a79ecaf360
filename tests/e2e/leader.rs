//! Leader hand-over between the two deployed controller replicas; the webhook without a controller.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

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

    let stopped = ControllersStopped::stop().await;
    // A broker pod recreated (a node lost, a roll): admitted with its known address.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(c.clone(), &ns);
    let old = pods.get("kafka-0").await.unwrap();
    pods.delete("kafka-0", &kube::api::DeleteParams::default()).await.unwrap();
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
