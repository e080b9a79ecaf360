//! The Gateway objects a StatefulSet owns, pure: its listeners (on the Gateway or in its own
//! ListenerSet) and one route per broker and for the bootstrap.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ApiResource, DynamicObject};
use serde_json::{json, Value};

use crate::controller::desired::{owner_reference, Desired};
use crate::controller::kinds::{Kind, GATEWAY_GROUP, GATEWAY_VERSION};
use crate::names::{MANAGED_BY, MANAGED_BY_LABEL, ORDINAL_LABEL, ROLE_LABEL, STATEFULSET_LABEL};
use crate::spec::settings::Mode;

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

pub(in crate::controller) fn labels(d: &Desired, role: &str, ordinal: Option<u32>) -> BTreeMap<String, String> {
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

pub(in crate::controller) fn object(
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
