//! Adoption as a tenant with only `edit` (issue 30): a Service the tenant made asks to be adopted
//! with an address its access class does not allow; it is not taken over (the diff: nothing but
//! the attacker's own StatefulSet's objects changed, the Service as it was), and no broker is
//! admitted with that address. The same Service with an allowed address is adopted.

use super::*;
use k8s_openapi::api::core::v1::Service;

fn class_ar() -> ApiResource {
    ar("kafka-advertiser.io", "v1alpha1", "ExternalAccessClass", "externalaccessclasses")
}

/// A LoadBalancer Service for broker 0 of `sts`, asking for `ip` and to be adopted by `sts`.
fn pinned(ns: &str, sts: &str, ip: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": format!("{sts}-0-external"), "namespace": ns,
            "annotations": {"kafka-advertiser.io/adopt": sts, "metallb.io/loadBalancerIPs": ip}},
        "spec": {"type": "LoadBalancer", "selector": {"statefulset.kubernetes.io/pod-name": format!("{sts}-0")},
            "ports": [{"name": "kafka", "port": 9094, "targetPort": 9094}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn adoption_is_bounded_by_the_class_as_a_tenant() {
    let _g = INSTALL.write().await;
    let c = client().await;
    let (p, _platform) = platform(&c, "adopt").await;
    let id = p.infra.rsplit('-').next().unwrap().to_owned();
    let allowed = free_pool_ip(&c).await;
    let class = format!("e2e-lb-{id}");
    let eac: DynamicObject = serde_json::from_value(json!({"apiVersion": "kafka-advertiser.io/v1alpha1",
        "kind": "ExternalAccessClass", "metadata": {"name": class},
        "spec": {"settings": {"mode": "loadbalancer"}, "addressRanges": [format!("{allowed}/32")],
            "namespaceSelector": {"matchLabels": {"e2e-tenant": id}}}}))
    .unwrap();
    class_api(&c).create(&PostParams::default(), &eac).await.unwrap();
    let _class = ClusterObjects(vec![(class_ar(), class.clone())]);
    every_replica_read_classes(&c, &[&class, &p.class]).await;
    let tenant = tenant_client(&c, &p.team_a).await;
    let ns = p.team_a.clone();
    let services: Api<Service> = Api::namespaced(tenant.clone(), &ns);

    // An address outside the class, brought in through a Service the tenant made.
    services.create(&PostParams::default(), &pinned(&ns, "far", "198.51.100.7")).await.unwrap();
    let far = Broker::new("far", 1).annotate("kafka-advertiser.io/class", &class);
    let own = attack(&c, &p, &tenant, &ns, far, "AddressNotAllowed", "which asks to be adopted").await;
    assert!(!own.iter().any(|k| k.starts_with("Service ")), "the Service was not taken over: {own:?}");
    let svc = services.get("far-0-external").await.unwrap();
    assert!(svc.owner_references().is_empty() && !svc.labels().contains_key("kafka-advertiser.io/statefulset"));

    // The same with the address the class allows: adopted, and the broker advertises it.
    services.create(&PostParams::default(), &pinned(&ns, "near", &allowed)).await.unwrap();
    Broker::new("near", 1).annotate("kafka-advertiser.io/class", &class).create(&tenant, &ns).await;
    let pods = wait_pods(&c, &ns, "near", 1, T).await;
    let v = env_value(&pods[0], "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
    assert!(v.ends_with(&format!("EXTERNAL://{allowed}:9094")), "{v}");
    wait_event(&c, &ns, "near", "ServiceAdopted", "near-0-external").await;
}
