//! One reconcile of one StatefulSet: level-triggered, idempotent, server-side apply only.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, Pod, Service};
use kube::api::{DeleteParams, EvictParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::watch;

use super::addresses::ingress_address;
use super::desired::{self, Desired, MANAGED_BY, MANAGED_BY_LABEL, ORDINAL_LABEL, ROLE_LABEL, STATEFULSET_LABEL};
use super::gateway;
use super::routing;
use super::{Shared, FIELD_MANAGER};
use crate::mutate::settings::{Mode, ANN_ADVERTISED};
use crate::mutate::{self, AddressLookup, RequestNames};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("StatefulSet has no namespace or name")]
    NoIdentity,
    /// Leadership was lost mid-reconcile: stop writing at once (not an error).
    #[error("no longer the leader")]
    NotLeader,
}

impl ReconcileError {
    pub fn kind(&self) -> &'static str {
        match self {
            ReconcileError::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            ReconcileError::Kube(kube::Error::Api(_)) => "api",
            ReconcileError::Kube(_) => "transport",
            ReconcileError::NoIdentity => "invalid",
            ReconcileError::NotLeader => "not_leader",
        }
    }
}

/// Per-StatefulSet bookkeeping, shared by every namespace scope of one process (the gauges are sums).
#[derive(Default)]
pub struct State {
    /// Consecutive failures per StatefulSet, for back-off.
    failures: HashMap<ObjectRef<StatefulSet>, u32>,
    /// Addresses seen at the last reconcile, per StatefulSet (for AddressAssigned events).
    seen: HashMap<ObjectRef<StatefulSet>, BTreeMap<u32, String>>,
    waiting: HashMap<ObjectRef<StatefulSet>, i64>,
    managed: HashMap<ObjectRef<StatefulSet>, i64>,
    /// The template problems last published per StatefulSet (Events only when they change).
    problems: HashMap<ObjectRef<StatefulSet>, Vec<String>>,
    /// The Gateway, route and certificate problems last published per StatefulSet.
    routing_problems: HashMap<ObjectRef<StatefulSet>, Vec<String>>,
    /// When we last evicted a pod of a StatefulSet (one at a time).
    evicted: HashMap<ObjectRef<StatefulSet>, (String, Instant)>,
}

pub struct Context {
    pub shared: Shared,
    pub recorder: Recorder,
    pub leader: watch::Receiver<bool>,
    pub pods: Store<Pod>,
    /// Managed Services (label managed-by), for cheap checks that need no API call.
    pub services: Store<Service>,
    /// Managed ConfigMaps (client discovery), likewise.
    pub configmaps: Store<ConfigMap>,
    state: Arc<Mutex<State>>,
}

impl Context {
    pub fn new(
        shared: Shared,
        recorder: Recorder,
        leader: watch::Receiver<bool>,
        pods: Store<Pod>,
        services: Store<Service>,
        configmaps: Store<ConfigMap>,
    ) -> Self {
        Self::with_state(shared, recorder, leader, pods, services, configmaps, Arc::default())
    }

    /// A context sharing `state` with the other namespace scopes' contexts.
    pub fn with_state(
        shared: Shared,
        recorder: Recorder,
        leader: watch::Receiver<bool>,
        pods: Store<Pod>,
        services: Store<Service>,
        configmaps: Store<ConfigMap>,
        state: Arc<Mutex<State>>,
    ) -> Self {
        Self { shared, recorder, leader, pods, services, configmaps, state }
    }

    /// A StatefulSet is gone: drop what we kept about it, so its gauges go with it.
    pub fn forget(&self, key: &ObjectRef<StatefulSet>) {
        let mut st = self.state();
        st.failures.remove(key);
        st.seen.remove(key);
        st.waiting.remove(key);
        st.managed.remove(key);
        st.evicted.remove(key);
        st.problems.remove(key);
        st.routing_problems.remove(key);
        publish_gauges(self, &st);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }
}

/// Publish an Event about `obj`; `related` (a Service, a pod) keeps events about different
/// objects apart instead of folding them into one series.
pub(super) async fn event(
    ctx: &Context,
    obj: &impl Resource<DynamicType = ()>,
    related: Option<ObjectReference>,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let ev = Event { type_, reason: reason.into(), note: Some(note), action: action.into(), secondary: related };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "cannot publish event");
    }
}

/// Publish `(reason, message)` problems as Warning Events on the StatefulSet when their set differs
/// from the one last published in the `published` map of [`State`] (an Event per change, not per reconcile).
async fn warn_when_changed(
    ctx: &Context,
    sts: &StatefulSet,
    key: &ObjectRef<StatefulSet>,
    published: fn(&mut State) -> &mut HashMap<ObjectRef<StatefulSet>, Vec<String>>,
    problems: &[(&'static str, String)],
) {
    let fresh = {
        let mut st = ctx.state();
        let notes: Vec<String> = problems.iter().map(|(r, m)| format!("{r}: {m}")).collect();
        published(&mut st).insert(key.clone(), notes.clone()) != Some(notes)
    };
    if fresh {
        for (reason, note) in problems {
            event(ctx, sts, None, EventType::Warning, reason, "Reconcile", note.clone()).await;
        }
    }
}

/// Checked before every write: a replica that lost the Lease stops writing promptly.
pub(super) fn still_leader(ctx: &Context) -> Result<(), ReconcileError> {
    if ctx.is_leader() {
        Ok(())
    } else {
        Err(ReconcileError::NotLeader)
    }
}

fn service_ref(namespace: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        ..Default::default()
    }
}

pub(super) fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Delete an object; one already gone (the garbage collector, another replica) is not an error.
pub(super) async fn delete_if_present<K>(api: &Api<K>, name: &str) -> Result<(), ReconcileError>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// API answers that mean "this object is refused as it is" (not a transient failure): 400 bad
/// request, 403 forbidden (quota, policy), 404 (namespace gone), 409 is retried, 422 invalid.
pub(super) fn refused(code: u16) -> bool {
    matches!(code, 400 | 403 | 404 | 422)
}

/// Hash of a StatefulSet's addresses, for the `addresses-ready` nudge.
/// FNV-1a over `ordinal=address;` pairs in ordinal order: the same on every build and replica, so
/// an upgrade does not nudge every StatefulSet again.
pub fn addresses_hash(addrs: &BTreeMap<u32, String>) -> String {
    let pairs: String = addrs.iter().map(|(ordinal, address)| format!("{ordinal}={address};")).collect();
    format!("{:016x}", fnv1a(pairs.as_bytes()))
}

/// 64-bit FNV-1a: stable across builds and replicas (unlike the std hasher).
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Reconcile one StatefulSet.
pub async fn reconcile(sts: Arc<StatefulSet>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let start = Instant::now();
    let key = ObjectRef::from_obj(&*sts);
    let r = match reconcile_inner(&sts, &ctx, &key).await {
        Err(ReconcileError::NotLeader) => Ok(Action::await_change()),
        r => r,
    };
    let m = &ctx.shared.metrics;
    m.reconciles.inc();
    m.reconcile_duration.observe(start.elapsed().as_secs_f64());
    if r.is_ok() {
        ctx.state().failures.remove(&key);
    }
    r
}

/// Errors requeue with exponential back-off per StatefulSet (1 s … 5 min).
pub fn error_policy(sts: Arc<StatefulSet>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.shared.metrics.reconcile_errors.get_or_create(&crate::metrics::ErrorLabels { kind: err.kind() }).inc();
    let key = ObjectRef::from_obj(&*sts);
    let mut st = ctx.state();
    let n = st.failures.entry(key).or_insert(0);
    *n = n.saturating_add(1);
    let delay = Duration::from_secs(1u64 << (*n - 1).min(8)).min(Duration::from_secs(300));
    tracing::warn!(statefulset = %sts.name_any(), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn reconcile_inner(
    sts: &StatefulSet,
    ctx: &Context,
    key: &ObjectRef<StatefulSet>,
) -> Result<Action, ReconcileError> {
    if !ctx.is_leader() {
        // Followers keep their caches warm and never write.
        return Ok(Action::await_change());
    }
    if !ctx.shared.readiness.caches.load(std::sync::atomic::Ordering::Acquire) {
        // Decisions below read the Service and pod caches: not before they hold a full list.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let (Some(ns), Some(name)) = (sts.metadata.namespace.as_deref(), sts.metadata.name.as_deref()) else {
        return Err(ReconcileError::NoIdentity);
    };
    let services: Api<Service> = Api::namespaced(ctx.shared.client.clone(), ns);
    let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY},{STATEFULSET_LABEL}={name}");

    if sts.metadata.deletion_timestamp.is_some() {
        // Owner references let the garbage collector remove the Services.
        return Ok(Action::await_change());
    }
    if !desired::opted_in(sts) {
        // Opted out (or never in): remove what we made for it, if anything. Most StatefulSets in a
        // cluster never opted in: the cache says whether there is anything to list and delete.
        let has_ours = ctx.services.state().iter().any(|s| {
            s.metadata.namespace.as_deref() == Some(ns)
                && s.labels().get(STATEFULSET_LABEL).map(String::as_str) == Some(name)
        });
        let discovery = desired::discovery_name(name);
        if ctx.configmaps.get(&ObjectRef::new(&discovery).within(ns)).is_some() {
            still_leader(ctx)?;
            delete_if_present(&Api::<ConfigMap>::namespaced(ctx.shared.client.clone(), ns), &discovery).await?;
        }
        routing::release_unused(ctx, sts, None, None, false).await?;
        let annotated = sts.annotations().keys().any(|k| desired::STATEFULSET_ANNOTATIONS.contains(&k.as_str()));
        if annotated {
            // Server-side apply of nothing: drops the annotations this field manager owns.
            let empty =
                json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": ns}});
            still_leader(ctx)?;
            Api::<StatefulSet>::namespaced(ctx.shared.client.clone(), ns)
                .patch(name, &apply_params(), &Patch::Apply(&empty))
                .await?;
        }
        if !has_ours {
            return Ok(Action::await_change());
        }
        let existing = services.list(&ListParams::default().labels(&selector)).await?;
        for svc in existing.items {
            let svc_name = svc.name_any();
            still_leader(ctx)?;
            delete_if_present(&services, &svc_name).await?;
            event(
                ctx,
                sts,
                Some(service_ref(ns, &svc_name)),
                EventType::Normal,
                "ServiceDeleted",
                "Delete",
                format!("deleted {svc_name}: StatefulSet no longer opted in"),
            )
            .await;
        }
        ctx.forget(key);
        return Ok(Action::await_change());
    }

    // What the webhook would say about these brokers, where users look: Events on the StatefulSet
    // (published when the set of problems changes).
    let problems = desired::template_problems(sts, &ctx.shared.defaults);
    warn_when_changed(ctx, sts, key, |st| &mut st.problems, &problems).await;

    let mut d = match desired::desired(sts, &ctx.shared.defaults) {
        Ok(d) => d,
        Err(e) => {
            if !problems.iter().any(|(_, m)| m.contains(&e.to_string())) {
                event(ctx, sts, None, EventType::Warning, "InvalidSettings", "Reconcile", e.to_string()).await;
            }
            return Ok(Action::await_change());
        }
    };

    // Gateway modes: read the user's Gateway (its address goes on the brokers' Services, where the
    // webhook's address view reads it) and apply this StatefulSet's listeners to it.
    let mut routing_problems: routing::Problems = Vec::new();
    let plan = gateway::gateway_plan(&d, sts);
    let route_kind = gateway::route_kind(d.settings.mode);
    if let Some(plan) = &plan {
        let seen = routing::observe(ctx, &d, plan, &mut routing_problems).await?;
        if let (Mode::GatewayTcp, None, Some(a)) = (d.settings.mode, &d.settings.address, &seen.address) {
            for (_, svc) in d.services.iter_mut() {
                svc.metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(gateway::ANN_GATEWAY_ADDRESS.into(), a.clone());
            }
        }
        if seen.exists {
            routing::apply_listeners(ctx, &d, plan, &mut routing_problems).await?;
        }
    }

    let existing = services.list(&ListParams::default().labels(&selector)).await?.items;
    let by_name: HashMap<String, &Service> = existing.iter().map(|s| (s.name_any(), s)).collect();

    // Create/update every desired Service we may own.
    let wanted: Vec<&Service> = d.services.iter().map(|(_, s)| s).chain(d.bootstrap.as_ref()).collect();
    let mut managed = 0i64;
    let mut refused_services = 0u32;
    let mut pods_draining = false;
    for svc in &wanted {
        let svc_name = svc.metadata.name.clone().unwrap_or_default();
        let exists = by_name.contains_key(&svc_name);
        if !exists {
            if let Some(other) = services.get_opt(&svc_name).await? {
                // Ours only if it is this StatefulSet's: two StatefulSets whose name templates render
                // the same name would otherwise take the Service from each other on every reconcile.
                let labels = other.labels();
                let managed = labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY);
                let owner = labels.get(STATEFULSET_LABEL).map(String::as_str);
                let conflict = if !managed {
                    Some(format!(
                        "Service {svc_name} exists and is not managed by kafka-advertiser; leaving it alone (rename \
                         it or set kafka-advertiser.io/service-name-template)"
                    ))
                } else if owner != Some(name) {
                    Some(format!(
                        "Service {svc_name} belongs to StatefulSet {}; leaving it alone (set \
                         kafka-advertiser.io/service-name-template so the names differ)",
                        owner.unwrap_or("(unknown)")
                    ))
                } else {
                    None
                };
                if let Some(note) = conflict {
                    let related = Some(service_ref(ns, &svc_name));
                    event(ctx, sts, related, EventType::Warning, "ServiceConflict", "Reconcile", note).await;
                    continue;
                }
            }
        }
        still_leader(ctx)?;
        match services.patch(&svc_name, &apply_params(), &Patch::Apply(svc)).await {
            Ok(_) => {}
            // The API refused this Service (validation, quota, policy, an immutable field): say so
            // where users look and carry on with the other Services; retried on the next requeue.
            Err(kube::Error::Api(s)) if refused(s.code) => {
                refused_services += 1;
                tracing::warn!(service = %svc_name, code = s.code, message = %s.message, "Service refused by the API");
                event(
                    ctx,
                    sts,
                    Some(service_ref(ns, &svc_name)),
                    EventType::Warning,
                    "ServiceApplyFailed",
                    "Apply",
                    format!("the API refused Service {svc_name}: {}", s.message),
                )
                .await;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        managed += 1;
        if !exists {
            event(
                ctx,
                sts,
                Some(service_ref(ns, &svc_name)),
                EventType::Normal,
                "ServiceCreated",
                "Create",
                format!("created Service {svc_name}"),
            )
            .await;
        }
    }

    // Scale down: remove Services outside the range (unless retained) and a bootstrap no longer wanted.
    let wanted_names: Vec<&str> = wanted.iter().filter_map(|s| s.metadata.name.as_deref()).collect();
    for svc in &existing {
        let svc_name = svc.name_any();
        if wanted_names.contains(&svc_name.as_str()) {
            continue;
        }
        let is_broker = svc.labels().get(ROLE_LABEL).map(String::as_str) == Some("broker");
        let ordinal = svc.labels().get(ORDINAL_LABEL).cloned().unwrap_or_default();
        // Out of range: a scale-down. In range: no longer wanted at all (service-type None).
        let scaled_away = is_broker && !ordinal.parse::<u32>().is_ok_and(|o| d.ordinals().contains(&o));
        if scaled_away && d.service_settings.retain {
            managed += 1;
            continue;
        }
        // The StatefulSet controller removes brokers one at a time, each with its grace period (Kafka's
        // controlled shutdown): keep the broker's address until its pod is gone.
        let pod_name = format!("{name}-{ordinal}");
        if scaled_away
            && ctx.pods.state().iter().any(|p| {
                p.metadata.namespace.as_deref() == Some(ns) && p.metadata.name.as_deref() == Some(pod_name.as_str())
            })
        {
            managed += 1;
            pods_draining = true;
            continue;
        }
        still_leader(ctx)?;
        delete_if_present(&services, &svc_name).await?;
        event(
            ctx,
            sts,
            Some(service_ref(ns, &svc_name)),
            EventType::Normal,
            "ServiceDeleted",
            "Delete",
            format!("deleted Service {svc_name} (ordinal {ordinal} is outside the StatefulSet's range)"),
        )
        .await;
    }

    // Routes to the brokers' Services, and the release of what a former Gateway, mode or issuer had.
    if let (Some(plan), Some(kind)) = (&plan, route_kind) {
        let ar = gateway::route_resource(kind);
        let (routes, draining) = routing::sync(ctx, &d, &ar, &plan.routes, false, &mut routing_problems).await?;
        pods_draining |= draining;
        routing_problems.extend(routes.iter().flat_map(gateway::route_problems).map(|m| ("RouteNotAccepted", m)));
    }
    routing::release_unused(ctx, sts, plan.as_ref(), route_kind, d.settings.tls_issuer.is_some()).await?;

    // Addresses of the brokers in range.
    let needs_address = match d.settings.mode {
        Mode::Loadbalancer => true,
        Mode::SharedAddress | Mode::GatewayTcp => d.settings.address.is_none(),
        Mode::Hostname | Mode::Nodeport | Mode::PodIp | Mode::GatewayTls => false,
    };
    let mut addrs = BTreeMap::new();
    for (ordinal, svc) in &d.services {
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        if let Some(a) = by_name.get(name).and_then(|s| ingress_address(s)) {
            addrs.insert(*ordinal, a.to_owned());
        }
    }
    let waiting = if needs_address { d.services.len() as i64 - addrs.len() as i64 } else { 0 };
    let newly: Vec<(u32, String)> = {
        let mut st = ctx.state();
        let prev = st.seen.insert(key.clone(), addrs.clone()).unwrap_or_default();
        st.waiting.insert(key.clone(), waiting);
        st.managed.insert(key.clone(), managed);
        publish_gauges(ctx, &st);
        addrs.iter().filter(|(o, a)| prev.get(o) != Some(a)).map(|(o, a)| (*o, a.clone())).collect()
    };
    for (o, a) in &newly {
        let svc =
            d.services.iter().find(|(x, _)| x == o).and_then(|(_, s)| s.metadata.name.as_deref()).unwrap_or_default();
        event(
            ctx,
            sts,
            Some(service_ref(ns, svc)),
            EventType::Normal,
            "AddressAssigned",
            "Reconcile",
            format!("broker {o} is reachable at {a} (Service {svc})"),
        )
        .await;
    }
    // The StatefulSet shows the result: every broker's external host:port once all are known; and
    // when they became known, a hash that nudges the StatefulSet controller to retry denied pods.
    let hosts = external_hosts(&d, &addrs, &pod_addresses(ctx, &d));
    let endpoints = external_endpoints(&d, &hosts);
    // Broker certificates name the external host, so they follow it.
    if d.settings.tls_issuer.is_some() {
        let certs: Vec<(Option<u32>, _)> =
            gateway::certificates(&d, sts, &hosts).into_iter().map(|(o, c)| (Some(o), c)).collect();
        let ar = gateway::certificate_resource();
        let (_, draining) = routing::sync(ctx, &d, &ar, &certs, true, &mut routing_problems).await?;
        pods_draining |= draining;
    }
    warn_when_changed(ctx, sts, key, |st| &mut st.routing_problems, &routing_problems).await;
    let bootstrap = external_bootstrap(&d, &endpoints);
    // Client discovery: a ConfigMap clients mount or read, written when its content changes.
    let cm = desired::discovery_configmap(sts, &endpoints);
    let cm_name = desired::discovery_name(&d.name);
    let current = ctx.configmaps.get(&ObjectRef::new(&cm_name).within(ns));
    if current.is_none_or(|c| c.data != cm.data) {
        still_leader(ctx)?;
        match Api::<ConfigMap>::namespaced(ctx.shared.client.clone(), ns)
            .patch(&cm_name, &apply_params(), &Patch::Apply(&cm))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if refused(s.code) => {
                refused_services += 1;
                event(
                    ctx,
                    sts,
                    None,
                    EventType::Warning,
                    "ConfigMapApplyFailed",
                    "Apply",
                    format!("the API refused ConfigMap {cm_name}: {}", s.message),
                )
                .await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Every newly learned address changes the hash: brokers whose address is known are retried at once,
    // not after the StatefulSet controller's back-off while another load balancer is still slow.
    let ready_hash = (needs_address && !addrs.is_empty()).then(|| addresses_hash(&addrs));
    let current = |k: &str| sts.annotations().get(k).cloned();
    let routed = plan.as_ref().map(gateway::GatewayPlan::gateway);
    let certified = d.settings.tls_issuer.is_some().then(|| "true".to_owned());
    let stale = (ready_hash.is_some() && current(desired::ANN_ADDRESSES_READY) != ready_hash)
        || current(desired::ANN_EXTERNAL_BOOTSTRAP) != bootstrap
        || current(gateway::ANN_ROUTED_THROUGH) != routed
        || current(gateway::ANN_CERTIFICATES) != certified;
    if stale {
        // Touch only the StatefulSet's own metadata: the pod template is not changed, so no rollout.
        // Fields we applied before and leave out now are removed by server-side apply.
        let mut annotations = serde_json::Map::new();
        let keep_hash = ready_hash.clone().or_else(|| current(desired::ANN_ADDRESSES_READY));
        if let Some(h) = keep_hash {
            annotations.insert(desired::ANN_ADDRESSES_READY.into(), h.into());
        }
        if let Some(b) = &bootstrap {
            annotations.insert(desired::ANN_EXTERNAL_BOOTSTRAP.into(), b.clone().into());
        }
        if let Some(g) = &routed {
            annotations.insert(gateway::ANN_ROUTED_THROUGH.into(), g.clone().into());
        }
        if let Some(c) = &certified {
            annotations.insert(gateway::ANN_CERTIFICATES.into(), c.clone().into());
        }
        let nudge = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": { "name": d.name, "namespace": d.namespace, "annotations": annotations }
        });
        let api: Api<StatefulSet> = Api::namespaced(ctx.shared.client.clone(), ns);
        still_leader(ctx)?;
        api.patch(&d.name, &apply_params(), &Patch::Apply(&nudge)).await?;
    }

    let drifting = drift(sts, &d, ctx, key).await?;
    Ok(if waiting > 0 || drifting || refused_services > 0 || pods_draining || !routing_problems.is_empty() {
        Action::requeue(Duration::from_secs(30))
    } else {
        Action::requeue(Duration::from_secs(300))
    })
}

/// Each broker pod's (node IP, pod IP), from the pod cache.
fn pod_addresses(ctx: &Context, d: &Desired) -> BTreeMap<u32, (Option<String>, Option<String>)> {
    let mut out = BTreeMap::new();
    for pod in ctx.pods.state() {
        if pod.metadata.namespace.as_deref() != Some(d.namespace.as_str()) || pod.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let Some(ordinal) = pod
            .metadata
            .name
            .as_deref()
            .and_then(|n| n.strip_prefix(d.name.as_str()))
            .and_then(|n| n.strip_prefix('-'))
            .and_then(|o| o.parse::<u32>().ok())
        else {
            continue;
        };
        let st = pod.status.as_ref();
        let ips = (st.and_then(|s| s.host_ip.clone()), st.and_then(|s| s.pod_ip.clone()));
        out.insert(ordinal, ips);
    }
    out
}

/// The external host of each broker whose address is known: a load balancer's (or Gateway's)
/// learned address, the shared or set address, the rendered name, or, from the pod itself, its
/// node's IP (nodeport) or its own IP (pod-ip).
pub fn external_hosts(
    d: &Desired,
    lb: &BTreeMap<u32, String>,
    pods: &BTreeMap<u32, (Option<String>, Option<String>)>,
) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for ordinal in d.ordinals() {
        let pod = format!("{}-{ordinal}", d.name);
        let host = match d.settings.mode {
            Mode::Loadbalancer => lb.get(&ordinal).cloned(),
            Mode::SharedAddress | Mode::GatewayTcp => d.settings.address.clone().or_else(|| lb.get(&ordinal).cloned()),
            Mode::Hostname | Mode::GatewayTls => {
                d.settings.hostname_template.as_ref().map(|t| t.render(ordinal, &pod, &d.namespace, &d.name))
            }
            Mode::Nodeport => pods.get(&ordinal).and_then(|(node, _)| node.clone()),
            Mode::PodIp => pods.get(&ordinal).and_then(|(_, ip)| ip.clone()),
        };
        if let Some(h) = host.filter(|h| !h.is_empty()) {
            out.insert(ordinal, h);
        }
    }
    out
}

/// The external `host:port` of each broker whose address is known, in ordinal order (IPv6 bracketed).
pub fn external_endpoints(d: &Desired, hosts: &BTreeMap<u32, String>) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for (&ordinal, host) in hosts {
        let Ok(port) = d.settings.external_port(ordinal) else {
            continue;
        };
        let endpoint = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        out.insert(ordinal, endpoint);
    }
    out
}

/// Every broker's `host:port`, comma-separated in ordinal order, once every one is known.
pub fn external_bootstrap(d: &Desired, endpoints: &BTreeMap<u32, String>) -> Option<String> {
    let all = d.replicas > 0 && d.ordinals().all(|o| endpoints.contains_key(&o));
    all.then(|| endpoints.values().cloned().collect::<Vec<_>>().join(","))
}

fn publish_gauges(ctx: &Context, st: &State) {
    ctx.shared.metrics.brokers_waiting.set(st.waiting.values().sum());
    ctx.shared.metrics.managed_services.set(st.managed.values().sum());
}

fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Compare what each running broker advertised with what it would be given now.
async fn drift(
    sts: &StatefulSet,
    d: &Desired,
    ctx: &Context,
    key: &ObjectRef<StatefulSet>,
) -> Result<bool, ReconcileError> {
    let uid = sts.metadata.uid.as_deref();
    let mut pods: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(d.namespace.as_str()))
        .filter(|p| {
            p.owner_references()
                .iter()
                .any(|o| o.kind == "StatefulSet" && o.name == d.name && (uid.is_none() || Some(o.uid.as_str()) == uid))
        })
        .collect();
    pods.sort_by_key(|p| p.name_any());
    let mut drifted = Vec::new();
    for pod in &pods {
        let Some(advertised) = pod.annotations().get(ANN_ADVERTISED) else {
            continue;
        };
        let names = RequestNames { name: pod.metadata.name.as_deref().unwrap_or(""), namespace: &d.namespace };
        // Pending or invalid: not drift (the address is gone or settings are broken; other paths report those).
        let Ok(Some(now)) =
            mutate::mutate(pod, names, &ctx.shared.defaults, &ctx.shared.addresses as &dyn AddressLookup)
        else {
            continue;
        };
        if !mutate::same_advertised(&now.advertised, advertised) {
            drifted.push((pod.clone(), advertised.clone(), now.advertised));
        }
    }
    for (pod, was, now) in &drifted {
        let note = format!("pod {} advertises {was} but its address is now {now}", pod.name_any());
        event(ctx, &**pod, None, EventType::Warning, "AddressDrift", "Reconcile", note.clone()).await;
        event(ctx, sts, Some(pod.object_ref(&())), EventType::Warning, "AddressDrift", "Reconcile", note).await;
    }
    if drifted.is_empty() || !d.service_settings.roll_on_change {
        return Ok(!drifted.is_empty());
    }
    // One at a time: only when every broker is Ready (the last evicted one came back).
    let all_ready = pods.len() as u32 >= d.replicas && pods.iter().all(|p| pod_ready(p));
    let recently = ctx.state().evicted.get(key).is_some_and(|(_, t)| t.elapsed() < Duration::from_secs(10));
    if !all_ready || recently {
        return Ok(true);
    }
    let (pod, _, now) = &drifted[0];
    let pod_name = pod.name_any();
    let api: Api<Pod> = Api::namespaced(ctx.shared.client.clone(), &d.namespace);
    still_leader(ctx)?;
    match api.evict(&pod_name, &EvictParams::default()).await {
        Ok(_) => {
            ctx.state().evicted.insert(key.clone(), (pod_name.clone(), Instant::now()));
            event(
                ctx,
                sts,
                Some(pod.object_ref(&())),
                EventType::Normal,
                "EvictedForNewAddress",
                "Evict",
                format!("evicted {pod_name} so it restarts advertising {now}"),
            )
            .await;
        }
        // 429: a PodDisruptionBudget forbids it right now; try again later.
        Err(kube::Error::Api(s)) if s.code == 429 => {
            tracing::info!(pod = %pod_name, "eviction blocked by a PodDisruptionBudget; retrying later");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(true)
}
