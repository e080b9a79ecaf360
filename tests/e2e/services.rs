//! The controller against the real API server, StatefulSet controller, garbage collector and MetalLB.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{json, Value};

use crate::*;

const T: Duration = Duration::from_secs(90);

#[tokio::test]
async fn loadbalancer_mode_scale_and_garbage_collection() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-lb").await;
    let sts = Broker::new("kafka", 3).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    let uid = sts.metadata.uid.clone().unwrap();

    let addrs = converged(&c, &ns, "kafka", 3, 9094).await;
    let distinct: std::collections::BTreeSet<_> = addrs.values().collect();
    assert_eq!(distinct.len(), 3, "each broker has its own address: {addrs:?}");
    for ip in addrs.values() {
        assert!(in_test_pool(ip), "MetalLB assigned {ip} outside the test pool");
    }
    // Owned by the StatefulSet (so the garbage collector can remove them), LoadBalancer, one port.
    for (name, svc) in services_of(&c, &ns, "kafka").await {
        let owner = &svc.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("StatefulSet", "kafka", uid.as_str()),
            "{name}"
        );
        assert_eq!(owner.controller, Some(true));
        let spec = svc.spec.as_ref().unwrap();
        assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
        assert_eq!(spec.ports.as_ref().unwrap()[0].port, 9094);
        let sel = spec.selector.as_ref().unwrap();
        assert_eq!(
            sel.get("statefulset.kubernetes.io/pod-name").map(String::as_str),
            Some(format!("kafka-{}", svc.labels()["kafka-advertiser.io/ordinal"]).as_str())
        );
    }
    // The StatefulSet shows every broker's external address, in ordinal order.
    let want: Vec<String> = addrs.values().map(|ip| format!("{ip}:9094")).collect();
    let sts = wait_for("the external-bootstrap annotation", T, || async {
        let sts: StatefulSet = Api::namespaced(c.clone(), &ns).get("kafka").await.ok()?;
        (sts.annotations().get("kafka-advertiser.io/external-bootstrap") == Some(&want.join(","))).then_some(sts)
    })
    .await;
    assert!(sts.annotations().contains_key("kafka-advertiser.io/addresses-ready"), "{:?}", sts.annotations());

    scale(&c, &ns, "kafka", 5).await;
    let five = converged(&c, &ns, "kafka", 5, 9094).await;
    for o in 0..3 {
        assert_eq!(five[&o], addrs[&o], "broker {o} kept its address across the scale-up");
    }
    scale(&c, &ns, "kafka", 2).await;
    let two = converged(&c, &ns, "kafka", 2, 9094).await;
    assert_eq!(two.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
    let names: Vec<String> = services_of(&c, &ns, "kafka").await.into_keys().collect();
    assert_eq!(names, vec!["kafka-0-external".to_string(), "kafka-1-external".to_string()]);
    let want = format!("{}:9094,{}:9094", two[&0], two[&1]);
    wait_for("external-bootstrap follows the scale-down", T, || async {
        let sts: StatefulSet = Api::namespaced(c.clone(), &ns).get("kafka").await.ok()?;
        (sts.annotations().get("kafka-advertiser.io/external-bootstrap") == Some(&want)).then_some(())
    })
    .await;

    // Deleting the StatefulSet: the real garbage collector removes the Services it owned.
    Api::<StatefulSet>::namespaced(c.clone(), &ns).delete("kafka", &DeleteParams::background()).await.unwrap();
    wait_for("Services garbage-collected", T, || async {
        services_of(&c, &ns, "kafka").await.is_empty().then_some(())
    })
    .await;
}

/// shared-address mode with MetalLB's sharing annotations: every broker Service gets the one IP.
#[tokio::test]
async fn shared_address_mode_gets_one_metallb_ip() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-shared").await;
    // An address from the test pool that nothing holds yet.
    let ip = &free_pool_ip(&c).await;
    Broker::new("shared", 3)
        .annotate("kafka-advertiser.io/mode", "shared-address")
        .annotate("kafka-advertiser.io/address", ip)
        .annotate("kafka-advertiser.io/port-base", "19092")
        .create(&c, &ns)
        .await;
    let pods = wait_pods(&c, &ns, "shared", 3, T).await;
    for (i, p) in pods.iter().enumerate() {
        let v = env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
        assert!(v.ends_with(&format!("EXTERNAL://{ip}:{}", 19092 + i)), "{v}");
    }
    let svcs = wait_for("MetalLB gave every broker Service the shared IP", T, || async {
        let svcs = services_of(&c, &ns, "shared").await;
        (svcs.len() == 3 && svcs.values().all(|s| ingress_ip(s).as_deref() == Some(ip))).then_some(svcs)
    })
    .await;
    let mut ports: Vec<i32> = svcs.values().map(|s| s.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].port).collect();
    ports.sort();
    assert_eq!(ports, vec![19092, 19093, 19094]);
    // A Service-only setting on the StatefulSet's own metadata: the Services follow, no broker restarts.
    let uids: Vec<_> = pods.iter().map(|p| p.metadata.uid.clone()).collect();
    Api::<StatefulSet>::namespaced(c.clone(), &ns)
        .patch(
            "shared",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"metadata": {"annotations": {"kafka-advertiser.io/service-labels": "team: streaming"}}})),
        )
        .await
        .unwrap();
    wait_for("the Services carry the label set on the StatefulSet", T, || async {
        let svcs = services_of(&c, &ns, "shared").await;
        svcs.values().all(|s| s.labels().get("team").map(String::as_str) == Some("streaming")).then_some(())
    })
    .await;
    let now: Vec<_> = pods_of(&c, &ns, "shared").await.iter().map(|p| p.metadata.uid.clone()).collect();
    assert_eq!(uids, now, "no broker was restarted");
    // Both MetalLB annotation generations (MetalLB before 0.14.9 reads only metallb.universe.tf/).
    for svc in svcs.values() {
        let a = svc.annotations();
        for prefix in ["metallb.io", "metallb.universe.tf"] {
            assert_eq!(a.get(&format!("{prefix}/loadBalancerIPs")).map(String::as_str), Some(ip.as_str()), "{a:?}");
            assert!(a.contains_key(&format!("{prefix}/allow-shared-ip")), "{a:?}");
        }
    }
}

/// A Service the API refuses: a Warning Event on the StatefulSet with the API's reason, and the
/// rest of the reconcile (the other brokers' Services, their admission) still happens.
#[tokio::test]
async fn refused_service_is_a_warning_event_and_the_rest_still_happens() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-refused").await;
    // 52 characters: the longest StatefulSet name whose pods still get a controller-revision-hash
    // label. `<name>-10-external` is 64 characters: the API refuses that Service name.
    let name = "kafka-with-a-rather-long-name-for-ordinals-past-nine";
    assert_eq!(name.len(), 52);
    Broker::new(name, 11).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    let ev = wait_event(&c, &ns, name, "ServiceApplyFailed", "-10-external").await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    let note = ev.note.unwrap_or_default();
    assert!(note.contains("63") || note.contains("must be no more than"), "the Event says why: {note}");
    // The ten other brokers got their Services and addresses, and were admitted.
    let ten = wait_for("brokers 0..9 admitted with their addresses", T, || async {
        let pods: Vec<Pod> = pods_of(&c, &ns, name)
            .await
            .into_iter()
            .filter(|p| {
                env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS")
                    .is_some_and(|v| external_host(&v).is_some_and(in_test_pool))
            })
            .collect();
        (pods.len() == 10).then_some(pods)
    })
    .await;
    assert!(ten.iter().all(|p| ordinal_of(&p.name_any()) < 10));
}

#[tokio::test]
async fn bad_source_range_is_a_warning_event() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-cidr").await;
    Broker::new("cidr", 3)
        .annotate("kafka-advertiser.io/mode", "loadbalancer")
        .annotate("kafka-advertiser.io/load-balancer-source-ranges", "10.0.0.0/33")
        .create(&c, &ns)
        .await;
    // The API server refuses each broker Service; the controller says so once per Service (the Event
    // related to it), so one refusal did not stop the rest of the reconcile from trying the others.
    let refused = wait_for("a Warning Event per refused broker Service", T, || async {
        let evs: Vec<_> = events_about(&c, &ns, "StatefulSet", "cidr")
            .await
            .into_iter()
            .filter(|e| {
                e.type_.as_deref() == Some("Warning") && e.note.as_deref().unwrap_or("").contains("10.0.0.0/33")
            })
            .collect();
        let services: std::collections::BTreeSet<String> =
            evs.iter().filter_map(|e| e.related.as_ref().and_then(|r| r.name.clone())).collect();
        (services.len() == 3).then_some(evs)
    })
    .await;
    for ev in &refused {
        assert_eq!(ev.reason.as_deref(), Some("ServiceApplyFailed"), "{ev:?}");
    }
    assert!(services_of(&c, &ns, "cidr").await.is_empty(), "no Service was stored");
}

/// The nudge, not the StatefulSet controller's back-off, is what retries a refused broker. The test
/// plays the load balancer (a class nothing here serves), so it decides when the address exists.
/// From the API server's audit log: the StatefulSet controller's refused creates come further and
/// further apart (its queue's exponential back-off); after the address, kafka-advertiser writes the
/// StatefulSet (the nudge) and the admitted create follows at once, before the back-off's next retry
/// could have come (that one is due no earlier than the last gap after the last refusal).
#[tokio::test]
async fn the_nudge_retries_a_refused_broker_before_the_back_off_would() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-nudge").await;
    let audit = Audit::mark();
    Broker::new("kafka", 1)
        .annotate("kafka-advertiser.io/mode", "loadbalancer")
        .annotate("kafka-advertiser.io/load-balancer-class", "e2e.kafka-advertiser.io/played-by-the-test")
        .create(&c, &ns)
        .await;
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(c.clone(), &ns);
    wait_for("kafka-0-external", T, || async { services.get_opt("kafka-0-external").await.ok().flatten() }).await;
    // Refused creates at about 5 ms × 2ⁿ: after 25 s the gaps are seconds long.
    tokio::time::sleep(Duration::from_secs(25)).await;
    // A loopback address outside MetalLB's pool that nothing connects to: a distinct one per run.
    let ip = format!("127.0.9.{}", std::process::id() % 250 + 1);
    let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}});
    let addressed = k8s_openapi::jiff::Timestamp::now();
    services.patch_status("kafka-0-external", &PatchParams::default(), &Patch::Merge(status)).await.unwrap();
    wait_pods(&c, &ns, "kafka", 1, T).await;

    let entries: Vec<Value> =
        audit.entries().into_iter().filter(|e| e["objectRef"]["namespace"] == ns.as_str()).collect();
    let creates: Vec<(k8s_openapi::jiff::Timestamp, i64)> = entries
        .iter()
        .filter(|e| e["verb"] == "create" && e["objectRef"]["resource"] == "pods")
        .map(|e| (audit_time(e), e["responseStatus"]["code"].as_i64().unwrap_or(0)))
        .collect();
    let (admitted, refused) = creates.split_last().expect("the StatefulSet controller's creates are audited");
    assert_eq!(admitted.1, 201, "the last create is the admitted one: {creates:?}");
    assert!(refused.iter().all(|(_, code)| *code != 201), "one admitted create: {creates:?}");
    assert!(refused.len() >= 6, "the StatefulSet controller backed off a while: {creates:?}");
    let at = |i: usize| refused[i].0;
    let (last, gap) = (at(refused.len() - 1), at(refused.len() - 1).duration_since(at(refused.len() - 2)));
    assert!(gap.as_secs_f64() >= 2.0, "the back-off had grown to seconds: {creates:?}");
    let nudge = entries
        .iter()
        .filter(|e| {
            audit_is_ours(e)
                && (e["verb"] == "patch" || e["verb"] == "apply")
                && e["objectRef"]["resource"] == "statefulsets"
        })
        .filter(|e| e["objectRef"]["subresource"].is_null())
        .map(audit_time)
        .rfind(|t| *t >= addressed && *t <= admitted.0)
        .expect("kafka-advertiser wrote the StatefulSet between the address and the admitted create");
    let after_nudge = admitted.0.duration_since(nudge).as_secs_f64();
    let after_last = admitted.0.duration_since(last).as_secs_f64();
    eprintln!(
        "nudge: {} refused creates, last gap {:.2} s; admitted {:.3} s after the nudge, {:.2} s after the last refusal, \
         {:.3} s after the address",
        refused.len(),
        gap.as_secs_f64(),
        after_nudge,
        after_last,
        admitted.0.duration_since(addressed).as_secs_f64()
    );
    assert!(after_nudge < 2.0, "the admitted create followed the nudge: {after_nudge:.3} s after it");
    assert!(
        after_last < gap.as_secs_f64(),
        "the admitted create came {after_last:.2} s after the last refusal, sooner than the back-off's next \
         retry (no earlier than {:.2} s)",
        gap.as_secs_f64()
    );
    let sts: StatefulSet = Api::namespaced(c.clone(), &ns).get("kafka").await.unwrap();
    assert!(sts.annotations().contains_key("kafka-advertiser.io/addresses-ready"), "{:?}", sts.annotations());
}

/// An install scoped to two namespaces (`--namespace a,b`), asked by the API server. The scoped
/// replica runs beside the deployed ones with the same ServiceAccount token and never leads (its Lease
/// namespace is not granted), so the shared controller keeps the Services; the shared webhook skips
/// these namespaces (its off switch) and a webhook configuration of the replica's own sends it their
/// pods, as a namespaced install's would. Both namespaces' brokers are created with their addresses
/// (one namespace's re-list must not wipe the other's view); a third namespace the configuration
/// sends but the install does not watch gets its pods refused, the refusal saying what to change.
#[tokio::test]
async fn namespace_scoped_install_keeps_every_namespace() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let a = namespace(&c, "e2e-scope-a").await;
    let b = namespace(&c, "e2e-scope-b").await;
    let out = namespace(&c, "e2e-scope-out").await;
    let scoped = Scoped::start(testenv(), &format!("{a},{b}"));
    wait_for("the scoped replica's /readyz", Duration::from_secs(30), || async {
        let r = reqwest::get(format!("http://127.0.0.1:{}/readyz", scoped.admin)).await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let _hook = scoped.register(&c, &a).await;
    let label = json!({"metadata": {"labels": {"kafka-advertiser.io/webhook": "disabled", SCOPED_LABEL: a}}});
    for ns in [&a, &b, &out] {
        Api::<k8s_openapi::api::core::v1::Namespace>::all(c.clone())
            .patch(ns, &PatchParams::default(), &Patch::Merge(&label))
            .await
            .unwrap();
        Broker::new("kafka", 2).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, ns).await;
    }
    let want_a = converged(&c, &a, "kafka", 2, 9094).await;
    let want_b = converged(&c, &b, "kafka", 2, 9094).await;
    assert_eq!(want_a.len() + want_b.len(), 4);
    let metrics =
        reqwest::get(format!("http://127.0.0.1:{}/metrics", scoped.admin)).await.unwrap().text().await.unwrap();
    let patched = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kafka_advertiser_admission_requests_total{outcome=\"patched\"} "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(patched >= Some(4.0), "the scoped replica admitted the four brokers: {patched:?}");

    let refusal = wait_for("the out-of-scope namespace's refusal", T, || async {
        let events = events_about(&c, &out, "StatefulSet", "kafka").await;
        events.into_iter().filter_map(|e| e.note).find(|n| n.contains("is not watched by this install"))
    })
    .await;
    assert!(
        refusal.contains(&format!("namespace {out} is not watched")) && refusal.contains("--namespace"),
        "{refusal}"
    );
    assert!(pods_of(&c, &out, "kafka").await.is_empty(), "no broker of {out} was created");
}

/// Two nodeport StatefulSets on the same node-port range: the second one's brokers would advertise
/// ports that route to the first one's. Its pods are refused with a message naming the clash (in the
/// StatefulSet controller's FailedCreate Event), and its Services' refusal is a ServiceApplyFailed Event.
#[tokio::test]
async fn node_port_clash_is_refused_and_reported() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let a = namespace(&c, "e2e-np-a").await;
    let b = namespace(&c, "e2e-np-b").await;
    // kube-apiserver hands out the node ports it picks itself from the top of the range first and
    // keeps the bottom band (30000–30085 for the default range) for ports asked for by number: a
    // base there that no Service holds now (earlier runs on this control plane may) cannot meet a
    // port the API server gives another test's LoadBalancer Service meanwhile.
    let held: std::collections::BTreeSet<i32> = Api::<k8s_openapi::api::core::v1::Service>::all(c.clone())
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .flat_map(|s| s.spec.iter().flat_map(|sp| sp.ports.iter().flatten()))
        .filter_map(|p| p.node_port)
        .collect();
    let base = (30000..30084)
        .find(|p| !held.contains(p) && !held.contains(&(p + 1)))
        .expect("two free node ports in the static band")
        .to_string();
    let broker = || {
        Broker::new("kafka", 2)
            .annotate("kafka-advertiser.io/mode", "nodeport")
            .annotate("kafka-advertiser.io/node-port-base", &base)
    };
    broker().create(&c, &a).await;
    wait_for("the first StatefulSet's NodePort Services", T, || async {
        // A refusal here is a broken test set-up, not the clash under test: say which one.
        if let Some(e) = events_about(&c, &a, "StatefulSet", "kafka")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("ServiceApplyFailed"))
        {
            panic!("the first StatefulSet's Services were refused: {:?}", e.note);
        }
        let svcs = services_of(&c, &a, "kafka").await;
        (svcs.len() == 2).then_some(())
    })
    .await;
    wait_pods(&c, &a, "kafka", 2, T).await;
    webhook_has_read_the_services_so_far(&c, &b).await;

    broker().create(&c, &b).await;
    let ev = wait_event(&c, &b, "kafka", "FailedCreate", "is already held").await;
    let note = ev.note.unwrap();
    // It names the clash and the fix, but nothing of the other namespace.
    assert!(note.contains("another namespace") && note.contains("node-port-base"), "{note}");
    assert!(!note.contains(&a), "the denial in {b} names namespace {a}: {note}");
    wait_event(&c, &b, "kafka", "ServiceApplyFailed", "").await;
    assert!(pods_of(&c, &b, "kafka").await.is_empty(), "no broker may advertise another StatefulSet's ports");
}

/// Instead of sleeping for "every replica's Service watch" (which passes, bug or no bug, whenever the
/// watch is slower): a `probe` broker in `ns`, admitted only once the webhook has read its Service's
/// address, which was written after every Service the test wrote before. One watch stream delivers
/// a kind's events in order, so the replica that admits it has read those too. (The host-process
/// installs are called over one HTTP/2 connection, so one replica admits every broker; through the
/// chart's Service another replica may admit the next one.)
async fn webhook_has_read_the_services_so_far(c: &kube::Client, ns: &str) {
    Broker::new("probe", 1).annotate("kafka-advertiser.io/mode", "loadbalancer").create(c, ns).await;
    converged(c, ns, "probe", 1, 9094).await;
}

/// Someone who may edit a load balancer's Service cannot redirect its broker: a `gateway-address`
/// annotation counts on gateway-tcp's ClusterIP Services only, so the recreated broker advertises the
/// load balancer's address as before.
#[tokio::test]
async fn a_gateway_address_written_on_a_load_balancer_service_is_ignored() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-lbaddr").await;
    Broker::new("kafka", 1).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    let before = converged(&c, &ns, "kafka", 1, 9094).await;
    let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(c.clone(), &ns);
    let bad = json!({"metadata": {"annotations": {"kafka-advertiser.io/gateway-address": "evil.example.com"}}});
    svcs.patch("kafka-0-external", &PatchParams::default(), &Patch::Merge(&bad)).await.unwrap();
    webhook_has_read_the_services_so_far(&c, &ns).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), &ns);
    pods.delete("kafka-0", &DeleteParams::default()).await.unwrap();
    assert_eq!(converged(&c, &ns, "kafka", 1, 9094).await, before);
}

/// An address that is not an IP or a DNS name never reaches a broker's env (where the kubelet expands
/// `$(VAR)`): here what a Gateway's controller published. No broker is given it, and the StatefulSet
/// gets an InvalidAddress Warning naming the source.
#[tokio::test]
async fn an_address_that_is_not_a_host_is_refused_naming_its_source() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-badaddr").await;
    let gateways = Api::<kube::api::DynamicObject>::namespaced_with(
        c.clone(),
        &ns,
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "Gateway"),
            "gateways",
        ),
    );
    let gw: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": ns},
        "spec": {"gatewayClassName": "e2e", "listeners": [{"name": "web", "port": 8443, "protocol": "TCP"}],
            "allowedListeners": {"namespaces": {"from": "Same"}}}}))
    .unwrap();
    gateways.create(&Default::default(), &gw).await.unwrap();
    // An implementation-specific address type: the Gateway API does not constrain its value.
    let status = json!({"status": {"addresses": [{"type": "example.com/custom", "value": "$(KAFKA_PASSWORD)"}]}});
    gateways.patch_status("gw", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    Broker::new("kafka", 1)
        .annotate("kafka-advertiser.io/mode", "gateway-tcp")
        .annotate("kafka-advertiser.io/gateway", "gw")
        .annotate("kafka-advertiser.io/port-base", "19700")
        .create(&c, &ns)
        .await;
    let ev = wait_event(&c, &ns, "kafka", "InvalidAddress", "$(KAFKA_PASSWORD)").await;
    assert!(ev.note.unwrap().contains("status.addresses[0].value"));
    // The StatefulSet controller tried and was refused (not: nothing had tried yet).
    wait_event(&c, &ns, "kafka", "FailedCreate", "denied the request").await;
    assert!(pods_of(&c, &ns, "kafka").await.is_empty(), "no broker is given it");
    let svc = svcs_of(&c, &ns).await;
    assert!(svc.iter().all(|a| a.as_deref() != Some("$(KAFKA_PASSWORD)")), "{svc:?}");
}

async fn svcs_of(c: &kube::Client, ns: &str) -> Vec<Option<String>> {
    let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(c.clone(), ns);
    let list = svcs.list(&Default::default()).await.unwrap().items;
    list.iter()
        .map(|s| s.metadata.annotations.as_ref().and_then(|a| a.get("kafka-advertiser.io/gateway-address")).cloned())
        .collect()
}
