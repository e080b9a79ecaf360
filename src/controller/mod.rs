//! The controller: one external Service (and route, listener, Certificate) per broker, kept in
//! step with each opted-in StatefulSet, and the address view the webhook reads. Every replica
//! keeps the caches; only the leader writes.
//!
//! A reconcile is observe → plan → apply → report ([`reconcile`]). The imports run one way (the
//! layers and the order are in docs/ARCHITECTURE.md; `tests/it/module_graph.rs` checks them).

pub mod address_feed;
pub mod apply;
pub mod certificates;
pub mod classes;
pub mod context;
pub mod cost;
pub mod desired;
pub mod discovery;
pub mod fingerprint;
pub mod gateway;
pub mod kinds;
pub mod leader;
pub mod lists;
pub mod observe;
pub mod plan;
pub mod published;
pub mod reconcile;
pub mod report;
pub mod template_check;
pub mod watches;
pub mod webhook_watches;

pub use context::{Context, ControllerConfig, LeaseSettings, ReconcileError, Shared};
pub use reconcile::reconcile;
pub use watches::run;

/// A (group, resource, verbs) right; group "" is the core group.
pub type Right = (&'static str, &'static str, &'static [&'static str]);

/// What the controller uses in each namespace it watches: a ClusterRole (cluster-wide install) or a
/// Role per watched namespace (`--namespace`). deploy/ and the chart must grant exactly these
/// (tests/it/deploy.rs, tests/e2e/chart.rs).
pub const RBAC: &[Right] = &[
    ("apps", "statefulsets", &["get", "list", "watch", "patch"]),
    // Owner references with blockOwnerDeletion (OwnerReferencesPermissionEnforcement admission).
    ("apps", "statefulsets/finalizers", &["update"]),
    ("", "services", &["get", "list", "watch", "create", "patch", "delete"]),
    ("", "pods", &["get", "list", "watch"]),
    // Client discovery: `<statefulset>-external-bootstrap`.
    ("", "configmaps", &["get", "list", "watch", "create", "patch", "delete"]),
    ("", "pods/eviction", &["create"]),
    ("events.k8s.io", "events", &["create", "patch"]),
    // gateway-tcp: the StatefulSet's listeners, in a ListenerSet of its own namespace.
    ("gateway.networking.k8s.io", "listenersets", &["get", "list", "watch", "create", "patch", "delete"]),
    // Gateway modes: a route per broker.
    ("gateway.networking.k8s.io", "tcproutes", &["get", "list", "watch", "create", "patch", "delete"]),
    ("gateway.networking.k8s.io", "tlsroutes", &["get", "list", "watch", "create", "patch", "delete"]),
    // tls-issuer: a cert-manager Certificate per broker.
    ("cert-manager.io", "certificates", &["get", "list", "watch", "create", "patch", "delete"]),
];

/// What the controller reads across the cluster whatever it watches (a ClusterRole, read-only): the
/// namespace's labels judge a listener's allowedRoutes selector; a parent Gateway may sit outside
/// the watched namespaces.
pub const CLUSTER_RBAC: &[Right] = &[
    ("", "namespaces", &["get", "list", "watch"]),
    ("gateway.networking.k8s.io", "gateways", &["get", "list", "watch"]),
    ("kafka-advertiser.io", "externalaccessclasses", &["list", "watch"]),
];

/// The controller writes each access class's status (its reach): the one cluster-wide write.
pub const CLASS_STATUS_RBAC: Right = ("kafka-advertiser.io", "externalaccessclasses/status", &["patch"]);

/// gateway-tcp's listeners on a user's Gateway: granted per Gateway (a Role with `resourceNames`),
/// never by default.
pub const GATEWAY_LISTENER_RBAC: Right = ("gateway.networking.k8s.io", "gateways", &["patch"]);

/// What the webhook's identity uses in the namespaces it watches (`serve --role webhook`, [`view`]):
/// read-only.
pub const WEBHOOK_RBAC: &[Right] =
    &[("", "services", &["list", "watch"]), ("apps", "statefulsets", &["list", "watch"])];

/// What the webhook's identity reads across the cluster for access classes ([`classes`]).
pub const WEBHOOK_CLUSTER_RBAC: &[Right] =
    &[("", "namespaces", &["list", "watch"]), ("kafka-advertiser.io", "externalaccessclasses", &["list", "watch"])];

/// Leader election: a Role in the install's namespace, for the controller only.
pub const LEASE_RBAC: Right = ("coordination.k8s.io", "leases", &["get", "list", "watch", "create", "patch", "update"]);

/// The published settings ConfigMap ([`published`]), in the install's namespace, same Role.
pub const SETTINGS_RBAC: Right = ("", "configmaps", &["get", "create", "patch"]);

#[cfg(test)]
mod tests;
