//! Gateway API and cert-manager desired state, pure: from a StatefulSet's [`Desired`] (and what the
//! controller learned) to the Gateway listeners, routes and Certificates it owns, and the problems a
//! Gateway's spec and a route's status show. The reconciler only adapts this to the API.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ApiResource, DynamicObject};
use serde_json::{json, Value};

use super::desired::{owner_reference, Desired};
use super::kinds::{Kind, CERT_MANAGER_GROUP, GATEWAY_GROUP, GATEWAY_VERSION};
use crate::mutate::settings::{Mode, ANN_GATEWAY_LISTENER, ANN_PORT};
use crate::mutate::tls_secret_name;
use crate::names::{MANAGED_BY, MANAGED_BY_LABEL, ORDINAL_LABEL, ROLE_LABEL, STATEFULSET_LABEL};

/// The route kind of a gateway mode: `TCPRoute` (gateway-tcp) or `TLSRoute` (gateway-tls).
pub fn route_kind(mode: Mode) -> Option<Kind> {
    match mode {
        Mode::GatewayTcp => Some(Kind::TcpRoute),
        Mode::GatewayTls => Some(Kind::TlsRoute),
        _ => None,
    }
}

/// The name of the Gateway listener of one broker (`None`: the bootstrap): `<statefulset>-<N>`,
/// prefixed by the namespace when the Gateway is in another one (it may serve several).
pub fn listener_name(gateway_namespace: &str, namespace: &str, statefulset: &str, ordinal: Option<u32>) -> String {
    let own = match ordinal {
        Some(o) => format!("{statefulset}-{o}"),
        None => format!("{statefulset}-bootstrap"),
    };
    if gateway_namespace == namespace {
        own
    } else {
        format!("{namespace}-{own}")
    }
}

/// What the controller keeps for one StatefulSet behind a Gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayPlan {
    pub namespace: String,
    pub name: String,
    /// gateway-tcp: the listeners this StatefulSet owns on the Gateway (empty in gateway-tls).
    pub listeners: Vec<Value>,
    /// One route per broker (ordinal) and one for the bootstrap (`None`).
    pub routes: Vec<(Option<u32>, DynamicObject)>,
}

impl GatewayPlan {
    /// `namespace/name` of the Gateway.
    pub fn gateway(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The server-side apply body of this StatefulSet's listeners (no listener: releases them all).
    pub fn listeners_patch(&self) -> Value {
        listeners_patch(&self.namespace, &self.name, &self.listeners)
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

/// The Gateway listeners and routes of a StatefulSet in a gateway mode (`None` in other modes).
pub fn gateway_plan(d: &Desired, sts: &StatefulSet) -> Option<GatewayPlan> {
    let route = route_kind(d.settings.mode)?;
    let (kind, ar) = (route.name(), route.resource());
    let gw = d.settings.gateway.as_ref()?;
    let gw_ns = gw.namespace_or(&d.namespace).to_owned();
    let tcp = d.settings.mode == Mode::GatewayTcp;
    // Our listeners admit our routes only: TCPRoutes from the StatefulSet's namespace.
    let allowed = if gw_ns == d.namespace {
        json!({"namespaces": {"from": "Same"}, "kinds": [{"group": GATEWAY_GROUP, "kind": kind}]})
    } else {
        json!({
            "namespaces": {"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": d.namespace}}},
            "kinds": [{"group": GATEWAY_GROUP, "kind": kind}],
        })
    };
    let mut listeners = Vec::new();
    let mut routes = Vec::new();
    let brokers = d.services.iter().map(|(o, s)| (Some(*o), s));
    for (ordinal, svc) in brokers.chain(d.bootstrap.iter().map(|b| (None, b))) {
        let svc_name = svc.metadata.name.clone().unwrap_or_default();
        let section = if tcp {
            let port = match ordinal {
                Some(o) => d.settings.external_port(o).ok()?,
                None => d.service_settings.bootstrap_port,
            };
            let name = listener_name(&gw_ns, &d.namespace, &d.name, ordinal);
            listeners.push(json!({"name": name, "port": port, "protocol": "TCP", "allowedRoutes": allowed}));
            name
        } else {
            d.settings.gateway_listener.clone().unwrap_or_default()
        };
        let mut parent = json!({"group": GATEWAY_GROUP, "kind": "Gateway", "name": gw.name, "sectionName": section});
        if gw_ns != d.namespace {
            parent["namespace"] = json!(gw_ns);
        }
        let mut spec = json!({
            "parentRefs": [parent],
            "rules": [{"backendRefs": [{"group": "", "kind": "Service", "name": svc_name, "port": service_port(svc)}]}],
        });
        if !tcp {
            let host = match ordinal {
                Some(o) => d
                    .settings
                    .hostname_template
                    .as_ref()
                    .map(|t| t.render(o, &format!("{}-{o}", d.name), &d.namespace, &d.name)),
                None => d.service_settings.bootstrap_hostname.clone(),
            };
            let Some(host) = host else { continue };
            spec["hostnames"] = json!([host]);
        }
        let role = if ordinal.is_some() { "broker" } else { "bootstrap" };
        let mut route = object(&ar, svc_name, d, sts, labels(d, role, ordinal));
        route.data = json!({ "spec": spec });
        routes.push((ordinal, route));
    }
    Some(GatewayPlan { namespace: gw_ns, name: gw.name.clone(), listeners, routes })
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

/// Does a label selector (`matchLabels`, `matchExpressions`) select these labels?
fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str()));
    let exprs_ok = selector["matchExpressions"].as_array().is_none_or(|es| {
        es.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> =
                e["values"].as_array().map(|v| v.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            let have = labels.get(key).map(String::as_str);
            match e["operator"].as_str() {
                Some("In") => have.is_some_and(|h| values.contains(&h)),
                Some("NotIn") => have.is_none_or(|h| !values.contains(&h)),
                Some("Exists") => have.is_some(),
                Some("DoesNotExist") => have.is_none(),
                _ => false,
            }
        })
    });
    labels_ok && exprs_ok
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
    let learns = match d.settings.mode {
        Mode::Loadbalancer => true,
        Mode::SharedAddress | Mode::GatewayTcp => d.settings.address.is_none(),
        _ => false,
    };
    let external = matches!(
        d.settings.mode,
        Mode::Loadbalancer | Mode::SharedAddress | Mode::Hostname | Mode::GatewayTcp | Mode::GatewayTls
    );
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
    use crate::controller::desired::desired;
    use crate::mutate::settings::Defaults;
    use crate::names::ANN_BOOTSTRAP_HOSTNAME;
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

    fn plan(s: &StatefulSet) -> GatewayPlan {
        gateway_plan(&desired(s, &Defaults::default()).unwrap(), s).unwrap()
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
        let p = gateway_plan(&d, &s).unwrap();
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
            json!([{"group": GATEWAY_GROUP, "kind": "Gateway", "name": "shared", "sectionName": "events-6"}])
        );
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
        let three = plan(&tcp(3, None, "shared"));
        let one = plan(&tcp(1, None, "shared"));
        assert_eq!(three.listeners.len(), 3);
        assert_eq!(one.listeners.len(), 1);
        assert_eq!(one.listeners_patch()["spec"]["listeners"], json!([three.listeners[0].clone()]));
        // No listeners: an apply with no spec, which drops every listener of the field manager.
        let none = listeners_patch("prod", "shared", &[]);
        assert!(none.get("spec").is_none(), "{none}");
        assert_eq!(plan(&tcp(0, None, "shared")).routes.len(), 0);
    }

    #[test]
    fn a_gateway_in_another_namespace_admits_this_namespace_only() {
        let p = plan(&tcp(1, None, "infra/shared"));
        assert_eq!(p.namespace, "infra");
        assert_eq!(p.listeners[0]["name"], "prod-events-0");
        assert_eq!(
            p.listeners[0]["allowedRoutes"]["namespaces"],
            json!({"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": "prod"}}})
        );
        assert_eq!(p.routes[0].1.data["spec"]["parentRefs"][0]["namespace"], "infra");
    }

    #[test]
    fn gateway_tcp_bootstrap_listener_sits_below_the_brokers() {
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
