//! The docs cannot contradict the binary: each statement a reviewer found contradicted (newcomer
//! review M8) is checked here against what the binary, the chart and the examples do, as
//! `docs.rs` checks the Event reasons.

use std::collections::BTreeSet;

use serde_json::Value;

use super::cli::{run, stdout};
use crate::support::repo_file as doc;

/// The JSON patch paths of the webhook's answer to a bare broker pod with these annotations, with
/// indices as `*` and the appended element's `/-` dropped.
fn patch_paths(annotations: &str, env: &str) -> BTreeSet<String> {
    let pod = format!(
        "kind: Pod\nmetadata: {{name: k-0, namespace: ns, labels: {{kafka-advertiser.io/enabled: \"true\"}}, \
         annotations: {{{annotations}}}}}\nspec: {{subdomain: k, containers: [{{name: sidecar, image: x}}, \
         {{name: kafka, image: apache/kafka:4.1.1, env: [{env}]}}]}}\n"
    );
    let o = run(&["mutate", "-", "-o", "json", "--address", "0=198.51.100.4"], Some(&pod));
    assert_eq!(o.status.code(), Some(0), "{annotations}: {}", String::from_utf8_lossy(&o.stderr));
    let review: Value = serde_json::from_str(&stdout(&o)).unwrap();
    use base64::Engine;
    let patch =
        base64::engine::general_purpose::STANDARD.decode(review["response"]["patch"].as_str().unwrap()).unwrap();
    let ops: Vec<Value> = serde_json::from_slice(&patch).unwrap();
    ops.iter()
        .map(|op| {
            let path = op["path"].as_str().unwrap();
            assert!(!path.starts_with("/spec/containers/0"), "{annotations}: the sidecar was edited: {path}");
            let parts: Vec<String> =
                path.split('/')
                    .map(|p| {
                        if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() {
                            "*".to_owned()
                        } else {
                            p.to_owned()
                        }
                    })
                    .collect();
            let mut norm = parts.join("/");
            // An element of a list the doc names: the list.
            for list in ["/spec/containers/*/env", "/spec/volumes", "/spec/containers/*/volumeMounts"] {
                if norm.starts_with(&format!("{list}/")) {
                    norm = list.to_owned();
                }
            }
            if norm.starts_with("/metadata/annotations/") {
                assert_eq!(norm, "/metadata/annotations/kafka-advertiser.io~1advertised");
                norm = "/metadata/annotations".to_owned();
            }
            norm
        })
        .collect()
}

/// M8.1: docs/security.md lists every patch path the webhook writes, in every mode and option.
#[test]
fn security_md_lists_every_path_the_webhook_writes() {
    let security = doc("docs/security.md");
    let env = "{name: KAFKA_LISTENERS, value: \"INTERNAL://:9092,EXTERNAL://:9094\"}";
    let mut seen = BTreeSet::new();
    for annotations in [
        "kafka-advertiser.io/mode: hostname, kafka-advertiser.io/hostname-template: \"{pod}.k.example.com\", \
         kafka-advertiser.io/tls-issuer: \"ClusterIssuer/ca\", kafka-advertiser.io/rack: \"true\"",
        "kafka-advertiser.io/mode: nodeport",
        "kafka-advertiser.io/mode: pod-ip",
        "kafka-advertiser.io/mode: shared-address, kafka-advertiser.io/address: kafka.example.com",
        "kafka-advertiser.io/mode: loadbalancer, kafka-advertiser.io/anti-affinity: preferred",
    ] {
        for env in ["", env] {
            seen.extend(patch_paths(annotations, env));
        }
    }
    assert!(seen.contains("/spec/volumes"), "the TLS case ran: {seen:?}");
    for path in &seen {
        assert!(
            security.contains(&format!("`{path}`")),
            "docs/security.md does not list `{path}` (the webhook writes it)"
        );
    }
    assert!(
        !security.contains("cannot change: volumes") && security.contains("other volumes"),
        "volumes are changed with tls-issuer"
    );
}

/// M8.2: the MetalLB sharing key is described one way, and `preview` prints it that way.
#[test]
fn the_sharing_key_is_described_once_and_preview_agrees() {
    for path in ["docs/annotations.md", "docs/multi-tenant.md"] {
        let text = doc(path).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains("derived from the StatefulSet's UID"), "{path}");
        assert!(text.contains("kafka-advertiser-<16 hex digits>"), "{path}");
        assert!(!text.contains("defaults to `<namespace>-<statefulset>`"), "{path}");
    }
    let sts = doc("deploy/examples/kafka-kraft.yaml").replace(
        "kafka-advertiser.io/mode: loadbalancer",
        "kafka-advertiser.io/mode: shared-address\n        kafka-advertiser.io/address: 198.51.100.7",
    );
    let text = stdout(&run(&["preview", "-"], Some(&sts)));
    assert!(text.contains("metallb.io/allow-shared-ip: kafka-advertiser-<uid-hash>"), "{text}");
    // With the StatefulSet's UID (a manifest read from the cluster), the key the cluster gets.
    let with_uid = sts.replacen(
        "  namespace: streaming\n",
        "  namespace: streaming\n  uid: 6f1e5d0a-1111-4222-8333-944455556666\n",
        2,
    );
    let text = stdout(&run(&["preview", "-"], Some(&with_uid)));
    let key = text.lines().find_map(|l| l.trim().strip_prefix("annotation metallb.io/allow-shared-ip: ")).unwrap();
    assert!(key.starts_with("kafka-advertiser-") && key.len() == "kafka-advertiser-".len() + 16, "{key}");
}

/// M8.3: `address` is optional in shared-address mode: `preview` shows the broker waiting for the
/// address (and how to give it offline), not an error; the docs say optional.
#[test]
fn shared_address_without_an_address_waits_as_the_docs_say() {
    let sts = doc("deploy/examples/kafka-kraft.yaml")
        .replace("kafka-advertiser.io/mode: loadbalancer", "kafka-advertiser.io/mode: shared-address");
    let o = run(&["preview", "-"], Some(&sts));
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("(pending) address not known offline: pass --address 0=HOST"), "{}", stdout(&o));
    assert!(doc("docs/annotations.md").contains("| `kafka-advertiser.io/address` | — (optional) |"));
    assert!(doc("docs/modes.md").contains("optional: if absent, the address learned from the broker's Service"));
}

/// M8.4: every shipped example keeps the fallback listeners value the uninstall guide promises.
#[test]
fn every_example_keeps_a_fallback_listeners_value() {
    assert!(doc("docs/install.md").contains("the examples do"));
    for example in ["kafka-kraft.yaml", "kafka-zookeeper.yaml", "kafka-apache.yaml"] {
        let text = doc(&format!("deploy/examples/{example}"));
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        let opted = docs
            .iter()
            .filter(|d| d["kind"] == "StatefulSet")
            .filter(|d| d["spec"]["template"]["metadata"]["labels"]["kafka-advertiser.io/enabled"] == "true");
        for sts in opted {
            let containers = sts["spec"]["template"]["spec"]["containers"].as_array().unwrap();
            let env = containers[0]["env"].as_array().unwrap();
            let fallback = env.iter().find(|e| e["name"].as_str().unwrap().ends_with("ADVERTISED_LISTENERS"));
            let value = fallback.and_then(|e| e["value"].as_str()).unwrap_or_else(|| panic!("{example}: no fallback"));
            assert!(value.contains(".svc.cluster.local:"), "{example}: {value}");
        }
    }
}

/// M8.5: the shutdown timings agree: the flag's default, the chart's values and deploy/.
#[test]
fn shutdown_timings_agree_across_flag_chart_and_deploy() {
    let help = stdout(&run(&["serve", "--help"], None));
    let default = |flag: &str| {
        let at = help.find(flag).unwrap();
        let rest = &help[at..];
        rest[rest.find("[default: ").unwrap() + 10..].split(']').next().unwrap().to_owned()
    };
    let values = doc("charts/kafka-advertiser/values.yaml");
    let value = |k: &str| values.lines().find_map(|l| l.strip_prefix(&format!("{k}: "))).unwrap().trim().to_owned();
    assert_eq!(default("--shutdown-grace"), value("shutdownGrace"));
    assert_eq!(default("--shutdown-delay"), value("shutdownDelay"));
    let deploy = doc("deploy/deployment.yaml");
    assert!(deploy.contains(&format!("--shutdown-grace={}", value("shutdownGrace"))));
    assert!(doc("docs/annotations.md").contains(&format!("| `--shutdown-grace` | `{}` |", value("shutdownGrace"))));
}

/// M8.6: every list of modes in the docs names every mode the binary takes.
#[test]
fn mode_lists_name_every_mode() {
    // clap lists the values a bad one could have been.
    let o = run(&["preview", "--default-mode", "bogus"], None);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let values = &err[err.find("[possible values: ").unwrap() + 18..];
    let modes: Vec<&str> = values.split(']').next().unwrap().split(", ").collect();
    assert_eq!(modes.len(), 7, "{modes:?}");
    for path in ["README.md", "docs/modes.md", "docs/annotations.md"] {
        let text = doc(path);
        for line in text
            .lines()
            .filter(|l| l.contains("loadbalancer") && l.contains("shared-address") && l.contains("hostname"))
        {
            for m in &modes {
                assert!(line.contains(m), "{path}: a list of modes without {m}: {line}");
            }
        }
    }
}

/// M8.7: a denied broker pod never exists; the docs say where it shows.
#[test]
fn troubleshooting_says_a_denied_pod_is_never_created() {
    let text = doc("docs/troubleshooting.md");
    assert!(!text.contains("Pods stay Pending"));
    assert!(text.contains("a denied pod is never created") && text.contains("FailedCreate"));
}

/// M8.9 and M8.10: the prerequisites and the canonical install path agree everywhere.
#[test]
fn prerequisites_and_the_install_path_agree() {
    let (readme, install, chart) = (doc("README.md"), doc("docs/install.md"), doc("charts/kafka-advertiser/README.md"));
    for (path, text) in [("README.md", &readme), ("docs/install.md", &install)] {
        let line = text.lines().find(|l| l.starts_with("Prerequisites:")).unwrap_or_else(|| panic!("{path}"));
        // The version itself: tests/it/compatibility.rs (proven by docs/compatibility.md).
        assert!(line.contains("Kubernetes >= 1."), "{path}: {line}");
        let para = &text[text.find(line).unwrap()..][..400];
        assert!(para.contains("cert-manager") && para.contains("optional"), "{path}: {para}");
    }
    for (path, text) in [("README.md", &readme), ("docs/install.md", &install), ("chart README", &chart)] {
        let first = text.lines().find(|l| l.starts_with("helm install")).unwrap_or_else(|| panic!("{path}"));
        assert!(first.contains("oci://ghcr.io/kafka-advertiser/charts/kafka-advertiser"), "{path}: {first}");
    }
    for (path, text) in [("README.md", &readme), ("docs/install.md", &install)] {
        assert!(text.contains("https://github.com/kafka-advertiser/kafka-advertiser/releases"), "{path}");
    }
}
