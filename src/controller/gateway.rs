//! Gateway API and cert-manager desired state, pure: from a StatefulSet's [`Desired`] (and what the
//! controller learned) to the Gateway listeners, routes and Certificates it owns, and the problems a
//! Gateway's spec and a route's status show. The reconciler only adapts this to the API.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ApiResource, DynamicObject};
use serde_json::{json, Value};

use super::desired::{owner_reference, Desired};
use super::kinds::{Kind, CERT_MANAGER_GROUP, GATEWAY_GROUP, GATEWAY_VERSION};
use crate::mutate::tls_secret_name;
use crate::names::{ANN_MANAGE_LISTENERS, MANAGED_BY, MANAGED_BY_LABEL, ORDINAL_LABEL, ROLE_LABEL, STATEFULSET_LABEL};
use crate::spec::settings::{Mode, ANN_GATEWAY_LISTENER, ANN_PORT};

/// The route kind of a gateway mode: `TCPRoute` (gateway-tcp) or `TLSRoute` (gateway-tls).
pub fn route_kind(mode: Mode) -> Option<Kind> {
    match mode {
        Mode::GatewayTcp => Some(Kind::TcpRoute),
        Mode::GatewayTls => Some(Kind::TlsRoute),
        _ => None,
    }
}

/// The name of the listener of one broker (`None`: the bootstrap): `<statefulset>-<N>`. Where the
/// listener lives in another namespace (a Gateway's own listeners there), prefixed by the namespace
/// (it may serve several); in a ListenerSet of the StatefulSet's namespace, its own.
pub fn listener_name(listener_namespace: &str, namespace: &str, statefulset: &str, ordinal: Option<u32>) -> String {
    let own = match ordinal {
        Some(o) => format!("{statefulset}-{o}"),
        None => format!("{statefulset}-bootstrap"),
    };
    if listener_namespace == namespace {
        own
    } else {
        format!("{namespace}-{own}")
    }
}

/// The ListenerSet of a StatefulSet's gateway-tcp listeners: `<statefulset>-external`.
pub fn listener_set_name(statefulset: &str) -> String {
    format!("{statefulset}-external")
}

/// The most listeners one ListenerSet holds (its CRD's `maxItems`).
pub const MAX_LISTENERS: usize = 64;

/// Where gateway-tcp's listeners go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Attach {
    /// A ListenerSet `<statefulset>-external` in the StatefulSet's namespace, attached with the
    /// Gateway owner's consent (`spec.allowedListeners`).
    #[default]
    ListenerSet,
    /// The Gateway's own listeners: only on a Gateway annotated `manage-listeners: "true"`.
    Gateway,
}

/// What the Gateway is to this StatefulSet's listeners: where they go, and the ports other
/// listeners on it (its own, other ListenerSets') already use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attachment {
    pub attach: Attach,
    pub ports_in_use: BTreeSet<i64>,
}

/// A broker (`None`: the bootstrap) that gets no listener, and the Event that says why.
pub type Refused = (Option<u32>, &'static str, String);

/// What the controller keeps for one StatefulSet behind a Gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayPlan {
    pub namespace: String,
    pub name: String,
    pub attach: Attach,
    /// gateway-tcp: this StatefulSet's listeners (empty in gateway-tls), in its ListenerSet or on
    /// the Gateway.
    pub listeners: Vec<Value>,
    /// gateway-tcp with [`Attach::ListenerSet`]: the ListenerSet holding them.
    pub listener_set: Option<DynamicObject>,
    /// One route per broker (ordinal) and one for the bootstrap (`None`).
    pub routes: Vec<(Option<u32>, DynamicObject)>,
    /// Brokers given no listener (a port in use, over the limit): no address either.
    pub refused: Vec<Refused>,
}

impl GatewayPlan {
    /// `namespace/name` of the Gateway.
    pub fn gateway(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The server-side apply body of this StatefulSet's listeners on the Gateway itself (none:
    /// releases them all, as after a move to a ListenerSet).
    pub fn listeners_patch(&self) -> Value {
        let listeners = if self.attach == Attach::Gateway { &self.listeners[..] } else { &[] };
        listeners_patch(&self.namespace, &self.name, listeners)
    }
}

pub fn listeners_patch(namespace: &str, name: &str, listeners: &[Value]) -> Value {
    let mut body = json!({
        "apiVersion": format!("{GATEWAY_GROUP}/{GATEWAY_VERSION}"), "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace},
    });
    if !listeners.is_empty() {
        body["spec"] = json!({ "listeners": listeners });
    }
    body
}

fn labels(d: &Desired, role: &str, ordinal: Option<u32>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
        (STATEFULSET_LABEL.to_owned(), d.name.clone()),
        (ROLE_LABEL.to_owned(), role.to_owned()),
    ]);
    if let Some(o) = ordinal {
        l.insert(ORDINAL_LABEL.to_owned(), o.to_string());
    }
    l
}

fn object(
    ar: &ApiResource,
    name: String,
    d: &Desired,
    sts: &StatefulSet,
    labels: BTreeMap<String, String>,
) -> DynamicObject {
    let mut o = DynamicObject::new(&name, ar).within(&d.namespace);
    o.metadata = ObjectMeta {
        name: Some(name),
        namespace: Some(d.namespace.clone()),
        labels: Some(labels),
        owner_references: Some(vec![owner_reference(sts)]),
        ..Default::default()
    };
    o
}

fn service_port(svc: &k8s_openapi::api::core::v1::Service) -> i32 {
    svc.spec.as_ref().and_then(|s| s.ports.as_ref()).and_then(|p| p.first()).map_or(0, |p| p.port)
}

/// Which routes a listener of ours admits: `kind` from the StatefulSet's namespace only.
fn allowed_routes(kind: &str, listener_namespace: &str, namespace: &str) -> Value {
    let kinds = json!([{"group": GATEWAY_GROUP, "kind": kind}]);
    if listener_namespace == namespace {
        json!({"namespaces": {"from": "Same"}, "kinds": kinds})
    } else {
        let selector = json!({"matchLabels": {"kubernetes.io/metadata.name": namespace}});
        json!({"namespaces": {"from": "Selector", "selector": selector}, "kinds": kinds})
    }
}

/// The Gateway listeners (or ListenerSet), routes and refusals of a StatefulSet in a gateway mode
/// (`None` in other modes).
pub fn gateway_plan(d: &Desired, sts: &StatefulSet, at: &Attachment) -> Option<GatewayPlan> {
    let route = route_kind(d.settings.mode)?;
    let gw = d.settings.gateway.as_ref()?;
    let gw_ns = gw.namespace_or(&d.namespace).to_owned();
    let tcp = d.settings.mode == Mode::GatewayTcp;
    let attach = if tcp { at.attach } else { Attach::Gateway };
    let mut plan = GatewayPlan {
        namespace: gw_ns.clone(),
        name: gw.name.clone(),
        attach,
        listeners: Vec::new(),
        listener_set: None,
        routes: Vec::new(),
        refused: Vec::new(),
    };
    let in_set = attach == Attach::ListenerSet;
    // Where the listeners live: the ListenerSet in this namespace, or the Gateway's own.
    let listener_ns = if in_set { d.namespace.as_str() } else { gw_ns.as_str() };
    let allowed = allowed_routes(route.name(), listener_ns, &d.namespace);
    let broker_cap = MAX_LISTENERS - usize::from(d.bootstrap.is_some());
    let brokers = d.services.iter().map(|(o, s)| (Some(*o), s));
    for (ordinal, svc) in brokers.chain(d.bootstrap.iter().map(|b| (None, b))) {
        let section = if tcp {
            let port = match ordinal {
                Some(o) => i64::from(d.settings.external_port(o).ok()?),
                None => i64::from(d.service.bootstrap_port),
            };
            let name = listener_name(listener_ns, &d.namespace, &d.name, ordinal);
            if let Some(refusal) = refuse_listener(&plan, at, ordinal, port, in_set && ordinal.is_some(), broker_cap) {
                plan.refused.push(refusal);
                continue;
            }
            plan.listeners.push(json!({"name": name, "port": port, "protocol": "TCP", "allowedRoutes": allowed}));
            name
        } else {
            d.settings.gateway_listener.clone().unwrap_or_default()
        };
        let r = route_to(d, sts, &plan, route, ordinal, svc, section);
        plan.routes.extend(r.map(|r| (ordinal, r)));
    }
    if in_set {
        plan.listener_set = Some(listener_set(d, sts, &plan));
    }
    Some(plan)
}

/// Why a broker's (or the bootstrap's) listener is not written, if it is not: its port is in use
/// by another listener on the Gateway, or the ListenerSet is full.
fn refuse_listener(
    plan: &GatewayPlan,
    at: &Attachment,
    ordinal: Option<u32>,
    port: i64,
    capped: bool,
    cap: usize,
) -> Option<Refused> {
    let who = ordinal.map_or_else(|| "the bootstrap".to_owned(), |o| format!("broker {o}"));
    if at.ports_in_use.contains(&port) {
        let note = format!(
            "{who} gets no listener: port {port} is already used by another listener of Gateway {}; its address \
             is withheld. Choose ports no other listener uses ({}, {})",
            plan.gateway(),
            crate::spec::settings::ANN_PORT_BASE,
            crate::names::ANN_BOOTSTRAP_PORT
        );
        return Some((ordinal, "GatewayPortInUse", note));
    }
    // The bootstrap comes after every broker: while brokers are placed, every listener is a broker's.
    if capped && plan.listeners.len() >= cap {
        let note = format!(
            "{who} gets no listener: a ListenerSet holds at most {MAX_LISTENERS} listeners (the bootstrap's \
             included); its address is withheld. Run fewer brokers behind one Gateway, or use the loadbalancer mode"
        );
        return Some((ordinal, "ListenerConflict", note));
    }
    None
}

/// The route of one broker (or the bootstrap) to its Service, under the listener `section`.
fn route_to(
    d: &Desired,
    sts: &StatefulSet,
    plan: &GatewayPlan,
    route: Kind,
    ordinal: Option<u32>,
    svc: &k8s_openapi::api::core::v1::Service,
    section: String,
) -> Option<DynamicObject> {
    let svc_name = svc.metadata.name.clone().unwrap_or_default();
    let mut parent = if plan.attach == Attach::ListenerSet && route == Kind::TcpRoute {
        json!({"group": GATEWAY_GROUP, "kind": "ListenerSet", "name": listener_set_name(&d.name), "sectionName": section})
    } else {
        json!({"group": GATEWAY_GROUP, "kind": "Gateway", "name": plan.name, "sectionName": section})
    };
    if parent["kind"] == "Gateway" && plan.namespace != d.namespace {
        parent["namespace"] = json!(plan.namespace);
    }
    let mut spec = json!({
        "parentRefs": [parent],
        "rules": [{"backendRefs": [{"group": "", "kind": "Service", "name": svc_name, "port": service_port(svc)}]}],
    });
    if route == Kind::TlsRoute {
        let host = match ordinal {
            Some(o) => d
                .settings
                .hostname_template
                .as_ref()
                .map(|t| t.render(o, &format!("{}-{o}", d.name), &d.namespace, &d.name)),
            None => d.service.bootstrap_hostname.clone(),
        };
        spec["hostnames"] = json!([host?]);
    }
    let role = if ordinal.is_some() { "broker" } else { "bootstrap" };
    let mut r = object(&route.resource(), svc_name, d, sts, labels(d, role, ordinal));
    r.data = json!({ "spec": spec });
    Some(r)
}

/// The ListenerSet `<statefulset>-external`: this StatefulSet's listeners, its parent the Gateway.
fn listener_set(d: &Desired, sts: &StatefulSet, plan: &GatewayPlan) -> DynamicObject {
    let mut parent = json!({"group": GATEWAY_GROUP, "kind": "Gateway", "name": plan.name});
    if plan.namespace != d.namespace {
        parent["namespace"] = json!(plan.namespace);
    }
    let ar = Kind::ListenerSet.resource();
    let mut ls = object(&ar, listener_set_name(&d.name), d, sts, labels(d, "listeners", None));
    ls.data = json!({"spec": {"parentRef": parent, "listeners": plan.listeners}});
    ls
}

/// The names of the listeners field manager `manager` holds on a Gateway (from its managedFields:
/// `f:spec` → `f:listeners` → `k:{"name":…}`).
pub fn owned_listeners(gw: &DynamicObject, manager: &str) -> std::collections::BTreeSet<String> {
    let fields = gw.metadata.managed_fields.iter().flatten().filter(|m| m.manager.as_deref() == Some(manager));
    fields
        .filter_map(|m| m.fields_v1.as_ref())
        .filter_map(|f| f.0["f:spec"]["f:listeners"].as_object())
        .flat_map(|l| l.keys())
        .filter_map(|k| k.strip_prefix("k:"))
        .filter_map(|k| serde_json::from_str::<Value>(k).ok())
        .filter_map(|k| k["name"].as_str().map(str::to_owned))
        .collect()
}

/// Whether the Gateway already holds `listeners` as this manager's (the same set, each as wanted).
pub fn listeners_in_place(gw: &DynamicObject, manager: &str, listeners: &[Value]) -> bool {
    let owned = owned_listeners(gw, manager);
    let actual = gw.data["spec"]["listeners"].as_array().cloned().unwrap_or_default();
    owned.len() == listeners.len()
        && listeners.iter().all(|l| {
            let name = l["name"].as_str().unwrap_or_default();
            owned.contains(name) && actual.iter().any(|a| a["name"] == l["name"] && super::intent::contains(a, l))
        })
}

/// The address a Gateway's controller published: `status.addresses[0].value`.
pub fn gateway_address(gw: &DynamicObject) -> Option<String> {
    gw.data["status"]["addresses"][0]["value"].as_str().map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned)
}

/// Does a label selector (`matchLabels`, `matchExpressions`) select these labels? The one
/// evaluator access classes use too ([`crate::spec::class::selects`]); a selector that does not parse
/// selects nothing.
fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>(selector.clone())
        .is_ok_and(|s| crate::spec::class::selects(&s, labels))
}

/// Whether the Gateway's owner lets ListenerSets of `namespace` attach (`spec.allowedListeners`;
/// absent: none may). `Err`: the Warning's message, naming the field to set. `namespace_labels`:
/// the namespace's labels, for a `Selector` (`None`: unknown, so not admitted).
pub fn listeners_consent(
    gw: &DynamicObject,
    namespace: &str,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> Result<(), String> {
    let allowed = &gw.data["spec"]["allowedListeners"]["namespaces"];
    let gw_ns = gw.metadata.namespace.as_deref().unwrap_or_default();
    let ok = match allowed["from"].as_str().unwrap_or("None") {
        "All" => true,
        "Same" => gw_ns == namespace,
        "Selector" => namespace_labels.is_some_and(|l| selects(&allowed["selector"], l)),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(format!(
        "Gateway {gw_ns}/{} does not allow listeners from namespace {namespace}: its owner consents by setting \
         spec.allowedListeners.namespaces on the Gateway (from: Same, Selector or All) so that it admits this \
         namespace; until then no broker is given the Gateway's address",
        gw.metadata.name.as_deref().unwrap_or_default()
    ))
}

/// Where this StatefulSet's gateway-tcp listeners go on `gw`, and the ports others use there: the
/// Gateway's own listeners (except those `manager` holds: ours from an earlier version) and those of
/// the `attached` ListenerSets that take precedence over `ours` (GEP-1713: oldest first, then by
/// namespace/name; all of them while ours does not exist).
pub fn attachment(
    gw: &DynamicObject,
    manager: &str,
    attached: &[std::sync::Arc<DynamicObject>],
    ours: Option<&DynamicObject>,
) -> Attachment {
    let manage = gw.metadata.annotations.as_ref().and_then(|a| a.get(ANN_MANAGE_LISTENERS)).map(String::as_str);
    let attach = if manage == Some("true") { Attach::Gateway } else { Attach::ListenerSet };
    let held = owned_listeners(gw, manager);
    let own = gw.data["spec"]["listeners"].as_array().into_iter().flatten();
    let mut ports: BTreeSet<i64> = own
        .filter(|l| !l["name"].as_str().is_some_and(|n| held.contains(n)))
        .filter_map(|l| l["port"].as_i64())
        .collect();
    let rank = |o: &DynamicObject| {
        let created = o.metadata.creation_timestamp.as_ref().map(|t| t.0);
        (created, o.metadata.namespace.clone(), o.metadata.name.clone())
    };
    for other in attached.iter().filter(|o| ours.is_none_or(|us| rank(o) < rank(us))) {
        let listeners = other.data["spec"]["listeners"].as_array().into_iter().flatten();
        ports.extend(listeners.filter_map(|l| l["port"].as_i64()));
    }
    Attachment { attach, ports_in_use: ports }
}

/// Whether a ListenerSet's `spec.parentRef` is the Gateway `namespace/name`.
pub fn attached_to(ls: &DynamicObject, gateway_namespace: &str, gateway_name: &str) -> bool {
    let parent = &ls.data["spec"]["parentRef"];
    let ns = parent["namespace"].as_str().or(ls.metadata.namespace.as_deref()).unwrap_or_default();
    parent["kind"].as_str().unwrap_or("Gateway") == "Gateway"
        && parent["name"] == gateway_name
        && ns == gateway_namespace
}

/// Whether the Gateway's controller handles ListenerSets: it reports `status.attachedListenerSets`
/// (GEP-1713: it MUST). Then each listener waits for its verdict; otherwise the spec is judged alone.
pub fn handles_listener_sets(gw: &DynamicObject) -> bool {
    gw.data["status"].get("attachedListenerSets").is_some()
}

/// What the Gateway's controller says of our ListenerSet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// The whole set refused (`Accepted` False for a reason other than its listeners).
    pub refused: Option<String>,
    /// Listeners it does not program (`Conflicted` True, or `Accepted` False such as
    /// `PortUnavailable`), by name, with why.
    pub listeners: BTreeMap<String, String>,
    /// Listeners it has not judged yet (only when `aware`: a controller that handles ListenerSets).
    pub pending: BTreeSet<String>,
}

/// Read our ListenerSet's status. `aware`: the Gateway's controller handles ListenerSets, so a
/// listener counts only once that controller accepted it for the current generation.
pub fn listener_set_verdict(ls: &DynamicObject, aware: bool) -> Verdict {
    let is = |c: &Value, t: &str, s: &str| c["type"] == t && c["status"] == s;
    let why = |c: &Value| {
        format!("{} ({})", c["message"].as_str().unwrap_or_default(), c["reason"].as_str().unwrap_or_default())
    };
    let mut v = Verdict::default();
    let conditions: Vec<&Value> = ls.data["status"]["conditions"].as_array().into_iter().flatten().collect();
    v.refused =
        conditions.iter().find(|c| is(c, "Accepted", "False") && c["reason"] != "ListenersNotValid").map(|c| why(c));
    let generation = ls.metadata.generation.unwrap_or_default();
    let current =
        conditions.iter().any(|c| c["type"] == "Accepted" && c["observedGeneration"].as_i64() >= Some(generation));
    for l in ls.data["status"]["listeners"].as_array().into_iter().flatten() {
        let conds = l["conditions"].as_array().into_iter().flatten();
        let bad = conds.filter(|c| is(c, "Conflicted", "True") || is(c, "Accepted", "False")).map(why).next();
        if let (Some(name), Some(bad)) = (l["name"].as_str(), bad) {
            v.listeners.insert(name.to_owned(), bad);
        }
    }
    if aware {
        let judged: BTreeSet<&str> = (ls.data["status"]["listeners"].as_array().into_iter().flatten())
            .filter(|l| {
                current && l["conditions"].as_array().is_some_and(|c| c.iter().any(|c| is(c, "Accepted", "True")))
            })
            .filter_map(|l| l["name"].as_str())
            .collect();
        let wanted = ls.data["spec"]["listeners"].as_array().into_iter().flatten().filter_map(|l| l["name"].as_str());
        v.pending =
            wanted.filter(|n| !judged.contains(n) && !v.listeners.contains_key(*n)).map(str::to_owned).collect();
    }
    v
}

/// Why a listener would not take routes of `kind` from `namespace`, if it would not.
/// `namespace_labels`: the route namespace's labels (for a `Selector`; `None`: not checked).
fn refuses_routes(
    listener: &Value,
    kind: &str,
    gateway_namespace: &str,
    namespace: &str,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> Option<String> {
    let allowed = &listener["allowedRoutes"];
    let from = allowed["namespaces"]["from"].as_str().unwrap_or("Same");
    let ns_ok = match from {
        "All" => true,
        "Same" => gateway_namespace == namespace,
        "Selector" => namespace_labels.is_none_or(|l| selects(&allowed["namespaces"]["selector"], l)),
        _ => true,
    };
    if !ns_ok {
        return Some(format!(
            "its allowedRoutes.namespaces.from is {from}, which excludes namespace {namespace}: allow that namespace"
        ));
    }
    let kinds: Vec<&str> =
        allowed["kinds"].as_array().map(|k| k.iter().filter_map(|k| k["kind"].as_str()).collect()).unwrap_or_default();
    if !kinds.is_empty() && !kinds.contains(&kind) {
        return Some(format!("its allowedRoutes.kinds ({}) exclude {kind}: add {kind}", kinds.join(", ")));
    }
    None
}

/// What is wrong with the user's Gateway for this StatefulSet: `(reason, message)`, for Warning Events.
pub fn gateway_problems(
    gw: &DynamicObject,
    d: &Desired,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let gw_name = format!(
        "{}/{}",
        gw.metadata.namespace.as_deref().unwrap_or_default(),
        gw.metadata.name.as_deref().unwrap_or_default()
    );
    let gw_ns = gw.metadata.namespace.as_deref().unwrap_or_default();
    // A Gateway in another namespace is not the tenant's to read: its listeners' names and ports
    // stay out of Events in the StatefulSet's namespace.
    let foreign = gw_ns != d.namespace;
    let listeners = gw.data["spec"]["listeners"].as_array().cloned().unwrap_or_default();
    if d.settings.mode == Mode::GatewayTls {
        let want = d.settings.gateway_listener.as_deref().unwrap_or_default();
        let Some(l) = listeners.iter().find(|l| l["name"].as_str() == Some(want)) else {
            let names: Vec<&str> = listeners.iter().filter_map(|l| l["name"].as_str()).collect();
            let known = match (foreign, names.is_empty()) {
                (true, _) => "ask the Gateway's owner for the listener's name".to_owned(),
                (false, true) => "its listeners: none".to_owned(),
                (false, false) => format!("its listeners: {}", names.join(", ")),
            };
            out.push((
                "GatewayListenerNotFound",
                format!("Gateway {gw_name} has no listener {want:?} ({ANN_GATEWAY_LISTENER}); {known}"),
            ));
            return out;
        };
        let protocol = l["protocol"].as_str().unwrap_or_default();
        let mode = l["tls"]["mode"].as_str().unwrap_or("Terminate");
        if protocol != "TLS" || mode != "Passthrough" {
            out.push((
                "GatewayListenerNotPassthrough",
                format!(
                    "listener {want} of Gateway {gw_name} is protocol {protocol} (tls mode {mode}): gateway-tls needs \
                     protocol TLS with tls.mode Passthrough, so that the brokers' own certificates reach the clients"
                ),
            ));
        }
        if let Some(port) = l["port"].as_u64().filter(|p| *p != u64::from(d.settings.port)) {
            let fix = if foreign {
                "ask the Gateway's owner for its port".to_owned()
            } else {
                format!("listens on port {port}: set {ANN_PORT}: \"{port}\"")
            };
            out.push((
                "GatewayListenerPortMismatch",
                format!(
                    "listener {want} of Gateway {gw_name} does not listen on the port the brokers advertise ({}, \
                     {ANN_PORT}); {fix}",
                    d.settings.port
                ),
            ));
        }
        if let Some(why) = refuses_routes(l, "TLSRoute", gw_ns, &d.namespace, namespace_labels) {
            out.push((
                "GatewayRoutesNotAllowed",
                format!("listener {want} of Gateway {gw_name} does not accept this StatefulSet's TLSRoutes: {why}"),
            ));
        }
    }
    out
}

/// Why a route's parents do not accept it (`status.parents[].conditions` Accepted=False).
pub fn route_problems(route: &DynamicObject) -> Vec<String> {
    let name = route.metadata.name.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    for p in route.data["status"]["parents"].as_array().into_iter().flatten() {
        let parent = p["parentRef"]["name"].as_str().unwrap_or_default();
        for c in p["conditions"].as_array().into_iter().flatten() {
            if c["type"] == "Accepted" && c["status"] == "False" {
                out.push(format!(
                    "Gateway {parent} does not accept route {name}: {} ({})",
                    c["message"].as_str().unwrap_or_default(),
                    c["reason"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    out
}

/// One cert-manager Certificate per broker (`<pod>-tls`), when `tls-issuer` is set: SANs are the
/// broker's internal names and its external host (`hosts`: a name or an IP). In the modes that learn
/// the address, a broker's Certificate waits for it, so the first one issued already names it.
pub fn certificates(d: &Desired, sts: &StatefulSet, hosts: &BTreeMap<u32, String>) -> Vec<(u32, DynamicObject)> {
    let Some(issuer) = d.settings.tls_issuer.as_ref() else {
        return Vec::new();
    };
    let (learns, external) = (d.settings.learns_address(), d.settings.mode.external_name());
    let headless = sts.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty());
    let ar = Kind::Certificate.resource();
    let mut out = Vec::new();
    for ordinal in d.ordinals() {
        let host = hosts.get(&ordinal).filter(|_| external);
        if learns && host.is_none() {
            continue;
        }
        let pod = format!("{}-{ordinal}", d.name);
        let mut dns = Vec::new();
        if let Some(h) = &headless {
            let fqdn = format!("{pod}.{h}.{}.svc.{}", d.namespace, d.settings.cluster_domain);
            dns.extend([
                fqdn,
                format!("{pod}.{h}.{}.svc", d.namespace),
                format!("{pod}.{h}.{}", d.namespace),
                format!("{pod}.{h}"),
            ]);
        }
        dns.push(pod.clone());
        let mut ips = Vec::new();
        if let Some(h) = host {
            let bare = h.trim_start_matches('[').trim_end_matches(']');
            if bare.parse::<std::net::IpAddr>().is_ok() {
                ips.push(bare.to_owned());
            } else if !dns.iter().any(|n| n == bare) {
                dns.push(bare.to_owned());
            }
        }
        let name = tls_secret_name(&pod);
        let mut spec = json!({
            "secretName": name,
            "issuerRef": {"group": CERT_MANAGER_GROUP, "kind": issuer.kind, "name": issuer.name},
            "dnsNames": dns,
            // Kafka reads PEM key stores (ssl.keystore.type=PEM) with PKCS#8 keys only.
            "privateKey": {"algorithm": "RSA", "size": 2048, "encoding": "PKCS8", "rotationPolicy": "Always"},
            "usages": ["server auth", "client auth", "digital signature", "key encipherment"],
            "secretTemplate": {"labels": {MANAGED_BY_LABEL: MANAGED_BY, STATEFULSET_LABEL: d.name}},
        });
        if !ips.is_empty() {
            spec["ipAddresses"] = json!(ips);
        }
        let mut cert = object(&ar, name, d, sts, labels(d, "certificate", Some(ordinal)));
        cert.data = json!({ "spec": spec });
        out.push((ordinal, cert));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::ANN_BOOTSTRAP_HOSTNAME;
    use crate::spec::settings::Defaults;
    use crate::testing::desired;
    use kube::ResourceExt;

    fn sts(replicas: i32, start: Option<i32>, namespace: &str, annotations: Value) -> StatefulSet {
        let mut v = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "events", "namespace": namespace, "uid": "uid-1"},
            "spec": {
                "replicas": replicas, "serviceName": "events-hs",
                "selector": {"matchLabels": {"app": "events"}},
                "template": {
                    "metadata": {"labels": {"app": "events", "kafka-advertiser.io/enabled": "true"}, "annotations": annotations},
                    "spec": {"containers": [{"name": "kafka", "image": "apache/kafka", "ports": [{"name": "external", "containerPort": 19094}]}]}
                }
            }
        });
        if let Some(s) = start {
            v["spec"]["ordinals"] = json!({"start": s});
        }
        serde_json::from_value(v).unwrap()
    }

    /// The default: listeners in a ListenerSet.
    fn plan(s: &StatefulSet) -> GatewayPlan {
        gateway_plan(&desired(s, &Defaults::default()).unwrap(), s, &Attachment::default()).unwrap()
    }

    /// On a Gateway whose owner annotated it `manage-listeners`.
    fn on_gateway(s: &StatefulSet) -> GatewayPlan {
        let at = Attachment { attach: Attach::Gateway, ..Default::default() };
        gateway_plan(&desired(s, &Defaults::default()).unwrap(), s, &at).unwrap()
    }

    fn tcp(replicas: i32, start: Option<i32>, gateway: &str) -> StatefulSet {
        sts(
            replicas,
            start,
            "prod",
            json!({"kafka-advertiser.io/mode": "gateway-tcp", "kafka-advertiser.io/gateway": gateway}),
        )
    }

    #[test]
    fn gateway_tcp_a_listener_a_route_and_a_service_per_ordinal_from_start() {
        let s = tcp(3, Some(5), "shared");
        let d = desired(&s, &Defaults::default()).unwrap();
        let p = gateway_plan(&d, &s, &Attachment::default()).unwrap();
        assert_eq!((p.namespace.as_str(), p.name.as_str()), ("prod", "shared"));
        let ls: Vec<(&str, u64)> =
            p.listeners.iter().map(|l| (l["name"].as_str().unwrap(), l["port"].as_u64().unwrap())).collect();
        assert_eq!(ls, [("events-5", 9097), ("events-6", 9098), ("events-7", 9099)]);
        for l in &p.listeners {
            assert_eq!(l["protocol"], "TCP");
            assert_eq!(l["allowedRoutes"]["namespaces"]["from"], "Same");
            assert_eq!(l["allowedRoutes"]["kinds"], json!([{"group": GATEWAY_GROUP, "kind": "TCPRoute"}]));
        }
        let routes: Vec<(Option<u32>, String)> = p.routes.iter().map(|(o, r)| (*o, r.name_any())).collect();
        assert_eq!(
            routes,
            [
                (Some(5), "events-5-external".into()),
                (Some(6), "events-6-external".into()),
                (Some(7), "events-7-external".into())
            ]
        );
        let (_, r) = &p.routes[1];
        assert_eq!(r.types.as_ref().unwrap().kind, "TCPRoute");
        assert_eq!(
            r.data["spec"]["parentRefs"],
            json!([{"group": GATEWAY_GROUP, "kind": "ListenerSet", "name": "events-external", "sectionName": "events-6"}])
        );
        // The listeners live in the StatefulSet's own ListenerSet, owned by it, parented to the Gateway.
        let set = p.listener_set.as_ref().unwrap();
        assert_eq!((set.name_any(), set.namespace().unwrap()), ("events-external".to_owned(), "prod".to_owned()));
        assert_eq!(set.types.as_ref().unwrap().kind, "ListenerSet");
        assert_eq!(set.data["spec"]["parentRef"], json!({"group": GATEWAY_GROUP, "kind": "Gateway", "name": "shared"}));
        assert_eq!(set.data["spec"]["listeners"], json!(p.listeners));
        assert_eq!(set.metadata.owner_references.as_ref().unwrap()[0].uid, "uid-1");
        assert!(p.listeners_patch().get("spec").is_none(), "nothing is written into the Gateway");
        assert_eq!(
            r.data["spec"]["rules"][0]["backendRefs"],
            json!([{"group": "", "kind": "Service", "name": "events-6-external", "port": 9098}])
        );
        assert_eq!(r.metadata.owner_references.as_ref().unwrap()[0].uid, "uid-1");
        assert_eq!(r.labels()[ORDINAL_LABEL], "6");
        // The Services behind the routes are ClusterIP, one per broker, on the broker's external port.
        let svc = &d.services[1].1;
        let sp = svc.spec.as_ref().unwrap();
        assert_eq!((sp.type_.as_deref(), sp.ports.as_ref().unwrap()[0].port), (Some("ClusterIP"), 9098));
        assert_eq!(sp.external_traffic_policy, None);
    }

    #[test]
    fn scale_changes_the_listener_set_which_releases_the_others() {
        let three = on_gateway(&tcp(3, None, "shared"));
        let one = on_gateway(&tcp(1, None, "shared"));
        assert_eq!(three.listeners.len(), 3);
        assert_eq!(one.listeners.len(), 1);
        assert_eq!(one.listeners_patch()["spec"]["listeners"], json!([three.listeners[0].clone()]));
        // No listeners: an apply with no spec, which drops every listener of the field manager.
        let none = listeners_patch("prod", "shared", &[]);
        assert!(none.get("spec").is_none(), "{none}");
        assert_eq!(plan(&tcp(0, None, "shared")).routes.len(), 0);
    }

    #[test]
    fn a_listener_set_for_a_gateway_in_another_namespace_stays_in_this_one() {
        let p = plan(&tcp(2, None, "infra/shared"));
        assert_eq!(p.listeners[1]["name"], "events-1", "a ListenerSet's names are its own");
        assert_eq!(p.listeners[1]["allowedRoutes"]["namespaces"], json!({"from": "Same"}));
        let set = p.listener_set.as_ref().unwrap();
        assert_eq!(set.namespace().as_deref(), Some("prod"));
        assert_eq!(set.data["spec"]["parentRef"]["namespace"], "infra");
        let parent = &p.routes[1].1.data["spec"]["parentRefs"][0];
        assert_eq!((parent["kind"].as_str(), parent.get("namespace")), (Some("ListenerSet"), None));
    }

    #[test]
    fn a_port_in_use_or_past_the_limit_gets_no_listener_and_says_so() {
        let s = sts(
            3,
            None,
            "prod",
            json!({"kafka-advertiser.io/mode": "gateway-tcp", "kafka-advertiser.io/gateway": "infra/shared",
                   "kafka-advertiser.io/bootstrap": "true"}),
        );
        let d = desired(&s, &Defaults::default()).unwrap();
        let at = Attachment { attach: Attach::ListenerSet, ports_in_use: BTreeSet::from([9093, 9091]) };
        let p = gateway_plan(&d, &s, &at).unwrap();
        let names: Vec<&str> = p.listeners.iter().filter_map(|l| l["name"].as_str()).collect();
        assert_eq!(names, ["events-0", "events-2"]);
        let refused: Vec<(Option<u32>, &str)> = p.refused.iter().map(|(o, r, _)| (*o, *r)).collect();
        assert_eq!(refused, [(Some(1), "GatewayPortInUse"), (None, "GatewayPortInUse")]);
        assert!(p.refused[0].2.contains("port 9093") && p.refused[0].2.contains("infra/shared"), "{}", p.refused[0].2);
        assert!(
            !p.routes.iter().any(|(o, _)| *o == Some(1) || o.is_none()),
            "no route to a listener that is not there"
        );
        // 64 listeners at most, the bootstrap's included: brokers beyond get none.
        let s = sts(
            70,
            None,
            "prod",
            json!({"kafka-advertiser.io/mode": "gateway-tcp", "kafka-advertiser.io/gateway": "g",
                   "kafka-advertiser.io/bootstrap": "true", "kafka-advertiser.io/port-base": "20000"}),
        );
        let p = plan(&s);
        assert_eq!(p.listeners.len(), MAX_LISTENERS);
        assert_eq!(p.listeners.last().unwrap()["name"], "events-bootstrap");
        let over: Vec<Option<u32>> = p.refused.iter().map(|(o, _, _)| *o).collect();
        assert_eq!(over, (63..70).map(Some).collect::<Vec<_>>());
        assert!(p.refused.iter().all(|(_, r, m)| *r == "ListenerConflict" && m.contains("at most 64")));
    }

    fn gateway_with(meta: Value, spec: Value) -> DynamicObject {
        let mut m = json!({"name": "public", "namespace": "infra"});
        m.as_object_mut().unwrap().extend(meta.as_object().unwrap().clone());
        serde_json::from_value(
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": m, "spec": spec}),
        )
        .unwrap()
    }

    #[test]
    fn the_gateway_owner_consents_through_allowed_listeners() {
        let labels = BTreeMap::from([("tier".to_owned(), "kafka".to_owned())]);
        let other = BTreeMap::from([("tier".to_owned(), "web".to_owned())]);
        let cases = [
            (json!({}), "infra", Some(&labels), false),
            (json!({"namespaces": {"from": "None"}}), "infra", Some(&labels), false),
            (json!({"namespaces": {"from": "Same"}}), "infra", None, true),
            (json!({"namespaces": {"from": "Same"}}), "team-a", Some(&labels), false),
            (json!({"namespaces": {"from": "All"}}), "team-a", None, true),
            (
                json!({"namespaces": {"from": "Selector", "selector": {"matchLabels": {"tier": "kafka"}}}}),
                "team-a",
                Some(&labels),
                true,
            ),
            (
                json!({"namespaces": {"from": "Selector", "selector": {"matchLabels": {"tier": "kafka"}}}}),
                "team-a",
                Some(&other),
                false,
            ),
            (
                json!({"namespaces": {"from": "Selector", "selector": {"matchLabels": {"tier": "kafka"}}}}),
                "team-a",
                None,
                false,
            ),
        ];
        for (allowed, ns, labels, ok) in cases {
            let gw = gateway_with(json!({}), json!({"allowedListeners": allowed, "listeners": []}));
            let got = listeners_consent(&gw, ns, labels);
            assert_eq!(got.is_ok(), ok, "{allowed} from {ns}: {got:?}");
            if let Err(m) = got {
                assert!(m.contains("infra/public") && m.contains("spec.allowedListeners"), "{m}");
            }
        }
    }

    fn listener_set_of(ns: &str, name: &str, created: &str, ports: &[i64]) -> std::sync::Arc<DynamicObject> {
        let listeners: Vec<Value> =
            ports.iter().map(|p| json!({"name": format!("l{p}"), "port": p, "protocol": "TCP"})).collect();
        std::sync::Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
                "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
                "spec": {"parentRef": {"name": "public", "namespace": "infra"}, "listeners": listeners}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn ports_in_use_are_the_gateways_and_older_listener_sets_never_our_own() {
        let fields = json!({"f:spec": {"f:listeners": {"k:{\"name\":\"old-0\"}": {}}}});
        let gw: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "public", "namespace": "infra", "managedFields": [
                {"manager": "kafka-advertiser/prod/events", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": fields}]},
            "spec": {"listeners": [{"name": "https", "port": 443, "protocol": "HTTPS"}, {"name": "old-0", "port": 9092, "protocol": "TCP"}]}
        }))
        .unwrap();
        let older = listener_set_of("team-b", "b-external", "2026-01-01T00:00:00Z", &[9100]);
        let newer = listener_set_of("team-c", "c-external", "2026-06-01T00:00:00Z", &[9200]);
        let ours = listener_set_of("prod", "events-external", "2026-03-01T00:00:00Z", &[9092]);
        let at = attachment(&gw, "kafka-advertiser/prod/events", &[older.clone(), newer.clone()], Some(&ours));
        assert_eq!(at.attach, Attach::ListenerSet);
        assert_eq!(at.ports_in_use, BTreeSet::from([443, 9100]), "ours (held) and the newer set's are not in use");
        let at = attachment(&gw, "kafka-advertiser/prod/events", &[older, newer], None);
        assert_eq!(at.ports_in_use, BTreeSet::from([443, 9100, 9200]), "before ours exists, every other set is older");
        let managed = gateway_with(json!({"annotations": {ANN_MANAGE_LISTENERS: "true"}}), json!({"listeners": []}));
        assert_eq!(attachment(&managed, "m", &[], None).attach, Attach::Gateway);
        let other = gateway_with(json!({"annotations": {ANN_MANAGE_LISTENERS: "yes"}}), json!({"listeners": []}));
        assert_eq!(attachment(&other, "m", &[], None).attach, Attach::ListenerSet);
        assert!(attached_to(&listener_set_of("x", "y", "2026-01-01T00:00:00Z", &[]), "infra", "public"));
        assert!(!attached_to(&listener_set_of("x", "y", "2026-01-01T00:00:00Z", &[]), "x", "public"));
    }

    #[test]
    fn a_listener_set_status_refuses_the_set_or_single_listeners() {
        let ls = |status: Value| -> DynamicObject {
            serde_json::from_value(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
                "metadata": {"name": "events-external", "namespace": "prod"}, "spec": {}, "status": status}))
            .unwrap()
        };
        let pending = ls(json!({"conditions": [{"type": "Accepted", "status": "Unknown", "reason": "Pending"}]}));
        assert_eq!(listener_set_verdict(&pending, false), Verdict::default());
        let refused = ls(
            json!({"conditions": [{"type": "Accepted", "status": "False", "reason": "NotAllowed", "message": "no"}]}),
        );
        assert_eq!(listener_set_verdict(&refused, false).refused.as_deref(), Some("no (NotAllowed)"));
        let conflicted = ls(json!({
            "conditions": [{"type": "Accepted", "status": "False", "reason": "ListenersNotValid"}],
            "listeners": [
                {"name": "events-0", "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}]},
                {"name": "events-1", "conditions": [{"type": "Accepted", "status": "False", "reason": "PortUnavailable", "message": "taken"},
                                                    {"type": "Conflicted", "status": "True", "reason": "ProtocolConflict"}]}]
        }));
        let v = listener_set_verdict(&conflicted, false);
        assert_eq!(v.refused, None, "only its listeners are not valid");
        assert_eq!(v.listeners.keys().collect::<Vec<_>>(), ["events-1"]);
    }

    #[test]
    fn with_a_controller_that_handles_listener_sets_each_listener_waits_for_its_verdict() {
        let ls = |generation: i64, observed: i64, accepted: &[&str]| -> DynamicObject {
            let statuses: Vec<Value> = accepted
                .iter()
                .map(|n| json!({"name": n, "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}]}))
                .collect();
            serde_json::from_value(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
                "metadata": {"name": "events-external", "namespace": "prod", "generation": generation},
                "spec": {"listeners": [{"name": "events-0"}, {"name": "events-1"}]},
                "status": {"conditions": [{"type": "Accepted", "status": "True", "observedGeneration": observed}], "listeners": statuses}}))
            .unwrap()
        };
        let pending = |l: &DynamicObject, aware| listener_set_verdict(l, aware).pending.into_iter().collect::<Vec<_>>();
        assert_eq!(pending(&ls(2, 2, &["events-0"]), true), ["events-1"]);
        assert_eq!(
            pending(&ls(2, 1, &["events-0", "events-1"]), true),
            ["events-0", "events-1"],
            "a verdict on an older generation"
        );
        assert!(pending(&ls(2, 2, &["events-0", "events-1"]), true).is_empty());
        assert!(pending(&ls(2, 1, &[]), false).is_empty(), "no such controller: the spec is judged alone");
        let gw = |status: Value| -> DynamicObject {
            serde_json::from_value(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                "metadata": {"name": "g"}, "spec": {}, "status": status}))
            .unwrap()
        };
        assert!(handles_listener_sets(&gw(json!({"attachedListenerSets": 0}))));
        assert!(!handles_listener_sets(&gw(json!({"addresses": []}))));
    }

    #[test]
    fn a_gateway_in_another_namespace_admits_this_namespace_only() {
        let p = on_gateway(&tcp(1, None, "infra/shared"));
        assert_eq!(p.namespace, "infra");
        assert_eq!(p.listeners[0]["name"], "prod-events-0");
        assert_eq!(
            p.listeners[0]["allowedRoutes"]["namespaces"],
            json!({"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": "prod"}}})
        );
        assert_eq!(p.routes[0].1.data["spec"]["parentRefs"][0]["namespace"], "infra");
    }

    #[test]
    fn gateway_tcp_bootstrap_listener_sits_after_the_brokers() {
        let s = sts(
            2,
            None,
            "prod",
            json!({"kafka-advertiser.io/mode": "gateway-tcp", "kafka-advertiser.io/gateway": "g", "kafka-advertiser.io/bootstrap": "true"}),
        );
        let p = plan(&s);
        let last = p.listeners.last().unwrap();
        assert_eq!((last["name"].as_str(), last["port"].as_u64()), (Some("events-bootstrap"), Some(9091)));
        let (o, r) = p.routes.last().unwrap();
        assert_eq!((*o, r.name_any().as_str()), (None, "events-bootstrap"));
        assert_eq!(r.labels()[ROLE_LABEL], "bootstrap");
    }

    fn tls_sts(replicas: i32, extra: Value) -> StatefulSet {
        let mut a = json!({
            "kafka-advertiser.io/mode": "gateway-tls", "kafka-advertiser.io/gateway": "edge",
            "kafka-advertiser.io/gateway-listener": "kafka", "kafka-advertiser.io/hostname-template": "b{ordinal}.example.com",
        });
        a.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        sts(replicas, None, "prod", a)
    }

    #[test]
    fn gateway_tls_a_route_per_broker_by_name_and_the_bootstrap_name() {
        let p = plan(&tls_sts(2, json!({ANN_BOOTSTRAP_HOSTNAME: "kafka.example.com"})));
        assert!(p.listeners.is_empty(), "the user's listener is used, none added");
        let hosts: Vec<(Option<u32>, Value)> =
            p.routes.iter().map(|(o, r)| (*o, r.data["spec"]["hostnames"].clone())).collect();
        assert_eq!(
            hosts,
            [
                (Some(0), json!(["b0.example.com"])),
                (Some(1), json!(["b1.example.com"])),
                (None, json!(["kafka.example.com"]))
            ]
        );
        for (_, r) in &p.routes {
            assert_eq!(r.types.as_ref().unwrap().kind, "TLSRoute");
            assert_eq!(r.data["spec"]["parentRefs"][0]["sectionName"], "kafka");
        }
        assert_eq!(p.routes[2].1.data["spec"]["rules"][0]["backendRefs"][0]["name"], "events-bootstrap");
    }

    #[test]
    fn gateway_settings_that_cannot_work_are_errors_naming_the_annotation() {
        for (extra, key) in [
            (json!({"kafka-advertiser.io/gateway-listener": null}), "kafka-advertiser.io/gateway-listener"),
            (json!({"kafka-advertiser.io/gateway": "a/b/c"}), "kafka-advertiser.io/gateway"),
            (json!({ANN_BOOTSTRAP_HOSTNAME: "192.0.2.1"}), ANN_BOOTSTRAP_HOSTNAME),
            (json!({"kafka-advertiser.io/service-type": "None"}), "kafka-advertiser.io/service-type"),
            (json!({"kafka-advertiser.io/tls-issuer": "Vault/x"}), "kafka-advertiser.io/tls-issuer"),
        ] {
            let mut s = tls_sts(1, json!({}));
            let a = s.spec.as_mut().unwrap().template.metadata.as_mut().unwrap().annotations.as_mut().unwrap();
            for (k, v) in extra.as_object().unwrap() {
                match v.as_str() {
                    Some(v) => drop(a.insert(k.clone(), v.to_owned())),
                    None => drop(a.remove(k)),
                }
            }
            let e = desired(&s, &Defaults::default()).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
        let s = sts(1, None, "prod", json!({"kafka-advertiser.io/mode": "gateway-tcp"}));
        assert!(desired(&s, &Defaults::default()).unwrap_err().to_string().contains("kafka-advertiser.io/gateway"));
    }

    fn gw(listeners: Value, status: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": "infra"},
            "spec": {"gatewayClassName": "c", "listeners": listeners}, "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn gateway_address_is_the_first_status_address() {
        let g = gw(json!([]), json!({"addresses": [{"type": "IPAddress", "value": "203.0.113.9"}, {"value": "x"}]}));
        assert_eq!(gateway_address(&g).as_deref(), Some("203.0.113.9"));
        assert_eq!(gateway_address(&gw(json!([]), json!({}))), None);
    }

    fn problems(listeners: Value, ns_labels: Option<BTreeMap<String, String>>) -> Vec<&'static str> {
        let s = tls_sts(1, json!({"kafka-advertiser.io/gateway": "infra/edge"}));
        let d = desired(&s, &Defaults::default()).unwrap();
        gateway_problems(&gw(listeners, json!({})), &d, ns_labels.as_ref()).into_iter().map(|(r, _)| r).collect()
    }

    #[test]
    fn gateway_problems_name_what_to_change() {
        let good = json!({"name": "kafka", "port": 9094, "protocol": "TLS", "tls": {"mode": "Passthrough"},
            "allowedRoutes": {"namespaces": {"from": "All"}}});
        assert!(problems(json!([good.clone()]), None).is_empty());
        assert_eq!(
            problems(json!([{"name": "other", "port": 1, "protocol": "TCP"}]), None),
            ["GatewayListenerNotFound"]
        );
        let mut l = good.clone();
        l["tls"]["mode"] = json!("Terminate");
        assert_eq!(problems(json!([l]), None), ["GatewayListenerNotPassthrough"]);
        let mut l = good.clone();
        l["port"] = json!(443);
        assert_eq!(problems(json!([l]), None), ["GatewayListenerPortMismatch"]);
        // Same (the default) excludes another namespace; a selector is judged on its labels.
        let mut l = good.clone();
        l["allowedRoutes"] = json!({});
        assert_eq!(problems(json!([l]), None), ["GatewayRoutesNotAllowed"]);
        let mut l = good.clone();
        l["allowedRoutes"] = json!({"namespaces": {"from": "Selector", "selector": {"matchExpressions": [
            {"key": "team", "operator": "In", "values": ["kafka"]}]}}});
        let labels = |v: &str| Some(BTreeMap::from([("team".to_owned(), v.to_owned())]));
        assert!(problems(json!([l.clone()]), labels("kafka")).is_empty());
        assert_eq!(problems(json!([l]), labels("web")), ["GatewayRoutesNotAllowed"]);
        let mut l = good;
        l["allowedRoutes"]["kinds"] = json!([{"kind": "HTTPRoute"}]);
        assert_eq!(problems(json!([l]), None), ["GatewayRoutesNotAllowed"]);
    }

    /// A Gateway in another namespace: its listeners' names and ports stay out of the tenant's
    /// Events; in the StatefulSet's own namespace they are shown, with the fix.
    #[test]
    fn problems_with_a_foreign_gateway_name_none_of_its_listeners() {
        let listeners = json!([{"name": "https", "port": 443, "protocol": "HTTPS"},
            {"name": "kafka", "port": 8443, "protocol": "TLS", "tls": {"mode": "Passthrough"}}]);
        let notes = |gw_ns: &str, listener: &str| {
            let s = tls_sts(
                1,
                json!({"kafka-advertiser.io/gateway": format!("{gw_ns}/edge"),
                "kafka-advertiser.io/gateway-listener": listener}),
            );
            let d = desired(&s, &Defaults::default()).unwrap();
            let mut g = gw(listeners.clone(), json!({}));
            g.metadata.namespace = Some(gw_ns.to_owned());
            gateway_problems(&g, &d, None).into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("\n")
        };
        let own = tls_sts(1, json!({})).metadata.namespace.unwrap();
        let foreign = notes("infra", "missing") + &notes("infra", "kafka");
        assert!(!foreign.contains("https") && !foreign.contains("8443"), "{foreign}");
        assert!(foreign.contains("ask the Gateway's owner"), "{foreign}");
        let local = notes(&own, "missing") + &notes(&own, "kafka");
        assert!(local.contains("its listeners: https, kafka"), "{local}");
        assert!(local.contains("kafka-advertiser.io/port: \"8443\""), "{local}");
    }

    #[test]
    fn a_refused_route_is_a_problem() {
        let r: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "TLSRoute", "metadata": {"name": "events-0-external"},
            "status": {"parents": [{"parentRef": {"name": "edge"}, "conditions": [
                {"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners", "message": "nope"},
                {"type": "ResolvedRefs", "status": "False", "reason": "x", "message": "y"}]}]},
        }))
        .unwrap();
        assert_eq!(
            route_problems(&r),
            ["Gateway edge does not accept route events-0-external: nope (NotAllowedByListeners)"]
        );
    }

    fn certs(s: &StatefulSet, hosts: &[(u32, &str)]) -> Vec<(u32, DynamicObject)> {
        let d = desired(s, &Defaults::default()).unwrap();
        certificates(&d, s, &hosts.iter().map(|(o, h)| (*o, h.to_string())).collect())
    }

    #[test]
    fn certificates_name_internal_and_external_addresses_per_ordinal() {
        let s = sts(
            2,
            Some(3),
            "prod",
            json!({"kafka-advertiser.io/tls-issuer": "ClusterIssuer/ca", "kafka-advertiser.io/mode": "loadbalancer"}),
        );
        // loadbalancer: a broker's Certificate waits for its address.
        let c = certs(&s, &[(4, "198.51.100.4")]);
        assert_eq!(c.len(), 1);
        let (o, cert) = &c[0];
        assert_eq!((*o, cert.name_any().as_str()), (4, "events-4-tls"));
        let spec = &cert.data["spec"];
        assert_eq!(spec["secretName"], "events-4-tls");
        assert_eq!(spec["issuerRef"], json!({"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "ca"}));
        assert_eq!(spec["ipAddresses"], json!(["198.51.100.4"]));
        assert_eq!(
            spec["dnsNames"],
            json!([
                "events-4.events-hs.prod.svc.cluster.local",
                "events-4.events-hs.prod.svc",
                "events-4.events-hs.prod",
                "events-4.events-hs",
                "events-4"
            ])
        );
        assert_eq!(spec["privateKey"]["encoding"], "PKCS8");
        // An LB hostname is a DNS SAN.
        let c = certs(&s, &[(3, "a1.elb.example.com"), (4, "a2.elb.example.com")]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].1.data["spec"]["dnsNames"].as_array().unwrap().last().unwrap(), "a1.elb.example.com");
        assert!(c[0].1.data["spec"].get("ipAddresses").is_none());
        // Hostname modes know their names without waiting; pod-ip has internal names only.
        let s = tls_sts(2, json!({"kafka-advertiser.io/tls-issuer": "Issuer/ca"}));
        let c = certs(&s, &[(0, "b0.example.com"), (1, "b1.example.com")]);
        assert_eq!(c[1].1.data["spec"]["dnsNames"].as_array().unwrap().last().unwrap(), "b1.example.com");
        let s = sts(
            1,
            None,
            "prod",
            json!({"kafka-advertiser.io/tls-issuer": "Issuer/ca", "kafka-advertiser.io/mode": "pod-ip"}),
        );
        let c = certs(&s, &[(0, "10.0.0.5")]);
        assert_eq!(c.len(), 1);
        assert!(c[0].1.data["spec"].get("ipAddresses").is_none(), "a pod IP is not known before the pod starts");
        // No issuer: no Certificates.
        assert!(certs(&tcp(2, None, "g"), &[(0, "192.0.2.1")]).is_empty());
    }
}
