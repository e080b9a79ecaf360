//! The Gateway watch's mapper: which StatefulSets a Gateway's change reconciles.

use kube::runtime::{reflector, watcher};
use serde_json::json;

use super::*;

fn gateway(namespace: &str, name: &str) -> DynamicObject {
    serde_json::from_value(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace}}))
    .unwrap()
}

/// A Gateway named by a StatefulSet's access class (not its template) reconciles it on change, as
/// one named in the template does; another Gateway does not.
#[test]
fn a_gateway_named_by_the_class_reconciles_its_statefulsets() {
    let book = ClusterView::new();
    let class = crate::spec::class::Class::from_value(&json!({"metadata": {"name": "edge"},
        "spec": {"settings": {"mode": "gateway-tcp", "gateway": "infra/edge", "address": "192.0.2.7"}}}))
    .unwrap();
    book.set_classes(vec![Arc::new(class)]);
    let (store, mut writer) = reflector::store::<StatefulSet>();
    let classed = json!({"kafka-advertiser.io/class": "edge"});
    let named = json!({"kafka-advertiser.io/mode": "gateway-tcp", "kafka-advertiser.io/gateway": "infra/edge",
        "kafka-advertiser.io/address": "192.0.2.7"});
    for (name, annotations) in [("classed", classed), ("named", named), ("plain", json!({}))] {
        let mut sts = crate::controller::tests::statefulset(1, annotations);
        sts.metadata.name = Some(name.into());
        writer.apply_watcher_event(&watcher::Event::Apply(sts));
    }
    let defaults = Defaults::default();
    let mut hit: Vec<String> = statefulsets_routed_through(&store, &gateway("infra", "edge"), &defaults, &book)
        .into_iter()
        .map(|r| r.name)
        .collect();
    hit.sort();
    assert_eq!(hit, ["classed", "named"]);
    assert!(statefulsets_routed_through(&store, &gateway("infra", "other"), &defaults, &book).is_empty());
}

/// A trigger stream reaches the Controller without its errors, every object in order (an error
/// handed to kube-runtime's Controller could hold back the triggers behind it: see `triggers`).
#[tokio::test]
async fn trigger_streams_drop_their_errors_and_keep_every_object() {
    let err = || watcher::Error::NoResourceVersion;
    let input = futures::stream::iter([Err(err()), Ok(1), Err(err()), Err(err()), Ok(2), Ok(3), Err(err())]);
    let out: Vec<Result<u32, watcher::Error>> = triggers(input, "Test").collect().await;
    let objects: Vec<u32> = out.into_iter().map(|r| r.expect("no error passes")).collect();
    assert_eq!(objects, vec![1, 2, 3]);
}
