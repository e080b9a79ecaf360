//! The mutation: a pure function of (pod, settings, known addresses) → JSON patch or typed error.
//! No I/O here; the admission handler and the offline commands both call [`mutate`].

pub mod affinity;
mod broker;
mod checks;
mod error;
mod host;
pub mod listeners;
mod patch;
pub mod pod;

use broker::*;
pub use broker::{env_name, name_suffix, opted_in, ordinal, service_name};
use checks::*;
pub use error::*;
use host::*;
pub use patch::tls_secret_name;
use patch::*;

use std::collections::BTreeMap;
use std::sync::Arc;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use serde_json::{json, Value};

pub use crate::names::POD_INDEX_LABEL;
use crate::names::{ANN_ADVERTISED, ANN_SERVICE_ANNOTATIONS, ENABLED_LABEL};
use crate::spec::class::{Class, ClassError};
use crate::spec::settings;
use crate::spec::IntentError;

pub use crate::cluster_view::{ClusterLookup, ClusterView, Expect, Lookup, NoAddresses};
use listeners::Listener;
pub use pod::{ContainerView, PodView};
pub use settings::{Defaults, Mode, Settings, SettingsError};
use settings::{HostSource, ANN_ADDRESS, ANN_CONTAINER, ANN_RACK, HOST_IP_ENV, LEGACY_HOST_IP_ENV, POD_IP_ENV};

pub const BITNAMI_ENV: &str = "KAFKA_CFG_ADVERTISED_LISTENERS";
pub const APACHE_ENV: &str = "KAFKA_ADVERTISED_LISTENERS";
pub const DEFAULT_SERVICE_NAME_TEMPLATE: &str = "{statefulset}-{ordinal}-external";

/// The outcome for an opted-in pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// Empty when the pod already carries everything (re-invocation).
    pub patch: Patch,
    pub warnings: Vec<String>,
    /// The listener entries we manage, as advertised (also written to the `advertised` annotation).
    pub advertised: String,
    pub statefulset: String,
    pub ordinal: u32,
    /// The broker container this mutation edits (or would edit).
    pub container: String,
    /// The env var that carries the listeners in that container (empty when left unchanged).
    pub listeners_var: String,
}

/// What the admission request says about the pod, for pods created without `metadata.name` /
/// `metadata.namespace` (the API server fills them in the request).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestNames<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
}

/// JSON pointer from unescaped tokens (`/` and `~` in keys are escaped).
pub(crate) fn ptr(tokens: &[&str]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().copied())
}

/// Do two `advertised` values mean the same listeners? Pods admitted by an earlier release refer to
/// the host-IP var by its legacy name: that is not drift.
pub fn same_advertised(a: &str, b: &str) -> bool {
    a == b || a.replace(LEGACY_HOST_IP_REF, HOST_IP_REF) == b.replace(LEGACY_HOST_IP_REF, HOST_IP_REF)
}

/// Compute the mutation of a full k8s-openapi `Pod` (controller, tests). See [`mutate_view`].
pub fn mutate(
    pod: &Pod,
    names: RequestNames<'_>,
    defaults: &Defaults,
    addresses: &dyn ClusterLookup,
) -> Result<Option<Mutation>, MutateError> {
    mutate_view(&PodView::from(pod), names, defaults, addresses)
}

/// Compute the mutation of one pod. `Ok(None)`: the pod did not opt in, leave it alone.
pub fn mutate_view(
    pod: &PodView,
    names: RequestNames<'_>,
    defaults: &Defaults,
    addresses: &dyn ClusterLookup,
) -> Result<Option<Mutation>, MutateError> {
    decide(pod, names, defaults, addresses, None)
}

/// The mutation of a pod whose settings are already worked out (a StatefulSet's intent, judging its
/// template): no access class is applied again.
pub fn mutate_with(
    pod: &Pod,
    names: RequestNames<'_>,
    defaults: &Defaults,
    settings: Settings,
    addresses: &dyn ClusterLookup,
) -> Result<Option<Mutation>, MutateError> {
    decide(&PodView::from(pod), names, defaults, addresses, Some(settings))
}

fn decide(
    pod: &PodView,
    names: RequestNames<'_>,
    defaults: &Defaults,
    addresses: &dyn ClusterLookup,
    given: Option<Settings>,
) -> Result<Option<Mutation>, MutateError> {
    if !opted_in(pod) {
        return Ok(None);
    }
    let mut warnings = Vec::new();
    let b = read_broker(pod, names, defaults, addresses, given, &mut warnings)?;
    if let Some(m) = controller_only(&b, &mut warnings) {
        return Ok(Some(Mutation { warnings, ..m }));
    }
    let port = b.settings.external_port(b.ordinal)?;
    // `None`: the address is still pending past `pending-timeout`; only the internal listener.
    let host = match external_host(&b, port, addresses, &mut warnings) {
        Ok(h) => Some(h),
        Err(e) if waited_enough(&e, &b, addresses) => None,
        Err(e) => return Err(e),
    };
    class_checks(&b, host.as_deref())?;
    // First come, first served: a name another StatefulSet holds is not this broker's to advertise.
    // The name is the host already rendered (`claims::broker_names`'s, without rendering it again).
    let claimed = host.as_deref().filter(|h| b.settings.host_source() == HostSource::Rendered && !h.is_empty());
    if let Some(h) = claimed.filter(|h| h.parse::<std::net::IpAddr>().is_err()) {
        if addresses.hostname_taken(b.namespace, &b.statefulset, h) {
            return Err(crate::spec::claims::HostnameConflict { host: crate::spec::claims::key(h) }.into());
        }
    }
    let internal_host = internal_host(&b)?;
    let mut ours: Vec<Listener<'_>> = Vec::with_capacity(2);
    if let (Some(internal), Some(h)) = (b.settings.internal_listener.as_deref(), internal_host.as_deref()) {
        ours.push(Listener { name: internal, host: h, port: b.settings.internal_port });
    }
    if let Some(host) = host.as_deref() {
        ours.push(Listener { name: &b.settings.listener, host, port });
    }
    let advertised = listeners::render(&ours);
    let var = env_name(b.container, &b.settings);
    env_warnings(&b, &var, &mut warnings);
    let existing =
        b.container.env.as_ref().and_then(|e| e.iter().rev().find(|e| e.name == var)).and_then(|e| e.value.as_deref());
    let dropped = host.is_none().then_some(b.settings.listener.as_str());
    let value = listeners::merge_without(existing, &ours, dropped);
    if host.is_none() {
        internal_only_checks(&b, &var, &value, &mut warnings)?;
    }
    if let Some(prefix) = var.strip_suffix("ADVERTISED_LISTENERS") {
        listener_checks(b.container, prefix, &b.settings, &value, &mut warnings);
        config_checks(b.container, prefix, &var, &mut warnings);
    }
    let ops = encode(&b, &var, &value, &advertised, addresses, &mut warnings)?;
    Ok(Some(Mutation {
        patch: Patch(ops),
        warnings,
        advertised,
        statefulset: b.statefulset,
        ordinal: b.ordinal,
        container: b.container.name.clone(),
        listeners_var: var,
    }))
}

/// The access class's bounds on what this broker would advertise (`host`, in the hostname modes)
/// and on the Service annotations a tenant sets.
fn class_checks(b: &Broker<'_>, host: Option<&str>) -> Result<(), MutateError> {
    let Some(class) = &b.class else { return Ok(()) };
    // The template is judged in every mode (the controller does the same, `desired::class_bounds`).
    let hostname_mode = matches!(b.settings.mode, Mode::Hostname | Mode::GatewayTls);
    let template = if hostname_mode { None } else { rendered_host(b)? };
    let owner = crate::spec::class::Owner { namespace: b.namespace, statefulset: &b.statefulset };
    class.bounds(&b.settings, b.ordinal, if hostname_mode { host } else { template.as_deref() }, owner)?;
    if let Some(a) = b.pod.metadata.annotations.as_ref().filter(|a| a.contains_key(ANN_SERVICE_ANNOTATIONS)) {
        let map = crate::spec::service::service_annotations(a)?;
        crate::spec::tenant_service_annotations(class, &map, b.ordinal, b.name, owner)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
