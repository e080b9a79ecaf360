//! kubectl's conventions on every printing command, through the release binary: `-o json|yaml`
//! (errors as documents on stdout too), one set of exit codes (0 ok, 1 not ready or a failed
//! check, 2 an error), `--show` with the old `-o` values deprecated, `version`, `completion`,
//! `certs` keys private and never overwritten silently.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use super::cli::{run, stdout};

fn json(o: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A kubeconfig pointing at a closed loopback port: a cluster that cannot be reached.
fn unreachable_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"https://127.0.0.1:{port}\", \
             insecure-skip-tls-verify: true}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\n\
             contexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn preview_prints_one_json_or_yaml_document_and_says_when_it_runs_the_embedded_example() {
    let args = ["preview", "-o", "json", "--address", "0=198.51.100.1,1=198.51.100.2,2=198.51.100.3"];
    let o = run(&args, None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert!(v["source"].as_str().unwrap().contains("embedded"), "{v}");
    let sts = &v["statefulSets"][0];
    assert_eq!((sts["name"].as_str(), sts["mode"].as_str()), (Some("kafka"), Some("loadbalancer")));
    let brokers = sts["brokers"].as_array().unwrap();
    assert_eq!(brokers.len(), 3);
    for (i, b) in brokers.iter().enumerate() {
        let env = b["env"].as_object().unwrap();
        let listeners = env.iter().find(|(k, _)| k.ends_with("ADVERTISED_LISTENERS")).unwrap().1.as_str().unwrap();
        assert!(listeners.contains(&format!("198.51.100.{}", i + 1)), "{b}");
        assert_eq!(b["service"]["metadata"]["name"], format!("kafka-{i}-external"));
    }
    assert_eq!(sts["discovery"]["kind"], "ConfigMap");
    // YAML: the same document.
    let mut yaml_args = args;
    yaml_args[2] = "yaml";
    let y: Value = serde_saphyr::from_str(&stdout(&run(&yaml_args, None))).unwrap();
    assert_eq!(y, v);
    // The text report says on its first line that it is the embedded example.
    let text = stdout(&run(&["preview"], None));
    assert!(text.lines().next().unwrap().contains("embedded") && text.contains("pass FILE"), "{text}");
    // Without addresses a broker is pending, and says how to give the address offline.
    let pending = json(&run(&["preview", "-o", "json"], None));
    let why = pending["statefulSets"][0]["brokers"][0]["pending"].as_str().unwrap();
    assert!(why.contains("pass --address 0=HOST"), "{why}");
}

#[test]
fn show_chooses_what_and_the_old_output_values_still_work_with_a_warning() {
    let args = ["--address", "0=198.51.100.1,1=198.51.100.2,2=198.51.100.3"];
    let new = run(&[&["preview", "--show", "pods"][..], &args].concat(), None);
    let old = run(&[&["preview", "-o", "pods"][..], &args].concat(), None);
    assert_eq!(new.status.code(), Some(0));
    assert_eq!(stdout(&new), stdout(&old));
    assert!(!stderr(&new).contains("deprecated"));
    assert!(stderr(&old).contains("--output pods is deprecated") && stderr(&old).contains("--show pods"));
    // --show pods -o json: a v1 List of the pods.
    let list = json(&run(&[&["preview", "--show", "pods", "-o", "json"][..], &args].concat(), None));
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    // A show value is not a format of another command, and --show with an old -o is a conflict.
    let o = run(&["preview", "-o", "review"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a format of this command"), "{}", stderr(&o));
    let o = run(&["preview", "--show", "report", "-o", "pods"], None);
    assert_eq!(o.status.code(), Some(2));

    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: k-0, namespace: ns, labels: {kafka-advertiser.io/enabled: \"true\"}, \
               annotations: {kafka-advertiser.io/mode: hostname, kafka-advertiser.io/hostname-template: \"{pod}.k.example.com\"}}\n\
               spec: {subdomain: k, containers: [{name: kafka, image: apache/kafka:4.1.1}]}\n";
    let review = json(&run(&["mutate", "-"], Some(pod)));
    assert_eq!(review["kind"], "AdmissionReview");
    let as_yaml: Value = serde_saphyr::from_str(&stdout(&run(&["mutate", "-", "-o", "yaml"], Some(pod)))).unwrap();
    assert_eq!(as_yaml, review);
    let patched = json(&run(&["mutate", "-", "--show", "pod", "-o", "json"], Some(pod)));
    assert_eq!(patched["metadata"]["name"], "k-0");
    let old = run(&["mutate", "-", "--output", "pod"], Some(pod));
    assert!(stderr(&old).contains("--output pod is deprecated"));
    let from_old: Value = serde_saphyr::from_str(&stdout(&old)).unwrap();
    assert_eq!(from_old, patched);
}

#[test]
fn errors_are_json_on_stdout_under_o_json_and_exit_codes_agree() {
    // Bad input: exit 2, and under -o json the error is the document on stdout.
    for cmd in [&["preview", "-", "-o", "json"][..], &["mutate", "-", "-o", "json"][..]] {
        let o = run(cmd, Some("{ not: [valid"));
        assert_eq!(o.status.code(), Some(2), "{cmd:?}");
        let v = json(&o);
        assert_eq!(v["error"]["reason"], "InvalidInput", "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("not valid JSON or YAML"), "{v}");
    }
    let o = run(&["preview", "-", "-o", "yaml"], Some("kind: ConfigMap\n"));
    let v: Value = serde_saphyr::from_str(&stdout(&o)).unwrap();
    assert_eq!((o.status.code(), v["error"]["reason"].as_str()), (Some(2), Some("InvalidInput")));
    // A denied pod: the answer is "no" (1), not an error.
    let pod = "kind: Pod\nmetadata: {name: k-0, labels: {kafka-advertiser.io/enabled: \"true\"}, \
               annotations: {kafka-advertiser.io/mode: teleport}}\nspec: {containers: [{name: kafka, image: x}]}\n";
    let o = run(&["mutate", "-"], Some(pod));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(json(&o)["response"]["allowed"], false);
    let o = run(&["mutate", "-", "--show", "pod", "-o", "json"], Some(pod));
    assert_eq!((o.status.code(), json(&o)["error"]["reason"].as_str()), (Some(1), Some("Denied")));
    // A cluster that cannot be reached: 2 for status, check and version alike, JSON under -o json.
    let dir = tempfile::tempdir().unwrap();
    let kc = unreachable_kubeconfig(dir.path());
    let kc = kc.to_str().unwrap();
    for cmd in [
        &["status", "--kubeconfig", kc, "-o", "json"][..],
        &["check", "--kubeconfig", kc, "-o", "json"][..],
        &["version", "--kubeconfig", kc, "-o", "json"][..],
    ] {
        let o = run(cmd, None);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", stderr(&o));
        assert_eq!(json(&o)["error"]["reason"], "ClusterUnreachable", "{cmd:?}");
    }
    // Text: the error on stderr, nothing on stdout.
    let o = run(&["check", "--kubeconfig", kc], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty() && stderr(&o).starts_with("error: "), "{}", stderr(&o));
    // --strict: warnings are the answer "no".
    let o = run(&["preview", "--strict", "--platform", "eks", "-o", "json"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--strict"));
}

#[test]
fn version_and_completion() {
    let o = run(&["version", "--client"], None);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), format!("Client version: {}\n", env!("CARGO_PKG_VERSION")));
    let v = json(&run(&["version", "--client", "-o", "json"], None));
    assert_eq!(v, serde_json::json!({"client": env!("CARGO_PKG_VERSION")}));
    for (shell, marker) in
        [("bash", "complete -F"), ("zsh", "#compdef kafka-advertiser"), ("fish", "complete -c kafka-advertiser")]
    {
        let o = run(&["completion", shell], None);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}: {}", &script[..script.len().min(300)]);
        for sub in ["preview", "status", "check", "version", "completion"] {
            assert!(script.contains(sub), "{shell} completes {sub}");
        }
    }
    assert_eq!(run(&["completion", "powershell"], None).status.code(), Some(2));
}

#[test]
fn certs_keys_are_private_and_never_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dev");
    let args = ["certs", "--out", out.to_str().unwrap(), "--client", "-o", "json"];
    let o = run(&args, None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let files = json(&o)["files"].clone();
    assert_eq!(files, serde_json::json!(["ca.crt", "tls.crt", "tls.key", "client.crt", "client.key"]));
    let mode = |f: &str| std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("tls.key"), mode("client.key"), mode("tls.crt")), (0o600, 0o600, 0o644));
    let before = std::fs::read(out.join("tls.key")).unwrap();
    let o = run(&args, None);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(json(&o)["error"]["reason"], "Exists");
    assert_eq!(std::fs::read(out.join("tls.key")).unwrap(), before, "nothing was written");
    // --force overwrites, and a key that was world-readable becomes private.
    std::fs::set_permissions(out.join("tls.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut forced = args.to_vec();
    forced.push("--force");
    assert_eq!(run(&forced, None).status.code(), Some(0));
    assert_ne!(std::fs::read(out.join("tls.key")).unwrap(), before);
    assert_eq!(mode("tls.key"), 0o600);
}

#[test]
fn preview_platform_warns_where_a_mode_cannot_work() {
    let shared = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples/kafka-kraft.yaml"))
        .unwrap()
        .replace(
            "kafka-advertiser.io/mode: loadbalancer",
            "kafka-advertiser.io/mode: shared-address\n        kafka-advertiser.io/address: kafka.example.com",
        );
    assert!(shared.contains("shared-address"));
    for (platform, warns) in [("eks", true), ("gke", true), ("metallb", false), ("generic", false)] {
        let o = run(&["preview", "-", "--platform", platform], Some(&shared));
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let text = stdout(&o);
        assert_eq!(
            text.contains(&format!("warning   platform {platform}: shared-address needs")),
            warns,
            "{platform}: {text}"
        );
    }
    let v = json(&run(&["preview", "-", "--platform", "eks", "-o", "json"], Some(&shared)));
    let warnings = v["statefulSets"][0]["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("one NLB per Service")), "{warnings:?}");
}

#[test]
fn preview_takes_a_namespace_and_one_gateway_address() {
    let kraft =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples/kafka-kraft.yaml")).unwrap();
    // `helm template` output names no namespace: -n places it, as `kubectl apply -n` would.
    let bare = kraft.replace("  namespace: streaming\n", "");
    let text = stdout(&run(&["preview", "-", "-n", "data", "--address", "0=198.51.100.1"], Some(&bare)));
    assert!(
        text.contains("StatefulSet data/kafka") && text.contains("kafka-0.kafka-headless.data.svc.cluster.local"),
        "{text}"
    );
    // gateway-tcp: one Gateway address for every broker; an --address still wins for its ordinal.
    let gateway = kraft.replace(
        "kafka-advertiser.io/mode: loadbalancer",
        "kafka-advertiser.io/mode: gateway-tcp\n        kafka-advertiser.io/gateway: edge",
    );
    let o =
        run(&["preview", "-", "--gateway-address", "198.51.100.50", "--address", "2=198.51.100.52"], Some(&gateway));
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&o.stderr));
    assert!(!text.contains("(pending)"), "{text}");
    assert!(text.contains("EXTERNAL://198.51.100.50:9092") && text.contains("EXTERNAL://198.51.100.50:9093"), "{text}");
    assert!(text.contains("EXTERNAL://198.51.100.52:9094"), "{text}");
}
