//! What a reconcile works with: the process's shared parts, the controller's own settings, the
//! caches the watches fill, and the little it remembers between reconciles.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::BrokerCounts;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::DynamicObject;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Client;
use tokio::sync::watch;

use super::kinds::Kind;
use crate::admin::Readiness;
use crate::metrics::Metrics;
use crate::mutate::{ClusterView, Defaults};

/// What the controller shares with the rest of the process.
#[derive(Clone)]
pub struct Shared {
    pub client: Client,
    pub defaults: Arc<Defaults>,
    pub addresses: ClusterView,
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
}

/// The controller's own settings (the entry point builds them from its command line).
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The namespaces watched (empty: all).
    pub namespaces: Vec<String>,
    /// This replica's name in the Lease and in its Events.
    pub identity: String,
    pub lease: LeaseSettings,
    /// Self-managed webhook TLS, when on.
    pub self_tls: Option<crate::selftls::SelfTls>,
    /// Reconciles in progress at once, per namespace scope (`--max-concurrent-reconciles`).
    pub concurrency: u16,
}

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    pub duration: Duration,
    pub renew_deadline: Duration,
}

/// Per-StatefulSet memory, shared by every namespace scope of one process (the gauges are sums).
#[derive(Default)]
pub struct State {
    /// Consecutive failures per StatefulSet, for back-off.
    pub failures: HashMap<ObjectRef<StatefulSet>, u32>,
    /// Addresses seen at the last reconcile, per StatefulSet (for AddressAssigned events).
    pub seen: HashMap<ObjectRef<StatefulSet>, BTreeMap<u32, String>>,
    /// What each StatefulSet's gauges show (the process-wide gauges are their sums).
    pub counts: HashMap<ObjectRef<StatefulSet>, BrokerCounts>,
    /// The problems last published per StatefulSet and set (Events only when they change).
    pub published: HashMap<(ObjectRef<StatefulSet>, &'static str), Vec<String>>,
    /// When we last evicted a pod of a StatefulSet (one at a time).
    pub evicted: HashMap<ObjectRef<StatefulSet>, Instant>,
    /// The access class each StatefulSet uses (for the classes' status).
    pub classes: HashMap<ObjectRef<StatefulSet>, String>,
    /// StatefulSets with brokers missing although nothing holds them back (the create retry).
    pub stuck: HashMap<ObjectRef<StatefulSet>, crate::controller::plan::retry::Stuck>,
}

impl State {
    fn forget(&mut self, key: &ObjectRef<StatefulSet>) {
        self.failures.remove(key);
        self.seen.remove(key);
        self.counts.remove(key);
        self.evicted.remove(key);
        self.classes.remove(key);
        self.stuck.remove(key);
        self.published.retain(|(k, _), _| k != key);
    }
}

/// The caches of one namespace scope (`None`: all namespaces).
pub struct Caches {
    pub scope: Option<String>,
    pub statefulsets: Store<StatefulSet>,
    pub pods: Store<Pod>,
    /// Managed Services (label managed-by).
    pub services: Store<Service>,
    /// Managed ConfigMaps (client discovery).
    pub configmaps: Store<ConfigMap>,
    /// Managed routes and Certificates, for the kinds the API serves.
    pub owned: BTreeMap<Kind, Store<DynamicObject>>,
}

pub struct Context {
    pub shared: Shared,
    pub recorder: Recorder,
    pub leader: watch::Receiver<bool>,
    pub caches: Caches,
    state: Arc<Mutex<State>>,
}

impl Context {
    /// A context sharing `state` with the other namespace scopes' contexts.
    pub fn new(
        shared: Shared,
        recorder: Recorder,
        leader: watch::Receiver<bool>,
        caches: Caches,
        state: Arc<Mutex<State>>,
    ) -> Self {
        Self { shared, recorder, leader, caches, state }
    }

    /// A StatefulSet is gone: drop what we kept about it, so its gauges go with it.
    pub fn forget(&self, key: &ObjectRef<StatefulSet>) {
        let mut st = self.state();
        st.forget(key);
        self.shared.metrics.statefulsets.remove(key.namespace.as_deref().unwrap_or_default(), &key.name);
        self.publish_gauges(&st, None);
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// The totals over every StatefulSet, and the reconciled one's own series.
    pub fn publish_gauges(&self, st: &State, reconciled: Option<&ObjectRef<StatefulSet>>) {
        let m = &self.shared.metrics;
        m.brokers_waiting.set(st.counts.values().map(|c| c.waiting).sum());
        m.managed_services.set(st.counts.values().map(|c| c.services).sum());
        m.unclassed.set(st.counts.values().map(|c| c.unclassed).sum());
        // Only the reconciled StatefulSet's series can have changed: one labelled write per reconcile,
        // not one per StatefulSet (a reconcile holds the state's lock meanwhile).
        if let Some((key, c)) = reconciled.and_then(|k| st.counts.get_key_value(k)) {
            m.statefulsets.set(key.namespace.as_deref().unwrap_or_default(), &key.name, *c);
        }
    }

    /// Whether `namespace` is one this context's caches cover.
    pub fn covers(&self, namespace: &str) -> bool {
        self.caches.scope.as_deref().is_none_or(|s| s == namespace)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("StatefulSet has no namespace or name")]
    NoIdentity,
    /// Leadership was lost mid-reconcile: stop writing at once (not an error).
    #[error("no longer the leader")]
    NotLeader,
    /// An API call did not answer in time (a half-open connection, an API server stuck in its
    /// shutdown): the reconcile gives up its slot and retries with back-off.
    #[error("the reconcile did not finish within {0:?}: an API call is not answering")]
    Timeout(std::time::Duration),
}

impl ReconcileError {
    /// The metric label of this error.
    pub fn kind(&self) -> &'static str {
        match self {
            ReconcileError::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            ReconcileError::Kube(kube::Error::Api(_)) => "api",
            ReconcileError::Kube(_) => "transport",
            ReconcileError::NoIdentity => "invalid",
            ReconcileError::NotLeader => "not_leader",
            ReconcileError::Timeout(_) => "timeout",
        }
    }
}

/// API answers that mean "this object is refused as it is" (not a transient failure): 400 bad
/// request, 403 forbidden (quota, policy), 404 (namespace gone, kind not served), 422 invalid;
/// 409 is retried.
pub fn refused(code: u16) -> bool {
    matches!(code, 400 | 403 | 404 | 422)
}
