//! N8 as the attacker: the `helm test` hook's identity, with exactly the rights the chart gives it
//! (its hook objects rendered by the chart and applied to the control plane), cannot read the
//! webhook's Secret and cannot store a pod; it can create one only as a server-side dry run.

use super::*;
use k8s_openapi::api::core::v1::Pod;

/// The chart's hook objects for a release `release` in `namespace`, as the API server serves
/// ValidatingAdmissionPolicy (the test pod itself left out: the rights are under test).
fn hook_objects(release: &str, namespace: &str) -> Vec<Value> {
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/kafka-advertiser");
    let (ok, out) = helm(&[
        "template",
        release,
        chart.to_str().unwrap(),
        "-n",
        namespace,
        "--api-versions",
        "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
    ]);
    assert!(ok, "{out}");
    serde_saphyr::from_multiple::<Value>(&out)
        .unwrap()
        .into_iter()
        .filter(|v| v["metadata"]["annotations"]["helm.sh/hook"] == "test" && v["kind"] != "Pod")
        .collect()
}

/// kubectl as the check's identity: whether it succeeded and what it said.
fn as_check(identity: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let env = testenv();
    let mut child = std::process::Command::new(env.tool("kubectl"))
        .arg(format!("--kubeconfig={}", env.kubeconfig().display()))
        .arg(format!("--as={identity}"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn the_check_hook_cannot_read_the_serving_key_nor_store_a_pod() {
    let c = client().await;
    let ns = namespace(&c, "e2e-n8").await;
    let release = format!("n8{}", &ns[ns.len() - 6..]);
    let objs = hook_objects(&release, &ns);
    let fullname = format!("{release}-kafka-advertiser");
    let check_ns = format!("{fullname}-check");
    let identity = format!("system:serviceaccount:{ns}:{fullname}-check");
    // The hook's namespace first, then its identity, rights and fence.
    let env = testenv();
    let apply = |v: &Value| env.kubectl_stdin(&["apply", "-f", "-"], &serde_json::to_string(v).unwrap());
    for v in objs.iter().filter(|v| v["kind"] == "Namespace") {
        apply(v);
    }
    for v in objs.iter().filter(|v| v["kind"] != "Namespace") {
        apply(v);
    }
    let secret = format!("{fullname}-tls");
    env.kubectl(&["-n", &ns, "create", "secret", "generic", &secret, "--from-literal=tls.key=private"]);

    let (read, said) = as_check(&identity, &["-n", &ns, "get", "secret", &secret], None);
    assert!(!read && said.contains("Forbidden"), "the check identity read the serving Secret: {said}");
    let (listed, said) = as_check(&identity, &["-n", &ns, "get", "secrets"], None);
    assert!(!listed && said.contains("Forbidden"), "{said}");

    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "escalate"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}}})
    .to_string();
    // RBAC allows the create; the policy refuses it unless it is a dry run (the policy takes a
    // moment to be enforced after it is created).
    let refusal = wait_for("the dry-run-only policy to refuse a stored pod", Duration::from_secs(30), || async {
        let (stored, said) = as_check(&identity, &["-n", &check_ns, "create", "-f", "-"], Some(&pod));
        if stored {
            env.kubectl(&["-n", &check_ns, "delete", "pod", "escalate", "--wait=false"]);
        }
        (!stored).then_some(said)
    })
    .await;
    assert!(refusal.contains("only as a server-side dry run"), "{refusal}");
    let (dry, said) = as_check(&identity, &["-n", &check_ns, "create", "--dry-run=server", "-f", "-"], Some(&pod));
    assert!(dry, "a dry run is what the check needs: {said}");
    // Elsewhere, no pod rights at all.
    let (other, said) = as_check(&identity, &["-n", &ns, "create", "--dry-run=server", "-f", "-"], Some(&pod));
    assert!(!other && said.contains("Forbidden"), "{said}");
    // Nothing stored.
    let pods = Api::<Pod>::namespaced(c.clone(), &check_ns).list(&ListParams::default()).await.unwrap();
    assert!(pods.items.is_empty(), "{:?}", pods.items.iter().map(|p| &p.metadata.name).collect::<Vec<_>>());

    for v in objs.iter().filter(|v| v["metadata"]["namespace"].is_null()) {
        let kind = v["kind"].as_str().unwrap();
        env.kubectl(&["delete", kind, v["metadata"]["name"].as_str().unwrap(), "--wait=false", "--ignore-not-found"]);
    }
}
