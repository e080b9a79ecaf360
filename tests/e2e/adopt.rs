//! Adoption with consent against the real API server, MetalLB and the garbage collector: a Service
//! made by hand keeps its object and its address when kafka-advertiser takes it over, and again when
//! it gives it back; one whose takeover would release the address is left exactly as it was.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::*;

const T: Duration = Duration::from_secs(90);

/// A broker's LoadBalancer Service as the manual setup makes it, asking to be adopted by `kafka`.
fn hand_made(ns: &str, ordinal: u32, ty: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": format!("kafka-{ordinal}-external"), "namespace": ns,
            "labels": {"team": "streaming"}, "annotations": {"kafka-advertiser.io/adopt": "kafka"}},
        "spec": {"type": ty, "selector": {"statefulset.kubernetes.io/pod-name": format!("kafka-{ordinal}")},
            "ports": [{"name": "kafka", "port": 9094, "targetPort": 9094}]}
    }))
    .unwrap()
}

fn managers(svc: &Service) -> Vec<String> {
    svc.metadata.managed_fields.iter().flatten().filter_map(|m| m.manager.clone()).collect()
}

#[tokio::test]
async fn a_hand_made_service_keeps_its_address_in_and_out() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-adopt").await;
    let services: Api<Service> = Api::namespaced(c.clone(), &ns);
    let made = services.create(&PostParams::default(), &hand_made(&ns, 0, "LoadBalancer")).await.unwrap();
    let ip = wait_for("MetalLB's address for the hand-made Service", T, || async {
        ingress_ip(&services.get("kafka-0-external").await.ok()?)
    })
    .await;
    Broker::new("kafka", 2).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    let pods = wait_pods(&c, &ns, "kafka", 2, T).await;
    let advertised = &pods[0].annotations()["kafka-advertiser.io/advertised"];
    assert!(
        advertised.ends_with(&format!(",EXTERNAL://{ip}:9094")),
        "broker 0 advertises the old address: {advertised}"
    );
    wait_event(&c, &ns, "kafka", "ServiceAdopted", "kafka-0-external").await;
    let adopted = services.get("kafka-0-external").await.unwrap();
    assert_eq!(adopted.uid(), made.uid(), "the same object, taken over");
    assert_eq!(ingress_ip(&adopted).as_deref(), Some(ip.as_str()));
    assert!(adopted.owner_references().iter().any(|o| o.kind == "StatefulSet" && o.name == "kafka"));
    assert_eq!(adopted.labels().get("team").map(String::as_str), Some("streaming"), "its maker's labels stay");
    let ip1 =
        wait_for("broker 1's address", T, || async { ingress_ip(&services.get("kafka-1-external").await.ok()?) }).await;

    // The way back, keeping every Service: released, never deleted, addresses unchanged.
    let sts: Api<StatefulSet> = Api::namespaced(c.clone(), &ns);
    let keep = json!({"metadata": {"annotations": {"kafka-advertiser.io/keep-services": "true"}},
        "spec": {"template": {"metadata": {"labels": {"kafka-advertiser.io/enabled": null}}}}});
    sts.patch("kafka", &PatchParams::default(), &Patch::Merge(keep)).await.unwrap();
    for (name, ip) in [("kafka-0-external", &ip), ("kafka-1-external", &ip1)] {
        let released = wait_for(&format!("{name} released"), T, || async {
            let s = services.get(name).await.ok()?;
            s.owner_references().is_empty().then_some(s)
        })
        .await;
        assert_eq!(ingress_ip(&released).as_ref(), Some(ip), "{name} keeps its address");
        assert!(!released.labels().contains_key("kafka-advertiser.io/statefulset"), "{:?}", released.labels());
        assert!(!managers(&released).contains(&"kafka-advertiser".to_owned()), "{:?}", managers(&released));
        assert_eq!(released.spec.as_ref().unwrap().type_.as_deref(), Some("LoadBalancer"));
        wait_event(&c, &ns, "kafka", "ServiceReleased", name).await;
    }
    assert_eq!(services.get("kafka-0-external").await.unwrap().uid(), made.uid());
}

#[tokio::test]
async fn a_takeover_that_would_release_the_address_writes_nothing() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-adopt-no").await;
    let services: Api<Service> = Api::namespaced(c.clone(), &ns);
    let before = services.create(&PostParams::default(), &hand_made(&ns, 0, "NodePort")).await.unwrap();
    Broker::new("kafka", 1).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    let ev =
        wait_event(&c, &ns, "kafka", "AdoptionWouldChangeAddress", "type NodePort would become LoadBalancer").await;
    assert!(ev.note.unwrap().contains("nothing was written"));
    let after = services.get("kafka-0-external").await.unwrap();
    assert_eq!(after.resource_version(), before.resource_version(), "the Service is exactly as it was");
}
