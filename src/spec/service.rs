//! The Service-only settings: what shapes the external Services (and only them), read from the pod
//! template's annotations and, winning there, the StatefulSet's own (changing them restarts no broker).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::settings::{invalid, is_valid_host, Mode, Settings, SettingsError};
use crate::names::*;

/// Controller-only settings, from the same pod-template annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSettings {
    pub target_port: IntOrString,
    pub external_traffic_policy: String,
    pub source_ranges: Vec<String>,
    pub lb_class: Option<String>,
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub bootstrap: bool,
    pub bootstrap_port: u16,
    pub retain: bool,
    pub roll_on_change: bool,
    /// gateway-tls: the hostname of the bootstrap TLSRoute.
    pub bootstrap_hostname: Option<String>,
}

fn bool_ann(a: &BTreeMap<String, String>, key: &'static str) -> Result<bool, SettingsError> {
    match a.get(key).map(|s| s.trim()) {
        None | Some("false") | Some("") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(SettingsError::Invalid {
            annotation: key,
            value: v.into(),
            reason: "expected \"true\" or \"false\"".into(),
        }),
    }
}

/// What parsing one `service-annotations`/`service-labels` value may cost: no anchors or aliases
/// (an alias bomb would expand ~64 MiB per parse), one document, a flat map of at most 1,000 entries
/// (as many as the API server's annotation limits allow in practice).
fn map_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_aliases = 0;
    budget.max_anchors = 0;
    budget.max_recorded_anchor_events = 0;
    budget.max_recorded_anchor_bytes = 0;
    budget.max_documents = 1;
    budget.max_depth = 4;
    budget.max_nodes = 2_002;
    budget.max_events = 8_192;
    budget.max_merge_keys = 0;
    budget.max_total_scalar_bytes = 256 * 1024;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

fn map_ann(a: &BTreeMap<String, String>, key: &'static str) -> Result<BTreeMap<String, String>, SettingsError> {
    match a.get(key) {
        None => Ok(BTreeMap::new()),
        // YAML is a superset of JSON: `{"k": "v"}` and `k: v` lines both parse.
        Some(v) => serde_saphyr::from_str_with_options::<Option<BTreeMap<String, String>>>(v, map_options())
            .map(Option::unwrap_or_default)
            .map_err(|e| SettingsError::Invalid {
                annotation: key,
                value: v.clone(),
                reason: format!("expected a YAML or JSON map of strings: {e}"),
            }),
    }
}

/// `service-annotations` as written in `a` (the webhook judges a tenant's against its class).
pub fn service_annotations(a: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, SettingsError> {
    map_ann(a, ANN_SERVICE_ANNOTATIONS)
}

fn broker_container<'a>(spec: Option<&'a PodSpec>, settings: &Settings) -> Option<&'a Container> {
    let cs = &spec?.containers;
    match &settings.container {
        Some(n) => cs.iter().find(|c| &c.name == n),
        None => cs.iter().find(|c| c.name == "kafka").or(cs.first()),
    }
}

/// The Service-only settings: also read from the StatefulSet's own metadata too (taking precedence over the pod template's).
pub const SERVICE_ONLY: [&str; 11] = [
    ANN_BOOTSTRAP_HOSTNAME,
    ANN_SERVICE_ANNOTATIONS,
    ANN_SERVICE_LABELS,
    ANN_LB_SOURCE_RANGES,
    ANN_LB_CLASS,
    ANN_EXTERNAL_TRAFFIC_POLICY,
    ANN_BOOTSTRAP,
    ANN_BOOTSTRAP_PORT,
    ANN_RETAIN,
    ANN_ROLL_ON_CHANGE,
    ANN_TARGET_PORT,
];

/// The Service-only settings of `sts`: `a` is its pod template's annotations (as its class makes
/// them), `settings` its broker settings.
pub fn service_settings(
    sts: &StatefulSet,
    mut a: BTreeMap<String, String>,
    settings: &Settings,
) -> Result<ServiceSettings, SettingsError> {
    // Settings that only shape Services may also sit on the StatefulSet's own metadata, and win there:
    // changing them does not change the pod template, so no broker is restarted.
    if let Some(own) = sts.metadata.annotations.as_ref() {
        for (k, v) in own {
            if SERVICE_ONLY.contains(&k.as_str()) {
                a.insert(k.clone(), v.clone());
            }
        }
    }
    let container = broker_container(sts.spec.as_ref().and_then(|s| s.template.spec.as_ref()), settings);
    let bootstrap_hostname = bootstrap_hostname(&a, settings.mode)?;
    Ok(ServiceSettings {
        bootstrap: bool_ann(&a, ANN_BOOTSTRAP)? || bootstrap_hostname.is_some(),
        bootstrap_hostname,
        target_port: target_port(&a, container)?,
        external_traffic_policy: external_traffic_policy(&a, settings.mode)?,
        source_ranges: a
            .get(ANN_LB_SOURCE_RANGES)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
        lb_class: a.get(ANN_LB_CLASS).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
        annotations: map_ann(&a, ANN_SERVICE_ANNOTATIONS)?,
        labels: map_ann(&a, ANN_SERVICE_LABELS)?,
        bootstrap_port: bootstrap_port(&a, settings)?,
        retain: bool_ann(&a, ANN_RETAIN)?,
        roll_on_change: bool_ann(&a, ANN_ROLL_ON_CHANGE)?,
    })
}

/// The Services' target port: the annotation, else the broker container's port named `external`, else 9094.
fn target_port(a: &BTreeMap<String, String>, container: Option<&Container>) -> Result<IntOrString, SettingsError> {
    let Some(v) = a.get(ANN_TARGET_PORT).map(|s| s.trim()) else {
        return Ok(container
            .and_then(|c| c.ports.as_ref())
            .and_then(|ps| ps.iter().find(|p| p.name.as_deref() == Some("external")))
            .map_or(IntOrString::Int(9094), |p| IntOrString::Int(p.container_port)));
    };
    match v.parse::<i32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(IntOrString::Int(p)),
        Ok(_) => Err(invalid(ANN_TARGET_PORT, v, "port out of range")),
        Err(_) if !v.is_empty() && v.len() <= 15 => Ok(IntOrString::String(v.to_owned())),
        Err(_) => Err(invalid(ANN_TARGET_PORT, v, "expected a port number or name")),
    }
}

fn external_traffic_policy(a: &BTreeMap<String, String>, mode: Mode) -> Result<String, SettingsError> {
    match (mode, a.get(ANN_EXTERNAL_TRAFFIC_POLICY).map(|s| s.trim())) {
        // Every broker Service shares the IP but selects another pod: MetalLB needs Cluster.
        (Mode::SharedAddress, _) => Ok("Cluster".to_owned()),
        (_, None) => Ok("Local".to_owned()),
        (_, Some(v @ ("Local" | "Cluster"))) => Ok(v.to_owned()),
        (_, Some(v)) => Err(invalid(ANN_EXTERNAL_TRAFFIC_POLICY, v, "expected Local or Cluster")),
    }
}

fn bootstrap_port(a: &BTreeMap<String, String>, settings: &Settings) -> Result<u16, SettingsError> {
    match a.get(ANN_BOOTSTRAP_PORT) {
        // shared-address: the brokers hold port-base + N on the shared IP, so the bootstrap sits
        // just below them.
        None if matches!(settings.mode, Mode::SharedAddress | Mode::GatewayTcp) => {
            settings.port_base.checked_sub(1).filter(|p| *p > 0).ok_or_else(|| {
                invalid(
                    ANN_BOOTSTRAP_PORT,
                    "",
                    "port-base is 1, so there is no port below the brokers' for the bootstrap: set it",
                )
            })
        }
        None => Ok(settings.port),
        Some(v) => v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| invalid(ANN_BOOTSTRAP_PORT, v, "must be a port number between 1 and 65535")),
    }
}

fn bootstrap_hostname(a: &BTreeMap<String, String>, mode: Mode) -> Result<Option<String>, SettingsError> {
    match a.get(ANN_BOOTSTRAP_HOSTNAME).map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(h) if mode != Mode::GatewayTls => Err(invalid(
            ANN_BOOTSTRAP_HOSTNAME,
            h,
            format!("is for gateway-tls mode only (this StatefulSet is in {mode} mode)"),
        )),
        Some(h) if is_valid_host(h) && h.parse::<std::net::IpAddr>().is_err() => Ok(Some(h.to_owned())),
        Some(h) => {
            Err(invalid(ANN_BOOTSTRAP_HOSTNAME, h, "expected a DNS name (a TLSRoute routes by SNI name, never by IP)"))
        }
    }
}
