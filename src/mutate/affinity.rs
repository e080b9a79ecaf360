//! Pod anti-affinity that spreads one StatefulSet's brokers over topology domains.

use std::collections::BTreeMap;

use json_patch::{AddOperation, PatchOperation};
use k8s_openapi::api::core::v1::{PodAffinityTerm, WeightedPodAffinityTerm};

use super::pod::SpecView;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{json, Value};

use super::{ptr, settings::AntiAffinity};

/// Labels that differ from pod to pod of one StatefulSet and so must not be in the selector.
pub const PER_POD_LABELS: [&str; 3] =
    ["statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index", "controller-revision-hash"];

/// The selector of "this StatefulSet's brokers": the pod's labels minus the per-pod ones.
pub fn broker_selector(labels: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    labels
        .into_iter()
        .flatten()
        .filter(|(k, _)| !PER_POD_LABELS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The anti-affinity term for these brokers.
pub fn term(selector: BTreeMap<String, String>, topology_key: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(LabelSelector { match_labels: Some(selector), match_expressions: None }),
        topology_key: topology_key.to_owned(),
        ..Default::default()
    }
}

pub const PREFERRED_WEIGHT: i32 = 100;

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    // Serialising k8s-openapi types into a Value cannot fail (string keys, no non-finite floats).
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// JSON-patch operations that add `term` to the pod's anti-affinity, creating missing parents.
/// Nothing when an equal term already exists; the user's terms are never touched or reordered.
pub fn ops(spec: &SpecView, mode: AntiAffinity, term: PodAffinityTerm) -> Vec<PatchOperation> {
    let (list_key, item) = match mode {
        AntiAffinity::None => return Vec::new(),
        AntiAffinity::Required => ("requiredDuringSchedulingIgnoredDuringExecution", to_value(&term)),
        AntiAffinity::Preferred => (
            "preferredDuringSchedulingIgnoredDuringExecution",
            to_value(&WeightedPodAffinityTerm { pod_affinity_term: term.clone(), weight: PREFERRED_WEIGHT }),
        ),
    };
    let affinity = spec.affinity.as_ref();
    let anti = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
    let exists = match mode {
        AntiAffinity::Required => {
            anti.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref()).map(|l| l.contains(&term))
        }
        _ => anti
            .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
            .map(|l| l.iter().any(|w| w.pod_affinity_term == term)),
    };
    let (path, value) = match (affinity, anti, exists) {
        (_, _, Some(true)) => return Vec::new(),
        (None, _, _) => (ptr(&["spec", "affinity"]), json!({ "podAntiAffinity": { list_key: [item] } })),
        (Some(_), None, _) => (ptr(&["spec", "affinity", "podAntiAffinity"]), json!({ list_key: [item] })),
        (Some(_), Some(_), None) => (ptr(&["spec", "affinity", "podAntiAffinity", list_key]), json!([item])),
        (Some(_), Some(_), Some(false)) => (ptr(&["spec", "affinity", "podAntiAffinity", list_key, "-"]), item),
    };
    vec![PatchOperation::Add(AddOperation { path, value })]
}
