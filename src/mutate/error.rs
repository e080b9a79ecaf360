//! Why a pod cannot be admitted: every denial names what to change, and its metric reason.

use super::*;

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
    /// The same message as the controller's `HostnameConflict` Event: the host name, never the holder.
    #[error(transparent)]
    HostnameConflict(#[from] crate::spec::claims::HostnameConflict),
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
    #[error(
        "Service {service} has no address yet and kafka-advertiser.io/pending-timeout has passed, but the broker \
         cannot be admitted with only its internal listener: {why}"
    )]
    NotWithoutAddress { service: String, why: String },
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
        matches!(
            self,
            MutateError::AddressPending { .. }
                | MutateError::Class(crate::spec::class::ClassError::NamespaceUnknown { .. })
        )
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
            MutateError::HostnameConflict(_) => "hostname_conflict",
        }
    }
}

/// Every value [`MutateError::reason`] returns, `bad_object` (a request whose object is no Pod) and
/// `over_limit` (a review over an admission limit, `admission::limits`).
pub const DENIAL_REASONS: [&str; 14] = [
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
    "hostname_conflict",
];
