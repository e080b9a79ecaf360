//! A real Kafka client round trip through the addresses kafka-advertiser gave the brokers.
//!
//! For one loadbalancer-mode StatefulSet: one Kafka-protocol broker per admitted pod
//! (`tests/e2e/kafka/brokers.py`), each advertising exactly the listener string the API server
//! stored in that pod; a TCP forwarder on each MetalLB address (what the load balancer would be);
//! and an outside client (kafka-python, `tests/e2e/kafka/client.py`) that bootstraps through one
//! address and produces to and consumes from every broker. The control: the same brokers
//! advertising their in-cluster names, and the same client fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kube::ResourceExt;
use serde_json::{json, Value};

use crate::*;

/// Child processes stopped (by pid) when the test ends, however it ends.
#[derive(Default)]
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn kafka_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/kafka")
}

/// host:port of listener `name` in a Kafka listener list.
fn listener(list: &str, name: &str) -> String {
    list.split(',')
        .find_map(|e| e.trim().strip_prefix(&format!("{name}://")))
        .unwrap_or_else(|| panic!("no {name} listener in {list:?}"))
        .to_owned()
}

/// Start the broker cluster; returns once every broker listens.
fn start_brokers(children: &mut Children, work: &Path, tag: &str, listener: &str, brokers: &[Value]) -> PathBuf {
    let stats = work.join(format!("stats-{tag}.json"));
    let cfg = work.join(format!("brokers-{tag}.json"));
    std::fs::write(&cfg, json!({"listener": listener, "stats": stats, "brokers": brokers}).to_string()).unwrap();
    let mut child = Command::new("python3")
        .arg(kafka_dir().join("brokers.py"))
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(work.join(format!("brokers-{tag}.log"))).unwrap())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "brokers did not start; see {}",
        work.join(format!("brokers-{tag}.log")).display()
    );
    children.0.push(child);
    stats
}

fn run_client(bootstrap: &str, topic: &str, timeout_s: u32) -> (bool, Value) {
    let out = Command::new("python3")
        .arg(kafka_dir().join("client.py"))
        .args([bootstrap, topic, &timeout_s.to_string()])
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| {
        panic!("client printed no result ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    (out.status.success(), v)
}

#[tokio::test]
async fn kafka_client_produces_and_consumes_through_every_broker() {
    let _g = INSTALL.read().await;
    let env = testenv();
    let c = client().await;
    let ns = namespace(&c, "e2e-kafka").await;
    Broker::new("kafka", 3).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    converged(&c, &ns, "kafka", 3, 9094).await;

    let work = env.dir.join("kafka").join(&ns);
    std::fs::create_dir_all(&work).unwrap();
    let mut children = Children::default();
    // What the API server stored in each pod, and a forwarder on each load-balancer address.
    let mut brokers = Vec::new();
    let mut external = Vec::new();
    for pod in pods_of(&c, &ns, "kafka").await {
        let advertised = env_value(&pod, "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
        let ext = listener(&advertised, "EXTERNAL");
        let port = free_port();
        let fwd = Command::new(env.tool("forward"))
            .args(["-listen", &ext, "-to", &format!("127.0.0.1:{port}")])
            .stderr(std::fs::File::create(work.join(format!("forward-{}.log", pod.name_any()))).unwrap())
            .spawn()
            .unwrap();
        children.0.push(fwd);
        brokers.push(
            json!({"id": ordinal_of(&pod.name_any()), "listen": format!("127.0.0.1:{port}"), "advertised": advertised}),
        );
        external.push(ext);
    }
    // Let the forwarders bind.
    for ext in &external {
        wait_for(&format!("forwarder on {ext}"), Duration::from_secs(10), || async {
            std::net::TcpStream::connect(ext).ok().map(|_| ())
        })
        .await;
    }

    let stats = start_brokers(&mut children, &work, "external", "EXTERNAL", &brokers);
    let (ok, result) = run_client(&external[1], "orders", 20);
    assert!(ok, "round trip failed: {result}");
    // The client learned every broker at its external address, and talked to each one.
    let mut learned: Vec<String> =
        result["brokers"].as_array().unwrap().iter().map(|b| format!("{}:{}", b[1].as_str().unwrap(), b[2])).collect();
    learned.sort();
    let mut want = external.clone();
    want.sort();
    assert_eq!(learned, want);
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(stats).unwrap()).unwrap();
    for b in &brokers {
        let s = &stats[b["id"].to_string()];
        assert!(s["produce"].as_u64() >= Some(1) && s["fetch"].as_u64() >= Some(1), "broker {}: {stats}", b["id"]);
    }
    // Stop those brokers; the control: the same brokers advertising their in-cluster names.
    for mut child in children.0.drain(external.len()..) {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let stats = start_brokers(&mut children, &work, "internal", "INTERNAL", &brokers);
    let (ok, result) = run_client(&external[1], "orders", 5);
    assert!(!ok, "the client must fail when brokers advertise in-cluster names: {result}");
    assert!(result["produced"].as_object().unwrap().is_empty(), "{result}");
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(stats).unwrap()).unwrap();
    assert!(stats.as_object().unwrap().values().all(|s| s.get("produce").is_none()), "{stats}");
}
