//! The access classes (`ExternalAccessClass`, when its CRD is served) and the namespaces' labels,
//! watched read-only into the [`ClusterView`] both roles decide from ([`crate::spec::class`]). Each
//! change of a class bumps a counter the controller re-plans every StatefulSet on.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::core::PartialObjectMeta;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::mutate::ClusterView;
use crate::spec::class::{Class, GROUP, KIND, PLURAL, VERSION};

pub fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

/// Whether the API serves the `ExternalAccessClass` CRD.
pub async fn served(client: &Client) -> bool {
    client
        .list_api_group_resources(&format!("{GROUP}/{VERSION}"))
        .await
        .is_ok_and(|r| r.resources.iter().any(|r| r.name == PLURAL))
}

/// Keep the book's classes in step until `stop`; `synced` fires after the first list (at once when
/// the CRD is not served: no classes). `changed` counts every change; `metrics` shows each class read.
pub async fn run(
    client: Client,
    book: ClusterView,
    metrics: Arc<Metrics>,
    synced: oneshot::Sender<()>,
    changed: watch::Sender<u64>,
    stop: CancellationToken,
) {
    if !served(&client).await {
        tracing::info!("the ExternalAccessClass CRD is not served: no access classes");
        book.set_classes(Vec::new());
        let _ = synced.send(());
        return;
    }
    let api: Api<DynamicObject> = Api::all_with(client, &resource());
    let writer = kube::runtime::reflector::store::Writer::<DynamicObject>::new(resource());
    let reader = writer.as_reader();
    let mut synced = Some(synced);
    let stream = kube::runtime::reflector(writer, watcher(api, super::lists::list_config()))
        .default_backoff()
        .take_until(stop.cancelled_owned());
    let mut stream = std::pin::pin!(stream);
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::InitDone | watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                let classes: Vec<Arc<Class>> = reader.state().iter().filter_map(|o| parse(o)).map(Arc::new).collect();
                metrics.classes_read(classes.iter().map(|c| (c.name.as_str(), c.generation.unwrap_or_default())));
                book.set_classes(classes);
                changed.send_modify(|n| *n += 1);
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "ExternalAccessClass watch error; keeping the last known classes"),
        }
    }
}

/// A class as stored; one that does not parse is kept, marked invalid (it refuses what it applies to).
fn parse(o: &DynamicObject) -> Option<Class> {
    let class = Class::from_object(&serde_json::to_value(o).ok()?);
    if let Some(why) = &class.invalid {
        tracing::warn!(class = %class.name, error = %why, "ExternalAccessClass is invalid: StatefulSets it applies to are refused");
    }
    Some(class)
}

/// Keep the book's namespace labels in step until `stop` (metadata only); `synced` after the first list.
pub async fn namespaces(client: Client, book: ClusterView, synced: oneshot::Sender<()>, stop: CancellationToken) {
    let mut synced = Some(synced);
    let stream = watcher(Api::<PartialObjectMeta<Namespace>>::all(client), super::lists::list_config())
        .default_backoff()
        .take_until(stop.cancelled_owned());
    let mut stream = std::pin::pin!(stream);
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Apply(m) | watcher::Event::InitApply(m)) => {
                let name = m.metadata.name.unwrap_or_default();
                book.set_namespace_labels(&name, Some(m.metadata.labels.unwrap_or_default()));
            }
            Ok(watcher::Event::Delete(m)) => book.set_namespace_labels(&m.metadata.name.unwrap_or_default(), None),
            Ok(watcher::Event::InitDone) => {
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
            Ok(watcher::Event::Init) => {}
            Err(e) => tracing::warn!(error = %e, "namespace watch error; keeping the last known labels"),
        }
    }
}

/// Each change of the classes, as a stream (for `reconcile_all_on`).
pub fn changes(rx: watch::Receiver<u64>) -> impl Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.changed().await.ok().map(|()| ((), rx)) })
}

/// The leader's part: write each class's reach (`status.namespaces`, `status.statefulSets`,
/// `status.observedGeneration`) when it changed, from `uses` (namespace and class of each
/// StatefulSet that uses one). Returns what it wrote, to be remembered.
pub async fn write_status(
    client: &Client,
    book: &ClusterView,
    uses: Vec<(String, String)>,
    written: &mut std::collections::BTreeMap<String, (i64, i64, Option<i64>, bool)>,
) {
    let counts = crate::spec::class::usage(uses.iter().map(|(n, c)| (n.as_str(), c.as_str())));
    let Some(classes) = crate::spec::class::ClassSource::classes(book) else { return };
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource());
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    for class in &classes.classes {
        let (namespaces, statefulsets) = counts.get(&class.name).copied().unwrap_or_default();
        let want = (namespaces, statefulsets, class.generation, class.invalid.is_some());
        if written.get(&class.name) == Some(&want) {
            continue;
        }
        let body = serde_json::json!({
            "apiVersion": format!("{GROUP}/{VERSION}"), "kind": KIND, "metadata": {"name": class.name},
            "status": {"namespaces": namespaces, "statefulSets": statefulsets, "observedGeneration": class.generation,
                "conditions": [crate::spec::class::valid_condition(class, &now)]},
        });
        let pp = kube::api::PatchParams::apply(crate::names::FIELD_MANAGER).force();
        match api.patch_status(&class.name, &pp, &kube::api::Patch::Apply(&body)).await {
            Ok(_) => {
                written.insert(class.name.clone(), want);
            }
            Err(e) => tracing::warn!(error = %e, class = %class.name, "cannot write the class's status"),
        }
    }
}
