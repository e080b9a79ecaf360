//! Feeds the webhook's address view from the managed Services' `status.loadBalancer.ingress`.

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::Api;
use tokio_util::sync::CancellationToken;

use crate::spec::settings::{Defaults, ANN_ADDRESS_TYPE, ANN_IP_FAMILY};
use std::sync::Arc;

use crate::cluster_view::Claim;
use crate::mutate::ClusterView;
use crate::names::{
    ANN_GATEWAY_ADDRESS, ANN_INTENT, MANAGED_BY, MANAGED_BY_LABEL, METALLB_LEGACY_SHARED_ANN, METALLB_SHARED_ANN,
    ORDINAL_LABEL, ROLE_LABEL, STATEFULSET_LABEL,
};

/// (namespace, statefulset, ordinal) of a managed broker Service.
pub fn broker_key(svc: &Service) -> Option<(String, String, u32)> {
    let labels = svc.metadata.labels.as_ref()?;
    if labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(MANAGED_BY)
        || labels.get(ROLE_LABEL).map(String::as_str) != Some("broker")
    {
        return None;
    }
    Some((
        svc.metadata.namespace.clone()?,
        labels.get(STATEFULSET_LABEL)?.clone(),
        labels.get(ORDINAL_LABEL)?.parse().ok()?,
    ))
}

/// The UID of the StatefulSet a Service's controller owner reference names, when that StatefulSet
/// is the one its label names (anyone may set both: [`Claim`] says what makes it count).
fn owner_uid<'a>(svc: &'a Service, statefulset: &str) -> Option<&'a str> {
    let owners = svc.metadata.owner_references.as_deref()?;
    owners
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == "StatefulSet" && o.name == statefulset)
        .map(|o| o.uid.as_str())
}

fn is_lb(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
}

/// gateway-tcp: the Gateway's address the controller wrote on its (ClusterIP) Service. Never read
/// from a load balancer's Service: the controller writes it in gateway-tcp only.
pub fn gateway_address(svc: &Service) -> Option<&str> {
    let a = svc.metadata.annotations.as_ref()?.get(ANN_GATEWAY_ADDRESS).filter(|_| !is_lb(svc))?;
    Some(a.trim()).filter(|a| !a.is_empty())
}

fn ip(i: &LoadBalancerIngress) -> Option<&str> {
    i.ip.as_deref().filter(|s| !s.is_empty())
}

fn hostname(i: &LoadBalancerIngress) -> Option<&str> {
    i.hostname.as_deref().filter(|s| !s.is_empty())
}

/// The address to advertise from a Service's `status.loadBalancer.ingress`, as the Service's own
/// annotations ask (the controller copies them from the StatefulSet): `address-type: hostname` the
/// first hostname, `ip` the first IP, `ip-family: IPv4|IPv6` the first IP of that family; by default
/// the first entry, its IP if it has one, else its hostname.
pub fn ingress_address(svc: &Service) -> Option<&str> {
    gateway_address(svc).or_else(|| lb_address(svc))
}

/// The load balancer's address alone (see [`ingress_address`]).
pub fn lb_address(svc: &Service) -> Option<&str> {
    let ingress = svc.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref()?;
    let ann = |k: &str| svc.metadata.annotations.as_ref().and_then(|a| a.get(k)).map(|v| v.trim());
    let v6 = |a: &str| a.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_ipv6());
    match (ann(ANN_ADDRESS_TYPE), ann(ANN_IP_FAMILY)) {
        (_, Some("IPv4")) => ingress.iter().filter_map(ip).find(|a| !v6(a)),
        (_, Some("IPv6")) => ingress.iter().filter_map(ip).find(|a| v6(a)),
        (Some("hostname"), _) => ingress.iter().find_map(hostname),
        (Some("ip"), _) => ingress.iter().find_map(ip),
        _ => ingress.first().and_then(|i| ip(i).or(hostname(i))),
    }
}

/// Apply one watch event to the book. Returns whether the book changed.
pub fn apply(book: &ClusterView, svc: &Service, deleted: bool) -> bool {
    let Some((ns, sts, ordinal)) = broker_key(svc) else {
        return false;
    };
    let name = svc.metadata.name.as_deref();
    let node_port = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|p| p.first())
        .and_then(|p| p.node_port)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|_| !deleted && svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("NodePort"));
    book.set_node_port(&ns, &sts, ordinal, node_port);
    if deleted {
        return book.remove(&ns, &sts, ordinal, name.unwrap_or_default());
    }
    let claim = Claim {
        service: Some(Arc::from(name.unwrap_or_default())),
        owner: owner_uid(svc, &sts).map(Arc::from),
        address: lb_address(svc).map(Arc::from),
        gateway: gateway_address(svc).map(Arc::from),
    };
    let address = claim.gateway.clone().or(claim.address.clone());
    let changed = book.claim(&ns, &sts, ordinal, claim);
    if changed {
        let address = address.as_deref().unwrap_or("<none>");
        tracing::info!(namespace = %ns, statefulset = %sts, ordinal, service = name.unwrap_or_default(), address, "broker address changed");
    }
    changed
}

/// The annotations of a managed Service anything reads from the cache: the intent hash (is it
/// up to date), the address choice (the view), the Gateway's address, the MetalLB sharing key held.
pub const SERVICE_ANNOTATIONS_READ: [&str; 6] =
    [ANN_INTENT, ANN_ADDRESS_TYPE, ANN_IP_FAMILY, ANN_GATEWAY_ADDRESS, METALLB_SHARED_ANN, METALLB_LEGACY_SHARED_ANN];

/// An annotation value larger than this is dropped from the cache (ours are host names and keys).
pub const CACHED_ANNOTATION_MAX: usize = 4096;
/// Past this many bytes of annotations in all, a cached Service keeps only the ones read.
pub const CACHED_ANNOTATIONS_TOTAL: usize = 64 * 1024;

/// What the controller's Service cache keeps: anyone may set the `managed-by` label, so a tenant's
/// 250 KB annotations and the managedFields are dropped as each object arrives. The annotations an
/// intent sets are small and stay (the plan compares them: see `intent::in_place`); at worst a
/// Service whose own values were dropped is applied again, never kept whole.
pub fn slim_service(s: &mut Service) {
    s.metadata.managed_fields = None;
    if let Some(a) = s.metadata.annotations.as_mut() {
        a.retain(|k, v| v.len() <= CACHED_ANNOTATION_MAX || SERVICE_ANNOTATIONS_READ.contains(&k.as_str()));
        if a.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > CACHED_ANNOTATIONS_TOTAL {
            a.retain(|k, _| SERVICE_ANNOTATIONS_READ.contains(&k.as_str()));
        }
    }
}

/// The managed Services' watch (`managed-by` label, slim), through `writer`'s store.
pub fn stream(
    api: Api<Service>,
    writer: reflector::store::Writer<Service>,
) -> impl futures::Stream<Item = Result<watcher::Event<Service>, watcher::Error>> + Send + 'static {
    let cfg = super::lists::list_config().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    reflector(writer, watcher(api, cfg).modify(slim_service)).default_backoff()
}

/// A broker Service listed: (namespace, statefulset, ordinal, its name).
type Seen = (String, String, u32, Option<String>);

/// A watch-stream observer that keeps the book in step with the Services' events (after the store
/// took them); `synced` fires after the first full list.
///
/// `scope` is the namespace this watch covers (`None`: all). A re-list replaces only that scope's
/// part of the book: with `--namespace a,b` each namespace has its own watch over one shared book.
pub fn feeder(
    book: ClusterView,
    scope: Option<String>,
    synced: tokio::sync::oneshot::Sender<()>,
) -> impl FnMut(&Result<watcher::Event<Service>, watcher::Error>) + Send + 'static {
    let mut synced = Some(synced);
    // On a re-list, brokers missing from the new list are dropped.
    let mut relist: Option<Vec<Seen>> = None;
    move |ev| match ev {
        Ok(watcher::Event::Init) => relist = Some(Vec::new()),
        Ok(watcher::Event::InitApply(svc)) => {
            apply(&book, svc, false);
            if let (Some(seen), Some((ns, sts, o))) = (relist.as_mut(), broker_key(svc)) {
                seen.push((ns, sts, o, svc.metadata.name.clone()));
            }
        }
        Ok(watcher::Event::InitDone) => {
            if let Some(seen) = relist.take() {
                book.retain(|ns, sts, o, service| {
                    let in_scope = scope.as_deref().is_none_or(|s| s == ns);
                    let seen_it = |(a, b, c, d): &Seen| {
                        a == ns && b == sts && *c == o && (service.is_none() || d.as_deref() == service)
                    };
                    !in_scope || seen.iter().any(seen_it)
                });
            }
            if let Some(tx) = synced.take() {
                let _ = tx.send(());
            }
        }
        Ok(watcher::Event::Apply(svc)) => {
            apply(&book, svc, false);
        }
        Ok(watcher::Event::Delete(svc)) => {
            apply(&book, svc, true);
        }
        // The book keeps its last view while the API is unreachable.
        Err(e) => tracing::warn!(error = %e, "service watch error; keeping the last known addresses"),
    }
}

/// Watch managed Services into the book until `stop` (the webhook role's view). No store: the
/// book keeps the few fields it reads, and nothing else of a Service outlives its event.
pub async fn run(
    api: Api<Service>,
    scope: Option<String>,
    book: ClusterView,
    synced: tokio::sync::oneshot::Sender<()>,
    stop: CancellationToken,
) {
    let cfg = super::lists::list_config().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    let stream =
        watcher(api, cfg).default_backoff().inspect(feeder(book, scope, synced)).take_until(stop.cancelled_owned());
    stream.for_each(|_| async {}).await;
}

/// The webhook's anti-affinity selects "this StatefulSet's brokers" by the StatefulSet's own selector.
pub fn publish_selector(book: &ClusterView, sts: &StatefulSet, deleted: bool, defaults: &Defaults) {
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
    let containers = (sts.spec.as_ref().filter(|_| !deleted))
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| p.containers.iter().map(|c| c.name.clone()).collect());
    book.set_template_containers(ns, name, containers);
    let start = (sts.spec.as_ref().filter(|_| !deleted))
        .map(|s| s.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0).max(0) as u32);
    book.set_ordinal_start(ns, name, start);
    let since = start.and_then(|start| {
        let v = sts.metadata.annotations.as_ref()?.get(crate::names::ANN_PENDING_SINCE)?;
        Some(crate::spec::pending::parse_since(v, start, defaults.max_brokers))
    });
    book.set_pending_since(ns, name, since);
    book.set_claims(ns, name, Some(sts).filter(|_| !deleted), defaults);
}

#[cfg(test)]
mod tests;
