//! The plan's drift step: what each running broker advertises against what it would be given now
//! (the webhook's answer for that pod), and with roll-on-change, or for a broker admitted without its
//! address, one eviction at a time.

use k8s_openapi::api::core::v1::Pod;
use kube::{Resource, ResourceExt};

use super::{Evict, Note, Piece, Planner};
use crate::controller::desired::Desired;
use crate::mutate::{self, ClusterLookup, RequestNames};
use crate::names::ANN_ADVERTISED;
use crate::spec::pending;
use crate::spec::settings::{Defaults, ANN_PENDING_TIMEOUT};

impl Planner<'_> {
    /// Compare what each running broker advertised with what it would be given now; with
    /// roll-on-change, evict one drifted broker at a time, only while every broker is Ready.
    pub(super) fn drift(&self, book: &dyn ClusterLookup) -> (Piece, bool) {
        let mut p = Piece::default();
        let d = &self.d;
        let uid = self.o.sts.metadata.uid.as_deref();
        let mut pods: Vec<&Pod> = (self.o.pods.iter().map(|pod| &**pod))
            .filter(|p| {
                p.owner_references().iter().any(|o| {
                    o.kind == "StatefulSet" && o.name == d.name && (uid.is_none() || Some(o.uid.as_str()) == uid)
                })
            })
            .collect();
        pods.sort_by_key(|p| p.name_any());
        let drifted: Vec<(&Pod, String)> =
            pods.iter().filter_map(|p| drifted(p, d, self.defaults, book).map(|now| (*p, now))).collect();
        p.plan.status.drifted = drifted.len() as i64;
        let internal_only = |pod: &Pod| {
            d.settings.learns_address()
                && pod
                    .annotations()
                    .get(ANN_ADVERTISED)
                    .is_some_and(|a| pending::internal_only(a, &d.settings.listener))
        };
        for pod in pods.iter().filter(|p| internal_only(p)) {
            p.plan.status.internal_only += 1;
            let advertised = pod.annotations().get(ANN_ADVERTISED).map_or("", String::as_str);
            let note = format!(
                "broker pod {} was admitted without its external address ({ANN_PENDING_TIMEOUT} passed): it \
                 advertises only {advertised}, and is restarted once when its address arrives",
                pod.name_any()
            );
            p.objects.push(Note::warning("AdmittedWithoutExternalAddress", note, Some(pod.object_ref(&()))));
        }
        for (pod, now) in &drifted {
            let was = pod.annotations().get(ANN_ADVERTISED).cloned().unwrap_or_default();
            let note = format!("pod {} advertises {was} but its address is now {now}", pod.name_any());
            let pod_ref = pod.object_ref(&());
            let on_pod = Note { regarding: Some(pod_ref.clone()), ..Note::warning("AddressDrift", note.clone(), None) };
            p.plan.events.extend([on_pod, Note::warning("AddressDrift", note, Some(pod_ref))]);
        }
        // With roll-on-change, while every broker is Ready. A broker admitted without its address is
        // always restarted once it has one, while every other broker is Ready. One at a time.
        let ready_but = |pod: Option<&Pod>| {
            pods.len() as u32 >= d.replicas
                && pods.iter().filter(|p| !pod.is_some_and(|x| std::ptr::eq(**p, x))).all(|p| pod_ready(p))
        };
        let rolled = drifted.iter().find(|(pod, _)| {
            (d.service.roll_on_change && ready_but(None)) || (internal_only(pod) && ready_but(Some(*pod)))
        });
        if let Some((pod, now)) = rolled.filter(|_| !self.o.recently_evicted) {
            let note = format!("evicted {} so it restarts advertising {now}", pod.name_any());
            let done = Note::normal("EvictedForNewAddress", "Evict", note, Some(pod.object_ref(&())));
            p.plan.evict = Some(Evict { namespace: d.namespace.clone(), pod: pod.name_any(), done });
        }
        let drifting = !drifted.is_empty();
        (p, drifting)
    }
}

/// What a running broker would advertise now, when it differs from what it advertises. Pending or
/// invalid is not drift (the address is gone or settings are broken; other paths report those).
fn drifted(pod: &Pod, d: &Desired, defaults: &Defaults, book: &dyn ClusterLookup) -> Option<String> {
    let advertised = pod.annotations().get(ANN_ADVERTISED)?;
    let names = RequestNames { name: pod.metadata.name.as_deref().unwrap_or(""), namespace: &d.namespace };
    let now = mutate::mutate(pod, names, defaults, book).ok()??;
    (!mutate::same_advertised(&now.advertised, advertised)).then_some(now.advertised)
}

fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none() && ready_condition(p).is_some()
}

/// The pod's Ready condition, when it is True.
pub(super) fn ready_condition(p: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    p.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready" && c.status == "True")
}
