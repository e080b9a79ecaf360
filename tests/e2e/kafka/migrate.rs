//! The migration journey of docs/migrate.md with real brokers and clients: a running cluster set up
//! the manual way (one LoadBalancer Service per broker made by hand, a start-up script that works
//! out the advertised listeners from the ordinal) moves to kafka-advertiser in one edit and back in
//! another, while a producer (acks=all) and a consumer group run. Every broker advertises the address
//! it had, the clients are never reconfigured, and no acknowledged message is lost.

use std::collections::BTreeMap;

use kube::api::{Patch, PatchParams, PostParams};

use super::*;

/// The manual setup's start-up script: broker N advertises the Nth address of the list it is given,
/// then the image's own start-up runs.
const SCRIPT: &str = r#"set -e
ORDINAL=${HOSTNAME##*-}
set -- $BROKER_ADDRESSES
shift "$ORDINAL"
export KAFKA_ADVERTISED_LISTENERS="INTERNAL://${HOSTNAME}.kafka-headless.${POD_NAMESPACE}.svc.cluster.local:9092,EXTERNAL://$1:9094"
exec /etc/kafka/docker/run"#;

/// What each broker pod advertises (its env as created), by ordinal.
async fn advertised(c: &Client, ns: &str) -> BTreeMap<u32, String> {
    let pods = pods_of(c, ns, "kafka").await;
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| Some((ordinal_of(&p.name_any()), env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS")?)))
        .collect()
}

/// A fresh Java client bootstraps through `want[0]` and reaches every broker at `want` (a topic of its own).
fn reach(work: &Path, want: &[String], topic: &str) {
    let rt = round_trip("java", &want[0], topic, want.len(), 60, &hosts_file(work, &[]), None);
    assert_every_broker(&rt, "java", want);
}

#[tokio::test]
async fn a_running_cluster_moves_over_and_back_keeping_every_address() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let ns = TempNamespace(namespace(&c, "e2e-kafka-migrate").await);
    let services: Api<Service> = Api::namespaced(c.clone(), &ns.0);
    let sts: Api<StatefulSet> = Api::namespaced(c.clone(), &ns.0);
    // The manual setup: a LoadBalancer Service per broker, made by hand, and the script.
    for o in 0..3 {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": format!("kafka-{o}-external"), "namespace": ns.0},
            "spec": {"type": "LoadBalancer", "selector": {"statefulset.kubernetes.io/pod-name": format!("kafka-{o}")},
                     "ports": [{"name": "kafka", "port": 9094, "targetPort": 9094}]}
        }))
        .unwrap();
        services.create(&PostParams::default(), &svc).await.unwrap();
    }
    let mut ips = Vec::new();
    for o in 0..3 {
        let name = format!("kafka-{o}-external");
        ips.push(
            wait_for(&name, Duration::from_secs(60), || async { ingress_ip(&services.get(&name).await.ok()?) }).await,
        );
    }
    let mut uids = Vec::new();
    for o in 0..3 {
        uids.push(services.get(&format!("kafka-{o}-external")).await.unwrap().uid());
    }
    let mut kafka = RealKafka::new("kafka", 3, "loadbalancer");
    kafka.opted_in = false;
    kafka.annotations.clear();
    kafka.env.push(("BROKER_ADDRESSES".into(), ips.join(" ")));
    kafka.env.push(("POD_NAMESPACE".into(), ns.0.clone()));
    kafka.command = Some(vec!["/bin/bash".into(), "-c".into(), SCRIPT.into()]);
    kafka.create(&c, &ns.0).await;
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    let want = sorted(ips.iter().map(|ip| format!("{ip}:9094")).collect());
    let work = testenv().dir.join("kafka").join(&ns.0);
    reach(&work, &want, "before");
    let soak = Soak::start(&work, &want[0], "ledger");
    soak.running().await;

    // In: the Services say yes, and one edit labels the template and drops the script.
    let t = Instant::now();
    for o in 0..3 {
        let adopt = json!({"metadata": {"annotations": {"kafka-advertiser.io/adopt": "kafka"}}});
        services.patch(&format!("kafka-{o}-external"), &PatchParams::default(), &Patch::Merge(adopt)).await.unwrap();
    }
    let opt_in = json!({"spec": {"template": {
        "metadata": {"labels": {"kafka-advertiser.io/enabled": "true"},
                     "annotations": {"kafka-advertiser.io/mode": "loadbalancer"}},
        "spec": {"containers": [{"name": "kafka", "command": null}]}}}});
    sts.patch("kafka", &PatchParams::default(), &Patch::Strategic(opt_in)).await.unwrap();
    rolled_out(&c, &ns.0, "kafka", 3).await;
    let opted_in = t.elapsed();
    let now = advertised(&c, &ns.0).await;
    for (o, ip) in ips.iter().enumerate() {
        let a = &now[&(o as u32)];
        assert!(a.ends_with(&format!(",EXTERNAL://{ip}:9094")), "broker {o} advertises the address it had: {a}");
        let svc = services.get(&format!("kafka-{o}-external")).await.unwrap();
        assert_eq!(
            (svc.uid(), ingress_ip(&svc)),
            (uids[o].clone(), Some(ip.clone())),
            "the same Service, same address"
        );
    }
    wait_event(&c, &ns.0, "kafka", "ServiceAdopted", "kafka-0-external").await;
    reach(&work, &want, "opted-in");

    // Out: keep the Services, and one edit removes the label and restores the script.
    let t = Instant::now();
    let keep = json!({"metadata": {"annotations": {"kafka-advertiser.io/keep-services": "true"}}});
    sts.patch("kafka", &PatchParams::default(), &Patch::Merge(keep)).await.unwrap();
    let opt_out = json!({"spec": {"template": {
        "metadata": {"labels": {"kafka-advertiser.io/enabled": null},
                     "annotations": {"kafka-advertiser.io/mode": null}},
        "spec": {"containers": [{"name": "kafka", "command": ["/bin/bash", "-c", SCRIPT]}]}}}});
    sts.patch("kafka", &PatchParams::default(), &Patch::Strategic(opt_out)).await.unwrap();
    rolled_out(&c, &ns.0, "kafka", 3).await;
    let opted_out = t.elapsed();
    for (o, ip) in ips.iter().enumerate() {
        let name = format!("kafka-{o}-external");
        let svc = wait_for(&format!("{name} released"), Duration::from_secs(60), || async {
            let s = services.get(&name).await.ok()?;
            s.owner_references().is_empty().then_some(s)
        })
        .await;
        assert_eq!((svc.uid(), ingress_ip(&svc)), (uids[o].clone(), Some(ip.clone())), "kept, with its address");
    }
    for p in pods_of(&c, &ns.0, "kafka").await {
        assert!(
            !p.annotations().contains_key("kafka-advertiser.io/advertised"),
            "{}: the script's again",
            p.name_any()
        );
    }
    reach(&work, &want, "opted-out");
    let result = soak.finish();
    eprintln!(
        "migration: opt-in rolled 3 brokers in {opted_in:.1?}, opt-out in {opted_out:.1?}; addresses changed: 0; {result}"
    );
    assert_eq!(result["lost"], 0, "acknowledged messages lost: {result}");
    assert!(result["acked"].as_u64().unwrap() > 1000, "the producer kept producing: {result}");
    assert!(result["consumedLive"].as_u64().unwrap() > 0, "the consumer kept reading: {result}");
}
