//! deploy/ rendered with `kubectl kustomize`, parsed into k8s-openapi types and cross-checked
//! against each other and against the code.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use clap::CommandFactory;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_json::Value;

use crate::support::rbac;

fn kustomize(dir: &str) -> Vec<Value> {
    let out = Command::new("kubectl")
        .args(["kustomize", dir])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| {
            panic!("kubectl is required for the deploy tests (`kubectl kustomize`), and could not be run: {e}")
        });
    assert!(out.status.success(), "kubectl kustomize {dir} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_saphyr::from_slice_multiple::<Value>(&out.stdout).unwrap().into_iter().filter(|v| !v.is_null()).collect()
}

struct Rendered(Vec<Value>);

impl Rendered {
    fn one<T: serde::de::DeserializeOwned>(&self, kind: &str) -> T {
        let all = self.all::<T>(kind);
        assert_eq!(all.len(), 1, "expected one {kind}");
        all.into_iter().next().unwrap()
    }
    /// The Deployment of one component (`webhook` or `controller`).
    fn deployment(&self, component: &str) -> Deployment {
        let all: Vec<Deployment> = self.all("Deployment");
        let mut it = all.into_iter().filter(|d| {
            d.spec.as_ref().unwrap().template.metadata.as_ref().unwrap().labels.as_ref().unwrap()
                ["app.kubernetes.io/component"]
                == component
        });
        let d = it.next().unwrap_or_else(|| panic!("no {component} Deployment"));
        assert!(it.next().is_none(), "two {component} Deployments");
        d
    }
    fn all<T: serde::de::DeserializeOwned>(&self, kind: &str) -> Vec<T> {
        self.0
            .iter()
            .filter(|v| v["kind"] == kind)
            .map(|v| serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{kind} does not parse: {e}")))
            .collect()
    }
}

fn base() -> Rendered {
    Rendered(kustomize("deploy"))
}

#[test]
fn every_object_parses_into_its_type() {
    let r = base();
    let kinds: BTreeSet<&str> = r.0.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    for k in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "MutatingWebhookConfiguration",
        "Certificate",
        "Issuer",
    ] {
        assert!(kinds.contains(k), "deploy/ has no {k}: {kinds:?}");
    }
    assert_eq!(r.all::<Deployment>("Deployment").len(), 2, "the webhook and the controller");
    let _: Service = r.one("Service");
    assert_eq!(r.all::<ServiceAccount>("ServiceAccount").len(), 2, "an identity each");
    assert_eq!(r.all::<PodDisruptionBudget>("PodDisruptionBudget").len(), 2);
    let _: Vec<ClusterRoleBinding> = r.all("ClusterRoleBinding");
    let _: Vec<ClusterRole> = r.all("ClusterRole");
    let _: RoleBinding = r.one("RoleBinding");
    let _: Role = r.one("Role");
    let _: MutatingWebhookConfiguration = r.one("MutatingWebhookConfiguration");
}

#[test]
fn webhook_service_certificate_and_deployment_agree() {
    install_agrees(&base());
}

/// The serving Certificate (the one that is not a CA).
fn serving_certificate(r: &Rendered) -> &Value {
    r.0.iter().find(|v| v["kind"] == "Certificate" && v["spec"]["isCA"] != true).expect("a serving Certificate")
}

/// Everything that must agree in one rendered install, whatever its namespace.
fn install_agrees(r: &Rendered) {
    let svc: Service = r.one("Service");
    let mwc: MutatingWebhookConfiguration = r.one("MutatingWebhookConfiguration");
    let dep = r.deployment("webhook");
    let cert = serving_certificate(r);
    let (svc_name, svc_ns) = (svc.metadata.name.clone().unwrap(), svc.metadata.namespace.clone().unwrap());

    // Certificate dnsNames are the Service's DNS names.
    let dns: Vec<&str> = cert["spec"]["dnsNames"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(dns, [format!("{svc_name}.{svc_ns}.svc"), format!("{svc_name}.{svc_ns}.svc.cluster.local")]);

    // inject-ca-from names the Certificate that exists.
    let inject = &mwc.metadata.annotations.as_ref().unwrap()["cert-manager.io/inject-ca-from"];
    assert_eq!(
        *inject,
        format!("{}/{}", cert["metadata"]["namespace"].as_str().unwrap(), cert["metadata"]["name"].as_str().unwrap())
    );

    let hooks = mwc.webhooks.as_ref().unwrap();
    assert_eq!(hooks.len(), 1);
    let h = &hooks[0];
    let cc = h.client_config.service.as_ref().unwrap();
    assert_eq!(
        (cc.name.as_str(), cc.namespace.as_str(), cc.path.as_deref()),
        (svc_name.as_str(), svc_ns.as_str(), Some("/mutate"))
    );
    // The Service port the webhook calls exists and targets the container's webhook port.
    let port = svc
        .spec
        .as_ref()
        .unwrap()
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| Some(p.port) == cc.port)
        .expect("clientConfig port on the Service");
    let container = &dep.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0];
    let target = match port.target_port.as_ref().unwrap() {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(n) => {
            container
                .ports
                .as_ref()
                .unwrap()
                .iter()
                .find(|p| p.name.as_deref() == Some(n.as_str()))
                .unwrap()
                .container_port
        }
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => *i,
    };
    let listen = container.args.as_ref().unwrap().iter().find_map(|a| a.strip_prefix("--listen=")).unwrap();
    assert!(listen.ends_with(&format!(":{target}")), "--listen {listen} vs Service targetPort {target}");
    // The Service selects the Deployment's pods.
    let pod_labels = dep.spec.as_ref().unwrap().template.metadata.as_ref().unwrap().labels.clone().unwrap();
    for (k, v) in svc.spec.as_ref().unwrap().selector.as_ref().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v), "Service selector {k}");
    }

    // Settings that must not drift.
    assert_eq!(h.failure_policy.as_deref(), Some("Fail"));
    assert_eq!(h.side_effects, "None");
    assert_eq!(h.timeout_seconds, Some(5));
    assert_eq!(h.reinvocation_policy.as_deref(), Some("IfNeeded"));
    assert_eq!(h.match_policy.as_deref(), Some("Equivalent"));
    assert_eq!(h.admission_review_versions, ["v1"]);
    let rule = &h.rules.as_ref().unwrap()[0];
    assert_eq!(rule.operations.as_deref(), Some(&["CREATE".to_owned()][..]));
    assert_eq!(rule.resources.as_deref(), Some(&["pods".to_owned()][..]));

    // objectSelector is the label the code checks.
    let sel = h.object_selector.as_ref().unwrap().match_labels.as_ref().unwrap();
    assert_eq!(sel, &BTreeMap::from([(kafka_advertiser::names::ENABLED_LABEL.to_owned(), "true".to_owned())]));
    // namespaceSelector excludes kube-system and our own namespace.
    let ns_sel = h.namespace_selector.as_ref().unwrap().match_expressions.as_ref().unwrap();
    let excluded: Vec<&str> = ns_sel
        .iter()
        .filter(|e| e.key == "kubernetes.io/metadata.name" && e.operator == "NotIn")
        .flat_map(|e| e.values.iter().flatten().map(String::as_str))
        .collect();
    assert!(excluded.contains(&"kube-system") && excluded.contains(&svc_ns.as_str()), "{excluded:?}");

    // The mounted Secret is the Certificate's, mounted as a directory at --tls-cert-dir.
    let pod = dep.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let secret_vol = pod.volumes.as_ref().unwrap().iter().find(|v| v.secret.is_some()).unwrap();
    assert_eq!(secret_vol.secret.as_ref().unwrap().secret_name.as_deref(), cert["spec"]["secretName"].as_str());
    let mount = container.volume_mounts.as_ref().unwrap().iter().find(|m| m.name == secret_vol.name).unwrap();
    assert!(mount.sub_path.is_none(), "a subPath mount never sees rotated certs");
    let dir = container.args.as_ref().unwrap().iter().find_map(|a| a.strip_prefix("--tls-cert-dir=")).unwrap();
    assert_eq!(dir, mount.mount_path);
}

/// The CA outlives the serving certificate, so renewing the serving certificate leaves the caBundle
/// cert-manager injects unchanged: self-signed Issuer → CA Certificate → CA Issuer → serving Certificate.
#[test]
fn the_serving_certificate_is_signed_by_a_long_lived_ca() {
    let r = base();
    let find = |kind: &str, name: &str| {
        r.0.iter()
            .find(|v| v["kind"] == kind && v["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name}"))
    };
    let serving = serving_certificate(&r);
    let ca_issuer = find("Issuer", serving["spec"]["issuerRef"]["name"].as_str().unwrap());
    let ca_secret = ca_issuer["spec"]["ca"]["secretName"].as_str().expect("the serving cert's issuer is a CA Issuer");
    let ca = r.0.iter().find(|v| v["kind"] == "Certificate" && v["spec"]["secretName"] == ca_secret).expect("CA cert");
    assert_eq!(ca["spec"]["isCA"], true);
    let root = find("Issuer", ca["spec"]["issuerRef"]["name"].as_str().unwrap());
    assert!(root["spec"]["selfSigned"].is_object());
    let hours = |c: &Value| c["spec"]["duration"].as_str().unwrap().trim_end_matches('h').parse::<u64>().unwrap();
    assert!(hours(ca) >= 10 * hours(serving), "the CA lives much longer than the serving certificate");
}

/// overlays/namespace as a user copies it: only `namespace:` changes, every namespaced string follows
/// (DNS names, inject-ca-from, the namespaceSelector, the webhook Service, RBAC subjects), and the
/// namespace itself is left to its owners.
#[test]
fn the_namespace_overlay_moves_everything() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(root.join("overlays/namespace/kustomization.yaml")).unwrap();
    for ns in ["platform-webhooks", "kafka-ops"] {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ns-overlay-{ns}"));
        std::fs::create_dir_all(&dir).unwrap();
        let text = template
            .replace("namespace: platform-webhooks", &format!("namespace: {ns}"))
            .replace("../../deploy", relative(&dir, &root.join("deploy")).to_str().unwrap());
        std::fs::write(dir.join("kustomization.yaml"), text).unwrap();
        let r = Rendered(kustomize(dir.to_str().unwrap()));
        // The namespace is the user's (maybe shared): no Namespace object to relabel or to delete with -k.
        assert!(!r.0.iter().any(|v| v["kind"] == "Namespace"), "{ns}: the overlay renders a Namespace");
        install_agrees(&r);
        let cert = serving_certificate(&r);
        assert_eq!(cert["spec"]["dnsNames"][0], format!("kafka-advertiser.{ns}.svc"));
        let mwc: MutatingWebhookConfiguration = r.one("MutatingWebhookConfiguration");
        assert_eq!(
            mwc.metadata.annotations.unwrap()["cert-manager.io/inject-ca-from"],
            format!("{ns}/kafka-advertiser-serving")
        );
        let text = serde_json::to_string(&r.0).unwrap();
        assert!(
            !text.contains("\"kafka-advertiser.kafka-advertiser")
                && !text.contains("\"namespace\":\"kafka-advertiser\""),
            "{ns}: a string still names the default namespace"
        );
        for crb in r.all::<ClusterRoleBinding>("ClusterRoleBinding") {
            assert_eq!(crb.subjects.unwrap()[0].namespace.as_deref(), Some(ns));
        }
        rbac::assert_webhook(&r.0, ns, "kafka-advertiser-webhook", &[]);
        rbac::assert_controller(&r.0, ns, "kafka-advertiser-controller", &[], &[]);
    }
}

#[test]
fn deployment_is_hardened_and_probed() {
    let r = base();
    for component in ["webhook", "controller"] {
        let dep = r.deployment(component);
        let spec = dep.spec.unwrap();
        assert_eq!(spec.replicas, Some(2), "{component}");
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.enable_service_links, Some(false), "{component}");
        assert!(pod.topology_spread_constraints.is_some() || pod.affinity.is_some());
        assert!(pod.termination_grace_period_seconds.unwrap() >= 25);
        let psc = pod.security_context.unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let c = &pod.containers[0];
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.as_ref().unwrap().drop.as_deref(), Some(&["ALL".to_owned()][..]));
        let res = c.resources.as_ref().unwrap();
        assert!(res.requests.is_some() && res.limits.is_some());
        let path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
            p.as_ref().unwrap().http_get.as_ref().unwrap().path.clone().unwrap()
        };
        assert_eq!(path(&c.liveness_probe), "/livez");
        assert_eq!(path(&c.readiness_probe), "/readyz");
        let admin_port = c.args.as_ref().unwrap().iter().find_map(|a| a.strip_prefix("--admin-listen=")).unwrap();
        let probe_port = &c.readiness_probe.as_ref().unwrap().http_get.as_ref().unwrap().port;
        let named = c.ports.as_ref().unwrap().iter().find(|p| matches!(probe_port, k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(n) if Some(n) == p.name.as_ref())).unwrap();
        assert!(admin_port.ends_with(&format!(":{}", named.container_port)));
    }
    // The controller listens on nothing but its admin port, and mounts no serving certificate.
    let ctrl = r.deployment("controller").spec.unwrap().template.spec.unwrap();
    let c = &ctrl.containers[0];
    assert_eq!(c.ports.as_ref().unwrap().iter().map(|p| p.name.as_deref()).collect::<Vec<_>>(), [Some("admin")]);
    assert!(c.args.iter().flatten().all(|a| !a.starts_with("--listen") && !a.starts_with("--tls-cert-dir")));
    assert!(ctrl.volumes.is_none());
    for pdb in r.all::<PodDisruptionBudget>("PodDisruptionBudget") {
        let spec = pdb.spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1)));
        assert!(spec.min_available.is_none(), "minAvailable 1 blocks every drain of a single replica");
    }
    // The namespace enforces the restricted Pod Security Standard, which the pods meet.
    let ns: k8s_openapi::api::core::v1::Namespace = r.one("Namespace");
    assert_eq!(ns.metadata.labels.unwrap()["pod-security.kubernetes.io/enforce"], "restricted");
}

/// An operator can switch the webhook off for one namespace without deleting the configuration.
#[test]
fn a_namespace_label_switches_the_webhook_off() {
    let mwc: MutatingWebhookConfiguration = base().one("MutatingWebhookConfiguration");
    let exprs = mwc.webhooks.unwrap()[0].namespace_selector.clone().unwrap().match_expressions.unwrap();
    assert!(exprs.iter().any(|e| e.key == "kafka-advertiser.io/webhook"
        && e.operator == "NotIn"
        && e.values.as_deref() == Some(&["disabled".to_owned()][..])));
}

#[test]
fn deployment_args_and_env_are_real_flags() {
    for component in ["webhook", "controller"] {
        let c = base().deployment(component).spec.unwrap().template.spec.unwrap().containers.remove(0);
        args_and_env_are_real_flags(&c);
    }
}

fn args_and_env_are_real_flags(c: &k8s_openapi::api::core::v1::Container) {
    let cli = kafka_advertiser::config::Cli::command();
    let serve = cli.get_subcommands().find(|s| s.get_name() == "serve").unwrap();
    let globals: Vec<&clap::Arg> = cli.get_arguments().collect();
    let args: Vec<&clap::Arg> = serve.get_arguments().chain(globals.iter().copied()).collect();
    let longs: BTreeSet<&str> = args.iter().filter_map(|a| a.get_long()).collect();
    let envs: BTreeSet<String> =
        args.iter().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()).collect();
    for a in c.args.iter().flatten() {
        let flag = a.strip_prefix("--").unwrap_or_else(|| panic!("arg {a} is not a flag")).split('=').next().unwrap();
        assert!(longs.contains(flag), "--{flag} is not a flag of `serve`");
    }
    for e in c.env.iter().flatten().filter(|e| e.name.starts_with("KAFKA_ADVERTISER_")) {
        assert!(envs.contains(&e.name), "{} is not read by any flag", e.name);
    }
    // Every flag of serve reads an env var.
    for a in serve.get_arguments().filter(|a| a.get_long().is_some() && a.get_id() != "help") {
        assert!(a.get_env().is_some(), "--{} has no env var", a.get_long().unwrap());
    }
}

/// Two identities: the webhook's reads only what its address view reads (no write verb at all); the
/// controller's holds what the code uses, cluster-wide reads only where a cluster-scoped read is
/// needed, the Lease in its own namespace, no Gateway patch by default; each Deployment runs its role
/// as its identity, and no Service reaches the controller.
#[test]
fn each_identity_holds_what_its_role_uses_and_nothing_more() {
    let r = base();
    rbac::assert_webhook(&r.0, "kafka-advertiser", "kafka-advertiser-webhook", &[]);
    rbac::assert_controller(&r.0, "kafka-advertiser", "kafka-advertiser-controller", &[], &[]);
    rbac::assert_deployments(&r.0, "kafka-advertiser-webhook", "kafka-advertiser-controller");
    // The checker itself fails on a write verb granted to the webhook.
    let mut tampered = r.0.clone();
    for o in tampered
        .iter_mut()
        .filter(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "kafka-advertiser-webhook")
    {
        o["rules"][0]["verbs"].as_array_mut().unwrap().push("patch".into());
    }
    let caught = std::panic::catch_unwind(|| {
        rbac::assert_webhook(&tampered, "kafka-advertiser", "kafka-advertiser-webhook", &[])
    });
    assert!(caught.is_err(), "a webhook allowed to patch Services passes the check");
}

#[test]
fn servicemonitor_component_renders() {
    // An overlay as a user writes it: the base plus the component (kustomize wants relative paths).
    let overlay = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("monitoring-overlay");
    std::fs::create_dir_all(&overlay).unwrap();
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let rel = relative(&overlay, &deploy);
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!("resources: [{0}]\ncomponents: [{0}/components/servicemonitor]\n", rel.display()),
    )
    .unwrap();
    let objs = kustomize(overlay.to_str().unwrap());
    let sm = objs.iter().find(|v| v["kind"] == "ServiceMonitor").expect("ServiceMonitor");
    let svc: Service = Rendered(objs.clone()).one("Service");
    let port = sm["spec"]["endpoints"][0]["port"].as_str().unwrap();
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(svc.metadata.labels.as_ref().unwrap().get(k).map(String::as_str), v.as_str(), "ServiceMonitor {k}");
    }
    assert!(svc.spec.unwrap().ports.unwrap().iter().any(|p| p.name.as_deref() == Some(port)));
    // The controller has no Service: a PodMonitor scrapes its admin port.
    let pm = objs.iter().find(|v| v["kind"] == "PodMonitor").expect("PodMonitor");
    let ctrl = Rendered(objs.clone()).deployment("controller").spec.unwrap().template;
    let labels = ctrl.metadata.unwrap().labels.unwrap();
    for (k, v) in pm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(labels.get(k).map(String::as_str), v.as_str(), "PodMonitor {k}");
    }
    let port = pm["spec"]["podMetricsEndpoints"][0]["port"].as_str().unwrap();
    assert!(ctrl.spec.unwrap().containers[0].ports.iter().flatten().any(|p| p.name.as_deref() == Some(port)));
}

fn preview(file: &str, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-advertiser"))
        .arg("preview")
        .arg(format!("{}/deploy/examples/{file}", env!("CARGO_MANIFEST_DIR")))
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "preview {file}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn examples_parse_and_preview() {
    for file in ["kafka-kraft.yaml", "kafka-zookeeper.yaml", "kafka-apache.yaml"] {
        let path = format!("{}/deploy/examples/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        for v in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            if v["kind"] == "StatefulSet" {
                let _: k8s_openapi::api::apps::v1::StatefulSet = serde_json::from_value(v).unwrap();
            }
        }
    }
    let kraft = preview(
        "kafka-kraft.yaml",
        &["--address", "0=203.0.113.10", "--address", "1=203.0.113.11", "--address", "2=lb-2.example.net"],
    );
    for (o, a) in [(0, "203.0.113.10"), (1, "203.0.113.11"), (2, "lb-2.example.net")] {
        assert!(
            kraft.contains(&format!(
                "KAFKA_CFG_ADVERTISED_LISTENERS=INTERNAL://kafka-{o}.kafka-headless.streaming.svc.cluster.local:9092,EXTERNAL://{a}:9094"
            )),
            "{kraft}"
        );
        assert!(
            kraft.contains(&format!("service   kafka-{o}-external type LoadBalancer port 9094 -> 9094")),
            "{kraft}"
        );
    }
    assert!(kraft.contains("bootstrap service kafka-bootstrap"));
    // Without addresses: each broker is shown waiting for its Service.
    let pending = preview("kafka-kraft.yaml", &[]);
    assert_eq!(pending.matches("(pending)").count(), 3, "{pending}");

    let zk = preview("kafka-zookeeper.yaml", &[]);
    for o in 0..3 {
        assert!(zk.contains(&format!("EXTERNAL://198.51.100.7:{}", 9092 + o)), "{zk}");
        assert!(
            zk.contains(&format!(
                "kafka-{o}-external type LoadBalancer port {} -> 9093, externalTrafficPolicy Cluster",
                9092 + o
            )),
            "{zk}"
        );
    }
    assert!(zk.contains("metallb.io/allow-shared-ip: kafka-external"));
    assert!(zk.contains("StatefulSet kafka-zookeeper/zookeeper: pod template lacks label"), "{zk}");

    let apache = preview("kafka-apache.yaml", &[]);
    for o in 0..3 {
        assert!(apache.contains(&format!(
            "KAFKA_ADVERTISED_LISTENERS=INTERNAL://kafka-{o}.kafka-headless.kafka-apache.svc.cluster.local:9092,EXTERNAL://kafka-{o}.kafka-apache.kafka.example.com:9094"
        )), "{apache}");
        assert!(apache
            .contains(&format!("external-dns.alpha.kubernetes.io/hostname: kafka-{o}.kafka-apache.kafka.example.com")));
    }
}

/// `to` relative to `from` (both absolute).
fn relative(from: &std::path::Path, to: &std::path::Path) -> std::path::PathBuf {
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut p = std::path::PathBuf::new();
    for _ in common..f.len() {
        p.push("..");
    }
    for c in &t[common..] {
        p.push(c);
    }
    p
}

#[test]
fn dockerfile_and_context_agree_with_the_build() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    // The same layout as scripts/image.sh (tests/image.rs checks that one): both platforms, the
    // binary at /usr/local/bin, image/etc, user 65532, the same entrypoint.
    assert!(dockerfile.contains("x86_64-unknown-linux-musl") && dockerfile.contains("aarch64-unknown-linux-musl"));
    assert!(dockerfile.contains(r#"ENTRYPOINT ["/usr/local/bin/kafka-advertiser", "serve"]"#));
    assert!(dockerfile.contains("/out/usr/local/bin/") && dockerfile.contains("cp -r image/etc /out/etc"));
    assert!(dockerfile.lines().any(|l| l == "USER 65532:65532"));
    assert!(dockerfile.contains("FROM scratch"), "no shell in the image");
    let script = std::fs::read_to_string(root.join("scripts/oci_image.py")).unwrap();
    for same in [
        r#""User": "65532:65532""#,
        r#""/usr/local/bin/kafka-advertiser", "serve""#,
        r#""usr/local/bin/kafka-advertiser""#,
        r#""image", "etc""#,
    ] {
        assert!(script.contains(same), "scripts/oci_image.py lacks {same}");
    }
    // Everything the release build reads must be in the build context (the preview default is
    // compiled in from deploy/examples).
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    for needed in ["src", "Cargo.toml", "Cargo.lock", "deploy", "deploy/examples", "image", "scripts"] {
        assert!(!ignore.lines().any(|l| l.trim() == needed), ".dockerignore excludes {needed}");
    }
    assert!(kafka_advertiser::offline::EMBEDDED_EXAMPLE.contains("kind: StatefulSet"));
}

/// deploy/ plus one component, as a user's overlay includes it.
fn with_component(name: &str) -> Rendered {
    let overlay = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("component-{name}"));
    std::fs::create_dir_all(&overlay).unwrap();
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let rel = relative(&overlay, &deploy);
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!("resources: [{0}]\ncomponents: [{0}/components/{name}]\n", rel.display()),
    )
    .unwrap();
    Rendered(kustomize(overlay.to_str().unwrap()))
}

/// N9: the admission-policy component fences the controller's identity.
#[test]
fn the_admission_policy_component_names_the_controller_and_its_objects() {
    // The controller's identity fenced: the policy names the controller's own ServiceAccount, its
    // webhook configuration and the two Secrets, and a binding denies what it refuses.
    let r = with_component("admission-policy");
    let policy: Value = r.one("ValidatingAdmissionPolicy");
    let binding: Value = r.one("ValidatingAdmissionPolicyBinding");
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    assert_eq!(binding["spec"]["validationActions"], serde_json::json!(["Deny"]));
    let sa: k8s_openapi::api::core::v1::ServiceAccount = r
        .all::<k8s_openapi::api::core::v1::ServiceAccount>("ServiceAccount")
        .into_iter()
        .find(|s| s.metadata.name.as_deref() == Some("kafka-advertiser-controller"))
        .unwrap();
    let who = format!("system:serviceaccount:{}:kafka-advertiser-controller", sa.metadata.namespace.unwrap());
    assert!(policy["spec"]["matchConditions"][0]["expression"].as_str().unwrap().contains(&who), "{policy}");
    let rules: Vec<&str> =
        policy["spec"]["validations"].as_array().unwrap().iter().map(|v| v["expression"].as_str().unwrap()).collect();
    let rules = rules.join("\n");
    for name in [r#"request.name == "kafka-advertiser""#, r#""kafka-advertiser-tls""#, r#""kafka-advertiser-self-ca""#]
    {
        assert!(rules.contains(name), "{name}: {rules}");
    }
}

/// The optional components change what they say and nothing else breaks: fail-open, GKE's port 10250,
/// EKS's host network, a NetworkPolicy for the named ports, and the alerts (the chart's rules).
#[test]
fn optional_components_render() {
    let mwc: MutatingWebhookConfiguration = with_component("fail-open").one("MutatingWebhookConfiguration");
    assert_eq!(mwc.webhooks.unwrap()[0].failure_policy.as_deref(), Some("Ignore"));

    let r = with_component("gke-private");
    install_agrees(&r);
    let dep = r.deployment("webhook");
    let c = &dep.spec.unwrap().template.spec.unwrap().containers[0];
    assert!(c.args.as_ref().unwrap().contains(&"--listen=0.0.0.0:10250".to_owned()));
    assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 10250);

    // EKS: the webhook on the node's network, and the namespace's Pod Security level lets it run
    // (hostNetwork is outside baseline and restricted); the controller stays on the pod network.
    let r = with_component("eks-hostnetwork");
    let pod = r.deployment("webhook").spec.unwrap().template.spec.unwrap();
    assert_eq!((pod.host_network, pod.dns_policy.as_deref()), (Some(true), Some("ClusterFirstWithHostNet")));
    assert_eq!(r.deployment("controller").spec.unwrap().template.spec.unwrap().host_network, None);
    let ns: k8s_openapi::api::core::v1::Namespace = r.one("Namespace");
    let labels = ns.metadata.labels.unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "privileged", "hostNetwork pods are refused otherwise");
    assert_eq!(labels["pod-security.kubernetes.io/warn"], "restricted");

    // NetworkPolicy: one per component, each selecting its pods and naming ports they declare; the
    // webhook port from anywhere, the admin port only from labelled namespaces.
    let r = with_component("networkpolicy");
    let nps: Vec<&Value> = r.0.iter().filter(|v| v["kind"] == "NetworkPolicy").collect();
    assert_eq!(nps.len(), 2);
    for np in nps {
        let component = np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"].as_str().unwrap();
        let template = r.deployment(component).spec.unwrap().template;
        let c = &template.spec.as_ref().unwrap().containers[0];
        for rule in np["spec"]["ingress"].as_array().unwrap() {
            let port = rule["ports"][0]["port"].as_str().unwrap();
            assert!(c.ports.as_ref().unwrap().iter().any(|p| p.name.as_deref() == Some(port)), "{port}");
            match port {
                "webhook" => assert!(rule.get("from").is_none(), "the API server's source cannot be named"),
                _ => assert!(
                    rule["from"][0]["namespaceSelector"]["matchLabels"]["kafka-advertiser.io/scrape"] == "allowed",
                    "{component}: the {port} port open beyond labelled namespaces: {rule}"
                ),
            }
        }
        let pod_labels = template.metadata.unwrap().labels.unwrap();
        for (k, v) in np["spec"]["podSelector"]["matchLabels"].as_object().unwrap() {
            assert_eq!(pod_labels.get(k).map(String::as_str), v.as_str(), "{component}: {k}");
        }
    }

    let rule = with_component("prometheusrule");
    let pr = rule.0.iter().find(|v| v["kind"] == "PrometheusRule").expect("PrometheusRule");
    let chart = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/kafka-advertiser/templates/monitoring.yaml"),
    )
    .unwrap()
    .replace(r#"{{ include "kafka-advertiser.fullname" . }}"#, "kafka-advertiser");
    let runbook =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/troubleshooting.md"))
            .unwrap()
            .to_ascii_lowercase();
    let rules = pr["spec"]["groups"][0]["rules"].as_array().unwrap();
    let exported = exported_series();
    for r in rules {
        let (alert, expr) = (r["alert"].as_str().unwrap(), r["expr"].as_str().unwrap());
        for m in metric_names(expr) {
            assert!(exported.contains(&m), "{alert}: {m} is not a series kafka-advertiser exports ({exported:?})");
        }
        assert!(chart.contains(alert) && chart.contains(expr), "the chart's rules differ at {alert}");
        // Every alert links a runbook section that exists.
        let url = r["annotations"]["runbook_url"].as_str().unwrap_or_else(|| panic!("{alert}: no runbook_url"));
        let anchor = url.split_once("docs/troubleshooting.md#").map(|(_, a)| a).expect(url);
        assert!(chart.contains(url), "the chart's runbook for {alert} differs");
        assert!(runbook.contains(&format!("## {anchor}")), "docs/troubleshooting.md has no section {anchor}");
    }
    // The alert that matters most while failurePolicy is Fail.
    let down = rules.iter().find(|r| r["alert"] == "KafkaAdvertiserWebhookDown").expect("the webhook-down alert");
    assert_eq!(down["labels"]["severity"], "critical");
}

/// Every image the project ships or documents comes from a repository that exists and is kept: the
/// examples, deploy/ and the chart. (Bitnami's free tags live under bitnamilegacy/ since 2025.)
#[test]
fn every_image_reference_is_from_a_known_repository() {
    const KNOWN: [&str; 5] = [
        "apache/kafka",
        "bitnamilegacy/kafka",
        "bitnamilegacy/zookeeper",
        "confluentinc/cp-kafka",
        "ghcr.io/kafka-advertiser/kafka-advertiser",
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut refs = Vec::new();
    for entry in std::fs::read_dir(root.join("deploy/examples")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        refs.extend(text.lines().filter_map(|l| l.trim().strip_prefix("image:")).map(|s| s.trim().to_owned()));
    }
    for dep in base().all::<Deployment>("Deployment") {
        refs.push(dep.spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap());
    }
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root.join("charts/kafka-advertiser/values.yaml")).unwrap())
            .unwrap();
    refs.push(format!("{}:x", values["image"]["repository"].as_str().unwrap()));
    assert!(refs.len() >= 5, "{refs:?}");
    for r in refs {
        let repo = r.rsplit_once(':').map_or(r.as_str(), |(repo, _)| repo);
        assert!(KNOWN.contains(&repo), "image {r} is not from a known repository");
    }
}

/// docs/security.md: the RBAC table says what `deploy/` grants, row for row, both ways.
#[test]
fn the_security_docs_rbac_table_is_what_deploy_grants() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/security.md")).unwrap();
    let table = readme.split("<!-- rbac-table").nth(1).and_then(|t| t.split("<!-- /rbac-table -->").next()).unwrap();
    let split = |s: &str| -> Vec<String> { s.split(',').map(|x| x.trim().to_owned()).collect() };
    let mut documented = BTreeSet::new();
    for row in table.lines().map(str::trim).filter(|l| l.starts_with('|') && !l.starts_with("|---")).skip(1) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let (who, group, resources, verbs, scope) = (cells[0], cells[1], cells[2], cells[3], cells[4]);
        let group = if group == "core" { "" } else { group };
        for r in split(resources) {
            for v in split(verbs) {
                documented.insert((who.to_owned(), group.to_owned(), r.clone(), v, scope.to_owned()));
            }
        }
    }
    let r = base();
    let mut granted = BTreeSet::new();
    for who in ["webhook", "controller"] {
        for g in rbac::rights(&r.0, "kafka-advertiser", &format!("kafka-advertiser-{who}")) {
            let read_only = !rbac::WRITE_VERBS.contains(&g.verb.as_str())
                && kafka_advertiser::controller::CLUSTER_RBAC
                    .iter()
                    .any(|(cg, cr, _)| *cg == g.group && *cr == g.resource);
            let scope = match g.scope.as_deref() {
                None if g.resource == "externalaccessclasses/status" => "cluster, class status",
                None if read_only => "cluster, read-only",
                None => "watched namespaces",
                Some("kafka-advertiser") => "install namespace",
                Some(other) => panic!("deploy/ grants in namespace {other}"),
            };
            granted.insert((who.to_owned(), g.group, g.resource, g.verb, scope.to_owned()));
        }
    }
    assert_eq!(documented, granted, "docs/security.md's RBAC table and deploy/ differ");
}

/// The ExternalAccessClass CRD: its CEL list of setting keys is the code's vocabulary, it is
/// cluster-scoped with the short name `eac`, and `tenancy-classes` switches both roles to classes.
#[test]
fn the_access_class_crd_and_the_tenancy_component() {
    let r = base();
    let crd =
        r.0.iter()
            .find(|v| {
                v["kind"] == "CustomResourceDefinition"
                    && v["metadata"]["name"] == "externalaccessclasses.kafka-advertiser.io"
            })
            .expect("the ExternalAccessClass CRD in deploy/");
    assert_eq!(crd["spec"]["scope"], "Cluster");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "eac");
    let v = &crd["spec"]["versions"][0];
    assert_eq!(v["name"], kafka_advertiser::spec::class::VERSION);
    let props = &v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    for field in ["settings", "tenantSettings"] {
        let rule = props[field]["x-kubernetes-validations"][0]["rule"].as_str().unwrap();
        let keys: BTreeSet<&str> = rule.split('\'').skip(1).step_by(2).collect();
        let code: BTreeSet<&str> = kafka_advertiser::spec::class::SETTINGS.into_iter().collect();
        assert_eq!(keys, code, "{field}: the CRD's vocabulary and src/spec/class.rs differ");
    }
    for d in ["webhook", "controller"] {
        let env = |r: &Rendered| {
            r.deployment(d).spec.unwrap().template.spec.unwrap().containers[0]
                .env
                .iter()
                .flatten()
                .find(|e| e.name == "KAFKA_ADVERTISER_TENANCY")
                .and_then(|e| e.value.clone())
        };
        assert_eq!(env(&r).as_deref(), Some("open"), "{d}: open by default");
        assert_eq!(env(&with_component("tenancy-classes")).as_deref(), Some("classes"), "{d}");
    }
}

/// The example classes: one per mode family, each a valid class whose settings parse.
#[test]
fn the_example_access_classes_parse() {
    let path = format!("{}/deploy/examples/access-classes.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let mut modes = BTreeSet::new();
    for v in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
        assert_eq!(v["kind"], "ExternalAccessClass");
        let class = kafka_advertiser::spec::class::Class::from_value(&v).unwrap();
        // Examples lean closed (N3, N11): a namespace selector, and each namespace's own subtree.
        assert!(class.spec.namespace_selector.is_some(), "{}: no namespaceSelector", class.name);
        for suffix in class.spec.hostname_suffixes.iter().flatten() {
            assert!(suffix.contains("{namespace}"), "{}: {suffix} is shared by every tenant", class.name);
        }
        for k in class.spec.settings.keys().chain(&class.spec.tenant_settings) {
            assert!(kafka_advertiser::spec::class::SETTINGS.contains(&k.as_str()), "{}: {k}", class.name);
        }
        let ann: BTreeMap<String, String> =
            class.spec.settings.iter().map(|(k, v)| (format!("kafka-advertiser.io/{k}"), v.clone())).collect();
        let s = kafka_advertiser::spec::settings::Settings::from_annotations(&ann, &Default::default())
            .unwrap_or_else(|e| panic!("{}: {e}", class.name));
        modes.insert(format!("{:?}", s.mode));
    }
    assert_eq!(modes.len(), 5, "{modes:?}");
}

/// The chart's README documents every value of values.yaml (maps users fill in themselves count as
/// one value), and names no value that does not exist.
#[test]
fn the_chart_readme_lists_every_value() {
    const FREE_FORM: [&str; 11] = [
        "resources",
        "nodeSelector",
        "podAnnotations",
        "commonLabels",
        "podSecurityContext",
        "securityContext",
        "affinity",
        "issuerRef",
        "labels",
        "adminNamespaceSelector",
        "global",
    ];
    fn walk(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        for (k, val) in v.as_object().into_iter().flatten() {
            let path = format!("{prefix}{k}");
            match val.as_object() {
                Some(m) if !m.is_empty() && !FREE_FORM.contains(&k.as_str()) => walk(val, &format!("{path}."), out),
                _ => {
                    out.insert(path);
                }
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/kafka-advertiser");
    let values: Value = serde_saphyr::from_str(&std::fs::read_to_string(root.join("values.yaml")).unwrap()).unwrap();
    let mut paths = BTreeSet::new();
    walk(&values, "", &mut paths);
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let documented: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(p, _)| p.to_owned())
        .collect();
    let missing: Vec<&String> = paths.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&paths).collect();
    assert!(missing.is_empty(), "values.yaml values the chart README does not document: {missing:?}");
    assert!(unknown.is_empty(), "the chart README documents values that do not exist: {unknown:?}");
}

/// The series names `/metrics` can carry (counters as `_total`, histograms as `_bucket`, `_sum`, `_count`).
fn exported_series() -> BTreeSet<String> {
    use kafka_advertiser::metrics::{BrokerCounts, ErrorLabels, Metrics};
    let m = Metrics::new();
    // Families print only once they hold a series.
    m.statefulsets.set("ns", "kafka", BrokerCounts::default());
    m.cert_reloaded(true, None);
    m.reconcile_errors.get_or_create(&ErrorLabels { kind: "api" }).inc();
    let text = m.encode();
    let mut out = BTreeSet::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = line.split(' ');
        let (name, kind) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        out.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    out
}

/// The `kafka_advertiser_*` series a PromQL expression reads.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("kafka_advertiser_") {
        let tail = &rest[i..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

/// The chart's Grafana dashboard: valid JSON in Grafana's model, panels on the 24-column grid without
/// overlap, every query reading only series kafka-advertiser exports, per-StatefulSet panels filtered by
/// the namespace variable, and every panel described in docs/operate.md.
#[test]
fn the_grafana_dashboard_reads_only_exported_series_and_is_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("charts/kafka-advertiser/dashboards/kafka-advertiser.json")).unwrap();
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dash["uid"], "kafka-advertiser");
    assert!(dash["schemaVersion"].as_u64().unwrap() >= 36, "a current Grafana schema");
    let vars: Vec<&str> =
        dash["templating"]["list"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(vars, ["datasource", "namespace"]);
    let docs = std::fs::read_to_string(root.join("docs/operate.md")).unwrap();
    let exported = exported_series();
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{} panels", panels.len());
    let mut cells = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().unwrap();
        assert!(ids.insert(p["id"].as_u64().unwrap()), "{title}: duplicate id");
        assert!(["timeseries", "stat", "table"].contains(&p["type"].as_str().unwrap()), "{title}: {}", p["type"]);
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}: not on the datasource variable");
        assert!(docs.contains(&format!("**{title}**")), "docs/operate.md does not describe the panel {title:?}");
        let g = &p["gridPos"];
        let (x, y, w, h) =
            (g["x"].as_u64().unwrap(), g["y"].as_u64().unwrap(), g["w"].as_u64().unwrap(), g["h"].as_u64().unwrap());
        assert!(x + w <= 24 && w > 0 && h > 0, "{title}: off the grid {g}");
        for cell in (x..x + w).flat_map(|c| (y..y + h).map(move |r| (c, r))) {
            assert!(cells.insert(cell), "{title} overlaps another panel at {cell:?}");
        }
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{title}: {expr} reads no kafka-advertiser series");
            for m in names {
                assert!(exported.contains(&m), "{title}: {m} is not exported ({exported:?})");
                if m.starts_with("kafka_advertiser_statefulset_") {
                    assert!(expr.contains(r#"namespace=~"$namespace""#), "{title}: not filtered by $namespace");
                }
            }
        }
    }
}
