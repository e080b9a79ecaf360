//! What a Gateway's owner and controller say, pure: the listeners a field manager holds, the
//! Gateway's address, whether it lets this StatefulSet's listeners and routes in, and the problems
//! its spec, a ListenerSet's and a route's status show.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::DynamicObject;
use serde_json::Value;

use super::build::{Attach, Attachment};
use crate::controller::desired::Desired;
use crate::names::ANN_MANAGE_LISTENERS;
use crate::spec::settings::{Mode, ANN_GATEWAY_LISTENER, ANN_PORT};

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
            owned.contains(name)
                && actual.iter().any(|a| a["name"] == l["name"] && crate::controller::fingerprint::contains(a, l))
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

/// Whether the Gateway's controller says it is programmed (`Programmed` True): it serves.
pub fn gateway_programmed(gw: &DynamicObject) -> bool {
    let mut conditions = gw.data["status"]["conditions"].as_array().into_iter().flatten();
    conditions.any(|c| c["type"] == "Programmed" && c["status"] == "True")
}

/// How long a programmed Gateway's controller may stay silent about our ListenerSet (no
/// `status.attachedListenerSets`) before it is taken for one that does not handle ListenerSets.
pub const LISTENER_SETS_GRACE_SECONDS: i64 = 60;

/// The Warning for a programmed Gateway whose controller has said nothing of our ListenerSet for
/// [`LISTENER_SETS_GRACE_SECONDS`]: it names the class and the alternative.
pub fn listener_sets_not_supported(gw: &DynamicObject, listener_set: &str) -> String {
    let class = gw.data["spec"]["gatewayClassName"].as_str().unwrap_or_default();
    format!(
        "Gateway {}/{} (gatewayClassName {class}) is programmed, but {LISTENER_SETS_GRACE_SECONDS} s after \
         ListenerSet {listener_set} was created its controller reports no status.attachedListenerSets: that \
         implementation does not handle ListenerSets, and brokers advertised on their listeners would be \
         unreachable, so none is given the Gateway's address. Use a Gateway whose implementation supports \
         ListenerSets, or let kafka-advertiser write the listeners into the Gateway itself: its owner annotates \
         it {ANN_MANAGE_LISTENERS}=true",
        gw.metadata.namespace.as_deref().unwrap_or_default(),
        gw.metadata.name.as_deref().unwrap_or_default(),
    )
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
/// listener counts only once that controller accepted it for the current generation and programmed
/// it (`Programmed` True: its data plane takes connections; a broker advertised on an accepted but
/// unprogrammed listener would be refused by its first client).
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
                let conds = l["conditions"].as_array();
                current
                    && conds.is_some_and(|c| c.iter().any(|c| is(c, "Accepted", "True")))
                    && conds.is_some_and(|c| c.iter().any(|c| is(c, "Programmed", "True")))
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
