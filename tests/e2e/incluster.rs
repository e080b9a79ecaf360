//! kafka-advertiser's own pods: the packaged chart as a user installs it (`scripts/testenv.sh deploy`
//! with KAFKA_ADVERTISER_TESTENV_INSTALL=pods), its Deployments' pods run by the pod runner (in-cluster
//! config from the projected ServiceAccount token, the serving certificate cert-manager issued and
//! cainjector put into the webhook configuration), the API server calling the webhook through its
//! Service's ClusterIP. Run on their own: `cargo test --features e2e --test e2e incluster::`.
//!
//! What the install issue's "done when" asks: `check --wait` passes, one label gives brokers external
//! addresses, `status` shows them; and roll-outs of the webhook (a restart, `helm upgrade` from the
//! previous release, its own binary and chart: `upgrade`) fail no admission while pods are being created.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::*;

mod upgrade;

const NS: &str = "kafka-advertiser";
/// `--set-string` that opts the install's pods into the pod runner.
const OPT_IN: &str = "podAnnotations.testenv\\.kafka-advertiser\\.io/run=kafka-advertiser";

/// This commit's chart as `scripts/testenv.sh deploy` packaged it.
fn packaged_chart() -> String {
    let found = std::fs::read_dir(testenv().dir.join("chart"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .expect("the packaged chart (scripts/testenv.sh deploy with INSTALL=pods packages it)");
    found.to_str().unwrap().to_owned()
}

fn require_pods_install() {
    let how = std::env::var("KAFKA_ADVERTISER_TESTENV_INSTALL").unwrap_or_default();
    assert_eq!(
        how, "pods",
        "these tests need kafka-advertiser's own pods: KAFKA_ADVERTISER_TESTENV_INSTALL=pods scripts/testenv.sh deploy, \
         then run them with KAFKA_ADVERTISER_TESTENV_INSTALL=pods"
    );
}

fn run(cmd: &mut std::process::Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn product(args: &[&str]) -> (Option<i32>, String) {
    let env = testenv();
    run(std::process::Command::new(env.product()).args(args).env("KUBECONFIG", env.kubeconfig()))
}

fn helm(args: &[&str]) -> String {
    let all: Vec<&str> = args.iter().copied().chain(["-n", NS]).collect();
    helm_on_cluster(&all)
}

/// Every pod of the install Running and Ready on a runner (loopback) pod IP.
async fn install_pods(c: &Client) -> Vec<Pod> {
    let pods = Api::<Pod>::namespaced(c.clone(), NS).list(&ListParams::default()).await.unwrap().items;
    pods.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect()
}

fn ready_on_loopback(p: &Pod) -> bool {
    let st = p.status.as_ref();
    let ip = st.and_then(|s| s.pod_ip.as_deref()).unwrap_or("");
    let ready = st
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    ready && ip.starts_with("127.")
}

#[tokio::test]
async fn the_packaged_chart_runs_checks_and_gives_brokers_addresses() {
    require_pods_install();
    let _g = INSTALL.read().await;
    let c = client().await;
    let (code, out) = product(&["check", "--wait", "120s"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("calls Service kafka-advertiser/kafka-advertiser"), "{out}");
    assert!(out.contains("kafka-advertiser-controller-"), "the leader is a controller pod: {out}");
    // `helm test`: the chart's check pod, run by the pod runner as the chart's own identity.
    let out = helm(&["test", "kafka-advertiser", "--timeout", "3m"]);
    assert!(out.contains("kafka-advertiser-check") && out.contains("Succeeded"), "{out}");
    // cert-manager's serving Secret carries the install's labels (the Certificate's secretTemplate).
    let selector = "app.kubernetes.io/name=kafka-advertiser,app.kubernetes.io/component=serving-certificate";
    let labelled = testenv().kubectl(&["-n", NS, "get", "secrets", "-l", selector, "-o", "name"]);
    assert!(labelled.contains("secret/kafka-advertiser-tls"), "{labelled}");
    let pods = install_pods(&c).await;
    assert_eq!(
        pods.len(),
        4,
        "two webhook and two controller pods: {:?}",
        pods.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    );
    assert!(pods.iter().all(ready_on_loopback), "{pods:?}");

    // One label: three brokers (kwok's pods) advertise their load balancers' addresses.
    let ns = namespace(&c, "e2e-incluster").await;
    Broker::new("kafka", 3).create(&c, &ns).await;
    let addrs = converged(&c, &ns, "kafka", 3, 9094).await;
    // `status -A`: the StatefulSet among every namespace's, ready, each broker at its address.
    let env = testenv();
    let json = std::process::Command::new(env.product())
        .args(["status", "-A", "-o", "json"])
        .env("KUBECONFIG", env.kubeconfig())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&json.stdout);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let item = v["items"].as_array().unwrap().iter().find(|i| i["namespace"] == ns.as_str()).cloned();
    let item = item.unwrap_or_else(|| panic!("{ns} not listed: {v:#}"));
    assert_eq!(item["ready"], true, "{item:#}");
    for (o, ip) in &addrs {
        assert_eq!(item["brokers"][*o as usize]["address"], format!("{ip}:9094"), "{item:#}");
    }
    let (code, out) = product(&["status", "-n", &ns]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.lines().nth(1).is_some_and(|l| l.starts_with("kafka") && l.ends_with("Ready")), "{out}");
}

/// Server-side dry-run creates of an opted-in pod, one after another, until `stop`: each must come
/// back mutated. Returns (attempts, failures, first failure).
async fn admit_continuously(c: Client, ns: String, stop: Arc<AtomicBool>) -> (usize, usize, Option<String>) {
    let pods = Api::<Pod>::namespaced(c, &ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "probe-0", "labels": {"kafka-advertiser.io/enabled": "true"}, "annotations": {
            "kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template": "{pod}.{namespace}.probe.invalid"}},
        "spec": {"subdomain": "probe", "containers": [{"name": "kafka", "image": "apache/kafka:4.1.1",
            "env": [{"name": "KAFKA_LISTENERS", "value": "INTERNAL://:9092,EXTERNAL://:9094"}]}]}
    }))
    .unwrap();
    let pp = PostParams { dry_run: true, ..Default::default() };
    let (attempts, failures) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut first: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        attempts.fetch_add(1, Ordering::Relaxed);
        let verdict = match pods.create(&pp, &pod).await {
            Ok(p) if annotation(&p, "kafka-advertiser.io/advertised").is_some() => None,
            Ok(_) => Some("admitted without the webhook's mutation".to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(v) = verdict {
            failures.fetch_add(1, Ordering::Relaxed);
            eprintln!("{} UTC admission failed: {v}", utc_now());
            first.get_or_insert(v);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (attempts.into_inner(), failures.into_inner(), first)
}

/// Run `roll` while pods are admitted continuously; no admission may fail.
async fn no_failed_admission_during(what: &str, roll: impl FnOnce() + Send + 'static) {
    let c = client().await;
    let ns = namespace(&c, "e2e-rollout").await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(admit_continuously(c.clone(), ns, stop.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t0 = Instant::now();
    tokio::task::spawn_blocking(roll).await.unwrap();
    // The new pods ready and the old ones gone (through their shutdown delay and drain); then a
    // little more load.
    wait_for("the install's four pods ready, none terminating", Duration::from_secs(120), || async {
        let all = Api::<Pod>::namespaced(c.clone(), NS).list(&ListParams::default()).await.ok()?.items;
        (all.len() == 4 && all.iter().all(ready_on_loopback)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let (attempts, failures, first) = load.await.unwrap();
    eprintln!("{what}: {attempts} admissions in {:.1} s, {failures} failed", t0.elapsed().as_secs_f64());
    assert!(attempts > 50, "{what}: only {attempts} admissions were tried");
    if failures > 0 {
        eprintln!("the pod runner's log meanwhile (relay errors, pods started and stopped):\n{}", runner_log_since(t0));
    }
    assert_eq!(failures, 0, "{what}: {failures} of {attempts} admissions failed, the first: {first:?}");
}

/// Wall-clock time of day, UTC, as the pod runner logs it (HH:MM:SS.micros).
fn utc_now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let s = d.as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}.{:06}", s / 3600, s / 60 % 60, s % 60, d.subsec_micros())
}

/// The pod runner's log lines about the install's pods and the relays, from `since` (minus a second).
fn runner_log_since(since: Instant) -> String {
    let file = testenv().dir.join("logs/podrunner.log");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| format!("{}: {e}", file.display()));
    let secs = since.elapsed().as_secs() + 2;
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(NS) || l.contains("proxy:")).collect();
    // A second's lines at most every 20 ms: the last 100 per second of the window is plenty.
    lines[lines.len().saturating_sub(100 * secs as usize)..].join("\n")
}

/// The UIDs of a Deployment's live (not terminating) pods.
async fn pod_uids(component: &str) -> Vec<String> {
    let lp = ListParams::default().labels(&format!("app.kubernetes.io/component={component}"));
    let pods = Api::<Pod>::namespaced(client().await, NS).list(&lp).await.unwrap().items;
    pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).map(|p| p.uid().unwrap()).collect()
}

#[tokio::test]
async fn a_webhook_rollout_fails_no_admission() {
    require_pods_install();
    let _g = INSTALL.write().await;
    let before = pod_uids("webhook").await;
    no_failed_admission_during("kubectl rollout restart of the webhook", || {
        let env = testenv();
        env.kubectl(&["-n", NS, "rollout", "restart", "deployment/kafka-advertiser-webhook"]);
        env.kubectl(&["-n", NS, "rollout", "status", "deployment/kafka-advertiser-webhook", "--timeout=180s"]);
    })
    .await;
    let after = pod_uids("webhook").await;
    assert!(after.iter().all(|u| !before.contains(u)), "every webhook pod was replaced: {before:?} → {after:?}");
}

/// Uncordons a node when dropped, so a failed test leaves the cluster as it found it.
struct Cordoned(String);

impl Drop for Cordoned {
    fn drop(&mut self) {
        testenv().kubectl(&["uncordon", &self.0]);
    }
}

/// The chart's spread cannot stall a roll-out on two schedulable workers: with a third node cordoned
/// (tainted unschedulable, no webhook replica on it), the real scheduler still places each surge pod,
/// because the cordoned node does not count as a domain (nodeTaintsPolicy: Honor). Without it, the
/// empty node makes every placement a skew of 2 and the roll-out waits forever.
#[tokio::test]
async fn a_webhook_rollout_completes_with_only_two_schedulable_nodes() {
    require_pods_install();
    let _g = INSTALL.write().await;
    let c = client().await;
    let lp = ListParams::default().labels("app.kubernetes.io/component=webhook");
    // After another test's roll-out: its old pods gone (through their shutdown delay) first.
    let pods = wait_for("two webhook pods ready, none terminating", Duration::from_secs(120), || async {
        let all = Api::<Pod>::namespaced(c.clone(), NS).list(&lp).await.ok()?.items;
        (all.len() == 2 && all.iter().all(ready_on_loopback)).then_some(all)
    })
    .await;
    let used: Vec<String> = pods.iter().filter_map(|p| p.spec.as_ref()?.node_name.clone()).collect();
    let nodes = Api::<k8s_openapi::api::core::v1::Node>::all(c.clone()).list(&ListParams::default()).await.unwrap();
    let free =
        nodes.items.iter().map(|n| n.name_any()).find(|n| !used.contains(n)).expect("a node without a webhook replica");
    let env = testenv();
    env.kubectl(&["cordon", &free]);
    let _uncordon = Cordoned(free.clone());
    let before = pod_uids("webhook").await;
    env.kubectl(&["-n", NS, "rollout", "restart", "deployment/kafka-advertiser-webhook"]);
    // Not env.kubectl: a stalled roll-out is this test's failure, reported with kubectl's words.
    let kubeconfig = env.kubeconfig();
    let (code, out) = run(std::process::Command::new(env.tool("kubectl")).args([
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "-n",
        NS,
        "rollout",
        "status",
        "deployment/kafka-advertiser-webhook",
        "--timeout=90s",
    ]));
    assert_eq!(code, Some(0), "the roll-out stalled with {free} cordoned: {out}");
    let after = pod_uids("webhook").await;
    assert!(after.iter().all(|u| !before.contains(u)), "every webhook pod was replaced: {before:?} → {after:?}");
    let placed = Api::<Pod>::namespaced(c, NS).list(&lp).await.unwrap().items;
    assert!(placed.iter().all(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(free.as_str())));
}

/// The caBundle of the install's webhook configuration, decoded.
/// Whether `n` TLS handshakes with the webhook Service (its ClusterIP: the pod runner's kube-proxy
/// picks a ready replica per connection) all verify against `ca` alone.
async fn served_under(c: &Client, ca: &str, n: usize) -> Option<()> {
    let svc: k8s_openapi::api::core::v1::Service = Api::namespaced(c.clone(), NS).get("kafka-advertiser").await.ok()?;
    let ip = svc.spec?.cluster_ip?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.ok()?).ok()?;
    }
    let config = Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth());
    let name = rustls_pki_types::ServerName::try_from(format!("kafka-advertiser.{NS}.svc")).ok()?;
    for _ in 0..n {
        let tcp = tokio::net::TcpStream::connect((ip.as_str(), 443)).await.ok()?;
        tokio_rustls::TlsConnector::from(config.clone()).connect(name.clone(), tcp).await.ok()?;
    }
    Some(())
}

async fn ca_bundle(c: &Client) -> String {
    let api: Api<k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration> = Api::all(c.clone());
    let mwc = api.get("kafka-advertiser").await.unwrap();
    let b = mwc.webhooks.unwrap_or_default().into_iter().next().and_then(|w| w.client_config.ca_bundle);
    String::from_utf8(b.map(|b| b.0).unwrap_or_default()).unwrap()
}

async fn secret_text(c: &Client, name: &str, key: &str) -> Option<String> {
    let s = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(c.clone(), NS).get_opt(name).await.ok()??;
    String::from_utf8(s.data?.get(key)?.0.clone()).ok()
}

/// `tls.source: self` without cert-manager's help: switched to from cert-manager's certificate while
/// pods are admitted continuously (and `check` run by Helm after the upgrade), no admission fails (the CA that signed what the replicas still
/// serve stays in the bundle); the controller made a CA in `<fullname>-self-ca`, re-issued the serving
/// Secret under it and put both CAs in the webhook configuration; without a restart (the pod runner
/// refreshes the running pods' Secret volume as a kubelet's sync does, and each replica reloads it),
/// every connection to the webhook Service verifies against the controller's CA alone, and `check`
/// passes. Then back to cert-manager, which adopts the Secret as it is: `check` passes again.
#[tokio::test]
async fn self_managed_tls_takes_over_without_failed_admissions() {
    require_pods_install();
    let _g = INSTALL.write().await;
    let c = client().await;
    let chart = packaged_chart();
    let was = ca_bundle(&c).await;
    let to_self = chart.clone();
    no_failed_admission_during("helm upgrade to tls.source=self", move || {
        // test.postInstall: Helm runs `check` after the upgrade and fails it when the check fails.
        let set = ["--set", "tls.source=self", "--set", "test.postInstall=true"];
        helm(&[&["upgrade", "kafka-advertiser", &to_self, "--set-string", OPT_IN, "--wait"][..], &set[..]].concat());
    })
    .await;
    let webhook_pods = || async {
        let pods = Api::<Pod>::namespaced(c.clone(), NS)
            .list(&ListParams::default().labels("app.kubernetes.io/component=webhook"))
            .await
            .unwrap();
        pods.items.iter().map(|p| p.uid().unwrap()).collect::<std::collections::BTreeSet<_>>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let ca = loop {
        let ca = secret_text(&c, "kafka-advertiser-self-ca", "tls.crt").await.unwrap_or_default();
        let bundle = ca_bundle(&c).await;
        let (first, kept) = (!ca.is_empty() && bundle.starts_with(&ca), bundle.contains(was.trim()));
        let signed = secret_text(&c, "kafka-advertiser-tls", "ca.crt").await.is_some_and(|s| s == ca);
        if first && kept && signed {
            break ca;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the webhook configuration trusts the controller's CA first: {first}, and still the CA it trusted \
             before: {kept}; the serving Secret is signed by the controller's CA: {signed}\nbefore:\n{was}\n\
             now:\n{bundle}\nthe controller's CA:\n{ca}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let before = webhook_pods().await;
    let started = Instant::now();
    wait_for("every webhook replica serving the controller's certificate", Duration::from_secs(90), || {
        served_under(&c, &ca, 10)
    })
    .await;
    eprintln!(
        "the webhook replicas served the new certificate {:.1} s after the Secret changed",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(webhook_pods().await, before, "the webhook pods were not restarted");
    let (code, out) = product(&["check", "--wait", "120s"]);
    assert_eq!(code, Some(0), "tls.source=self: {out}");
    controller_identity_is_fenced(&c).await;

    // Back to cert-manager: its Certificates return; it adopts the Secret as it finds it (and replaces
    // it at its next renewal), so admissions keep working.
    helm(&["upgrade", "kafka-advertiser", &chart, "--set-string", OPT_IN, "--wait"]);
    let certs: Api<kube::api::DynamicObject> = Api::namespaced_with(
        c.clone(),
        NS,
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate")),
    );
    assert!(certs.get_opt("kafka-advertiser-serving").await.unwrap().is_some(), "cert-manager's Certificate is back");
    let (code, out) = product(&["check", "--wait", "120s"]);
    assert_eq!(code, Some(0), "back on cert-manager: {out}");
}

/// N9: as the controller's own identity (RBAC lets it patch its webhook configuration and create
/// Secrets), the chart's ValidatingAdmissionPolicy refuses everything but the caBundle: another Secret,
/// a failurePolicy flipped to Ignore. The stored webhook configuration is diffed afterwards.
async fn controller_identity_is_fenced(admin: &Client) {
    use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{DeleteParams, Patch, PatchParams};
    let ctrl = client_as(&format!("system:serviceaccount:{NS}:kafka-advertiser-controller")).await;
    let probe: Secret = serde_json::from_value(json!({"metadata": {"name": "e2e-not-the-controllers"}})).unwrap();
    // The policy takes effect once the API server has loaded it: until a Secret of another name is
    // refused, what got through is removed and tried again.
    let deadline = Instant::now() + Duration::from_secs(60);
    let refused = loop {
        match Api::<Secret>::namespaced(ctrl.clone(), NS).create(&PostParams::default(), &probe).await {
            Err(e) => break e.to_string(),
            Ok(_) => {
                let _ = Api::<Secret>::namespaced(admin.clone(), NS)
                    .delete("e2e-not-the-controllers", &DeleteParams::default())
                    .await;
                assert!(Instant::now() < deadline, "the policy never refused the controller another Secret");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    assert!(refused.contains("may write only the Secrets"), "{refused}");
    let mwcs = Api::<MutatingWebhookConfiguration>::all(admin.clone());
    let before = mwcs.get("kafka-advertiser").await.unwrap();
    let hook = before.webhooks.as_ref().unwrap()[0].clone();
    let as_ctrl = Api::<MutatingWebhookConfiguration>::all(ctrl);
    let flip = json!({"webhooks": [{"name": hook.name, "failurePolicy": "Ignore"}]});
    let err = as_ctrl.patch("kafka-advertiser", &PatchParams::default(), &Patch::Strategic(&flip)).await.unwrap_err();
    assert!(err.to_string().contains("may change only webhooks[*].clientConfig.caBundle"), "{err}");
    let widen = json!({"webhooks": [{"name": hook.name, "objectSelector": {"matchLabels": {"e2e": "wider"}}}]});
    assert!(as_ctrl.patch("kafka-advertiser", &PatchParams::default(), &Patch::Strategic(&widen)).await.is_err());
    // The caBundle it keeps: allowed.
    let bundle = json!({"webhooks": [{"name": hook.name, "clientConfig": {"caBundle": hook.client_config.ca_bundle}}]});
    as_ctrl.patch("kafka-advertiser", &PatchParams::default(), &Patch::Strategic(&bundle)).await.unwrap();
    let after = mwcs.get("kafka-advertiser").await.unwrap();
    assert_eq!(after.webhooks, before.webhooks, "the stored webhooks are as they were");
}

/// The pod runner plays the kubelet's liveness probe for the pods it runs (the chart probes `/livez`):
/// a probe that fails `failureThreshold` times in a row restarts the container, which the pod's status
/// shows; the same pod probing a path that answers is left running.
#[tokio::test]
async fn a_failing_liveness_probe_restarts_the_container() {
    require_pods_install();
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-liveness").await;
    let certs = tempfile::tempdir().unwrap();
    let (code, out) = product(&["certs", "--out", certs.path().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let data: std::collections::BTreeMap<String, k8s_openapi::ByteString> = ["ca.crt", "tls.crt", "tls.key"]
        .iter()
        .map(|k| (k.to_string(), k8s_openapi::ByteString(std::fs::read(certs.path().join(k)).unwrap())))
        .collect();
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta { name: Some("certs".into()), ..Default::default() },
        data: Some(data),
        ..Default::default()
    };
    Api::namespaced(c.clone(), &ns).create(&PostParams::default(), &secret).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(c.clone(), &ns);
    for (name, path) in [("healthy", "/livez"), ("failing", "/no-such-path")] {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": {"testenv.kafka-advertiser.io/run": "kafka-advertiser"}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "webhook", "image": "ghcr.io/kafka-advertiser/kafka-advertiser:e2e",
                    "args": ["--standalone", "--tls-cert-dir", "/etc/kafka-advertiser/tls", "--listen", "0.0.0.0:8443",
                             "--admin-listen", "0.0.0.0:8080"],
                    "ports": [{"name": "admin", "containerPort": 8080}],
                    "volumeMounts": [{"name": "certs", "mountPath": "/etc/kafka-advertiser/tls"}],
                    "livenessProbe": {"httpGet": {"path": path, "port": "admin"}, "periodSeconds": 1, "failureThreshold": 2}
                }],
                "volumes": [{"name": "certs", "secret": {"secretName": "certs"}}]
            }
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let restarts = |p: &Pod| {
        let s = p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).and_then(|s| s.first().cloned());
        s.map(|s| (s.restart_count, s.last_state.and_then(|l| l.terminated).is_some(), s.ready))
    };
    let started = Instant::now();
    wait_for("the failing pod's container restarted", Duration::from_secs(60), || async {
        let (n, terminated, _) = restarts(&pods.get("failing").await.ok()?)?;
        (n >= 1 && terminated).then_some(())
    })
    .await;
    let waited = started.elapsed();
    eprintln!("liveness: restarted {:.1} s after the pods were created", waited.as_secs_f64());
    let healthy = restarts(&pods.get("healthy").await.unwrap());
    assert_eq!(healthy, Some((0, false, true)), "the pod whose probe passes keeps running, ready");
}
