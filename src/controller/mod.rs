//! The controller: one external Service per broker, kept in step with each opted-in StatefulSet,
//! and the address view the webhook reads. Every replica keeps the caches; only the leader writes.

pub mod addresses;
pub mod desired;
pub mod gateway;
pub mod reconcile;
pub mod routing;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::DynamicObject;
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::admin::Readiness;
use crate::config::ControllerArgs;
use crate::metrics::Metrics;
use crate::mutate::{settings::ENABLED_LABEL, AddressBook, Defaults};

pub use reconcile::{reconcile, Context, ReconcileError};

/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "kafka-advertiser";

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

/// What the controller shares with the rest of the process.
#[derive(Clone)]
pub struct Shared {
    pub client: Client,
    pub defaults: Arc<Defaults>,
    pub addresses: AddressBook,
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Run the controller until `stop` fires.
pub async fn run(shared: Shared, args: ControllerArgs, stop: CancellationToken) {
    let scopes: Vec<Option<String>> =
        if args.namespaces.is_empty() { vec![None] } else { args.namespaces.iter().cloned().map(Some).collect() };

    // Leader election: every replica watches; only the holder of the Lease writes.
    let (leader_tx, leader_rx) = watch::channel(false);
    // Awaited at the end, so a stopping replica releases the Lease before the runtime goes away (the
    // next leader then takes over at once instead of after the lease duration).
    let leading =
        tokio::spawn(lead(shared.client.clone(), args.clone(), leader_tx, shared.metrics.clone(), stop.clone()));

    // The Gateway API is watched where it is served; without it, gateway modes still work on the
    // periodic requeue (and report the missing Gateway).
    let served: Vec<String> = shared
        .client
        .list_api_group_resources(&format!("{}/{}", gateway::GATEWAY_GROUP, gateway::GATEWAY_VERSION))
        .await
        .map(|r| r.resources.into_iter().map(|r| r.name).collect())
        .unwrap_or_default();
    let gateway_api = ["gateways", "tcproutes", "tlsroutes"].iter().all(|r| served.iter().any(|s| s == r));
    tracing::info!(gateway_api, "Gateway API discovery");
    let mut tasks = Vec::new();
    let mut synced = Vec::new();
    let state = std::sync::Arc::new(std::sync::Mutex::new(reconcile::State::default()));
    for scope in scopes {
        let ns = scope.as_deref();
        // Address view (all replicas): managed Services → AddressBook.
        let services: Api<Service> = api(&shared.client, ns);
        let (tx, rx) = tokio::sync::oneshot::channel();
        synced.push(rx);
        let (managed_services, svc_writer) = reflector::store::<Service>();
        tasks.push(tokio::spawn(addresses::run(
            services.clone(),
            scope.clone(),
            svc_writer,
            shared.addresses.clone(),
            tx,
            stop.clone(),
        )));

        // Opted-in broker pods, for drift detection.
        let (pods, writer) = reflector::store::<Pod>();
        let pod_stream = reflector(
            writer,
            watcher(
                api::<Pod>(&shared.client, ns),
                watcher::Config::default().labels(&format!("{ENABLED_LABEL}=true")),
            )
            .modify(slim_pod),
        )
        .default_backoff()
        .inspect(on_first_list(&mut synced))
        .touched_objects()
        // A broker's node or pod IP is its address in nodeport and pod-ip modes: a pod that gets
        // one (or a new one) reconciles its StatefulSet. Other pod changes are read from the cache.
        .predicate_filter(pod_addresses, Default::default());

        // Client-discovery ConfigMaps we made: a cache (nothing to write when unchanged; opt-out
        // knows what to delete) and a trigger (a deleted or edited one is put back).
        let (configmaps, cm_writer) = reflector::store::<k8s_openapi::api::core::v1::ConfigMap>();
        let cm_stream = reflector(
            cm_writer,
            watcher(
                api::<k8s_openapi::api::core::v1::ConfigMap>(&shared.client, ns),
                watcher::Config::default().labels(&format!("{}={}", desired::MANAGED_BY_LABEL, desired::MANAGED_BY)),
            )
            .modify(|c| c.metadata.managed_fields = None),
        )
        .default_backoff()
        .inspect(on_first_list(&mut synced))
        .touched_objects();

        // StatefulSets: our own reflector, so readiness follows a signal only we wait on (its first
        // InitDone), not the Controller's store (kube-runtime's DelayedInit wakes one waiter only).
        let statefulsets: Api<StatefulSet> = api(&shared.client, ns);
        let (sts_tx, sts_rx) = tokio::sync::oneshot::channel();
        synced.push(sts_rx);
        let (sts_store, sts_writer) = reflector::store::<StatefulSet>();
        let mut sts_tx = Some(sts_tx);
        let book = shared.addresses.clone();
        let recorder = Recorder::new(
            shared.client.clone(),
            Reporter { controller: FIELD_MANAGER.into(), instance: Some(args.identity.clone()) },
        );
        let ctx = Arc::new(Context::with_state(
            shared.clone(),
            recorder,
            leader_rx.clone(),
            pods,
            managed_services,
            configmaps,
            state.clone(),
        ));
        let forget = ctx.clone();
        let sts_stream = reflector(sts_writer, watcher(statefulsets, watcher::Config::default()).modify(slim))
            .default_backoff()
            .inspect(move |ev| match ev {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = sts_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => publish_selector(&book, s, false),
                Ok(watcher::Event::Delete(s)) => {
                    publish_selector(&book, s, true);
                    forget.forget(&kube::runtime::reflector::ObjectRef::from_obj(s));
                    // Its routes and Certificates go with it (owner references); its listeners are
                    // fields of the user's Gateway, which only their field manager can remove.
                    if let (Some(gw), true) = (routing::recorded(s).0, forget.is_leader()) {
                        let (client, ns, name) = (forget.shared.client.clone(), s.namespace(), s.name_any());
                        tokio::spawn(async move {
                            let ns = ns.unwrap_or_default();
                            if let Err(e) = routing::release_listeners(&client, &gw, &ns, &name).await {
                                tracing::warn!(error = %e, gateway = %gw, statefulset = %name, "cannot release Gateway listeners");
                            }
                        });
                    }
                }
                _ => {}
            })
            .touched_objects();
        let managed =
            watcher::Config::default().labels(&format!("{}={}", desired::MANAGED_BY_LABEL, desired::MANAGED_BY));
        let gateway_refs = sts_store.clone();
        let mut controller = Controller::for_stream(sts_stream, sts_store)
            .owns(services, managed.clone())
            .owns_stream(pod_stream)
            .owns_stream(cm_stream);
        if gateway_api {
            // A Gateway's address or listeners changed: reconcile the StatefulSets routed through it.
            // Routes report acceptance in their status: reconcile their StatefulSet.
            controller = controller
                .watches_with(
                    dyn_api(&shared.client, ns, &gateway::gateway_resource()),
                    gateway::gateway_resource(),
                    watcher::Config::default(),
                    move |gw| statefulsets_routed_through(&gateway_refs, &gw),
                )
                .owns_with(
                    dyn_api(&shared.client, ns, &gateway::route_resource("TCPRoute")),
                    gateway::route_resource("TCPRoute"),
                    managed.clone(),
                )
                .owns_with(
                    dyn_api(&shared.client, ns, &gateway::route_resource("TLSRoute")),
                    gateway::route_resource("TLSRoute"),
                    managed.clone(),
                );
        }
        // Becoming leader: reconcile everything (nothing was written while we followed).
        let trigger = became_leader(leader_rx.clone());
        let stop_c = stop.clone();
        tasks.push(tokio::spawn(async move {
            controller
                .reconcile_all_on(trigger)
                .graceful_shutdown_on(stop_c.cancelled_owned())
                .run(reconcile::reconcile, reconcile::error_policy, ctx)
                .for_each(|r| async move {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "reconcile failed");
                    }
                })
                .await;
        }));
    }
    // Ready once every StatefulSet, Service and broker-pod watch has listed once (reconciles wait for it).
    let readiness = shared.readiness.clone();
    let addresses = shared.addresses.clone();
    tokio::spawn(async move {
        for rx in synced {
            if rx.await.is_err() {
                return;
            }
        }
        addresses.mark_synced();
        readiness.caches.store(true, Ordering::Release);
        tracing::info!("caches synced; ready");
    });
    for t in tasks {
        let _ = t.await;
    }
    let _ = leading.await;
}

/// An `Api` of a dynamic kind, namespaced or cluster-wide as the scope is.
fn dyn_api(client: &Client, namespace: Option<&str>, ar: &kube::api::ApiResource) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    }
}

/// The opted-in StatefulSets whose pod template names this Gateway.
fn statefulsets_routed_through(
    store: &reflector::Store<StatefulSet>,
    gw: &DynamicObject,
) -> Vec<reflector::ObjectRef<StatefulSet>> {
    let (Some(gw_ns), Some(gw_name)) = (gw.metadata.namespace.as_deref(), gw.metadata.name.as_deref()) else {
        return Vec::new();
    };
    store
        .state()
        .iter()
        .filter(|s| desired::opted_in(s))
        .filter(|s| {
            let ns = s.metadata.namespace.as_deref().unwrap_or_default();
            let named = s
                .spec
                .as_ref()
                .and_then(|sp| sp.template.metadata.as_ref())
                .and_then(|m| m.annotations.as_ref())
                .and_then(|a| a.get(crate::mutate::settings::ANN_GATEWAY))
                .and_then(|g| crate::mutate::settings::GatewayRef::parse(g));
            named.is_some_and(|g| g.namespace_or(ns) == gw_ns && g.name == gw_name)
        })
        .map(|s| reflector::ObjectRef::from_obj(&**s))
        .collect()
}

/// A watch-stream observer that fires a readiness signal (pushed onto `synced`) at the watch's
/// first `InitDone`: a signal only kafka-advertiser waits on.
fn on_first_list<K>(
    synced: &mut Vec<tokio::sync::oneshot::Receiver<()>>,
) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
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
    if !desired::opted_in(sts) {
        sts.spec = None;
        sts.status = None;
        // Only the annotations we write (removed when a StatefulSet opts out).
        if let Some(a) = sts.metadata.annotations.as_mut() {
            a.retain(|k, _| desired::STATEFULSET_ANNOTATIONS.contains(&k.as_str()));
        }
    }
}

/// The webhook's anti-affinity selects "this StatefulSet's brokers" by the StatefulSet's own selector.
fn publish_selector(book: &AddressBook, sts: &StatefulSet, deleted: bool) {
    let (Some(ns), Some(name)) = (sts.metadata.namespace.as_deref(), sts.metadata.name.as_deref()) else {
        return;
    };
    let selector = sts
        .spec
        .as_ref()
        .filter(|_| !deleted)
        .filter(|s| s.selector.match_expressions.as_ref().is_none_or(Vec::is_empty))
        .and_then(|s| s.selector.match_labels.clone())
        .filter(|m| !m.is_empty());
    book.set_selector(ns, name, selector);
}

/// What the broker-pod cache keeps: what drift detection reads (metadata, spec, the Ready condition)
/// and the pod's addresses (its node's IP and its own, advertised in nodeport and pod-ip modes).
fn slim_pod(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    if let Some(st) = pod.status.as_mut() {
        *st = k8s_openapi::api::core::v1::PodStatus {
            conditions: st.conditions.take(),
            host_ip: st.host_ip.take(),
            pod_ip: st.pod_ip.take(),
            ..Default::default()
        };
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

/// Hold the Lease while we can; publish whether we lead. Retries with back-off while the API is
/// unreachable (the watches keep the webhook's view meanwhile).
///
/// kube-lease-manager reports losing the Lease only when a renewal reads back another holder; while
/// the API is unreachable it retries and keeps reporting leadership. So the leader also confirms the
/// Lease itself: when the API has not shown it as the holder within `lease_renew_deadline`, it steps
/// down (stops writing, drops the manager) before another replica can take the expired Lease.
async fn lead(
    client: Client,
    args: ControllerArgs,
    leader: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    use std::time::Duration;
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), &args.lease_namespace);
    let duration = args.lease_duration.as_secs().max(2);
    // Renewals happen every `duration - grace`; the deadline must leave room for at least one.
    let deadline = args.lease_renew_deadline.min(Duration::from_secs(duration) * 2 / 3).max(Duration::from_secs(1));
    let publish = |is_leader: bool| {
        metrics.leader.set(i64::from(is_leader));
        if publish_leadership(&leader, is_leader) {
            tracing::info!(leader = is_leader, identity = %args.identity, "leadership changed");
        }
    };
    let mut delay = Duration::from_secs(1);
    loop {
        let built = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &args.lease_name)
            .with_namespace(&args.lease_namespace)
            .with_identity(&args.identity)
            .with_duration(duration)
            .with_grace((duration / 3).max(1))
            // One field manager per replica: the server-side-apply conflict between managers is what
            // keeps two replicas from taking the Lease at once.
            .with_field_manager(format!("{FIELD_MANAGER}-lease-{}", args.identity))
            .build()
            .await;
        let manager = match built {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "leader election unavailable");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        let (mut rx, task) = manager.watch().await;
        let mut confirm = tokio::time::interval(deadline / 4);
        confirm.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut holder = RenewDeadline::new(deadline);
        let mut stepped_down = false;
        loop {
            let is_leader = *rx.borrow_and_update();
            if is_leader && !*leader.borrow() {
                holder = RenewDeadline::new(deadline);
            }
            publish(is_leader);
            tokio::select! {
                _ = stop.cancelled() => break,
                r = rx.changed() => if r.is_err() { break },
                _ = confirm.tick(), if is_leader => {
                    let seen = leases.get_opt(&args.lease_name).await;
                    let now = k8s_openapi::jiff::Timestamp::now();
                    let held = seen.as_ref().map(|l| holds(l.as_ref(), &args.identity, now));
                    if !holder.observe(held.as_ref().ok().copied(), tokio::time::Instant::now()) {
                        tracing::warn!(
                            identity = %args.identity,
                            deadline = ?deadline,
                            error = seen.err().map(|e| e.to_string()),
                            "the API has not confirmed this replica as the Lease holder in time: stepping down"
                        );
                        stepped_down = true;
                        break;
                    }
                }
            }
        }
        // Stop writing at once; dropping the receiver makes the manager release the Lease (bounded:
        // the API may be what failed).
        publish(false);
        drop(rx);
        let _ = tokio::time::timeout(Duration::from_secs(duration), task).await;
        if stop.is_cancelled() {
            return;
        }
        if stepped_down {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        } else {
            delay = Duration::from_secs(1);
        }
    }
}

/// Whether a Lease read from the API names `identity` as its holder and has not expired at `now`
/// (an expired Lease is anyone's to take, even if it still names us).
fn holds(
    lease: Option<&k8s_openapi::api::coordination::v1::Lease>,
    identity: &str,
    now: k8s_openapi::jiff::Timestamp,
) -> bool {
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else { return false };
    let expires = spec
        .renew_time
        .as_ref()
        .zip(spec.lease_duration_seconds)
        .and_then(|(t, d)| t.0.checked_add(k8s_openapi::jiff::SignedDuration::from_secs(i64::from(d))).ok());
    spec.holder_identity.as_deref() == Some(identity) && expires.is_some_and(|e| e > now)
}

/// The leader's own view of its Lease: still leading while the API confirmed it as the holder
/// within the deadline; another holder ends it at once.
#[derive(Debug)]
struct RenewDeadline {
    deadline: std::time::Duration,
    confirmed: tokio::time::Instant,
}

impl RenewDeadline {
    fn new(deadline: std::time::Duration) -> Self {
        Self { deadline, confirmed: tokio::time::Instant::now() }
    }

    /// Record one read of the Lease (`None`: the read failed). Returns whether to keep leading.
    fn observe(&mut self, held: Option<bool>, now: tokio::time::Instant) -> bool {
        match held {
            Some(true) => {
                self.confirmed = now;
                true
            }
            Some(false) => false,
            None => now.duration_since(self.confirmed) < self.deadline,
        }
    }
}

/// Publish leadership; receivers are woken only when it changes. (The leader loop publishes on every
/// Lease confirmation: a wake-up each time would re-run every reconcile, as `became_leader` does.)
fn publish_leadership(tx: &watch::Sender<bool>, is_leader: bool) -> bool {
    tx.send_if_modified(|v| std::mem::replace(v, is_leader) != is_leader)
}

/// A stream that yields each time `rx` turns true.
fn became_leader(rx: watch::Receiver<bool>) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            rx.changed().await.ok()?;
            if *rx.borrow_and_update() {
                return Some(((), rx));
            }
        }
    })
}

#[cfg(test)]
mod tests;
