//! `preview`: what a StatefulSet would get, offline: per broker the env value, anti-affinity,
//! Service, Gateway listener and Certificate, or the broker pods as the webhook admits them.

use super::*;
use crate::names::ANN_ADOPT;

mod doc;
use k8s_openapi::api::core::v1::Service;

/// `preview` without a file runs on this shipped example.
pub const EMBEDDED_EXAMPLE: &str = include_str!("../../deploy/examples/kafka-kraft.yaml");
const EMBEDDED_EXAMPLE_NAME: &str = "deploy/examples/kafka-kraft.yaml (embedded)";

/// `kafka-advertiser preview`: per ordinal, the env value, affinity term and external Service (text,
/// or one document with `-o json|yaml`), or the admitted pods. `--strict` exits 1 on any warning or
/// skipped StatefulSet.
pub fn preview_cmd(args: &PreviewArgs, show: PreviewShow, format: Format) -> Result<Ended, Failure> {
    let (path, text) = match &args.file {
        Some(f) => (f.clone(), read_input(f)?),
        None => (EMBEDDED_EXAMPLE_NAME.to_owned(), EMBEDDED_EXAMPLE.to_owned()),
    };
    let docs = documents(&path, &text)?;
    let given = Given {
        defaults: args.mutation.defaults(),
        addresses: args.addresses.clone(),
        every: args.gateway_address.clone(),
        classes: args.class.as_deref().map(classes_from).transpose()?,
        output: show,
        platform: args.platform,
        services: (docs.iter().filter(|d| d["kind"] == "Service"))
            .filter_map(|d| serde_json::from_value(d.clone()).ok())
            .collect(),
    };
    let mut statefulsets = Vec::new();
    for doc in docs.into_iter().filter(|d| d.get("kind").and_then(Value::as_str) == Some("StatefulSet")) {
        let mut sts: StatefulSet = serde_json::from_value(doc)
            .map_err(|e| OfflineError::Input { path: path.clone(), reason: format!("not a valid StatefulSet: {e}") })?;
        if sts.metadata.namespace.is_none() {
            sts.metadata.namespace = args.namespace.clone();
        }
        statefulsets.push(sts);
    }
    if statefulsets.is_empty() {
        return Err(OfflineError::Input { path, reason: "no StatefulSet in the file".into() }.into());
    }
    let (out, problems) = match (show, format) {
        (PreviewShow::Report, Format::Json | Format::Yaml) => doc::preview_doc(&statefulsets, &given, &path, format)?,
        (PreviewShow::Pods, Format::Json) => doc::pods_list(&statefulsets, &given)?,
        _ => preview_text(&statefulsets, &given, args.file.is_none())?,
    };
    Ok(match problems {
        n if args.strict && n > 0 => {
            Ended::not_ready(out, format!("--strict: {n} warning(s) or skipped StatefulSet(s)"))
        }
        _ => Ended::ok(out),
    })
}

/// The report (or the pods' YAML) as text, and how many warnings it printed and StatefulSets it skipped.
fn preview_text(statefulsets: &[StatefulSet], given: &Given, embedded: bool) -> Result<(String, usize), OfflineError> {
    let mut out = String::new();
    let note = given.output.note_prefix();
    let about = format!("{EMBEDDED_EXAMPLE_NAME}: the shipped example; pass FILE to preview your own");
    match (embedded, given.output) {
        (false, _) => {}
        (true, PreviewShow::Report) => out.push_str(&format!("{about}\n\n")),
        // The pods' YAML stays one document per pod.
        (true, PreviewShow::Pods) => eprintln!("{about}"),
    }
    let mut skipped = 0;
    for sts in statefulsets {
        let name = sts.metadata.name.as_deref().unwrap_or("");
        if !crate::spec::opted_in(sts) {
            skipped += 1;
            let label = crate::names::ENABLED_LABEL;
            let _ = writeln!(
                out,
                "{note}StatefulSet {}: pod template lacks label {label}=\"true\"; kafka-advertiser leaves it alone",
                namespaced(sts)
            );
            if let Some(hint) = crate::spec::known::opt_in_hint(sts) {
                let _ = writeln!(out, "{note}  hint: {hint}");
            }
            out.push('\n');
            continue;
        }
        for u in crate::controller::template_check::unknown_annotations(sts) {
            let _ = writeln!(out, "{}", warning_line(given.output, &format!("StatefulSet {name}: {u}")));
        }
        preview_one(sts, given, &mut out)?;
    }
    let warnings = out.lines().filter(|l| l.starts_with(REPORT_WARNING) || l.starts_with(PODS_WARNING)).count();
    Ok((out, warnings + skipped))
}

/// `namespace/name` (`default` when the manifest names none, as the API server would place it).
fn namespaced(sts: &StatefulSet) -> String {
    let ns = sts.metadata.namespace.as_deref().unwrap_or("default");
    format!("{ns}/{}", sts.metadata.name.as_deref().unwrap_or(""))
}

/// How a warning line starts, by output (what `--strict` counts).
const REPORT_WARNING: &str = "  warning   ";
const PODS_WARNING: &str = "# warning: ";

fn warning_line(output: PreviewShow, w: &str) -> String {
    match output {
        PreviewShow::Report => format!("{REPORT_WARNING}{w}"),
        PreviewShow::Pods => format!("{PODS_WARNING}{}", w.replace('\n', " ")),
    }
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

/// What every StatefulSet of one `preview` is judged with: the defaults, the addresses and classes
/// given, the output, and the Services of the input (which would be adopted, which conflict).
struct Given {
    defaults: Defaults,
    addresses: Vec<(u32, String)>,
    /// `--gateway-address`: every broker's address where no `--address` names one.
    every: Option<String>,
    classes: Option<std::sync::Arc<crate::spec::class::Classes>>,
    output: PreviewShow,
    platform: crate::spec::platform::Platform,
    services: Vec<Service>,
}

impl Given {
    /// The addresses given for this StatefulSet's brokers: each `--address`, and `--gateway-address`
    /// for every other ordinal it may have (under the broker cap).
    fn addresses_of(&self, sts: &StatefulSet) -> Vec<(u32, String)> {
        let Some(every) = &self.every else { return self.addresses.clone() };
        let spec = sts.spec.as_ref();
        let start = spec.and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0).max(0) as u32;
        let replicas = (spec.and_then(|s| s.replicas).unwrap_or(1).max(0) as u32).min(self.defaults.max_brokers);
        let mut out: Vec<(u32, String)> = (start..start.saturating_add(replicas)).map(|o| (o, every.clone())).collect();
        out.extend(self.addresses.iter().cloned());
        out
    }
}

/// The StatefulSet's brokers as the webhook would see them (the addresses and classes given) and
/// its intent; `None` when it is not kafka-advertiser's.
fn plan_for(sts: &StatefulSet, g: &Given) -> Result<Option<(AnyStatefulSet, crate::spec::Intent)>, OfflineError> {
    let selector = sts.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).filter(|m| !m.is_empty());
    let start = sts.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0).max(0) as u32;
    let book = AnyStatefulSet(g.addresses_of(sts), selector.map(std::sync::Arc::new), g.classes.clone(), start);
    let refused = |e: crate::spec::class::ClassError| {
        OfflineError::Denied(format!("StatefulSet {}: {} ({})", namespaced(sts), e, e.reason()))
    };
    match crate::spec::intent(&std::sync::Arc::new(sts.clone()), &g.defaults, &book) {
        Ok(Some(intent)) => Ok(Some((book, intent))),
        Ok(None) => Ok(None),
        Err(crate::spec::IntentError::Class(e)) => Err(refused(e)),
        Err(crate::spec::IntentError::Settings(e) | crate::spec::IntentError::Service(e)) => Err(e.into()),
    }
}

/// What the controller would make for the intent, refused over the broker cap.
fn desired_for(intent: &crate::spec::Intent) -> Result<desired::Desired<'_>, OfflineError> {
    let d = desired::desired(intent)?;
    if let Some(over) = d.over_cap() {
        return Err(OfflineError::Denied(format!("StatefulSet {}/{}: {over}", d.namespace, d.name)));
    }
    Ok(d)
}

fn preview_one(sts: &StatefulSet, g: &Given, out: &mut String) -> Result<(), OfflineError> {
    let Some((book, intent)) = plan_for(sts, g)? else { return Ok(()) };
    let d = desired_for(&intent)?;
    let note = g.output.note_prefix();
    if let Some(c) = &d.class {
        let _ = writeln!(out, "{note}StatefulSet {}/{}: ExternalAccessClass {}", d.namespace, d.name, c.name);
    }
    if g.output == PreviewShow::Pods {
        for w in crate::spec::platform::warnings(g.platform, d.settings.mode, Some(&d.intent.service)) {
            let _ =
                writeln!(out, "{}", warning_line(PreviewShow::Pods, &format!("platform {}: {w}", g.platform.name())));
        }
        return preview_pods(sts, &d, &g.defaults, &book, out);
    }
    let plan = crate::controller::gateway::gateway_plan(&d, sts, &Default::default());
    let cost = crate::controller::cost::cost(&d, plan.as_ref());
    let s = &d.settings;
    let _ = writeln!(
        out,
        "StatefulSet {}/{}: mode {}, brokers {}..{} ({} replicas), anti-affinity {:?} on {}\n  costs     {cost}",
        d.namespace,
        d.name,
        s.mode,
        d.start,
        d.start + d.replicas.saturating_sub(1),
        d.replicas,
        s.anti_affinity,
        s.topology_key
    );
    for w in crate::spec::platform::warnings(g.platform, s.mode, Some(&d.intent.service)) {
        let _ = writeln!(out, "{}", warning_line(PreviewShow::Report, &format!("platform {}: {w}", g.platform.name())));
    }
    preview_report(sts, &d, g, &book, plan.as_ref(), out)
}

/// `--output report` of one StatefulSet: each broker's pod, Service (adopted or in conflict),
/// Gateway listener and Certificate; the bootstrap Service; client discovery.
fn preview_report(
    sts: &StatefulSet,
    d: &desired::Desired,
    g: &Given,
    book: &AnyStatefulSet,
    plan: Option<&crate::controller::gateway::GatewayPlan>,
    out: &mut String,
) -> Result<(), OfflineError> {
    let lb: std::collections::BTreeMap<u32, String> = g.addresses_of(sts).into_iter().collect();
    let hosts = crate::controller::discovery::external_hosts(d, &lb, &Default::default());
    let certificates = crate::controller::certificates::certificates(d, sts, &hosts);
    for ordinal in d.ordinals() {
        let _ = writeln!(out, "\nbroker {ordinal} (pod {}-{ordinal})", d.name);
        preview_pod(sts, ordinal, d, &g.defaults, book, out)?;
        let Some(svc) = d.services.iter().find(|(o, _)| *o == ordinal).map(|(_, s)| s) else {
            let _ = writeln!(out, "  service   none (service-type None)");
            continue;
        };
        preview_service(svc, out);
        preview_adoption(svc, g, d, sts, out);
        if let Some(plan) = plan {
            preview_gateway(plan, Some(ordinal), out);
        }
        if d.settings.tls_issuer.is_some() {
            preview_certificate(&certificates, ordinal, d, out);
        }
    }
    if let Some(b) = &d.bootstrap {
        let port = b.spec.as_ref().and_then(|s| s.ports.as_ref()).and_then(|p| p.first()).map_or(0, |p| p.port);
        let _ =
            writeln!(out, "\nbootstrap service {} port {port} (all brokers)", b.metadata.name.as_deref().unwrap_or(""));
        preview_adoption(b, g, d, sts, out);
        if let Some(plan) = plan {
            preview_gateway(plan, None, out);
        }
    }
    preview_discovery(d, &hosts, out);
    Ok(())
}

/// A Service of the input with the name `wanted` has: adopted as it is, or why not (a warning).
fn preview_adoption(wanted: &Service, g: &Given, d: &desired::Desired, sts: &StatefulSet, out: &mut String) {
    let name = wanted.metadata.name.as_deref().unwrap_or_default();
    let Some(other) = g.services.iter().find(|s| s.metadata.name.as_deref() == Some(name)) else { return };
    let uid = sts.metadata.uid.as_deref().unwrap_or_default();
    use crate::controller::plan::adopt::{judge, Adoption};
    let line = match judge(other, wanted, d, uid) {
        Adoption::Adopt => format!("  adopts    Service {name} of the input, keeping its address ({ANN_ADOPT})"),
        Adoption::Refused(n) => warning_line(PreviewShow::Report, &format!("{}: {}", n.reason, n.note)),
        Adoption::NotAsked => warning_line(
            PreviewShow::Report,
            &format!(
                "ServiceConflict: Service {name} of the input is not kafka-advertiser's and does not ask to be adopted \
                 (annotate it {ANN_ADOPT}: {}): it would be left alone and its broker would get no address",
                d.name
            ),
        ),
    };
    let _ = writeln!(out, "{line}");
}

/// A broker pod as the webhook answers it.
enum Admitted {
    /// Mutated: the pod as stored, and the mutation.
    Pod(Value, mutate::Mutation),
    /// Not ours to change (the template lacks the label, or nothing to do): the pod as created.
    Untouched(Value),
    /// Refused until its address is known.
    /// Waiting for its address: `Some` when the wait ends in a refusal (`pending-timeout` passed and
    /// the broker cannot run with only its internal listener), saying why.
    Pending(Option<String>),
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
        Err(e @ MutateError::AddressPending { reason: crate::mutate::Pending::NotWithoutAddress { .. }, .. }) => {
            return Ok(Admitted::Pending(Some(e.to_string())))
        }
        Err(MutateError::AddressPending { .. }) => return Ok(Admitted::Pending(None)),
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
        Admitted::Pending(refused) => {
            let _ = writeln!(out, "  env       (pending) {}", offline_pending(d, ordinal, refused.as_deref()));
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
        let _ = writeln!(out, "{}", warning_line(PreviewShow::Report, w));
    }
    Ok(())
}

/// Offline, a learned address is not known: say how to give it (in the cluster, the controller learns
/// it), and the webhook's refusal when the wait would end in one (`pending-timeout`).
fn offline_pending(d: &desired::Desired, ordinal: u32, refused: Option<&str>) -> String {
    let wait = address_wanted(d, ordinal);
    match refused {
        Some(why) => format!("{wait}; once pending-timeout passes without it the webhook refuses the broker: {why}"),
        None => wait,
    }
}

fn address_wanted(d: &desired::Desired, ordinal: u32) -> String {
    let what = match d.settings.mode {
        crate::spec::settings::Mode::GatewayTcp => "the Gateway's address (its status.addresses)",
        crate::spec::settings::Mode::SharedAddress => "the shared load balancer's address",
        _ => "the load balancer's address",
    };
    format!("address not known offline: pass --address {ordinal}=HOST, {what}; in the cluster the controller learns it")
}

/// `--show pods`: each broker pod as a YAML document, the webhook's warnings as comments above it.
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
            Admitted::Pending(refused) => {
                let why = offline_pending(d, ordinal, refused.as_deref());
                return Err(OfflineError::Denied(format!("broker {ordinal}: {why}")));
            }
        };
        let _ = writeln!(out, "---\n# StatefulSet {}/{}, broker {ordinal}", d.namespace, d.name);
        for w in m.iter().flat_map(|m| &m.warnings) {
            let _ = writeln!(out, "{}", warning_line(PreviewShow::Pods, w));
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
