//! `preview -o json|yaml`: the same decisions as the text report (the webhook's admission of each
//! broker pod, the controller's desired objects), as one document a script can read.

use serde_json::{json, Value};

use super::*;

/// `{"source": …, "statefulSets": [...], "skipped": [...]}`, and how many warnings and skipped
/// StatefulSets it holds (what `--strict` counts).
pub(super) fn preview_doc(
    statefulsets: &[StatefulSet],
    g: &Given,
    source: &str,
    format: Format,
) -> Result<(String, usize), OfflineError> {
    let (mut items, mut skipped, mut problems) = (Vec::new(), Vec::new(), 0);
    for sts in statefulsets {
        if !crate::spec::opted_in(sts) {
            problems += 1;
            skipped.push(json!({
                "statefulSet": namespaced(sts),
                "reason": format!("the pod template lacks the label {}=\"true\"", crate::names::ENABLED_LABEL),
                "hint": crate::spec::known::opt_in_hint(sts),
            }));
            continue;
        }
        let Some((book, intent)) = plan_for(sts, g)? else { continue };
        let d = desired_for(&intent)?;
        let item = statefulset_doc(sts, g, &book, &d)?;
        problems += item["warnings"].as_array().map_or(0, Vec::len);
        problems += item["brokers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| b["warnings"].as_array().map_or(0, Vec::len))
            .sum::<usize>();
        items.push(item);
    }
    let doc = json!({"source": source, "statefulSets": items, "skipped": skipped});
    Ok((crate::output::document(format, &doc), problems))
}

/// One StatefulSet: its settings, cost and warnings, each broker, and every object kafka-advertiser
/// would write for it.
fn statefulset_doc(
    sts: &StatefulSet,
    g: &Given,
    book: &AnyStatefulSet,
    d: &desired::Desired,
) -> Result<Value, OfflineError> {
    let plan = crate::controller::gateway::gateway_plan(d, sts, &Default::default());
    let cost = crate::controller::cost::cost(d, plan.as_ref());
    let mut warnings: Vec<String> =
        crate::controller::template_check::unknown_annotations(sts).iter().map(ToString::to_string).collect();
    let platform = crate::spec::platform::warnings(g.platform, d.settings.mode, Some(&d.intent.service));
    warnings.extend(platform.into_iter().map(|w| format!("platform {}: {w}", g.platform.name())));
    let lb: std::collections::BTreeMap<u32, String> = g.addresses_of(sts).into_iter().collect();
    let hosts = crate::controller::discovery::external_hosts(d, &lb, &Default::default());
    let certificates = crate::controller::certificates::certificates(d, sts, &hosts);
    let mut brokers = Vec::new();
    for ordinal in d.ordinals() {
        let service = d.services.iter().find(|(o, _)| *o == ordinal).map(|(_, s)| s);
        let mut b = broker_doc(sts, ordinal, d, g, book)?;
        b["service"] = json!(service);
        b["certificate"] = json!(certificates.iter().find(|(o, _)| *o == ordinal).map(|(_, c)| c));
        b["route"] =
            json!(plan.as_ref().and_then(|p| p.routes.iter().find(|(o, _)| *o == Some(ordinal))).map(|(_, r)| r));
        if let Some(w) = service.and_then(|s| adoption_warning(s, g, d, sts)) {
            if let Some(a) = b["warnings"].as_array_mut() {
                a.push(json!(w));
            }
        }
        brokers.push(b);
    }
    let endpoints = crate::controller::discovery::external_endpoints(d, &hosts);
    Ok(json!({
        "namespace": d.namespace,
        "name": d.name,
        "class": d.class.as_ref().map(|c| c.name.clone()),
        "mode": d.settings.mode.as_str(),
        "ordinals": {"first": d.start, "last": d.start + d.replicas.saturating_sub(1), "replicas": d.replicas},
        "antiAffinity": format!("{:?}", d.settings.anti_affinity).to_lowercase(),
        "topologyKey": d.settings.topology_key,
        "cost": cost.to_string(),
        "warnings": warnings,
        "brokers": brokers,
        "bootstrap": d.bootstrap,
        "gateway": plan.as_ref().map(|p| json!({
            "gateway": p.gateway(), "listeners": p.listeners, "listenerSet": p.listener_set,
            "bootstrapRoute": p.routes.iter().find(|(o, _)| o.is_none()).map(|(_, r)| r),
        })),
        "discovery": crate::controller::discovery::discovery_configmap(sts, &endpoints),
    }))
}

/// One broker: its pod, what the webhook sets in the broker container (or why it waits), its warnings.
fn broker_doc(
    sts: &StatefulSet,
    ordinal: u32,
    d: &desired::Desired,
    g: &Given,
    book: &AnyStatefulSet,
) -> Result<Value, OfflineError> {
    let pod = format!("{}-{ordinal}", d.name);
    let (patched, m) = match admit(sts, ordinal, &g.defaults, book)? {
        Admitted::Pod(p, m) => (p, m),
        Admitted::Untouched(_) => return Ok(json!({"ordinal": ordinal, "pod": pod, "warnings": []})),
        Admitted::Pending(refused) => {
            let pending = offline_pending(d, ordinal, refused.as_deref());
            return Ok(json!({"ordinal": ordinal, "pod": pod, "pending": pending, "warnings": []}));
        }
    };
    let typed: Pod = serde_json::from_value(patched).unwrap_or_default();
    let spec = typed.spec.unwrap_or_default();
    let container = spec.containers.iter().find(|c| c.name == m.container);
    // The last entry of a name is the one the kubelet uses.
    let mut env = serde_json::Map::new();
    for e in container.and_then(|c| c.env.as_ref()).into_iter().flatten() {
        let field =
            e.value_from.as_ref().and_then(|v| v.field_ref.as_ref()).map(|f| format!("fieldRef {}", f.field_path));
        if let Some(v) = e.value.clone().or(field) {
            env.insert(e.name.clone(), json!(v));
        }
    }
    let env: serde_json::Map<String, Value> = env
        .into_iter()
        .filter(|(k, _)| *k == m.listeners_var || k.ends_with("_BROKER_RACK") || k.starts_with("ADVERTISER_"))
        .collect();
    Ok(json!({
        "ordinal": ordinal, "pod": pod, "container": m.container, "env": env,
        "affinity": spec.affinity, "warnings": m.warnings,
    }))
}

/// Why a Service of the input with the broker Service's name would not be adopted (as the text says).
fn adoption_warning(wanted: &Service, g: &Given, d: &desired::Desired, sts: &StatefulSet) -> Option<String> {
    let mut line = String::new();
    preview_adoption(wanted, g, d, sts, &mut line);
    line.trim_start().strip_prefix("warning").map(|w| w.trim().to_owned())
}

/// `--show pods -o json`: the admitted broker pods as a `v1 List` (warnings go to stderr).
pub(super) fn pods_list(statefulsets: &[StatefulSet], g: &Given) -> Result<(String, usize), OfflineError> {
    let (mut items, mut problems) = (Vec::new(), 0);
    for sts in statefulsets {
        if !crate::spec::opted_in(sts) {
            problems += 1;
            continue;
        }
        let Some((book, intent)) = plan_for(sts, g)? else { continue };
        let d = desired_for(&intent)?;
        for ordinal in d.ordinals() {
            let pod = match admit(sts, ordinal, &g.defaults, &book)? {
                Admitted::Pod(p, m) => {
                    for w in &m.warnings {
                        eprintln!("warning: StatefulSet {}/{} broker {ordinal}: {w}", d.namespace, d.name);
                    }
                    problems += m.warnings.len();
                    p
                }
                Admitted::Untouched(p) => p,
                Admitted::Pending(refused) => {
                    let why = offline_pending(&d, ordinal, refused.as_deref());
                    return Err(OfflineError::Denied(format!("broker {ordinal}: {why}")));
                }
            };
            items.push(pod);
        }
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    Ok((crate::output::document(Format::Json, &list), problems))
}
