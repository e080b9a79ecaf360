//! Real Apache Kafka, end to end: broker pods that the StatefulSet controller created and
//! kafka-advertiser mutated run as real Kafka 4.1 brokers (the test environment's pod runner, by the
//! apache/kafka image's own start-up), their load-balancer addresses relay to the pods (the runner's
//! Service proxy), and outside clients (the Java client, librdkafka, kafka-python) bootstrap through
//! one external address and produce to and consume from a partition led by every broker.
//!
//! The control is the seed's problem: the same cluster without the webhook, reached through a
//! hand-made load balancer, hands the outside client in-cluster names it cannot use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};

use crate::*;

/// A namespace deleted (with its brokers) when the test ends, however it ends.
pub struct TempNamespace(pub String);

impl Drop for TempNamespace {
    fn drop(&mut self) {
        let env = testenv();
        let _ = Command::new(env.tool("kubectl"))
            .arg(format!("--kubeconfig={}", env.kubeconfig().display()))
            .args(["delete", "namespace", &self.0, "--wait=false"])
            .output();
    }
}

/// A KRaft cluster of combined broker-controllers as the apache/kafka image documents it: node id
/// from the pod index label, voters by their headless-Service names, data on a claim, readiness on
/// the internal port; annotated for the test environment's pod runner.
pub struct RealKafka {
    pub name: String,
    pub replicas: usize,
    pub annotations: Vec<(String, String)>,
    pub opted_in: bool,
    /// Env set on the broker container (replacing a default of the same name), apache/kafka names.
    pub env: Vec<(String, String)>,
    /// The Bitnami image (`KAFKA_CFG_*`, `KAFKA_KRAFT_CLUSTER_ID`) instead of apache/kafka.
    pub bitnami: bool,
    /// KRaft controllers of their own: a StatefulSet `<name>-controller` of this many (not opted in,
    /// node ids 90, 91, …), and brokers with `process.roles=broker`.
    pub controllers: Option<usize>,
    /// The broker container's own `command` (a start-up script), instead of the image's.
    pub command: Option<Vec<String>>,
    /// The broker image's tag (apache/kafka; the pod runner runs that Kafka version's jars when it
    /// has them), instead of 4.1.1.
    pub tag: Option<String>,
}

impl RealKafka {
    pub fn new(name: &str, replicas: usize, mode: &str) -> RealKafka {
        RealKafka {
            name: name.into(),
            replicas,
            annotations: vec![("kafka-advertiser.io/mode".into(), mode.into())],
            opted_in: true,
            env: vec![],
            bitnami: false,
            controllers: None,
            command: None,
            tag: None,
        }
    }

    fn controller_name(&self) -> String {
        format!("{}-controller", self.name)
    }

    fn headless(&self) -> String {
        format!("{}-headless", self.name)
    }

    fn voters(&self, ns: &str) -> String {
        let (sts, n, id) = match self.controllers {
            Some(n) => (self.controller_name(), n, 90),
            None => (self.name.clone(), self.replicas, 0),
        };
        (0..n)
            .map(|i| format!("{}@{sts}-{i}.{sts}-headless.{ns}.svc.cluster.local:9093", id + i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The container env in the image's own naming (Bitnami: `KAFKA_CFG_*`).
    fn image_env(&self, env: &mut [Value]) {
        if !self.bitnami {
            return;
        }
        for e in env.iter_mut() {
            let name = e["name"].as_str().unwrap().to_owned();
            if name == "CLUSTER_ID" {
                e["name"] = json!("KAFKA_KRAFT_CLUSTER_ID");
            } else if let Some(rest) = name.strip_prefix("KAFKA_") {
                e["name"] = json!(format!("KAFKA_CFG_{rest}"));
            }
        }
    }

    fn image(&self) -> String {
        match (self.bitnami, &self.tag) {
            (true, _) => "bitnami/kafka:4.0".into(),
            (false, Some(tag)) => format!("apache/kafka:{tag}"),
            (false, None) => "apache/kafka:4.1.1".into(),
        }
    }

    pub fn statefulset(&self, ns: &str) -> Value {
        let mut labels = json!({"app.kubernetes.io/name": self.name});
        if self.opted_in {
            labels["kafka-advertiser.io/enabled"] = json!("true");
        }
        let mut annotations: serde_json::Map<String, Value> =
            self.annotations.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        annotations.insert("testenv.kafka-advertiser.io/run".into(), json!("broker"));
        let internal = format!("$(POD_NAME).{}.{ns}.svc.cluster.local", self.headless());
        let rf = self.replicas.min(3).to_string();
        let mut sts = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": self.name, "namespace": ns},
            "spec": {
                "serviceName": self.headless(), "replicas": self.replicas, "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": {"app.kubernetes.io/name": self.name}},
                "template": {
                    "metadata": {"labels": labels, "annotations": annotations},
                    "spec": {"terminationGracePeriodSeconds": 10, "containers": [{
                        "name": "kafka", "image": self.image(),
                        "ports": [{"name": "internal", "containerPort": 9092}, {"name": "controller", "containerPort": 9093},
                                  {"name": "external", "containerPort": 9094}],
                        "readinessProbe": {"tcpSocket": {"port": "internal"}, "periodSeconds": 2},
                        "env": [
                            {"name": "KAFKA_NODE_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}}},
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "CLUSTER_ID", "value": "5L6g3nShT-eMCtK--X86sw"},
                            {"name": "KAFKA_PROCESS_ROLES", "value": if self.controllers.is_some() { "broker" } else { "broker,controller" }},
                            {"name": "KAFKA_CONTROLLER_LISTENER_NAMES", "value": "CONTROLLER"},
                            {"name": "KAFKA_CONTROLLER_QUORUM_VOTERS", "value": self.voters(ns)},
                            {"name": "KAFKA_LISTENERS", "value": if self.controllers.is_some() { "INTERNAL://:9092,EXTERNAL://:9094" } else { "INTERNAL://:9092,CONTROLLER://:9093,EXTERNAL://:9094" }},
                            {"name": "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "value": "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT"},
                            {"name": "KAFKA_INTER_BROKER_LISTENER_NAME", "value": "INTERNAL"},
                            {"name": "KAFKA_ADVERTISED_LISTENERS", "value": format!("INTERNAL://{internal}:9092,EXTERNAL://{internal}:9094")},
                            {"name": "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "value": rf},
                            {"name": "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "value": rf},
                            {"name": "KAFKA_LOG_DIRS", "value": "/var/lib/kafka/data"},
                        ],
                        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/kafka/data"}],
                    }]}
                },
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
            }
        });
        let env = sts["spec"]["template"]["spec"]["containers"][0]["env"].as_array_mut().unwrap();
        for (k, v) in &self.env {
            env.retain(|e| e["name"] != k.as_str());
            env.push(json!({"name": k, "value": v}));
        }
        self.image_env(env);
        if let Some(command) = &self.command {
            sts["spec"]["template"]["spec"]["containers"][0]["command"] = json!(command);
        }
        sts
    }

    /// The separate KRaft controllers: a plain StatefulSet, not opted in (kafka-advertiser leaves it
    /// alone), node ids 90 + index (`9$(POD_INDEX)`: env cannot add, it can prefix).
    pub fn controller_statefulset(&self, ns: &str, n: usize) -> Value {
        let name = self.controller_name();
        let mut sts = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "serviceName": format!("{name}-headless"), "replicas": n, "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": name}, "annotations": {"testenv.kafka-advertiser.io/run": "broker"}},
                    "spec": {"terminationGracePeriodSeconds": 10, "containers": [{
                        "name": "kafka", "image": self.image(),
                        "ports": [{"name": "controller", "containerPort": 9093}],
                        "readinessProbe": {"tcpSocket": {"port": "controller"}, "periodSeconds": 2},
                        "env": [
                            {"name": "POD_INDEX", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}}},
                            {"name": "KAFKA_NODE_ID", "value": "9$(POD_INDEX)"},
                            {"name": "CLUSTER_ID", "value": "5L6g3nShT-eMCtK--X86sw"},
                            {"name": "KAFKA_PROCESS_ROLES", "value": "controller"},
                            {"name": "KAFKA_CONTROLLER_LISTENER_NAMES", "value": "CONTROLLER"},
                            {"name": "KAFKA_CONTROLLER_QUORUM_VOTERS", "value": self.voters(ns)},
                            {"name": "KAFKA_LISTENERS", "value": "CONTROLLER://:9093"},
                            {"name": "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "value": "CONTROLLER:PLAINTEXT"},
                            {"name": "KAFKA_LOG_DIRS", "value": "/var/lib/kafka/data"},
                        ],
                        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/kafka/data"}],
                    }]}
                },
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
            }
        });
        self.image_env(sts["spec"]["template"]["spec"]["containers"][0]["env"].as_array_mut().unwrap());
        sts
    }

    pub async fn create(&self, c: &Client, ns: &str) {
        self.create_with(c, ns, |_| {}).await
    }

    /// `create`, with the brokers' StatefulSet edited by `edit` first.
    pub async fn create_with(&self, c: &Client, ns: &str, edit: impl Fn(&mut StatefulSet)) {
        let mut sets = vec![(self.name.clone(), self.statefulset(ns))];
        if let Some(n) = self.controllers {
            sets.push((self.controller_name(), self.controller_statefulset(ns, n)));
        }
        for (name, sts) in sets {
            let svc: Service = serde_json::from_value(json!({
                "metadata": {"name": format!("{name}-headless"), "namespace": ns},
                "spec": {"clusterIP": "None", "publishNotReadyAddresses": true,
                         "selector": {"app.kubernetes.io/name": name},
                         "ports": [{"name": "internal", "port": 9092}, {"name": "controller", "port": 9093}]}
            }))
            .unwrap();
            Api::<Service>::namespaced(c.clone(), ns).create(&PostParams::default(), &svc).await.unwrap();
            let mut sts: StatefulSet = serde_json::from_value(sts).unwrap();
            if name == self.name {
                edit(&mut sts);
            }
            Api::<StatefulSet>::namespaced(c.clone(), ns).create(&PostParams::default(), &sts).await.unwrap();
        }
    }
}

/// Wait until every replica of the StatefulSet is ready (its broker accepts connections).
pub async fn brokers_ready(c: &Client, ns: &str, sts: &str, n: usize) -> Duration {
    let t0 = Instant::now();
    let api = Api::<StatefulSet>::namespaced(c.clone(), ns);
    wait_for(
        &format!("{n} ready brokers in {ns}/{sts} (broker logs: target/testenv/pods/pods/{ns}_*)"),
        Duration::from_secs(180),
        || async {
            let s = api.get(sts).await.ok()?;
            (s.status?.ready_replicas? as usize == n).then_some(())
        },
    )
    .await;
    t0.elapsed()
}

/// Which client implementation, and what it printed.
#[derive(Debug)]
pub struct RoundTrip {
    pub ok: bool,
    pub out: Value,
    pub log: String,
    pub took: Duration,
}

fn kafka_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/kafka")
}

/// The jars of a Java client: `java` runs the default Kafka's (4.1), `java-3.9` 3.9's (the pod
/// runner's other versions, `KAFKA_ADVERTISER_TESTENV_KAFKA_LIBS_FOR`); None for other clients.
fn java_client_libs(client: &str) -> Option<String> {
    let env = testenv();
    match client.strip_prefix("java") {
        Some("") => Some(env.var("KAFKA_ADVERTISER_TESTENV_KAFKA_LIBS").to_string()),
        Some(v) => {
            let v = v.strip_prefix('-')?;
            let all = env.var("KAFKA_ADVERTISER_TESTENV_KAFKA_LIBS_FOR");
            let libs = all.split(',').find_map(|e| e.strip_prefix(&format!("{v}=")).map(str::to_owned));
            Some(libs.unwrap_or_else(|| panic!("no Kafka {v} jars in KAFKA_ADVERTISER_TESTENV_KAFKA_LIBS_FOR={all}")))
        }
        None => None,
    }
}

/// One client round trip: `java` (4.1), `java-3.9`, `kafka-python` (2.3), `kafka-python-3`,
/// `librdkafka`, `franz-go`, `sarama` or `kafkajs`.
/// `hosts`: names an outside resolver knows (a hosts file; empty: IP literals only). `ca`: a PEM
/// bundle to trust (then TLS is used).
pub fn round_trip(
    client: &str,
    bootstrap: &str,
    topic: &str,
    brokers: usize,
    timeout_s: u32,
    hosts: &Path,
    ca: Option<&Path>,
) -> RoundTrip {
    let env = testenv();
    let t0 = Instant::now();
    let mut cmd = if let Some(libs) = java_client_libs(client) {
        let mut cmd = Command::new("java");
        cmd.args(["-Xmx128m", "-XX:TieredStopAtLevel=1"])
            .arg(format!("-Dlog4j2.configurationFile={}", kafka_dir().join("client-log4j2.yaml").display()))
            .arg(format!("-Djdk.net.hosts.file={}", hosts.display()))
            .arg("-cp")
            .arg(format!("{libs}/*"))
            .arg(kafka_dir().join("Client.java"))
            .args([bootstrap, topic, &brokers.to_string(), &timeout_s.to_string()]);
        if let Some(ca) = ca {
            cmd.arg(ca);
        }
        cmd
    } else {
        // The others take the same arguments: python3 client.py (kafka-python, librdkafka), the Go
        // clients (tools/testenv/kafkaclients) and kafkajs (tests/e2e/kafka/node).
        let mut cmd = match client {
            "kafkajs" => {
                let mut cmd = Command::new("node");
                cmd.arg(kafka_dir().join("node/client.js"));
                cmd
            }
            "franz-go" | "sarama" => {
                let mut cmd = Command::new(env.var("KAFKA_ADVERTISER_TESTENV_KAFKACLIENTS"));
                cmd.args(["--client", client]);
                cmd
            }
            _ => {
                let mut cmd = Command::new("python3");
                if client == "librdkafka" && std::fs::metadata(hosts).map(|m| m.len() > 0).unwrap_or(false) {
                    // librdkafka resolves with the C library: Debian's nss_wrapper answers from the hosts file.
                    cmd.env("LD_PRELOAD", "libnss_wrapper.so").env("NSS_WRAPPER_HOSTS", hosts);
                }
                let mut py = client;
                if client == "kafka-python-3" {
                    // kafka-python 3 first on the path (the suite's own is 2.3).
                    cmd.env("PYTHONPATH", env.var("KAFKA_ADVERTISER_TESTENV_KAFKA_PYTHON_3"));
                    py = "kafka-python";
                }
                cmd.arg(kafka_dir().join("client.py")).args(["--client", py]);
                cmd
            }
        };
        cmd.args(["--bootstrap", bootstrap, "--topic", topic])
            .args(["--brokers", &brokers.to_string(), "--timeout", &timeout_s.to_string()])
            .arg("--hosts")
            .arg(hosts);
        if let Some(ca) = ca {
            cmd.arg("--ca").arg(ca);
        }
        cmd
    };
    let out = cmd.output().unwrap_or_else(|e| panic!("{client}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| {
        panic!("{client} printed no result ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    RoundTrip { ok: out.status.success(), out: v, log: String::from_utf8_lossy(&out.stderr).into(), took: t0.elapsed() }
}

/// The brokers a client learned from the cluster's metadata, as `host:port`, sorted.
pub fn learned(rt: &RoundTrip) -> Vec<String> {
    let mut v: Vec<String> =
        rt.out["brokers"].as_array().unwrap().iter().map(|b| format!("{}:{}", b[1].as_str().unwrap(), b[2])).collect();
    v.sort();
    v
}

/// Every client produced to and consumed from a partition led by each broker, reaching each at the
/// address the webhook advertised for it.
pub fn assert_every_broker(rt: &RoundTrip, client: &str, want: &[String]) {
    assert!(rt.ok, "{client}: round trip failed: {}", rt.out);
    assert_eq!(learned(rt), want, "{client}: the brokers' advertised addresses: {}", rt.out);
    let leaders: std::collections::BTreeSet<u64> =
        rt.out["leaders"].as_object().unwrap().values().filter_map(Value::as_u64).collect();
    assert_eq!(leaders.len(), want.len(), "{client}: a partition led by every broker: {}", rt.out);
}

pub fn hosts_file(dir: &Path, lines: &[String]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("client-hosts");
    std::fs::write(&p, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    p
}

/// At most two real broker clusters at a time (CI has two cores).
pub static KAFKA_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

pub const CLIENTS: [&str; 3] = ["java", "librdkafka", "kafka-python"];

/// Every client the suite has: `CLIENTS`, the Java client of Kafka 3.9, kafka-python 3, franz-go, sarama
/// (tools/testenv/kafkaclients) and kafkajs (tests/e2e/kafka/node), which run where issue 31 asks:
/// loadbalancer, shared-address and gateway-tls.
pub const ALL_CLIENTS: [&str; 8] =
    ["java", "java-3.9", "librdkafka", "kafka-python", "kafka-python-3", "franz-go", "sarama", "kafkajs"];

/// Every client bootstraps through `bootstrap` and reaches each broker at `want[N]` (sorted).
pub fn clients_reach(work: &Path, bootstrap: &str, want: &[String], hosts: &[String], ca: Option<&Path>) {
    clients_reach_with(&CLIENTS, work, bootstrap, want, hosts, ca)
}

/// `clients_reach` with the given clients only.
pub fn clients_reach_with(
    clients: &[&str],
    work: &Path,
    bootstrap: &str,
    want: &[String],
    hosts: &[String],
    ca: Option<&Path>,
) {
    let hosts = hosts_file(work, hosts);
    for &client in clients {
        let topic = format!("orders-{client}");
        let rt = round_trip(client, bootstrap, &topic, want.len(), 60, &hosts, ca);
        assert_every_broker(&rt, client, want);
        eprintln!(
            "{client}: produced to and consumed from {} brokers through {bootstrap} in {:?}",
            want.len(),
            rt.took
        );
    }
}

/// A namespace, and a real cluster in it ready to serve; returns the namespace guard and its pods.
pub async fn ready_cluster(
    c: &Client,
    prefix: &str,
    kafka: &RealKafka,
) -> (TempNamespace, Vec<k8s_openapi::api::core::v1::Pod>) {
    let ns = TempNamespace(namespace(c, prefix).await);
    kafka.create(c, &ns.0).await;
    brokers_ready(c, &ns.0, &kafka.name, kafka.replicas).await;
    let pods = pods_of(c, &ns.0, &kafka.name).await;
    (ns, pods)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The Java producer and consumer of `Soak.java`, running until `stop()`.
pub struct Soak {
    child: std::process::Child,
    stop: PathBuf,
}

impl Soak {
    pub fn start(work: &Path, bootstrap: &str, topic: &str) -> Soak {
        let env = testenv();
        let stop = work.join(format!("stop-{topic}"));
        let _ = std::fs::remove_file(&stop);
        let _ = std::fs::remove_file(stop.with_extension("started"));
        let hosts = hosts_file(work, &[]);
        let child = Command::new("java")
            .args(["-Xmx192m", "-XX:TieredStopAtLevel=1"])
            .arg(format!("-Dlog4j2.configurationFile={}", kafka_dir().join("client-log4j2.yaml").display()))
            .arg(format!("-Djdk.net.hosts.file={}", hosts.display()))
            .arg("-cp")
            .arg(format!("{}/*", env.var("KAFKA_ADVERTISER_TESTENV_KAFKA_LIBS")))
            .arg(kafka_dir().join("Soak.java"))
            .args([bootstrap, topic])
            .arg(&stop)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(work.join(format!("soak-{topic}.log"))).unwrap())
            .spawn()
            .unwrap();
        Soak { child, stop }
    }

    /// Wait until its topic exists and it produces (before anything may take a broker away).
    pub async fn running(&self) {
        let started = self.stop.with_extension("started");
        wait_for("the soak's topic", Duration::from_secs(90), || async { started.exists().then_some(()) }).await;
    }

    pub fn finish(mut self) -> Value {
        std::fs::write(&self.stop, "").unwrap();
        let mut out = String::new();
        use std::io::Read;
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let _ = self.child.wait();
        serde_json::from_str(out.lines().last().unwrap_or(""))
            .unwrap_or_else(|e| panic!("soak printed no result ({e}): {out}"))
    }
}

/// The transactional producer's verdict (`Soak.java`): transactions committed, every committed batch
/// read whole and once (read_committed), no record of an aborted one, no batch in part.
pub fn assert_transactions_held(result: &Value) {
    assert!(result["txnCommitted"].as_u64().unwrap_or(0) > 10, "transactions were committed: {result}");
    assert!(result["txnAborted"].as_u64().unwrap_or(0) > 0, "transactions were aborted: {result}");
    for k in ["txnLost", "txnDuplicates", "txnAbortedVisible", "txnTorn"] {
        assert_eq!(result[k], 0, "{k}: {result}");
    }
}

impl Drop for Soak {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every replica updated to the current template and ready (as `kubectl rollout status` waits).
pub async fn rolled_out(c: &Client, ns: &str, sts: &str, n: usize) {
    let api = Api::<StatefulSet>::namespaced(c.clone(), ns);
    wait_for(&format!("{ns}/{sts} rolled out with {n} ready replicas"), Duration::from_secs(300), || async {
        let s = api.get(sts).await.ok()?;
        let st = s.status?;
        let done = st.observed_generation == s.metadata.generation
            && st.replicas as usize == n
            && st.ready_replicas? as usize == n
            && st.updated_replicas? as usize == n
            && st.current_revision.is_some()
            && st.current_revision == st.update_revision;
        done.then_some(())
    })
    .await;
}

mod configs;
pub mod faults;
mod lost;
mod migrate;
mod modes;
mod smoke;
