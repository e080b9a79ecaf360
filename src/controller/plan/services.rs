//! The plan's Services step: every wanted Service not already in place (a name someone else holds is
//! a conflict), scale-down, and the addresses the Services carry.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;

use super::adopt::{release, Adoption};
use super::gateway_step::Carried;
use super::{delete, service_ref, stamped, Apply, Note, Piece, Planner};
use crate::controller::address_feed::{ingress_address, lb_address};
use crate::controller::desired::{self, Desired};
use crate::controller::discovery;
use crate::controller::fingerprint::in_place;
use crate::controller::kinds::Kind;
use crate::names::*;

/// Broker `ordinal`'s wanted Service, with the Gateway's address when the Gateway carries it.
fn carry(svc: &Service, ordinal: u32, carried: Option<&Carried>) -> Service {
    let mut svc = svc.clone();
    if let Some(c) = carried.filter(|c| !c.withheld.contains(&ordinal)) {
        svc.annotations_mut().insert(ANN_GATEWAY_ADDRESS.into(), c.address.clone());
    }
    svc
}

impl Planner<'_> {
    /// Every wanted Service not already in place; a name held by someone else is a conflict.
    pub(super) fn services(&self, carried: Option<&Carried>) -> Piece {
        let mut p = Piece::default();
        let mut wanted: Vec<Service> = (self.d.services.iter())
            .map(|(ordinal, svc)| carry(svc, *ordinal, carried))
            .chain(self.d.bootstrap.clone())
            .collect();
        self.keep_sharing_key(&mut wanted);
        for svc in &wanted {
            let name = svc.name_any();
            let current = self.o.services.iter().find(|s| s.name_any() == name);
            let mut adopted = None;
            if let (None, Some(other)) = (current, self.o.foreign.get(&name)) {
                match self.adoption(other, svc) {
                    Adoption::Adopt => adopted = Some(other),
                    Adoption::Refused(note) => {
                        p.objects.push(*note);
                        continue;
                    }
                    Adoption::NotAsked => {
                        if let Some(note) = self.conflict(other) {
                            p.objects.push(note);
                            continue;
                        }
                    }
                }
            }
            p.plan.status.managed += 1;
            let body = stamped(svc);
            if in_place(current.map(|c| serde_json::to_value(&**c).unwrap_or_default()).as_ref(), &body) {
                continue;
            }
            let related = Some(service_ref(self.ns(), &name));
            let done = match adopted {
                Some(other) => {
                    let address = lb_address(other).map_or(String::new(), |a| format!(" {a}"));
                    let note = format!("adopted Service {name} ({ANN_ADOPT}): it keeps its address{address}");
                    Some(Note::normal("ServiceAdopted", "Adopt", note, related))
                }
                None => current
                    .is_none()
                    .then(|| Note::normal("ServiceCreated", "Create", format!("created Service {name}"), related)),
            };
            let ns = self.ns().to_owned();
            // A name someone else holds was read in observe (`foreign`) and is a conflict above.
            p.plan.apply.push(Apply {
                kind: Kind::Service,
                namespace: ns,
                name,
                body,
                manager: None,
                done,
                fresh: false,
            });
        }
        self.scale_down(&mut p, &wanted);
        p
    }

    /// Services that already share an IP under a MetalLB key (one of an earlier release) keep it: a
    /// key changed on one Service at a time would split them from the IP. Only a StatefulSet whose
    /// Services hold none gets the key derived from its UID. A key the user set is left as set.
    pub(super) fn keep_sharing_key(&self, wanted: &mut [Service]) {
        let default = desired::sharing_key(self.o.sts.metadata.uid.as_deref());
        let held = self
            .o
            .services
            .iter()
            .filter_map(|s| s.annotations().get(crate::names::METALLB_SHARED_ANN))
            .find(|k| **k != default)
            .cloned();
        let Some(held) = held else { return };
        for svc in wanted {
            let ann = svc.annotations_mut();
            for key in [crate::names::METALLB_SHARED_ANN, crate::names::METALLB_LEGACY_SHARED_ANN] {
                if ann.get(key) == Some(&default) {
                    ann.insert(key.to_owned(), held.clone());
                }
            }
        }
    }

    /// Ours only if it is this StatefulSet's: two StatefulSets whose name templates render the same
    /// name would otherwise take the Service from each other on every reconcile.
    pub(super) fn conflict(&self, other: &Service) -> Option<Note> {
        let labels = other.labels();
        let name = other.name_any();
        let managed = labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY);
        let owner = labels.get(STATEFULSET_LABEL).map(String::as_str);
        let note = if !managed {
            format!(
                "Service {name} exists and is not managed by kafka-advertiser; leaving it alone (rename it or set \
                 kafka-advertiser.io/service-name-template)"
            )
        } else if owner != Some(self.d.name.as_str()) {
            format!(
                "Service {name} belongs to StatefulSet {}; leaving it alone (set kafka-advertiser.io/service-name-template \
                 so the names differ)",
                owner.unwrap_or("(unknown)")
            )
        } else if !desired::made_for(&other.metadata, &self.o.sts) {
            format!(
                "Service {name} is labelled as this StatefulSet's but was not made for it (no owner reference to \
                 StatefulSet {} with its UID: an earlier StatefulSet of that name, or someone else's); leaving it \
                 alone: delete it to have it made again",
                self.d.name
            )
        } else {
            return None;
        };
        Some(Note::warning("ServiceConflict", note, Some(service_ref(self.ns(), &name))))
    }

    /// Whether broker `ordinal`'s pod still exists (scaled away, shutting down).
    pub(super) fn pod_exists(&self, ordinal: u32) -> bool {
        let pod = format!("{}-{ordinal}", self.d.name);
        self.o.pods.iter().any(|p| p.metadata.name.as_deref() == Some(pod.as_str()))
    }

    /// Scale down: remove Services outside the range (unless retained) and a bootstrap no longer wanted.
    pub(super) fn scale_down(&self, p: &mut Piece, wanted: &[Service]) {
        for svc in &self.o.services {
            let name = svc.name_any();
            if wanted.iter().any(|w| w.metadata.name.as_deref() == Some(name.as_str())) {
                continue;
            }
            let is_broker = svc.labels().get(ROLE_LABEL).map(String::as_str) == Some("broker");
            let ordinal = svc.labels().get(ORDINAL_LABEL).cloned().unwrap_or_default();
            // Out of range: a scale-down. In range: no longer wanted at all (service-type None).
            let parsed = ordinal.parse::<u32>().ok();
            let scaled_away = is_broker && !parsed.is_some_and(|o| self.d.ordinals().contains(&o));
            if scaled_away && self.d.service.retain {
                p.plan.status.managed += 1;
                continue;
            }
            // The StatefulSet controller removes brokers one at a time, each with its grace period
            // (Kafka's controlled shutdown): keep the broker's address until its pod is gone.
            if scaled_away && parsed.is_some_and(|o| self.pod_exists(o)) {
                p.plan.status.managed += 1;
                p.draining = true;
                continue;
            }
            if svc.annotations().contains_key(ANN_ADOPT) {
                let why = format!("ordinal {ordinal} is outside the StatefulSet's range; it was adopted");
                p.plan.release.push(release(svc, &why));
                continue;
            }
            let note = format!("deleted Service {name} (ordinal {ordinal} is outside the StatefulSet's range)");
            let done = Note::normal("ServiceDeleted", "Delete", note, Some(service_ref(self.ns(), &name)));
            p.plan.delete.push(delete(Kind::Service, &self.d.namespace, &name, Some(done)));
        }
    }

    /// The brokers' learned addresses (Events for new ones), and every known external host.
    pub(super) fn addresses(&self) -> (Piece, BTreeMap<u32, String>, BTreeMap<u32, String>) {
        let mut p = Piece::default();
        let d = &self.d;
        let needs_address = d.settings.learns_address();
        let mut addrs = BTreeMap::new();
        for (ordinal, svc) in &d.services {
            let cached = self.o.services.iter().find(|s| s.metadata.name == svc.metadata.name);
            // gateway-address is the controller's only in gateway-tcp; elsewhere only a load balancer's.
            let gateway = d.settings.mode == crate::spec::settings::Mode::GatewayTcp;
            match cached.and_then(|s| if gateway { ingress_address(s) } else { lb_address(s) }) {
                Some(a) if crate::spec::settings::is_valid_host(a) => {
                    addrs.insert(*ordinal, a.to_owned());
                }
                Some(a) => {
                    let note = format!(
                        "Service {} has the address {a:?}, which is not an IP address or a DNS name; broker {ordinal} \
                         is not given it",
                        svc.name_any()
                    );
                    p.objects.push(Note::warning("InvalidAddress", note, None));
                }
                None => {}
            }
        }
        for (o, a) in addrs.iter().filter(|(o, a)| self.o.seen.get(o) != Some(a)) {
            let svc = d.services.iter().find(|(x, _)| x == o).map(|(_, s)| s.name_any()).unwrap_or_default();
            let note = format!("broker {o} is reachable at {a} (Service {svc})");
            let related = Some(service_ref(&d.namespace, &svc));
            p.plan.events.push(Note::normal("AddressAssigned", "Reconcile", note, related));
        }
        p.plan.status.waiting = if needs_address { d.services.len() as i64 - addrs.len() as i64 } else { 0 };
        let hosts = discovery::external_hosts(d, &addrs, &pod_addresses(&self.o.pods, d));
        (p, addrs, hosts)
    }
}

/// Each broker pod's (node IP, pod IP).
fn pod_addresses(pods: &[Arc<Pod>], d: &Desired) -> BTreeMap<u32, (Option<String>, Option<String>)> {
    let mut out = BTreeMap::new();
    for pod in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        let ordinal = (pod.metadata.name.as_deref())
            .and_then(|n| n.strip_prefix(d.name.as_str()))
            .and_then(|n| n.strip_prefix('-'))
            .and_then(|o| o.parse::<u32>().ok());
        let Some(ordinal) = ordinal else { continue };
        let st = pod.status.as_ref();
        out.insert(ordinal, (st.and_then(|s| s.host_ip.clone()), st.and_then(|s| s.pod_ip.clone())));
    }
    out
}
