//! A node lost as a real cluster loses one (`scripts/testenv.sh node lose`): its kubelet no longer
//! reaches the API server. The node turns NotReady; its broker is evicted but never confirmed gone
//! (Terminating), so the StatefulSet controller cannot replace it; once the node is marked out of
//! service (`node.kubernetes.io/out-of-service`, what an operator does for a node that is shut down),
//! the broker is force-deleted, recreated on another node and admitted with the address it had: in
//! load-balancer mode the address belongs to the broker's Service, in gateway-tcp mode to the Gateway,
//! not to a node. In nodeport and pod-ip modes the address is the node's or the pod's, so a broker
//! that moves advertises a new one, by design (the kubelet fills `$(ADVERTISER_HOST_IP)` from
//! `status.hostIP`, `$(ADVERTISER_POD_IP)` from `status.podIP`, of the new node's pod range).

use std::time::{Duration, Instant};

use serde_json::json;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Node, Pod, Toleration};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::Api;

use crate::*;

/// A node cut off the API server; restored (`scripts/testenv.sh node restore`) when dropped, also
/// when the test fails.
pub struct NodeLost(String);

impl NodeLost {
    pub fn lose(node: &str) -> NodeLost {
        testenv().script(&["node", "lose", node]);
        NodeLost(node.to_owned())
    }
}

impl Drop for NodeLost {
    fn drop(&mut self) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testenv.sh");
        let out = std::process::Command::new("bash").arg(script).args(["node", "restore", &self.0]).output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("scripts/testenv.sh node restore {} failed: {out:?}", self.0);
        }
    }
}

pub fn node_ready(n: &Node) -> bool {
    let conditions = n.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.into_iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// What Kafka deployments often set: leave an unreachable node after 5 s, not the default 300 s;
/// and a broker's grace period to shut down (with none, a delete removes the pod at once, no
/// kubelet asked).
pub fn leave_lost_nodes_soon(sts: &mut StatefulSet) {
    let spec = sts.spec.as_mut().and_then(|s| s.template.spec.as_mut()).unwrap();
    spec.termination_grace_period_seconds = Some(30);
    let toleration = |key: &str| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some("NoExecute".into()),
        toleration_seconds: Some(5),
        ..Default::default()
    };
    spec.tolerations =
        Some(vec![toleration("node.kubernetes.io/unreachable"), toleration("node.kubernetes.io/not-ready")]);
}

/// One broker of `mode` that prefers node `first` and may also run on `second` (so it is on the lost
/// node, and has one place to go).
async fn one_broker_on(c: &kube::Client, ns: &str, name: &str, broker: Broker, first: &str, second: &str) {
    let mut sts = broker.build(ns);
    leave_lost_nodes_soon(&mut sts);
    let spec = sts.spec.as_mut().and_then(|s| s.template.spec.as_mut()).unwrap();
    spec.affinity = Some(
        serde_json::from_value(json!({"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [first, second]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": {"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [first]}]}}]}}))
        .unwrap(),
    );
    Api::<StatefulSet>::namespaced(c.clone(), ns).create(&PostParams::default(), &sts).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    let pod = format!("{name}-0");
    wait_for(&format!("{pod} on {first}"), Duration::from_secs(90), || async {
        let p = pods.get_opt(&pod).await.ok()??;
        (p.spec.as_ref()?.node_name.as_deref() == Some(first)).then_some(())
    })
    .await;
}

/// The pod `name` once it is a new one (not `old`), running on `node`.
async fn recreated_on(c: &kube::Client, ns: &str, name: &str, old: &Pod, node: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    wait_for(&format!("{name} recreated on {node}"), Duration::from_secs(120), || async {
        let p = pods.get_opt(name).await.ok()??;
        let on = p.spec.as_ref()?.node_name.clone()?;
        (p.metadata.uid != old.metadata.uid && on == node && p.status.as_ref()?.host_ip.is_some()).then_some(p)
    })
    .await
}

/// A gateway-tcp, a nodeport and a pod-ip broker on the lost node, each with one other node to go
/// to, and what each advertised.
struct OtherModes {
    gw: (Pod, String),
    np: (Pod, String),
    pi: (Pod, String),
}

impl OtherModes {
    async fn on(c: &kube::Client, ns: &str, node: &str, other: &str) -> OtherModes {
        create_gateway(c, ns, "edge", json!([{"name": "web", "port": 8443, "protocol": "TCP"}])).await;
        testenv().script(&["gateway", &format!("{ns}/edge"), "203.0.113.9"]);
        let gw = Broker::new("gw", 1)
            .annotate("kafka-advertiser.io/mode", "gateway-tcp")
            .annotate("kafka-advertiser.io/gateway", "edge")
            .annotate("kafka-advertiser.io/port-base", "19092");
        one_broker_on(c, ns, "gw", gw, node, other).await;
        let base = free_node_ports(c, 1).await.to_string();
        let np = Broker::new("np", 1)
            .annotate("kafka-advertiser.io/mode", "nodeport")
            .annotate("kafka-advertiser.io/node-port-base", &base);
        one_broker_on(c, ns, "np", np, node, other).await;
        one_broker_on(c, ns, "pi", Broker::new("pi", 1).annotate("kafka-advertiser.io/mode", "pod-ip"), node, other)
            .await;
        let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
        let with = |p: Pod| {
            let v = env_value(&p, "kafka", "KAFKA_ADVERTISED_LISTENERS").expect("the listeners injected");
            (p, v)
        };
        let others = OtherModes {
            gw: with(pods.get("gw-0").await.unwrap()),
            np: with(pods.get("np-0").await.unwrap()),
            pi: with(pods.get("pi-0").await.unwrap()),
        };
        assert!(others.gw.1.ends_with("EXTERNAL://203.0.113.9:19092"), "{}", others.gw.1);
        assert!(
            others.np.1.contains("$(ADVERTISER_HOST_IP)"),
            "nodeport advertises its node's address: {}",
            others.np.1
        );
        assert!(others.pi.1.contains("$(ADVERTISER_POD_IP)"), "pod-ip advertises its own address: {}", others.pi.1);
        others
    }

    /// gateway-tcp: the Gateway's address, as before. nodeport and pod-ip: the same listeners, which
    /// the kubelet expands with the new node's address (status.hostIP) or the new pod's (status.podIP,
    /// from the new node's pod range), each another one than before.
    async fn came_back(&self, c: &kube::Client, ns: &str, other: &str) {
        let gw = recreated_on(c, ns, "gw-0", &self.gw.0, other).await;
        assert_eq!(env_value(&gw, "kafka", "KAFKA_ADVERTISED_LISTENERS").as_ref(), Some(&self.gw.1));
        let np = recreated_on(c, ns, "np-0", &self.np.0, other).await;
        assert_eq!(env_value(&np, "kafka", "KAFKA_ADVERTISED_LISTENERS").as_ref(), Some(&self.np.1));
        let host = |p: &Pod| p.status.as_ref().and_then(|s| s.host_ip.clone());
        assert!(host(&np).is_some() && host(&np) != host(&self.np.0), "np-0 moved: {:?}", host(&np));
        let pi = recreated_on(c, ns, "pi-0", &self.pi.0, other).await;
        assert_eq!(env_value(&pi, "kafka", "KAFKA_ADVERTISED_LISTENERS").as_ref(), Some(&self.pi.1));
        let pod_ip = |p: &Pod| p.status.as_ref().and_then(|s| s.pod_ip.clone());
        let pi = wait_for("pi-0's new pod IP", Duration::from_secs(60), || async {
            let p = Api::<Pod>::namespaced(c.clone(), ns).get("pi-0").await.ok()?;
            (p.metadata.uid == pi.metadata.uid && pod_ip(&p).is_some()).then_some(p)
        })
        .await;
        assert!(
            pod_ip(&pi) != pod_ip(&self.pi.0),
            "pi-0 has a new address: {:?} (was {:?})",
            pod_ip(&pi),
            pod_ip(&self.pi.0)
        );
    }
}

#[tokio::test]
async fn a_lost_nodes_broker_comes_back_elsewhere_with_its_address_once_the_node_is_out_of_service() {
    let _g = INSTALL.write().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-lost").await;
    let mut sts = Broker::new("kafka", 2).annotate("kafka-advertiser.io/mode", "loadbalancer").build(&ns);
    leave_lost_nodes_soon(&mut sts);
    Api::<StatefulSet>::namespaced(c.clone(), &ns).create(&PostParams::default(), &sts).await.unwrap();
    let before = converged(&c, &ns, "kafka", 2, 9094).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), &ns);
    let nodes: Api<Node> = Api::all(c.clone());
    let old = pods.get("kafka-1").await.unwrap();
    let node = old.spec.as_ref().and_then(|s| s.node_name.clone()).expect("kafka-1 is bound");
    let other = pods.get("kafka-0").await.unwrap().spec.and_then(|s| s.node_name).expect("kafka-0 is bound");
    let others = OtherModes::on(&c, &ns, &node, &other).await;

    let audit = Audit::mark();
    let t0 = Instant::now();
    let lost = NodeLost::lose(&node);
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
    let terminating = t0.elapsed();
    // No kubelet confirms it gone: it stays, so the StatefulSet controller makes no replacement.
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let p = pods.get("kafka-1").await.unwrap();
        assert_eq!(p.metadata.uid, old.metadata.uid, "kafka-1 stays Terminating while its node is only unreachable");
    }
    // The operator's word that the node is shut down.
    let (marked, marked_at) = (Timestamp::now(), t0.elapsed());
    testenv().kubectl(&["taint", "node", &node, "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute"]);
    let again = wait_for("kafka-1 recreated on another node", Duration::from_secs(120), || async {
        let p = pods.get_opt("kafka-1").await.ok()??;
        let on = p.spec.as_ref()?.node_name.clone()?;
        (p.metadata.uid != old.metadata.uid && on != node).then_some(p)
    })
    .await;
    let back = t0.elapsed();
    let advertised = env_value(&again, "kafka", "KAFKA_ADVERTISED_LISTENERS").expect("the listeners injected");
    assert!(advertised.contains(&format!("EXTERNAL://{}:9094", before[&1])), "the address it had: {advertised}");
    assert_eq!(converged(&c, &ns, "kafka", 2, 9094).await, before, "every broker keeps its address");
    others.came_back(&c, &ns, &other).await;

    // From the audit log: no replacement was created while the old broker was Terminating.
    let creates: Vec<Timestamp> = audit
        .entries()
        .iter()
        .filter(|e| e["objectRef"]["namespace"] == ns.as_str() && e["verb"] == "create")
        .filter(|e| e["objectRef"]["resource"] == "pods" && e["responseStatus"]["code"] == 201)
        .map(audit_time)
        .collect::<Vec<_>>();
    assert!(!creates.is_empty() && creates.iter().all(|t| *t >= marked), "created only after the taint: {creates:?}");
    drop(lost);
    assert!(node_ready(&nodes.get(&node).await.unwrap()), "{node} is back");
    eprintln!(
        "node lost: {node} NotReady after {:.1} s, kafka-1 Terminating after {:.1} s, out-of-service at {:.1} s, \
         kafka-1 admitted on {} with its address after {:.1} s",
        not_ready.as_secs_f64(),
        terminating.as_secs_f64(),
        marked_at.as_secs_f64(),
        again.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default(),
        back.as_secs_f64()
    );
}
