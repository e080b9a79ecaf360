//! gateway-tcp and gateway-tls modes and broker Certificates against the real API server, with the
//! Gateway API (standard channel) and cert-manager CRDs installed from their modules' own files: the
//! API server validates every object kafka-advertiser writes (schema and CEL). No Gateway data plane
//! or cert-manager controller runs: `scripts/testenv.sh gateway` plays the Gateway's controller, the
//! tests write route status where a Gateway controller would.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};

use crate::*;

const T: Duration = Duration::from_secs(90);

/// A Gateway whose owner lets kafka-advertiser write listeners into it (`manage-listeners`, for
/// implementations without ListenerSets) and grants the controller `patch` on it (a Role with
/// `resourceNames`, as the chart's `controller.gateways` renders).
async fn create_managed_gateway(c: &Client, ns: &str, name: &str, listeners: Value) {
    let ann = json!({"kafka-advertiser.io/manage-listeners": "true"});
    create_gateway_with(c, ns, name, listeners, json!({"namespaces": {"from": "Same"}}), ann).await;
    grant(c, ns, name).await;
}

async fn grant(c: &Client, ns: &str, name: &str) {
    let role: k8s_openapi::api::rbac::v1::Role = serde_json::from_value(json!({
        "metadata": {"name": format!("kafka-advertiser-listeners-{name}"), "namespace": ns},
        "rules": [{"apiGroups": ["gateway.networking.k8s.io"], "resources": ["gateways"],
                   "resourceNames": [name], "verbs": ["patch"]}],
    }))
    .unwrap();
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("kafka-advertiser-listeners-{name}"), "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": format!("kafka-advertiser-listeners-{name}")},
        "subjects": [{"kind": "ServiceAccount", "name": "kafka-advertiser-controller", "namespace": "kafka-advertiser"}],
    }))
    .unwrap();
    Api::namespaced(c.clone(), ns).create(&PostParams::default(), &role).await.unwrap();
    Api::namespaced(c.clone(), ns).create(&PostParams::default(), &binding).await.unwrap();
}

/// `name → port` of a ListenerSet's listeners (empty when it does not exist).
async fn set_listeners(c: &Client, ns: &str, name: &str) -> Vec<(String, u64)> {
    let Some(ls) = listener_sets(c, ns).get_opt(name).await.unwrap() else { return vec![] };
    ls.data["spec"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap().to_owned(), l["port"].as_u64().unwrap()))
        .collect()
}

/// The status of a ListenerSet's condition `type` (as a Gateway controller wrote it).
async fn set_condition(c: &Client, ns: &str, name: &str, type_: &str) -> Option<String> {
    let ls = listener_sets(c, ns).get_opt(name).await.ok()??;
    let conds = ls.data["status"]["conditions"].as_array()?.clone();
    conds.iter().find(|c| c["type"] == type_).and_then(|c| c["status"].as_str()).map(str::to_owned)
}

/// `name → port` of a Gateway's listeners.
async fn listeners(c: &Client, ns: &str, name: &str) -> Vec<(String, u64)> {
    let gw = gateways(c, ns).get(name).await.unwrap();
    gw.data["spec"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap().to_owned(), l["port"].as_u64().unwrap()))
        .collect()
}

async fn names(api: &Api<DynamicObject>, sts: &str) -> BTreeSet<String> {
    let lp = ListParams::default().labels(&format!("kafka-advertiser.io/statefulset={sts}"));
    api.list(&lp).await.unwrap().items.iter().map(|o| o.name_any()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// gateway-tcp: one Gateway address; the brokers' listeners in the StatefulSet's own ListenerSet
/// (`<sts>-external`, attached with the Gateway owner's consent), a ClusterIP Service and a TCPRoute
/// per broker; the webhook waits for the address the Gateway publishes; the brokers' Certificates
/// name it and follow it; scale-down and deletion clean up listeners, routes and Certificates, and
/// the Gateway itself is never written.
#[tokio::test]
async fn gateway_tcp_one_address_a_port_per_broker() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-gwtcp").await;
    create_gateway(&c, &ns, "shared", json!([{"name": "web", "port": 8443, "protocol": "TCP"}])).await;
    let gateway_before = gateways(&c, &ns).get("shared").await.unwrap();
    Broker::new("kafka", 3)
        .annotate("kafka-advertiser.io/mode", "gateway-tcp")
        .annotate("kafka-advertiser.io/gateway", "shared")
        .annotate("kafka-advertiser.io/port-base", "19092")
        .annotate("kafka-advertiser.io/tls-issuer", "ClusterIssuer/e2e-ca")
        .create(&c, &ns)
        .await;
    // A second StatefulSet on the same Gateway, with its address set: a ListenerSet of its own.
    Broker::new("other", 1)
        .annotate("kafka-advertiser.io/mode", "gateway-tcp")
        .annotate("kafka-advertiser.io/gateway", "shared")
        .annotate("kafka-advertiser.io/port-base", "29092")
        .annotate("kafka-advertiser.io/address", "kafka.example.com")
        .create(&c, &ns)
        .await;

    // ListenerSets, routes and Services exist before the Gateway has an address; no pod does.
    let want = vec![("kafka-0".into(), 19092), ("kafka-1".into(), 19093), ("kafka-2".into(), 19094)];
    wait_for("the brokers' listeners in their ListenerSet", T, || async {
        let ok = set_listeners(&c, &ns, "kafka-external").await == want
            && set_listeners(&c, &ns, "other-external").await == vec![("other-0".to_owned(), 29092)];
        ok.then_some(())
    })
    .await;
    let ls = listener_sets(&c, &ns).get("kafka-external").await.unwrap();
    assert_eq!(
        ls.data["spec"]["parentRef"],
        json!({"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shared"})
    );
    let owner = &ls.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("StatefulSet", "kafka", Some(true)));
    let tcp = routes(&c, &ns, "TCPRoute");
    wait_for("a TCPRoute per broker", T, || async {
        (names(&tcp, "kafka").await == set(&["kafka-0-external", "kafka-1-external", "kafka-2-external"])).then_some(())
    })
    .await;
    let route = tcp.get("kafka-1-external").await.unwrap();
    let parent = &route.data["spec"]["parentRefs"][0];
    assert_eq!(
        (parent["kind"].as_str(), parent["name"].as_str(), parent["sectionName"].as_str()),
        (Some("ListenerSet"), Some("kafka-external"), Some("kafka-1")),
        "{route:?}"
    );
    let backend = &route.data["spec"]["rules"][0]["backendRefs"][0];
    assert_eq!((backend["name"].as_str(), backend["port"].as_u64()), (Some("kafka-1-external"), Some(19093)));
    for (name, svc) in services_of(&c, &ns, "kafka").await {
        assert_eq!(svc.spec.as_ref().unwrap().type_.as_deref(), Some("ClusterIP"), "{name}");
    }
    let ev = wait_event(&c, &ns, "kafka", "FailedCreate", "has no status.addresses").await;
    assert!(ev.note.unwrap_or_default().contains(&format!("Gateway {ns}/shared")));
    assert!(pods_of(&c, &ns, "kafka").await.is_empty(), "no broker before the Gateway has an address");
    assert!(names(&certificates(&c, &ns), "kafka").await.is_empty(), "no Certificate before the address is known");

    // The Gateway's controller publishes its address and accepts the ListenerSets (the harness's
    // gatewayctl, by allowedListeners): every broker advertises the address on its own port.
    testenv().script(&["gateway", &format!("{ns}/shared"), "203.0.113.7"]);
    wait_for("the ListenerSet Accepted by the Gateway's controller", T, || async {
        (set_condition(&c, &ns, "kafka-external", "Accepted").await.as_deref() == Some("True")).then_some(())
    })
    .await;
    let pods = wait_for("3 brokers advertising the Gateway's address", T, || async {
        let pods = pods_of(&c, &ns, "kafka").await;
        let ok = pods.len() == 3
            && pods.iter().all(|p| {
                let o = ordinal_of(&p.name_any());
                env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS")
                    .is_some_and(|v| v.ends_with(&format!("EXTERNAL://203.0.113.7:{}", 19092 + o)))
            });
        ok.then_some(pods)
    })
    .await;
    // The certificate Secret is mounted read-only in the broker container.
    for p in &pods {
        let spec = p.spec.as_ref().unwrap();
        let vol = spec.volumes.iter().flatten().find(|v| v.name == "kafka-advertiser-tls").expect("the TLS volume");
        assert_eq!(vol.secret.as_ref().unwrap().secret_name.as_deref(), Some(format!("{}-tls", p.name_any()).as_str()));
        let m = spec.containers[0].volume_mounts.iter().flatten().find(|m| m.name == "kafka-advertiser-tls").unwrap();
        assert_eq!((m.mount_path.as_str(), m.read_only), ("/etc/kafka/tls", Some(true)));
    }
    // The Certificates carry the learned address and the internal names.
    let certs = certificates(&c, &ns);
    let cert = wait_for("kafka-1-tls naming 203.0.113.7", T, || async {
        let cert = certs.get_opt("kafka-1-tls").await.ok().flatten()?;
        (cert.data["spec"]["ipAddresses"] == json!(["203.0.113.7"])).then_some(cert)
    })
    .await;
    let spec = &cert.data["spec"];
    assert_eq!(spec["secretName"], "kafka-1-tls");
    assert_eq!(spec["issuerRef"], json!({"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "e2e-ca"}));
    let fqdn = format!("kafka-1.kafka-headless.{ns}.svc.cluster.local");
    assert!(spec["dnsNames"].as_array().unwrap().iter().any(|n| n == fqdn.as_str()), "{spec}");

    // A new Gateway address: the Certificates follow (cert-manager re-issues on a spec change).
    testenv().script(&["gateway", &format!("{ns}/shared"), "203.0.113.8"]);
    wait_for("the Certificates naming the new address", T, || async {
        let all = certs.list(&ListParams::default()).await.ok()?.items;
        (all.len() == 3 && all.iter().all(|c| c.data["spec"]["ipAddresses"] == json!(["203.0.113.8"]))).then_some(())
    })
    .await;

    // A ListenerSet deleted by hand is put back.
    listener_sets(&c, &ns).delete("kafka-external", &DeleteParams::default()).await.unwrap();
    wait_for("the ListenerSet back", T, || async {
        (set_listeners(&c, &ns, "kafka-external").await == want).then_some(())
    })
    .await;

    // Scale-down: the scaled-away brokers' listeners, routes, Services and Certificates go.
    scale(&c, &ns, "kafka", 1).await;
    wait_for("one broker's listener, route, Service and Certificate left", T, || async {
        let ok = set_listeners(&c, &ns, "kafka-external").await == vec![("kafka-0".to_owned(), 19092)]
            && names(&tcp, "kafka").await == set(&["kafka-0-external"])
            && names(&certs, "kafka").await == set(&["kafka-0-tls"])
            && services_of(&c, &ns, "kafka").await.len() == 1;
        ok.then_some(())
    })
    .await;

    // To gateway-tls on the same Gateway: its ListenerSet goes, the TCPRoute becomes a TLSRoute.
    let sts: Api<StatefulSet> = Api::namespaced(c.clone(), &ns);
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        "kafka-advertiser.io/mode": "gateway-tls", "kafka-advertiser.io/gateway-listener": "web",
        "kafka-advertiser.io/hostname-template": "{pod}.{namespace}.kafka.example.com",
    }}}}});
    sts.patch("kafka", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let tls = routes(&c, &ns, "TLSRoute");
    wait_for("a TLSRoute instead of the TCPRoute, and no ListenerSet", T, || async {
        let ok = listener_sets(&c, &ns).get_opt("kafka-external").await.ok()?.is_none()
            && names(&tcp, "kafka").await.is_empty()
            && names(&tls, "kafka").await == set(&["kafka-0-external"]);
        ok.then_some(())
    })
    .await;
    // The owner's listener is TCP on another port: that is said where the owner looks.
    wait_event(&c, &ns, "kafka", "GatewayListenerNotPassthrough", "listener web").await;

    // Deleting a StatefulSet deletes its ListenerSet (owner reference; the garbage collector).
    let other = wait_pods(&c, &ns, "other", 1, T).await;
    let v = env_value(&other[0], "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
    assert!(v.ends_with("EXTERNAL://kafka.example.com:29092"), "{v}");
    sts.delete("other", &DeleteParams::default()).await.unwrap();
    wait_for("the deleted StatefulSet's ListenerSet gone", T, || async {
        listener_sets(&c, &ns).get_opt("other-external").await.ok()?.is_none().then_some(())
    })
    .await;
    // The Gateway's spec was never written (only its controller's status).
    let gateway_after = gateways(&c, &ns).get("shared").await.unwrap();
    assert_eq!(gateway_before.data["spec"], gateway_after.data["spec"]);
    assert_eq!(gateway_before.metadata.generation, gateway_after.metadata.generation);
}

/// The Gateway owner's consent: a ListenerSet from a namespace its `allowedListeners` does not admit
/// gives no broker an address (a `ListenersNotAllowed` Warning naming the Gateway and the field);
/// labelling the namespace admits it. A port the Gateway's own listener uses is never written
/// (`GatewayPortInUse`); a port an older ListenerSet holds is refused by the Gateway's controller
/// (`Conflicted`), and that broker's address is withheld (`ListenerConflict`).
#[tokio::test]
async fn listener_sets_attach_only_with_the_gateway_owners_consent() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let gw_ns = namespace(&c, "e2e-consent-infra").await;
    let ns = namespace(&c, "e2e-consent").await;
    let allowed = json!({"namespaces": {"from": "Selector", "selector": {"matchLabels": {"e2e.kafka-advertiser.io/kafka": "allowed"}}}});
    let https = json!([{"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "www.example.com",
        "tls": {"mode": "Terminate", "certificateRefs": [{"name": "www"}]}}]);
    create_gateway_with(&c, &gw_ns, "public", https, allowed, json!({})).await;
    testenv().script(&["gateway", &format!("{gw_ns}/public"), "203.0.113.20"]);
    let label = json!({"metadata": {"labels": {"e2e.kafka-advertiser.io/kafka": "allowed"}}});
    let namespaces = Api::<k8s_openapi::api::core::v1::Namespace>::all(c.clone());
    namespaces.patch(&gw_ns, &PatchParams::default(), &Patch::Merge(&label)).await.unwrap();
    let gateway_before = gateways(&c, &gw_ns).get("public").await.unwrap();
    // Someone else's ListenerSet, older than ours, holds port 19300 (in the Gateway's namespace).
    let theirs: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
        "metadata": {"name": "theirs", "namespace": gw_ns},
        "spec": {"parentRef": {"name": "public"}, "listeners": [{"name": "db", "port": 19300, "protocol": "TCP"}]},
    }))
    .unwrap();
    listener_sets(&c, &gw_ns).create(&PostParams::default(), &theirs).await.unwrap();
    // Creation timestamps have one-second resolution: ours is strictly newer.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    Broker::new("kafka", 2)
        .annotate("kafka-advertiser.io/mode", "gateway-tcp")
        .annotate("kafka-advertiser.io/gateway", &format!("{gw_ns}/public"))
        .annotate("kafka-advertiser.io/port-base", "19299")
        .create(&c, &ns)
        .await;
    let ev = wait_event(&c, &ns, "kafka", "ListenersNotAllowed", &format!("Gateway {gw_ns}/public")).await;
    assert!(ev.note.unwrap().contains("spec.allowedListeners"));
    // The StatefulSet controller tried and was refused (not: nothing had tried yet).
    wait_event(&c, &ns, "kafka", "FailedCreate", "denied the request").await;
    assert!(pods_of(&c, &ns, "kafka").await.is_empty(), "no broker is admitted with an address it cannot reach");

    // The platform admits the namespace: broker 0 gets the address; broker 1's port is taken by
    // the older ListenerSet, so the Gateway's controller marks it Conflicted and it waits.
    namespaces.patch(&ns, &PatchParams::default(), &Patch::Merge(&label)).await.unwrap();
    let pods = wait_pods(&c, &ns, "kafka", 1, T).await;
    let v = env_value(&pods[0], "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
    assert!(v.ends_with("EXTERNAL://203.0.113.20:19299"), "{v}");
    let ev = wait_event(&c, &ns, "kafka", "ListenerConflict", "kafka-1").await;
    assert!(!ev.note.unwrap().contains("theirs"), "another namespace's ListenerSet is not named");
    assert_eq!(pods_of(&c, &ns, "kafka").await.len(), 1, "broker 1 waits");

    // A port the Gateway's own listener uses is never written into a ListenerSet.
    Broker::new("web", 1)
        .annotate("kafka-advertiser.io/mode", "gateway-tcp")
        .annotate("kafka-advertiser.io/gateway", &format!("{gw_ns}/public"))
        .annotate("kafka-advertiser.io/port-base", "443")
        .create(&c, &ns)
        .await;
    wait_event(&c, &ns, "web", "GatewayPortInUse", "port 443").await;
    assert!(listener_sets(&c, &ns).get_opt("web-external").await.unwrap().is_none());
    let gateway_after = gateways(&c, &gw_ns).get("public").await.unwrap();
    assert_eq!(gateway_before.data["spec"], gateway_after.data["spec"], "the Gateway is never written");
}

/// Listeners an earlier version wrote into the Gateway (under the StatefulSet's field manager) move
/// into its ListenerSet: same port, same address, and the Gateway keeps only its owner's listeners.
#[tokio::test]
async fn listeners_written_into_a_gateway_earlier_move_to_a_listener_set() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-gwmigrate").await;
    create_gateway(&c, &ns, "shared", json!([{"name": "web", "port": 8443, "protocol": "TCP"}])).await;
    // The earlier version wrote listeners under a grant on this Gateway; releasing them needs it too.
    grant(&c, &ns, "shared").await;
    testenv().script(&["gateway", &format!("{ns}/shared"), "203.0.113.30"]);
    // As an earlier version left it: the broker's listener on the Gateway, under its field manager.
    let legacy = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "shared", "namespace": ns},
        "spec": {"listeners": [{"name": "kafka-0", "port": 19400, "protocol": "TCP"}]}});
    let pp = PatchParams::apply(&format!("kafka-advertiser/{ns}/kafka"));
    gateways(&c, &ns).patch("shared", &pp, &Patch::Apply(&legacy)).await.unwrap();
    Broker::new("kafka", 1)
        .annotate("kafka-advertiser.io/mode", "gateway-tcp")
        .annotate("kafka-advertiser.io/gateway", "shared")
        .annotate("kafka-advertiser.io/port-base", "19400")
        .create(&c, &ns)
        .await;
    wait_for("the listener moved into the ListenerSet", T, || async {
        let ok = set_listeners(&c, &ns, "kafka-external").await == vec![("kafka-0".to_owned(), 19400)]
            && listeners(&c, &ns, "shared").await == vec![("web".to_owned(), 8443)];
        ok.then_some(())
    })
    .await;
    let pods = wait_pods(&c, &ns, "kafka", 1, T).await;
    let v = env_value(&pods[0], "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
    assert!(v.ends_with("EXTERNAL://203.0.113.30:19400"), "{v}");
    wait_for("the moved listener Accepted by the Gateway's controller", T, || async {
        (set_condition(&c, &ns, "kafka-external", "Accepted").await.as_deref() == Some("True")).then_some(())
    })
    .await;
}

/// gateway-tls: one TLS passthrough listener of the user's, a TLSRoute per broker by SNI name and one
/// for the bootstrap name, from a StatefulSet in another namespace than the Gateway.
#[tokio::test]
async fn gateway_tls_routes_each_broker_by_name() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let gw_ns = namespace(&c, "e2e-gwtls-edge").await;
    let ns = namespace(&c, "e2e-gwtls").await;
    let user_listener = json!([{
        "name": "kafka-sni", "port": 9094, "protocol": "TLS", "tls": {"mode": "Passthrough"},
        "allowedRoutes": {"namespaces": {"from": "All"}},
    }]);
    create_gateway(&c, &gw_ns, "edge", user_listener).await;
    Broker::new("events", 2)
        .annotate("kafka-advertiser.io/mode", "gateway-tls")
        .annotate("kafka-advertiser.io/gateway", &format!("{gw_ns}/edge"))
        .annotate("kafka-advertiser.io/gateway-listener", "kafka-sni")
        .annotate("kafka-advertiser.io/hostname-template", "b{ordinal}.{namespace}.kafka.example.com")
        .annotate("kafka-advertiser.io/bootstrap-hostname", &format!("bootstrap.{ns}.kafka.example.com"))
        .create(&c, &ns)
        .await;
    // Names need no learned address: the brokers are admitted at once.
    let pods = wait_pods(&c, &ns, "events", 2, T).await;
    for p in &pods {
        let o = ordinal_of(&p.name_any());
        let v = env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
        assert!(v.ends_with(&format!("EXTERNAL://b{o}.{ns}.kafka.example.com:9094")), "{v}");
    }
    let tls = routes(&c, &ns, "TLSRoute");
    wait_for("a TLSRoute per broker and one for the bootstrap", T, || async {
        (names(&tls, "events").await == set(&["events-0-external", "events-1-external", "events-bootstrap"]))
            .then_some(())
    })
    .await;
    let r = tls.get("events-1-external").await.unwrap();
    assert_eq!(r.data["spec"]["hostnames"], json!([format!("b1.{ns}.kafka.example.com")]));
    let parent = &r.data["spec"]["parentRefs"][0];
    assert_eq!(
        (parent["namespace"].as_str(), parent["name"].as_str(), parent["sectionName"].as_str()),
        (Some(gw_ns.as_str()), Some("edge"), Some("kafka-sni"))
    );
    let b = tls.get("events-bootstrap").await.unwrap();
    assert_eq!(b.data["spec"]["hostnames"], json!([format!("bootstrap.{ns}.kafka.example.com")]));
    assert_eq!(b.data["spec"]["rules"][0]["backendRefs"][0]["name"], "events-bootstrap");
    // The Gateway is the user's: gateway-tls adds no listener to it.
    assert_eq!(listeners(&c, &gw_ns, "edge").await, vec![("kafka-sni".to_owned(), 9094)]);
    assert!(services_of(&c, &ns, "events").await.contains_key("events-bootstrap"));

    // Leaving the gateway modes removes the routes.
    let sts: Api<StatefulSet> = Api::namespaced(c.clone(), &ns);
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        "kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/gateway": null,
        "kafka-advertiser.io/gateway-listener": null, "kafka-advertiser.io/bootstrap-hostname": null,
    }}}}});
    sts.patch("events", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_for("no TLSRoute left", T, || async { names(&tls, "events").await.is_empty().then_some(()) }).await;
}

/// What is wrong with the Gateway is a Warning Event on the StatefulSet: no such Gateway, a listener
/// that does not admit the namespace, a port other than the advertised one, a route not accepted.
#[tokio::test]
async fn gateway_problems_are_warning_events() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let gw_ns = namespace(&c, "e2e-gwbad-edge").await;
    let ns = namespace(&c, "e2e-gwbad").await;
    create_gateway(
        &c,
        &gw_ns,
        "edge",
        json!([{"name": "tls", "port": 443, "protocol": "TLS", "tls": {"mode": "Passthrough"}}]),
    )
    .await;
    let tls_broker = |name: &str, gateway: &str| {
        Broker::new(name, 1)
            .annotate("kafka-advertiser.io/mode", "gateway-tls")
            .annotate("kafka-advertiser.io/gateway", gateway)
            .annotate("kafka-advertiser.io/gateway-listener", "tls")
            .annotate("kafka-advertiser.io/hostname-template", "{pod}.{namespace}.kafka.example.com")
    };
    tls_broker("missing", "no-such-gateway").create(&c, &ns).await;
    tls_broker("kafka", &format!("{gw_ns}/edge")).create(&c, &ns).await;

    let ev = wait_event(&c, &ns, "missing", "GatewayNotFound", "does not exist").await;
    assert!(ev.note.unwrap().contains(&format!("Gateway {ns}/no-such-gateway")));
    // The listener admits routes from its own namespace only (the default), on port 443.
    let ev = wait_event(&c, &ns, "kafka", "GatewayRoutesNotAllowed", &format!("excludes namespace {ns}")).await;
    assert!(ev.note.unwrap().contains("from is Same"));
    // The Gateway is in another namespace: the Event says what is wrong, not its listeners' ports.
    let ev = wait_event(&c, &ns, "kafka", "GatewayListenerPortMismatch", "does not listen on the port").await;
    let note = ev.note.unwrap();
    assert!(note.contains("ask the Gateway's owner") && !note.contains("443"), "{note}");

    // The Gateway's controller refuses the route: that reaches the StatefulSet too.
    let tls = routes(&c, &ns, "TLSRoute");
    let route =
        wait_for("the broker's TLSRoute", T, || async { tls.get_opt("kafka-0-external").await.ok().flatten() }).await;
    let status = json!({"status": {"parents": [{
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": gw_ns, "name": "edge", "sectionName": "tls"},
        "controllerName": "example.com/e2e-gateway",
        "conditions": [{
            "type": "Accepted", "status": "False", "reason": "NotAllowedByListeners",
            "message": "no listener admits routes from this namespace",
            "observedGeneration": route.metadata.generation, "lastTransitionTime": "2026-01-01T00:00:00Z",
        }],
    }]}});
    tls.patch_status("kafka-0-external", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    wait_event(&c, &ns, "kafka", "RouteNotAccepted", "no listener admits routes from this namespace").await;

    // A Gateway whose owner lets listeners be written into it (manage-listeners) but granted the
    // controller nothing: a gateway-tcp StatefulSet gets no listener on it (the Gateway as stored is
    // unchanged), and the Event says who grants what.
    let https = json!([{"name": "https", "port": 443, "protocol": "TCP"}]);
    let ann = json!({"kafka-advertiser.io/manage-listeners": "true"});
    create_gateway_with(&c, &gw_ns, "platform", https, json!({"namespaces": {"from": "All"}}), ann).await;
    let before = gateways(&c, &gw_ns).get("platform").await.unwrap();
    Broker::new("tenant", 2)
        .annotate("kafka-advertiser.io/mode", "gateway-tcp")
        .annotate("kafka-advertiser.io/gateway", &format!("{gw_ns}/platform"))
        .annotate("kafka-advertiser.io/port-base", "8443")
        .annotate("kafka-advertiser.io/address", "kafka.example.com")
        .create(&c, &ns)
        .await;
    let ev = wait_event(&c, &ns, "tenant", "GatewayApplyFailed", "may not add listeners").await;
    assert!(ev.note.unwrap().contains("controller.gateways"));
    let after = gateways(&c, &gw_ns).get("platform").await.unwrap();
    assert_eq!(before.data["spec"], after.data["spec"], "the ungranted Gateway was changed");
    assert_eq!(before.metadata.resource_version, after.metadata.resource_version);
}

/// A gateway-tcp StatefulSet on a `manage-listeners` Gateway deleted while no replica runs (so no
/// one saw its Delete event): its listeners are released by the next reconcile of a StatefulSet on
/// the same Gateway.
#[tokio::test]
async fn listeners_of_a_statefulset_deleted_while_no_replica_ran_are_released() {
    let _g = INSTALL.write().await;
    let env = testenv();
    let c = client().await;
    let ns = namespace(&c, "e2e-gwsweep").await;
    create_managed_gateway(&c, &ns, "shared", json!([{"name": "web", "port": 8443, "protocol": "TCP"}])).await;
    let tcp = |name: &str, base: &str| {
        Broker::new(name, 1)
            .annotate("kafka-advertiser.io/mode", "gateway-tcp")
            .annotate("kafka-advertiser.io/gateway", "shared")
            .annotate("kafka-advertiser.io/port-base", base)
            .annotate("kafka-advertiser.io/address", "kafka.example.com")
    };
    tcp("ghost", "19192").create(&c, &ns).await;
    tcp("kafka", "19092").create(&c, &ns).await;
    wait_for("both StatefulSets' listeners", T, || async {
        (listeners(&c, &ns, "shared").await.len() == 3).then_some(())
    })
    .await;

    env.script(&["undeploy"]);
    Api::<StatefulSet>::namespaced(c.clone(), &ns).delete("ghost", &DeleteParams::default()).await.unwrap();
    env.script(&["deploy"]);
    wait_for("the deleted StatefulSet's listener released", T, || async {
        let names: BTreeSet<String> = listeners(&c, &ns, "shared").await.into_iter().map(|(n, _)| n).collect();
        (names == set(&["web", "kafka-0"])).then_some(())
    })
    .await;
}

/// A Gateway whose implementation does not handle ListenerSets (Istio, Traefik and others today):
/// it is programmed and has an address, but reports nothing of ListenerSets (no
/// `status.attachedListenerSets`; the test writes its status as that implementation would, and
/// `gatewayctl` leaves it alone). No broker is given its address (it could not be reached on a
/// listener nobody programs); after 60 s a `ListenerSetsNotSupported` Warning names its class and the
/// alternative. The owner takes the alternative (`manage-listeners`): the broker gets the address.
#[tokio::test]
async fn a_gateway_that_ignores_listener_sets_gets_no_broker_and_a_warning() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-silent").await;
    let web = json!([{"name": "web", "port": 80, "protocol": "HTTP"}]);
    let gw: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "mesh", "namespace": ns},
        "spec": {"gatewayClassName": "e2e-no-listenersets", "listeners": web,
                 "allowedListeners": {"namespaces": {"from": "Same"}}},
    }))
    .unwrap();
    gateways(&c, &ns).create(&PostParams::default(), &gw).await.unwrap();
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let cond = |t: &str| {
        json!({"type": t, "status": "True", "reason": t, "message": "another implementation",
        "observedGeneration": 1, "lastTransitionTime": now})
    };
    let status = json!({"status": {"addresses": [{"type": "IPAddress", "value": "203.0.113.40"}],
        "conditions": [cond("Accepted"), cond("Programmed")]}});
    gateways(&c, &ns).patch_status("mesh", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    Broker::new("kafka", 1)
        .annotate("kafka-advertiser.io/mode", "gateway-tcp")
        .annotate("kafka-advertiser.io/gateway", &format!("{ns}/mesh"))
        .annotate("kafka-advertiser.io/port-base", "19400")
        .create(&c, &ns)
        .await;
    let ev = wait_event(&c, &ns, "kafka", "ListenerSetsNotSupported", "gatewayClassName e2e-no-listenersets").await;
    assert!(ev.note.unwrap().contains("kafka-advertiser.io/manage-listeners=true"));
    assert!(listener_sets(&c, &ns).get("kafka-external").await.unwrap().data["status"].get("listeners").is_none());
    assert!(pods_of(&c, &ns, "kafka").await.is_empty(), "no broker is admitted with an address nobody serves");

    // The alternative: the owner lets kafka-advertiser write the listener into the Gateway itself.
    let ann = json!({"metadata": {"annotations": {"kafka-advertiser.io/manage-listeners": "true"}}});
    gateways(&c, &ns).patch("mesh", &PatchParams::default(), &Patch::Merge(&ann)).await.unwrap();
    grant(&c, &ns, "mesh").await;
    let pods = wait_pods(&c, &ns, "kafka", 1, T).await;
    let v = env_value(&pods[0], "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
    assert!(v.ends_with("EXTERNAL://203.0.113.40:19400"), "{v}");
    assert!(listeners(&c, &ns, "mesh").await.iter().any(|(_, port)| *port == 19400), "the listener is on the Gateway");
}
