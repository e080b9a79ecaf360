//! Who holds which host name, cluster-wide: every opted-in StatefulSet's claims
//! ([`crate::spec::claims`]), oldest first. Both roles keep it from their StatefulSet watch; the
//! webhook denies a newcomer's brokers and the controller writes nothing for a name another
//! StatefulSet holds.
//!
//! Bounded by construction: a StatefulSet is kept as the few fields its claims come from (its
//! `kafka-advertiser.io/*` settings, none over 1 KiB, without the Service-only maps), and each
//! name as a keyed 64-bit hash; at most the broker cap plus two names per StatefulSet.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::names::ENABLED_LABEL;
use crate::spec::claims::{self, Claimant};
use crate::spec::class::ClassSource;
use crate::spec::settings::Defaults;

/// The longest setting value kept: longer ones are no valid host name, template or address.
const MAX_VALUE: usize = 1024;

#[derive(Default)]
pub(super) struct HostClaims {
    hasher: RandomState,
    /// (namespace, name) → its claims.
    by_sts: HashMap<(String, String), Entry>,
    /// name hash → who claims it (almost always one).
    by_host: HashMap<u64, Vec<Arc<Claimant>>>,
    defaults: Option<Defaults>,
}

struct Entry {
    claimant: Arc<Claimant>,
    /// The fields the claims come from, to work them out again when the classes change.
    sts: Arc<StatefulSet>,
    hosts: Vec<u64>,
}

/// The fields of a StatefulSet its claims come from.
pub fn claim_input(sts: &StatefulSet) -> StatefulSet {
    let ours = |m: Option<&BTreeMap<String, String>>| -> Option<BTreeMap<String, String>> {
        let kept: BTreeMap<String, String> = (m.into_iter().flatten())
            .filter(|(k, v)| {
                k.starts_with("kafka-advertiser.io/")
                    && !k.ends_with("/service-annotations")
                    && !k.ends_with("/service-labels")
                    && v.len() <= MAX_VALUE
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!kept.is_empty()).then_some(kept)
    };
    let m = &sts.metadata;
    let spec = sts.spec.as_ref();
    let template = spec.and_then(|s| s.template.metadata.as_ref());
    let enabled = template.and_then(|t| t.labels.as_ref()).and_then(|l| l.get(ENABLED_LABEL));
    StatefulSet {
        metadata: ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            creation_timestamp: m.creation_timestamp.clone(),
            annotations: ours(m.annotations.as_ref()),
            ..ObjectMeta::default()
        },
        spec: spec.map(|s| StatefulSetSpec {
            replicas: s.replicas,
            ordinals: s.ordinals.clone(),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: enabled.map(|v| BTreeMap::from([(ENABLED_LABEL.to_owned(), v.clone())])),
                    annotations: ours(template.and_then(|t| t.annotations.as_ref())),
                    ..ObjectMeta::default()
                }),
                spec: None,
            },
            ..StatefulSetSpec::default()
        }),
        status: None,
    }
}

impl HostClaims {
    fn hash(&self, host: &str) -> u64 {
        self.hasher.hash_one(host)
    }

    /// Record (or with `None`, forget) one StatefulSet's claims.
    pub fn set(
        &mut self,
        namespace: &str,
        name: &str,
        sts: Option<StatefulSet>,
        defaults: &Defaults,
        view: &dyn ClassSource,
    ) {
        self.defaults.get_or_insert_with(|| defaults.clone());
        self.forget(namespace, name);
        let Some(sts) = sts else { return };
        self.insert(Arc::new(sts), defaults, view);
    }

    fn insert(&mut self, sts: Arc<StatefulSet>, defaults: &Defaults, view: &dyn ClassSource) {
        let Ok(Some(intent)) = crate::spec::intent(&sts, defaults, view) else { return };
        let claimant = Arc::new(Claimant::of(&intent));
        let hosts: Vec<u64> = claims::names(&intent).iter().map(|h| self.hash(h)).collect();
        for h in &hosts {
            let holders = self.by_host.entry(*h).or_default();
            holders.push(claimant.clone());
            holders.sort_unstable();
        }
        let key = (intent.namespace.clone(), intent.name.clone());
        self.by_sts.insert(key, Entry { claimant, sts, hosts });
    }

    fn forget(&mut self, namespace: &str, name: &str) {
        let Some(e) = self.by_sts.remove(&(namespace.to_owned(), name.to_owned())) else { return };
        for h in e.hosts {
            if let Some(holders) = self.by_host.get_mut(&h) {
                holders.retain(|c| !Arc::ptr_eq(c, &e.claimant));
                if holders.is_empty() {
                    self.by_host.remove(&h);
                }
            }
        }
    }

    /// The classes (`None`) or a namespace's labels changed: those claims are worked out again.
    pub fn recompute(&mut self, namespace: Option<&str>, view: &dyn ClassSource) {
        let Some(defaults) = self.defaults.clone() else { return };
        let keys: Vec<(String, String)> =
            self.by_sts.keys().filter(|(ns, _)| namespace.is_none_or(|n| n == ns)).cloned().collect();
        for (ns, name) in keys {
            let Some(sts) = self.by_sts.get(&(ns.clone(), name.clone())).map(|e| e.sts.clone()) else { continue };
            self.forget(&ns, &name);
            self.insert(sts, &defaults, view);
        }
    }

    /// Is `host` held by a StatefulSet other than `namespace/name` that claimed it first? A name
    /// nobody has claimed yet is free.
    pub fn taken(&self, namespace: &str, name: &str, host: &str) -> bool {
        let holders = self.by_host.get(&self.hash(&claims::key(host)));
        // Holders are sorted oldest first: the first keeps the name.
        holders.and_then(|h| h.first()).is_some_and(|first| !first.is(namespace, name))
    }

    pub fn len(&self) -> usize {
        self.by_sts.len()
    }
}

#[cfg(test)]
mod tests;
