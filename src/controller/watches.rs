//! The watches that feed the caches and trigger reconciles, per namespace scope; leadership; the
//! readiness signal. Plumbing only: every decision is in [`super::plan`].

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::DynamicObject;
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, reflector, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::address_feed::publish_selector;
use super::context::{Caches, Context, ControllerConfig, Shared, State};
use super::kinds::Kind;
use super::lists::list_config;
use super::{address_feed, apply, classes, leader, reconcile};
use crate::mutate::ClusterView;
use crate::names::{
    ANN_ROUTED_THROUGH, ENABLED_LABEL, FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL, STATEFULSET_ANNOTATIONS,
};
use crate::spec;
use crate::spec::class::ClassSource;
use crate::spec::settings::Defaults;

pub(super) type Synced = Vec<oneshot::Receiver<()>>;

pub(super) fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn managed() -> watcher::Config {
    list_config().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"))
}

/// Run the controller until `stop` fires.
pub async fn run(shared: Shared, settings: ControllerConfig, stop: CancellationToken) {
    let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        settings.namespaces.iter().cloned().map(Some).collect()
    };
    // Leader election: every replica watches; only the holder of the Lease writes. Awaited at the
    // end, so a stopping replica releases the Lease before the runtime goes away (the next leader
    // then takes over at once instead of after the lease duration).
    let (leader_tx, leader_rx) = watch::channel(false);
    let leading = tokio::spawn(leader::lead(
        shared.client.clone(),
        settings.clone(),
        leader_tx,
        shared.metrics.clone(),
        stop.clone(),
    ));
    let served = crate::controller::kinds::discover(&shared.client).await;
    tracing::info!(served = ?served.iter().map(|k| k.name()).collect::<Vec<_>>(), "optional APIs discovered");
    let mut tasks = Vec::new();
    let mut synced = Vec::new();
    // Access classes and namespaces' labels (cluster-wide reads): a class changed, every
    // StatefulSet is planned again.
    let (class_tx, class_rx) = watch::channel(0u64);
    let (tx, rx) = oneshot::channel();
    synced.push(rx);
    let (client, book) = (shared.client.clone(), shared.addresses.clone());
    tasks.push(tokio::spawn(classes::run(
        client.clone(),
        book.clone(),
        shared.metrics.clone(),
        tx,
        class_tx,
        stop.clone(),
    )));
    let (tx, rx) = oneshot::channel();
    synced.push(rx);
    tasks.push(tokio::spawn(classes::namespaces(client, book, tx, stop.clone())));
    let state = Arc::new(Mutex::new(State::default()));
    for scope in scopes {
        let s = Scope { shared: &shared, settings: &settings, scope, served: &served, stop: &stop };
        tasks.extend(s.start(leader_rx.clone(), class_rx.clone(), state.clone(), &mut synced));
    }
    tokio::spawn(ready_when_synced(shared.clone(), synced));
    tasks.push(tokio::spawn(class_status(shared.clone(), state.clone(), leader_rx.clone(), stop.clone())));
    if let Some(tls) = settings.self_tls.clone() {
        let client = shared.client.clone();
        tasks.push(tokio::spawn(crate::selftls::run(client, tls, leader_rx.clone(), stop.clone())));
    }
    for t in tasks {
        let _ = t.await;
    }
    let _ = leading.await;
}

/// The leader keeps each access class's status (its reach) current, every few seconds, writing only
/// what changed.
async fn class_status(
    shared: Shared,
    state: Arc<Mutex<State>>,
    leader: watch::Receiver<bool>,
    stop: CancellationToken,
) {
    let mut written = BTreeMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
        if !*leader.borrow() {
            written.clear();
            continue;
        }
        let uses: Vec<(String, String)> = {
            let st = state.lock().unwrap_or_else(|p| p.into_inner());
            st.classes.iter().map(|(k, c)| (k.namespace.clone().unwrap_or_default(), c.clone())).collect()
        };
        classes::write_status(&shared.client, &shared.addresses, uses, &mut written).await;
    }
}

/// Ready once every watch of every scope has listed once (reconciles wait for it).
pub(super) async fn ready_when_synced(shared: Shared, synced: Synced) {
    for rx in synced {
        if rx.await.is_err() {
            return;
        }
    }
    shared.addresses.mark_synced();
    shared.readiness.caches.store(true, Ordering::Release);
    tracing::info!("caches synced; ready");
}

/// One namespace scope's watches and controller (`scope` `None`: all namespaces).
struct Scope<'a> {
    shared: &'a Shared,
    settings: &'a ControllerConfig,
    scope: Option<String>,
    served: &'a [Kind],
    stop: &'a CancellationToken,
}

impl Scope<'_> {
    fn ns(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    fn start(
        &self,
        leader: watch::Receiver<bool>,
        classes_changed: watch::Receiver<u64>,
        state: Arc<Mutex<State>>,
        synced: &mut Synced,
    ) -> Vec<JoinHandle<()>> {
        let client = &self.shared.client;
        // Managed Services: one watch feeds the cache, then the address view (all replicas), then
        // the reconciles of their StatefulSets, in that order (a reconcile never reads a cache older
        // than what triggered it).
        let (services, svc_writer) = reflector::store::<Service>();
        let (tx, rx) = oneshot::channel();
        synced.push(rx);
        let svc_stream = address_feed::stream(api(client, self.ns()), svc_writer)
            .inspect(address_feed::feeder(self.shared.addresses.clone(), self.scope.clone(), tx))
            .touched_objects();
        let (pods, pod_stream) = self.pods(synced);
        let (configmaps, cm_stream) = self.configmaps(synced);
        let mut owned = BTreeMap::new();
        let mut owned_streams = Vec::new();
        for kind in Kind::DYNAMIC.into_iter().filter(|k| self.served.contains(k)) {
            let (store, stream) = self.owned(kind, synced);
            owned.insert(kind, store);
            owned_streams.push((kind, stream));
        }
        let (sts_store, sts_writer) = reflector::store::<StatefulSet>();
        let recorder = Recorder::new(
            client.clone(),
            Reporter { controller: FIELD_MANAGER.into(), instance: Some(self.settings.identity.clone()) },
        );
        let caches =
            Caches { scope: self.scope.clone(), statefulsets: sts_store.clone(), pods, services, configmaps, owned };
        let ctx = Arc::new(Context::new(self.shared.clone(), recorder, leader.clone(), caches, state));
        let sts_stream = self.statefulsets(sts_writer, ctx.clone(), synced);
        // Every trigger stream reaches the Controller without its errors (see `triggers`).
        let mut controller = Controller::for_stream(triggers(sts_stream, "StatefulSet"), sts_store.clone())
            .with_config(kube::runtime::controller::Config::default().concurrency(self.settings.concurrency))
            .owns_stream(triggers(svc_stream, "Service"))
            .owns_stream(triggers(pod_stream, "Pod"))
            .owns_stream(triggers(cm_stream, "ConfigMap"));
        for (kind, stream) in owned_streams {
            controller = controller.owns_stream_with(triggers(stream, kind.name()), kind.resource());
        }
        if self.served.contains(&Kind::Gateway) {
            // A Gateway's address or listeners changed: reconcile the StatefulSets routed through it.
            let shared = self.shared.clone();
            let gateways =
                watcher(dyn_api(client, self.ns(), Kind::Gateway), list_config()).default_backoff().touched_objects();
            controller = controller.watches_stream_with(
                triggers(gateways, "Gateway"),
                move |gw| statefulsets_routed_through(&sts_store, &gw, &shared.defaults, &shared.addresses),
                Kind::Gateway.resource(),
            );
        }
        // Becoming leader: reconcile everything (nothing was written while we followed).
        let stop = self.stop.clone();
        let run = controller
            .reconcile_all_on(leader::became_leader(leader))
            .reconcile_all_on(classes::changes(classes_changed))
            .graceful_shutdown_on(stop.cancelled_owned())
            .run(reconcile::reconcile, reconcile::error_policy, ctx)
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "reconcile failed");
                }
            });
        vec![tokio::spawn(run)]
    }

    /// Opted-in broker pods: drift detection, and in nodeport and pod-ip modes their addresses.
    fn pods(
        &self,
        synced: &mut Synced,
    ) -> (Store<Pod>, impl Stream<Item = Result<Pod, watcher::Error>> + Send + 'static) {
        let (store, writer) = reflector::store::<Pod>();
        let cfg = list_config().labels(&format!("{ENABLED_LABEL}=true"));
        let stream = reflector(writer, watcher(api::<Pod>(&self.shared.client, self.ns()), cfg).modify(slim_pod))
            .default_backoff()
            .inspect(on_first_list(synced))
            .touched_objects()
            // A broker's node or pod IP is its address in nodeport and pod-ip modes: a pod that gets
            // one (or a new one) reconciles its StatefulSet. Other pod changes are read from the cache.
            .predicate_filter(pod_addresses, Default::default());
        (store, stream)
    }

    /// Client-discovery ConfigMaps we made: a cache (nothing to write when unchanged; opt-out knows
    /// what to delete) and a trigger (a deleted or edited one is put back).
    fn configmaps(
        &self,
        synced: &mut Synced,
    ) -> (Store<ConfigMap>, impl Stream<Item = Result<ConfigMap, watcher::Error>> + Send + 'static) {
        let writer = reflector::store::Writer::<ConfigMap>::default();
        cached(writer, api::<ConfigMap>(&self.shared.client, self.ns()), slim_configmap, synced)
    }

    /// Routes and Certificates we made, likewise (their status, too: a route's acceptance).
    fn owned(
        &self,
        kind: Kind,
        synced: &mut Synced,
    ) -> (Store<DynamicObject>, impl Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static) {
        let writer = reflector::store::Writer::<DynamicObject>::new(kind.resource());
        cached(writer, dyn_api(&self.shared.client, self.ns(), kind), slim_dynamic, synced)
    }

    /// StatefulSets: our own reflector, so readiness follows a signal only we wait on (its first
    /// InitDone), not the Controller's store (kube-runtime's DelayedInit wakes one waiter only).
    fn statefulsets(
        &self,
        writer: reflector::store::Writer<StatefulSet>,
        ctx: Arc<Context>,
        synced: &mut Synced,
    ) -> impl Stream<Item = Result<StatefulSet, watcher::Error>> + Send + 'static {
        let book = self.shared.addresses.clone();
        let w = watcher(api::<StatefulSet>(&self.shared.client, self.ns()), list_config());
        let mut first = on_first_list(synced);
        reflector(writer, w.modify(slim))
            .default_backoff()
            .inspect(move |ev| {
                first(ev);
                match ev {
                    Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                        publish_selector(&book, s, false, &ctx.shared.defaults)
                    }
                    Ok(watcher::Event::Delete(s)) => deleted(&book, &ctx, s),
                    _ => {}
                }
            })
            .touched_objects()
    }
}

/// A StatefulSet is gone: its routes and Certificates go with it (owner references); its listeners
/// are fields of the user's Gateway, which only their field manager can remove.
fn deleted(book: &ClusterView, ctx: &Arc<Context>, s: &StatefulSet) {
    publish_selector(book, s, true, &ctx.shared.defaults);
    ctx.forget(&ObjectRef::from_obj(s));
    let Some(gw) = s.annotations().get(ANN_ROUTED_THROUGH).cloned().filter(|_| ctx.is_leader()) else {
        return;
    };
    let (client, ns, name) = (ctx.shared.client.clone(), s.namespace().unwrap_or_default(), s.name_any());
    let leader = ctx.leader.clone();
    tokio::spawn(async move {
        if let Err(e) = apply::release_listeners(&client, &leader, &gw, &ns, &name).await {
            tracing::warn!(error = %e, gateway = %gw, statefulset = %name, "cannot release Gateway listeners");
        }
    });
}

/// A cache of the objects we made (label managed-by, no managedFields) and the stream that
/// triggers their owners' reconciles; readiness waits for its first list.
fn cached<K>(
    writer: reflector::store::Writer<K>,
    api: Api<K>,
    slim: fn(&mut K),
    synced: &mut Synced,
) -> (Store<K>, impl Stream<Item = Result<K, watcher::Error>> + Send + 'static)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    let store = writer.as_reader();
    let stream = reflector(writer, watcher(api, managed()).modify(slim))
        .default_backoff()
        .inspect(on_first_list(synced))
        .touched_objects();
    (store, stream)
}

/// A trigger stream as the Controller may take it: its errors logged and dropped. Each stream
/// already backs off and retries on its own (`default_backoff`); an error is never a trigger.
///
/// Why no error may reach the Controller: kube-runtime 5 splits its queue into Ok and Err halves
/// over one peekable stream (`trystream_try_via`). When the Ok half, polled again within one
/// poll, peeks an error, it returns `Pending` without waking the task, and the error (with every
/// trigger behind it) waits for an unrelated wake-up. After an API server restart every watch
/// fails at once, and the controller stopped reconciling for minutes (`kafka::faults` restarts
/// the API server to keep this proven).
fn triggers<K: Send + 'static>(
    stream: impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    kind: &'static str,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
    stream.filter_map(move |r| {
        std::future::ready(match r {
            Ok(obj) => Some(Ok(obj)),
            Err(error) => {
                tracing::warn!(kind, %error, "watch failed; retrying with back-off");
                None
            }
        })
    })
}

/// An `Api` of a dynamic kind, namespaced or cluster-wide as the scope is.
fn dyn_api(client: &Client, namespace: Option<&str>, kind: Kind) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &kind.resource()),
        None => Api::all_with(client.clone(), &kind.resource()),
    }
}

/// The StatefulSets routed through this Gateway: those whose intent names it (in the template or
/// through their access class) and those that recorded it (their listeners there may need release).
pub(super) fn statefulsets_routed_through(
    store: &reflector::Store<StatefulSet>,
    gw: &DynamicObject,
    defaults: &Defaults,
    view: &(impl ClassSource + ?Sized),
) -> Vec<reflector::ObjectRef<StatefulSet>> {
    let (Some(gw_ns), Some(gw_name)) = (gw.metadata.namespace.as_deref(), gw.metadata.name.as_deref()) else {
        return Vec::new();
    };
    let this = format!("{gw_ns}/{gw_name}");
    store
        .state()
        .iter()
        .filter(|s| spec::opted_in(s) || s.annotations().contains_key(ANN_ROUTED_THROUGH))
        .filter(|s| {
            let recorded = s.annotations().get(ANN_ROUTED_THROUGH) == Some(&this);
            recorded || spec::intent(s, defaults, view).ok().flatten().and_then(|i| i.gateway()) == Some(this.clone())
        })
        .map(|s| reflector::ObjectRef::from_obj(&**s))
        .collect()
}

/// A watch-stream observer that fires a readiness signal (pushed onto `synced`) at the watch's
/// first `InitDone`: a signal only kafka-advertiser waits on.
pub(super) fn on_first_list<K>(synced: &mut Synced) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) {
    let (tx, rx) = oneshot::channel();
    synced.push(rx);
    let mut tx = Some(tx);
    move |ev| {
        if matches!(ev, Ok(watcher::Event::InitDone)) {
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        }
    }
}

/// What the StatefulSet cache keeps: no managedFields, and for StatefulSets that did not opt in
/// only their metadata (reconcile needs no more to see they are not ours). Most StatefulSets in a
/// cluster are not Kafka brokers; this keeps the cache small.
fn slim(sts: &mut StatefulSet) {
    sts.metadata.managed_fields = None;
    // One that shows a sign of meaning to opt in keeps its template: the controller says what is wrong.
    if !spec::opted_in(sts) && crate::spec::known::opt_in_hint(sts).is_none() {
        sts.spec = None;
        sts.status = None;
        // Only the annotations we write (removed when a StatefulSet opts out), and keep-services.
        if let Some(a) = sts.metadata.annotations.as_mut() {
            a.retain(|k, _| STATEFULSET_ANNOTATIONS.contains(&k.as_str()) || k == crate::names::ANN_KEEP_SERVICES);
        }
    }
}

/// What the broker-pod cache keeps: what drift detection reads (metadata, spec, the Ready condition)
/// and the pod's addresses (its node's IP and its own, advertised in nodeport and pod-ip modes).
pub(super) fn slim_pod(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    // The drift check re-runs the mutation: it reads the settings (our annotations), the
    // containers' names, env names and the listener values, mounts and volumes. A tenant's large
    // strings elsewhere (other annotations, commands, env values over 4 KiB) are not kept.
    if let Some(a) = pod.metadata.annotations.as_mut() {
        a.retain(|k, _| k.starts_with("kafka-advertiser.io/"));
    }
    if let Some(spec) = pod.spec.as_mut() {
        spec.init_containers = None;
        spec.ephemeral_containers = None;
        for c in &mut spec.containers {
            (c.command, c.args, c.liveness_probe, c.readiness_probe, c.startup_probe, c.lifecycle) =
                (None, None, None, None, None, None);
            for e in c.env.iter_mut().flatten() {
                if e.value.as_ref().is_some_and(|v| v.len() > SLIM_VALUE_MAX) {
                    e.value = Some(String::new());
                }
            }
        }
    }
    if let Some(st) = pod.status.as_mut() {
        *st = k8s_openapi::api::core::v1::PodStatus {
            conditions: st.conditions.take(),
            host_ip: st.host_ip.take(),
            pod_ip: st.pod_ip.take(),
            ..Default::default()
        };
    }
}

/// A cached string longer than this (an env value, ConfigMap data in all) is dropped: ours are host
/// names, listener lists and a discovery ConfigMap of a few KiB.
const SLIM_VALUE_MAX: usize = 4096;

/// What the ConfigMap cache keeps of one: ours hold a few KiB; a tenant's 1 MiB one labelled as
/// ours keeps its metadata only (the plan reports it as someone else's, or applies ours again).
pub(super) fn slim_configmap(cm: &mut ConfigMap) {
    cm.metadata.managed_fields = None;
    let size: usize = cm.data.iter().flatten().map(|(k, v)| k.len() + v.len()).sum::<usize>()
        + cm.binary_data.iter().flatten().map(|(k, v)| k.len() + v.0.len()).sum::<usize>();
    if size > 16 * SLIM_VALUE_MAX {
        cm.data = Some(Default::default());
        cm.binary_data = None;
    }
}

/// What the route and Certificate caches keep of one: a tenant's large object labelled as ours
/// keeps its metadata only (ours are a few KiB).
pub(super) fn slim_dynamic(o: &mut DynamicObject) {
    o.metadata.managed_fields = None;
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut size = Count(0);
    let _ = serde_json::to_writer(&mut size, &o.data);
    if size.0 > 16 * SLIM_VALUE_MAX {
        o.data = serde_json::Value::Object(Default::default());
    }
}

/// The pod properties that change a StatefulSet's external addresses.
fn pod_addresses(pod: &Pod) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let st = pod.status.as_ref();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (st.and_then(|s| s.host_ip.as_deref()), st.and_then(|s| s.pod_ip.as_deref())).hash(&mut h);
    Some(h.finish())
}

#[cfg(test)]
mod tests;
