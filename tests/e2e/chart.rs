//! The Helm chart, checked with the real helm of the test environment: `helm lint`, and `helm
//! template` compared object by object with the kustomize render of deploy/ (kinds, names, ports,
//! webhook rules, RBAC). `helm install` into the control plane is `scripts/testenv.sh deploy` with
//! KAFKA_ADVERTISER_TESTENV_INSTALL=helm, and the rest of this suite then runs against it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::*;

use crate::support::rbac;

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/kafka-advertiser")
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml).unwrap().into_iter().filter(|v: &Value| !v.is_null()).collect()
}

fn template(namespace: &str, set: &[&str]) -> Vec<Value> {
    let c = chart();
    let mut args = vec!["template", "kafka-advertiser", c.to_str().unwrap(), "-n", namespace];
    for s in set {
        args.extend(["--set", s]);
    }
    let (ok, out) = helm(&args);
    assert!(ok, "helm template {set:?}: {out}");
    docs(&out)
}

fn kustomized() -> Vec<Value> {
    docs(&testenv().kubectl(&["kustomize", Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").to_str().unwrap()]))
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|v| v["kind"] == kind && v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn key(v: &Value) -> (String, String) {
    (v["kind"].as_str().unwrap().to_owned(), v["metadata"]["name"].as_str().unwrap().to_owned())
}

#[test]
fn helm_lint_passes() {
    let c = chart();
    let (ok, out) = helm(&["lint", "--strict", c.to_str().unwrap()]);
    assert!(ok && out.contains("0 chart(s) failed"), "{out}");
}

/// The chart and deploy/ install the same thing: same objects (the Namespace is Helm's
/// `--create-namespace`), the same Service ports, webhook rules and selectors, the same RBAC, and
/// the same container ports, probes and flags.
fn is_test_hook(v: &Value) -> bool {
    v["metadata"]["annotations"]["helm.sh/hook"] == "test"
}

/// `helm test` runs `kafka-advertiser check` with rights to read what it checks, by name (never the
/// serving Secret: the certificate comes from a TLS handshake), and to create (dry-run) pods in the
/// one namespace it is given; its rights are deleted whatever the outcome.
#[test]
fn helm_test_hook_reads_only_by_name() {
    let objs: Vec<Value> =
        template("ops", &["test.dryRunNamespace=kafka-probe"]).into_iter().filter(is_test_hook).collect();
    let kinds: BTreeSet<(String, String)> = objs.iter().map(key).collect();
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    for v in &objs {
        let policy = v["metadata"]["annotations"]["helm.sh/hook-delete-policy"].as_str().unwrap_or("");
        assert!(policy.contains("hook-succeeded"), "{:?}", key(v));
        // The rights go even when the check fails; the pod stays for its log.
        assert_eq!(policy.contains("hook-failed"), v["kind"] != "Pod", "{:?}: {policy}", key(v));
        for rule in v["rules"].as_array().into_iter().flatten() {
            let create_pods = rule["resources"] == json!(["pods"]) && rule["verbs"] == json!(["create"]);
            // The webhook's pods, for a TLS handshake with one (in the release namespace only).
            let list_pods = rule["resources"] == json!(["pods"])
                && rule["verbs"] == json!(["list"])
                && v["metadata"]["namespace"] == "ops";
            assert!(
                rule["resourceNames"].is_array() || create_pods || list_pods,
                "{:?}: a rule without resourceNames: {rule}",
                key(v)
            );
            assert!(!rule["resources"].as_array().unwrap().iter().any(|r| r == "secrets"), "{rule}");
            assert!(!rule["verbs"].as_array().unwrap().iter().any(|x| x == "delete"), "{rule}");
        }
    }
    let pod_roles: Vec<&Value> = objs
        .iter()
        .filter(|v| {
            let creates = |r: &Value| r["resources"] == json!(["pods"]) && r["verbs"] == json!(["create"]);
            v["kind"] == "Role" && v["rules"].as_array().unwrap().iter().any(creates)
        })
        .collect();
    assert_eq!(pod_roles.len(), 1);
    assert_eq!(pod_roles[0]["metadata"]["namespace"], "kafka-probe");
    let pod = objs.iter().find(|v| v["kind"] == "Pod").unwrap();
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    let cmd: Vec<&str> =
        pod["spec"]["containers"][0]["command"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    assert_eq!(&cmd[..2], ["/usr/local/bin/kafka-advertiser", "check"]);
    for want in
        ["--install-namespace=ops", "--dry-run-namespace=kafka-probe", "--webhook-configuration=kafka-advertiser"]
    {
        assert!(cmd.contains(&want), "{cmd:?}");
    }
    // By default: a namespace of its own (Pod Security restricted), never `default`.
    let own: Vec<Value> = template("ops", &[]).into_iter().filter(is_test_hook).collect();
    let ns = find(&own, "Namespace", "kafka-advertiser-check");
    assert_eq!(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
    let roles = own.iter().filter(|v| v["kind"] == "Role" && v["metadata"]["namespace"] == "kafka-advertiser-check");
    assert_eq!(roles.count(), 1);
    assert!(template("ops", &["test.enabled=false"]).iter().all(|v| !is_test_hook(v)));
    // test.postInstall: the same objects also run after every install and upgrade.
    let hooks = |set: &[&str]| -> Vec<(String, String)> {
        let objs = template("ops", set);
        let with_hook = objs.iter().filter(|v| v["metadata"]["annotations"]["helm.sh/hook"].is_string());
        with_hook
            .map(|v| (key(v).1, v["metadata"]["annotations"]["helm.sh/hook"].as_str().unwrap().to_owned()))
            .collect()
    };
    let (before, after) = (hooks(&[]), hooks(&["test.postInstall=true"]));
    assert_eq!(after.len(), before.len(), "{after:?}");
    assert!(before.iter().all(|(_, h)| h == "test"), "{before:?}");
    assert!(after.iter().all(|(_, h)| h == "test,post-install,post-upgrade"), "{after:?}");
}

#[test]
fn helm_template_matches_the_kustomize_render() {
    // The `helm test` hook has no kustomize counterpart (helm_test_hook_reads_only_by_name).
    let helm: Vec<Value> = template("kafka-advertiser", &[]).into_iter().filter(|v| !is_test_hook(v)).collect();
    let kust = kustomized();
    let names = |objs: &[Value]| -> BTreeSet<(String, String)> { objs.iter().map(key).collect() };
    let mut want = names(&kust);
    want.remove(&("Namespace".to_owned(), "kafka-advertiser".to_owned()));
    assert_eq!(names(&helm), want);
    for v in &helm {
        if v["metadata"].get("namespace").is_some() {
            assert_eq!(v["metadata"]["namespace"], "kafka-advertiser", "{:?}", key(v));
        }
    }
    let same = |kind: &str, name: &str, path: &str| {
        let (h, k) = (find(&helm, kind, name).pointer(path), find(&kust, kind, name).pointer(path));
        assert_eq!(h, k, "{kind} {name} {path}");
    };
    same("Service", "kafka-advertiser", "/spec/ports");
    same("Service", "kafka-advertiser", "/spec/selector");
    same("CustomResourceDefinition", "externalaccessclasses.kafka-advertiser.io", "/spec");
    for who in ["webhook", "webhook-cluster", "controller", "controller-cluster"] {
        same("ClusterRole", &format!("kafka-advertiser-{who}"), "/rules");
        same("ClusterRoleBinding", &format!("kafka-advertiser-{who}"), "/subjects");
    }
    same("Role", "kafka-advertiser-leader-election", "/rules");
    same("RoleBinding", "kafka-advertiser-leader-election", "/subjects");
    for who in ["webhook", "controller"] {
        let dep = format!("kafka-advertiser-{who}");
        same("PodDisruptionBudget", &dep, "/spec");
        same("Deployment", &dep, "/spec/selector");
        same("Deployment", &dep, "/spec/strategy");
        same("Deployment", &dep, "/spec/template/spec/serviceAccountName");
        for p in ["ports", "livenessProbe", "readinessProbe", "securityContext", "volumeMounts", "env", "resources"] {
            same("Deployment", &dep, &format!("/spec/template/spec/containers/0/{p}"));
        }
        // Every flag deploy/ passes is passed by the chart with the same value.
        let args = |objs: &[Value]| -> BTreeMap<String, String> {
            find(objs, "Deployment", &dep)["spec"]["template"]["spec"]["containers"][0]["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    let (k, v) = a.as_str().unwrap().split_once('=').unwrap();
                    (k.to_owned(), v.to_owned())
                })
                .collect()
        };
        let (h, k) = (args(&helm), args(&kust));
        for (flag, value) in &k {
            assert_eq!(h.get(flag), Some(value), "{dep}: {flag}");
        }
    }
    same("Certificate", "kafka-advertiser-serving", "/spec");
    same("Certificate", "kafka-advertiser-ca", "/spec");
    same("Issuer", "kafka-advertiser-ca", "/spec");
    same("MutatingWebhookConfiguration", "kafka-advertiser", "/metadata/annotations");
    same("MutatingWebhookConfiguration", "kafka-advertiser", "/webhooks");
    rbac::assert_webhook(&helm, "kafka-advertiser", "kafka-advertiser-webhook", &[]);
    rbac::assert_controller(&helm, "kafka-advertiser", "kafka-advertiser-controller", &[], &[]);
    rbac::assert_deployments(&helm, "kafka-advertiser-webhook", "kafka-advertiser-controller");
}

/// A namespaced install (`controller.namespaces`): both identities' namespaced rights are Roles in
/// the watched namespaces only, nothing is writable cluster-wide, and Gateway patches exist only for
/// the Gateways the platform lists, by name.
#[test]
fn helm_namespaced_install_grants_roles_per_namespace() {
    let objs = template(
        "platform",
        &["controller.namespaces={streaming,payments}", "controller.gateways={infra/shared,edge/public}"],
    );
    rbac::assert_webhook(&objs, "platform", "kafka-advertiser-webhook", &["streaming", "payments"]);
    rbac::assert_controller(
        &objs,
        "platform",
        "kafka-advertiser-controller",
        &["streaming", "payments"],
        &["infra/shared", "edge/public"],
    );
    rbac::assert_deployments(&objs, "kafka-advertiser-webhook", "kafka-advertiser-controller");
    for who in ["webhook", "controller"] {
        let args = find(&objs, "Deployment", &format!("kafka-advertiser-{who}"))["spec"]["template"]["spec"]
            ["containers"][0]["args"]
            .clone();
        assert!(args.as_array().unwrap().contains(&Value::from("--namespace=payments")), "{who}: {args}");
    }
    // A Gateway not written namespace/name is refused at render time (by the values schema).
    let c = chart();
    let (ok, out) = helm(&["template", "x", c.to_str().unwrap(), "--set", "controller.gateways={shared}"]);
    assert!(!ok && out.contains("/controller/gateways/0"), "{out}");
}

/// `values.schema.json`: a misspelt or invalid value fails the render, naming it (instead of pods
/// that crash-loop); NOTES say what to do next.
#[test]
fn helm_refuses_a_typo_in_values_and_notes_the_next_step() {
    let c = chart();
    for (set, says) in [
        ("controller.namspaces={a}", "namspaces"),
        ("tenancy=closed", "tenancy"),
        ("webhook.failurePolicy=fail", "failurePolicy"),
        ("controller.gateways={shared}", "gateways"),
        ("replica=3", "replica"),
    ] {
        let (ok, out) = helm(&["template", "x", c.to_str().unwrap(), "--set", set]);
        assert!(!ok && out.contains(says), "{set}: {out}");
    }
    let (ok, out) =
        helm(&["install", "x", c.to_str().unwrap(), "--dry-run=client", "-n", "ops", "--set", "tenancy=classes"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("rollout status deploy/x-kafka-advertiser-webhook deploy/x-kafka-advertiser-controller"),
        "{out}"
    );
    assert!(out.contains("Tenancy is \"classes\""), "{out}");
}

/// What operators change: namespace (everything follows), a narrowed controller (the webhook's
/// selector in step), port 10250 on the host network, priority class, tolerations, metrics objects,
/// an existing issuer, and the out-of-cluster values the test install uses.
#[test]
fn helm_values_operators_change() {
    let objs = template(
        "platform",
        &[
            "controller.namespaces={streaming,payments}",
            "webhook.port=10250",
            "hostNetwork=true",
            "priorityClassName=system-cluster-critical",
            "tolerations[0].key=dedicated",
            "tolerations[0].operator=Exists",
            "metrics.serviceMonitor.enabled=true",
            "metrics.prometheusRule.enabled=true",
            "tls.certManager.issuerRef.kind=ClusterIssuer",
            "tls.certManager.issuerRef.name=corp-ca",
            "webhook.failurePolicy=Ignore",
        ],
    );
    let cert = find(&objs, "Certificate", "kafka-advertiser-serving");
    assert_eq!(cert["spec"]["dnsNames"][0], "kafka-advertiser.platform.svc");
    assert_eq!(cert["spec"]["issuerRef"]["name"], "corp-ca");
    assert!(!objs.iter().any(|v| v["kind"] == "Issuer"), "an existing issuer replaces the chart's CA chain");
    let mwc = find(&objs, "MutatingWebhookConfiguration", "kafka-advertiser");
    assert_eq!(mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"], "platform/kafka-advertiser-serving");
    let hook = &mwc["webhooks"][0];
    assert_eq!(hook["failurePolicy"], "Ignore");
    let exprs = hook["namespaceSelector"]["matchExpressions"].as_array().unwrap();
    assert!(exprs[0]["values"].as_array().unwrap().contains(&Value::from("platform")));
    assert!(exprs.iter().any(|e| e["operator"] == "In" && e["values"] == serde_json::json!(["streaming", "payments"])));
    let pod = &find(&objs, "Deployment", "kafka-advertiser-webhook")["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    let c = &pod["containers"][0];
    assert_eq!(c["ports"][0]["containerPort"], 10250);
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(args.contains(&"--listen=0.0.0.0:10250"), "{args:?}");
    assert!(args.contains(&"--namespace=streaming") && args.contains(&"--namespace=payments"), "{args:?}");
    find(&objs, "ServiceMonitor", "kafka-advertiser");
    find(&objs, "PodMonitor", "kafka-advertiser-controller");
    let rules = find(&objs, "PrometheusRule", "kafka-advertiser")["spec"]["groups"][0]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["alert"] == "KafkaAdvertiserNoLeader"));

    // Out of cluster: no Deployment, the URL and CA in the webhook; refused without them.
    let objs = template(
        "kafka-advertiser",
        &[
            "deployment.enabled=false",
            "tls.certManager.enabled=false",
            "webhook.url=https://127.0.0.1:9443/mutate",
            "webhook.caBundle=PEM",
        ],
    );
    assert!(!objs.iter().any(|v| v["kind"] == "Deployment" || v["kind"] == "Certificate"));
    let cc = &find(&objs, "MutatingWebhookConfiguration", "kafka-advertiser")["webhooks"][0]["clientConfig"];
    assert_eq!((cc["url"].as_str(), cc["caBundle"].as_str()), (Some("https://127.0.0.1:9443/mutate"), Some("UEVN")));
    let c = chart();
    let (ok, out) = helm(&["template", "x", c.to_str().unwrap(), "--set", "tls.certManager.enabled=false"]);
    assert!(!ok && out.contains("webhook.caBundle"), "{out}");
}

/// The values platform teams override: names, labels, image digest, flags, env, log level, and the
/// security contexts (OpenShift's restricted-v2 assigns the UID itself).
#[test]
fn overrides_reach_every_object_they_name() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let objs = template(
        "ops",
        &[
            "fullnameOverride=ka",
            "commonLabels.team=platform",
            &format!("image.digest={digest}"),
            "logLevel=kafka_advertiser=debug",
            "extraArgs[0]=--max-connections=1024",
            "extraEnv[0].name=HTTPS_PROXY",
            "extraEnv[0].value=http://proxy:3128",
            "podSecurityContext.runAsNonRoot=true",
            "podSecurityContext.runAsUser=null",
            "podSecurityContext.runAsGroup=null",
        ],
    );
    assert!(objs
        .iter()
        .all(|o| o["metadata"]["labels"]["team"] == "platform" || o["kind"] == "CustomResourceDefinition"));
    for who in ["webhook", "controller"] {
        let pod = &find(&objs, "Deployment", &format!("ka-{who}"))["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(c["image"], format!("ghcr.io/kafka-advertiser/kafka-advertiser@{digest}"), "{who}");
        assert!(c["args"].as_array().unwrap().contains(&Value::from("--max-connections=1024")), "{who}");
        let env = c["env"].as_array().unwrap();
        let var = |n: &str| env.iter().find(|e| e["name"] == n).map(|e| e["value"].clone());
        assert_eq!(var("KAFKA_ADVERTISER_LOG_LEVEL"), Some(Value::from("kafka_advertiser=debug")), "{who}");
        assert_eq!(var("HTTPS_PROXY"), Some(Value::from("http://proxy:3128")), "{who}");
        assert!(pod["securityContext"].get("runAsUser").is_none(), "{who}: {}", pod["securityContext"]);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    }
    find(&objs, "MutatingWebhookConfiguration", "ka");
    // A bad flag or an empty log level fails the render, naming the value.
    let c = chart();
    let (ok, out) = helm(&["template", "x", c.to_str().unwrap(), "--set", "extraArgs[0]=max-connections"]);
    assert!(!ok && out.contains("extraArgs"), "{out}");
}

/// `metrics.dashboard.enabled`: the dashboard file, whole, in a ConfigMap Grafana's sidecar picks up
/// (its label, in the namespace asked for); off by default.
#[test]
fn the_dashboard_configmap_carries_the_dashboard_for_grafanas_sidecar() {
    let off = template("kafka-advertiser", &[]);
    assert!(!off.iter().any(|v| v["metadata"]["name"] == "kafka-advertiser-dashboard"), "on by default");
    let on =
        template("kafka-advertiser", &["metrics.dashboard.enabled=true", "metrics.dashboard.namespace=monitoring"]);
    let cm = find(&on, "ConfigMap", "kafka-advertiser-dashboard");
    assert_eq!(cm["metadata"]["namespace"], "monitoring");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/kafka-advertiser/dashboards/kafka-advertiser.json");
    let want: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let got: Value = serde_json::from_str(cm["data"]["kafka-advertiser.json"].as_str().unwrap()).unwrap();
    assert_eq!(got, want);
}

/// `tls.source`: `self` renders no cert-manager object and no caBundle (the controller keeps both), and
/// grants the controller exactly the two Secrets and its own webhook configuration by name (the rights
/// check reads the controller's `--self-tls-*` arguments); `external` sets the given caBundle; the
/// older `tls.certManager.enabled=false` still means external.
#[test]
fn tls_source_self_and_external_render_their_own_objects_and_rights() {
    let own = template("ops", &["tls.source=self", "tls.self.validity=720h"]);
    assert!(!own.iter().any(|v| v["apiVersion"].as_str().unwrap_or("").starts_with("cert-manager.io")));
    let mwc = find(&own, "MutatingWebhookConfiguration", "kafka-advertiser");
    assert!(mwc["metadata"]["annotations"].get("cert-manager.io/inject-ca-from").is_none(), "{mwc}");
    assert!(mwc["webhooks"][0]["clientConfig"].get("caBundle").is_none(), "the controller sets it: {mwc}");
    let ctrl = find(&own, "Deployment", "kafka-advertiser-controller");
    let args: Vec<&str> = ctrl["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    for want in [
        "--self-tls-secret=kafka-advertiser-tls",
        "--self-tls-ca-secret=kafka-advertiser-self-ca",
        "--self-tls-validity=720h",
    ] {
        assert!(args.contains(&want), "{want} missing: {args:?}");
    }
    rbac::assert_controller(&own, "ops", "kafka-advertiser-controller", &[], &[]);
    rbac::assert_webhook(&own, "ops", "kafka-advertiser-webhook", &[]);
    for set in
        [vec!["tls.source=external", "tls.caBundle=PEM"], vec!["tls.certManager.enabled=false", "webhook.caBundle=PEM"]]
    {
        let ext = template("ops", &set);
        assert!(!ext.iter().any(|v| v["kind"] == "Certificate"), "{set:?}");
        let cc = &find(&ext, "MutatingWebhookConfiguration", "kafka-advertiser")["webhooks"][0]["clientConfig"];
        assert_eq!(cc["caBundle"], "UEVN", "{set:?}");
        rbac::assert_controller(&ext, "ops", "kafka-advertiser-controller", &[], &[]);
    }
}

/// N9: with `tls.source: self`, where the cluster serves ValidatingAdmissionPolicy, the chart fences
/// the controller's identity with the policy `deploy/components/admission-policy` ships (the same
/// spec); where it is not served, or the controller writes no webhook configuration, none.
#[test]
fn the_controller_identity_is_fenced_by_the_same_policy_in_chart_and_kustomize() {
    let c = chart();
    let render = |extra: &[&str]| {
        let base = ["template", "kafka-advertiser", c.to_str().unwrap(), "-n", "kafka-advertiser"];
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (ok, out) = helm(&args);
        assert!(ok, "helm {args:?}: {out}");
        docs(&out)
    };
    let served = ["--api-versions", "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"];
    let objs = render(&[&["--set", "tls.source=self"][..], &served[..]].concat());
    let policy = find(&objs, "ValidatingAdmissionPolicy", "kafka-advertiser-controller-writes");
    let binding = find(&objs, "ValidatingAdmissionPolicyBinding", "kafka-advertiser-controller-writes");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/components/admission-policy/policy.yaml");
    let shipped: Vec<Value> = serde_saphyr::from_multiple(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(policy["spec"], shipped[0]["spec"], "the chart's policy and the kustomize component's differ");
    assert_eq!(binding["spec"], shipped[1]["spec"]);
    let writes = |v: &Value| {
        v["kind"] == "ValidatingAdmissionPolicy" && v["metadata"]["name"] == "kafka-advertiser-controller-writes"
    };
    assert!(!render(&["--set", "tls.source=self"]).iter().any(|v| v["kind"] == "ValidatingAdmissionPolicy"));
    let cert_manager = render(&served);
    assert!(!cert_manager.iter().any(writes), "cert-manager: no rights");
    // N8: the `helm test` hook's identity may create pods only as dry runs, where the policy is served.
    let fence = find(&cert_manager, "ValidatingAdmissionPolicy", "kafka-advertiser-check-dry-run-only");
    assert_eq!(fence["spec"]["validations"][0]["expression"], "request.dryRun == true");
    let who = fence["spec"]["matchConditions"][0]["expression"].as_str().unwrap();
    assert!(who.contains("system:serviceaccount:kafka-advertiser:kafka-advertiser-check"), "{who}");
    find(&cert_manager, "ValidatingAdmissionPolicyBinding", "kafka-advertiser-check-dry-run-only");
}

/// `webhook.clientCA`: the webhook (only) requires a client certificate signed by the CA in that
/// Secret; without the value no client CA is mounted or named.
#[test]
fn client_ca_reaches_the_webhook_only() {
    let objs = template("kafka-advertiser", &["webhook.clientCA.secretName=apiserver-ca"]);
    let webhook = find(&objs, "Deployment", "kafka-advertiser-webhook");
    let pod = &webhook["spec"]["template"]["spec"];
    let args = pod["containers"][0]["args"].as_array().unwrap();
    assert!(args.iter().any(|a| a == "--client-ca=/etc/kafka-advertiser/client-ca/ca.crt"), "{args:?}");
    let vol = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "client-ca").expect("the CA volume");
    assert_eq!(vol["secret"]["secretName"], "apiserver-ca");
    let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
    assert!(mounts.iter().any(|m| m["mountPath"] == "/etc/kafka-advertiser/client-ca"), "{mounts:?}");
    let controller = find(&objs, "Deployment", "kafka-advertiser-controller");
    assert!(!controller.to_string().contains("client-ca"));
    let plain = template("kafka-advertiser", &[]);
    assert!(!plain.iter().any(|o| o.to_string().contains("client-ca")));
}

/// The pods' terminationGracePeriodSeconds covers the shutdown delay and grace the chart passes
/// (review M8.5: `shutdownGrace=1h` was accepted while the kubelet killed the pod at 30 s).
#[test]
fn termination_grace_covers_the_shutdown_timings() {
    let grace = |set: &[&str]| -> Vec<i64> {
        template("ops", set)
            .iter()
            .filter(|v| v["kind"] == "Deployment")
            .map(|d| d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(grace(&[]), [30, 30]);
    assert_eq!(grace(&["shutdownGrace=1m", "shutdownDelay=10s"]), [75, 75]);
    let c = chart();
    let (ok, out) = helm(&["template", "kafka-advertiser", c.to_str().unwrap(), "--set", "shutdownGrace=1h"]);
    assert!(!ok && out.contains("shutdownGrace"), "{out}");
}

/// `platformClass` renders, once the CRD is served, the same class as the kustomize component.
#[test]
fn platform_class_matches_the_component() {
    let c = chart();
    for (platform, name) in [("eks", "eks-nlb"), ("gke", "gke-lb"), ("aks", "aks-lb")] {
        let set = format!("platformClass={platform}");
        let args = ["template", "ka", c.to_str().unwrap(), "--set", &set];
        let served = [&args[..], &["--api-versions", "kafka-advertiser.io/v1alpha1/ExternalAccessClass"]].concat();
        let (ok, out) = helm(&served);
        assert!(ok, "{out}");
        let objs = docs(&out);
        let class = find(&objs, "ExternalAccessClass", name);
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("deploy/components/platform-{platform}/class.yaml"));
        let component: Value = serde_saphyr::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        assert_eq!(class["spec"], component["spec"], "{platform}");
        // Not before the CRD is served: Helm could not map the kind.
        let (ok, out) = helm(&args);
        assert!(ok && !docs(&out).iter().any(|v| v["kind"] == "ExternalAccessClass"), "{platform}");
    }
}
