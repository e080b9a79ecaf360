//! The offline commands through the release binary's documented flags.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kafka-advertiser");
const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

pub(crate) fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        // A command refused on its arguments exits without reading: its closed pipe is not a failure.
        match child.stdin.take().unwrap().write_all(s.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r.unwrap(),
        }
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn mutate_review_with_offline_address() {
    let f = format!("{FIX}/kafka-0-kraft-bitnami-loadbalancer.json");
    let o = run(&["mutate", &f, "--address", "0=192.0.2.44"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["response"]["allowed"], true);
    assert_eq!(v["response"]["patchType"], "JSONPatch");
    // Without the address: denied, exit code 1, the review still printed.
    let o = run(&["mutate", &f], None);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["response"]["allowed"], false);
}

#[test]
fn mutate_bare_pod_yaml_from_stdin_to_patched_pod() {
    let pod = r#"
apiVersion: v1
kind: Pod
metadata:
  name: events-7
  namespace: prod
  labels: { kafka-advertiser.io/enabled: "true", app: events }
  annotations:
    kafka-advertiser.io/mode: hostname
    kafka-advertiser.io/hostname-template: "{statefulset}-{ordinal}.{namespace}.kafka.example.org"
spec:
  hostname: events-7
  subdomain: events-hs
  containers:
    - name: broker
      image: confluentinc/cp-kafka:7.7.1
"#;
    let o = run(&["mutate", "-", "--output", "pod", "--cluster-domain", "k8s.local"], Some(pod));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_saphyr::from_str(&stdout(&o)).unwrap();
    let env = &v["spec"]["containers"][0]["env"][0];
    assert_eq!(env["name"], "KAFKA_ADVERTISED_LISTENERS");
    assert_eq!(
        env["value"],
        "INTERNAL://events-7.events-hs.prod.svc.k8s.local:9092,EXTERNAL://events-7.prod.kafka.example.org:9094"
    );
    assert_eq!(v["metadata"]["annotations"]["kafka-advertiser.io/advertised"], env["value"]);
    let term = &v["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(term["labelSelector"]["matchLabels"]["app"], "events");
}

#[test]
fn bad_input_is_a_clear_error() {
    for (input, want) in [
        ("{ not: [valid", "not valid JSON or YAML"),
        ("apiVersion: v1\nkind: ConfigMap\n", "expected an AdmissionReview or a Pod"),
        ("", "empty document"),
    ] {
        let o = run(&["mutate", "-"], Some(input));
        assert_eq!(o.status.code(), Some(2), "an error is exit code 2");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{input:?}: {err}");
    }
    let o = run(&["mutate", "/nonexistent/review.json"], None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/review.json"));
    let o = run(&["mutate", "-", "--address", "zero=1.2.3.4"], Some("{}"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ordinal"));
    let o = run(&["serve", "--standalone", "--default-mode", "ingress"], None);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["serve", "--standalone", "--listen", "not-an-address"], None);
    assert_eq!(o.status.code(), Some(2));
    // A duration too large for the machine is a usage error naming the value, not a panic.
    let o = run(&["serve", "--standalone", "--lease-duration", "99999999999999999999h"], None);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid duration"));
}

#[test]
fn preview_defaults_to_the_embedded_example_and_reads_other_statefulsets() {
    let o = run(
        &["preview", "--address", "0=198.51.100.1", "--address", "1=198.51.100.2", "--address", "2=198.51.100.3"],
        None,
    );
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("EXTERNAL://198.51.100.2:9094"), "{out}");
    // A StatefulSet with non-zero ordinals, nodeport mode, from stdin.
    let sts = r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"edge","namespace":"ops"},
      "spec":{"replicas":2,"ordinals":{"start":5},"serviceName":"edge-hs","selector":{"matchLabels":{"a":"b"}},
      "template":{"metadata":{"labels":{"a":"b","kafka-advertiser.io/enabled":"true"},
        "annotations":{"kafka-advertiser.io/mode":"nodeport","kafka-advertiser.io/node-port-base":"32000"}},
        "spec":{"containers":[{"name":"kafka","image":"bitnami/kafka"}]}}}}"#;
    let o = run(&["preview", "-"], Some(sts));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(out.contains("brokers 5..6"), "{out}");
    assert!(out.contains("EXTERNAL://$(ADVERTISER_HOST_IP):32005"), "{out}");
    assert!(out.contains("ADVERTISER_HOST_IP from status.hostIP"), "{out}");
    assert!(out.contains("edge-6-external type NodePort port 9094 nodePort 32006"), "{out}");
    assert!(!out.contains("edge-4") && !out.contains("edge-7"), "{out}");
}

#[test]
fn certs_writes_a_usable_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let o = run(&["certs", "--out", dir.to_str().unwrap(), "--host", "webhook.test"], None);
    assert!(o.status.success());
    for f in ["ca.crt", "tls.crt", "tls.key"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let loaded = kafka_advertiser::tls::load_dir(&dir, &provider).unwrap();
    assert!(loaded.not_after > 0);
}

/// `preview` shows the listeners var of the container the mutation chose, even when the merged value
/// keeps the user's order and a foreign entry between ours (so it does not contain `advertised`).
#[test]
fn preview_shows_the_chosen_variable_whatever_the_entry_order() {
    let sts = r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"orders","namespace":"shop"},
      "spec":{"replicas":1,"serviceName":"orders-hs","selector":{"matchLabels":{"app":"orders"}},
      "template":{"metadata":{"labels":{"app":"orders","kafka-advertiser.io/enabled":"true"},
        "annotations":{"kafka-advertiser.io/mode":"hostname","kafka-advertiser.io/hostname-template":"o{ordinal}.example.net"}},
        "spec":{"containers":[{"name":"sidecar","image":"envoy"},{"name":"broker","image":"apache/kafka:4.1.0",
          "env":[{"name":"KAFKA_ADVERTISED_LISTENERS","value":"EXTERNAL://old:1,REPLICATION://r:9093,INTERNAL://i:9092"}]}]}}}}"#;
    let o = run(&["preview", "-"], Some(sts));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(
        out.contains(
            "env       KAFKA_ADVERTISED_LISTENERS=EXTERNAL://o0.example.net:9094,REPLICATION://r:9093,\
             INTERNAL://orders-0.orders-hs.shop.svc.cluster.local:9092   (container broker)"
        ),
        "{out}"
    );
    // The anti-affinity term selects by the StatefulSet's selector, as on a cluster.
    assert!(out.contains("affinity  not with pods {app=orders} on the same kubernetes.io/hostname"), "{out}");
}

/// `mutate` takes the first Pod of a multi-document file; a file without one names what it found.
#[test]
fn mutate_takes_the_first_pod_of_a_manifest() {
    let manifest = r#"
apiVersion: v1
kind: Namespace
metadata: { name: payments }
---
apiVersion: v1
kind: Pod
metadata:
  name: ledger-2
  namespace: payments
  labels: { kafka-advertiser.io/enabled: "true", app: ledger }
  annotations: { kafka-advertiser.io/mode: shared-address, kafka-advertiser.io/address: "198.51.100.9" }
spec:
  subdomain: ledger-hs
  containers: [{ name: kafka, image: apache/kafka:4.1.0 }]
"#;
    let o = run(&["mutate", "-", "--output", "pod"], Some(manifest));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_saphyr::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["metadata"]["name"], "ledger-2");
    assert!(v["spec"]["containers"][0]["env"][0]["value"].as_str().unwrap().ends_with("EXTERNAL://198.51.100.9:9094"));

    let o = run(&["mutate", "-"], Some("kind: Namespace\n---\nkind: ConfigMap\n"));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("found Namespace, ConfigMap"), "{err}");
}

/// pod-ip mode with rack awareness and no Service, as preview shows it.
#[test]
fn preview_shows_pod_ip_rack_and_the_discovery_configmap() {
    let sts = r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"ledger","namespace":"pay"},
      "spec":{"replicas":2,"serviceName":"ledger-hs","selector":{"matchLabels":{"app":"ledger"}},
      "template":{"metadata":{"labels":{"app":"ledger","kafka-advertiser.io/enabled":"true"},
        "annotations":{"kafka-advertiser.io/mode":"pod-ip","kafka-advertiser.io/rack":"true"}},
        "spec":{"containers":[{"name":"kafka","image":"bitnamilegacy/kafka:3.9.0"}]}}}}"#;
    let o = run(&["preview", "-"], Some(sts));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    for want in [
        "env       ADVERTISER_POD_IP from status.podIP",
        "EXTERNAL://$(ADVERTISER_POD_IP):9094   (container kafka)",
        "env       KAFKA_CFG_BROKER_RACK from metadata.labels['topology.kubernetes.io/zone']",
        "service   none (service-type None)",
        "configmap ledger-external-bootstrap: bootstrap.servers=(filled from the running pods' IPs)",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    // With known load-balancer addresses the ConfigMap line lists them.
    let o = run(&["preview", "--address", "0=203.0.113.1", "--address", "1=203.0.113.2"], None);
    let out = stdout(&o);
    assert!(
        out.contains("configmap kafka-external-bootstrap: bootstrap.servers=203.0.113.1:9094,203.0.113.2:9094"),
        "{out}"
    );
}

#[test]
fn preview_lists_the_gateway_listener_route_service_and_certificate_of_each_broker() {
    let sts = r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"edge","namespace":"ops"},
      "spec":{"replicas":2,"ordinals":{"start":3},"serviceName":"edge-hs","selector":{"matchLabels":{"a":"b"}},
      "template":{"metadata":{"labels":{"a":"b","kafka-advertiser.io/enabled":"true"},
        "annotations":{"kafka-advertiser.io/mode":"gateway-tcp","kafka-advertiser.io/gateway":"infra/shared",
          "kafka-advertiser.io/port-base":"19000","kafka-advertiser.io/tls-issuer":"Issuer/ca"}},
        "spec":{"containers":[{"name":"kafka","image":"apache/kafka"}]}}}}"#;
    let o = run(&["preview", "--address", "3=203.0.113.7", "-"], Some(sts));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(out.contains("EXTERNAL://203.0.113.7:19003"), "{out}");
    assert!(
        out.contains("listener  edge-3 port 19003 protocol TCP in ListenerSet edge-external on Gateway infra/shared"),
        "{out}"
    );
    assert!(out.contains("route     TCPRoute edge-4-external -> ListenerSet edge-external listener edge-4"), "{out}");
    assert!(out.contains("service   edge-3-external type ClusterIP port 19003"), "{out}");
    assert!(
        out.contains("cert      Certificate edge-3-tls from Issuer/ca, SANs edge-3.edge-hs.ops.svc.cluster.local"),
        "{out}"
    );
    assert!(out.contains("203.0.113.7; mounted at /etc/kafka/tls"), "{out}");
    assert!(out.contains("Certificate edge-4-tls from Issuer/ca: once the broker's address is known"), "{out}");

    let tls = sts
        .replace("gateway-tcp", "gateway-tls")
        .replace(r#""kafka-advertiser.io/port-base":"19000""#, r#""kafka-advertiser.io/gateway-listener":"tls","kafka-advertiser.io/hostname-template":"b{ordinal}.example.com""#);
    let out = stdout(&run(&["preview", "-"], Some(&tls)));
    assert!(
        out.contains(
            "route     TLSRoute edge-3-external -> Gateway infra/shared listener tls hostnames b3.example.com"
        ),
        "{out}"
    );
    assert!(!out.contains("listener  "), "gateway-tls adds no listener: {out}");
}

/// `serve --role`: the webhook and the controller as separate processes (separate identities);
/// `--controller-only` stays as a hidden alias of `--role controller`.
#[test]
fn serve_roles_parse_and_refuse_what_cannot_run() {
    use clap::Parser;
    use kafka_advertiser::config::{Cli, Command, Role};
    let serve = |args: &[&str]| match Cli::try_parse_from([&["kafka-advertiser", "serve"], args].concat()) {
        Ok(Cli { command: Command::Serve(s), .. }) => Ok(s),
        Ok(_) => unreachable!(),
        Err(e) => Err(e.kind()),
    };
    let role = |args: &[&str]| serve(args).unwrap().effective_role();
    assert_eq!(role(&[]), Ok(Role::All), "local runs keep both");
    assert_eq!(role(&["--role", "webhook"]), Ok(Role::Webhook));
    assert_eq!(role(&["--role", "controller"]), Ok(Role::Controller));
    assert_eq!(role(&["--controller-only"]), Ok(Role::Controller), "the former flag still works");
    assert_eq!(role(&["--standalone"]), Ok(Role::All));
    assert!(!serve(&["--role", "controller"]).unwrap().serves_webhook());
    assert!(serve(&["--role", "webhook"]).unwrap().serves_webhook());
    // A role that does not exist, or two spellings of the role at once: a usage error.
    assert_eq!(serve(&["--role", "both"]).err(), Some(clap::error::ErrorKind::InvalidValue));
    assert_eq!(
        serve(&["--controller-only", "--role", "webhook"]).err(),
        Some(clap::error::ErrorKind::ArgumentConflict)
    );
    // --standalone has no API access, which the controller needs: refused before anything binds.
    let o = run(&["serve", "--standalone", "--role", "controller"], None);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--standalone") && err.contains("--role controller"), "{err}");
    // The help names --role and its env var, not the hidden alias.
    let help = stdout(&run(&["serve", "--help"], None));
    assert!(help.contains("--role") && help.contains("KAFKA_ADVERTISER_ROLE"), "{help}");
    assert!(!help.contains("--controller-only"), "{help}");
}

/// `preview --class FILE`: the platform sees what a class makes of a tenant's StatefulSet offline —
/// the default class's settings applied, or the refusal naming the setting and the class.
#[test]
fn preview_applies_an_access_class() {
    let classes = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples/access-classes.yaml");
    let o = run(&["preview", "--class", classes, "--address", "0=203.0.113.10"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(out.contains("ExternalAccessClass internet"), "{out}");
    assert!(out.contains("annotation service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing"), "{out}");
    assert!(out.contains("externalTrafficPolicy Local"), "{out}");
    // Without the class the same StatefulSet gets none of that.
    let plain = stdout(&run(&["preview", "--address", "0=203.0.113.10"], None));
    assert!(!plain.contains("internet-facing") && !plain.contains("ExternalAccessClass"), "{plain}");
    // A StatefulSet asking for what the class fixes: refused, exit 1, the setting and the class named.
    let zk = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples/kafka-zookeeper.yaml");
    let o = run(&["preview", zk, "--class", classes], None);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is fixed by ExternalAccessClass internet") && err.contains("ClassSettingRefused"), "{err}");
    // A file with no class in it is a clear input error.
    let o = run(&["preview", "--class", zk], None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no ExternalAccessClass in the file"));
}

/// Usage mistakes and I/O errors say what is wrong once: a misspelt log filter is a usage error (exit
/// 2), not a silent `info`; a missing file is named with its OS error, not twice.
#[test]
fn a_bad_log_level_is_a_usage_error_and_io_errors_are_said_once() {
    // A misspelt level is not read as a target name (a process that would log nothing).
    let o = run(&["--log-level", "debgu", "preview"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"debgu\" is not a level"), "{o:?}");
    assert_eq!(run(&["--log-level", "WARN,kube=info", "version", "--client"], None).status.code(), Some(0));
    let o = run(&["--log-level", "kafka_advertiser=loud", "preview", "-"], Some("{}"));
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--log-level") && err.contains("EnvFilter syntax"), "{err}");
    let o = run(&["preview", "/nonexistent/sts.yaml"], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot read /nonexistent/sts.yaml"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

/// `preview -o pods`: each broker pod as it will be admitted (YAML documents, warnings as comments);
/// a broker whose address is not known yet is an error naming the flag.
#[test]
fn preview_pods_prints_each_admitted_broker_pod() {
    let args = ["preview", "-o", "pods", "--address", "0=198.51.100.1,1=198.51.100.2,2=198.51.100.3"];
    let o = run(&args, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    let docs: Vec<Value> =
        text.split("\n---\n").map(|d| serde_saphyr::from_str(d.trim_start_matches("---\n")).unwrap()).collect();
    assert_eq!(docs.len(), 3, "{text}");
    for (i, pod) in docs.iter().enumerate() {
        assert_eq!(pod["metadata"]["name"], format!("kafka-{i}"));
        assert_eq!(pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"], i.to_string());
        let env = pod["spec"]["containers"][0]["env"].as_array().unwrap();
        let adv = env.iter().find(|e| e["name"] == "KAFKA_CFG_ADVERTISED_LISTENERS").expect("the listeners var");
        assert!(adv["value"].as_str().unwrap().contains(&format!("EXTERNAL://198.51.100.{}:9094", i + 1)), "{adv}");
        assert!(pod["spec"]["affinity"]["podAntiAffinity"].is_object());
    }
    // A warning is a comment above its pod.
    let sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: k, namespace: ns}\nspec:\n  serviceName: h\n  \
               replicas: 1\n  selector: {matchLabels: {app: k}}\n  template:\n    metadata:\n      labels: {app: k, \
               kafka-advertiser.io/enabled: \"true\"}\n      annotations: {kafka-advertiser.io/mode: pod-ip}\n    \
               spec:\n      containers: [{name: kafka, image: apache/kafka:4.1.1}]\n";
    let o = run(&["preview", "-o", "pods", "-"], Some(sts));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("# warning: kafka-advertiser: container \"kafka\" sets no KAFKA_* server setting"));
    // Without the learned addresses: an error, no pods.
    let o = run(&["preview", "-o", "pods", "--address", "0=198.51.100.1"], None);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broker 1") && err.contains("pass --address 1=HOST"), "{err}");
    assert!(stdout(&o).is_empty());
}

/// `preview -o pods` stays YAML whatever else it reports: a StatefulSet left alone and a class are
/// comments, and a StatefulSet with `ordinals.start` gets its own pod names.
#[test]
fn preview_pods_output_is_yaml_with_classes_and_other_statefulsets() {
    let manifest = format!(
        "{}---\n{}",
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: plain, namespace: ns}\nspec:\n  serviceName: h\n  \
         replicas: 1\n  selector: {matchLabels: {app: p}}\n  template:\n    metadata: {labels: {app: p}}\n    spec:\n      \
         containers: [{name: kafka, image: apache/kafka:4.1.1}]\n",
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: events, namespace: ns}\nspec:\n  serviceName: h\n  \
         replicas: 2\n  ordinals: {start: 3}\n  selector: {matchLabels: {app: e}}\n  template:\n    metadata:\n      \
         labels: {app: e, kafka-advertiser.io/enabled: \"true\"}\n      annotations: {kafka-advertiser.io/class: \
         pods}\n    spec:\n      containers: [{name: kafka, image: apache/kafka:4.1.1, env: [{name: KAFKA_NODE_ID, \
         value: \"3\"}]}]\n"
    );
    let class =
        "apiVersion: kafka-advertiser.io/v1alpha1\nkind: ExternalAccessClass\nmetadata: {name: pods}\nspec:\n  \
                 settings: {mode: pod-ip}\n";
    let dir = tempfile::tempdir().unwrap();
    let class_file = dir.path().join("class.yaml");
    std::fs::write(&class_file, class).unwrap();
    let o = run(&["preview", "-o", "pods", "--class", class_file.to_str().unwrap(), "-"], Some(&manifest));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    let names: Vec<String> = serde_saphyr::from_multiple::<serde_json::Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .map(|v| v["metadata"]["name"].as_str().unwrap_or_else(|| panic!("not a pod: {v:?}\n{text}")).to_owned())
        .collect();
    assert_eq!(names, ["events-3", "events-4"], "{text}");
    assert!(text.contains("# StatefulSet ns/plain: pod template lacks label"), "{text}");
    assert!(text.contains("# StatefulSet ns/events: ExternalAccessClass pods"), "{text}");
}

/// A StatefulSet over the broker cap is refused at once (nothing built for it), naming the cap and
/// the flag; `--max-brokers` raises it.
#[test]
fn preview_refuses_a_statefulset_over_the_broker_cap() {
    let sts = |replicas: u32| {
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: k, namespace: ns}}\nspec:\n  serviceName: h\n  \
             replicas: {replicas}\n  selector: {{matchLabels: {{app: k}}}}\n  template:\n    metadata:\n      labels: \
             {{app: k, kafka-advertiser.io/enabled: \"true\"}}\n      annotations: {{kafka-advertiser.io/mode: nodeport}}\n    \
             spec:\n      containers: [{{name: kafka, image: apache/kafka:4.1.1}}]\n"
        )
    };
    let start = std::time::Instant::now();
    let o = run(&["preview", "-"], Some(&sts(300_000)));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("spec.replicas is 300000, over the cap of 256 brokers") && err.contains("--max-brokers"),
        "{err}"
    );
    assert!(!err.contains("  "), "one space between words: {err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(5), "refused at once");
    let o = run(&["preview", "-", "--max-brokers", "300"], Some(&sts(300)));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("brokers 0..299 (300 replicas)"), "{}", stdout(&o));
}

/// `mutate` refuses a broker past the cap as the webhook does (it sees no StatefulSet: ordinals
/// count from 0), naming the cap and the flag; `--max-brokers` raises it.
#[test]
fn mutate_refuses_a_broker_past_the_cap() {
    let f = format!("{FIX}/kafka-4-nodeport.json");
    let o = run(&["mutate", &f, "--max-brokers", "4"], None);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("broker 4 is past the cap of 4") && msg.contains("--max-brokers"), "{msg}");
    let o = run(&["mutate", &f, "--max-brokers", "5"], None);
    assert!(o.status.success(), "{}", stdout(&o));
}

/// A typo is a warning with the nearest key, the opt-in label in the wrong place a hint, and
/// `--strict` fails on either (for CI); without `--strict` they are printed and the exit is 0.
#[test]
fn preview_reports_typos_and_a_misplaced_opt_in_and_strict_fails_on_them() {
    let sts = |labels: &str, meta_labels: &str, annotations: &str| {
        format!(
            r#"{{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{{"name":"orders","namespace":"shop","labels":{{{meta_labels}}}}},
              "spec":{{"replicas":1,"serviceName":"orders-hs","selector":{{"matchLabels":{{"a":"b"}}}},
              "template":{{"metadata":{{"labels":{{"a":"b"{labels}}},"annotations":{{{annotations}}}}},
                "spec":{{"containers":[{{"name":"kafka","image":"apache/kafka:4.1.1","env":[
                  {{"name":"KAFKA_PROCESS_ROLES","value":"broker,controller"}},{{"name":"KAFKA_LISTENERS","value":"EXTERNAL://:9094"}}]}}]}}}}}}}}"#
        )
    };
    let enabled = r#","kafka-advertiser.io/enabled":"true""#;
    let typo = sts(enabled, "", r#""kafka-advertiser.io/mode":"pod-ip","kafka-advertiser.io/portbase":"9200""#);
    for strict in [false, true] {
        let args: &[&str] = if strict { &["preview", "--strict", "-"] } else { &["preview", "-"] };
        let o = run(args, Some(&typo));
        let out = stdout(&o);
        assert!(out.contains("did you mean kafka-advertiser.io/port-base?"), "{out}");
        assert_eq!(o.status.success(), !strict, "{out}");
    }
    let clean =
        sts(enabled, "", r#""kafka-advertiser.io/mode":"pod-ip","kafka-advertiser.io/internal-listener":"none""#);
    let o = run(&["preview", "--strict", "-"], Some(&clean));
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let misplaced = sts("", r#""kafka-advertiser.io/enabled":"true""#, "");
    let o = run(&["preview", "-"], Some(&misplaced));
    assert!(o.status.success());
    assert!(stdout(&o).contains("hint: the label kafka-advertiser.io/enabled is on the StatefulSet's own metadata"));
    assert!(!run(&["preview", "--strict", "-"], Some(&misplaced)).status.success());
    let yes = sts(r#","kafka-advertiser.io/enabled":"yes""#, "", "");
    assert!(stdout(&run(&["preview", "-"], Some(&yes))).contains("is \"yes\"; only \"true\" opts the brokers in"));
}

/// `preview` says what a StatefulSet costs (the shipped example's bootstrap Service is a fourth load
/// balancer) and which Services of its input would be adopted and which conflict.
#[test]
fn preview_counts_the_cost_and_judges_the_services_of_its_input() {
    let o = run(&["preview"], None);
    let out = stdout(&o);
    assert!(out.contains("costs     4 load balancers (one is the bootstrap Service's"), "{out}");
    let input = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: kafka, namespace: streaming}
spec:
  replicas: 3
  serviceName: kafka-hs
  selector: {matchLabels: {app: kafka}}
  template:
    metadata:
      labels: {app: kafka, kafka-advertiser.io/enabled: "true"}
      annotations: {kafka-advertiser.io/mode: loadbalancer}
    spec:
      containers:
        - name: kafka
          image: apache/kafka:4.1.1
          env: [{name: KAFKA_PROCESS_ROLES, value: "broker,controller"}, {name: KAFKA_LISTENERS, value: "INTERNAL://:9092,EXTERNAL://:9094"}]
---
apiVersion: v1
kind: Service
metadata: {name: kafka-0-external, namespace: streaming, annotations: {kafka-advertiser.io/adopt: kafka}}
spec: {type: LoadBalancer, ports: [{port: 9094}]}
---
apiVersion: v1
kind: Service
metadata: {name: kafka-1-external, namespace: streaming, annotations: {kafka-advertiser.io/adopt: kafka}}
spec: {type: NodePort, ports: [{port: 9094}]}
---
apiVersion: v1
kind: Service
metadata: {name: kafka-2-external, namespace: streaming}
spec: {type: LoadBalancer, ports: [{port: 9094}]}
"#;
    let addresses = ["--address", "0=198.51.100.1", "--address", "1=198.51.100.2", "--address", "2=198.51.100.3"];
    let o = run(&[&["preview", "-"][..], &addresses].concat(), Some(input));
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("costs     3 load balancers, 3 node ports, 0 Gateway listeners, 0 routes, 0 Certificates"),
        "{out}"
    );
    assert!(out.contains("adopts    Service kafka-0-external of the input, keeping its address"), "{out}");
    assert!(out.contains("warning   AdoptionWouldChangeAddress: adopting Service kafka-1-external"), "{out}");
    assert!(out.contains("type NodePort would become LoadBalancer"), "{out}");
    assert!(out.contains("warning   ServiceConflict: Service kafka-2-external of the input"), "{out}");
    assert!(!run(&[&["preview", "--strict", "-"][..], &addresses].concat(), Some(input)).status.success());
}
