//! Adopting a Service someone made by hand, with their consent (`kafka-advertiser.io/adopt` naming
//! the StatefulSet), without changing its address; and giving Services back on the way out
//! (released, never deleted: the address stays with the Service).

use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use serde_json::{json, Value};

use super::{service_ref, Note, Planner, Release};
use crate::controller::desired::Desired;
use crate::names::*;

/// What to do with a Service of a wanted name that is not this StatefulSet's.
pub enum Adoption {
    /// No consent: the usual conflict check decides.
    NotAsked,
    /// Consent, and nothing would release its address: take it over.
    Adopt,
    /// Consent, but it cannot be taken over as it is (a Warning says why).
    Refused(Box<Note>),
}

/// Annotations whose value places a load balancer's address: changing one releases it or moves it.
const PINS: [&str; 16] = [
    "metallb.io/loadBalancerIPs",
    "metallb.universe.tf/loadBalancerIPs",
    "metallb.io/address-pool",
    "metallb.universe.tf/address-pool",
    "metallb.io/allow-shared-ip",
    "metallb.universe.tf/allow-shared-ip",
    "service.beta.kubernetes.io/aws-load-balancer-type",
    "service.beta.kubernetes.io/aws-load-balancer-scheme",
    "service.beta.kubernetes.io/aws-load-balancer-eip-allocations",
    "service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses",
    "service.beta.kubernetes.io/azure-load-balancer-ipv4",
    "service.beta.kubernetes.io/azure-load-balancer-internal",
    "service.beta.kubernetes.io/azure-pip-name",
    "networking.gke.io/load-balancer-ip-addresses",
    "networking.gke.io/load-balancer-type",
    "cloud.google.com/load-balancer-type",
];

/// What taking `current` over as `wanted` would change that gives up or moves its address. Fields
/// `wanted` leaves unset are kept as they are (server-side apply leaves another manager's fields).
pub fn address_changes(current: &Service, wanted: &Service) -> Vec<String> {
    let (c, w) = (current.spec.clone().unwrap_or_default(), wanted.spec.clone().unwrap_or_default());
    let mut out = Vec::new();
    let ty = |t: &Option<String>| t.clone().unwrap_or_else(|| "ClusterIP".into());
    if ty(&c.type_) != ty(&w.type_) {
        out.push(format!("type {} would become {}", ty(&c.type_), ty(&w.type_)));
    }
    let mut differs = |what: &str, have: Option<String>, want: Option<String>| {
        if let Some(want) = want.filter(|want| have.as_ref() != Some(want)) {
            out.push(format!("{what} {} would become {want}", have.unwrap_or_else(|| "(unset)".into())));
        }
    };
    differs("loadBalancerClass", c.load_balancer_class.clone(), w.load_balancer_class.clone());
    differs("loadBalancerIP", c.load_balancer_ip.clone(), w.load_balancer_ip.clone());
    let families = |f: &Option<Vec<String>>| f.as_ref().map(|f| f.join(","));
    differs("ipFamilies", families(&c.ip_families), families(&w.ip_families));
    for key in PINS {
        differs(
            &format!("annotation {key}"),
            current.annotations().get(key).cloned(),
            wanted.annotations().get(key).cloned(),
        );
    }
    out
}

impl Planner<'_> {
    /// Whether `other` (a Service of the name `wanted` has) is to be adopted.
    pub(super) fn adoption(&self, other: &Service, wanted: &Service) -> Adoption {
        judge(other, wanted, &self.d, self.o.sts.metadata.uid.as_deref().unwrap_or_default())
    }
}

/// Whether `other`, a Service of the name `wanted` has, is to be adopted by the StatefulSet of `d`
/// (UID `uid`): its consent, no other controller, nothing that would release or move its address,
/// and under an access class what it brings within the class. `preview` asks the same.
pub fn judge(other: &Service, wanted: &Service, d: &Desired, uid: &str) -> Adoption {
    let name = other.name_any();
    if other.annotations().get(ANN_ADOPT).map(|v| v.trim()) != Some(d.name.as_str()) {
        return Adoption::NotAsked;
    }
    let refuse = |reason: &'static str, why: String| {
        Adoption::Refused(Box::new(Note::warning(reason, why, Some(service_ref(&d.namespace, &name)))))
    };
    let owned_elsewhere = (other.owner_references().iter())
        .any(|o| o.controller == Some(true) && (o.kind != "StatefulSet" || o.uid != uid));
    if owned_elsewhere {
        let why = format!(
            "Service {name} asks to be adopted ({ANN_ADOPT}) but another object controls it (its controller owner \
             reference): leaving it alone"
        );
        return refuse("ServiceConflict", why);
    }
    let changes = address_changes(other, wanted);
    if !changes.is_empty() {
        let why = format!(
            "adopting Service {name} would release or move its address: {}; nothing was written. Set the \
             StatefulSet's kafka-advertiser.io settings to match the Service (service-type, load-balancer-class, \
             service-annotations, ip-family), then it is adopted as it is",
            changes.join("; ")
        );
        return refuse("AdoptionWouldChangeAddress", why);
    }
    if let Err(e) = class_allows(other, d) {
        return refuse(e.reason(), format!("Service {name} is not adopted: {e}"));
    }
    Adoption::Adopt
}

/// Under an access class, what a Service brings along is judged like anything else: the address
/// it holds or asks for, and the annotations that place one.
fn class_allows(other: &Service, d: &Desired) -> Result<(), crate::spec::class::ClassError> {
    let Some(class) = &d.class else { return Ok(()) };
    let owner = crate::spec::class::Owner { namespace: &d.namespace, statefulset: &d.name };
    let source_of = format!("Service {}, which asks to be adopted", other.name_any());
    let spec = other.spec.as_ref();
    let held = crate::controller::address_feed::lb_address(other).map(str::to_owned);
    for address in spec.and_then(|s| s.load_balancer_ip.clone()).into_iter().chain(held) {
        class.host_or_ip(&address, &source_of, owner)?;
    }
    class.service_annotations(other.annotations().iter(), owner, &source_of)
}

/// Give a Service back ([`Release`]): its fields as they are, without our labels, our annotation
/// and the owner reference. The Service, its address and everything its maker set stay.
pub(super) fn release(svc: &Service, why: &str) -> Release {
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let ours = [MANAGED_BY_LABEL, STATEFULSET_LABEL, ORDINAL_LABEL, ROLE_LABEL];
    let labels: serde_json::Map<String, Value> = (svc.labels().iter())
        .filter(|(k, _)| !ours.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let annotations: serde_json::Map<String, Value> = (svc.annotations().iter())
        .filter(|(k, _)| k.as_str() != ANN_INTENT)
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let keep = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
        "spec": svc.spec,
    });
    let note = format!(
        "released Service {name} ({why}): it keeps its address and everything else; kafka-advertiser no longer \
         manages it"
    );
    let done = Note::normal("ServiceReleased", "Release", note, Some(service_ref(&ns, &name)));
    Release { namespace: ns, name, keep, done }
}
