//! Access classes (`ExternalAccessClass`) against the real API server, tried as a tenant with only
//! `edit` in its namespace: the platform's class fixes the settings, a tenant's extra setting or an
//! out-of-range port is refused (denial and Warning Event, nothing written), a namespace the class
//! does not select cannot use it, and the legitimate path gets the class's settings.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::*;

fn classes(c: &Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("kafka-advertiser.io", "v1alpha1", "ExternalAccessClass");
    Api::all_with(c.clone(), &ApiResource::from_gvk_with_plural(&gvk, "externalaccessclasses"))
}

async fn services(c: &Client, ns: &str) -> usize {
    Api::<Service>::namespaced(c.clone(), ns).list(&ListParams::default()).await.unwrap().items.len()
}

#[tokio::test]
async fn a_tenant_gets_what_its_class_allows_and_nothing_else() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let team = namespace(&c, "e2e-team-a").await;
    let label = team.rsplit('-').next().unwrap().to_owned();
    let labelled = json!({"metadata": {"labels": {"e2e-tenant": label}}});
    Api::<Namespace>::all(c.clone()).patch(&team, &PatchParams::default(), &Patch::Merge(&labelled)).await.unwrap();
    let name = format!("e2e-internet-{label}");
    let class: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kafka-advertiser.io/v1alpha1", "kind": "ExternalAccessClass",
        "metadata": {"name": name},
        "spec": {
            "settings": {"mode": "loadbalancer", "service-annotations": "{\"platform.example.com/zone\": \"public\"}"},
            "tenantSettings": ["anti-affinity", "port"],
            "portRange": {"min": 9000, "max": 9999},
            "namespaceSelector": {"matchLabels": {"e2e-tenant": label}},
        },
    }))
    .unwrap();
    classes(&c).create(&Default::default(), &class).await.expect("create the class");
    let gvk = GroupVersionKind::gvk("kafka-advertiser.io", "v1alpha1", "ExternalAccessClass");
    let _guard = ClusterObjects(vec![(ApiResource::from_gvk_with_plural(&gvk, "externalaccessclasses"), name.clone())]);
    // The API server checks a class against its schema: an unknown setting is refused.
    let mut bad = class.clone();
    bad.metadata.name = Some(format!("{name}-bad"));
    bad.data["spec"]["settings"]["no-such-setting"] = json!("x");
    let err = classes(&c).create(&Default::default(), &bad).await.unwrap_err().to_string();
    assert!(err.contains("unknown setting"), "{err}");
    every_replica_read_classes(&c, &[&name]).await;

    let tenant = tenant_client(&c, &team).await;
    // Attack: a cloud annotation the class does not hand out.
    Broker::new("pool", 1)
        .annotate("kafka-advertiser.io/class", &name)
        .annotate("kafka-advertiser.io/service-annotations", "{\"metallb.io/address-pool\": \"dmz\"}")
        .create(&tenant, &team)
        .await;
    let ev = wait_event(&c, &team, "pool", "ClassSettingRefused", "kafka-advertiser.io/service-annotations").await;
    assert!(ev.note.unwrap().contains(&name));
    wait_event(&c, &team, "pool", "FailedCreate", "is fixed by ExternalAccessClass").await;
    // Attack: a port outside the class's range (443 on a shared load balancer).
    Broker::new("https", 1)
        .annotate("kafka-advertiser.io/class", &name)
        .annotate("kafka-advertiser.io/port", "443")
        .create(&tenant, &team)
        .await;
    wait_event(&c, &team, "https", "PortOutOfRange", "port 443").await;
    assert_eq!(services(&c, &team).await, 0, "a refused StatefulSet got Services");

    // The legitimate path: the class's settings, the tenant's allowed ones.
    Broker::new("kafka", 2)
        .annotate("kafka-advertiser.io/class", &name)
        .annotate("kafka-advertiser.io/anti-affinity", "preferred")
        .annotate("kafka-advertiser.io/port", "9095")
        .create(&tenant, &team)
        .await;
    converged(&c, &team, "kafka", 2, 9095).await;
    for (n, svc) in services_of(&c, &team, "kafka").await {
        let ann = svc.metadata.annotations.unwrap_or_default();
        assert_eq!(ann.get("platform.example.com/zone").map(String::as_str), Some("public"), "{n}");
    }

    // The class shows its reach: one namespace, one StatefulSet using it (the refused ones do not).
    wait_for("the class's status", Duration::from_secs(60), || async {
        let c = classes(&c).get(&name).await.ok()?;
        let st = &c.data["status"];
        (st["namespaces"] == 1 && st["statefulSets"] == 1 && st["observedGeneration"] == 1).then_some(())
    })
    .await;

    // A namespace the class does not select cannot use it (no fallback to open).
    let other = namespace(&c, "e2e-team-b").await;
    Broker::new("kafka", 1).annotate("kafka-advertiser.io/class", &name).create(&c, &other).await;
    wait_event(&c, &other, "kafka", "ClassNotPermitted", &format!("namespace {other}")).await;
    assert_eq!(services(&c, &other).await, 0);
}

/// A class the API server accepts (the CRD checks shapes only, so it installs on every supported
/// release) but the exact parse refuses: a StatefulSet naming it is refused with `ClassInvalid`
/// (never judged as unclassed), nothing is written, and the class's `Valid` condition says why.
#[tokio::test]
async fn an_invalid_class_fails_closed_with_class_invalid() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let team = namespace(&c, "e2e-invalid").await;
    let name = format!("e2e-invalid-{}", team.rsplit('-').next().unwrap());
    let class: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kafka-advertiser.io/v1alpha1", "kind": "ExternalAccessClass",
        "metadata": {"name": name},
        "spec": {"settings": {"mode": "loadbalancer"}, "tenantSettings": ["port"], "addressRanges": ["10.0.0.0/33"]},
    }))
    .unwrap();
    classes(&c).create(&Default::default(), &class).await.expect("the shape passes the schema");
    let gvk = GroupVersionKind::gvk("kafka-advertiser.io", "v1alpha1", "ExternalAccessClass");
    let _guard = ClusterObjects(vec![(ApiResource::from_gvk_with_plural(&gvk, "externalaccessclasses"), name.clone())]);
    // A value that is not even the shape of an address is refused by the schema on any release.
    let mut bad = class.clone();
    bad.metadata.name = Some(format!("{name}-shape"));
    bad.data["spec"]["addressRanges"] = json!(["ten.0.0.0/8"]);
    let err = classes(&c).create(&Default::default(), &bad).await.unwrap_err().to_string();
    assert!(err.contains("addressRanges"), "{err}");

    let tenant = tenant_client(&c, &team).await;
    Broker::new("kafka", 1).annotate("kafka-advertiser.io/class", &name).create(&tenant, &team).await;
    let ev = wait_event(&c, &team, "kafka", "ClassInvalid", "10.0.0.0/33").await;
    assert!(ev.note.unwrap().contains(&name));
    wait_event(&c, &team, "kafka", "FailedCreate", "is invalid").await;
    assert_eq!(services(&c, &team).await, 0, "a StatefulSet under an invalid class got Services");
    let status = wait_for("the class's Valid condition", Duration::from_secs(30), || async {
        let o = classes(&c).get(&name).await.ok()?;
        let cond = o.data["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Valid")?.clone();
        (cond["status"] == "False").then_some(cond)
    })
    .await;
    assert_eq!(status["reason"], "ClassInvalid");
    assert!(status["message"].as_str().unwrap().contains("10.0.0.0/33"), "{status}");
}
