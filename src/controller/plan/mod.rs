//! Plan: the one place that decides every object kafka-advertiser owns for a StatefulSet. Pure:
//! [`Observed`] (its intent included) + the settings + the address view → [`Plan`] (objects to apply
//! and to delete, Events, the problems to report, an eviction, what to remember). No `Context`, no
//! API. The steps: the Gateway's ([`gateway`]), the Services' and addresses' ([`services`]), the
//! running brokers' drift ([`drift`]); each hands the next what it needs.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::DynamicObject;
use kube::ResourceExt;
use serde_json::{json, Value};

use super::desired::{self, Desired};
use super::discovery;
use super::fingerprint::{in_place, stamp};
use super::gateway::{self, GatewayPlan};
use super::kinds::Kind;
use super::observe::{GatewayState, GatewayView, Observed};
use super::template_check;
use crate::mutate::ClusterLookup;
use crate::names::*;
use crate::spec::class::ClassError;
use crate::spec::settings::Defaults;
use crate::spec::{claims, IntentError};

pub mod adopt;
mod drift;
mod gateway_step;
pub mod model;
pub mod retry;
mod services;

pub use model::*;

/// Requeue while something is still on its way (an address, a draining broker, a problem).
pub const SOON: Duration = Duration::from_secs(30);
/// Requeue when converged: a safety net; every change arrives through a watch.
pub const LATER: Duration = Duration::from_secs(300);

/// Decide everything for one StatefulSet.
pub fn plan(o: &Observed, defaults: &Defaults, book: &dyn ClusterLookup) -> Plan {
    if o.sts.metadata.deletion_timestamp.is_some() {
        // Owner references let the garbage collector remove what it owned.
        return Plan::default();
    }
    // Under an access class: its settings, and nothing it does not allow (existing objects stay).
    let intent = match &o.intent {
        Ok(Some(intent)) => intent,
        Ok(None) => {
            let mut plan = opted_out(o);
            let hint = crate::spec::known::opt_in_hint(&o.sts);
            plan.problems.push((
                ProblemSet::Template,
                hint.map(|h| Note::warning("OptInIgnored", h, None)).into_iter().collect(),
            ));
            return plan;
        }
        Err(IntentError::Class(e)) => return refused_by_class(o, e),
        Err(IntentError::Settings(e)) => {
            return invalid_settings(vec![], format!("broker pods will be refused: {e}"));
        }
        Err(IntentError::Service(e)) => return invalid_settings(vec![], e.to_string()),
    };
    let (ns, name) = (&intent.namespace, &intent.name);
    if let Some(host) = claims::names(intent).into_iter().find(|h| book.hostname_taken(ns, name, h)) {
        let conflict = claims::HostnameConflict { host };
        return revoke(o, claims::HostnameConflict::REASON, conflict.to_string());
    }
    let verdict = template_check::template_problems(intent, defaults);
    // The webhook refuses these brokers whatever happens: retrying their creates is no use.
    let refused = verdict.refused;
    let mut template =
        verdict.problems.into_iter().map(|(reason, m)| Note::warning(reason, m, None)).collect::<Vec<_>>();
    let d = match desired::desired(intent) {
        Ok(d) => d,
        Err(e) => return invalid_settings(template, e.to_string()),
    };
    if let Some(over) = d.over_cap() {
        template.push(Note::warning("TooManyBrokers", over.to_string(), None));
    }
    let unclassed = intent.class.is_none() && book.classes().is_some_and(|c| !c.classes.is_empty());
    if unclassed {
        template.push(Note::warning("NoAccessClass", NO_ACCESS_CLASS.to_owned(), None));
    }
    let mut first = Piece::default();
    first.plan.problems.push((ProblemSet::Template, template));
    first.plan.status.class = intent.class.as_ref().map(|c| c.name.clone());
    first.plan.status.unclassed = unclassed;
    Planner { o, d, defaults, refused }.decide(first, book)
}

/// Open tenancy, classes written, none named and no default: nothing bounds this StatefulSet.
const NO_ACCESS_CLASS: &str = "ExternalAccessClasses exist but this StatefulSet names none and none is the default: \
     under --tenancy open its settings are not bounded by any class; name one (kafka-advertiser.io/class on the pod \
     template, kubectl get eac), or have the platform mark a default class or run with --tenancy classes";

/// Settings that cannot be worked out: the template's problems and this one, nothing written.
fn invalid_settings(mut template: Vec<Note>, message: String) -> Plan {
    if !template.iter().any(|n| n.note.contains(&message)) {
        template.push(Note::warning("InvalidSettings", message, None));
    }
    Plan { problems: vec![(ProblemSet::Template, template)], ..Plan::default() }
}

/// Settings the access class does not allow. When the class that applies bounds them (a host name,
/// an address, a port, a setting it does not hand out), what was made earlier is taken back:
/// tightening a class revokes what it no longer allows, each deletion a `ClassViolation` Event. When
/// no class can be told (named but missing, two defaults, labels not known yet, or one that does not
/// serve the namespace), what exists stays until one can.
fn refused_by_class(o: &Observed, e: &ClassError) -> Plan {
    let bounds = !matches!(
        e,
        ClassError::NotFound { .. }
            | ClassError::Required
            | ClassError::DefaultAmbiguous { .. }
            | ClassError::NamespaceUnknown { .. }
            | ClassError::NotPermitted { .. }
    );
    if bounds && in_use(o) {
        return revoke(o, "ClassViolation", format!("{e} ({})", e.reason()));
    }
    let note = if in_use(o) {
        Note::warning("ClassViolation", format!("{e} ({}); what exists stays until this is fixed", e.reason()), None)
    } else {
        Note::warning(e.reason(), e.to_string(), None)
    };
    Plan { problems: vec![(ProblemSet::Template, vec![note])], ..Plan::default() }
}

fn in_use(o: &Observed) -> bool {
    !o.services.is_empty() || o.configmap.is_some() || o.owned.values().any(|v| !v.is_empty())
}

/// What the StatefulSet may no longer have: every object made for it deleted (Services, routes,
/// listeners, Certificates), each with a `reason` Event, and the Warning on the StatefulSet. Its pods
/// are refused by the webhook for the same reason.
fn revoke(o: &Observed, reason: &'static str, why: String) -> Plan {
    let mut plan = give_up(o, false);
    plan.forget = false;
    for d in &mut plan.delete {
        let related = (d.kind == Kind::Service).then(|| service_ref(&d.namespace, &d.name));
        let note = format!("deleted {} {}: {why}", d.kind.name(), d.name);
        d.done = Some(Note::warning(reason, note, related));
    }
    plan.problems.push((ProblemSet::Template, vec![Note::warning(reason, why, None)]));
    plan
}

/// Opted out (or never in): remove what we made for it, if anything; drop our annotations. Its
/// Services are released instead while it carries `keep-services: "true"`.
fn opted_out(o: &Observed) -> Plan {
    give_up(o, o.sts.annotations().get(ANN_KEEP_SERVICES).is_some_and(|v| v.trim() == "true"))
}

/// Remove what we made for the StatefulSet; adopted Services (and with `keep`, every Service) are
/// released, never deleted: the address stays with the Service.
fn give_up(o: &Observed, keep: bool) -> Plan {
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
        if keep || svc.annotations().contains_key(ANN_ADOPT) {
            let why = if keep { format!("{ANN_KEEP_SERVICES} is set") } else { "it was adopted".to_owned() };
            plan.release.push(adopt::release(svc, &why));
            continue;
        }
        let note = format!("deleted {svc_name}: StatefulSet no longer opted in");
        let done = Note::normal("ServiceDeleted", "Delete", note, Some(service_ref(&ns, &svc_name)));
        plan.delete.push(delete(Kind::Service, &ns, &svc_name, Some(done)));
    }
    release_recorded(o, None, &mut plan);
    if !plan.release.is_empty() {
        // A release the API refused is tried again (the Service keeps its labels meanwhile).
        plan.requeue = Some(SOON);
    }
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
/// An object's apply body, fingerprinted (what [`in_place`] compares).
fn stamped<K: serde::Serialize>(obj: &K) -> Value {
    stamp(serde_json::to_value(obj).unwrap_or(Value::Null))
}

/// What the steps read: the observed objects, the desired ones, the defaults. Read-only: each step
/// returns its [`Piece`] and `decide` adds them up.
struct Planner<'a> {
    o: &'a Observed,
    d: Desired<'a>,
    defaults: &'a Defaults,
    /// The template's settings make the webhook refuse its brokers.
    refused: bool,
}

/// What one step decides: its writes and Events (a partial [`Plan`]), the problems it found with the
/// objects, whether a broker scaled away still drains.
#[derive(Debug, Default)]
struct Piece {
    plan: Plan,
    /// Problems with the objects (Gateway, routes, Services): one set, published on change.
    objects: Vec<Note>,
    /// A broker scaled away still shuts down: its objects stay until its pod is gone.
    draining: bool,
    /// Look again by then (a broker's `pending-timeout` ends).
    due: Option<Duration>,
}

impl Piece {
    /// Add another step's piece to this one.
    fn add(&mut self, other: Piece) {
        let (p, o) = (&mut self.plan, other.plan);
        p.apply.extend(o.apply);
        p.delete.extend(o.delete);
        p.release.extend(o.release);
        p.events.extend(o.events);
        p.problems.extend(o.problems);
        p.evict = p.evict.take().or(o.evict);
        p.status.managed += o.status.managed;
        p.status.waiting += o.status.waiting;
        p.status.drifted += o.status.drifted;
        p.status.internal_only += o.status.internal_only;
        p.status.stuck = p.status.stuck.take().or(o.status.stuck);
        self.objects.extend(other.objects);
        self.draining |= other.draining;
        self.due = self.due.into_iter().chain(other.due).min();
    }
}
impl Planner<'_> {
    /// The steps in their order; each hands the next what it needs and returns its piece.
    fn decide(self, mut all: Piece, book: &dyn ClusterLookup) -> Plan {
        let gplan = gateway::gateway_plan(&self.d, &self.o.sts, &self.attachment());
        // The ListenerSet first: listeners move into it before any are released from the Gateway.
        all.add(self.listener_set(gplan.as_ref()));
        // The Gateway's address and the brokers it carries (gateway-tcp without a fixed address).
        let (gateway, carried) = gplan.as_ref().map(|gp| self.gateway(gp)).unwrap_or_default();
        all.add(gateway);
        release_recorded(self.o, gplan.as_ref(), &mut all.plan);
        all.add(self.services(carried.as_ref()));
        all.add(self.routes(gplan.as_ref()));
        let (learned, addrs, hosts) = self.addresses();
        all.add(learned);
        all.add(self.certificates(&hosts));
        let endpoints = discovery::external_endpoints(&self.d, &hosts);
        all.add(self.discovery(&endpoints));
        all.add(self.annotations(&addrs, discovery::external_bootstrap(&self.d, &endpoints), gplan.as_ref()));
        let (drift, drifting) = self.drift(book);
        all.add(drift);
        let Piece { mut plan, objects, draining, due } = all;
        plan.status.addresses = addrs;
        let busy = plan.status.waiting > 0 || drifting || draining || !objects.is_empty();
        plan.problems.push((ProblemSet::Objects, objects));
        plan.requeue = Some(due.into_iter().chain([if busy { SOON } else { LATER }]).min().unwrap_or(LATER));
        plan
    }

    fn ns(&self) -> &str {
        &self.d.namespace
    }

    /// Keep exactly `wanted` of one kind: apply what is not in place, delete the others — a
    /// scaled-away broker's only once its pod is gone. `keep_in_range`: an unwanted object of a
    /// broker in range is kept (a Certificate whose address is briefly unknown).
    fn sync(&self, p: &mut Piece, kind: Kind, wanted: &[(Option<u32>, DynamicObject)], keep_in_range: bool) {
        let current = self.o.owned.get(&kind).cloned().unwrap_or_default();
        for (_, obj) in wanted {
            let body = stamped(obj);
            let cached = current.iter().find(|c| c.metadata.name == obj.metadata.name);
            if in_place(cached.map(|c| serde_json::to_value(&**c).unwrap_or_default()).as_ref(), &body) {
                continue;
            }
            let (ns, name) = (self.d.namespace.clone(), obj.name_any());
            let fresh = cached.is_none();
            p.plan.apply.push(Apply { kind, namespace: ns, name, body, manager: None, done: None, fresh });
        }
        for obj in current.iter().filter(|c| !wanted.iter().any(|(_, w)| w.metadata.name == c.metadata.name)) {
            if let Some(o) = obj.labels().get(ORDINAL_LABEL).and_then(|o| o.parse::<u32>().ok()) {
                let in_range = self.d.ordinals().contains(&o);
                if in_range && keep_in_range {
                    continue;
                }
                if !in_range && self.pod_exists(o) {
                    p.draining = true;
                    continue;
                }
            }
            p.plan.delete.push(delete(kind, &self.d.namespace, &obj.name_any(), None));
        }
    }

    /// Broker certificates name the external host, so they follow it.
    fn certificates(&self, hosts: &BTreeMap<u32, String>) -> Piece {
        let certs: Vec<(Option<u32>, DynamicObject)> = if self.d.settings.tls_issuer.is_some() {
            super::certificates::certificates(&self.d, &self.o.sts, hosts)
                .into_iter()
                .map(|(o, c)| (Some(o), c))
                .collect()
        } else {
            Vec::new()
        };
        let mut p = Piece::default();
        self.sync(&mut p, Kind::Certificate, &certs, self.d.settings.tls_issuer.is_some());
        p
    }

    /// Client discovery: a ConfigMap clients mount or read.
    fn discovery(&self, endpoints: &BTreeMap<u32, String>) -> Piece {
        let mut p = Piece::default();
        let cm = discovery::discovery_configmap(&self.o.sts, endpoints);
        let body = stamped(&cm);
        let cached = self.o.configmap.as_ref().map(|c| serde_json::to_value(&**c).unwrap_or_default());
        if !in_place(cached.as_ref(), &body) {
            let (ns, name) = (self.d.namespace.clone(), discovery::discovery_name(&self.d.name));
            let fresh = self.o.configmap.is_none();
            p.plan.apply.push(Apply {
                kind: Kind::ConfigMap,
                namespace: ns,
                name,
                body,
                manager: None,
                done: None,
                fresh,
            });
        }
        p
    }

    /// The StatefulSet shows the result: every broker's external host:port once all are known; and
    /// when they became known, a hash that nudges the StatefulSet controller to retry denied pods.
    /// Only its own metadata: the pod template is not changed, so no rollout.
    fn annotations(&self, addrs: &BTreeMap<u32, String>, bootstrap: Option<String>, gp: Option<&GatewayPlan>) -> Piece {
        let mut p = Piece::default();
        let (since, admittable, due) = self.pending(addrs);
        p.due = due;
        // Every newly learned address changes the hash: brokers whose address is known are retried
        // at once, not after the StatefulSet controller's back-off while another load balancer is slow.
        // So does a broker's pending-timeout running out (it may be admitted without its address).
        let ready_hash =
            (self.d.settings.learns_address() && !admittable.is_empty()).then(|| addresses_hash(&admittable));
        let retry = self.create_retry(&admittable);
        p.due = p.due.into_iter().chain(retry.due).min();
        p.plan.status.stuck = retry.stuck;
        let current = |k: &str| self.o.sts.annotations().get(k).cloned();
        let wanted: BTreeMap<&str, Option<String>> = BTreeMap::from([
            (ANN_PENDING_SINCE, since),
            (ANN_ADDRESSES_READY, ready_hash.clone().or_else(|| current(ANN_ADDRESSES_READY))),
            (ANN_EXTERNAL_BOOTSTRAP, bootstrap),
            (ANN_ROUTED_THROUGH, gp.map(GatewayPlan::gateway)),
            (ANN_CERTIFICATES, self.d.settings.tls_issuer.as_ref().map(|_| "true".to_owned())),
            (ANN_CREATE_RETRY, retry.write.map(|t| t.to_string()).or_else(|| current(ANN_CREATE_RETRY))),
        ]);
        if wanted.iter().all(|(k, v)| current(k) == *v) {
            return p;
        }
        let annotations: serde_json::Map<String, Value> =
            wanted.into_iter().filter_map(|(k, v)| Some((k.to_owned(), Value::String(v?)))).collect();
        let (ns, name) = (self.d.namespace.clone(), self.d.name.clone());
        let body = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": { "name": name, "namespace": ns, "annotations": annotations }
        });
        let mut apply = Apply::ours(Kind::StatefulSet, ns, name, body);
        if retry.write.is_some() && retry.stuck.is_some_and(|s| s.retries == 1) {
            let note = retry::first_retry_note(&self.d.name, &retry.missing);
            apply.done = Some(Note::normal("PodCreateRetried", "Retry", note, None));
        }
        p.plan.apply.push(apply);
        p
    }

    /// Whether to ask the StatefulSet controller to create missing brokers again ([`retry`]).
    fn create_retry(&self, admittable: &BTreeMap<u32, String>) -> retry::Retry {
        if self.refused {
            return retry::Retry::default();
        }
        let scene = retry::Scene {
            sts: &self.o.sts,
            name: &self.d.name,
            ordinals: self.d.ordinals(),
            pods: &self.o.pods,
            learns_address: self.d.settings.learns_address(),
            admittable,
            now: self.o.now,
        };
        retry::decide(retry::missing(&scene), self.o.stuck, self.o.now)
    }
}

impl Planner<'_> {
    /// With `pending-timeout`: since when each broker without an address has waited (kept from the
    /// StatefulSet's record, else from now); the brokers that may be admitted (an address, or waited
    /// long enough: `-`); and how long until the next one has.
    fn pending(&self, addrs: &BTreeMap<u32, String>) -> (Option<String>, BTreeMap<u32, String>, Option<Duration>) {
        use crate::spec::pending;
        let mut admittable = addrs.clone();
        let timeout = self.d.settings.pending_timeout.filter(|_| self.d.settings.learns_address());
        let Some(timeout) = timeout else { return (None, admittable, None) };
        let range = self.d.ordinals();
        let recorded = (self.o.sts.annotations().get(ANN_PENDING_SINCE))
            .map(|v| pending::parse_since(v, range.start, range.len() as u32))
            .unwrap_or_default();
        let now = pending::whole_seconds(self.o.now);
        let since: pending::Since =
            range.filter(|o| !addrs.contains_key(o)).map(|o| (o, recorded.get(&o).copied().unwrap_or(now))).collect();
        let mut due: Option<Duration> = None;
        for (o, s) in &since {
            if pending::expired(Some(timeout), Some(*s), self.o.now) {
                admittable.insert(*o, "-".to_owned());
            } else {
                let left = self.o.now.duration_until(pending::deadline(*s, timeout));
                let left = Duration::try_from(left).unwrap_or_default() + Duration::from_secs(1);
                due = due.into_iter().chain([left]).min();
            }
        }
        ((!since.is_empty()).then(|| pending::render_since(&since)), admittable, due)
    }
}

#[cfg(test)]
pub(in crate::controller) mod tests;
