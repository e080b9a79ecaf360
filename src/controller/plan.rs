//! Plan: the one place that decides every object kafka-advertiser owns for a StatefulSet. Pure:
//! [`Observed`] + the settings + the address view → [`Plan`] (objects to apply and to delete, Events,
//! the problems to report, an eviction, what to remember). No `Context`, no API.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use kube::api::DynamicObject;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::{json, Value};

use super::addresses::{ingress_address, lb_address};
use super::desired::{self, Desired};
use super::gateway::{self, GatewayPlan};
use super::intent::{in_place, stamp};
use super::kinds::Kind;
use super::observe::{GatewayState, GatewayView, Observed};
use super::{discovery, template_check};
use crate::mutate::{self, AddressLookup, RequestNames};
use crate::names::*;
use crate::spec::settings::{Defaults, Mode};
use crate::spec::IntentError;

/// Requeue while something is still on its way (an address, a draining broker, a problem).
pub const SOON: Duration = Duration::from_secs(30);
/// Requeue when converged: a safety net; every change arrives through a watch.
pub const LATER: Duration = Duration::from_secs(300);

/// One server-side apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Apply {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub body: Value,
    /// `None`: [`FIELD_MANAGER`], forced (the object is ours). `Some`: a StatefulSet's listener
    /// manager on a shared Gateway, never forced.
    pub manager: Option<String>,
    /// Published once the API took it (a Service created).
    pub done: Option<Note>,
    /// Not held as this StatefulSet's: it must not exist yet. An object of that name that someone
    /// else made is a conflict, never taken over ([`super::apply`] checks right before the write).
    pub fresh: bool,
}

impl Apply {
    /// An apply of one of our own objects, forced under [`FIELD_MANAGER`], that may exist already.
    fn ours(kind: Kind, namespace: String, name: String, body: Value) -> Apply {
        Apply { kind, namespace, name, body, manager: None, done: None, fresh: false }
    }
}

/// One delete of an object this StatefulSet owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub done: Option<Note>,
}

/// One eviction of a broker pod, so it restarts with its new address.
#[derive(Debug, Clone, PartialEq)]
pub struct Evict {
    pub namespace: String,
    pub pod: String,
    pub done: Note,
}

/// An Event on the StatefulSet (or, with `regarding`, on another object).
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub type_: EventType,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
    pub related: Option<ObjectReference>,
    pub regarding: Option<ObjectReference>,
}

impl Note {
    pub fn normal(reason: &'static str, action: &'static str, note: String, related: Option<ObjectReference>) -> Self {
        Self { type_: EventType::Normal, reason, action, note, related, regarding: None }
    }

    pub fn warning(reason: &'static str, note: String, related: Option<ObjectReference>) -> Self {
        Self { type_: EventType::Warning, reason, action: "Reconcile", note, related, regarding: None }
    }
}

/// The problem sets reported as Warning Events when they change (not on every reconcile).
pub const TEMPLATE: &str = "template";
pub const OBJECTS: &str = "objects";

/// What one reconcile does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub apply: Vec<Apply>,
    pub delete: Vec<Delete>,
    /// Published every time they are planned.
    pub events: Vec<Note>,
    /// `(set, problems)`: published when a set differs from the one last published.
    pub problems: Vec<(&'static str, Vec<Note>)>,
    /// A broker to restart for its new address.
    pub evict: Option<Evict>,
    pub status: Status,
    /// `None`: wait for a change.
    pub requeue: Option<Duration>,
    /// The StatefulSet left: forget what was kept about it.
    pub forget: bool,
}

/// What the controller remembers and counts from this reconcile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    pub addresses: BTreeMap<u32, String>,
    pub waiting: i64,
    pub managed: i64,
    /// Running brokers that advertise an address other than the one they would be given now.
    pub drifted: i64,
    /// The access class it uses, if any (the class's status counts its users).
    pub class: Option<String>,
}

pub fn service_ref(namespace: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        ..Default::default()
    }
}

/// Hash of a StatefulSet's addresses, for the `addresses-ready` nudge.
/// FNV-1a over `ordinal=address;` pairs in ordinal order: the same on every build and replica, so
/// an upgrade does not nudge every StatefulSet again.
pub fn addresses_hash(addrs: &BTreeMap<u32, String>) -> String {
    let pairs: String = addrs.iter().map(|(ordinal, address)| format!("{ordinal}={address};")).collect();
    format!("{:016x}", fnv1a(pairs.as_bytes()))
}

/// Decide everything for one StatefulSet.
pub fn plan(o: &Observed, defaults: &Defaults, book: &dyn AddressLookup) -> Plan {
    if o.sts.metadata.deletion_timestamp.is_some() {
        // Owner references let the garbage collector remove what it owned.
        return Plan::default();
    }
    // Under an access class: its settings, and nothing it does not allow (existing objects stay).
    let intent = match &o.intent {
        Ok(Some(intent)) => intent,
        Ok(None) => return opted_out(o),
        Err(IntentError::Class(e)) => return refused_by_class(o, e),
        Err(IntentError::Settings(e)) => {
            return invalid_settings(vec![], format!("broker pods will be refused: {e}"));
        }
        Err(IntentError::Service(e)) => return invalid_settings(vec![], e.to_string()),
    };
    let mut template = template_check::template_problems(intent, defaults)
        .into_iter()
        .map(|(reason, m)| Note::warning(reason, m, None))
        .collect::<Vec<_>>();
    let d = match desired::desired(intent) {
        Ok(d) => d,
        Err(e) => return invalid_settings(template, e.to_string()),
    };
    if let Some(over) = d.over_cap() {
        template.push(Note::warning("TooManyBrokers", over.to_string(), None));
    }
    let mut p = Planner { o, d, defaults, plan: Plan::default(), objects: Vec::new(), draining: false };
    p.plan.problems.push((TEMPLATE, template));
    p.plan.status.class = intent.class.as_ref().map(|c| c.name.clone());
    p.decide(book)
}

/// Settings that cannot be worked out: the template's problems and this one, nothing written.
fn invalid_settings(mut template: Vec<Note>, message: String) -> Plan {
    if !template.iter().any(|n| n.note.contains(&message)) {
        template.push(Note::warning("InvalidSettings", message, None));
    }
    Plan { problems: vec![(TEMPLATE, template)], ..Plan::default() }
}

/// Settings the access class does not allow: a Warning, and nothing written or deleted. When objects
/// made earlier exist (the class was edited or deleted while in use), they stay, no outage, and the
/// Warning says `ClassViolation`; new pods follow the class.
fn refused_by_class(o: &Observed, e: &crate::spec::class::ClassError) -> Plan {
    let in_use = !o.services.is_empty() || o.configmap.is_some() || o.owned.values().any(|v| !v.is_empty());
    let note = if in_use {
        Note::warning("ClassViolation", format!("{e} ({}); what exists stays until this is fixed", e.reason()), None)
    } else {
        Note::warning(e.reason(), e.to_string(), None)
    };
    Plan { problems: vec![(TEMPLATE, vec![note])], ..Plan::default() }
}

/// Opted out (or never in): remove what we made for it, if anything; drop our annotations.
fn opted_out(o: &Observed) -> Plan {
    let (ns, name) = (o.sts.namespace().unwrap_or_default(), o.sts.name_any());
    let mut plan = Plan { forget: true, ..Plan::default() };
    if let Some(cm) = &o.configmap {
        plan.delete.push(delete(Kind::ConfigMap, &ns, &cm.name_any(), None));
    }
    for (kind, objects) in &o.owned {
        plan.delete.extend(objects.iter().map(|obj| delete(*kind, &ns, &obj.name_any(), None)));
    }
    for svc in &o.services {
        let svc_name = svc.name_any();
        let note = format!("deleted {svc_name}: StatefulSet no longer opted in");
        let done = Note::normal("ServiceDeleted", "Delete", note, Some(service_ref(&ns, &svc_name)));
        plan.delete.push(delete(Kind::Service, &ns, &svc_name, Some(done)));
    }
    release_recorded(o, None, &mut plan);
    if o.sts.annotations().keys().any(|k| STATEFULSET_ANNOTATIONS.contains(&k.as_str())) {
        // Server-side apply of nothing: drops the annotations this field manager owns.
        let body = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": ns}});
        plan.apply.push(Apply::ours(Kind::StatefulSet, ns, name, body));
    }
    plan
}

fn delete(kind: Kind, namespace: &str, name: &str, done: Option<Note>) -> Delete {
    Delete { kind, namespace: namespace.to_owned(), name: name.to_owned(), done }
}

/// Release this StatefulSet's listeners on the Gateway it recorded, unless `keep` (the Gateway it
/// still uses with listeners) is that one.
fn release_recorded(o: &Observed, keep: Option<&GatewayPlan>, plan: &mut Plan) {
    let Some(old) = o.sts.annotations().get(ANN_ROUTED_THROUGH) else { return };
    // Still on that Gateway: [`Planner::gateway`] keeps or releases the listeners there.
    if keep.is_some_and(|p| &p.gateway() == old) {
        return;
    }
    let manager = listener_manager(&o.sts.namespace().unwrap_or_default(), &o.sts.name_any());
    if let Some(gw) = found(o.gateways.get(old)) {
        if !gateway::owned_listeners(gw, &manager).is_empty() {
            plan.apply.push(release(gw, manager));
        }
    }
}

/// The Warning about a Gateway that could not be read.
fn gateway_missing(view: Option<&GatewayView>, gp: &GatewayPlan) -> Note {
    let (reason, note) = match view.map(|v| &v.state) {
        Some(GatewayState::Unreadable(m)) => {
            ("GatewayUnreadable", format!("cannot read Gateway {}: {m}", gp.gateway()))
        }
        _ => (
            "GatewayNotFound",
            format!(
                "Gateway {} does not exist ({}): create it, or install the Gateway API CRDs if they are missing",
                gp.gateway(),
                crate::spec::settings::ANN_GATEWAY
            ),
        ),
    };
    Note::warning(reason, note, None)
}

fn found(view: Option<&GatewayView>) -> Option<&DynamicObject> {
    match view.map(|v| &v.state) {
        Some(GatewayState::Found(gw)) => Some(gw),
        _ => None,
    }
}

/// Applying no listeners under a StatefulSet's manager drops the ones it held.
fn release(gw: &DynamicObject, manager: String) -> Apply {
    let (ns, name) = (gw.namespace().unwrap_or_default(), gw.name_any());
    let body = gateway::listeners_patch(&ns, &name, &[]);
    Apply { kind: Kind::Gateway, namespace: ns, name, body, manager: Some(manager), done: None, fresh: false }
}

/// A typed object as the body of an apply, stamped with its intent.
fn intent<K: serde::Serialize>(obj: &K) -> Value {
    stamp(serde_json::to_value(obj).unwrap_or(Value::Null))
}

struct Planner<'a> {
    o: &'a Observed,
    d: Desired<'a>,
    defaults: &'a Defaults,
    plan: Plan,
    /// Problems with the objects (Gateway, routes, Services): one set, published on change.
    objects: Vec<Note>,
    /// A broker scaled away still shuts down: its objects stay until its pod is gone.
    draining: bool,
}

impl Planner<'_> {
    fn decide(mut self, book: &dyn AddressLookup) -> Plan {
        let gplan = gateway::gateway_plan(&self.d, &self.o.sts, &self.attachment());
        // The ListenerSet first: listeners move into it before any are released from the Gateway.
        self.listener_set(gplan.as_ref());
        if let Some(gp) = &gplan {
            self.gateway(gp);
        }
        release_recorded(self.o, gplan.as_ref(), &mut self.plan);
        self.services();
        self.routes(gplan.as_ref());
        let hosts = self.addresses();
        self.certificates(&hosts);
        let endpoints = discovery::external_endpoints(&self.d, &hosts);
        self.discovery(&endpoints);
        self.annotations(discovery::external_bootstrap(&self.d, &endpoints), gplan.as_ref());
        let drifting = self.drift(book);
        let objects = std::mem::take(&mut self.objects);
        let busy = self.plan.status.waiting > 0 || drifting || self.draining || !objects.is_empty();
        self.plan.problems.push((OBJECTS, objects));
        self.plan.requeue = Some(if busy { SOON } else { LATER });
        self.plan
    }

    fn ns(&self) -> &str {
        &self.d.namespace
    }

    /// The Gateway the settings name, as observed.
    fn named_gateway(&self) -> Option<&GatewayView> {
        let gw = self.d.settings.gateway.as_ref()?;
        self.o.gateways.get(&format!("{}/{}", gw.namespace_or(&self.d.namespace), gw.name))
    }

    /// Where gateway-tcp's listeners go on the named Gateway, and the ports others use there.
    fn attachment(&self) -> gateway::Attachment {
        let Some(view) = self.named_gateway() else { return Default::default() };
        let Some(gw) = found(Some(view)) else { return Default::default() };
        let manager = listener_manager(&self.d.namespace, &self.d.name);
        let ours = self.o.owned.get(&Kind::ListenerSet).into_iter().flatten().next().map(|l| &**l);
        gateway::attachment(gw, &manager, &view.attached, ours)
    }

    /// The user's Gateway: its problems, the owner's consent, its address on the Services of the
    /// brokers it will carry, this StatefulSet's listeners on it (only where its owner asked for
    /// that), and the release of listeners whose StatefulSet is gone.
    fn gateway(&mut self, gp: &GatewayPlan) {
        let view = self.o.gateways.get(&gp.gateway());
        let Some(gw) = found(view) else {
            self.objects.push(gateway_missing(view, gp));
            return;
        };
        let labels = view.and_then(|v| v.namespace_labels.as_ref());
        let problems = gateway::gateway_problems(gw, &self.d, labels);
        self.objects.extend(problems.into_iter().map(|(r, m)| Note::warning(r, m, None)));
        for (manager, _) in view.into_iter().flat_map(|v| &v.others).filter(|(_, exists)| !**exists) {
            self.plan.apply.push(release(gw, manager.clone()));
        }
        let tcp = self.d.settings.mode == Mode::GatewayTcp;
        for (_, reason, note) in &gp.refused {
            self.objects.push(Note::warning(reason, note.clone(), None));
        }
        let consent = if tcp { gateway::listeners_consent(gw, &self.d.namespace, labels) } else { Ok(()) };
        if let Err(m) = &consent {
            self.objects.push(Note::warning("ListenersNotAllowed", m.clone(), None));
        }
        if tcp && consent.is_ok() {
            let withheld = self.withheld(gp, gateway::handles_listener_sets(gw));
            self.gateway_address(gw, gp, &withheld);
        }
        let manager = listener_manager(&self.d.namespace, &self.d.name);
        let on_gateway = tcp && consent.is_ok() && gp.attach == gateway::Attach::Gateway;
        let listeners = if on_gateway { &gp.listeners[..] } else { &[] };
        if !gateway::listeners_in_place(gw, &manager, listeners) {
            let (namespace, name) = (gp.namespace.clone(), gp.name.clone());
            let body = gateway::listeners_patch(&namespace, &name, listeners);
            let manager = Some(manager);
            self.plan.apply.push(Apply {
                kind: Kind::Gateway,
                namespace,
                name,
                body,
                manager,
                done: None,
                fresh: false,
            });
        }
    }

    /// The brokers that get no listener, or whose listener the Gateway's controller does not
    /// program (a Warning), or has not judged yet (`aware`: it handles ListenerSets): none of
    /// them is given the Gateway's address.
    fn withheld(&mut self, gp: &GatewayPlan, aware: bool) -> std::collections::BTreeSet<u32> {
        let mut out: std::collections::BTreeSet<u32> = gp.refused.iter().filter_map(|(o, _, _)| *o).collect();
        if gp.listener_set.is_none() {
            return out;
        }
        let ordinal_of =
            |name: &str| name.strip_prefix(&format!("{}-", self.d.name)).and_then(|o| o.parse::<u32>().ok());
        let Some(ls) = self.o.owned.get(&Kind::ListenerSet).into_iter().flatten().next() else {
            // Not made yet: a controller that judges ListenerSets has not judged it.
            if aware {
                out.extend(self.d.ordinals());
            }
            return out;
        };
        let verdict = gateway::listener_set_verdict(ls, aware);
        if let Some(why) = verdict.refused {
            let note = format!(
                "Gateway {} does not accept ListenerSet {}: {why}; no broker is given its address until it does \
                 (its owner allows this namespace in spec.allowedListeners)",
                gp.gateway(),
                ls.name_any()
            );
            self.objects.push(Note::warning("ListenersNotAllowed", note, None));
            out.extend(self.d.ordinals());
        }
        for (name, why) in &verdict.listeners {
            let note = format!(
                "listener {name} of ListenerSet {} is not programmed by Gateway {}: {why}; its broker's address is \
                 withheld. Choose another port for it",
                ls.name_any(),
                gp.gateway()
            );
            self.objects.push(Note::warning("ListenerConflict", note, None));
            out.extend(ordinal_of(name));
        }
        out.extend(verdict.pending.iter().filter_map(|n| ordinal_of(n)));
        out
    }

    /// gateway-tcp without a fixed address: the Gateway's, on the Services of brokers it carries.
    fn gateway_address(&mut self, gw: &DynamicObject, gp: &GatewayPlan, withheld: &std::collections::BTreeSet<u32>) {
        let Some(a) = gateway::gateway_address(gw).filter(|_| self.d.settings.address.is_none()) else { return };
        if !crate::spec::settings::is_valid_host(&a) {
            let note = format!(
                "Gateway {} publishes the address {a:?} (status.addresses[0].value), which is not an IP address \
                 or a DNS name; brokers are not given it",
                gp.gateway()
            );
            self.objects.push(Note::warning("InvalidAddress", note, None));
            return;
        }
        for (_, svc) in self.d.services.iter_mut().filter(|(o, _)| !withheld.contains(o)) {
            svc.annotations_mut().insert(ANN_GATEWAY_ADDRESS.into(), a.clone());
        }
    }

    /// gateway-tcp's ListenerSet, when it has listeners; otherwise (another mode, every listener
    /// refused) none.
    fn listener_set(&mut self, gp: Option<&GatewayPlan>) {
        let wanted: Vec<(Option<u32>, DynamicObject)> = gp
            .and_then(|p| p.listener_set.clone().filter(|_| !p.listeners.is_empty()))
            .map(|ls| (None, ls))
            .into_iter()
            .collect();
        if self.o.owned.contains_key(&Kind::ListenerSet) || !wanted.is_empty() {
            self.sync(Kind::ListenerSet, &wanted, false);
        }
    }

    /// Every wanted Service not already in place; a name held by someone else is a conflict.
    fn services(&mut self) {
        let mut wanted: Vec<Service> =
            self.d.services.iter().map(|(_, s)| s.clone()).chain(self.d.bootstrap.clone()).collect();
        self.keep_sharing_key(&mut wanted);
        for svc in &wanted {
            let name = svc.name_any();
            let current = self.o.services.iter().find(|s| s.name_any() == name);
            if current.is_none() {
                if let Some(note) = self.o.foreign.get(&name).and_then(|other| self.conflict(other)) {
                    self.objects.push(note);
                    continue;
                }
            }
            self.plan.status.managed += 1;
            let body = intent(svc);
            if in_place(current.map(|c| serde_json::to_value(&**c).unwrap_or_default()).as_ref(), &body) {
                continue;
            }
            let related = Some(service_ref(self.ns(), &name));
            let done = current
                .is_none()
                .then(|| Note::normal("ServiceCreated", "Create", format!("created Service {name}"), related));
            let ns = self.ns().to_owned();
            // A name someone else holds was read in observe (`foreign`) and is a conflict above.
            self.plan.apply.push(Apply {
                kind: Kind::Service,
                namespace: ns,
                name,
                body,
                manager: None,
                done,
                fresh: false,
            });
        }
        self.scale_down(&wanted);
    }

    /// Services that already share an IP under a MetalLB key (one of an earlier release) keep it: a
    /// key changed on one Service at a time would split them from the IP. Only a StatefulSet whose
    /// Services hold none gets the key derived from its UID. A key the user set is left as set.
    fn keep_sharing_key(&self, wanted: &mut [Service]) {
        let default = desired::sharing_key(&self.d.namespace, &self.d.name, self.o.sts.metadata.uid.as_deref());
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
    fn conflict(&self, other: &Service) -> Option<Note> {
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
    fn pod_exists(&self, ordinal: u32) -> bool {
        let pod = format!("{}-{ordinal}", self.d.name);
        self.o.pods.iter().any(|p| p.metadata.name.as_deref() == Some(pod.as_str()))
    }

    /// Scale down: remove Services outside the range (unless retained) and a bootstrap no longer wanted.
    fn scale_down(&mut self, wanted: &[Service]) {
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
                self.plan.status.managed += 1;
                continue;
            }
            // The StatefulSet controller removes brokers one at a time, each with its grace period
            // (Kafka's controlled shutdown): keep the broker's address until its pod is gone.
            if scaled_away && parsed.is_some_and(|o| self.pod_exists(o)) {
                self.plan.status.managed += 1;
                self.draining = true;
                continue;
            }
            let note = format!("deleted Service {name} (ordinal {ordinal} is outside the StatefulSet's range)");
            let done = Note::normal("ServiceDeleted", "Delete", note, Some(service_ref(self.ns(), &name)));
            self.plan.delete.push(delete(Kind::Service, &self.d.namespace, &name, Some(done)));
        }
    }

    /// Routes to the brokers' Services; routes of a kind the mode no longer uses go.
    fn routes(&mut self, gp: Option<&GatewayPlan>) {
        let kind = gp.and_then(|_| gateway::route_kind(self.d.settings.mode));
        if let (Some(gp), Some(kind)) = (gp, kind) {
            self.sync(kind, &gp.routes, false);
            let routes = self.o.owned.get(&kind).into_iter().flatten();
            let problems: Vec<String> = routes
                .filter(|r| gp.routes.iter().any(|(_, w)| w.metadata.name == r.metadata.name))
                .flat_map(|r| gateway::route_problems(r))
                .collect();
            self.objects.extend(problems.into_iter().map(|m| Note::warning("RouteNotAccepted", m, None)));
        }
        for other in Kind::ROUTES.into_iter().filter(|k| Some(*k) != kind) {
            self.sync(other, &[], false);
        }
    }

    /// Keep exactly `wanted` of one kind: apply what is not in place, delete the others — a
    /// scaled-away broker's only once its pod is gone. `keep_in_range`: an unwanted object of a
    /// broker in range is kept (a Certificate whose address is briefly unknown).
    fn sync(&mut self, kind: Kind, wanted: &[(Option<u32>, DynamicObject)], keep_in_range: bool) {
        let current = self.o.owned.get(&kind).cloned().unwrap_or_default();
        for (_, obj) in wanted {
            let body = intent(obj);
            let cached = current.iter().find(|c| c.metadata.name == obj.metadata.name);
            if in_place(cached.map(|c| serde_json::to_value(&**c).unwrap_or_default()).as_ref(), &body) {
                continue;
            }
            let (ns, name) = (self.d.namespace.clone(), obj.name_any());
            let fresh = cached.is_none();
            self.plan.apply.push(Apply { kind, namespace: ns, name, body, manager: None, done: None, fresh });
        }
        for obj in current.iter().filter(|c| !wanted.iter().any(|(_, w)| w.metadata.name == c.metadata.name)) {
            if let Some(o) = obj.labels().get(ORDINAL_LABEL).and_then(|o| o.parse::<u32>().ok()) {
                let in_range = self.d.ordinals().contains(&o);
                if in_range && keep_in_range {
                    continue;
                }
                if !in_range && self.pod_exists(o) {
                    self.draining = true;
                    continue;
                }
            }
            self.plan.delete.push(delete(kind, &self.d.namespace, &obj.name_any(), None));
        }
    }

    /// The brokers' learned addresses (Events for new ones) and every known external host.
    fn addresses(&mut self) -> BTreeMap<u32, String> {
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
                    self.objects.push(Note::warning("InvalidAddress", note, None));
                }
                None => {}
            }
        }
        for (o, a) in addrs.iter().filter(|(o, a)| self.o.seen.get(o) != Some(a)) {
            let svc = d.services.iter().find(|(x, _)| x == o).map(|(_, s)| s.name_any()).unwrap_or_default();
            let note = format!("broker {o} is reachable at {a} (Service {svc})");
            let related = Some(service_ref(&d.namespace, &svc));
            self.plan.events.push(Note::normal("AddressAssigned", "Reconcile", note, related));
        }
        self.plan.status.waiting = if needs_address { d.services.len() as i64 - addrs.len() as i64 } else { 0 };
        let hosts = discovery::external_hosts(d, &addrs, &pod_addresses(&self.o.pods, d));
        self.plan.status.addresses = addrs;
        hosts
    }

    /// Broker certificates name the external host, so they follow it.
    fn certificates(&mut self, hosts: &BTreeMap<u32, String>) {
        let certs: Vec<(Option<u32>, DynamicObject)> = if self.d.settings.tls_issuer.is_some() {
            super::certificates::certificates(&self.d, &self.o.sts, hosts)
                .into_iter()
                .map(|(o, c)| (Some(o), c))
                .collect()
        } else {
            Vec::new()
        };
        self.sync(Kind::Certificate, &certs, self.d.settings.tls_issuer.is_some());
    }

    /// Client discovery: a ConfigMap clients mount or read.
    fn discovery(&mut self, endpoints: &BTreeMap<u32, String>) {
        let cm = discovery::discovery_configmap(&self.o.sts, endpoints);
        let body = intent(&cm);
        let cached = self.o.configmap.as_ref().map(|c| serde_json::to_value(&**c).unwrap_or_default());
        if !in_place(cached.as_ref(), &body) {
            let (ns, name) = (self.d.namespace.clone(), discovery::discovery_name(&self.d.name));
            let fresh = self.o.configmap.is_none();
            self.plan.apply.push(Apply {
                kind: Kind::ConfigMap,
                namespace: ns,
                name,
                body,
                manager: None,
                done: None,
                fresh,
            });
        }
    }

    /// The StatefulSet shows the result: every broker's external host:port once all are known; and
    /// when they became known, a hash that nudges the StatefulSet controller to retry denied pods.
    /// Only its own metadata: the pod template is not changed, so no rollout.
    fn annotations(&mut self, bootstrap: Option<String>, gp: Option<&GatewayPlan>) {
        let addrs = &self.plan.status.addresses;
        // Every newly learned address changes the hash: brokers whose address is known are retried
        // at once, not after the StatefulSet controller's back-off while another load balancer is slow.
        let ready_hash = (self.d.settings.learns_address() && !addrs.is_empty()).then(|| addresses_hash(addrs));
        let current = |k: &str| self.o.sts.annotations().get(k).cloned();
        let wanted: BTreeMap<&str, Option<String>> = BTreeMap::from([
            (ANN_ADDRESSES_READY, ready_hash.clone().or_else(|| current(ANN_ADDRESSES_READY))),
            (ANN_EXTERNAL_BOOTSTRAP, bootstrap),
            (ANN_ROUTED_THROUGH, gp.map(GatewayPlan::gateway)),
            (ANN_CERTIFICATES, self.d.settings.tls_issuer.as_ref().map(|_| "true".to_owned())),
        ]);
        if wanted.iter().all(|(k, v)| current(k) == *v) {
            return;
        }
        let annotations: serde_json::Map<String, Value> =
            wanted.into_iter().filter_map(|(k, v)| Some((k.to_owned(), Value::String(v?)))).collect();
        let (ns, name) = (self.d.namespace.clone(), self.d.name.clone());
        let body = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": { "name": name, "namespace": ns, "annotations": annotations }
        });
        self.plan.apply.push(Apply::ours(Kind::StatefulSet, ns, name, body));
    }

    /// Compare what each running broker advertised with what it would be given now; with
    /// roll-on-change, evict one drifted broker at a time, only while every broker is Ready.
    fn drift(&mut self, book: &dyn AddressLookup) -> bool {
        let d = &self.d;
        let uid = self.o.sts.metadata.uid.as_deref();
        let mut pods: Vec<&Pod> = (self.o.pods.iter().map(|p| &**p))
            .filter(|p| {
                p.owner_references().iter().any(|o| {
                    o.kind == "StatefulSet" && o.name == d.name && (uid.is_none() || Some(o.uid.as_str()) == uid)
                })
            })
            .collect();
        pods.sort_by_key(|p| p.name_any());
        let drifted: Vec<(&Pod, String)> =
            pods.iter().filter_map(|p| drifted(p, d, self.defaults, book).map(|now| (*p, now))).collect();
        self.plan.status.drifted = drifted.len() as i64;
        for (pod, now) in &drifted {
            let was = pod.annotations().get(ANN_ADVERTISED).cloned().unwrap_or_default();
            let note = format!("pod {} advertises {was} but its address is now {now}", pod.name_any());
            let pod_ref = pod.object_ref(&());
            let on_pod = Note { regarding: Some(pod_ref.clone()), ..Note::warning("AddressDrift", note.clone(), None) };
            self.plan.events.extend([on_pod, Note::warning("AddressDrift", note, Some(pod_ref))]);
        }
        let all_ready = pods.len() as u32 >= d.replicas && pods.iter().all(|p| pod_ready(p));
        if let (Some((pod, now)), true, true, false) =
            (drifted.first(), d.service.roll_on_change, all_ready, self.o.recently_evicted)
        {
            let note = format!("evicted {} so it restarts advertising {now}", pod.name_any());
            let done = Note::normal("EvictedForNewAddress", "Evict", note, Some(pod.object_ref(&())));
            self.plan.evict = Some(Evict { namespace: d.namespace.clone(), pod: pod.name_any(), done });
        }
        !drifted.is_empty()
    }
}

/// What a running broker would advertise now, when it differs from what it advertises. Pending or
/// invalid is not drift (the address is gone or settings are broken; other paths report those).
fn drifted(pod: &Pod, d: &Desired, defaults: &Defaults, book: &dyn AddressLookup) -> Option<String> {
    let advertised = pod.annotations().get(ANN_ADVERTISED)?;
    let names = RequestNames { name: pod.metadata.name.as_deref().unwrap_or(""), namespace: &d.namespace };
    let now = mutate::mutate(pod, names, defaults, book).ok()??;
    (!mutate::same_advertised(&now.advertised, advertised)).then_some(now.advertised)
}

fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Each broker pod's (node IP, pod IP).
fn pod_addresses(pods: &[std::sync::Arc<Pod>], d: &Desired) -> BTreeMap<u32, (Option<String>, Option<String>)> {
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

#[cfg(test)]
#[path = "plan_tests.rs"]
pub(super) mod tests;
