//! A broker's node loses power under running clients (issue 32; `scripts/testenv.sh node lose`): the
//! pod runner kills the node's broker with SIGKILL and writes nothing more for it, the load balancer's
//! health check of the node fails. Three real brokers (anti-affinity `preferred`: two may share a
//! node, so the lost one has somewhere to go) with the soak's producer (acks=all, min ISR 2), consumer
//! group and transactional producer running. The node turns NotReady, the broker is evicted but stays
//! Terminating; once the node is marked out of service it is force-deleted, recreated on another node
//! with the address it had (its Service's), starts from its volume, and the clients reach it again.
//! Nothing acknowledged is lost.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};

use super::faults::{assert_soak_held, epoch_ms, timeline, Fault};
use super::*;
use crate::nodes::{leave_lost_nodes_soon, node_ready, NodeLost};

#[tokio::test]
async fn a_broker_whose_node_loses_power_comes_back_elsewhere_with_its_address_and_nothing_acknowledged_is_lost() {
    // A node cut off is felt by every test with a pod there: this one runs alone.
    let _g = INSTALL.write().await;
    let env = testenv();
    let c = client().await;
    let ns = TempNamespace(namespace(&c, "e2e-kafka-lost").await);
    let mut kafka = RealKafka::new("kafka", 3, "loadbalancer");
    kafka.annotations.push(("kafka-advertiser.io/anti-affinity".into(), "preferred".into()));
    kafka.create_with(&c, &ns.0, leave_lost_nodes_soon).await;
    let before = converged(&c, &ns.0, "kafka", 3, 9094).await;
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    let work = env.dir.join("kafka").join(&ns.0);
    let soak = Soak::start(&work, &format!("{}:9094", before[&0]), "lost");
    soak.running().await;
    tokio::time::sleep(Duration::from_secs(5)).await; // a steady state first

    let pods: Api<Pod> = Api::namespaced(c.clone(), &ns.0);
    let nodes: Api<Node> = Api::all(c.clone());
    let old = pods.get("kafka-1").await.unwrap();
    let node = old.spec.as_ref().and_then(|s| s.node_name.clone()).expect("kafka-1 is bound");
    let (at, t0) = (epoch_ms(), Instant::now());
    let lost = NodeLost::lose(&node);
    let log = env.dir.join("pods/pods").join(format!("{}_kafka-1_{}/container.log", ns.0, old.uid().unwrap()));
    wait_for(&format!("{node} NotReady"), Duration::from_secs(120), || async {
        (!node_ready(&nodes.get(&node).await.ok()?)).then_some(())
    })
    .await;
    let not_ready = t0.elapsed();
    wait_for("kafka-1 evicted, never confirmed gone", Duration::from_secs(90), || async {
        let p = pods.get_opt("kafka-1").await.ok()??;
        (p.metadata.uid == old.metadata.uid && p.metadata.deletion_timestamp.is_some()).then_some(())
    })
    .await;
    let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0),
        size,
        "the lost node's broker still runs: {log:?}"
    );
    let marked = t0.elapsed();
    env.kubectl(&["taint", "node", &node, "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute"]);
    let again = wait_for("kafka-1 recreated on another node", Duration::from_secs(120), || async {
        let p = pods.get_opt("kafka-1").await.ok()??;
        let on = p.spec.as_ref()?.node_name.clone()?;
        (p.metadata.uid != old.metadata.uid && on != node).then_some(p)
    })
    .await;
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    let ready = t0.elapsed();
    assert_eq!(converged(&c, &ns.0, "kafka", 3, 9094).await, before, "every broker keeps its address");
    let mut want: Vec<String> = before.values().map(|ip| format!("{ip}:9094")).collect();
    want.sort();
    clients_reach_with(&["java"], &work, &want[1], &want, &[], None);
    let back = t0.elapsed();
    drop(lost);
    let name = format!("{node} lost (power cut) with kafka-1, out of service, kafka-1 recreated elsewhere");
    let faults = [Fault { name, at, took: back }];
    let result = soak.finish();
    eprintln!(
        "node lost: {node} NotReady after {:.1} s, out-of-service at {:.1} s, kafka-1 ready on {} after {:.1} s, \
         reached through its load balancer after {:.1} s | {} | soak: {result}",
        not_ready.as_secs_f64(),
        marked.as_secs_f64(),
        again.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default(),
        ready.as_secs_f64(),
        back.as_secs_f64(),
        timeline(&faults, &result).join("; ")
    );
    assert_soak_held(&result);
}
