//! Faults of the control plane under running brokers and clients (issue 32): the controller's leader
//! killed with SIGKILL during a scale-up while MetalLB's controller restarts, then kube-apiserver
//! restarted during a scale-up, etcd and kube-controller-manager restarted one after another
//! (`scripts/testenv.sh restart`), each followed by a scale-up; last, `kubectl drain` of a broker's
//! node with a PodDisruptionBudget, then uncordon. Three real
//! brokers with a producer (acks=all) and a consumer run throughout (4 JVMs on 2 cores); the scale-up
//! is of a second, bare StatefulSet (kwok runs its pods: no JVM), whose new brokers' Services wait for
//! MetalLB. No acknowledged message is lost, the produce gaps are bounded, every broker keeps the
//! address it had, and the scaled StatefulSet converges. Prints a timeline: fault, time to converge,
//! the longest produce gap from its start until the next fault.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Pod;

use super::*;

/// This test's client directory (hosts file, client logs), as `modes` keeps one per namespace.
fn work(ns: &TempNamespace) -> std::path::PathBuf {
    testenv().dir.join("kafka").join(&ns.0)
}

pub fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// One fault: its name, when it began (epoch ms), and how long until the cluster had converged.
pub struct Fault {
    pub name: String,
    pub at: u64,
    pub took: Duration,
}

/// The longest produce gap that began or was going on in [from, to).
fn longest_gap(gaps: &[(u64, u64)], from: u64, to: u64) -> u64 {
    gaps.iter().filter(|(start, len)| *start < to && start + len > from).map(|(_, len)| *len).max().unwrap_or(0)
}

/// `kubectl drain` of broker 1's node with a PodDisruptionBudget (maxUnavailable 1) on the brokers:
/// the broker is evicted and its replacement cannot go elsewhere (required anti-affinity, every other
/// node holds a broker), so it waits unscheduled, as it would in a cluster of three nodes, until the
/// node is uncordoned; then it runs there again with the address it had.
async fn drain_a_brokers_node(c: &Client, ns: &str) -> Fault {
    let env = testenv();
    let (at, t) = (epoch_ms(), Instant::now());
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "kafka", "namespace": ns},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "kafka"}}}});
    env.kubectl_stdin(&["apply", "-f", "-"], &pdb.to_string());
    let old = pods_of(c, ns, "kafka").await.into_iter().find(|p| p.name_any() == "kafka-1").unwrap();
    let node = old.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap();
    // The brokers only (kwok's other pods on the node belong to other tests' leftovers).
    env.kubectl(&["drain", &node, "--pod-selector=app.kubernetes.io/name=kafka", "--timeout=120s"]);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    wait_for("kafka-1's replacement waiting, unschedulable", Duration::from_secs(60), || async {
        let p = pods.get_opt("kafka-1").await.ok()??;
        let st = p.status.as_ref()?;
        let unschedulable =
            st.conditions.iter().flatten().any(|c| {
                c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable")
            });
        (p.uid() != old.uid() && unschedulable).then_some(())
    })
    .await;
    env.kubectl(&["uncordon", &node]);
    converged(c, ns, "kafka", 3, 9094).await;
    rolled_out(c, ns, "kafka", 3).await;
    let back = pods.get("kafka-1").await.unwrap();
    assert_eq!(back.spec.and_then(|s| s.node_name), Some(node.clone()), "kafka-1 runs on its node again");
    Fault {
        name: format!("kubectl drain of kafka-1's node {node} (PDB maxUnavailable 1), then uncordon"),
        at,
        took: t.elapsed(),
    }
}

/// Kill the controller's leader with SIGKILL however the install runs it: a host process by its pid
/// file (the harness started it), a pod through the pod runner (`scripts/testenv.sh crash`). No
/// graceful release: the follower writes only once the Lease has expired. Returns the victim; a
/// missing Lease or holder fails the test (there would be no leader to kill).
async fn kill_the_leader(c: &Client) -> String {
    let env = testenv();
    let lease: k8s_openapi::api::coordination::v1::Lease =
        Api::namespaced(c.clone(), "kafka-advertiser").get("kafka-advertiser").await.expect("the controller's Lease");
    let holder =
        lease.spec.and_then(|s| s.holder_identity).filter(|h| !h.is_empty()).expect("a leader holds the Lease");
    match holder.strip_prefix("testenv-") {
        Some(r) => {
            let pid = std::fs::read_to_string(env.pid_file(&format!("kafka-advertiser-controller-{r}"))).unwrap();
            assert!(std::process::Command::new("kill").args(["-KILL", pid.trim()]).status().unwrap().success());
        }
        None => {
            env.script(&["crash", &format!("kafka-advertiser/{holder}")]);
        }
    }
    holder
}

/// The fault sequence under the running 3-broker loadbalancer cluster `kafka` in `ns` (with its
/// clients): a second, bare StatefulSet `scaled` (kwok runs its pods: no JVM) is made, then each fault
/// comes with a scale-up of it, so the controller must act, not only keep what exists:
/// 1. the controller's leader killed with SIGKILL during a scale-up while MetalLB's controller restarts;
/// 2. kube-apiserver restarted during a scale-up; 3-4. etcd, then kube-controller-manager restarted;
/// 5. `kubectl drain` of a broker's node with a PodDisruptionBudget, then uncordon.
pub async fn fault_sequence(c: &Client, ns: &str) -> Vec<Fault> {
    let env = testenv();
    Broker::new("scaled", 1).annotate("kafka-advertiser.io/mode", "loadbalancer").create(c, ns).await;
    converged(c, ns, "scaled", 1, 9094).await;
    let mut faults = vec![];
    let (at, t) = (epoch_ms(), Instant::now());
    scale(c, ns, "scaled", 3).await;
    let killed = kill_the_leader(c).await;
    env.script(&["restart", "metallb"]);
    converged(c, ns, "scaled", 3, 9094).await;
    let name = format!("leader {killed} SIGKILL + MetalLB restart during a scale-up 1→3");
    faults.push(Fault { name, at, took: t.elapsed() });
    if env.pid_file("kafka-advertiser-controller-0").exists() {
        env.script(&["deploy"]); // the killed host process back (a pod restarts on its own)
    }

    // kube-apiserver restarts while the scale-up is under way (new Services waiting for their
    // addresses, the controller learning them): every watch fails at once and resumes with a 410
    // Expired. Before `watches::triggers` the controller stopped reconciling after that.
    let mut replicas = 3;
    for (component, during) in [("apiserver", true), ("etcd", false), ("controller-manager", false)] {
        let (at, t) = (epoch_ms(), Instant::now());
        replicas += 1;
        if during {
            scale(c, ns, "scaled", replicas).await;
            env.script(&["restart", component]);
        } else {
            env.script(&["restart", component]);
            scale(c, ns, "scaled", replicas).await;
        }
        // Converged again: every broker ready, advertising its own Service's address.
        converged(c, ns, "kafka", 3, 9094).await;
        rolled_out(c, ns, "kafka", 3).await;
        converged(c, ns, "scaled", replicas as usize, 9094).await;
        let name = match during {
            true => format!("{component} restarted during a scale-up"),
            false => format!("{component} restarted, then a scale-up"),
        };
        faults.push(Fault { name, at, took: t.elapsed() });
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    faults.push(drain_a_brokers_node(c, ns).await);
    faults
}

/// One line per fault: its name, its time to converge, and the longest produce gap from its start
/// until the next fault (from the soak's result).
pub fn timeline(faults: &[Fault], result: &Value) -> Vec<String> {
    let gaps: Vec<(u64, u64)> = result["gaps"]
        .as_array()
        .map(|a| a.iter().filter_map(|g| Some((g[0].as_u64()?, g[1].as_u64()?))).collect())
        .unwrap_or_default();
    let end = epoch_ms();
    faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let until = faults.get(i + 1).map_or(end, |n| n.at);
            format!(
                "{}: converged in {:.1?}, longest produce gap {} ms",
                f.name,
                f.took,
                longest_gap(&gaps, f.at, until)
            )
        })
        .collect()
}

/// What every soak under faults must show: nothing acknowledged lost, both clients kept going, the
/// transactions held, and no produce gap of 30 s (the data path does not go through the control plane).
pub fn assert_soak_held(result: &Value) {
    assert_eq!(result["lost"], 0, "acknowledged messages lost: {result}");
    assert!(result["acked"].as_u64().unwrap() > 1000, "the producer kept producing: {result}");
    assert!(result["consumedLive"].as_u64().unwrap() > 0, "the consumer group kept reading: {result}");
    assert_transactions_held(result);
    assert!(result["longestGapMs"].as_u64().unwrap() < 30_000, "a produce gap of 30 s or more: {result}");
}

#[tokio::test]
async fn no_acknowledged_message_is_lost_across_control_plane_faults() {
    // Restarting the API server is felt by every test: this one runs alone.
    let _g = INSTALL.write().await;
    let c = client().await;
    let kafka = RealKafka::new("kafka", 3, "loadbalancer");
    let ns = TempNamespace(namespace(&c, "e2e-kafka-faults").await);
    kafka.create(&c, &ns.0).await;
    let before = converged(&c, &ns.0, "kafka", 3, 9094).await;
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    let soak = Soak::start(&work(&ns), &format!("{}:9094", before[&0]), "faults");
    soak.running().await;
    tokio::time::sleep(Duration::from_secs(5)).await; // a steady state before the first fault
    let faults = fault_sequence(&c, &ns.0).await;
    let result = soak.finish();
    eprintln!("faults: {} | soak: {result}", timeline(&faults, &result).join("; "));
    assert_soak_held(&result);
    let after = converged(&c, &ns.0, "kafka", 3, 9094).await;
    for (o, addr) in &before {
        assert_eq!(&after[o], addr, "broker {o} changed its address across the faults");
    }
}
