//! Adopting hand-made Services with consent, without changing their address; giving Services back
//! on the way out.

use super::*;

/// A Service made by hand for broker `ordinal`, as the manual setup makes it, holding `ip`.
fn hand_made(ordinal: u32, ip: &str, extra: Value) -> Service {
    let mut v = json!({
        "metadata": {"name": format!("kafka-{ordinal}-external"), "namespace": "streaming",
            "annotations": {"kafka-advertiser.io/adopt": "kafka"}},
        "spec": {"type": "LoadBalancer", "selector": {"statefulset.kubernetes.io/pod-name": format!("kafka-{ordinal}")},
            "ports": [{"name": "kafka", "port": 9094, "targetPort": 9094}], "externalTrafficPolicy": "Cluster"},
        "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}
    });
    json_patch::merge(&mut v, &extra);
    serde_json::from_value(v).unwrap()
}

fn objects(p: &Plan) -> Vec<Note> {
    p.problems.iter().filter(|(s, _)| *s == ProblemSet::Objects).flat_map(|(_, n)| n.clone()).collect()
}

#[test]
fn a_service_that_asks_to_be_adopted_is_taken_over_with_its_address() {
    let mut o = observed(sts(2, json!({})));
    o.foreign.insert("kafka-0-external".into(), hand_made(0, "203.0.113.50", json!({})));
    let p = run(&o);
    let adopted = p.apply.iter().find(|a| a.name == "kafka-0-external").expect("applied");
    assert!(!adopted.fresh, "it exists: no create-only check");
    let done = adopted.done.as_ref().unwrap();
    assert_eq!((done.reason, done.note.contains("203.0.113.50")), ("ServiceAdopted", true), "{}", done.note);
    assert_eq!(adopted.body["metadata"]["ownerReferences"][0]["uid"], "sts-uid");
    assert_eq!(adopted.body["metadata"]["labels"][STATEFULSET_LABEL], "kafka");
    // Broker 1 has no Service yet: made as usual.
    assert!(p
        .apply
        .iter()
        .any(|a| a.name == "kafka-1-external" && a.done.as_ref().unwrap().reason == "ServiceCreated"));
    assert!(objects(&p).is_empty(), "{:?}", objects(&p));
}

#[test]
fn without_consent_or_for_another_statefulset_it_is_a_conflict() {
    for extra in
        [json!({"metadata": {"annotations": null}}), json!({"metadata": {"annotations": {ANN_ADOPT: "other"}}})]
    {
        let mut o = observed(sts(1, json!({})));
        o.foreign.insert("kafka-0-external".into(), hand_made(0, "203.0.113.50", extra));
        let p = run(&o);
        assert!(!p.apply.iter().any(|a| a.kind == Kind::Service), "{:?}", kinds(&p));
        assert_eq!(objects(&p)[0].reason, "ServiceConflict");
    }
    // Controlled by something else: never taken, whatever it asks.
    let owned = json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "x",
        "uid": "x-uid", "controller": true}]}});
    let mut o = observed(sts(1, json!({})));
    o.foreign.insert("kafka-0-external".into(), hand_made(0, "203.0.113.50", owned));
    let p = run(&o);
    assert!(!p.apply.iter().any(|a| a.kind == Kind::Service));
    assert!(objects(&p)[0].note.contains("another object controls it"), "{:?}", objects(&p));
}

/// Whatever would release or move the address writes nothing and says what differs.
#[test]
fn what_would_change_the_address_is_refused_naming_the_difference() {
    let cases = [
        (json!({"spec": {"type": "NodePort"}}), json!({}), "type NodePort would become LoadBalancer"),
        (
            json!({"spec": {"loadBalancerClass": "example.com/a"}}),
            json!({"kafka-advertiser.io/load-balancer-class": "example.com/b"}),
            "loadBalancerClass example.com/a would become example.com/b",
        ),
        (
            json!({"metadata": {"annotations": {"metallb.io/loadBalancerIPs": "203.0.113.50"}}}),
            json!({"kafka-advertiser.io/service-annotations": "{\"metallb.io/loadBalancerIPs\": \"203.0.113.60\"}"}),
            "annotation metallb.io/loadBalancerIPs 203.0.113.50 would become 203.0.113.60",
        ),
    ];
    for (extra, settings, says) in cases {
        let mut o = observed(sts(1, settings));
        o.foreign.insert("kafka-0-external".into(), hand_made(0, "203.0.113.50", extra));
        let p = run(&o);
        assert!(!p.apply.iter().any(|a| a.kind == Kind::Service), "{says}: {:?}", kinds(&p));
        let n = &objects(&p)[0];
        assert_eq!(n.reason, "AdoptionWouldChangeAddress");
        assert!(n.note.contains(says), "{}", n.note);
    }
    // What the StatefulSet leaves unset is kept, not a difference: the pinned IP stays.
    let pinned = json!({"metadata": {"annotations": {"metallb.io/loadBalancerIPs": "203.0.113.50"}}});
    let mut o = observed(sts(1, json!({})));
    o.foreign.insert("kafka-0-external".into(), hand_made(0, "203.0.113.50", pinned));
    assert!(run(&o).apply.iter().any(|a| a.name == "kafka-0-external"));
}

/// Under an access class, what a Service brings is judged like anything else.
#[test]
fn under_a_class_the_kept_address_must_be_allowed() {
    let class = crate::spec::class::Class::from_value(&json!({"metadata": {"name": "lan", "annotations": {
        crate::spec::class::ANN_DEFAULT_CLASS: "true"}}, "spec": {"addressRanges": ["198.51.100.0/24"]}}))
    .unwrap();
    let book = ClusterView::new();
    book.set_classes(vec![Arc::new(class)]);
    book.set_namespace_labels("streaming", Some(Default::default()));
    let mut o = observed(sts(1, json!({})));
    o.foreign.insert("kafka-0-external".into(), hand_made(0, "203.0.113.50", json!({})));
    let p = plan_in(&o, &Defaults::default(), &book);
    assert!(!p.apply.iter().any(|a| a.kind == Kind::Service));
    let n = &objects(&p)[0];
    assert_eq!(n.reason, "AddressNotAllowed");
    assert!(n.note.contains("203.0.113.50") && n.note.contains("asks to be adopted"), "{}", n.note);
    o.foreign.insert("kafka-0-external".into(), hand_made(0, "198.51.100.7", json!({})));
    assert!(plan_in(&o, &Defaults::default(), &book).apply.iter().any(|a| a.name == "kafka-0-external"));
}

fn opted_out(mut o: Observed, sts_annotations: Value) -> Observed {
    let mut off = (*o.sts).clone();
    let labels = off.spec.as_mut().unwrap().template.metadata.as_mut().unwrap().labels.as_mut().unwrap();
    labels.remove(ENABLED_LABEL);
    let own: BTreeMap<String, String> = serde_json::from_value(sts_annotations).unwrap();
    off.metadata.annotations.get_or_insert_with(Default::default).extend(own);
    o.sts = Arc::new(off);
    o
}

/// On the way out, an adopted Service is released (never deleted), and with keep-services every one.
#[test]
fn opting_out_releases_adopted_services_and_with_keep_services_every_one() {
    let mut o = observed(sts(2, json!({})));
    o.foreign.insert("kafka-0-external".into(), hand_made(0, "203.0.113.50", json!({})));
    let mut o = converge(&o, &run(&o));
    o.foreign.clear();
    assert_eq!(o.services.len(), 2);
    // The API merges the apply into the Service: its maker's annotation stays (converge keeps our body).
    for s in o.services.iter_mut().filter(|s| s.metadata.name.as_deref() == Some("kafka-0-external")) {
        let mut svc = (**s).clone();
        svc.annotations_mut().insert(ANN_ADOPT.into(), "kafka".into());
        *s = Arc::new(svc);
    }
    let p = run(&opted_out(o.clone(), json!({})));
    assert_eq!(p.release.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["kafka-0-external"]);
    assert!(kinds(&p).contains(&"delete Service kafka-1-external".to_owned()), "{:?}", kinds(&p));
    let r = &p.release[0];
    assert_eq!(r.done.reason, "ServiceReleased");
    let meta = &r.keep["metadata"];
    assert!(meta.get("ownerReferences").is_none() && meta["labels"].get(STATEFULSET_LABEL).is_none(), "{meta}");
    assert!(meta["annotations"].get(ANN_INTENT).is_none() && meta["annotations"][ANN_ADOPT] == "kafka", "{meta}");
    assert_eq!(r.keep["spec"]["type"], "LoadBalancer");
    assert_eq!(p.requeue, Some(SOON));

    let p = run(&opted_out(o.clone(), json!({ANN_KEEP_SERVICES: "true"})));
    assert_eq!(p.release.len(), 2);
    assert!(!kinds(&p).iter().any(|k| k.starts_with("delete Service")), "{:?}", kinds(&p));
    let o = converge(&opted_out(o, json!({ANN_KEEP_SERVICES: "true"})), &p);
    assert!(run(&o).release.is_empty(), "given back once");
}
