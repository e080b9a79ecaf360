//! The cluster view both roles decide from: broker addresses (the claims of the Services that say
//! they are a broker's), node-port owners, StatefulSets' selectors, template containers and first
//! ordinals, since when brokers wait for an address, the access classes and namespaces' labels, and who holds which host name ([`claims`]).
//! Written by the watches (rarely), read by the webhook on every admission (often): a lock-free
//! `ArcSwap` load plus two hash lookups (and a read lock on the host names, for brokers that
//! advertise one).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::jiff::Timestamp;

use crate::spec::class::ClassSource;
use crate::spec::settings::Defaults;

pub mod claims;

/// One Service that claims, by its labels, to be a broker's: its name, the StatefulSet UID of its
/// controller owner reference, and its addresses (`None`: none yet). Anyone may label a Service, so
/// a claim counts only for the broker whose StatefulSet's UID it names, under the name the
/// controller gives that broker's Service ([`Expect`]). A claim with neither (`ClusterView::set`)
/// stands for any: tests and offline maps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claim {
    pub service: Option<Arc<str>>,
    pub owner: Option<Arc<str>>,
    /// From `status.loadBalancer.ingress`, as the Service's annotations choose.
    pub address: Option<Arc<str>>,
    /// `kafka-advertiser.io/gateway-address` on a Service that is no load balancer's (gateway-tcp).
    pub gateway: Option<Arc<str>>,
}

impl Claim {
    fn wildcard(&self) -> bool {
        self.service.is_none() && self.owner.is_none()
    }

    fn matches(&self, e: &Expect<'_>) -> bool {
        self.wildcard()
            || (self.owner.as_deref().is_some_and(|o| Some(o) == e.owner) && self.service.as_deref() == Some(e.service))
    }

    /// gateway-tcp reads the Gateway's address first, as the plan does (`ingress_address`).
    fn address_for(&self, gateway: bool) -> Option<Arc<str>> {
        if gateway {
            self.gateway.clone().or_else(|| self.address.clone())
        } else {
            self.address.clone()
        }
    }
}

/// Which Service may give a broker its address: the name the controller derives for it, owned by
/// the broker's StatefulSet (the pod's controller owner reference names its UID).
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub service: &'a str,
    pub owner: Option<&'a str>,
    /// gateway-tcp: the Gateway's address the controller wrote on the Service, not a load balancer's.
    pub gateway: bool,
}

/// ordinal → the Services that claim it, per StatefulSet.
pub type Brokers = BTreeMap<u32, Vec<Claim>>;
type Snapshot = HashMap<String, HashMap<String, Brokers>>;
/// namespace → statefulset → selector matchLabels (nested, so a lookup allocates nothing).
type Selectors = HashMap<String, HashMap<String, Arc<BTreeMap<String, String>>>>;

/// What the view knows about one broker, for the webhook's answer (and its denial message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Address(Arc<str>),
    /// The broker's Service exists and has no load-balancer address yet.
    NoAddress,
    /// No Service for this broker (yet): the controller creates it, or reports why not.
    NoService,
    /// The view has not been filled from the API yet (starting, or `--standalone`).
    NotSynced,
    /// This install watches other namespaces only (`--namespace`).
    NotWatched {
        watched: String,
    },
}

/// Where the webhook looks up a broker's external address. The pure mutation takes this trait so
/// tests and offline commands can pass a plain map.
pub trait ClusterLookup: ClassSource {
    fn address(&self, namespace: &str, statefulset: &str, ordinal: u32) -> Option<Arc<str>>;
    /// Whether the view has ever been filled from the API (used in denial messages).
    fn synced(&self) -> bool {
        true
    }
    /// The label selector of an opted-in StatefulSet (its `spec.selector.matchLabels`), when known:
    /// the stable identity of "this StatefulSet's brokers" for anti-affinity.
    fn selector(&self, _namespace: &str, _statefulset: &str) -> Option<Arc<BTreeMap<String, String>>> {
        None
    }
    /// The broker Service that holds a node port: (namespace, statefulset, ordinal).
    fn node_port_owner(&self, _port: u16) -> Option<(String, String, u32)> {
        None
    }
    /// The container names of an opted-in StatefulSet's pod template, when known: the webhook edits
    /// only those (never a container another webhook injected).
    fn template_containers(&self, _namespace: &str, _statefulset: &str) -> Option<Arc<[String]>> {
        None
    }
    /// Does another StatefulSet, older, hold this host name (`HostnameConflict`)?
    fn hostname_taken(&self, _namespace: &str, _statefulset: &str, _host: &str) -> bool {
        false
    }
    /// Since when broker `ordinal` has waited for its address, as the controller recorded it
    /// (`pending-since` on the StatefulSet), when known.
    fn pending_since(&self, _namespace: &str, _statefulset: &str, _ordinal: u32) -> Option<Timestamp> {
        None
    }
    /// The time a `pending-timeout` is measured against.
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
    /// The first ordinal (`spec.ordinals.start`) of an opted-in StatefulSet, when known: with the
    /// broker cap, which ordinals may have brokers.
    fn ordinal_start(&self, _namespace: &str, _statefulset: &str) -> Option<u32> {
        None
    }
    /// The address, or why there is none.
    fn lookup(&self, namespace: &str, statefulset: &str, ordinal: u32) -> Lookup {
        match self.address(namespace, statefulset, ordinal) {
            Some(a) => Lookup::Address(a),
            None if !self.synced() => Lookup::NotSynced,
            None => Lookup::NoService,
        }
    }
    /// The address from the Service `expect` names only (the webhook's lookup). Maps that hold no
    /// claims (tests, offline) answer as [`ClusterLookup::lookup`].
    fn lookup_for(&self, namespace: &str, statefulset: &str, ordinal: u32, _expect: &Expect<'_>) -> Lookup {
        self.lookup(namespace, statefulset, ordinal)
    }
}

/// Shared, cheaply cloneable address view.
#[derive(Clone, Default)]
pub struct ClusterView {
    inner: Arc<Inner>,
}

/// namespace → statefulset → its pod template's container names (looked up without allocating).
type TemplateContainers = HashMap<String, HashMap<String, Arc<[String]>>>;

/// Set (or with `None`, remove) one StatefulSet's entry of a namespace → statefulset map; an equal
/// value leaves the snapshot as it is (readers keep theirs, nothing is copied).
fn set_nested<T: PartialEq + ?Sized>(
    swap: &ArcSwap<HashMap<String, HashMap<String, Arc<T>>>>,
    namespace: &str,
    statefulset: &str,
    value: Option<Arc<T>>,
) {
    swap.rcu(|old| {
        if old.get(namespace).and_then(|m| m.get(statefulset)).map(|v| &**v) == value.as_deref() {
            return Arc::clone(old);
        }
        let mut next = (**old).clone();
        match &value {
            Some(v) => {
                next.entry(namespace.to_owned()).or_default().insert(statefulset.to_owned(), Arc::clone(v));
            }
            None => {
                if let Some(m) = next.get_mut(namespace) {
                    m.remove(statefulset);
                    if m.is_empty() {
                        next.remove(namespace);
                    }
                }
            }
        }
        Arc::new(next)
    });
}

#[derive(Default)]
struct Inner {
    map: ArcSwap<Snapshot>,
    synced: AtomicBool,
    /// Namespaces this install watches; empty: all.
    scope: Vec<String>,
    /// (namespace, statefulset) → selector matchLabels of opted-in StatefulSets.
    selectors: ArcSwap<Selectors>,
    /// (namespace, statefulset) → the container names of its pod template (opted-in only).
    containers: ArcSwap<TemplateContainers>,
    /// (namespace, statefulset) → since when its brokers without an address have waited.
    pending: ArcSwap<HashMap<String, HashMap<String, Arc<crate::spec::pending::Since>>>>,
    /// (namespace, statefulset) → its `spec.ordinals.start`.
    starts: ArcSwap<HashMap<String, HashMap<String, Arc<u32>>>>,
    /// nodePort → the managed broker Service holding it.
    node_ports: ArcSwap<HashMap<u16, (String, String, u32)>>,
    /// The access classes and the tenancy switch.
    classes: ArcSwap<crate::spec::class::Classes>,
    /// Who holds which host name (opted-in StatefulSets, cluster-wide).
    claims: std::sync::RwLock<claims::HostClaims>,
    /// namespace → its labels.
    namespaces: ArcSwap<HashMap<String, Arc<BTreeMap<String, String>>>>,
}

impl ClusterView {
    pub fn new() -> Self {
        Self::default()
    }

    /// A view of the given namespaces only (`--namespace`); empty: all namespaces.
    pub fn scoped(namespaces: Vec<String>) -> Self {
        Self { inner: Arc::new(Inner { scope: namespaces, ..Default::default() }) }
    }

    /// Record one broker's Service and its address (`None`: no address yet). Returns whether the
    /// broker's address changed.
    /// (A claim that stands for any Service: tests and offline maps; the watch records [`Claim`]s.)
    pub fn set(&self, namespace: &str, statefulset: &str, ordinal: u32, address: Option<&str>) -> bool {
        self.claim(namespace, statefulset, ordinal, Claim { address: address.map(Arc::from), ..Claim::default() })
    }

    /// Record one Service's claim on a broker (replacing that Service's earlier one). Returns
    /// whether its addresses changed.
    pub fn claim(&self, namespace: &str, statefulset: &str, ordinal: u32, claim: Claim) -> bool {
        let mut changed = false;
        self.inner.map.rcu(|old| {
            let claims = old.get(namespace).and_then(|m| m.get(statefulset)).and_then(|b| b.get(&ordinal));
            let current = claims.and_then(|c| c.iter().find(|x| x.service == claim.service));
            // A new claim without an address changes no broker's address.
            let (address, gateway) = current.map_or((None, None), |c| (c.address.as_ref(), c.gateway.as_ref()));
            changed = address != claim.address.as_ref() || gateway != claim.gateway.as_ref();
            if current.is_some_and(|c| *c == claim) {
                return Arc::clone(old);
            }
            let mut next: Snapshot = (**old).clone();
            let brokers = next.entry(namespace.to_owned()).or_default().entry(statefulset.to_owned()).or_default();
            let claims = brokers.entry(ordinal).or_default();
            claims.retain(|x| x.service != claim.service);
            claims.push(claim.clone());
            Arc::new(next)
        });
        changed
    }

    /// Record which broker Service holds `port` (`None`: that broker holds none any more).
    pub fn set_node_port(&self, namespace: &str, statefulset: &str, ordinal: u32, port: Option<u16>) {
        let owner = (namespace.to_owned(), statefulset.to_owned(), ordinal);
        self.inner.node_ports.rcu(|old| {
            let mut next: HashMap<u16, (String, String, u32)> =
                old.iter().filter(|(_, o)| **o != owner).map(|(p, o)| (*p, o.clone())).collect();
            if let Some(p) = port {
                next.insert(p, owner.clone());
            }
            Arc::new(next)
        });
    }

    /// Record (or with `None`, forget) the container names of a StatefulSet's pod template.
    pub fn set_template_containers(&self, namespace: &str, statefulset: &str, names: Option<Vec<String>>) {
        set_nested(&self.inner.containers, namespace, statefulset, names.map(Arc::from));
    }

    /// Record (or with `None`, forget) a StatefulSet's first ordinal.
    pub fn set_ordinal_start(&self, namespace: &str, statefulset: &str, start: Option<u32>) {
        set_nested(&self.inner.starts, namespace, statefulset, start.map(Arc::new));
    }

    /// Record (or with `None` or nothing recorded, forget) since when a StatefulSet's brokers have waited.
    pub fn set_pending_since(&self, namespace: &str, statefulset: &str, since: Option<crate::spec::pending::Since>) {
        set_nested(&self.inner.pending, namespace, statefulset, since.filter(|s| !s.is_empty()).map(Arc::new));
    }

    /// Record (or with `None`, forget) a StatefulSet's selector.
    pub fn set_selector(&self, namespace: &str, statefulset: &str, selector: Option<BTreeMap<String, String>>) {
        set_nested(&self.inner.selectors, namespace, statefulset, selector.map(Arc::new));
    }

    /// Forget one Service's claim. Returns whether it had an address.
    pub fn remove(&self, namespace: &str, statefulset: &str, ordinal: u32, service: &str) -> bool {
        let mut had_address = false;
        let mine = |c: &Claim| c.service.as_deref() == Some(service);
        self.inner.map.rcu(|old| {
            let claims = old.get(namespace).and_then(|m| m.get(statefulset)).and_then(|b| b.get(&ordinal));
            let Some(claims) = claims.filter(|c| c.iter().any(mine)) else { return Arc::clone(old) };
            had_address = claims.iter().any(|c| mine(c) && (c.address.is_some() || c.gateway.is_some()));
            let mut next: Snapshot = (**old).clone();
            if let Some(sets) = next.get_mut(namespace) {
                if let Some(brokers) = sets.get_mut(statefulset) {
                    if let Some(claims) = brokers.get_mut(&ordinal) {
                        claims.retain(|c| !mine(c));
                        if claims.is_empty() {
                            brokers.remove(&ordinal);
                        }
                    }
                    if brokers.is_empty() {
                        sets.remove(statefulset);
                    }
                }
                if sets.is_empty() {
                    next.remove(namespace);
                }
            }
            Arc::new(next)
        });
        had_address
    }

    /// Keep only the claims for which `keep(namespace, statefulset, ordinal, service)` holds (node
    /// ports: asked with `None`, for any of the broker's Services).
    pub fn retain(&self, keep: impl Fn(&str, &str, u32, Option<&str>) -> bool) {
        self.inner.node_ports.rcu(|old| {
            Arc::new(old.iter().filter(|(_, (n, s, o))| keep(n, s, *o, None)).map(|(p, o)| (*p, o.clone())).collect())
        });
        self.inner.map.rcu(|old| {
            let mut next: Snapshot = HashMap::with_capacity(old.len());
            for (ns, sets) in old.iter() {
                for (sts, brokers) in sets {
                    let kept: Brokers = brokers
                        .iter()
                        .map(|(o, c)| {
                            (
                                *o,
                                c.iter()
                                    .filter(|c| keep(ns, sts, *o, c.service.as_deref()))
                                    .cloned()
                                    .collect::<Vec<_>>(),
                            )
                        })
                        .filter(|(_, c)| !c.is_empty())
                        .collect();
                    if !kept.is_empty() {
                        next.entry(ns.clone()).or_default().insert(sts.clone(), kept);
                    }
                }
            }
            Arc::new(next)
        });
    }

    /// Replace the access classes (the tenancy switch stays).
    pub fn set_classes(&self, classes: Vec<Arc<crate::spec::class::Class>>) {
        let old = self.inner.classes.load_full();
        if old.classes == classes {
            return;
        }
        self.inner
            .classes
            .rcu(|old| Arc::new(crate::spec::class::Classes { tenancy: old.tenancy, classes: classes.clone() }));
        self.claims_write().recompute(None, self);
    }

    /// Set the tenancy switch (`--tenancy`).
    pub fn set_tenancy(&self, tenancy: crate::spec::class::Tenancy) {
        self.inner.classes.rcu(|old| Arc::new(crate::spec::class::Classes { tenancy, classes: old.classes.clone() }));
        self.claims_write().recompute(None, self);
    }

    /// Record (or with `None`, forget) a namespace's labels.
    pub fn set_namespace_labels(&self, namespace: &str, labels: Option<BTreeMap<String, String>>) {
        let labels = labels.map(Arc::new);
        if self.inner.namespaces.load().get(namespace) == labels.as_ref() {
            return;
        }
        self.inner.namespaces.rcu(|old| {
            let mut next = (**old).clone();
            match &labels {
                Some(l) => next.insert(namespace.to_owned(), l.clone()),
                None => next.remove(namespace),
            };
            Arc::new(next)
        });
        self.claims_write().recompute(Some(namespace), self);
    }

    /// Record (or with `None`, forget) the host names one StatefulSet claims.
    pub fn set_claims(&self, namespace: &str, name: &str, sts: Option<&StatefulSet>, defaults: &Defaults) {
        let input = sts.filter(|s| crate::spec::opted_in(s)).map(claims::claim_input);
        self.claims_write().set(namespace, name, input, defaults, self);
    }

    fn claims_write(&self) -> std::sync::RwLockWriteGuard<'_, claims::HostClaims> {
        // A panic while holding the lock leaves the index as consistent as any state: keep using it.
        self.inner.claims.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// StatefulSets whose claims are known.
    pub fn claimants(&self) -> usize {
        self.inner.claims.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    pub fn mark_synced(&self) {
        self.inner.synced.store(true, Ordering::Release);
    }

    /// Brokers with an address.
    pub fn len(&self) -> usize {
        self.inner
            .map
            .load()
            .values()
            .flat_map(|m| m.values())
            .flat_map(BTreeMap::values)
            .filter(|c| c.iter().any(|c| c.address.is_some() || c.gateway.is_some()))
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ClassSource for ClusterView {
    fn classes(&self) -> Option<Arc<crate::spec::class::Classes>> {
        Some(self.inner.classes.load_full())
    }

    fn namespace_labels(&self, namespace: &str) -> Option<Arc<BTreeMap<String, String>>> {
        self.inner.namespaces.load().get(namespace).cloned()
    }
}

impl ClusterLookup for ClusterView {
    /// A claim that stands for any Service only ([`ClusterView::set`]); the webhook asks [`ClusterLookup::lookup_for`].
    fn address(&self, namespace: &str, statefulset: &str, ordinal: u32) -> Option<Arc<str>> {
        let claims = self.inner.map.load();
        claims.get(namespace)?.get(statefulset)?.get(&ordinal)?.iter().find(|c| c.wildcard())?.address.clone()
    }

    fn synced(&self) -> bool {
        self.inner.synced.load(Ordering::Acquire)
    }

    fn selector(&self, namespace: &str, statefulset: &str) -> Option<Arc<BTreeMap<String, String>>> {
        self.inner.selectors.load().get(namespace)?.get(statefulset).cloned()
    }

    fn node_port_owner(&self, port: u16) -> Option<(String, String, u32)> {
        self.inner.node_ports.load().get(&port).cloned()
    }

    fn template_containers(&self, namespace: &str, statefulset: &str) -> Option<Arc<[String]>> {
        self.inner.containers.load().get(namespace)?.get(statefulset).cloned()
    }

    fn hostname_taken(&self, namespace: &str, statefulset: &str, host: &str) -> bool {
        self.inner.claims.read().unwrap_or_else(std::sync::PoisonError::into_inner).taken(namespace, statefulset, host)
    }

    fn pending_since(&self, namespace: &str, statefulset: &str, ordinal: u32) -> Option<Timestamp> {
        self.inner.pending.load().get(namespace)?.get(statefulset)?.get(&ordinal).copied()
    }

    fn ordinal_start(&self, namespace: &str, statefulset: &str) -> Option<u32> {
        self.inner.starts.load().get(namespace)?.get(statefulset).map(|s| **s)
    }

    fn lookup(&self, namespace: &str, statefulset: &str, ordinal: u32) -> Lookup {
        let any = Expect { service: "", owner: None, gateway: false };
        self.lookup_for(namespace, statefulset, ordinal, &any)
    }

    fn lookup_for(&self, namespace: &str, statefulset: &str, ordinal: u32, expect: &Expect<'_>) -> Lookup {
        if !self.inner.scope.is_empty() && !self.inner.scope.iter().any(|n| n == namespace) {
            return Lookup::NotWatched { watched: self.inner.scope.join(",") };
        }
        let map = self.inner.map.load();
        let claims = map.get(namespace).and_then(|m| m.get(statefulset)).and_then(|b| b.get(&ordinal));
        match claims.and_then(|c| c.iter().find(|c| c.matches(expect))) {
            Some(c) => c.address_for(expect.gateway).map_or(Lookup::NoAddress, Lookup::Address),
            None if !self.synced() => Lookup::NotSynced,
            None => Lookup::NoService,
        }
    }
}

/// A lookup with no addresses at all (standalone mode).
pub struct NoAddresses;

impl ClassSource for NoAddresses {}

impl ClusterLookup for NoAddresses {
    fn address(&self, _: &str, _: &str, _: u32) -> Option<Arc<str>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_lookup_remove() {
        let book = ClusterView::new();
        assert!(!book.synced());
        assert!(book.set("ns", "kafka", 0, Some("203.0.113.10")));
        assert!(!book.set("ns", "kafka", 0, Some("203.0.113.10")), "same value is no change");
        assert_eq!(book.address("ns", "kafka", 0).as_deref(), Some("203.0.113.10"));
        assert_eq!(book.address("ns", "kafka", 1), None);
        assert_eq!(book.address("other", "kafka", 0), None);
        assert!(book.set("ns", "kafka", 0, Some("lb.example.com")));
        assert_eq!(book.address("ns", "kafka", 0).as_deref(), Some("lb.example.com"));
        assert!(book.set("ns", "kafka", 0, None));
        assert_eq!(book.address("ns", "kafka", 0), None);
        assert!(book.is_empty());
        book.mark_synced();
        assert!(book.synced());
    }

    #[test]
    fn clones_share_state() {
        let a = ClusterView::new();
        let b = a.clone();
        a.set("ns", "k", 3, Some("1.1.1.1"));
        assert_eq!(b.address("ns", "k", 3).as_deref(), Some("1.1.1.1"));
        assert_eq!(b.len(), 1);
        a.retain(|_, _, o, _| o != 3);
        assert!(b.is_empty());
    }
}
