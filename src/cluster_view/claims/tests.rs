use std::sync::Arc;

use serde_json::json;

use crate::cluster_view::{ClusterLookup, ClusterView};
use crate::mutate::{mutate, MutateError, RequestNames};
use crate::spec::class::Class;
use crate::spec::settings::Defaults;
use crate::testing::StatefulSetFixture;

fn hostname_sts(namespace: &str, created: &str, template: &str) -> k8s_openapi::api::apps::v1::StatefulSet {
    StatefulSetFixture::new("kafka", namespace)
        .uid(&format!("{namespace}-uid"))
        .created(created)
        .replicas(2)
        .annotations(json!({"kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template": template}))
        .build()
}

fn publish(view: &ClusterView, sts: &k8s_openapi::api::apps::v1::StatefulSet) {
    let (ns, name) = (sts.metadata.namespace.clone().unwrap(), sts.metadata.name.clone().unwrap());
    view.set_claims(&ns, &name, Some(sts), &Defaults::default());
}

/// The oldest StatefulSet keeps a host name, whatever the order the watch tells them in; the name
/// is free again once it is gone (N3).
#[test]
fn the_oldest_claim_keeps_a_host_name() {
    let view = ClusterView::new();
    let newcomer = hostname_sts("team-a", "2026-12-02T00:00:00Z", "kafka-{ordinal}.team-b.example.com");
    let owner = hostname_sts("team-b", "2026-12-01T00:00:00Z", "kafka-{ordinal}.team-b.example.com");
    publish(&view, &newcomer);
    assert!(!view.hostname_taken("team-a", "kafka", "kafka-1.team-b.example.com"), "alone, it holds the name");
    publish(&view, &owner);
    assert!(view.hostname_taken("team-a", "kafka", "kafka-1.team-b.example.com"));
    assert!(view.hostname_taken("team-a", "kafka", "KAFKA-1.team-b.example.com."), "compared as DNS compares");
    assert!(!view.hostname_taken("team-b", "kafka", "kafka-1.team-b.example.com"));
    assert!(!view.hostname_taken("team-a", "kafka", "kafka-2.team-b.example.com"), "replicas: 2");
    view.set_claims("team-b", "kafka", None, &Defaults::default());
    assert!(!view.hostname_taken("team-a", "kafka", "kafka-1.team-b.example.com"));
    assert_eq!(view.claimants(), 1);
}

/// A name the class fixes is claimed as the class makes it; when the class changes, the claims
/// are worked out again.
#[test]
fn claims_follow_the_class() {
    let view = ClusterView::new();
    let class = |template: &str| {
        Arc::new(
            Class::from_value(
                &json!({"metadata": {"name": "names", "annotations": {"kafka-advertiser.io/is-default-class": "true"}},
                "spec": {"settings": {"mode": "hostname", "hostname-template": template}}}),
            )
            .unwrap(),
        )
    };
    view.set_classes(vec![class("{pod}.kafka.example.com")]);
    let plain = |ns: &str, at: &str| StatefulSetFixture::new("kafka", ns).uid(&format!("{ns}-uid")).created(at).build();
    publish(&view, &plain("team-b", "2026-12-01T00:00:00Z"));
    publish(&view, &plain("team-a", "2026-12-02T00:00:00Z"));
    assert!(view.hostname_taken("team-a", "kafka", "kafka-0.kafka.example.com"), "both render kafka-0: team-b first");
    view.set_classes(vec![class("{pod}.{namespace}.kafka.example.com")]);
    assert!(!view.hostname_taken("team-a", "kafka", "kafka-0.kafka.example.com"));
    assert!(!view.hostname_taken("team-a", "kafka", "kafka-0.team-a.kafka.example.com"));
}

/// The webhook denies the newcomer's brokers with the controller's message: the host name, never the
/// other tenant.
#[test]
fn the_webhook_denies_a_name_another_statefulset_holds() {
    let view = ClusterView::new();
    publish(&view, &hostname_sts("team-b", "2026-12-01T00:00:00Z", "kafka-{ordinal}.shared.example.com"));
    publish(&view, &hostname_sts("team-a", "2026-12-02T00:00:00Z", "kafka-{ordinal}.shared.example.com"));
    let named = |ns: &str, template: &str| -> k8s_openapi::api::core::v1::Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "kafka-0", "namespace": ns,
                "labels": {"kafka-advertiser.io/enabled": "true", "apps.kubernetes.io/pod-index": "0"},
                "annotations": {"kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template": template},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "kafka", "uid": format!("{ns}-uid"), "controller": true}]},
            "spec": {"hostname": "kafka-0", "subdomain": "kafka-hs", "containers": [{"name": "kafka", "image": "apache/kafka"}]}
        }))
        .unwrap()
    };
    let pod = |ns: &str| named(ns, "kafka-{ordinal}.shared.example.com");
    let err = mutate(&pod("team-a"), RequestNames::default(), &Defaults::default(), &view).unwrap_err();
    assert!(matches!(err, MutateError::HostnameConflict(_)), "{err}");
    let message = err.to_string();
    assert!(message.contains("kafka-0.shared.example.com") && !message.contains("team-b"), "{message}");
    assert_eq!(err.reason(), "hostname_conflict");
    assert!(mutate(&pod("team-b"), RequestNames::default(), &Defaults::default(), &view).unwrap().is_some());
}
