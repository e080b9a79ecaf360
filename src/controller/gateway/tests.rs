//! Gateway objects, verdicts on the Gateway's and routes' status, and Certificates, from fixtures.

use super::*;
use crate::controller::certificates::certificates;
use crate::controller::kinds::GATEWAY_GROUP;
use crate::names::{ANN_BOOTSTRAP_HOSTNAME, ANN_MANAGE_LISTENERS, ORDINAL_LABEL, ROLE_LABEL};
use crate::spec::settings::Defaults;
use crate::testing::desired;
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::DynamicObject;
use kube::ResourceExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn sts(replicas: i32, start: Option<i32>, namespace: &str, annotations: Value) -> StatefulSet {
    crate::testing::events_statefulset(replicas, start, namespace, annotations)
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
    assert!(!p.routes.iter().any(|(o, _)| *o == Some(1) || o.is_none()), "no route to a listener that is not there");
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
    let refused =
        ls(json!({"conditions": [{"type": "Accepted", "status": "False", "reason": "NotAllowed", "message": "no"}]}));
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
    // Listeners named in `accepted` are Accepted; those also in `programmed` are Programmed too.
    let with = |generation: i64, observed: i64, accepted: &[&str], programmed: &[&str]| -> DynamicObject {
        let statuses: Vec<Value> = accepted
            .iter()
            .map(|n| {
                let p = if programmed.contains(n) { "True" } else { "False" };
                json!({"name": n, "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"},
                    {"type": "Programmed", "status": p, "reason": if p == "True" { "Programmed" } else { "Pending" }}]})
            })
            .collect();
        serde_json::from_value(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
            "metadata": {"name": "events-external", "namespace": "prod", "generation": generation},
            "spec": {"listeners": [{"name": "events-0"}, {"name": "events-1"}]},
            "status": {"conditions": [{"type": "Accepted", "status": "True", "observedGeneration": observed}], "listeners": statuses}}))
        .unwrap()
    };
    let ls = |generation: i64, observed: i64, accepted: &[&str]| with(generation, observed, accepted, accepted);
    let pending = |l: &DynamicObject, aware| listener_set_verdict(l, aware).pending.into_iter().collect::<Vec<_>>();
    assert_eq!(
        pending(&with(2, 2, &["events-0", "events-1"], &["events-0"]), true),
        ["events-1"],
        "accepted, not yet programmed: its data plane would refuse the broker's clients"
    );
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
    assert_eq!(problems(json!([{"name": "other", "port": 1, "protocol": "TCP"}]), None), ["GatewayListenerNotFound"]);
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

/// Under `--tenancy classes` a broker's certificate names it only namespace-qualified (N5c): the
/// short `<pod>.<service>` is another namespace's Service; a serviceName that is no DNS label names
/// nothing.
#[test]
fn certificates_under_classes_name_brokers_namespace_qualified() {
    use crate::spec::class::{Class, ClassSource, Classes, Tenancy};
    use std::sync::Arc;
    struct Closed(Arc<Classes>);
    impl ClassSource for Closed {
        fn classes(&self) -> Option<Arc<Classes>> {
            Some(self.0.clone())
        }
        fn namespace_labels(&self, _: &str) -> Option<Arc<std::collections::BTreeMap<String, String>>> {
            Some(Default::default())
        }
    }
    let class = Class::from_value(
        &json!({"metadata": {"name": "tls", "annotations": {"kafka-advertiser.io/is-default-class": "true"}},
        "spec": {"tenantSettings": ["tls-issuer", "mode"]}}),
    )
    .unwrap();
    let view = Closed(Arc::new(Classes { tenancy: Tenancy::Classes, classes: vec![Arc::new(class)] }));
    let annotations =
        json!({"kafka-advertiser.io/tls-issuer": "ClusterIssuer/ca", "kafka-advertiser.io/mode": "loadbalancer"});
    let s = sts(1, None, "team-a", annotations.clone());
    let d = crate::testing::desired_in(&s, &Defaults::default(), &view).unwrap();
    let c = certificates(&d, &s, &[(0, "203.0.113.4".to_owned())].into());
    assert_eq!(
        c[0].1.data["spec"]["dnsNames"],
        json!([
            "events-0.events-hs.team-a.svc.cluster.local",
            "events-0.events-hs.team-a.svc",
            "events-0.events-hs.team-a"
        ])
    );
    let mut dotted = sts(1, None, "team-a", annotations);
    dotted.spec.as_mut().unwrap().service_name = Some("corp.example.com".into());
    let d = crate::testing::desired_in(&dotted, &Defaults::default(), &view).unwrap();
    let c = certificates(&d, &dotted, &[(0, "203.0.113.4".to_owned())].into());
    assert_eq!(c[0].1.data["spec"]["dnsNames"], json!([]), "no name from a serviceName that is no DNS label");
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
