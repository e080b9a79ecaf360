//! What a StatefulSet may no longer have is taken back: a class tightened, a host name another
//! StatefulSet holds.

use super::*;

/// Under an access class: its settings decide the objects; a setting it does not hand out writes
/// nothing; tightening a class in use takes back what it no longer allows (N11), each deletion a
/// ClassViolation Event; a class that is gone leaves what exists until it can be told.
#[test]
fn an_access_class_decides_and_tightening_it_takes_back_what_it_no_longer_allows() {
    let class = |settings: Value, tenant: Value| {
        Arc::new(
            crate::spec::class::Class::from_value(&json!({"metadata": {"name": "internet", "annotations": {
                crate::spec::class::ANN_DEFAULT_CLASS: "true"}}, "spec": {"settings": settings, "tenantSettings": tenant}}))
            .unwrap(),
        )
    };
    let book = ClusterView::new();
    book.set_classes(vec![class(json!({"service-labels": "{\"zone\": \"public\"}"}), json!(["port"]))]);
    let o = observed(sts(2, json!({"kafka-advertiser.io/port": "9095"})));
    let p = plan_in(&o, &Defaults::default(), &book);
    let svc = p.apply.iter().find(|a| a.kind == Kind::Service).unwrap();
    assert_eq!(svc.body["metadata"]["labels"]["zone"], "public", "the class's settings apply");
    assert_eq!(svc.body["spec"]["ports"][0]["port"], 9095, "the tenant's allowed one too");
    assert_eq!(p.status.class.as_deref(), Some("internet"));

    // The class is deleted (or renamed) while in use: nothing is written or deleted until it is back.
    let o = converge(&o, &p);
    book.set_classes(vec![]);
    let named = observed(sts(2, json!({"kafka-advertiser.io/port": "9095", "kafka-advertiser.io/class": "internet"})));
    let kept = plan_in(&Observed { services: o.services.clone(), ..named }, &Defaults::default(), &book);
    assert!(kinds(&kept).is_empty(), "{:?}", kinds(&kept));
    assert_eq!(kept.problems[0].1[0].reason, "ClassViolation");

    // The platform takes `port` away: what the class no longer allows is taken back.
    book.set_classes(vec![class(json!({}), json!([]))]);
    let p = plan_in(&o, &Defaults::default(), &book);
    assert_eq!(
        kinds(&p),
        [
            "delete ConfigMap kafka-external-bootstrap",
            "delete Service kafka-0-external",
            "delete Service kafka-1-external"
        ]
    );
    for d in &p.delete {
        let done = d.done.as_ref().unwrap();
        assert_eq!(done.reason, "ClassViolation");
        assert!(
            done.note.contains("kafka-advertiser.io/port is fixed by ExternalAccessClass internet"),
            "{}",
            done.note
        );
    }
    let template = &p.problems.iter().find(|(k, _)| *k == ProblemSet::Template).unwrap().1;
    assert_eq!(template[0].reason, "ClassViolation");
    // A new StatefulSet asking the same: ClassSettingRefused, nothing made.
    let p = plan_in(&observed(sts(1, json!({"kafka-advertiser.io/port": "9095"}))), &Defaults::default(), &book);
    assert!(kinds(&p).is_empty());
    assert_eq!(p.problems[0].1[0].reason, "ClassSettingRefused");
}

/// A host name another StatefulSet holds (older, any namespace) is not written for the newcomer:
/// no Service, route or Certificate, its objects taken back, `HostnameConflict` naming only the
/// host name (N3).
#[test]
fn a_host_name_another_statefulset_holds_gets_nothing() {
    let hostname = |ns: &str, at: &str| {
        crate::testing::StatefulSetFixture::new("kafka", ns)
            .uid(&format!("{ns}-uid"))
            .created(at)
            .annotations(json!({"kafka-advertiser.io/mode": "hostname",
                "kafka-advertiser.io/hostname-template": "{pod}.shared.example.com"}))
            .build()
    };
    let book = ClusterView::new();
    let (old, new) = (hostname("team-b", "2026-12-01T00:00:00Z"), hostname("team-a", "2026-12-02T00:00:00Z"));
    for s in [&new, &old] {
        book.set_claims(s.metadata.namespace.as_deref().unwrap(), "kafka", Some(s), &Defaults::default());
    }
    let holder = plan_in(&observed(old), &Defaults::default(), &book);
    assert!(holder.apply.iter().any(|a| a.kind == Kind::Service), "the older one keeps it");
    let o = observed(new.clone());
    let fresh = plan_in(&o, &Defaults::default(), &book);
    assert!(kinds(&fresh).is_empty(), "{:?}", kinds(&fresh));
    let note = &fresh.problems[0].1[0];
    assert_eq!(note.reason, "HostnameConflict");
    assert!(note.note.contains("kafka-0.shared.example.com") && !note.note.contains("team-b"), "{}", note.note);
    // Objects it made before the older claim was known (a watch lagging) are taken back, with its
    // annotations.
    let alone = ClusterView::new();
    alone.set_claims("team-a", "kafka", Some(&new), &Defaults::default());
    let made = converge(&o, &plan_in(&o, &Defaults::default(), &alone));
    let p = plan_in(&made, &Defaults::default(), &book);
    assert_eq!(
        kinds(&p),
        ["apply StatefulSet kafka", "delete ConfigMap kafka-external-bootstrap", "delete Service kafka-0-external"]
    );
    assert!(p.delete.iter().all(|d| d.done.as_ref().unwrap().reason == "HostnameConflict"));
}

/// Open tenancy with classes written but no default: a StatefulSet naming none is told that nothing
/// bounds it, and counted (N11); naming one, it is not.
#[test]
fn a_statefulset_naming_no_class_where_classes_exist_is_warned() {
    let book = ClusterView::new();
    let class = crate::spec::class::Class::from_value(&json!({"metadata": {"name": "internet"}, "spec": {}})).unwrap();
    book.set_classes(vec![Arc::new(class)]);
    let p = plan_in(&observed(sts(1, json!({}))), &Defaults::default(), &book);
    let template = &p.problems.iter().find(|(k, _)| *k == ProblemSet::Template).unwrap().1;
    assert!(
        template.iter().any(|n| n.reason == "NoAccessClass" && n.note.contains("--tenancy classes")),
        "{template:?}"
    );
    assert!(p.status.unclassed);
    let p = plan_in(&observed(sts(1, json!({"kafka-advertiser.io/class": "internet"}))), &Defaults::default(), &book);
    assert!(!p.status.unclassed && p.problems.iter().all(|(_, n)| n.iter().all(|n| n.reason != "NoAccessClass")));
    // No class anywhere: a single-tenant cluster hears nothing.
    assert!(!run(&observed(sts(1, json!({})))).status.unclassed);
}
