//! Observe: read what one reconcile needs into a plain [`Observed`] value. Caches first; the API
//! only for what no watch holds (the user's Gateway, a namespace's labels, a Service of a name we
//! are about to take). The StatefulSet's intent is worked out here, once ([`crate::spec::intent`]),
//! because it says which names to read; every decision is [`super::plan`]'s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::DynamicObject;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};

use super::context::Context;
use super::context::{refused, ReconcileError};
use super::desired;
use super::discovery;
use super::gateway;
use super::kinds::Kind;
use crate::names::{listener_manager_owner, ANN_ROUTED_THROUGH, STATEFULSET_LABEL};
use crate::spec::class::ClassSource;
use crate::spec::settings::Defaults;
use crate::spec::{self, Intent, IntentError};

/// Everything one reconcile of one StatefulSet reads.
#[derive(Debug, Clone)]
pub struct Observed {
    pub sts: Arc<StatefulSet>,
    /// What it asks for (`Ok(None)`: not opted in), worked out once per reconcile.
    pub intent: Result<Option<Intent>, IntentError>,
    /// The managed Services labelled as this StatefulSet's.
    pub services: Vec<Arc<Service>>,
    /// Services that hold a name this StatefulSet wants but are not labelled as its own.
    pub foreign: BTreeMap<String, Service>,
    /// Its client-discovery ConfigMap.
    pub configmap: Option<Arc<ConfigMap>>,
    /// Its routes and Certificates, by kind (kinds the API does not serve are absent).
    pub owned: BTreeMap<Kind, Vec<Arc<DynamicObject>>>,
    /// The Gateways it names or recorded, by `namespace/name`.
    pub gateways: BTreeMap<String, GatewayView>,
    /// Its pods (by name `<statefulset>-<ordinal>`, or by owner).
    pub pods: Vec<Arc<Pod>>,
    /// The addresses the last reconcile saw.
    pub seen: BTreeMap<u32, String>,
    /// A pod of it was evicted moments ago (one at a time).
    pub recently_evicted: bool,
    /// Since when its brokers have been missing, as the last reconcile left it (the create retry).
    pub stuck: Option<super::plan::retry::Stuck>,
    /// When it was observed (how long a broker has waited for its address is measured to it).
    pub now: k8s_openapi::jiff::Timestamp,
}

#[derive(Debug, Clone)]
pub struct GatewayView {
    pub state: GatewayState,
    /// The StatefulSet's namespace's labels, read when a listener selects routes by them.
    pub namespace_labels: Option<BTreeMap<String, String>>,
    /// Other StatefulSets' listener field managers on it: whether that StatefulSet still exists
    /// (only those this replica can see).
    pub others: BTreeMap<String, bool>,
    /// The ListenerSets of other StatefulSets attached to it (only those this replica caches).
    pub attached: Vec<Arc<DynamicObject>>,
}

impl Observed {
    /// `sts` with its intent and nothing else observed yet.
    pub fn new(sts: Arc<StatefulSet>, defaults: &Defaults, view: &(impl ClassSource + ?Sized)) -> Self {
        Observed {
            intent: spec::intent(&sts, defaults, view),
            sts,
            services: Vec::new(),
            foreign: BTreeMap::new(),
            configmap: None,
            owned: BTreeMap::new(),
            gateways: BTreeMap::new(),
            pods: Vec::new(),
            seen: BTreeMap::new(),
            recently_evicted: false,
            stuck: None,
            now: k8s_openapi::jiff::Timestamp::now(),
        }
    }

    /// The intent, when there is one.
    pub fn intent(&self) -> Option<&Intent> {
        self.intent.as_ref().ok().and_then(Option::as_ref)
    }
}

impl GatewayView {
    fn state(state: GatewayState) -> Self {
        GatewayView { state, namespace_labels: None, others: BTreeMap::new(), attached: Vec::new() }
    }
}

#[derive(Debug, Clone)]
pub enum GatewayState {
    Found(Box<DynamicObject>),
    NotFound,
    /// The API refused the read (its message).
    Unreadable(String),
}

/// The objects of `store` in the StatefulSet's namespace labelled as its own and made for it (its
/// controller owner reference by UID), by name. A labelled object without it is not ours.
fn labelled<K>(store: &Store<K>, sts: &StatefulSet) -> Vec<Arc<K>>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    let (namespace, name) = (sts.metadata.namespace.as_deref(), sts.metadata.name.as_deref());
    let mut out: Vec<Arc<K>> = store
        .state()
        .into_iter()
        .filter(|o| o.meta().namespace.as_deref() == namespace)
        .filter(|o| o.labels().get(STATEFULSET_LABEL).map(String::as_str) == name)
        .filter(|o| desired::made_for(o.meta(), sts))
        .collect();
    out.sort_by_key(|o| o.name_any());
    out
}

/// Whether `pod` is one of StatefulSet `name`'s.
fn pod_of(pod: &Pod, namespace: &str, name: &str) -> bool {
    let by_name = pod
        .metadata
        .name
        .as_deref()
        .and_then(|n| n.strip_prefix(name))
        .and_then(|n| n.strip_prefix('-'))
        .is_some_and(|o| o.parse::<u32>().is_ok());
    let by_owner = pod.owner_references().iter().any(|o| o.kind == "StatefulSet" && o.name == name);
    pod.metadata.namespace.as_deref() == Some(namespace) && (by_name || by_owner)
}

/// Read what a reconcile of `sts` needs.
pub async fn observe(ctx: &Context, sts: Arc<StatefulSet>) -> Result<Observed, ReconcileError> {
    let (Some(ns), Some(name)) = (sts.metadata.namespace.clone(), sts.metadata.name.clone()) else {
        return Err(ReconcileError::NoIdentity);
    };
    let c = &ctx.caches;
    let key = ObjectRef::from_obj(&*sts);
    let (seen, recently_evicted, stuck) = {
        let st = ctx.state();
        let recently = st.evicted.get(&key).is_some_and(|t| t.elapsed() < Duration::from_secs(10));
        (st.seen.get(&key).cloned().unwrap_or_default(), recently, st.stuck.get(&key).copied())
    };
    let mut o = Observed::new(sts, &ctx.shared.defaults, &ctx.shared.addresses);
    o.services = labelled(&c.services, &o.sts);
    if let Some(intent) = o.intent() {
        o.foreign = foreign_services(ctx, intent, &o.services).await?;
    }
    for gw in gateways_named(&o) {
        let view = gateway_view(ctx, &gw, &o.sts).await?;
        o.gateways.insert(gw, view);
    }
    o.configmap = c
        .configmaps
        .get(&ObjectRef::new(&discovery::discovery_name(&name)).within(&ns))
        .filter(|cm| desired::made_for(&cm.metadata, &o.sts));
    o.owned = c.owned.iter().map(|(k, s)| (*k, labelled(s, &o.sts))).collect();
    o.pods = c.pods.state().into_iter().filter(|p| pod_of(p, &ns, &name)).collect();
    o.seen = seen;
    o.recently_evicted = recently_evicted;
    o.stuck = stuck;
    Ok(o)
}

/// Services of the names this StatefulSet wants that the cache does not hold as its own (someone
/// else's, or another StatefulSet's): read by name, only while the name is missing from the cache.
async fn foreign_services(
    ctx: &Context,
    intent: &Intent,
    ours: &[Arc<Service>],
) -> Result<BTreeMap<String, Service>, ReconcileError> {
    let api: Api<Service> = Api::namespaced(ctx.shared.client.clone(), &intent.namespace);
    let mut out = BTreeMap::new();
    for name in desired::service_names(intent) {
        if ours.iter().any(|s| s.name_any() == name) {
            continue;
        }
        if let Some(other) = api.get_opt(&name).await? {
            out.insert(name, other);
        }
    }
    Ok(out)
}

/// `namespace/name` of the Gateway the intent names (gateway modes; an access class's counts too)
/// and of the one recorded. Settings the class refuses name none (the plan refuses them; only the
/// recorded Gateway is read then).
fn gateways_named(o: &Observed) -> Vec<String> {
    let named = o.intent().and_then(Intent::gateway);
    let recorded = o.sts.annotations().get(ANN_ROUTED_THROUGH).cloned();
    let mut out: Vec<String> = named.into_iter().chain(recorded).filter(|g| g.contains('/')).collect();
    out.dedup();
    out
}

async fn gateway_view(ctx: &Context, gateway: &str, sts: &StatefulSet) -> Result<GatewayView, ReconcileError> {
    let namespace = sts.metadata.namespace.as_deref().unwrap_or_default();
    let (gw_ns, gw_name) = gateway.split_once('/').unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.shared.client.clone(), gw_ns, &Kind::Gateway.resource());
    let gw = match api.get_opt(gw_name).await {
        Ok(Some(gw)) => gw,
        Ok(None) => return Ok(GatewayView::state(GatewayState::NotFound)),
        Err(kube::Error::Api(s)) if refused(s.code) => {
            return Ok(GatewayView::state(GatewayState::Unreadable(s.message)))
        }
        Err(e) => return Err(e.into()),
    };
    // A namespace selector (a listener's allowedRoutes, the Gateway's allowedListeners) is judged
    // against the namespace's labels.
    let routes_selector = gw.data["spec"]["listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|l| l["allowedRoutes"]["namespaces"]["from"] == "Selector");
    let listeners_selector = gw.data["spec"]["allowedListeners"]["namespaces"]["from"] == "Selector";
    let namespace_labels = if (routes_selector && gw_ns != namespace) || listeners_selector {
        let ns = Api::<Namespace>::all(ctx.shared.client.clone()).get_opt(namespace).await.ok().flatten();
        ns.map(|n| n.metadata.labels.unwrap_or_default())
    } else {
        None
    };
    let attached = ctx.caches.owned.get(&Kind::ListenerSet).map(|s| s.state()).unwrap_or_default();
    let attached = attached
        .into_iter()
        .filter(|ls| gateway::attached_to(ls, gw_ns, gw_name) && !desired::made_for(&ls.metadata, sts))
        .collect();
    let others = listener_owners(ctx, &gw);
    Ok(GatewayView { others, state: GatewayState::Found(Box::new(gw)), namespace_labels, attached })
}

/// The listener field managers on a Gateway whose StatefulSet this replica can see: whether it exists.
fn listener_owners(ctx: &Context, gw: &DynamicObject) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    for m in gw.metadata.managed_fields.iter().flatten().filter_map(|m| m.manager.as_deref()) {
        // A hashed (over-long) manager name cannot be traced back: left alone.
        let Some((ns, sts)) = listener_manager_owner(m) else { continue };
        // Not ours to see (a namespace-scoped install): its own install releases them.
        if !ctx.covers(ns) {
            continue;
        }
        let exists = ctx.caches.statefulsets.get(&ObjectRef::new(sts).within(ns)).is_some();
        out.insert(m.to_owned(), exists);
    }
    out
}
