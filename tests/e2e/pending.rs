//! `pending-timeout` against the real API server and StatefulSet controller: a load balancer that
//! stays pending does not stop an `OrderedReady` StatefulSet; its brokers run advertising only their
//! internal listener, and each is restarted once with its address when the load balancer answers.
//! The test plays the load balancer (a class nothing here serves), so it decides when addresses exist.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::*;

const T: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_pending_load_balancer_does_not_stop_the_statefulset() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-pending").await;
    Broker::new("kafka", 2)
        .ordered()
        .annotate("kafka-advertiser.io/mode", "loadbalancer")
        .annotate("kafka-advertiser.io/load-balancer-class", "e2e.kafka-advertiser.io/played-by-the-test")
        .annotate("kafka-advertiser.io/pending-timeout", "5s")
        .create(&c, &ns)
        .await;
    // OrderedReady: broker 1 is created only once broker 0 runs, and neither has an address.
    let pods = wait_pods(&c, &ns, "kafka", 2, T).await;
    for p in &pods {
        let internal = format!("INTERNAL://{}.kafka-headless.{ns}.svc.cluster.local:9092", p.name_any());
        assert_eq!(p.annotations().get("kafka-advertiser.io/advertised"), Some(&internal), "{}", p.name_any());
        assert_eq!(env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS").as_deref(), Some(internal.as_str()));
    }
    let sts: StatefulSet = Api::namespaced(c.clone(), &ns).get("kafka").await.unwrap();
    let since: BTreeMap<String, String> =
        serde_json::from_str(&sts.annotations()["kafka-advertiser.io/pending-since"]).unwrap();
    assert_eq!(since.keys().collect::<Vec<_>>(), ["0", "1"], "{since:?}");
    wait_event(&c, &ns, "kafka", "AdmittedWithoutExternalAddress", "kafka-0").await;
    let env = testenv();
    let status = || {
        let out = std::process::Command::new(env.product())
            .args(["status", "-n", &ns, "kafka"])
            .env("KUBECONFIG", env.kubeconfig())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, out) = status();
    assert_eq!(code, Some(1), "not ready while brokers are internal-only: {out}");
    assert_eq!(out.matches("internal-only:").count(), 2, "{out}");

    // The load balancer answers: loopback addresses outside MetalLB's pool, distinct per run.
    let uids: Vec<String> = pods.iter().map(|p| p.uid().unwrap()).collect();
    let ips: Vec<String> = (0..2).map(|o| format!("127.0.{}.{}", 11 + o, std::process::id() % 250 + 1)).collect();
    let services: Api<Service> = Api::namespaced(c.clone(), &ns);
    for (o, ip) in ips.iter().enumerate() {
        let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}});
        services
            .patch_status(&format!("kafka-{o}-external"), &PatchParams::default(), &Patch::Merge(status))
            .await
            .unwrap();
    }
    // Each broker is restarted once (without roll-on-change), and comes back advertising its address.
    wait_for("both brokers restarted with their addresses", Duration::from_secs(180), || async {
        let pods = pods_of(&c, &ns, "kafka").await;
        let done = pods.len() == 2
            && pods.iter().enumerate().all(|(o, p)| {
                p.metadata.deletion_timestamp.is_none()
                    && p.uid().as_ref() != Some(&uids[o])
                    && p.annotations()
                        .get("kafka-advertiser.io/advertised")
                        .is_some_and(|a| a.ends_with(&format!(",EXTERNAL://{}:9094", ips[o])))
            });
        done.then_some(())
    })
    .await;
    wait_event(&c, &ns, "kafka", "EvictedForNewAddress", "kafka-1").await;
    let (code, out) = status();
    assert!(!out.contains("internal-only"), "{out}");
    let sts: StatefulSet = Api::namespaced(c.clone(), &ns).get("kafka").await.unwrap();
    assert!(!sts.annotations().contains_key("kafka-advertiser.io/pending-since"), "{:?}", sts.annotations());
    assert_eq!(code, Some(0), "{out}");
}
