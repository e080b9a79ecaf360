//! The mutation: a pure function of (pod, settings, known addresses) → JSON patch or typed error.
//! No I/O here; the admission handler and the offline commands both call [`mutate`].

pub mod addresses;
pub mod affinity;
pub mod listeners;
pub mod pod;

use std::collections::BTreeMap;
use std::sync::Arc;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use serde_json::{json, Value};

pub use crate::names::POD_INDEX_LABEL;
use crate::names::{ANN_ADVERTISED, ENABLED_LABEL};
use crate::spec::class::{Class, ClassError};
use crate::spec::settings;
use crate::spec::IntentError;

pub use addresses::{AddressBook, AddressLookup, Expect, Lookup, NoAddresses};
use listeners::Listener;
pub use pod::{ContainerView, PodView};
pub use settings::{Defaults, Mode, Settings, SettingsError};
use settings::{HostSource, ANN_ADDRESS, ANN_CONTAINER, ANN_RACK, HOST_IP_ENV, LEGACY_HOST_IP_ENV, POD_IP_ENV};

pub const BITNAMI_ENV: &str = "KAFKA_CFG_ADVERTISED_LISTENERS";
pub const APACHE_ENV: &str = "KAFKA_ADVERTISED_LISTENERS";
pub const DEFAULT_SERVICE_NAME_TEMPLATE: &str = "{statefulset}-{ordinal}-external";

/// Why a pod cannot be admitted. Every message says what to change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MutateError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(
        "pod {pod:?} has no broker ordinal: no label {POD_INDEX_LABEL} and its name has no -<number> suffix; \
         kafka-advertiser only handles StatefulSet pods, remove the label {ENABLED_LABEL} from other pods"
    )]
    NoOrdinal { pod: String },
    #[error("label {POD_INDEX_LABEL}={value:?} is not a non-negative integer")]
    BadPodIndex { value: String },
    #[error("pod {pod:?} is not owned by a StatefulSet and its name does not look like <statefulset>-<ordinal>")]
    NoStatefulSet { pod: String },
    #[error(
        "broker {ordinal} is past the cap of {cap} brokers per StatefulSet (ordinals {start} to {last}): lower \
         spec.replicas, or have the platform raise --max-brokers (or the access class's maxBrokers)",
        last = start.saturating_add(cap.saturating_sub(1))
    )]
    TooManyBrokers { ordinal: u32, start: u32, cap: u32 },
    #[error("pod has no containers")]
    NoContainers,
    #[error("annotation {ANN_CONTAINER}={name:?} names no container of the pod (containers: {available})")]
    ContainerNotFound { name: String, available: String },
    #[error(
        "container {name:?} is not in StatefulSet {statefulset}'s pod template (another webhook injected it?): \
         kafka-advertiser edits only the StatefulSet's own containers; set {ANN_CONTAINER} to one of: {template}"
    )]
    ContainerNotInTemplate { name: String, statefulset: String, template: String },
    #[error(
        "pod {pod:?} has no spec.subdomain, so its internal listener has no resolvable name: set serviceName on \
         the StatefulSet to its headless Service, or annotate kafka-advertiser.io/internal-listener: none"
    )]
    NoSubdomain { pod: String },
    /// `other` names the other StatefulSet only when it is in the same namespace (a tenant learns nothing
    /// about other namespaces from a denial).
    #[error(
        "node port {port} of StatefulSet {statefulset} is already held by the Service of {other}: clients would \
         reach the other StatefulSet's broker; set kafka-advertiser.io/node-port-base to a range no other \
         StatefulSet uses"
    )]
    NodePortClash { port: u16, statefulset: String, other: String },
    #[error(
        "the address {value:?} learned from {source_of} is not an IP address or a DNS name; kafka-advertiser puts \
         only those into the broker's environment (no '$', ',', spaces or control characters): fix the address \
         at its source"
    )]
    InvalidAddress { value: String, source_of: String },
    #[error(
        "container {container:?} already mounts volume {volume:?} at {path}, where kafka-advertiser.io/tls-issuer \
         mounts the broker certificate: set kafka-advertiser.io/tls-mount-path to another directory"
    )]
    TlsMountPathTaken { container: String, volume: String, path: String },
    #[error("waiting for the external address of broker {ordinal} of StatefulSet {namespace}/{statefulset}: {reason}")]
    AddressPending { namespace: String, statefulset: String, ordinal: u32, reason: Pending },
    #[error(transparent)]
    Class(#[from] ClassError),
}

/// Why a broker's address is not known, and what to look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Pending {
    #[error(
        "Service {namespace}/{service} does not exist yet; kafka-advertiser's controller creates it (if it does not \
         appear, check that the controller is running, and see the Warning Events on the StatefulSet: kubectl \
         describe statefulset -n {namespace} {statefulset}); the StatefulSet controller retries this pod"
    )]
    NoService { namespace: String, service: String, statefulset: String },
    #[error(
        "Service {namespace}/{service} has no status.loadBalancer.ingress yet (is a load-balancer implementation \
         installed? kubectl describe service -n {namespace} {service}); the StatefulSet controller retries this pod"
    )]
    NoAddress { namespace: String, service: String },
    #[error(
        "this webhook has not read the cluster's Services yet, so it cannot know Service {namespace}/{service} \
         (caches not synced: it is starting, or runs --standalone); the StatefulSet controller retries this pod"
    )]
    NotSynced { namespace: String, service: String },
    #[error(
        "namespace {namespace} is not watched by this install (--namespace {watched}): add it to --namespace, or \
         exclude the namespace from the webhook's namespaceSelector"
    )]
    NotWatched { namespace: String, watched: String },
    #[error(
        "Gateway {namespace}/{name} has no status.addresses yet (is a Gateway controller running for its class? kubectl \
         describe gateway -n {namespace} {name}), or set kafka-advertiser.io/address; the StatefulSet controller \
         retries this pod"
    )]
    NoGatewayAddress { namespace: String, name: String },
}

impl From<IntentError> for MutateError {
    fn from(e: IntentError) -> Self {
        match e {
            IntentError::Class(e) => MutateError::Class(e),
            IntentError::Settings(e) | IntentError::Service(e) => MutateError::Settings(e),
        }
    }
}

impl MutateError {
    /// Errors that go away by themselves (the StatefulSet controller retries).
    pub fn is_retryable(&self) -> bool {
        matches!(self, MutateError::AddressPending { .. })
    }

    /// The denial's reason as a metric label: one of [`DENIAL_REASONS`], a fixed set.
    pub fn reason(&self) -> &'static str {
        match self {
            MutateError::Settings(_) => "settings",
            MutateError::NoOrdinal { .. } | MutateError::BadPodIndex { .. } => "no_ordinal",
            MutateError::TooManyBrokers { .. } => "too_many_brokers",
            MutateError::NoStatefulSet { .. } => "no_statefulset",
            MutateError::NoContainers | MutateError::ContainerNotFound { .. } => "container",
            MutateError::ContainerNotInTemplate { .. } => "container",
            MutateError::NoSubdomain { .. } => "no_subdomain",
            MutateError::NodePortClash { .. } => "node_port_clash",
            MutateError::InvalidAddress { .. } => "invalid_address",
            MutateError::TlsMountPathTaken { .. } => "tls_mount_path",
            MutateError::AddressPending { .. } => "address_pending",
            MutateError::Class(_) => "class",
        }
    }
}

/// Every value [`MutateError::reason`] returns, `bad_object` (a request whose object is no Pod) and
/// `over_limit` (a review over an admission limit, `admission::limits`).
pub const DENIAL_REASONS: [&str; 13] = [
    "settings",
    "no_ordinal",
    "no_statefulset",
    "container",
    "no_subdomain",
    "node_port_clash",
    "invalid_address",
    "tls_mount_path",
    "address_pending",
    "class",
    "bad_object",
    "over_limit",
    "too_many_brokers",
];

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

/// Whether the pod opted in (label `kafka-advertiser.io/enabled: "true"`).
pub fn opted_in(pod: &PodView) -> bool {
    pod.metadata.labels.as_ref().and_then(|l| l.get(ENABLED_LABEL)).is_some_and(|v| v == "true")
}

/// Ordinal: label `apps.kubernetes.io/pod-index`, else the `-<digits>` suffix of the name.
pub fn ordinal(labels: Option<&BTreeMap<String, String>>, name: &str) -> Result<Option<u32>, MutateError> {
    if let Some(v) = labels.and_then(|l| l.get(POD_INDEX_LABEL)) {
        return v.parse::<u32>().map(Some).map_err(|_| MutateError::BadPodIndex { value: v.clone() });
    }
    Ok(name_suffix(name).map(|(_, o)| o))
}

/// `kafka-12` → `("kafka", 12)`.
pub fn name_suffix(name: &str) -> Option<(&str, u32)> {
    let (prefix, digits) = name.rsplit_once('-')?;
    if prefix.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // StatefulSet ordinals have no leading zeros; "kafka-01" is not broker 1.
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok().map(|o| (prefix, o))
}

fn statefulset_name(pod: &PodView, name: &str) -> Option<String> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "StatefulSet" && o.controller == Some(true))
        .map(|o| o.name.clone())
        .or_else(|| name_suffix(name).map(|(p, _)| p.to_owned()))
}

/// Service name of one broker (shared with the controller).
pub fn service_name(template: Option<&str>, statefulset: &str, ordinal: u32, namespace: &str) -> String {
    let t = template.unwrap_or(DEFAULT_SERVICE_NAME_TEMPLATE);
    settings::render_unchecked(t, ordinal, &format!("{statefulset}-{ordinal}"), namespace, statefulset)
}

fn pick_container<'p>(
    containers: &'p [ContainerView],
    settings: &Settings,
) -> Result<(usize, &'p ContainerView, bool), MutateError> {
    if containers.is_empty() {
        return Err(MutateError::NoContainers);
    }
    match &settings.container {
        Some(want) => {
            containers.iter().position(|c| &c.name == want).map(|i| (i, &containers[i], false)).ok_or_else(|| {
                MutateError::ContainerNotFound {
                    name: want.clone(),
                    available: containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
                }
            })
        }
        None => {
            // The container named kafka; else the one that configures Kafka (listener env vars, a Kafka
            // image), never a sidecar an injector put first; else the first, with a warning.
            let configures = |c: &ContainerView| {
                c.env.iter().flatten().any(|e| e.name.starts_with("KAFKA_") && e.name.ends_with("LISTENERS"))
            };
            let kafka_image = |c: &ContainerView| {
                c.image.as_deref().is_some_and(|i| {
                    let repo = i.rsplit('/').next().unwrap_or(i);
                    repo.starts_with("kafka") || repo.starts_with("cp-kafka") || repo.starts_with("cp-server")
                })
            };
            let found = containers
                .iter()
                .position(|c| c.name == "kafka")
                .or_else(|| containers.iter().position(configures))
                .or_else(|| containers.iter().position(kafka_image));
            Ok(match found {
                Some(i) => (i, &containers[i], false),
                None => (0, &containers[0], containers.len() > 1),
            })
        }
    }
}

fn env_value<'c>(container: &'c ContainerView, name: &str) -> Option<&'c str> {
    env_value_parts(container, "", name)
}

/// The value of env var `{prefix}{suffix}`, without building the name (admission hot path).
fn env_value_parts<'c>(container: &'c ContainerView, prefix: &str, suffix: &str) -> Option<&'c str> {
    container
        .env
        .as_ref()?
        .iter()
        .rev()
        .find(|e| e.name.strip_prefix(prefix) == Some(suffix))
        .and_then(|e| e.value.as_deref())
}

/// Which env var carries the advertised listeners for this container.
pub fn env_name(container: &ContainerView, settings: &Settings) -> String {
    if let Some(e) = &settings.env {
        return e.clone();
    }
    let defined = |n: &str| container.env.iter().flatten().any(|e| e.name == n);
    // KAFKA_ADVERTISED_LISTENERS first: apache/kafka and cp-kafka read it, and Bitnami's libkafka.sh
    // copies it over KAFKA_CFG_ADVERTISED_LISTENERS when set (kafka_create_alias_environment_variables).
    if defined(APACHE_ENV) {
        APACHE_ENV.into()
    } else if defined(BITNAMI_ENV) || is_bitnami(container) {
        BITNAMI_ENV.into()
    } else {
        APACHE_ENV.into()
    }
}

/// A Bitnami image (`bitnami/kafka`, `bitnamilegacy/kafka`, a mirror of either): `KAFKA_CFG_*` rules.
fn is_bitnami(container: &ContainerView) -> bool {
    container.image.as_deref().is_some_and(|i| i.contains("bitnami"))
}

/// What Kafka refuses to start with (KafkaConfig, 3.x and 4.x): advertised names not in `listeners`, a
/// name missing from the protocol map, an inter-broker listener that is not advertised; and what
/// breaks replication quietly: an internal port other than the one the broker listens on.
fn listener_checks(
    container: &ContainerView,
    prefix: &str,
    settings: &Settings,
    value: &str,
    warnings: &mut Vec<String>,
) {
    let c = &container.name;
    let ours: Vec<(&str, &'static str)> = settings
        .internal_listener
        .as_deref()
        .map(|i| (i, "kafka-advertiser.io/internal-listener"))
        .into_iter()
        .chain(std::iter::once((settings.listener.as_str(), "kafka-advertiser.io/listener")))
        .collect();
    // The names are built only for a warning.
    let listeners_var = format_args!("{prefix}LISTENERS");
    match env_value_parts(container, prefix, "LISTENERS") {
        None => warnings.push(format!(
            "kafka-advertiser: container {c:?} does not set {listeners_var}: apache/kafka and cp-kafka then derive \
             the listeners from the advertised ones (binding the external port) and Bitnami keeps its defaults; \
             set {listeners_var} with {}",
            ours.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" and ")
        )),
        Some(declared) => {
            let missing: Vec<String> = ours
                .iter()
                .filter(|(n, _)| !listeners::declares(declared, n))
                .map(|(n, a)| format!("{n} ({a})"))
                .collect();
            if !missing.is_empty() {
                warnings.push(format!(
                    "kafka-advertiser: {listeners_var} of container {c:?} does not declare the listener {}; Kafka \
                     refuses advertised listeners it does not listen on",
                    missing.join(" nor ")
                ));
            }
            if let Some(internal) = settings.internal_listener.as_deref() {
                let port = declared
                    .split(',')
                    .find(|e| listeners::entry_name(e).is_some_and(|n| n.eq_ignore_ascii_case(internal)))
                    .and_then(|e| e.rsplit(':').next())
                    .and_then(|p| p.trim().parse::<u16>().ok());
                if let Some(port) = port.filter(|p| *p != settings.internal_port) {
                    warnings.push(format!(
                        "kafka-advertiser: {listeners_var} of container {c:?} listens for {internal} on port {port} but \
                         {} is advertised to the other brokers: set kafka-advertiser.io/internal-port: \"{port}\"",
                        settings.internal_port
                    ));
                }
            }
        }
    }
    let map_var = format_args!("{prefix}LISTENER_SECURITY_PROTOCOL_MAP");
    if let Some(map) = env_value_parts(container, prefix, "LISTENER_SECURITY_PROTOCOL_MAP") {
        let missing: Vec<String> =
            ours.iter().filter(|(n, _)| !listeners::declares(map, n)).map(|(n, a)| format!("{n} ({a})")).collect();
        if !missing.is_empty() {
            warnings.push(format!(
                "kafka-advertiser: {map_var} of container {c:?} does not declare the listener {}; Kafka refuses a \
                 listener without a security protocol: add it to the map (e.g. {}:PLAINTEXT, or SSL)",
                missing.join(" nor "),
                ours.iter().find(|(n, _)| !listeners::declares(map, n)).map_or("", |(n, _)| n)
            ));
        }
    }
    let ibl_var = format_args!("{prefix}INTER_BROKER_LISTENER_NAME");
    if let Some(ibl) =
        env_value_parts(container, prefix, "INTER_BROKER_LISTENER_NAME").map(str::trim).filter(|v| !v.is_empty())
    {
        if !value.split(',').any(|e| listeners::entry_name(e).is_some_and(|n| n.eq_ignore_ascii_case(ibl))) {
            warnings.push(format!(
                "kafka-advertiser: {ibl_var}={ibl} of container {c:?} is not among the advertised listeners {value}; \
                 Kafka refuses to start: name it in kafka-advertiser.io/internal-listener"
            ));
        }
    }
}

/// `KAFKA_*` variables apache/kafka's Java wrapper does not turn into server properties
/// (kafka.docker.KafkaDockerWrapper, as cp-kafka's `kafka.properties.template` excludes them).
const NOT_SERVER_PROPERTIES: [&str; 11] = [
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_HOSTNAME",
];

/// What else of the broker's config Kafka refuses to start with, read from the env: a listener name
/// declared twice; and, under the apache/kafka rules, a template whose only server property would be
/// the advertised listeners we add. That image applies its default config only when no `KAFKA_*`
/// variable sets a property (and cp-kafka has none), so the broker would start without
/// `process.roles` and `node.id`.
fn config_checks(container: &ContainerView, prefix: &str, var: &str, warnings: &mut Vec<String>) {
    let c = &container.name;
    if let Some(declared) = env_value_parts(container, prefix, "LISTENERS") {
        // No allocation: a handful of names, compared pairwise (Kafka upper-cases them).
        let names = || declared.split(',').filter_map(listeners::entry_name);
        let twice = names().enumerate().find(|(i, n)| names().take(*i).any(|m| m.eq_ignore_ascii_case(n)));
        if let Some((_, twice)) = twice {
            let twice = twice.to_uppercase();
            warnings.push(format!(
                "kafka-advertiser: {prefix}LISTENERS of container {c:?} declares the listener {twice} twice; Kafka \
                 refuses to start: each listener must have a different name"
            ));
        }
    }
    if prefix != "KAFKA_" || is_bitnami(container) || container.env_from > 0 {
        return;
    }
    let property = |n: &str| n.starts_with("KAFKA_") && n != var && !NOT_SERVER_PROPERTIES.contains(&n);
    if !container.env.iter().flatten().any(|e| property(&e.name)) {
        warnings.push(format!(
            "kafka-advertiser: container {c:?} sets no KAFKA_* server setting besides the advertised listeners \
             kafka-advertiser adds: the apache/kafka image then skips its default config (it applies it only when \
             no KAFKA_* variable is set) and cp-kafka has none, so Kafka refuses to start without process.roles and \
             node.id; set KAFKA_PROCESS_ROLES, KAFKA_NODE_ID, KAFKA_LISTENERS and the controller settings (see \
             deploy/examples/kafka-apache.yaml)"
        ));
    }
}

/// `$(ADVERTISER_HOST_IP)`: the kubelet expands it (the var is defined before the listeners var).
const HOST_IP_REF: &str = "$(ADVERTISER_HOST_IP)";
const LEGACY_HOST_IP_REF: &str = "$(KAFKA_ADVERTISER_HOST_IP)";
/// `$(ADVERTISER_POD_IP)`, in pod-ip mode.
const POD_IP_REF: &str = "$(ADVERTISER_POD_IP)";
/// The helper variables we own: at most one, the one the mode needs, before the listeners var.
const HELPER_ENVS: [&str; 3] = [HOST_IP_ENV, LEGACY_HOST_IP_ENV, POD_IP_ENV];

/// Do two `advertised` values mean the same listeners? Pods admitted by an earlier release refer to
/// the host-IP var by its legacy name: that is not drift.
pub fn same_advertised(a: &str, b: &str) -> bool {
    a == b || a.replace(LEGACY_HOST_IP_REF, HOST_IP_REF) == b.replace(LEGACY_HOST_IP_REF, HOST_IP_REF)
}

/// An env var from the downward API.
fn field_var(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { api_version: None, field_path: field_path.into() }),
            ..Default::default()
        }),
    }
}

/// Whether `e` is exactly `want` (a downward-API var; the API server defaults `apiVersion`).
fn is_field_var(e: &EnvVar, want: &EnvVar) -> bool {
    let path = |e: &EnvVar| e.value_from.as_ref().and_then(|v| v.field_ref.as_ref()).map(|f| f.field_path.clone());
    e.name == want.name && e.value.is_none() && path(e).is_some() && path(e) == path(want)
}

fn env_json(e: &EnvVar) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// What the broker container's env must hold.
struct EnvWant<'a> {
    /// The listeners var and its value.
    var: &'a str,
    value: &'a str,
    /// The helper the value refers to (`ADVERTISER_HOST_IP`, `ADVERTISER_POD_IP`), before `var`.
    helper: Option<EnvVar>,
    /// The broker-rack var (downward API), anywhere.
    rack: Option<EnvVar>,
}

/// Operations that set the listeners var, the helper var before it, and the rack var.
fn env_ops(ci: usize, container: &ContainerView, want: &EnvWant<'_>, ops: &mut Vec<PatchOperation>) {
    let (var, value) = (want.var, want.value);
    let idx = ci.to_string();
    let base = ["spec", "containers", idx.as_str(), "env"];
    let listeners_var = EnvVar { name: var.to_owned(), value: Some(value.to_owned()), value_from: None };
    let Some(env) = container.env.as_ref() else {
        let mut vars = Vec::with_capacity(3);
        if let Some(h) = &want.helper {
            vars.push(env_json(h));
        }
        vars.push(env_json(&listeners_var));
        if let Some(r) = &want.rack {
            vars.push(env_json(r));
        }
        ops.push(PatchOperation::Add(AddOperation { path: ptr(&base), value: Value::Array(vars) }));
        return;
    };
    let at = |i: usize| {
        let i = i.to_string();
        ptr(&[base[0], base[1], base[2], base[3], i.as_str()])
    };
    // Simulated names after each op, so later indices are right.
    let mut names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    let pos = |names: &[&str], n: &str| names.iter().rposition(|x| *x == n);
    if let Some(helper) = &want.helper {
        // We own these names: exactly one, the right one, before the listeners var. The legacy
        // name goes too: apache/kafka would turn it into a broker property.
        let l = pos(&names, var);
        let hosts: Vec<usize> =
            names.iter().enumerate().filter(|(_, n)| HELPER_ENVS.contains(n)).map(|(i, _)| i).collect();
        let ok = matches!(hosts.as_slice(), [h] if is_field_var(&env[*h], helper) && l.is_none_or(|l| *h < l));
        if !ok {
            for &h in hosts.iter().rev() {
                ops.push(PatchOperation::Remove(RemoveOperation { path: at(h) }));
                names.remove(h);
            }
            let insert = pos(&names, var).unwrap_or(names.len());
            ops.push(PatchOperation::Add(AddOperation { path: at(insert), value: env_json(helper) }));
            names.insert(insert, helper.name.as_str());
        }
    }
    match pos(&names, var) {
        Some(l) => {
            let current = env.iter().rev().find(|e| e.name == var);
            let same = current.is_some_and(|e| e.value.as_deref() == Some(value) && e.value_from.is_none());
            if !same {
                ops.push(PatchOperation::Replace(ReplaceOperation { path: at(l), value: env_json(&listeners_var) }));
            }
        }
        None => {
            ops.push(PatchOperation::Add(AddOperation {
                path: ptr(&[base[0], base[1], base[2], base[3], "-"]),
                value: env_json(&listeners_var),
            }));
            names.push(var);
        }
    }
    if let Some(rack) = &want.rack {
        // The last entry of a name is the one the kubelet uses.
        match pos(&names, &rack.name) {
            Some(r) => {
                if !env.iter().rev().find(|e| e.name == rack.name).is_some_and(|e| is_field_var(e, rack)) {
                    ops.push(PatchOperation::Replace(ReplaceOperation { path: at(r), value: env_json(rack) }));
                }
            }
            None => ops.push(PatchOperation::Add(AddOperation {
                path: ptr(&[base[0], base[1], base[2], base[3], "-"]),
                value: env_json(rack),
            })),
        }
    }
}

/// Name of the Secret (and the cert-manager Certificate) of a broker's certificate.
pub fn tls_secret_name(pod: &str) -> String {
    format!("{pod}-tls")
}

/// Operations that mount the broker's certificate Secret read-only in the broker container: a
/// volume [`settings::TLS_VOLUME`] and its mount, each added or corrected, never duplicated.
fn tls_ops(
    spec: &pod::SpecView,
    ci: usize,
    container: &ContainerView,
    pod: &str,
    path: &str,
    ops: &mut Vec<PatchOperation>,
) -> Result<(), MutateError> {
    let secret = tls_secret_name(pod);
    let volume = json!({"name": settings::TLS_VOLUME, "secret": {"secretName": secret}});
    match spec.volumes.as_deref() {
        None => ops.push(PatchOperation::Add(AddOperation { path: ptr(&["spec", "volumes"]), value: json!([volume]) })),
        Some(vs) => match vs.iter().position(|v| v.name == settings::TLS_VOLUME) {
            Some(i) if vs[i].secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(secret.as_str()) => {}
            Some(i) => ops.push(PatchOperation::Replace(ReplaceOperation {
                path: ptr(&["spec", "volumes", &i.to_string()]),
                value: volume,
            })),
            None => ops.push(PatchOperation::Add(AddOperation { path: ptr(&["spec", "volumes", "-"]), value: volume })),
        },
    }
    let mount = json!({"name": settings::TLS_VOLUME, "mountPath": path, "readOnly": true});
    let ci = ci.to_string();
    let base = ["spec", "containers", ci.as_str(), "volumeMounts"];
    match container.volume_mounts.as_deref() {
        None => ops.push(PatchOperation::Add(AddOperation { path: ptr(&base), value: json!([mount]) })),
        Some(ms) => {
            let same_path = |m: &pod::MountView| m.mount_path.trim_end_matches('/') == path;
            if let Some(other) = ms.iter().find(|m| m.name != settings::TLS_VOLUME && same_path(m)) {
                return Err(MutateError::TlsMountPathTaken {
                    container: container.name.clone(),
                    volume: other.name.clone(),
                    path: path.to_owned(),
                });
            }
            match ms.iter().position(|m| m.name == settings::TLS_VOLUME) {
                Some(i) if same_path(&ms[i]) && ms[i].read_only == Some(true) => {}
                Some(i) => ops.push(PatchOperation::Replace(ReplaceOperation {
                    path: ptr(&[base[0], base[1], base[2], base[3], &i.to_string()]),
                    value: mount,
                })),
                None => ops.push(PatchOperation::Add(AddOperation {
                    path: ptr(&[base[0], base[1], base[2], base[3], "-"]),
                    value: mount,
                })),
            }
        }
    }
    Ok(())
}

/// Compute the mutation of a full k8s-openapi `Pod` (controller, tests). See [`mutate_view`].
pub fn mutate(
    pod: &Pod,
    names: RequestNames<'_>,
    defaults: &Defaults,
    addresses: &dyn AddressLookup,
) -> Result<Option<Mutation>, MutateError> {
    mutate_view(&PodView::from(pod), names, defaults, addresses)
}

/// The broker pod as the decision reads it: who it is, its settings, the container to edit.
struct Broker<'a> {
    pod: &'a PodView,
    name: &'a str,
    namespace: &'a str,
    settings: Settings,
    /// The access class that applies, if any: it bounds what the settings produce.
    class: Option<Arc<Class>>,
    ordinal: u32,
    statefulset: String,
    spec: &'a pod::SpecView,
    ci: usize,
    container: &'a ContainerView,
}

/// The external host a broker advertises: borrowed from the settings, or the address view's.
enum Host<'a> {
    Borrowed(&'a str),
    Shared(Arc<str>),
}

impl std::ops::Deref for Host<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Host::Borrowed(s) => s,
            Host::Shared(s) => s,
        }
    }
}

/// Compute the mutation of one pod. `Ok(None)`: the pod did not opt in, leave it alone.
pub fn mutate_view(
    pod: &PodView,
    names: RequestNames<'_>,
    defaults: &Defaults,
    addresses: &dyn AddressLookup,
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
    addresses: &dyn AddressLookup,
) -> Result<Option<Mutation>, MutateError> {
    decide(&PodView::from(pod), names, defaults, addresses, Some(settings))
}

fn decide(
    pod: &PodView,
    names: RequestNames<'_>,
    defaults: &Defaults,
    addresses: &dyn AddressLookup,
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
    let host = external_host(&b, port, addresses, &mut warnings)?;
    if let Some(class) = &b.class {
        // The template is judged in every mode (the controller does the same, `desired::class_bounds`).
        let hostname_mode = matches!(b.settings.mode, Mode::Hostname | Mode::GatewayTls);
        let template = if hostname_mode { None } else { rendered_host(&b)? };
        class.bounds(&b.settings, b.ordinal, if hostname_mode { Some(&*host) } else { template.as_deref() })?;
    }
    let internal_host = internal_host(&b)?;
    let mut ours: Vec<Listener<'_>> = Vec::with_capacity(2);
    if let (Some(internal), Some(h)) = (b.settings.internal_listener.as_deref(), internal_host.as_deref()) {
        ours.push(Listener { name: internal, host: h, port: b.settings.internal_port });
    }
    ours.push(Listener { name: &b.settings.listener, host: &host, port });
    let advertised = listeners::render(&ours);
    let var = env_name(b.container, &b.settings);
    env_warnings(&b, &var, &mut warnings);
    let existing =
        b.container.env.as_ref().and_then(|e| e.iter().rev().find(|e| e.name == var)).and_then(|e| e.value.as_deref());
    let value = listeners::merge(existing, &ours);
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

/// Who the pod is (a name even before generateName gives one), its settings and its broker container.
fn read_broker<'a>(
    pod: &'a PodView,
    names: RequestNames<'a>,
    defaults: &Defaults,
    addresses: &dyn AddressLookup,
    given: Option<Settings>,
    warnings: &mut Vec<String>,
) -> Result<Broker<'a>, MutateError> {
    let meta = &pod.metadata;
    let name = meta.name.as_deref().filter(|n| !n.is_empty()).unwrap_or(names.name);
    let namespace = meta.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(names.namespace);
    let (settings, class) = match given {
        Some(settings) => (settings, None),
        None => crate::spec::pod_settings(meta.annotations.as_ref(), namespace, defaults, addresses)?,
    };
    let shown = || {
        if name.is_empty() {
            meta.generate_name.clone().map(|g| format!("{g}<generated>")).unwrap_or_default()
        } else {
            name.to_owned()
        }
    };
    let ordinal = ordinal(meta.labels.as_ref(), name)?.ok_or_else(|| MutateError::NoOrdinal { pod: shown() })?;
    let statefulset = statefulset_name(pod, name).ok_or_else(|| MutateError::NoStatefulSet { pod: shown() })?;
    if let Some(start) = addresses.ordinal_start(namespace, &statefulset) {
        let cap = defaults.broker_cap(class.as_deref());
        if ordinal.saturating_sub(start) >= cap {
            return Err(MutateError::TooManyBrokers { ordinal, start, cap });
        }
    }
    let spec = pod.spec.as_ref().ok_or(MutateError::NoContainers)?;
    let (ci, container, fell_back) = pick_container(&spec.containers, &settings)?;
    // Only a container of the StatefulSet's own template (when the view holds it), never a sidecar.
    if let Some(template) = addresses.template_containers(namespace, &statefulset) {
        if !template.contains(&container.name) {
            return Err(MutateError::ContainerNotInTemplate {
                name: container.name.clone(),
                statefulset,
                template: template.join(", "),
            });
        }
    }
    if fell_back {
        warnings.push(format!(
            "kafka-advertiser: no container named \"kafka\"; using the first container {:?} (set {ANN_CONTAINER})",
            container.name
        ));
    }
    Ok(Broker { pod, name, namespace, settings, class, ordinal, statefulset, spec, ci, container })
}

/// A KRaft controller-only node has no advertised listeners for clients: left as it is.
fn controller_only(b: &Broker<'_>, warnings: &mut Vec<String>) -> Option<Mutation> {
    let roles = ["KAFKA_PROCESS_ROLES", "KAFKA_CFG_PROCESS_ROLES"].iter().find_map(|n| env_value(b.container, n))?;
    if roles.split(',').any(|r| r.trim() == "broker") {
        return None;
    }
    warnings.push(format!(
        "kafka-advertiser: container {:?} runs process.roles={roles} (no broker role): left unchanged; remove the \
         {ENABLED_LABEL} label from controller-only pods",
        b.container.name
    ));
    Some(Mutation {
        patch: Patch(Vec::new()),
        warnings: Vec::new(),
        advertised: String::new(),
        statefulset: b.statefulset.clone(),
        ordinal: b.ordinal,
        container: b.container.name.clone(),
        listeners_var: String::new(),
    })
}

fn broker_service(b: &Broker<'_>) -> String {
    let template = b.settings.service_name_template.as_ref().map(|t| t.as_str());
    service_name(template, &b.statefulset, b.ordinal, b.namespace)
}

/// The broker's address from its own Service only: the name the controller gives it, owned by the
/// pod's StatefulSet (its controller owner reference's UID). A Service someone else labelled as
/// this broker's is not read.
fn own_lookup(b: &Broker<'_>, addresses: &dyn AddressLookup) -> Lookup {
    let service = broker_service(b);
    let owner = (b.pod.metadata.owner_references.iter().flatten())
        .find(|o| o.controller == Some(true) && o.kind == "StatefulSet" && o.name == b.statefulset)
        .map(|o| o.uid.as_str())
        .filter(|u| !u.is_empty());
    let expect = Expect { service: &service, owner, gateway: b.settings.mode == Mode::GatewayTcp };
    addresses.lookup_for(b.namespace, &b.statefulset, b.ordinal, &expect)
}

/// The external host of the broker, by mode.
fn external_host<'a>(
    b: &'a Broker<'_>,
    port: u16,
    addresses: &dyn AddressLookup,
    warnings: &mut Vec<String>,
) -> Result<Host<'a>, MutateError> {
    let s = &b.settings;
    Ok(match s.host_source() {
        HostSource::Set(a) => Host::Borrowed(a),
        HostSource::Learned if s.mode == Mode::SharedAddress => {
            let Lookup::Address(a) = own_lookup(b, addresses) else {
                return Err(SettingsError::Missing { annotation: ANN_ADDRESS, mode: Mode::SharedAddress }.into());
            };
            warnings.push(format!(
                "kafka-advertiser: shared-address mode without {ANN_ADDRESS}; advertising {a}, the address of \
                 Service {}",
                broker_service(b)
            ));
            Host::Shared(a)
        }
        HostSource::Learned => Host::Shared(learned_address(b, addresses)?),
        HostSource::Rendered => rendered_host(b)?.map_or(Host::Borrowed(""), |h| Host::Shared(Arc::from(h))),
        HostSource::NodeIp => {
            node_port_checks(b, port, addresses, warnings)?;
            Host::Borrowed(HOST_IP_REF)
        }
        HostSource::PodIp => Host::Borrowed(POD_IP_REF),
    })
}

/// The hostname template rendered for this broker; a TLSRoute routes by SNI, and SNI carries names only.
fn rendered_host(b: &Broker<'_>) -> Result<Option<String>, MutateError> {
    let Some(t) = b.settings.hostname_template.as_ref() else { return Ok(None) };
    let host = t.render(b.ordinal, b.name, b.namespace, &b.statefulset);
    let ip = b.settings.mode == Mode::GatewayTls && host.parse::<std::net::IpAddr>().is_ok();
    if !settings::is_valid_host(&host) || ip {
        return Err(SettingsError::Invalid {
            annotation: settings::ANN_HOSTNAME_TEMPLATE,
            value: t.as_str().to_owned(),
            reason: format!("renders to {host:?} for broker {}, which is not a valid DNS name", b.ordinal),
        }
        .into());
    }
    Ok(Some(host))
}

/// Two StatefulSets on overlapping node-port ranges: this broker would advertise a port that routes
/// to the other StatefulSet's broker.
fn node_port_checks(
    b: &Broker<'_>,
    port: u16,
    addresses: &dyn AddressLookup,
    warnings: &mut Vec<String>,
) -> Result<(), MutateError> {
    if let Some((ons, osts, oo)) = addresses.node_port_owner(port) {
        if ons != b.namespace || osts != b.statefulset {
            let other = if ons == b.namespace {
                format!("broker {oo} of StatefulSet {ons}/{osts}")
            } else {
                "a broker of a StatefulSet in another namespace".to_owned()
            };
            return Err(MutateError::NodePortClash {
                port,
                statefulset: format!("{}/{}", b.namespace, b.statefulset),
                other,
            });
        }
    }
    if !(30000..=32767).contains(&port) {
        warnings.push(format!("kafka-advertiser: node port {port} is outside the default NodePort range 30000-32767"));
    }
    Ok(())
}

/// The address the controller learned (a load balancer's or the Gateway's), or why there is none yet.
fn learned_address(b: &Broker<'_>, addresses: &dyn AddressLookup) -> Result<Arc<str>, MutateError> {
    // Names are allocated only for a denial: the admitted path allocates nothing here.
    let namespace = || b.namespace.to_owned();
    let reason = match own_lookup(b, addresses) {
        // Learned addresses come from objects others write (a load balancer's status, a Gateway's):
        // only an IP or a DNS name reaches the env, where the kubelet would expand `$(VAR)`.
        Lookup::Address(a) if settings::is_valid_host(&a) => return Ok(a),
        Lookup::Address(a) => {
            let source_of = match (&b.settings.gateway, b.settings.mode) {
                (Some(g), Mode::GatewayTcp) => {
                    format!("Gateway {}/{} (status.addresses)", g.namespace_or(b.namespace), g.name)
                }
                _ => format!("Service {}/{} (status.loadBalancer.ingress)", b.namespace, broker_service(b)),
            };
            return Err(MutateError::InvalidAddress { value: a.to_string(), source_of });
        }
        Lookup::NoAddress => match &b.settings.gateway {
            Some(g) if b.settings.mode == Mode::GatewayTcp => {
                Pending::NoGatewayAddress { namespace: g.namespace_or(b.namespace).to_owned(), name: g.name.clone() }
            }
            _ => Pending::NoAddress { namespace: namespace(), service: broker_service(b) },
        },
        Lookup::NoService => Pending::NoService {
            namespace: namespace(),
            service: broker_service(b),
            statefulset: b.statefulset.clone(),
        },
        Lookup::NotSynced => Pending::NotSynced { namespace: namespace(), service: broker_service(b) },
        Lookup::NotWatched { watched } => Pending::NotWatched { namespace: namespace(), watched },
    };
    Err(MutateError::AddressPending {
        namespace: namespace(),
        statefulset: b.statefulset.clone(),
        ordinal: b.ordinal,
        reason,
    })
}

/// `<hostname>.<subdomain>.<namespace>.svc.<cluster domain>`, when an internal listener is advertised.
fn internal_host(b: &Broker<'_>) -> Result<Option<String>, MutateError> {
    if b.settings.internal_listener.is_none() {
        return Ok(None);
    }
    let hostname = b.spec.hostname.as_deref().filter(|h| !h.is_empty()).unwrap_or(b.name);
    let subdomain = (b.spec.subdomain.as_deref())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| MutateError::NoSubdomain { pod: b.name.to_owned() })?;
    Ok(Some(format!("{hostname}.{subdomain}.{}.svc.{}", b.namespace, b.settings.cluster_domain)))
}

/// What the listeners var's other sources would lose when the webhook sets it.
fn env_warnings(b: &Broker<'_>, var: &str, warnings: &mut Vec<String>) {
    let container = b.container;
    let defined = |n: &str| container.env.iter().flatten().any(|e| e.name == n);
    if container.env_from > 0 && !defined(var) {
        warnings.push(format!(
            "kafka-advertiser: container {} takes env from envFrom; if a ConfigMap or Secret there sets {var} (or \
             KAFKA_ADVERTISED_LISTENERS / KAFKA_CFG_ADVERTISED_LISTENERS), the {var} env entry added here \
             overrides it and its other listeners are lost: set the listeners var in env instead",
            container.name
        ));
    }
    if container.env.iter().flatten().rev().find(|e| e.name == var).is_some_and(|e| e.value_from.is_some()) {
        warnings.push(format!(
            "kafka-advertiser: {var} of container {} came from valueFrom (a ConfigMap, Secret or field); it is \
             replaced by a value, and listeners set there other than ours are lost: set it as a value",
            container.name
        ));
    }
    if b.settings.env.is_none() && defined(APACHE_ENV) && defined(BITNAMI_ENV) {
        warnings.push(format!(
            "kafka-advertiser: container {} sets both {APACHE_ENV} and {BITNAMI_ENV}; {APACHE_ENV} is the one the \
             image uses (Bitnami copies it over {BITNAMI_ENV}), so it is the one set; remove {BITNAMI_ENV}",
            container.name
        ));
    }
}

/// The JSON patch: the broker container's env, anti-affinity, the certificate volume, the
/// `advertised` annotation.
fn encode(
    b: &Broker<'_>,
    var: &str,
    value: &str,
    advertised: &str,
    addresses: &dyn AddressLookup,
    warnings: &mut Vec<String>,
) -> Result<Vec<PatchOperation>, MutateError> {
    let (settings, meta) = (&b.settings, &b.pod.metadata);
    let mut ops = Vec::with_capacity(4);
    let helper = match settings.mode {
        Mode::Nodeport => Some(field_var(HOST_IP_ENV, "status.hostIP")),
        Mode::PodIp => Some(field_var(POD_IP_ENV, "status.podIP")),
        _ => None,
    };
    let rack = rack_var(b, var, warnings);
    env_ops(b.ci, b.container, &EnvWant { var, value, helper, rack }, &mut ops);
    // This StatefulSet's brokers: its selector when the controller knows it (and the pod matches
    // it), else the pod's labels without the per-pod ones.
    let selector = addresses
        .selector(b.namespace, &b.statefulset)
        .filter(|sel| {
            !sel.is_empty() && sel.iter().all(|(k, v)| meta.labels.as_ref().and_then(|l| l.get(k)) == Some(v))
        })
        .map(|sel| (*sel).clone())
        .unwrap_or_else(|| affinity::broker_selector(meta.labels.as_ref()));
    ops.extend(affinity::ops(b.spec, settings.anti_affinity, affinity::term(selector, &settings.topology_key)));
    if settings.tls_issuer.is_some() {
        let pod = format!("{}-{}", b.statefulset, b.ordinal);
        tls_ops(b.spec, b.ci, b.container, &pod, &settings.tls_mount_path, &mut ops)?;
    }
    match meta.annotations.as_ref() {
        None => ops.push(PatchOperation::Add(AddOperation {
            path: ptr(&["metadata", "annotations"]),
            value: json!({ ANN_ADVERTISED: advertised }),
        })),
        Some(a) if a.get(ANN_ADVERTISED).map(String::as_str) != Some(advertised) => {
            ops.push(PatchOperation::Add(AddOperation {
                path: ptr(&["metadata", "annotations", ANN_ADVERTISED]),
                value: Value::String(advertised.to_owned()),
            }))
        }
        Some(_) => {}
    }
    Ok(ops)
}

/// The broker-rack var by the same rule as the listeners var (Bitnami's KAFKA_CFG_ prefix, else KAFKA_).
fn rack_var(b: &Broker<'_>, var: &str, warnings: &mut Vec<String>) -> Option<EnvVar> {
    let label = b.settings.rack_label.as_deref()?;
    let name = if var.starts_with("KAFKA_CFG_") { "KAFKA_CFG_BROKER_RACK" } else { "KAFKA_BROKER_RACK" };
    let r = field_var(name, &format!("metadata.labels['{label}']"));
    let set = b.container.env.iter().flatten().rev().find(|e| e.name == r.name);
    if set.is_some_and(|e| !is_field_var(e, &r)) {
        warnings.push(format!(
            "kafka-advertiser: {} of container {} is replaced by the pod's {label} label ({ANN_RACK} is \"true\")",
            r.name, b.container.name
        ));
    }
    Some(r)
}

#[cfg(test)]
mod tests;
