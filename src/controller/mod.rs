//! The controller: one external Service (and route, listener, Certificate) per broker, kept in
//! step with each opted-in StatefulSet, and the address view the webhook reads. Every replica
//! keeps the caches; only the leader writes.
//!
//! A reconcile is observe → plan → apply → report ([`reconcile`]); the module graph runs one way:
//! `names` ← `kinds` ← `desired` ← `gateway` ← `plan` ← `apply`/`report` ← `reconcile` ← `watches`.

pub mod addresses;
pub mod apply;
pub mod context;
pub mod desired;
pub mod gateway;
pub mod intent;
pub mod kinds;
pub mod leader;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod view;
pub mod watches;

pub use context::{Context, LeaseSettings, ReconcileError, Settings, Shared};
pub use reconcile::reconcile;
pub use watches::run;

/// Every (group, resource, verb) the controller uses; the ClusterRole in deploy/ must cover these
/// (a test checks it). Group "" is the core group.
pub const RBAC: &[(&str, &str, &[&str])] = &[
    ("apps", "statefulsets", &["get", "list", "watch", "patch"]),
    // Owner references with blockOwnerDeletion (OwnerReferencesPermissionEnforcement admission).
    ("apps", "statefulsets/finalizers", &["update"]),
    ("", "services", &["get", "list", "watch", "create", "patch", "delete"]),
    ("", "pods", &["get", "list", "watch"]),
    // Client discovery: `<statefulset>-external-bootstrap`.
    ("", "configmaps", &["list", "watch", "create", "patch", "delete"]),
    ("", "pods/eviction", &["create"]),
    ("events.k8s.io", "events", &["create", "patch"]),
    // Gateway modes: listeners on the user's Gateway, a route per broker; the namespace's labels
    // judge a listener's allowedRoutes selector.
    ("gateway.networking.k8s.io", "gateways", &["get", "list", "watch", "patch"]),
    ("gateway.networking.k8s.io", "tcproutes", &["get", "list", "watch", "create", "patch", "delete"]),
    ("gateway.networking.k8s.io", "tlsroutes", &["get", "list", "watch", "create", "patch", "delete"]),
    ("", "namespaces", &["get"]),
    // tls-issuer: a cert-manager Certificate per broker.
    ("cert-manager.io", "certificates", &["get", "list", "watch", "create", "patch", "delete"]),
];

/// Namespaced RBAC for leader election (Role in the webhook's own namespace).
pub const LEASE_RBAC: (&str, &str, &[&str]) =
    ("coordination.k8s.io", "leases", &["get", "list", "watch", "create", "patch", "update"]);

#[cfg(test)]
mod tests;
