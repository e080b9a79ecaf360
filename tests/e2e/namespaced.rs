//! A namespaced install (the chart with `controller.namespaces`) beside the shared one: its identities
//! are checked as the API server authorizes them (`kubectl auth can-i --as`), and its controller,
//! running with nothing but its own token, keeps the brokers of a watched namespace while the shared
//! controller is stopped; a namespace it does not watch gets nothing from it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::api::ListParams;
use kube::Api;
use serde_json::Value;

use crate::*;

/// `kubectl auth can-i VERB RESOURCE -n NS --as SUBJECT`: whether the API server allows it.
fn can_i(subject: &str, verb: &str, resource: &str, ns: &str) -> bool {
    let env = testenv();
    let out = Command::new(env.tool("kubectl"))
        .arg(format!("--kubeconfig={}", env.kubeconfig().display()))
        .args(["auth", "can-i", verb, resource, "-n", ns, "--as", subject])
        .output()
        .unwrap();
    match String::from_utf8_lossy(&out.stdout).trim() {
        "yes" => true,
        "no" => false,
        other => {
            panic!("kubectl auth can-i {verb} {resource} -n {ns}: {other:?} {}", String::from_utf8_lossy(&out.stderr))
        }
    }
}

fn helm(args: &[&str]) {
    helm_on_cluster(args);
}

/// A kubeconfig for the test control plane that authenticates with `token` only.
fn token_kubeconfig(token: &str, path: &Path) {
    let mut kc: Value = serde_saphyr::from_str(&std::fs::read_to_string(testenv().kubeconfig()).unwrap()).unwrap();
    kc["users"][0]["user"] = serde_json::json!({ "token": token });
    std::fs::write(path, serde_saphyr::to_string(&kc).unwrap()).unwrap();
}

/// Uninstalls the release when dropped (also when an assertion fails).
struct Release {
    name: String,
    namespace: String,
}

impl Drop for Release {
    fn drop(&mut self) {
        let env = testenv();
        let _ = Command::new(env.var("KAFKA_ADVERTISER_TESTENV_HELM"))
            .args(["uninstall", &self.name, "-n", &self.namespace])
            .arg(format!("--kubeconfig={}", env.kubeconfig().display()))
            .output();
    }
}

#[tokio::test]
async fn namespaced_install_writes_only_where_it_watches() {
    let _g = INSTALL.write().await;
    let env = testenv();
    let c = client().await;
    let install = namespace(&c, "e2e-nsinstall").await;
    let (a, b, other) = (
        namespace(&c, "e2e-nswatched-a").await,
        namespace(&c, "e2e-nswatched-b").await,
        namespace(&c, "e2e-nsother").await,
    );
    let release = Release { name: format!("ka{}", &install[install.len() - 6..]), namespace: install.clone() };
    let fullname = format!("{}-kafka-advertiser", release.name);
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/kafka-advertiser");
    let ca = env.dir.join("webhook-certs/ca.crt");
    let url = format!("https://127.0.0.1:{}/mutate", env.port("KAFKA_ADVERTISER_TESTENV_WEBHOOK_PORT"));
    helm(&[
        "install",
        &release.name,
        chart.to_str().unwrap(),
        "-n",
        &install,
        "--set",
        "deployment.enabled=false",
        "--set",
        "tls.certManager.enabled=false",
        "--set",
        &format!("webhook.url={url}"),
        "--set-file",
        &format!("webhook.caBundle={}", ca.display()),
        "--set",
        &format!("controller.namespaces={{{a},{b}}}"),
        // The shared install holds the cluster's CRD.
        "--set",
        "crds.enabled=false",
    ]);

    // As the API server authorizes them: writes only in the watched namespaces, none in kube-system
    // or elsewhere; the webhook's identity writes nothing and reads only the watched namespaces.
    let controller = format!("system:serviceaccount:{install}:{fullname}-controller");
    let webhook = format!("system:serviceaccount:{install}:{fullname}-webhook");
    for ns in [&a, &b] {
        assert!(can_i(&controller, "create", "services", ns), "controller may create Services in {ns}");
        assert!(can_i(&controller, "patch", "statefulsets", ns));
        assert!(can_i(&controller, "delete", "configmaps", ns));
        assert!(!can_i(&controller, "get", "secrets", ns), "no Secrets");
        assert!(can_i(&webhook, "list", "services", ns));
        assert!(!can_i(&webhook, "create", "services", ns), "the webhook writes nothing");
        assert!(!can_i(&webhook, "list", "pods", ns));
    }
    for ns in [other.as_str(), "kube-system", "default"] {
        for (verb, resource) in [
            ("create", "services"),
            ("patch", "configmaps"),
            ("delete", "configmaps"),
            ("patch", "statefulsets"),
            ("create", "pods/eviction"),
            ("create", "events.events.k8s.io"),
        ] {
            assert!(!can_i(&controller, verb, resource, ns), "controller may {verb} {resource} in {ns}");
        }
        assert!(!can_i(&controller, "list", "services", ns), "controller reads Services in {ns}");
        assert!(!can_i(&webhook, "list", "services", ns), "webhook reads Services in {ns}");
    }
    assert!(!can_i(&controller, "patch", "gateways.gateway.networking.k8s.io", &a), "no Gateway patch by default");
    assert!(can_i(&controller, "get", "gateways.gateway.networking.k8s.io", &other), "Gateways are read anywhere");

    // Its controller, with its own token only, while the shared controller is stopped.
    let token = env.kubectl(&["-n", &install, "create", "token", &format!("{fullname}-controller"), "--duration=1h"]);
    let kubeconfig = env.dir.join(format!("{}.kubeconfig", release.name));
    token_kubeconfig(token.trim(), &kubeconfig);
    let stopped = ReplicasStopped::stop("controller").await;
    let admin = free_port();
    let child = Command::new(env.product())
        .env("KUBECONFIG", &kubeconfig)
        .args(["serve", "--role", "controller", "--namespace", &format!("{a},{b}"), "--lease-namespace", &install])
        .args([
            "--identity",
            "e2e-namespaced",
            "--lease-duration",
            "6s",
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(env.dir.join(format!("logs/{}.log", release.name))).unwrap())
        .spawn()
        .unwrap();
    let child = ChildGuard(child);
    let http = reqwest::Client::new();
    wait_for(
        "the namespaced controller ready (its watches listed with namespaced rights)",
        Duration::from_secs(60),
        || async {
            let r = http.get(format!("http://127.0.0.1:{admin}/readyz")).send().await.ok()?;
            r.status().is_success().then_some(())
        },
    )
    .await;

    Broker::new("kafka", 2).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &a).await;
    Broker::new("kafka", 1).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &other).await;
    converged(&c, &a, "kafka", 2, 9094).await;
    // The unwatched namespace: no Service from it, and its broker waits.
    wait_event(&c, &other, "kafka", "FailedCreate", "kafka-0-external does not exist yet").await;
    let svcs = Api::<Service>::namespaced(c.clone(), &other).list(&ListParams::default()).await.unwrap();
    assert!(svcs.items.is_empty(), "a Service in the unwatched namespace {other}");
    let metrics = http.get(format!("http://127.0.0.1:{admin}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("kafka_advertiser_leader 1"), "it leads its own Lease in {install}");

    drop(child);
    drop(stopped);
    // Back with the shared controller: the other namespace's broker gets its Service too.
    converged(&c, &other, "kafka", 1, 9094).await;
}
