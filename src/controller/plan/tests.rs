//! The plan from fixtures: each mode, scale up and down, opt-out, conflicts, Gateways. The strongest
//! check is convergence: feeding a plan's writes back into the caches (as the API and the watches
//! would) gives a plan that writes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::DynamicObject;
use serde_json::{json, Value};

use super::*;
use crate::controller::observe::{GatewayState, GatewayView, Observed};
use crate::mutate::ClusterView;

fn sts(replicas: i32, annotations: Value) -> StatefulSet {
    crate::controller::tests::statefulset(replicas, annotations)
}

fn observed(sts: StatefulSet) -> Observed {
    Observed::new(Arc::new(sts), &Defaults::default(), &ClusterView::new())
}

fn run(o: &Observed) -> Plan {
    plan_in(o, &Defaults::default(), &ClusterView::new())
}

/// A reconcile's plan: the intent worked out from the StatefulSet as observed (as `observe` does),
/// then the plan.
pub(in crate::controller) fn plan_in(o: &Observed, defaults: &Defaults, book: &ClusterView) -> Plan {
    let o = Observed { intent: crate::spec::intent(&o.sts, defaults, book), ..o.clone() };
    plan(&o, defaults, book)
}

fn kinds(p: &Plan) -> Vec<String> {
    let mut out: Vec<String> = p.apply.iter().map(|a| format!("apply {} {}", a.kind.name(), a.name)).collect();
    out.extend(p.delete.iter().map(|d| format!("delete {} {}", d.kind.name(), d.name)));
    out
}

/// What the API and the watches would make of a plan's writes: the caches hold each applied body
/// (a load balancer or Gateway adds nothing here), deleted objects are gone.
fn converge(o: &Observed, p: &Plan) -> Observed {
    let mut o = o.clone();
    for a in &p.apply {
        match a.kind {
            Kind::Service => {
                let svc: Service = serde_json::from_value(a.body.clone()).unwrap();
                o.services.retain(|s| s.metadata.name != svc.metadata.name);
                o.services.push(Arc::new(svc));
            }
            Kind::ConfigMap => {
                o.configmap = Some(Arc::new(serde_json::from_value::<ConfigMap>(a.body.clone()).unwrap()))
            }
            Kind::StatefulSet => {
                let mut sts = (*o.sts).clone();
                let ann: BTreeMap<String, String> =
                    serde_json::from_value(a.body["metadata"]["annotations"].clone()).unwrap_or_default();
                let own = sts.metadata.annotations.get_or_insert_with(Default::default);
                own.retain(|k, _| !STATEFULSET_ANNOTATIONS.contains(&k.as_str()));
                own.extend(ann);
                o.sts = Arc::new(sts);
            }
            Kind::Gateway => gateway_applied(&mut o, a),
            kind => {
                let mut obj: DynamicObject = serde_json::from_value(a.body.clone()).unwrap();
                if kind == Kind::ListenerSet && obj.data.get("status").is_none() {
                    obj.data["status"] = programmed_listener_set(&obj);
                }
                let list = o.owned.entry(kind).or_default();
                list.retain(|x| x.metadata.name != obj.metadata.name);
                list.push(Arc::new(obj));
            }
        }
    }
    for r in &p.release {
        // Released: no longer labelled as ours, so out of the cache of managed Services.
        o.services.retain(|s| s.metadata.name.as_deref() != Some(r.name.as_str()));
    }
    for d in &p.delete {
        o.services.retain(|s| s.metadata.name.as_deref() != Some(d.name.as_str()));
        for list in o.owned.values_mut() {
            list.retain(|x| x.metadata.name.as_deref() != Some(d.name.as_str()));
        }
        if d.kind == Kind::ConfigMap {
            o.configmap = None;
        }
    }
    o.seen = p.status.addresses.clone();
    o
}

/// A ListenerSet's status as a Gateway controller that handles ListenerSets writes it: accepted,
/// every listener accepted and programmed.
fn programmed_listener_set(ls: &DynamicObject) -> Value {
    let ok = |t: &str| json!({"type": t, "status": "True", "reason": t, "observedGeneration": 0});
    let listeners: Vec<Value> = (ls.data["spec"]["listeners"].as_array().into_iter().flatten())
        .map(|l| json!({"name": l["name"], "conditions": [ok("Accepted"), ok("Programmed")]}))
        .collect();
    json!({"conditions": [ok("Accepted"), ok("Programmed")], "listeners": listeners})
}

/// A listener apply: the manager's listeners replace the ones it held, and its managedFields say so.
fn gateway_applied(o: &mut Observed, a: &Apply) {
    let key = format!("{}/{}", a.namespace, a.name);
    let Some(GatewayView { state: GatewayState::Found(gw), .. }) = o.gateways.get_mut(&key) else { panic!("no {key}") };
    let manager = a.manager.clone().unwrap();
    let held = gateway::owned_listeners(gw, &manager);
    let wanted = a.body["spec"]["listeners"].as_array().cloned().unwrap_or_default();
    let mut listeners: Vec<Value> = gw.data["spec"]["listeners"].as_array().cloned().unwrap_or_default();
    listeners.retain(|l| !held.contains(l["name"].as_str().unwrap_or_default()));
    listeners.extend(wanted.iter().cloned());
    gw.data["spec"]["listeners"] = json!(listeners);
    let fields: serde_json::Map<String, Value> =
        wanted.iter().map(|l| (format!("k:{{\"name\":{}}}", l["name"]), json!({}))).collect();
    let entry = json!({"manager": manager, "operation": "Apply", "fieldsV1": {"f:spec": {"f:listeners": fields}}});
    let mut mf = gw.metadata.managed_fields.take().unwrap_or_default();
    mf.retain(|m| m.manager.as_deref() != Some(manager.as_str()));
    mf.push(serde_json::from_value(entry).unwrap());
    gw.metadata.managed_fields = Some(mf);
}

fn with_ingress(o: &mut Observed, ordinal: u32, ip: &str) {
    let name = format!("kafka-{ordinal}-external");
    for s in o.services.iter_mut().filter(|s| s.metadata.name.as_deref() == Some(name.as_str())) {
        let mut svc = (**s).clone();
        svc.status = Some(serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": ip}]}})).unwrap());
        *s = Arc::new(svc);
    }
}

fn pod(ordinal: u32) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": format!("kafka-{ordinal}"), "namespace": "streaming",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "kafka", "uid": "sts-uid"}]},
            "status": {"hostIP": "192.0.2.7", "podIP": format!("10.1.0.{ordinal}")}
        }))
        .unwrap(),
    )
}

#[test]
fn loadbalancer_scale_up_then_converge_then_nothing() {
    let o = observed(sts(3, json!({})));
    let p = run(&o);
    assert_eq!(
        kinds(&p),
        [
            "apply Service kafka-0-external",
            "apply Service kafka-1-external",
            "apply Service kafka-2-external",
            "apply ConfigMap kafka-external-bootstrap"
        ]
    );
    assert!(p.apply[0].done.as_ref().is_some_and(|n| n.reason == "ServiceCreated"));
    assert_eq!((p.status.waiting, p.status.managed, p.requeue), (3, 3, Some(SOON)));

    // The load balancer answers: addresses, the discovery ConfigMap and the StatefulSet's annotations.
    let mut o = converge(&o, &p);
    for i in 0..3 {
        with_ingress(&mut o, i, &format!("203.0.113.{}", 10 + i));
    }
    let p = run(&o);
    assert_eq!(kinds(&p), ["apply ConfigMap kafka-external-bootstrap", "apply StatefulSet kafka"]);
    assert_eq!(p.events.iter().filter(|e| e.reason == "AddressAssigned").count(), 3);
    let ann = &p.apply[1].body["metadata"]["annotations"];
    assert_eq!(ann[ANN_EXTERNAL_BOOTSTRAP], "203.0.113.10:9094,203.0.113.11:9094,203.0.113.12:9094");
    assert!(ann[ANN_ADDRESSES_READY].is_string());

    let o = converge(&o, &p);
    let p = run(&o);
    assert!(kinds(&p).is_empty(), "{:?}", kinds(&p));
    assert!(p.events.is_empty(), "{:?}", p.events);
    assert_eq!(p.requeue, Some(LATER));
}

#[test]
fn every_mode_converges_to_a_plan_that_writes_nothing() {
    let cases = [
        json!({}),
        json!({"kafka-advertiser.io/mode": "shared-address", "kafka-advertiser.io/address": "203.0.113.5", "kafka-advertiser.io/bootstrap": "true"}),
        json!({"kafka-advertiser.io/mode": "nodeport", "kafka-advertiser.io/node-port-base": "31090"}),
        json!({"kafka-advertiser.io/mode": "pod-ip"}),
        json!({"kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template": "b{ordinal}.example.com",
            "kafka-advertiser.io/tls-issuer": "ClusterIssuer/ca"}),
        json!({"kafka-advertiser.io/service-annotations": "a: b", "kafka-advertiser.io/retain-services": "true"}),
    ];
    for annotations in cases {
        let mut o = observed(sts(2, annotations.clone()));
        o.pods = vec![pod(0), pod(1)];
        let mut p = run(&o);
        for _ in 0..3 {
            o = converge(&o, &p);
            p = run(&o);
        }
        assert!(kinds(&p).is_empty(), "{annotations}: {:?}", kinds(&p));
        assert!(p.evict.is_none());
    }
}

#[test]
fn scale_down_keeps_a_draining_brokers_service_then_deletes_it() {
    let o = converge(&observed(sts(3, json!({}))), &run(&observed(sts(3, json!({})))));
    let mut down = Observed { sts: Arc::new(sts(2, json!({}))), ..o.clone() };
    down.pods = vec![pod(0), pod(1), pod(2)];
    let p = run(&down);
    assert!(!kinds(&p).iter().any(|k| k.starts_with("delete")), "{:?}", kinds(&p));
    assert_eq!((p.status.managed, p.requeue), (3, Some(SOON)), "kafka-2 drains: kept, looked at again soon");
    down.pods.pop();
    let p = run(&down);
    assert!(kinds(&p).contains(&"delete Service kafka-2-external".to_owned()), "{:?}", kinds(&p));
    assert!(p.delete[0].done.as_ref().is_some_and(|n| n.reason == "ServiceDeleted"));
}

#[test]
fn opting_out_removes_everything_and_forgets() {
    let mut o =
        observed(sts(1, json!({"kafka-advertiser.io/tls-issuer": "Issuer/ca", "kafka-advertiser.io/mode": "pod-ip"})));
    o.pods = vec![pod(0)];
    let mut o = converge(&o, &run(&o));
    o = converge(&o, &run(&o));
    assert!(o.owned.get(&Kind::Certificate).is_some_and(|c| c.len() == 1));
    let mut off = (*o.sts).clone();
    let labels = off.spec.as_mut().unwrap().template.metadata.as_mut().unwrap().labels.as_mut().unwrap();
    labels.remove(ENABLED_LABEL);
    o.sts = Arc::new(off);
    let p = run(&o);
    assert!(p.forget);
    assert_eq!(
        kinds(&p),
        ["apply StatefulSet kafka", "delete ConfigMap kafka-external-bootstrap", "delete Certificate kafka-0-tls"]
    );
    assert!(p.apply[0].body["metadata"].get("annotations").is_none(), "an empty apply drops our annotations");
    assert!(kinds(&run(&converge(&o, &p))).iter().all(|k| k.starts_with("apply StatefulSet")));
}

#[test]
fn a_name_someone_else_holds_is_a_conflict_not_a_takeover() {
    let mut o = observed(sts(1, json!({})));
    let foreign: Service =
        serde_json::from_value(json!({"metadata": {"name": "kafka-0-external", "namespace": "streaming"}})).unwrap();
    o.foreign.insert("kafka-0-external".into(), foreign);
    let p = run(&o);
    assert_eq!(kinds(&p), ["apply ConfigMap kafka-external-bootstrap"]);
    let objects = &p.problems.iter().find(|(s, _)| *s == ProblemSet::Objects).unwrap().1;
    assert_eq!(objects[0].reason, "ServiceConflict");
    assert_eq!(p.requeue, Some(SOON));
}

#[test]
fn invalid_settings_write_nothing_and_say_why() {
    let p = run(&observed(sts(1, json!({"kafka-advertiser.io/mode": "nonsense"}))));
    assert!(kinds(&p).is_empty());
    assert_eq!(p.requeue, None);
    let template = &p.problems[0].1;
    assert!(template.iter().any(|n| n.note.contains("nonsense")), "{template:?}");
}

/// A Gateway whose owner lets every namespace attach listeners (`spec.allowedListeners`).
fn gateway(listeners: Value, address: Option<&str>) -> GatewayView {
    gateway_of(json!({}), json!({"namespaces": {"from": "All"}}), listeners, address)
}

fn gateway_of(annotations: Value, allowed: Value, listeners: Value, address: Option<&str>) -> GatewayView {
    let mut gw = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "public", "namespace": "infra", "annotations": annotations},
        "spec": {"gatewayClassName": "c", "listeners": listeners, "allowedListeners": allowed}});
    // Its controller handles ListenerSets (it reports on them) and has programmed it.
    gw["status"] = json!({"attachedListenerSets": 0, "conditions": [{"type": "Programmed", "status": "True"}]});
    if let Some(a) = address {
        gw["status"]["addresses"] = json!([{"value": a}]);
    }
    let gw: DynamicObject = serde_json::from_value(gw).unwrap();
    GatewayView {
        state: GatewayState::Found(Box::new(gw)),
        namespace_labels: None,
        others: BTreeMap::new(),
        attached: vec![],
    }
}

fn tcp_on(gateway: &str) -> Value {
    json!({"kafka-advertiser.io/mode": "gateway-tcp", "kafka-advertiser.io/gateway": gateway})
}

fn objects(p: &Plan) -> Vec<&'static str> {
    p.problems.iter().filter(|(s, _)| *s == ProblemSet::Objects).flat_map(|(_, n)| n.iter().map(|n| n.reason)).collect()
}

fn gateway_address_of(p: &Plan, service: &str) -> Option<String> {
    let svc = p.apply.iter().find(|a| a.kind == Kind::Service && a.name == service)?;
    svc.body["metadata"]["annotations"][ANN_GATEWAY_ADDRESS].as_str().map(str::to_owned)
}

#[test]
fn gateway_tcp_listeners_go_into_a_listener_set_applied_once() {
    let mut o = observed(sts(2, tcp_on("infra/public")));
    let https = json!([{"name": "https", "port": 443, "protocol": "HTTPS"}]);
    o.gateways.insert("infra/public".into(), gateway(https, None));
    let p = run(&o);
    assert!(!p.apply.iter().any(|a| a.kind == Kind::Gateway), "the Gateway is not written: {:?}", kinds(&p));
    let ls = p.apply.iter().find(|a| a.kind == Kind::ListenerSet).unwrap();
    assert_eq!((ls.name.as_str(), ls.namespace.as_str(), ls.fresh), ("kafka-external", "streaming", true));
    assert_eq!(ls.body["spec"]["listeners"].as_array().unwrap().len(), 2);
    assert_eq!(p.apply.iter().filter(|a| a.kind == Kind::TcpRoute).count(), 2);
    assert_eq!(p.status.waiting, 2, "no Gateway address yet");
    let o = converge(&o, &p);
    let p = run(&o);
    assert!(
        !p.apply.iter().any(|a| matches!(a.kind, Kind::Gateway | Kind::TcpRoute | Kind::ListenerSet)),
        "{:?}",
        kinds(&p)
    );
}

#[test]
fn a_gateway_controller_refusing_the_set_or_a_listener_withholds_those_addresses() {
    let mut o = observed(sts(2, tcp_on("infra/public")));
    o.gateways.insert("infra/public".into(), gateway(json!([]), Some("198.51.100.7")));
    let o = converge(&o, &run(&o));
    let o = converge(&o, &run(&o)); // the ListenerSet programmed, then the addresses written
    let set_status = |o: &mut Observed, status: Value| {
        let ls = o.owned.get_mut(&Kind::ListenerSet).unwrap();
        let mut obj = (*ls[0]).clone();
        obj.data["status"] = status;
        ls[0] = Arc::new(obj);
    };
    let mut refused = o.clone();
    set_status(
        &mut refused,
        json!({"conditions": [{"type": "Accepted", "status": "False", "reason": "NotAllowed", "message": "not allowed"}]}),
    );
    let p = run(&refused);
    assert!(objects(&p).contains(&"ListenersNotAllowed"));
    assert_eq!((gateway_address_of(&p, "kafka-0-external"), gateway_address_of(&p, "kafka-1-external")), (None, None));
    let mut one = o.clone();
    // Broker 0's listener programmed, broker 1's conflicted.
    let mut status = programmed_listener_set(&o.owned[&Kind::ListenerSet][0]);
    status["listeners"][1]["conditions"] =
        json!([{"type": "Conflicted", "status": "True", "reason": "ProtocolConflict"}]);
    assert_eq!(status["listeners"][1]["name"], "kafka-1");
    set_status(&mut one, status);
    let p = run(&one);
    assert!(objects(&p).contains(&"ListenerConflict"));
    let a0 = o.services.iter().find(|s| s.metadata.name.as_deref() == Some("kafka-0-external")).unwrap();
    assert_eq!(a0.metadata.annotations.as_ref().unwrap()[ANN_GATEWAY_ADDRESS], "198.51.100.7", "broker 0 keeps it");
    assert_eq!(gateway_address_of(&p, "kafka-1-external"), None, "broker 1's is withdrawn");
    assert!(!p.apply.iter().any(|a| a.name == "kafka-0-external"), "broker 0's Service is not touched");
}

#[test]
fn listeners_an_earlier_version_wrote_into_the_gateway_move_to_the_listener_set() {
    let mut o = observed(sts(1, tcp_on("infra/public")));
    o.gateways.insert("infra/public".into(), gateway(json!([]), Some("198.51.100.7")));
    // As an earlier version left it: our listener on the Gateway under our field manager.
    let legacy = Apply {
        kind: Kind::Gateway,
        namespace: "infra".into(),
        name: "public".into(),
        body: json!({"spec": {"listeners": [{"name": "streaming-kafka-0", "port": 9092, "protocol": "TCP"}]}}),
        manager: Some("kafka-advertiser/streaming/kafka".into()),
        done: None,
        fresh: false,
    };
    gateway_applied(&mut o, &legacy);
    let p = run(&o);
    let ls = p.apply.iter().find(|a| a.kind == Kind::ListenerSet).expect("the ListenerSet");
    assert_eq!(ls.body["spec"]["listeners"][0]["port"], 9092, "the same port: its own, not in use by someone else");
    let release = p.apply.iter().find(|a| a.kind == Kind::Gateway).expect("the release");
    assert!(release.body.get("spec").is_none(), "{}", release.body);
    let (ls_at, gw_at) = (
        p.apply.iter().position(|a| a.kind == Kind::ListenerSet),
        p.apply.iter().position(|a| a.kind == Kind::Gateway),
    );
    assert!(ls_at < gw_at, "the ListenerSet is applied before the Gateway's listeners are released");
    let o = converge(&o, &p);
    let p = run(&o);
    assert_eq!(gateway_address_of(&p, "kafka-0-external").as_deref(), Some("198.51.100.7"), "the same address");
    let o = converge(&o, &p);
    let GatewayState::Found(gw) = &o.gateways["infra/public"].state else { unreachable!() };
    assert_eq!(gw.data["spec"]["listeners"], json!([]), "released");
    let o = converge(&o, &run(&o));
    assert!(kinds(&run(&o)).is_empty(), "{:?}", kinds(&run(&o)));
}

#[test]
fn manage_listeners_writes_into_the_gateway_only_on_free_ports_and_with_consent() {
    let ann = json!({"kafka-advertiser.io/manage-listeners": "true"});
    let mut o = observed(sts(2, tcp_on("infra/public")));
    let taken = json!([{"name": "https", "port": 9093, "protocol": "TCP"}]);
    o.gateways.insert(
        "infra/public".into(),
        gateway_of(ann.clone(), json!({"namespaces": {"from": "All"}}), taken.clone(), Some("198.51.100.7")),
    );
    let p = run(&o);
    assert!(!p.apply.iter().any(|a| a.kind == Kind::ListenerSet));
    let gw = p.apply.iter().find(|a| a.kind == Kind::Gateway).unwrap();
    assert_eq!(gw.manager.as_deref(), Some("kafka-advertiser/streaming/kafka"));
    let names: Vec<&str> =
        gw.body["spec"]["listeners"].as_array().unwrap().iter().filter_map(|l| l["name"].as_str()).collect();
    assert_eq!(names, ["streaming-kafka-0"], "port 9093 is the owner's");
    assert!(objects(&p).contains(&"GatewayPortInUse"));
    assert_eq!(gateway_address_of(&p, "kafka-1-external"), None);
    let route = p.apply.iter().find(|a| a.kind == Kind::TcpRoute).unwrap();
    assert_eq!(route.body["spec"]["parentRefs"][0]["kind"], "Gateway");
    let o = converge(&o, &p);
    assert!(!run(&o).apply.iter().any(|a| a.kind == Kind::Gateway));
    // The annotation does not stand in for consent.
    let mut o = observed(sts(2, tcp_on("infra/public")));
    o.gateways.insert(
        "infra/public".into(),
        gateway_of(ann, json!({"namespaces": {"from": "Same"}}), taken, Some("198.51.100.7")),
    );
    let p = run(&o);
    assert!(!p.apply.iter().any(|a| a.kind == Kind::Gateway));
    assert!(objects(&p).contains(&"ListenersNotAllowed"));
}

#[test]
fn a_missing_gateway_is_a_problem_and_no_listener_write() {
    let ann = json!({"kafka-advertiser.io/mode": "gateway-tcp", "kafka-advertiser.io/gateway": "infra/public"});
    let mut o = observed(sts(1, ann));
    o.gateways.insert(
        "infra/public".into(),
        GatewayView {
            state: GatewayState::NotFound,
            namespace_labels: None,
            others: BTreeMap::new(),
            attached: vec![],
        },
    );
    let p = run(&o);
    assert!(!p.apply.iter().any(|a| a.kind == Kind::Gateway));
    let objects = &p.problems.iter().find(|(s, _)| *s == ProblemSet::Objects).unwrap().1;
    assert_eq!(objects[0].reason, "GatewayNotFound");
}

#[test]
fn listeners_of_a_statefulset_that_is_gone_are_released() {
    let ann = json!({"kafka-advertiser.io/mode": "gateway-tcp", "kafka-advertiser.io/gateway": "infra/public"});
    let mut o = observed(sts(1, ann));
    let mut view = gateway_of(
        json!({"kafka-advertiser.io/manage-listeners": "true"}),
        json!({"namespaces": {"from": "All"}}),
        json!([]),
        Some("198.51.100.7"),
    );
    view.others.insert("kafka-advertiser/other/gone".into(), false);
    view.others.insert("kafka-advertiser/other/alive".into(), true);
    o.gateways.insert("infra/public".into(), view);
    let p = run(&o);
    let released: Vec<_> = p.apply.iter().filter_map(|a| a.manager.as_deref()).collect();
    assert_eq!(released, ["kafka-advertiser/other/gone", "kafka-advertiser/streaming/kafka"]);
    let svc = p.apply.iter().find(|a| a.kind == Kind::Service).unwrap();
    assert_eq!(svc.body["metadata"]["annotations"][ANN_GATEWAY_ADDRESS], "198.51.100.7");
}

fn running_broker(ready: bool) -> Pod {
    serde_json::from_value(json!({
        "metadata": {
            "name": "kafka-0", "namespace": "streaming",
            "labels": {"app": "kafka", "kafka-advertiser.io/enabled": "true", "apps.kubernetes.io/pod-index": "0"},
            "annotations": {
                ANN_ADVERTISED: "INTERNAL://kafka-0.kafka-headless.streaming.svc.cluster.local:9092,EXTERNAL://203.0.113.10:9094",
                "kafka-advertiser.io/roll-on-change": "true"
            },
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "kafka", "uid": "sts-uid"}]
        },
        "spec": {"hostname": "kafka-0", "subdomain": "kafka-headless", "containers": [{"name": "kafka", "image": "bitnami/kafka:3.9.0"}]},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }))
    .unwrap()
}

#[test]
fn a_drifted_broker_is_evicted_only_with_roll_on_change_and_everyone_ready() {
    let book = ClusterView::new();
    book.set("streaming", "kafka", 0, Some("203.0.113.99"));
    let mut o = observed(sts(1, json!({"kafka-advertiser.io/roll-on-change": "true"})));
    o.pods = vec![Arc::new(running_broker(false))];
    let p = plan_in(&o, &Defaults::default(), &book);
    assert!(p.events.iter().any(|e| e.reason == "AddressDrift"), "{:?}", p.events);
    assert!(p.evict.is_none(), "not Ready: no eviction");
    o.pods = vec![Arc::new(running_broker(true))];
    let p = plan_in(&o, &Defaults::default(), &book);
    assert_eq!(p.evict.as_ref().map(|e| e.pod.as_str()), Some("kafka-0"));
    o.recently_evicted = true;
    assert!(plan_in(&o, &Defaults::default(), &book).evict.is_none(), "one at a time");
}

/// An address that is not an IP or a DNS name (here what a load balancer reported, or whoever may
/// edit the Service's status wrote) is given to no broker and no client: a Warning, and nothing in
/// the status or discovery.
#[test]
fn a_learned_address_that_is_not_a_host_is_reported_not_published() {
    let o = observed(sts(2, json!({})));
    let mut o = converge(&o, &run(&o));
    with_ingress(&mut o, 0, "203.0.113.10");
    with_ingress(&mut o, 1, "$(KAFKA_PASSWORD)");
    let p = run(&o);
    assert_eq!(p.status.addresses.keys().copied().collect::<Vec<_>>(), [0]);
    let objects = &p.problems.iter().find(|(k, _)| *k == ProblemSet::Objects).unwrap().1;
    let bad = objects.iter().find(|n| n.reason == "InvalidAddress").expect("an InvalidAddress Warning");
    assert!(bad.note.contains("kafka-1-external") && bad.note.contains("$(KAFKA_PASSWORD)"), "{}", bad.note);
    let cm = p.apply.iter().find(|a| a.kind == Kind::ConfigMap).map(|a| a.body.to_string()).unwrap_or_default();
    assert!(!cm.contains("KAFKA_PASSWORD"), "{cm}");
}

/// MetalLB sharing keys: a new StatefulSet's come from its UID; Services that already share an IP
/// under an earlier release's key (`<namespace>-<name>`) keep it, so no Service leaves the IP.
#[test]
fn shared_address_keys_come_from_the_uid_and_held_keys_are_kept() {
    let ann = json!({"kafka-advertiser.io/mode": "shared-address", "kafka-advertiser.io/address": "203.0.113.5"});
    let o = observed(sts(2, ann));
    let p = run(&o);
    let keys: Vec<String> = p
        .apply
        .iter()
        .filter(|a| a.kind == Kind::Service)
        .map(|a| a.body["metadata"]["annotations"][crate::names::METALLB_SHARED_ANN].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.starts_with("kafka-advertiser-") && *k == keys[0]), "{keys:?}");

    // Services of an earlier release hold `streaming-kafka`: every apply keeps it.
    let mut o = converge(&o, &p);
    for s in o.services.iter_mut() {
        let mut svc = (**s).clone();
        let a = svc.metadata.annotations.get_or_insert_with(Default::default);
        a.insert(crate::names::METALLB_SHARED_ANN.into(), "streaming-kafka".into());
        a.insert(crate::names::METALLB_LEGACY_SHARED_ANN.into(), "streaming-kafka".into());
        *s = Arc::new(svc);
    }
    let p = run(&o);
    for a in p.apply.iter().filter(|a| a.kind == Kind::Service) {
        assert_eq!(
            a.body["metadata"]["annotations"][crate::names::METALLB_SHARED_ANN],
            "streaming-kafka",
            "{}",
            a.name
        );
    }
    let o = converge(&o, &p);
    assert!(run(&o).apply.iter().all(|a| a.kind != Kind::Service), "converged on the held key");
}

#[test]
fn a_named_class_that_does_not_exist_is_refused_also_in_open_mode_with_no_classes() {
    // Open mode, no class anywhere: a template naming one is refused, not given the open vocabulary.
    let o = observed(sts(1, json!({"kafka-advertiser.io/class": "internet"})));
    let p = run(&o);
    assert!(kinds(&p).is_empty(), "{:?}", kinds(&p));
    assert_eq!(p.problems[0].1[0].reason, "ClassNotFound");
    // And without naming one, the template's settings stand.
    let p = run(&observed(sts(1, json!({}))));
    assert!(p.apply.iter().any(|a| a.kind == Kind::Service));
}

mod adopt;
mod gateway_verdicts;
mod pending;
mod retry;
mod revoke;

/// A key kafka-advertiser does not know is reported with the nearest one; a StatefulSet that shows
/// a sign of meaning to opt in and did not is told why.
#[test]
fn typos_and_a_misplaced_opt_in_are_reported() {
    let p = run(&observed(sts(1, json!({"kafka-advertiser.io/portbase": "9200"}))));
    let template = &p.problems.iter().find(|(s, _)| *s == ProblemSet::Template).unwrap().1;
    let typo = template.iter().find(|n| n.reason == "UnknownAnnotation").expect("an UnknownAnnotation Warning");
    assert!(typo.note.contains("did you mean kafka-advertiser.io/port-base?"), "{}", typo.note);

    let mut off = sts(1, json!({}));
    off.spec.as_mut().unwrap().template.metadata.as_mut().unwrap().labels.as_mut().unwrap().remove(ENABLED_LABEL);
    off.metadata.labels = Some([(ENABLED_LABEL.to_owned(), "true".to_owned())].into());
    let p = run(&observed(off));
    let template = &p.problems.iter().find(|(s, _)| *s == ProblemSet::Template).unwrap().1;
    assert_eq!(template[0].reason, "OptInIgnored");
    assert!(template[0].note.contains("put it on the pod template"), "{}", template[0].note);
}
