//! `status --watch` and `--wait`: read again when something in scope changes (a watch on the
//! StatefulSets, pods, Services and Events it reports on), not on a timer.

use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::events::v1::Event;
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::Client;

use super::Scope;

/// A stream that yields once per change in scope (after each watch's initial list), forever.
pub fn changes(client: &Client, scope: &Scope) -> BoxStream<'static, ()> {
    let config = watcher::Config::default().any_semantic();
    let one = |s: BoxStream<'static, bool>| s;
    let streams = vec![
        one(watcher::watcher(scope.api::<StatefulSet>(client), config.clone()).map(changed).boxed()),
        one(watcher::watcher(scope.api::<Pod>(client), config.clone()).map(changed).boxed()),
        one(watcher::watcher(scope.api::<Service>(client), config.clone()).map(changed).boxed()),
        one(watcher::watcher(scope.api::<Event>(client), config).map(changed).boxed()),
    ];
    stream::select_all(streams).filter_map(|c| async move { c.then_some(()) }).boxed()
}

/// Whether a watch event is a change (not the initial list's, not an error the watcher retries).
fn changed<K>(e: Result<WatchEvent<K>, watcher::Error>) -> bool {
    matches!(e, Ok(WatchEvent::Apply(_) | WatchEvent::Delete(_)))
}

/// Wait for the next change, then for the burst it starts to settle (at most `settle` more).
pub async fn next(changes: &mut BoxStream<'static, ()>, settle: std::time::Duration) -> bool {
    if changes.next().await.is_none() {
        return false;
    }
    let until = tokio::time::Instant::now() + settle;
    while let Ok(Some(())) = tokio::time::timeout_at(until, changes.next()).await {}
    true
}
