//! The webhook role's address view (`serve --role webhook`): the managed broker Services and the
//! StatefulSets' selectors, watched read-only into the [`crate::mutate::ClusterView`] the webhook
//! answers from. No Lease, no writes, no pods: what the webhook's identity needs is get/list/watch on
//! Services and StatefulSets (in the watched namespaces).
//!
//! Addresses come from the Services' own status (the load-balancer implementation writes them), so
//! the webhook keeps admitting brokers whose addresses are known while the controller is down;
//! brokers whose Service does not exist yet wait, with the denial saying so.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetOrdinals, StatefulSetSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::runtime::{watcher, WatchStreamExt};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::address_feed::{self, publish_selector};
use super::classes;
use super::context::Shared;
use super::lists::list_config;
use super::watches::{api, on_first_list, ready_when_synced, Synced};

/// Fill the address view of `namespaces` (empty: all) until `stop` fires; ready once every watch
/// has listed once.
pub async fn run(shared: Shared, namespaces: Vec<String>, stop: CancellationToken) {
    let scopes: Vec<Option<String>> =
        if namespaces.is_empty() { vec![None] } else { namespaces.into_iter().map(Some).collect() };
    let mut synced = Synced::new();
    let mut tasks = Vec::new();
    for scope in scopes {
        let (tx, rx) = tokio::sync::oneshot::channel();
        synced.push(rx);
        tasks.push(tokio::spawn(address_feed::run(
            api(&shared.client, scope.as_deref()),
            scope.clone(),
            shared.addresses.clone(),
            tx,
            stop.clone(),
        )));
        tasks.push(tokio::spawn(selectors(shared.clone(), scope, &mut synced, stop.clone())));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    synced.push(rx);
    let (changed, _) = tokio::sync::watch::channel(0);
    tasks.push(tokio::spawn(classes::run(
        shared.client.clone(),
        shared.addresses.clone(),
        shared.metrics.clone(),
        tx,
        changed,
        stop.clone(),
    )));
    let (tx, rx) = tokio::sync::oneshot::channel();
    synced.push(rx);
    tasks.push(tokio::spawn(classes::namespaces(shared.client.clone(), shared.addresses.clone(), tx, stop.clone())));
    tokio::spawn(ready_when_synced(shared, synced));
    for t in tasks {
        let _ = t.await;
    }
}

/// The StatefulSets' selectors (the webhook's anti-affinity term), without keeping the objects, and
/// decoded as [`SlimStatefulSet`]: a tenant's 1 MB pod template is scanned, never built.
fn selectors(
    shared: Shared,
    scope: Option<String>,
    synced: &mut Synced,
    stop: CancellationToken,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut first = on_first_list(synced);
    let w = watcher(api::<SlimStatefulSet>(&shared.client, scope.as_deref()), list_config());
    let book = shared.addresses.clone();
    let defaults = shared.defaults.clone();
    async move {
        let stream = w.default_backoff().take_until(stop.cancelled_owned());
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            first(&ev);
            match ev {
                Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                    publish_selector(&book, &s.into_statefulset(), false, &defaults)
                }
                Ok(watcher::Event::Delete(s)) => publish_selector(&book, &s.into_statefulset(), true, &defaults),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "statefulset watch error; keeping the last known selectors"),
            }
        }
    }
}

/// A StatefulSet as far as the webhook reads it: its name, selector, first ordinal and template
/// container names. Every other field (a tenant's env values, volumes, annotations of the
/// template) is skipped by the decoder, never allocated.
#[derive(Debug, Clone, Deserialize)]
pub struct SlimStatefulSet {
    /// Bounded by the API server (annotations 256 KiB in all); kube's watcher reads it.
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<SlimSpec>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SlimSpec {
    #[serde(default)]
    pub selector: LabelSelector,
    pub ordinals: Option<StatefulSetOrdinals>,
    pub replicas: Option<i32>,
    #[serde(default)]
    pub template: SlimTemplate,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlimTemplate {
    #[serde(default)]
    pub metadata: SlimTemplateMeta,
    pub spec: Option<SlimPodSpec>,
}

/// The pod template's `kafka-advertiser.io/*` labels and annotations (the host names a StatefulSet
/// claims come from them); every other key is skipped by the decoder.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlimTemplateMeta {
    #[serde(default, deserialize_with = "ours_only")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "ours_only")]
    pub annotations: BTreeMap<String, String>,
}

/// A string map, keeping only `kafka-advertiser.io/*` keys with values of at most 1 KiB.
fn ours_only<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct Ours;
    impl<'de> serde::de::Visitor<'de> for Ours {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of strings")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if k.starts_with("kafka-advertiser.io/") {
                    let v: String = map.next_value()?;
                    if v.len() <= 1024 {
                        out.insert(k.into_owned(), v);
                    }
                } else {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(out)
        }
    }
    d.deserialize_any(Ours)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlimPodSpec {
    #[serde(default)]
    pub containers: Vec<SlimContainer>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlimContainer {
    #[serde(default)]
    pub name: String,
}

impl SlimStatefulSet {
    /// The typed StatefulSet holding just these fields (what [`publish_selector`] reads).
    pub fn into_statefulset(self) -> StatefulSet {
        let m = self.metadata;
        let ours =
            m.annotations.map(|a| a.into_iter().filter(|(k, _)| k.starts_with("kafka-advertiser.io/")).collect());
        StatefulSet {
            metadata: ObjectMeta {
                name: m.name,
                namespace: m.namespace,
                uid: m.uid,
                creation_timestamp: m.creation_timestamp,
                annotations: ours,
                ..ObjectMeta::default()
            },
            spec: self.spec.map(|s| StatefulSetSpec {
                selector: s.selector,
                ordinals: s.ordinals,
                replicas: s.replicas,
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(s.template.metadata.labels),
                        annotations: Some(s.template.metadata.annotations),
                        ..ObjectMeta::default()
                    }),
                    spec: s.template.spec.map(|p| PodSpec {
                        containers: p
                            .containers
                            .into_iter()
                            .map(|c| Container { name: c.name, ..Container::default() })
                            .collect(),
                        ..PodSpec::default()
                    }),
                },
                ..StatefulSetSpec::default()
            }),
            status: None,
        }
    }
}

impl kube::Resource for SlimStatefulSet {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "StatefulSet".into()
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "apps".into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "statefulsets".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
