//! Shared helpers: the test environment's coordinates, kube-rs clients, object builders, waits.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::{Api, Client, Config, ResourceExt};
use serde_json::{json, Value};

/// What the integration tests and this suite share (free ports, fixtures, the RBAC checks).
#[path = "../support/mod.rs"]
pub mod support;

/// Where `scripts/testenv.sh` keeps its state, and what `deploy` wrote there.
#[derive(Debug, Clone)]
pub struct TestEnv {
    pub dir: PathBuf,
    pub vars: BTreeMap<String, String>,
}

impl TestEnv {
    pub fn load() -> TestEnv {
        let dir = std::env::var_os("KAFKA_ADVERTISER_TESTENV_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/testenv"));
        let file = dir.join("env");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!(
                "no test environment at {} ({e}): run `scripts/testenv.sh build && scripts/testenv.sh up && \
                 scripts/testenv.sh deploy` first",
                file.display()
            )
        });
        let vars = text
            .lines()
            .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        TestEnv { dir, vars }
    }

    pub fn var(&self, k: &str) -> &str {
        self.vars.get(k).unwrap_or_else(|| panic!("{k} missing from {}/env", self.dir.display()))
    }

    pub fn port(&self, k: &str) -> u16 {
        self.var(k).parse().unwrap_or_else(|_| panic!("{k} is not a port"))
    }

    pub fn kubeconfig(&self) -> PathBuf {
        PathBuf::from(self.var("KUBECONFIG"))
    }

    /// A Go binary of the test control plane (kubectl, kwok, ...).
    pub fn tool(&self, name: &str) -> PathBuf {
        PathBuf::from(self.var("KAFKA_ADVERTISER_TESTENV_BIN")).join(name)
    }

    pub fn product(&self) -> PathBuf {
        PathBuf::from(self.var("KAFKA_ADVERTISER_TESTENV_PRODUCT"))
    }

    pub fn replicas(&self) -> u16 {
        self.port("KAFKA_ADVERTISER_TESTENV_REPLICAS")
    }

    /// The admin URL of webhook replica `replica`.
    pub fn admin_url(&self, replica: u16) -> String {
        format!("http://127.0.0.1:{}", self.port("KAFKA_ADVERTISER_TESTENV_ADMIN_PORT") + replica)
    }

    /// The admin URL of controller replica `replica` (after the webhook replicas' ports).
    pub fn controller_admin_url(&self, replica: u16) -> String {
        format!("http://127.0.0.1:{}", self.port("KAFKA_ADVERTISER_TESTENV_ADMIN_PORT") + self.replicas() + replica)
    }

    pub fn pid_file(&self, name: &str) -> PathBuf {
        self.dir.join("pids").join(name)
    }

    /// Run `scripts/testenv.sh ARGS` and insist it succeeds.
    pub fn script(&self, args: &[&str]) -> String {
        self.script_with(args, &[])
    }

    /// `scripts/testenv.sh` with extra environment variables (e.g. `KAFKA_ADVERTISER_TESTENV_SERVE_ARGS`).
    pub fn script_with(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testenv.sh");
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(script).args(args).envs(env.iter().copied());
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "scripts/testenv.sh {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl` of the test environment with the admin kubeconfig, `stdin` written to it.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new(self.tool("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl` of the test environment with the admin kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(self.tool("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

pub fn testenv() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(TestEnv::load)
}

/// Most tests share the installation; the leader hand-over stops a replica and takes it exclusively.
pub static INSTALL: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// An admin client (system:masters) for the tests' own reads and writes.
pub async fn client() -> Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let kc = Kubeconfig::read_from(testenv().kubeconfig()).expect("read the test environment's kubeconfig");
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("kubeconfig");
    Client::try_from(cfg).expect("client")
}

/// A tenant of `namespace`: a ServiceAccount `tenant` bound there to the built-in `edit` ClusterRole
/// and nothing else, and a client that makes every request as it (impersonation by the admin).
pub async fn tenant_client(admin: &Client, namespace: &str) -> Client {
    let sa: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "tenant", "namespace": namespace}})).unwrap();
    Api::namespaced(admin.clone(), namespace).create(&PostParams::default(), &sa).await.unwrap();
    let rb: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "tenant-edit", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
    }))
    .unwrap();
    Api::namespaced(admin.clone(), namespace).create(&PostParams::default(), &rb).await.unwrap();
    let kc = Kubeconfig::read_from(testenv().kubeconfig()).expect("read the test environment's kubeconfig");
    let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("kubeconfig");
    cfg.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:tenant"));
    Client::try_from(cfg).expect("client")
}

/// A client acting as `user` (the admin impersonating it): what that identity may do, as the API
/// server's RBAC and admission judge it.
pub async fn client_as(user: &str) -> Client {
    let kc = Kubeconfig::read_from(testenv().kubeconfig()).expect("read the test environment's kubeconfig");
    let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("kubeconfig");
    cfg.auth_info.impersonate = Some(user.to_owned());
    Client::try_from(cfg).expect("client")
}

/// The label on every test namespace: the test process that made it.
const RUN_LABEL: &str = "e2e.kafka-advertiser.io/pid";

/// Namespaces earlier test processes left (their process is gone) are deleted, once per process, so
/// repeated runs on one control plane do not exhaust the load-balancer pool or the pod runner's brokers.
async fn delete_leftovers(client: &Client) {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        let api = Api::<Namespace>::all(client.clone());
        let Ok(list) = api.list(&ListParams::default().labels(RUN_LABEL)).await else { return };
        for ns in list.items {
            let pid = ns.labels().get(RUN_LABEL).cloned().unwrap_or_default();
            let alive = pid.parse::<u32>().is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive && ns.metadata.deletion_timestamp.is_none() {
                let _ = api.delete(&ns.name_any(), &Default::default()).await;
            }
        }
    })
    .await;
}

/// A fresh namespace `<prefix>-<n>`, unique across runs.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    delete_leftovers(client).await;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let name = format!("{prefix}-{:x}", nanos ^ std::process::id());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name,
        "labels": {RUN_LABEL: std::process::id().to_string()}}}))
    .unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("create namespace");
    // The ServiceAccount admission plugin refuses pods until kube-controller-manager made `default`.
    let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &name);
    wait_for(&format!("ServiceAccount {name}/default"), Duration::from_secs(30), || async {
        sa.get_opt("default").await.ok().flatten()
    })
    .await;
    name
}

/// Poll `f` until it returns `Some`, or panic naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A broker StatefulSet in the shape users write: opted in by label, configured by annotations
/// on the pod template, Kafka configured by env (apache/kafka style `KAFKA_` names by default).
pub struct Broker {
    pub name: String,
    pub replicas: i32,
    pub annotations: BTreeMap<String, String>,
    pub env: Vec<(String, String)>,
    pub opted_in: bool,
    pub ordered: bool,
}

impl Broker {
    pub fn new(name: &str, replicas: i32) -> Broker {
        Broker {
            name: name.into(),
            replicas,
            annotations: BTreeMap::new(),
            env: vec![
                ("KAFKA_PROCESS_ROLES".into(), "broker,controller".into()),
                ("KAFKA_LISTENERS".into(), "INTERNAL://:9092,CONTROLLER://:9093,EXTERNAL://:9094".into()),
                (
                    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP".into(),
                    "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT".into(),
                ),
                ("KAFKA_INTER_BROKER_LISTENER_NAME".into(), "INTERNAL".into()),
                ("KAFKA_CONTROLLER_LISTENER_NAMES".into(), "CONTROLLER".into()),
            ],
            opted_in: true,
            ordered: false,
        }
    }

    pub fn annotate(mut self, k: &str, v: &str) -> Broker {
        self.annotations.insert(k.into(), v.into());
        self
    }

    pub fn not_opted_in(mut self) -> Broker {
        self.opted_in = false;
        self
    }

    pub fn ordered(mut self) -> Broker {
        self.ordered = true;
        self
    }

    pub fn build(&self, namespace: &str) -> StatefulSet {
        let mut labels = json!({"app.kubernetes.io/name": self.name, "app.kubernetes.io/instance": "e2e"});
        if self.opted_in {
            labels["kafka-advertiser.io/enabled"] = json!("true");
        }
        let env: Vec<Value> = self.env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
        serde_json::from_value(json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": self.name, "namespace": namespace},
            "spec": {
                "serviceName": format!("{}-headless", self.name),
                "replicas": self.replicas,
                "podManagementPolicy": if self.ordered { "OrderedReady" } else { "Parallel" },
                "selector": {"matchLabels": {"app.kubernetes.io/name": self.name}},
                "template": {
                    "metadata": {"labels": labels, "annotations": self.annotations},
                    "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "containers": [{
                            "name": "kafka",
                            "image": "apache/kafka:4.1.1",
                            "ports": [{"name": "internal", "containerPort": 9092}, {"name": "external", "containerPort": 9094}],
                            "env": env,
                        }]
                    }
                }
            }
        }))
        .unwrap()
    }

    pub async fn create(&self, client: &Client, namespace: &str) -> StatefulSet {
        Api::<StatefulSet>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &self.build(namespace))
            .await
            .unwrap_or_else(|e| panic!("create StatefulSet {namespace}/{}: {e}", self.name))
    }
}

pub async fn scale(client: &Client, namespace: &str, name: &str, replicas: i32) {
    Api::<StatefulSet>::namespaced(client.clone(), namespace)
        .patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": replicas}})))
        .await
        .unwrap_or_else(|e| panic!("scale {namespace}/{name}: {e}"));
}

/// The pods of a StatefulSet (by owner), sorted by name.
pub async fn pods_of(client: &Client, namespace: &str, sts: &str) -> Vec<Pod> {
    let mut pods: Vec<Pod> = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.owner_references().iter().any(|o| o.kind == "StatefulSet" && o.name == sts))
        .collect();
    pods.sort_by_key(|p| ordinal_of(&p.name_any()));
    pods
}

pub fn ordinal_of(pod: &str) -> u32 {
    pod.rsplit('-').next().and_then(|s| s.parse().ok()).unwrap_or(u32::MAX)
}

/// Wait until the StatefulSet has exactly its pods `0..n` (all created, none terminating).
pub async fn wait_pods(client: &Client, namespace: &str, sts: &str, n: usize, timeout: Duration) -> Vec<Pod> {
    wait_for(&format!("{n} pods of {namespace}/{sts}"), timeout, || async {
        let pods = pods_of(client, namespace, sts).await;
        let live: Vec<Pod> = pods.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        let want: Vec<String> = (0..n).map(|i| format!("{sts}-{i}")).collect();
        let have: Vec<String> = live.iter().map(|p| p.name_any()).collect();
        (have == want).then_some(live)
    })
    .await
}

/// The value of env var `var` in container `container` (plain `value` only).
pub fn env_value(pod: &Pod, container: &str, var: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let c = spec.containers.iter().find(|c| c.name == container)?;
    c.env.as_ref()?.iter().find(|e| e.name == var)?.value.clone()
}

/// Managed Services of a StatefulSet, by name.
pub async fn services_of(client: &Client, namespace: &str, sts: &str) -> BTreeMap<String, Service> {
    Api::<Service>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&format!("kafka-advertiser.io/statefulset={sts}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| (s.name_any(), s))
        .collect()
}

pub fn ingress_ip(svc: &Service) -> Option<String> {
    svc.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref()?.first()?.ip.clone()
}

/// Events (events.k8s.io/v1) about a StatefulSet.
pub async fn events_about(client: &Client, namespace: &str, kind: &str, name: &str) -> Vec<Event> {
    Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name))
        })
        .collect()
}

/// Apply every document of a YAML file into `namespace` (Namespace documents are skipped; each
/// object's namespace is replaced), by server-side apply as `kubectl apply --server-side` would.
pub async fn apply_file(client: &Client, path: &Path, namespace: &str) -> Vec<DynamicObject> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for v in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
        if v.is_null() || v["kind"] == "Namespace" {
            continue;
        }
        let mut obj: DynamicObject = serde_json::from_value(v.clone()).unwrap();
        obj.metadata.namespace = Some(namespace.to_owned());
        let (group, version) = match v["apiVersion"].as_str().unwrap().split_once('/') {
            Some((g, ver)) => (g.to_owned(), ver.to_owned()),
            None => (String::new(), v["apiVersion"].as_str().unwrap().to_owned()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, v["kind"].as_str().unwrap());
        let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
        let name = obj.name_any();
        let applied = api
            .patch(&name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&obj))
            .await
            .unwrap_or_else(|e| panic!("apply {} {namespace}/{name} from {}: {e}", gvk.kind, path.display()));
        out.push(applied);
    }
    out
}

pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples")
}

/// The anti-affinity terms of a pod (required and preferred), as JSON.
pub fn anti_affinity(pod: &Pod) -> Value {
    let aa = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()).and_then(|a| a.pod_anti_affinity.as_ref());
    serde_json::to_value(aa).unwrap()
}

pub fn annotation<'a>(pod: &'a Pod, k: &str) -> Option<&'a str> {
    pod.metadata.annotations.as_ref()?.get(k).map(String::as_str)
}

/// Wait until the StatefulSet has exactly `n` brokers and `n` broker Services, and every broker
/// advertises its own Service's load-balancer address on `port`. Returns ordinal → address.
pub async fn converged(c: &Client, ns: &str, sts: &str, n: usize, port: u16) -> BTreeMap<u32, String> {
    converged_env(c, ns, sts, n, port, "KAFKA_ADVERTISED_LISTENERS").await
}

/// `converged`, for brokers whose listeners variable is `var` (e.g. Bitnami's `KAFKA_CFG_…`).
pub async fn converged_env(c: &Client, ns: &str, sts: &str, n: usize, port: u16, var: &str) -> BTreeMap<u32, String> {
    wait_for(
        &format!("{ns}/{sts}: {n} brokers advertising their own Service's address"),
        Duration::from_secs(90),
        || async {
            let pods = pods_of(c, ns, sts).await;
            let svcs = services_of(c, ns, sts).await;
            let brokers: Vec<_> = svcs
                .values()
                .filter(|s| s.labels().get("kafka-advertiser.io/role").map(String::as_str) == Some("broker"))
                .collect();
            if pods.len() != n || brokers.len() != n || pods.iter().any(|p| p.metadata.deletion_timestamp.is_some()) {
                return None;
            }
            let mut out = BTreeMap::new();
            for p in &pods {
                let o = ordinal_of(&p.name_any());
                let svc =
                    brokers.iter().find(|s| s.labels().get("kafka-advertiser.io/ordinal") == Some(&o.to_string()))?;
                let ip = ingress_ip(svc)?;
                let v = env_value(p, "kafka", var)?;
                if !v.ends_with(&format!("EXTERNAL://{ip}:{port}")) {
                    return None;
                }
                out.insert(o, ip);
            }
            Some(out)
        },
    )
    .await
}

pub use support::free_port;

/// The namespace label a [`Scoped`] replica's own webhook configuration selects.
pub const SCOPED_LABEL: &str = "e2e.kafka-advertiser.io/scoped-install";

/// A further `serve` process (optionally `--namespace`-scoped) beside the deployed ones, with the
/// controller's ServiceAccount token (its role `all` reads what both roles read). It never leads (its
/// Lease namespace is not granted), so it only watches.
/// Stopped (by pid) when dropped.
pub struct Scoped {
    pub admin: u16,
    child: std::process::Child,
    port: u16,
}

impl Scoped {
    pub fn start(env: &TestEnv, namespaces: &str) -> Scoped {
        Scoped::start_on(env, namespaces, free_port(), free_port())
    }

    /// Started on the given webhook and admin ports (a restart keeps them).
    pub fn start_on(env: &TestEnv, namespaces: &str, port: u16, admin: u16) -> Scoped {
        let mut cmd = std::process::Command::new(env.product());
        cmd.env("KUBECONFIG", env.dir.join("controller.kubeconfig")).arg("serve");
        if !namespaces.is_empty() {
            cmd.args(["--namespace", namespaces]);
        }
        let child = cmd
            .args(["--lease-namespace", "default", "--identity", "e2e-extra"])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--admin-listen", &format!("127.0.0.1:{admin}")])
            .arg("--tls-cert-dir")
            .arg(env.dir.join("webhook-certs"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(env.dir.join(format!("logs/e2e-extra-{port}.log"))).unwrap())
            .spawn()
            .unwrap();
        Scoped { child, port, admin }
    }

    /// A webhook configuration that sends this replica the opted-in pods of namespaces labelled
    /// [`SCOPED_LABEL`]`=tag`, trusting the test environment's webhook CA; deleted when dropped.
    pub async fn register(&self, c: &Client, tag: &str) -> ClusterObjects {
        use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
        let ca = std::fs::read(testenv().dir.join("webhook-certs/ca.crt")).unwrap();
        let name = format!("e2e-scoped-{tag}");
        let hook: MutatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": name},
            "webhooks": [{
                "name": "pods.e2e-scoped.kafka-advertiser.io",
                "admissionReviewVersions": ["v1"],
                "clientConfig": {
                    "url": format!("https://127.0.0.1:{}/mutate", self.port),
                    "caBundle": k8s_openapi::ByteString(ca),
                },
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}],
                "objectSelector": {"matchLabels": {"kafka-advertiser.io/enabled": "true"}},
                "namespaceSelector": {"matchLabels": {SCOPED_LABEL: tag}},
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "timeoutSeconds": 5,
            }]
        }))
        .unwrap();
        Api::<MutatingWebhookConfiguration>::all(c.clone()).create(&PostParams::default(), &hook).await.unwrap();
        ClusterObjects(vec![(ApiResource::erase::<MutatingWebhookConfiguration>(&()), name)])
    }
}

impl Drop for Scoped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait for an Event about StatefulSet `sts` with `reason` whose note contains `text`.
pub async fn wait_event(client: &Client, namespace: &str, sts: &str, reason: &str, text: &str) -> Event {
    wait_for(&format!("a {reason} Event on {namespace}/{sts} saying {text:?}"), Duration::from_secs(90), || async {
        events_about(client, namespace, "StatefulSet", sts)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason) && e.note.as_deref().unwrap_or("").contains(text))
    })
    .await
}

/// Deletes cluster-scoped objects (classes, ClusterIssuers) when dropped, also when the test fails: on a
/// runtime of its own, with a client of its own (the test's client belongs to the test's runtime).
pub struct ClusterObjects(pub Vec<(ApiResource, String)>);

impl Drop for ClusterObjects {
    fn drop(&mut self) {
        let objects = std::mem::take(&mut self.0);
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let c = client().await;
                for (ar, name) in objects {
                    let _ =
                        Api::<DynamicObject>::all_with(c.clone(), &ar).delete(&name, &DeleteParams::default()).await;
                }
            })
        })
        .join();
    }
}
