//! Offline commands: `mutate`, `preview`, `certs`. No cluster needed.

use std::fmt::Write as _;
use std::io::Read;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use crate::admission::review;
use crate::config::{CertsArgs, MutateArgs, MutateOutput, PreviewArgs, PreviewOutput};
use crate::controller::desired;
use crate::mutate::{self, ClusterLookup, Defaults, MutateError, RequestNames};

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The I/O error is the source (shown once, by the error chain).
    #[error("cannot read {path}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: not valid JSON or YAML: {reason}")]
    Parse { path: String, reason: String },
    #[error("{path}: {reason}")]
    Input { path: String, reason: String },
    #[error(transparent)]
    Review(#[from] review::ReviewError),
    #[error("{0}")]
    Denied(String),
    #[error(transparent)]
    Settings(#[from] crate::spec::settings::SettingsError),
    #[error("cannot write {path}")]
    Write { path: String, source: std::io::Error },
    #[error("certificate generation failed: {0}")]
    Certs(#[from] rcgen::Error),
}

fn read_input(path: &str) -> Result<String, OfflineError> {
    let mut s = String::new();
    let r = if path == "-" {
        std::io::stdin().read_to_string(&mut s).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|c| s = c)
    };
    r.map_err(|source| OfflineError::Read { path: path.into(), source })?;
    Ok(s)
}

/// All documents of a JSON or multi-document YAML file.
fn documents(path: &str, text: &str) -> Result<Vec<Value>, OfflineError> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(vec![v]);
    }
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| OfflineError::Parse { path: path.into(), reason: e.to_string() })?;
    let out: Vec<Value> = docs.into_iter().filter(|v| !v.is_null()).collect();
    if out.is_empty() {
        return Err(OfflineError::Parse { path: path.into(), reason: "empty document".into() });
    }
    Ok(out)
}

/// `--address` entries apply to whichever StatefulSet the pod belongs to; `preview` also knows that
/// StatefulSet's selector, as the controller's watch tells the webhook.
/// The fourth field is the StatefulSet's first ordinal (`mutate`, which sees no StatefulSet, counts
/// from 0): with `--max-brokers`, which brokers may exist.
struct AnyStatefulSet(
    Vec<(u32, String)>,
    Option<std::sync::Arc<std::collections::BTreeMap<String, String>>>,
    Option<std::sync::Arc<crate::spec::class::Classes>>,
    u32,
);

impl crate::spec::class::ClassSource for AnyStatefulSet {
    fn classes(&self) -> Option<std::sync::Arc<crate::spec::class::Classes>> {
        self.2.clone()
    }

    /// Offline, a namespace has the one label the API server gives every namespace.
    fn namespace_labels(&self, namespace: &str) -> Option<std::sync::Arc<std::collections::BTreeMap<String, String>>> {
        let label = ("kubernetes.io/metadata.name".to_owned(), namespace.to_owned());
        Some(std::sync::Arc::new(std::collections::BTreeMap::from([label])))
    }
}

impl ClusterLookup for AnyStatefulSet {
    fn address(&self, _: &str, _: &str, ordinal: u32) -> Option<std::sync::Arc<str>> {
        self.0.iter().rev().find(|(o, _)| *o == ordinal).map(|(_, h)| std::sync::Arc::from(h.as_str()))
    }

    fn selector(&self, _: &str, _: &str) -> Option<std::sync::Arc<std::collections::BTreeMap<String, String>>> {
        self.1.clone()
    }

    fn ordinal_start(&self, _: &str, _: &str) -> Option<u32> {
        Some(self.3)
    }
}

/// `kafka-advertiser mutate`: returns what to print and whether the pod was admitted.
pub fn mutate_cmd(args: &MutateArgs) -> Result<(String, bool), OfflineError> {
    let text = read_input(&args.file)?;
    let input = |reason: &str| OfflineError::Input { path: args.file.clone(), reason: reason.into() };
    // The first Pod or AdmissionReview of the file (a manifest may start with a Namespace).
    let docs = documents(&args.file, &text)?;
    let kind = |d: &Value| d.get("kind").and_then(Value::as_str).map(str::to_owned);
    let doc = match docs.iter().position(|d| matches!(kind(d).as_deref(), Some("Pod" | "AdmissionReview"))) {
        Some(i) => docs.into_iter().nth(i).unwrap_or(Value::Null),
        None if docs.len() > 1 => {
            let kinds: Vec<String> = docs.iter().map(|d| kind(d).unwrap_or_else(|| "(no kind)".into())).collect();
            return Err(input(&format!("expected an AdmissionReview or a Pod, found {}", kinds.join(", "))));
        }
        None => docs.into_iter().next().unwrap_or(Value::Null),
    };
    let defaults = args.mutation.defaults();
    let lookup = AnyStatefulSet(args.addresses.clone(), None, None, 0);
    // A bare Pod becomes the AdmissionReview kube-apiserver would send for its CREATE.
    let (review_json, pod) = match doc.get("kind").and_then(Value::as_str) {
        Some("AdmissionReview") => {
            let pod = doc.pointer("/request/object").cloned();
            (doc, pod)
        }
        Some("Pod") => {
            let md = &doc["metadata"];
            let r = json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {
                    "uid": "offline", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "name": md["name"].as_str().unwrap_or(""), "namespace": md["namespace"].as_str().unwrap_or("default"),
                    "operation": "CREATE", "userInfo": {}, "object": doc.clone(),
                }
            });
            (r, Some(doc))
        }
        Some(k) => return Err(input(&format!("expected an AdmissionReview or a Pod, got kind {k}"))),
        None => return Err(input("expected an AdmissionReview or a Pod: no kind")),
    };
    let body = serde_json::to_vec(&review_json).unwrap_or_default();
    let decision = review::review(&body, &defaults, &lookup)?;
    let allowed = decision.message.is_none();
    match args.output {
        MutateOutput::Review => {
            let v: Value = serde_json::from_slice(&decision.body).unwrap_or(Value::Null);
            Ok((serde_json::to_string_pretty(&v).unwrap_or_default() + "\n", allowed))
        }
        MutateOutput::Pod => {
            if let Some(msg) = decision.message {
                return Err(OfflineError::Denied(msg));
            }
            let mut pod = pod.ok_or_else(|| input("the AdmissionReview carries no object"))?;
            let v: Value = serde_json::from_slice(&decision.body).unwrap_or(Value::Null);
            if let Some(p) = v.pointer("/response/patch").and_then(Value::as_str) {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD.decode(p).unwrap_or_default();
                let patch: json_patch::Patch = serde_json::from_slice(&bytes).map_err(|e| input(&e.to_string()))?;
                json_patch::patch(&mut pod, &patch).map_err(|e| input(&format!("patch does not apply: {e}")))?;
            }
            Ok((serde_saphyr::to_string(&pod).unwrap_or_default(), true))
        }
    }
}

/// `preview` without a file runs on this shipped example.
pub const EMBEDDED_EXAMPLE: &str = include_str!("../deploy/examples/kafka-kraft.yaml");
const EMBEDDED_EXAMPLE_NAME: &str = "deploy/examples/kafka-kraft.yaml (embedded)";

/// `kafka-advertiser preview`: per ordinal, the env value, affinity term and external Service.
pub fn preview_cmd(args: &PreviewArgs) -> Result<String, OfflineError> {
    let (path, text) = match &args.file {
        Some(f) => (f.clone(), read_input(f)?),
        None => (EMBEDDED_EXAMPLE_NAME.to_owned(), EMBEDDED_EXAMPLE.to_owned()),
    };
    let docs = documents(&path, &text)?;
    let classes = args.class.as_deref().map(classes_from).transpose()?;
    let mut out = String::new();
    let mut found = 0;
    for doc in docs.into_iter().filter(|d| d.get("kind").and_then(Value::as_str) == Some("StatefulSet")) {
        let sts: StatefulSet = serde_json::from_value(doc)
            .map_err(|e| OfflineError::Input { path: path.clone(), reason: format!("not a valid StatefulSet: {e}") })?;
        if !crate::spec::opted_in(&sts) {
            let _ = writeln!(
                out,
                "{}StatefulSet {}: pod template lacks label {}=\"true\"; kafka-advertiser leaves it alone\n",
                args.output.note_prefix(),
                sts.metadata.name.as_deref().unwrap_or(""),
                crate::names::ENABLED_LABEL
            );
            continue;
        }
        found += 1;
        preview_one(&sts, &args.mutation.defaults(), &args.addresses, classes.clone(), args.output, &mut out)?;
    }
    if found == 0 && out.is_empty() {
        return Err(OfflineError::Input { path, reason: "no StatefulSet in the file".into() });
    }
    Ok(out)
}

/// The ExternalAccessClasses of a file, as the cluster would hold them (tenancy open; namespace
/// selectors are not evaluated offline).
fn classes_from(path: &str) -> Result<std::sync::Arc<crate::spec::class::Classes>, OfflineError> {
    let text = read_input(path)?;
    let mut classes = Vec::new();
    for doc in documents(path, &text)?.into_iter().filter(|d| d["kind"] == crate::spec::class::KIND) {
        let mut c = crate::spec::class::Class::from_value(&doc)
            .map_err(|e| OfflineError::Input { path: path.to_owned(), reason: format!("not a valid class: {e}") })?;
        c.spec.namespace_selector = None;
        classes.push(std::sync::Arc::new(c));
    }
    if classes.is_empty() {
        return Err(OfflineError::Input { path: path.to_owned(), reason: "no ExternalAccessClass in the file".into() });
    }
    Ok(std::sync::Arc::new(crate::spec::class::Classes { tenancy: crate::spec::class::Tenancy::Open, classes }))
}

fn preview_one(
    sts: &StatefulSet,
    defaults: &Defaults,
    addresses: &[(u32, String)],
    classes: Option<std::sync::Arc<crate::spec::class::Classes>>,
    output: PreviewOutput,
    out: &mut String,
) -> Result<(), OfflineError> {
    let selector = sts.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).filter(|m| !m.is_empty());
    let start = sts.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0).max(0) as u32;
    let book = AnyStatefulSet(addresses.to_vec(), selector.map(std::sync::Arc::new), classes, start);
    let refused = |e: crate::spec::class::ClassError| {
        OfflineError::Denied(format!(
            "StatefulSet {}: {} ({})",
            sts.metadata.name.as_deref().unwrap_or(""),
            e,
            e.reason()
        ))
    };
    let intent = match crate::spec::intent(&std::sync::Arc::new(sts.clone()), defaults, &book) {
        Ok(Some(intent)) => intent,
        Ok(None) => return Ok(()),
        Err(crate::spec::IntentError::Class(e)) => return Err(refused(e)),
        Err(crate::spec::IntentError::Settings(e) | crate::spec::IntentError::Service(e)) => return Err(e.into()),
    };
    let d = desired::desired(&intent)?;
    if let Some(over) = d.over_cap() {
        return Err(OfflineError::Denied(format!("StatefulSet {}: {over}", d.name)));
    }
    if let Some(c) = &d.class {
        let note = output.note_prefix();
        let _ = writeln!(out, "{note}StatefulSet {}/{}: ExternalAccessClass {}", d.namespace, d.name, c.name);
    }
    if output == PreviewOutput::Pods {
        return preview_pods(sts, &d, defaults, &book, out);
    }
    let s = &d.settings;
    let _ = writeln!(
        out,
        "StatefulSet {}/{}: mode {}, brokers {}..{} ({} replicas), anti-affinity {:?} on {}",
        d.namespace,
        d.name,
        s.mode,
        d.start,
        d.start + d.replicas.saturating_sub(1),
        d.replicas,
        s.anti_affinity,
        s.topology_key
    );
    let lb: std::collections::BTreeMap<u32, String> = addresses.iter().cloned().collect();
    let hosts = crate::controller::discovery::external_hosts(&d, &lb, &Default::default());
    let plan = crate::controller::gateway::gateway_plan(&d, sts, &Default::default());
    let certificates = crate::controller::certificates::certificates(&d, sts, &hosts);
    for ordinal in d.ordinals() {
        let _ = writeln!(out, "\nbroker {ordinal} (pod {}-{ordinal})", d.name);
        preview_pod(sts, ordinal, &d, defaults, &book, out)?;
        let Some(svc) = d.services.iter().find(|(o, _)| *o == ordinal).map(|(_, s)| s) else {
            let _ = writeln!(out, "  service   none (service-type None)");
            continue;
        };
        preview_service(svc, out);
        if let Some(plan) = &plan {
            preview_gateway(plan, Some(ordinal), out);
        }
        if d.settings.tls_issuer.is_some() {
            preview_certificate(&certificates, ordinal, &d, out);
        }
    }
    if let Some(b) = &d.bootstrap {
        let port = b.spec.as_ref().and_then(|s| s.ports.as_ref()).and_then(|p| p.first()).map_or(0, |p| p.port);
        let _ =
            writeln!(out, "\nbootstrap service {} port {port} (all brokers)", b.metadata.name.as_deref().unwrap_or(""));
        if let Some(plan) = &plan {
            preview_gateway(plan, None, out);
        }
    }
    preview_discovery(&d, &hosts, out);
    Ok(())
}

/// A broker pod as the webhook answers it.
enum Admitted {
    /// Mutated: the pod as stored, and the mutation.
    Pod(Value, mutate::Mutation),
    /// Not ours to change (the template lacks the label, or nothing to do): the pod as created.
    Untouched(Value),
    /// Refused until its address is known.
    Pending(MutateError),
}

/// The pod the StatefulSet controller creates for `ordinal`, through the webhook's decision.
fn admit(
    sts: &StatefulSet,
    ordinal: u32,
    defaults: &Defaults,
    book: &AnyStatefulSet,
) -> Result<Admitted, OfflineError> {
    let pod = pod_json(sts, ordinal);
    let typed: Pod = serde_json::from_value(pod.clone()).unwrap_or_default();
    let m = match mutate::mutate(&typed, RequestNames::default(), defaults, book) {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(Admitted::Untouched(pod)),
        Err(e @ MutateError::AddressPending { .. }) => return Ok(Admitted::Pending(e)),
        Err(e) => return Err(OfflineError::Denied(format!("broker {ordinal}: {e}"))),
    };
    let mut patched = pod;
    json_patch::patch(&mut patched, &m.patch)
        .map_err(|e| OfflineError::Denied(format!("broker {ordinal}: the patch does not apply to the pod: {e}")))?;
    Ok(Admitted::Pod(patched, m))
}

/// The broker pod as the webhook would admit it: its env, anti-affinity and warnings.
fn preview_pod(
    sts: &StatefulSet,
    ordinal: u32,
    d: &desired::Desired,
    defaults: &Defaults,
    book: &AnyStatefulSet,
    out: &mut String,
) -> Result<(), OfflineError> {
    let (patched, m) = match admit(sts, ordinal, defaults, book)? {
        Admitted::Pod(p, m) => (p, m),
        Admitted::Untouched(_) => return Ok(()),
        Admitted::Pending(e) => {
            let _ = writeln!(out, "  env       (pending) {e}");
            return Ok(());
        }
    };
    let typed: Pod = serde_json::from_value(patched).unwrap_or_default();
    let spec = typed.spec.unwrap_or_default();
    if let Some(c) = spec.containers.iter().find(|c| c.name == m.container) {
        preview_env(c, &m, d.settings.rack_label.is_some(), out);
    }
    preview_affinity(spec.affinity, out);
    for w in &m.warnings {
        let _ = writeln!(out, "  warning   {w}");
    }
    Ok(())
}

/// `--output pods`: each broker pod as a YAML document, the webhook's warnings as comments above it.
fn preview_pods(
    sts: &StatefulSet,
    d: &desired::Desired,
    defaults: &Defaults,
    book: &AnyStatefulSet,
    out: &mut String,
) -> Result<(), OfflineError> {
    for ordinal in d.ordinals() {
        let (pod, m) = match admit(sts, ordinal, defaults, book)? {
            Admitted::Pod(p, m) => (p, Some(m)),
            Admitted::Untouched(p) => (p, None),
            Admitted::Pending(e) => {
                return Err(OfflineError::Denied(format!("broker {ordinal}: {e}; pass --address {ordinal}=HOST")));
            }
        };
        let _ = writeln!(out, "---\n# StatefulSet {}/{}, broker {ordinal}", d.namespace, d.name);
        for w in m.iter().flat_map(|m| &m.warnings) {
            let _ = writeln!(out, "# warning: {}", w.replace('\n', " "));
        }
        out.push_str(&serde_saphyr::to_string(&pod).unwrap_or_default());
    }
    Ok(())
}

/// The container and variable the mutation chose; the last entry of a name is the one the kubelet uses.
fn preview_env(c: &k8s_openapi::api::core::v1::Container, m: &mutate::Mutation, rack: bool, out: &mut String) {
    let env = c.env.as_deref().unwrap_or_default();
    let helper = env
        .iter()
        .find(|e| e.name == crate::spec::settings::HOST_IP_ENV || e.name == crate::spec::settings::POD_IP_ENV);
    let listeners = env.iter().rev().find(|e| !m.listeners_var.is_empty() && e.name == m.listeners_var);
    let rack = env.iter().rev().find(|e| rack && e.name.ends_with("_BROKER_RACK"));
    for e in helper.into_iter().chain(listeners).chain(rack) {
        let field = e.value_from.as_ref().and_then(|v| v.field_ref.as_ref()).map(|f| &f.field_path);
        match (&e.value, field) {
            (Some(v), _) => {
                let _ = writeln!(out, "  env       {}={v}   (container {})", e.name, c.name);
            }
            (None, Some(f)) => {
                let _ = writeln!(out, "  env       {} from {f}", e.name);
            }
            (None, None) => {}
        }
    }
}

fn preview_affinity(affinity: Option<k8s_openapi::api::core::v1::Affinity>, out: &mut String) {
    let term = affinity
        .and_then(|a| a.pod_anti_affinity)
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution.or_else(|| {
                a.preferred_during_scheduling_ignored_during_execution
                    .map(|p| p.into_iter().map(|w| w.pod_affinity_term).collect())
            })
        })
        .and_then(|t| t.into_iter().last());
    if let Some(term) = term {
        let labels = term.label_selector.and_then(|l| l.match_labels).unwrap_or_default();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "  affinity  not with pods {{{}}} on the same {}", labels.join(","), term.topology_key);
    }
}

fn preview_service(svc: &k8s_openapi::api::core::v1::Service, out: &mut String) {
    let spec = svc.spec.clone().unwrap_or_default();
    let p = spec.ports.unwrap_or_default().into_iter().next().unwrap_or_default();
    let target = match p.target_port {
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i)) => i.to_string(),
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => s,
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "  service   {} type {} port {}{} -> {target}{}",
        svc.metadata.name.as_deref().unwrap_or(""),
        spec.type_.unwrap_or_default(),
        p.port,
        p.node_port.map(|n| format!(" nodePort {n}")).unwrap_or_default(),
        spec.external_traffic_policy.map(|t| format!(", externalTrafficPolicy {t}")).unwrap_or_default(),
    );
    for (k, v) in svc.metadata.annotations.iter().flatten() {
        let _ = writeln!(out, "            annotation {k}: {v}");
    }
}

/// The client-discovery ConfigMap as the controller would write it with these addresses (in
/// nodeport and pod-ip modes the addresses come from the running pods).
fn preview_discovery(d: &desired::Desired, hosts: &std::collections::BTreeMap<u32, String>, out: &mut String) {
    let endpoints = crate::controller::discovery::external_endpoints(d, hosts);
    let from_pods = !d.settings.mode.external_name();
    let _ = writeln!(
        out,
        "\nconfigmap {}: bootstrap.servers={}{}",
        crate::controller::discovery::discovery_name(&d.name),
        endpoints.values().cloned().collect::<Vec<_>>().join(","),
        if from_pods { "(filled from the running pods' IPs)" } else { "" }
    );
    out.push('\n');
}

/// The Gateway listener (gateway-tcp) and the route of one broker (`None`: the bootstrap).
fn preview_gateway(plan: &crate::controller::gateway::GatewayPlan, ordinal: Option<u32>, out: &mut String) {
    let Some((_, route)) = plan.routes.iter().find(|(o, _)| *o == ordinal) else {
        return;
    };
    let spec = &route.data["spec"];
    let section = spec["parentRefs"][0]["sectionName"].as_str().unwrap_or_default();
    if let Some(l) = plan.listeners.iter().find(|l| l["name"] == section) {
        let whose = match &plan.listener_set {
            Some(ls) => format!(
                "in ListenerSet {} on Gateway {} (its owner admits the namespace in spec.allowedListeners)",
                ls.metadata.name.as_deref().unwrap_or_default(),
                plan.gateway()
            ),
            None => format!("on Gateway {} (its own field manager)", plan.gateway()),
        };
        let _ = writeln!(out, "  listener  {section} port {} protocol TCP {whose}", l["port"]);
    }
    let parent = &spec["parentRefs"][0];
    let parent = match parent["kind"].as_str() {
        Some("ListenerSet") => format!("ListenerSet {}", parent["name"].as_str().unwrap_or_default()),
        _ => format!("Gateway {}", plan.gateway()),
    };
    let kind = route.types.as_ref().map_or("", |t| t.kind.as_str());
    let hostnames = spec["hostnames"]
        .as_array()
        .map(|h| format!(" hostnames {}", h.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")))
        .unwrap_or_default();
    let backend = &spec["rules"][0]["backendRefs"][0];
    let _ = writeln!(
        out,
        "  route     {kind} {} -> {parent} listener {section}{hostnames}, backend Service {}:{}",
        route.metadata.name.as_deref().unwrap_or_default(),
        backend["name"].as_str().unwrap_or_default(),
        backend["port"]
    );
}

/// One broker's cert-manager Certificate, or why it is not there yet.
fn preview_certificate(
    certificates: &[(u32, kube::api::DynamicObject)],
    ordinal: u32,
    d: &desired::Desired,
    out: &mut String,
) {
    let issuer = d.settings.tls_issuer.as_ref().map(|i| format!("{}/{}", i.kind, i.name)).unwrap_or_default();
    match certificates.iter().find(|(o, _)| *o == ordinal) {
        Some((_, c)) => {
            let spec = &c.data["spec"];
            let sans: Vec<&str> = ["dnsNames", "ipAddresses"]
                .iter()
                .flat_map(|k| spec[k].as_array().into_iter().flatten().filter_map(Value::as_str))
                .collect();
            let _ = writeln!(
                out,
                "  cert      Certificate {} from {issuer}, SANs {}; mounted at {}",
                c.metadata.name.as_deref().unwrap_or_default(),
                sans.join(","),
                d.settings.tls_mount_path
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  cert      Certificate {}-{ordinal}-tls from {issuer}: once the broker's address is known",
                d.name
            );
        }
    }
}

fn pod_json(sts: &StatefulSet, ordinal: u32) -> Value {
    let mut v = serde_json::to_value(crate::controller::template_check::pod_for(sts, ordinal)).unwrap_or(Value::Null);
    v["apiVersion"] = json!("v1");
    v["kind"] = json!("Pod");
    v
}

/// `kafka-advertiser certs`: a local CA and a serving (and optionally client) certificate.
pub fn certs_cmd(args: &CertsArgs) -> Result<String, OfflineError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
    let write = |name: &str, content: &str| {
        let path = args.out.join(name);
        std::fs::write(&path, content)
            .map_err(|source| OfflineError::Write { path: path.display().to_string(), source })
    };
    std::fs::create_dir_all(&args.out)
        .map_err(|source| OfflineError::Write { path: args.out.display().to_string(), source })?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "kafka-advertiser dev CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(args.hosts.clone())?;
    params.distinguished_name.push(DnType::CommonName, args.hosts.first().cloned().unwrap_or_default());
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer)?;
    write("ca.crt", &ca_cert.pem())?;
    write("tls.crt", &cert.pem())?;
    write(crate::tls::KEY_FILE, &key.serialize_pem())?;
    if args.client {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &issuer)?;
        write("client.crt", &cert.pem())?;
        write("client.key", &key.serialize_pem())?;
    }
    Ok(format!(
        "wrote {}/{{ca.crt,tls.crt,tls.key{}}} for {}\n",
        args.out.display(),
        if args.client { ",client.crt,client.key" } else { "" },
        args.hosts.join(", ")
    ))
}
