//! `kafka-advertiser check` (the release binary, as a user runs it) against the installed control
//! plane: every check passes on a healthy install (CRD, webhook configuration and its CA bundle
//! against the serving certificate, a dry-run broker pod mutated, a Lease holder); with the
//! controllers stopped it fails on the leader, names the fix, and exits 1.

use std::time::Duration;

use serde_json::Value;

use crate::*;

fn check(args: &[&str]) -> (Option<i32>, Value) {
    let env = testenv();
    let out = std::process::Command::new(env.product())
        .arg("check")
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .args(["-o", "json"])
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code(), v)
}

fn verdict(v: &Value, name: &str) -> Value {
    v["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned().unwrap_or(Value::Null)
}

#[tokio::test]
async fn check_passes_on_the_install_and_names_what_fails() {
    let _g = INSTALL.write().await;
    let (code, v) = check(&["--wait", "60s"]);
    assert_eq!(code, Some(0), "{v:#}");
    for name in ["crds", "webhook", "ca-bundle", "certificate", "admission", "leader"] {
        assert_eq!(verdict(&v, name)["ok"], true, "{name}: {v:#}");
    }
    assert!(verdict(&v, "admission")["detail"].as_str().unwrap().contains("mutated"), "{v:#}");
    assert!(verdict(&v, "leader")["detail"].as_str().unwrap().contains("testenv-"), "{v:#}");
    assert_eq!(verdict(&v, "platform")["ok"], true, "{v:#}");
    // The optional APIs as the controller discovers them: the test control plane installs the Gateway
    // API's CRDs from Kubernetes 1.31 on (v1.6's need it) and cert-manager's always.
    let apis = verdict(&v, "optional-apis");
    let detail = apis["detail"].as_str().unwrap_or_default();
    assert_eq!(apis["ok"], true, "{v:#}");
    let minor: u32 = client().await.apiserver_version().await.unwrap().minor.trim_end_matches('+').parse().unwrap();
    // Each at the version it is served at (KAFKA_ADVERTISER_TESTENV_GATEWAY_API may install v1.5's
    // CRDs: TCPRoute as v1alpha2 in its experimental channel, none in its standard one).
    let tcp = testenv().vars.get("KAFKA_ADVERTISER_TESTENV_TCPROUTE_VERSION").cloned().unwrap_or_else(|| "v1".into());
    if minor >= 31 {
        let gw = "cert-manager.io/v1: Certificate; gateway.networking.k8s.io/v1: Gateway, ListenerSet";
        let want = match tcp.as_str() {
            "v1" => format!("{gw}, TCPRoute, TLSRoute"),
            "none" => {
                format!("{gw}, TLSRoute; not served: gateway.networking.k8s.io/v1 TCPRoute (needed by gateway-tcp)")
            }
            v => format!("{gw}, TLSRoute; gateway.networking.k8s.io/{v}: TCPRoute"),
        };
        assert_eq!(detail, want);
    } else {
        assert!(detail.starts_with("cert-manager.io/v1: Certificate; not served: gateway.networking.k8s.io/v1 Gateway (needed by gateway-tcp, gateway-tls)"), "{detail}");
    }

    // The objects made at runtime carry the install's labels, and `version` finds the install by them.
    let env = testenv();
    let labelled = |kind: &str, component: &str| {
        let selector = format!("app.kubernetes.io/name=kafka-advertiser,app.kubernetes.io/component={component}");
        env.kubectl(&["get", kind, "-A", "-l", &selector, "-o", "name"])
    };
    assert!(!labelled("leases", "leader-election").trim().is_empty(), "the Lease is labelled");
    assert!(!labelled("configmaps", "settings").trim().is_empty(), "the settings ConfigMap is labelled");
    let out = std::process::Command::new(env.product())
        .args(["version", "-o", "json", "--kubeconfig"])
        .arg(env.kubeconfig())
        .output()
        .unwrap();
    let version: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{version}");
    assert_eq!(version["install"], env!("CARGO_PKG_VERSION"), "{version}");
    assert!(version["kubernetes"].as_str().unwrap().starts_with("v1."), "{version}");
    // The old -n still works for one release, with a warning.
    let out = std::process::Command::new(env.product())
        .args(["check", "-n", "kafka-advertiser", "--kubeconfig"])
        .arg(env.kubeconfig())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("-n/--namespace is deprecated"), "{out:?}");

    // No controller: once the Lease runs out, the leader check fails with its fix, exit 1.
    let _stopped = ReplicasStopped::stop("controller").await;
    let v = wait_for("check to see no leader", Duration::from_secs(60), || async {
        let (code, v) = check(&[]);
        (code == Some(1) && verdict(&v, "leader")["ok"] == false).then_some(v)
    })
    .await;
    assert!(verdict(&v, "leader")["fix"].as_str().unwrap().contains("controller"), "{v:#}");
    assert_eq!(verdict(&v, "admission")["ok"], true, "the webhook still answers: {v:#}");
    assert_eq!(v["ok"], false);
}
