//! The webhook role's address view (`serve --role webhook`): the managed broker Services and the
//! StatefulSets' selectors, watched read-only into the [`crate::mutate::AddressBook`] the webhook
//! answers from. No Lease, no writes, no pods: what the webhook's identity needs is get/list/watch on
//! Services and StatefulSets (in the watched namespaces).
//!
//! Addresses come from the Services' own status (the load-balancer implementation writes them), so
//! the webhook keeps admitting brokers whose addresses are known while the controller is down;
//! brokers whose Service does not exist yet wait, with the denial saying so.

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use tokio_util::sync::CancellationToken;

use super::addresses::{self, publish_selector};
use super::classes;
use super::context::Shared;
use super::watches::{api, on_first_list, ready_when_synced, Synced};

/// Fill the address view of `namespaces` (empty: all) until `stop` fires; ready once every watch
/// has listed once.
pub async fn run(shared: Shared, namespaces: Vec<String>, stop: CancellationToken) {
    let scopes: Vec<Option<String>> =
        if namespaces.is_empty() { vec![None] } else { namespaces.into_iter().map(Some).collect() };
    let mut synced = Synced::new();
    let mut tasks = Vec::new();
    for scope in scopes {
        let (_, writer) = reflector::store::<Service>();
        let (tx, rx) = tokio::sync::oneshot::channel();
        synced.push(rx);
        tasks.push(tokio::spawn(addresses::run(
            api(&shared.client, scope.as_deref()),
            scope.clone(),
            writer,
            shared.addresses.clone(),
            tx,
            stop.clone(),
        )));
        tasks.push(tokio::spawn(selectors(shared.clone(), scope, &mut synced, stop.clone())));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    synced.push(rx);
    let (changed, _) = tokio::sync::watch::channel(0);
    tasks.push(tokio::spawn(classes::run(shared.client.clone(), shared.addresses.clone(), tx, changed, stop.clone())));
    let (tx, rx) = tokio::sync::oneshot::channel();
    synced.push(rx);
    tasks.push(tokio::spawn(classes::namespaces(shared.client.clone(), shared.addresses.clone(), tx, stop.clone())));
    tokio::spawn(ready_when_synced(shared, synced));
    for t in tasks {
        let _ = t.await;
    }
}

/// The StatefulSets' selectors (the webhook's anti-affinity term), without keeping the objects.
fn selectors(
    shared: Shared,
    scope: Option<String>,
    synced: &mut Synced,
    stop: CancellationToken,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut first = on_first_list(synced);
    let w = watcher(api::<StatefulSet>(&shared.client, scope.as_deref()), watcher::Config::default());
    let book = shared.addresses.clone();
    async move {
        let stream = w.default_backoff().take_until(stop.cancelled_owned());
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            first(&ev);
            match ev {
                Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => publish_selector(&book, &s, false),
                Ok(watcher::Event::Delete(s)) => publish_selector(&book, &s, true),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "statefulset watch error; keeping the last known selectors"),
            }
        }
    }
}
