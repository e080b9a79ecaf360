//! The plan's Gateway step: the user's Gateway (its problems, its owner's consent, this
//! StatefulSet's listeners on it or in its ListenerSet, the release of listeners whose StatefulSet is
//! gone), the routes, and the Gateway's address for the brokers it carries.

use std::collections::BTreeSet;

use kube::api::DynamicObject;
use kube::ResourceExt;

use super::{found, gateway_missing, release, Apply, Note, Piece, Planner};
use crate::controller::gateway::{self, GatewayPlan};
use crate::controller::kinds::Kind;
use crate::controller::observe::GatewayView;
use crate::names::listener_manager;
use crate::spec::settings::Mode;

/// The Gateway's address and the brokers it does not carry: the Services step writes the address on
/// the others' Services.
#[derive(Debug, Clone)]
pub(super) struct Carried {
    pub address: String,
    pub withheld: BTreeSet<u32>,
}

impl Planner<'_> {
    /// The Gateway the settings name, as observed.
    pub(super) fn named_gateway(&self) -> Option<&GatewayView> {
        let gw = self.d.settings.gateway.as_ref()?;
        self.o.gateways.get(&format!("{}/{}", gw.namespace_or(&self.d.namespace), gw.name))
    }

    /// Where gateway-tcp's listeners go on the named Gateway, and the ports others use there.
    pub(super) fn attachment(&self) -> gateway::Attachment {
        let Some(view) = self.named_gateway() else { return Default::default() };
        let Some(gw) = found(Some(view)) else { return Default::default() };
        let manager = listener_manager(&self.d.namespace, &self.d.name);
        let ours = self.o.owned.get(&Kind::ListenerSet).into_iter().flatten().next().map(|l| &**l);
        gateway::attachment(gw, &manager, &view.attached, ours)
    }

    /// The user's Gateway: its problems, the owner's consent, its address on the Services of the
    /// brokers it will carry, this StatefulSet's listeners on it (only where its owner asked for
    /// that), and the release of listeners whose StatefulSet is gone.
    pub(super) fn gateway(&self, gp: &GatewayPlan) -> (Piece, Option<Carried>) {
        let mut p = Piece::default();
        let view = self.o.gateways.get(&gp.gateway());
        let Some(gw) = found(view) else {
            p.objects.push(gateway_missing(view, gp));
            return (p, None);
        };
        let labels = view.and_then(|v| v.namespace_labels.as_ref());
        let problems = gateway::gateway_problems(gw, &self.d, labels);
        p.objects.extend(problems.into_iter().map(|(r, m)| Note::warning(r, m, None)));
        for (manager, _) in view.into_iter().flat_map(|v| &v.others).filter(|(_, exists)| !**exists) {
            p.plan.apply.push(release(gw, manager.clone()));
        }
        let tcp = self.d.settings.mode == Mode::GatewayTcp;
        for (_, reason, note) in &gp.refused {
            p.objects.push(Note::warning(reason, note.clone(), None));
        }
        let consent = if tcp { gateway::listeners_consent(gw, &self.d.namespace, labels) } else { Ok(()) };
        if let Err(m) = &consent {
            p.objects.push(Note::warning("ListenersNotAllowed", m.clone(), None));
        }
        let mut carried = None;
        if tcp && consent.is_ok() {
            let withheld = self.withheld(&mut p, gp, gw);
            carried = self.gateway_address(&mut p, gw, gp).map(|address| Carried { address, withheld });
        }
        let manager = listener_manager(&self.d.namespace, &self.d.name);
        let on_gateway = tcp && consent.is_ok() && gp.attach == gateway::Attach::Gateway;
        let listeners = if on_gateway { &gp.listeners[..] } else { &[] };
        if !gateway::listeners_in_place(gw, &manager, listeners) {
            let (namespace, name) = (gp.namespace.clone(), gp.name.clone());
            let body = gateway::listeners_patch(&namespace, &name, listeners);
            let manager = Some(manager);
            p.plan.apply.push(Apply { kind: Kind::Gateway, namespace, name, body, manager, done: None, fresh: false });
        }
        (p, carried)
    }

    /// The brokers that get no listener, or whose listener the Gateway's controller does not
    /// program (a Warning), or has not judged yet: none of them is given the Gateway's address.
    /// A controller that reports nothing of ListenerSets (no `status.attachedListenerSets`, GEP-1713
    /// says it must) serves none of their listeners: every broker waits, and once the Gateway is
    /// programmed and our ListenerSet older than the grace, a Warning says so.
    pub(super) fn withheld(&self, p: &mut Piece, gp: &GatewayPlan, gw: &DynamicObject) -> BTreeSet<u32> {
        let mut out: BTreeSet<u32> = gp.refused.iter().filter_map(|(o, _, _)| *o).collect();
        if gp.listener_set.is_none() {
            return out;
        }
        let ordinal_of =
            |name: &str| name.strip_prefix(&format!("{}-", self.d.name)).and_then(|o| o.parse::<u32>().ok());
        let Some(ls) = self.o.owned.get(&Kind::ListenerSet).into_iter().flatten().next() else {
            // Not made yet: no controller has judged it.
            out.extend(self.d.ordinals());
            return out;
        };
        if !gateway::handles_listener_sets(gw) {
            out.extend(self.d.ordinals());
            self.silent_gateway(p, gw, ls);
            return out;
        }
        let verdict = gateway::listener_set_verdict(ls, true);
        if let Some(why) = verdict.refused {
            let note = format!(
                "Gateway {} does not accept ListenerSet {}: {why}; no broker is given its address until it does \
                 (its owner allows this namespace in spec.allowedListeners)",
                gp.gateway(),
                ls.name_any()
            );
            p.objects.push(Note::warning("ListenersNotAllowed", note, None));
            out.extend(self.d.ordinals());
        }
        for (name, why) in &verdict.listeners {
            let note = format!(
                "listener {name} of ListenerSet {} is not programmed by Gateway {}: {why}; its broker's address is \
                 withheld. Choose another port for it",
                ls.name_any(),
                gp.gateway()
            );
            p.objects.push(Note::warning("ListenerConflict", note, None));
            out.extend(ordinal_of(name));
        }
        out.extend(verdict.pending.iter().filter_map(|n| ordinal_of(n)));
        out
    }

    /// A programmed Gateway silent about our ListenerSet: after the grace a Warning
    /// (`ListenerSetsNotSupported`), before it a look again when it ends.
    fn silent_gateway(&self, p: &mut Piece, gw: &DynamicObject, ls: &DynamicObject) {
        let Some(created) = ls.metadata.creation_timestamp.as_ref().map(|t| t.0) else { return };
        if !gateway::gateway_programmed(gw) {
            return;
        }
        let age = self.o.now.as_second() - created.as_second();
        let left = gateway::LISTENER_SETS_GRACE_SECONDS - age;
        if left <= 0 {
            let note = gateway::listener_sets_not_supported(gw, &ls.name_any());
            p.objects.push(Note::warning("ListenerSetsNotSupported", note, None));
        } else {
            let left = std::time::Duration::from_secs(left.unsigned_abs());
            p.due = p.due.into_iter().chain([left]).min();
        }
    }

    /// gateway-tcp without a fixed address: the Gateway's, when it is one a broker may advertise.
    pub(super) fn gateway_address(&self, p: &mut Piece, gw: &DynamicObject, gp: &GatewayPlan) -> Option<String> {
        let a = gateway::gateway_address(gw).filter(|_| self.d.settings.address.is_none())?;
        if !crate::spec::settings::is_valid_host(&a) {
            let note = format!(
                "Gateway {} publishes the address {a:?} (status.addresses[0].value), which is not an IP address \
                 or a DNS name; brokers are not given it",
                gp.gateway()
            );
            p.objects.push(Note::warning("InvalidAddress", note, None));
            return None;
        }
        Some(a)
    }

    /// gateway-tcp's ListenerSet, when it has listeners; otherwise (another mode, every listener
    /// refused) none.
    pub(super) fn listener_set(&self, gp: Option<&GatewayPlan>) -> Piece {
        let mut p = Piece::default();
        let wanted: Vec<(Option<u32>, DynamicObject)> = gp
            .and_then(|p| p.listener_set.clone().filter(|_| !p.listeners.is_empty()))
            .map(|ls| (None, ls))
            .into_iter()
            .collect();
        if self.o.owned.contains_key(&Kind::ListenerSet) || !wanted.is_empty() {
            self.sync(&mut p, Kind::ListenerSet, &wanted, false);
        }
        p
    }

    /// Routes to the brokers' Services; routes of a kind the mode no longer uses go.
    pub(super) fn routes(&self, gp: Option<&GatewayPlan>) -> Piece {
        let mut p = Piece::default();
        let kind = gp.and_then(|_| gateway::route_kind(self.d.settings.mode));
        if let (Some(gp), Some(kind)) = (gp, kind) {
            self.sync(&mut p, kind, &gp.routes, false);
            let routes = self.o.owned.get(&kind).into_iter().flatten();
            let problems: Vec<String> = routes
                .filter(|r| gp.routes.iter().any(|(_, w)| w.metadata.name == r.metadata.name))
                .flat_map(|r| gateway::route_problems(r))
                .collect();
            p.objects.extend(problems.into_iter().map(|m| Note::warning("RouteNotAccepted", m, None)));
        }
        for other in Kind::ROUTES.into_iter().filter(|k| Some(*k) != kind) {
            self.sync(&mut p, other, &[], false);
        }
        p
    }
}
