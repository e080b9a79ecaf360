//! Pods created by the real StatefulSet controller, admitted through the API server's webhook call.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::*;

const T: Duration = Duration::from_secs(60);

/// Until the webhook has read every StatefulSet made so far in `ns`: a probe StatefulSet, made after
/// them, until one of its pods is given the anti-affinity of its own selector, which the webhook only
/// knows from its StatefulSet watch (without it, the pod's labels: with `instance` and `enabled`).
/// A watch delivers one kind's events in order, so that replica has read the earlier ones too.
async fn webhook_has_read_the_statefulsets_so_far(c: &kube::Client, ns: &str) {
    Broker::new("probe", 1)
        .annotate("kafka-advertiser.io/mode", "hostname")
        .annotate("kafka-advertiser.io/hostname-template", "{pod}.probe.example.test")
        .create(c, ns)
        .await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    wait_for("the webhook reading a new StatefulSet", T, || async {
        let p = pods.get_opt("probe-0").await.ok()??;
        let term = &anti_affinity(&p)["requiredDuringSchedulingIgnoredDuringExecution"][0];
        if term["labelSelector"]["matchLabels"] == json!({"app.kubernetes.io/name": "probe"}) {
            return Some(());
        }
        // Admitted before the webhook read its StatefulSet: a new pod asks again.
        let _ = pods.delete("probe-0", &Default::default()).await;
        None
    })
    .await;
}

/// hostname mode needs no Service address: every pod is admitted at once, with its own listener,
/// the anti-affinity term and the `advertised` annotation, exactly as stored by the API server.
#[tokio::test]
async fn statefulset_pods_get_listeners_affinity_and_annotation() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-hostname").await;
    // Created empty, then scaled: the controller has seen the StatefulSet (and its selector) before
    // its first pod is admitted, as it has for any StatefulSet that existed when it started.
    Broker::new("brokers", 0)
        .annotate("kafka-advertiser.io/mode", "hostname")
        .annotate("kafka-advertiser.io/hostname-template", "{pod}.{namespace}.kafka.example.test")
        .create(&c, &ns)
        .await;
    webhook_has_read_the_statefulsets_so_far(&c, &ns).await;
    scale(&c, &ns, "brokers", 3).await;
    let pods = wait_pods(&c, &ns, "brokers", 3, T).await;
    for (i, pod) in pods.iter().enumerate() {
        let want = format!(
            "INTERNAL://brokers-{i}.brokers-headless.{ns}.svc.cluster.local:9092,EXTERNAL://brokers-{i}.{ns}.kafka.example.test:9094"
        );
        assert_eq!(env_value(pod, "kafka", "KAFKA_ADVERTISED_LISTENERS").as_deref(), Some(want.as_str()));
        assert_eq!(annotation(pod, "kafka-advertiser.io/advertised"), Some(want.as_str()), "advertised annotation");
        let aa = anti_affinity(pod);
        let term = &aa["requiredDuringSchedulingIgnoredDuringExecution"][0];
        assert_eq!(term["topologyKey"], "kubernetes.io/hostname", "{aa}");
        // Exactly the StatefulSet's selector (not every template label).
        assert_eq!(term["labelSelector"]["matchLabels"], json!({"app.kubernetes.io/name": "brokers"}), "{aa}");
        // The rest of the pod is what the StatefulSet controller asked for.
        assert_eq!(env_value(pod, "kafka", "KAFKA_INTER_BROKER_LISTENER_NAME").as_deref(), Some("INTERNAL"));
    }
    // Required anti-affinity on kubernetes.io/hostname: three brokers on three different nodes.
    let pods = wait_for("all brokers scheduled", T, || async {
        let pods = pods_of(&c, &ns, "brokers").await;
        pods.iter().all(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()).then_some(pods)
    })
    .await;
    let mut nodes: Vec<_> = pods.iter().map(|p| p.spec.as_ref().unwrap().node_name.clone().unwrap()).collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 3, "brokers share a node: {nodes:?}");
}

/// A StatefulSet without the label, and bare pods without it, are stored exactly as submitted.
#[tokio::test]
async fn pods_that_did_not_opt_in_are_untouched() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-untouched").await;
    let b = Broker::new("plain", 2).annotate("kafka-advertiser.io/mode", "hostname").not_opted_in();
    let sts = b.create(&c, &ns).await;
    let template = sts.spec.unwrap().template;
    let template_annotations = template.metadata.unwrap().annotations.unwrap_or_default();
    let template = template.spec.unwrap();
    let pods = wait_pods(&c, &ns, "plain", 2, T).await;
    for pod in &pods {
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.containers[0].env, template.containers[0].env, "env changed on {}", pod.name_any());
        assert!(spec.affinity.is_none(), "affinity added to {}", pod.name_any());
        assert_eq!(pod.annotations(), &template_annotations, "annotations changed on {}", pod.name_any());
    }
    // A bare pod (no StatefulSet) without the label: the stored object equals the submitted one.
    let pods: Api<Pod> = Api::namespaced(c.clone(), &ns);
    let bare: Pod = serde_json::from_value(json!({
        "metadata": {"name": "client", "labels": {"app": "client"}},
        "spec": {"containers": [{"name": "c", "image": "apache/kafka:4.1.1",
            "env": [{"name": "KAFKA_ADVERTISED_LISTENERS", "value": "PLAINTEXT://x:9092"}]}]}
    }))
    .unwrap();
    let stored = pods.create(&PostParams::default(), &bare).await.unwrap();
    let s = stored.spec.unwrap();
    assert_eq!(s.containers[0].env, bare.spec.as_ref().unwrap().containers[0].env);
    assert!(s.affinity.is_none());
    // No managed Service for a StatefulSet that never opted in: checked once the controller has made
    // the Services of an opted-in StatefulSet created after it in the same namespace (a live
    // controller that has seen the namespace, not a fixed wait).
    Broker::new("barrier", 1).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    converged(&c, &ns, "barrier", 1, 9094).await;
    assert!(services_of(&c, &ns, "plain").await.is_empty());
}

/// A namespace labelled `kafka-advertiser.io/webhook: disabled` is not sent to the webhook: even an
/// opted-in pod is stored as submitted (the operator's off switch for one namespace). A check of the
/// shipped manifest (`deploy/webhook.yaml`'s namespaceSelector, which the API server applies), not of
/// product code.
#[tokio::test]
async fn the_manifest_s_namespace_selector_keeps_a_switched_off_namespace_from_the_webhook() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-switched-off").await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.clone());
    let label = json!({"metadata": {"labels": {"kafka-advertiser.io/webhook": "disabled"}}});
    namespaces.patch(&ns, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(label)).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(c.clone(), &ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "kafka-0", "labels": {"app": "kafka", "kafka-advertiser.io/enabled": "true"},
            "annotations": {"kafka-advertiser.io/mode": "hostname", "kafka-advertiser.io/hostname-template": "b{ordinal}.example.com"}},
        "spec": {"hostname": "kafka-0", "subdomain": "kafka-hs",
            "containers": [{"name": "kafka", "image": "apache/kafka:4.1.1"}]}
    }))
    .unwrap();
    let stored = pods.create(&PostParams::default(), &pod).await.unwrap();
    assert!(stored.spec.unwrap().containers[0].env.is_none(), "the webhook was called");
    assert!(!stored.metadata.annotations.unwrap().contains_key("kafka-advertiser.io/advertised"));
}

/// Opting out later: the controller removes what it made (Services) and new pods are left alone.
#[tokio::test]
async fn opting_out_removes_services() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-optout").await;
    Broker::new("leaving", 2).annotate("kafka-advertiser.io/mode", "loadbalancer").create(&c, &ns).await;
    let api: Api<StatefulSet> = Api::namespaced(c.clone(), &ns);
    wait_for("2 Services and the external-bootstrap annotation", T, || async {
        let sts = api.get("leaving").await.ok()?;
        (services_of(&c, &ns, "leaving").await.len() == 2
            && sts.annotations().contains_key("kafka-advertiser.io/external-bootstrap"))
        .then_some(())
    })
    .await;
    api.patch(
        "leaving",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"metadata": {"labels": {"kafka-advertiser.io/enabled": null}}}}})),
    )
    .await
    .unwrap();
    wait_for("Services removed after opt-out", T, || async {
        services_of(&c, &ns, "leaving").await.is_empty().then_some(())
    })
    .await;
    // ... and the annotations it wrote on the StatefulSet.
    wait_for("kafka-advertiser's StatefulSet annotations removed after opt-out", T, || async {
        let sts = api.get("leaving").await.ok()?;
        (!sts.annotations().keys().any(|k| k.starts_with("kafka-advertiser.io/"))).then_some(())
    })
    .await;
}

/// Each shipped example, applied as a user would (into a fresh namespace).
#[tokio::test]
async fn example_kraft_loadbalancer() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-ex-kraft").await;
    let objs = apply_file(&c, &examples_dir().join("kafka-kraft.yaml"), &ns).await;
    let sts = objs.iter().find(|o| o.types.as_ref().is_some_and(|t| t.kind == "StatefulSet")).unwrap();
    let name = sts.name_any();
    let replicas = sts.data["spec"]["replicas"].as_u64().unwrap() as usize;
    let env = "KAFKA_CFG_ADVERTISED_LISTENERS";
    let pods = wait_for("every broker admitted with its own Service's address", Duration::from_secs(90), || async {
        let pods = pods_of(&c, &ns, &name).await;
        let svcs = services_of(&c, &ns, &name).await;
        if pods.len() != replicas {
            return None;
        }
        for p in &pods {
            let o = ordinal_of(&p.name_any());
            let svc = svcs.values().find(|s| s.labels().get("kafka-advertiser.io/ordinal") == Some(&o.to_string()))?;
            let ip = ingress_ip(svc)?;
            if !env_value(p, "kafka", env)?.ends_with(&format!("EXTERNAL://{ip}:9094")) {
                return None;
            }
        }
        Some(pods)
    })
    .await;
    // Every broker has its own external address (the EXTERNAL entries compared, not the whole strings,
    // which already differ by their in-cluster names).
    let external: std::collections::BTreeSet<String> = pods
        .iter()
        .map(|p| env_value(p, "kafka", env).unwrap().rsplit("EXTERNAL://").next().unwrap().to_owned())
        .collect();
    assert_eq!(external.len(), replicas, "{external:?}");
    // The bootstrap Service the example asks for: a load balancer selecting every broker, on the
    // external port, with an address of its own.
    let svcs = services_of(&c, &ns, &name).await;
    let boot = svcs
        .values()
        .find(|s| s.labels().get("kafka-advertiser.io/role").map(String::as_str) == Some("bootstrap"))
        .expect("a bootstrap Service");
    let spec = boot.spec.as_ref().unwrap();
    assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
    assert_eq!(
        spec.selector.as_ref().unwrap(),
        &sts.data["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    );
    assert_eq!(spec.ports.as_ref().unwrap()[0].port, 9094);
}

#[tokio::test]
async fn example_zookeeper_shared_address() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-ex-zk").await;
    apply_file(&c, &examples_dir().join("kafka-zookeeper.yaml"), &ns).await;
    let pods = wait_pods(&c, &ns, "kafka", 3, T).await;
    for (i, p) in pods.iter().enumerate() {
        let v = env_value(p, "kafka", "KAFKA_CFG_ADVERTISED_LISTENERS").unwrap();
        assert!(v.ends_with(&format!("EXTERNAL://198.51.100.7:{}", 9092 + i)), "{v}");
    }
    // The controller's part: a LoadBalancer Service per broker asking for the example's address on
    // the broker's port, with both MetalLB annotation generations and one sharing key. The address
    // is the example's (a user's reserved IP), outside the test pool: MetalLB gives none, as it
    // would not in a cluster, and nothing connects to it.
    let svcs = wait_for("a Service per broker asking for 198.51.100.7", T, || async {
        let svcs = services_of(&c, &ns, "kafka").await;
        let brokers: Vec<Service> = svcs
            .into_values()
            .filter(|s| s.labels().get("kafka-advertiser.io/role").map(String::as_str) == Some("broker"))
            .collect();
        (brokers.len() == 3).then_some(brokers)
    })
    .await;
    let mut ports: Vec<i32> = svcs.iter().map(|s| s.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].port).collect();
    ports.sort();
    assert_eq!(ports, vec![9092, 9093, 9094]);
    let keys: std::collections::BTreeSet<_> =
        svcs.iter().map(|s| s.annotations().get("metallb.io/allow-shared-ip").cloned()).collect();
    assert_eq!(keys.len(), 1, "one sharing key: {keys:?}");
    for svc in &svcs {
        assert_eq!(svc.spec.as_ref().unwrap().type_.as_deref(), Some("LoadBalancer"));
        for prefix in ["metallb.io", "metallb.universe.tf"] {
            let a = svc.annotations();
            assert_eq!(a.get(&format!("{prefix}/loadBalancerIPs")).map(String::as_str), Some("198.51.100.7"), "{a:?}");
            assert!(a.contains_key(&format!("{prefix}/allow-shared-ip")), "{a:?}");
        }
    }
    // ZooKeeper did not opt in: its pods are stored as the StatefulSet controller made them.
    // (ZooKeeper's StatefulSet numbers its pods from spec.ordinals.start = 1.)
    let zk = wait_for("3 ZooKeeper pods", T, || async {
        let pods = pods_of(&c, &ns, "zookeeper").await;
        (pods.len() == 3).then_some(pods)
    })
    .await;
    for p in &zk {
        assert!(p.spec.as_ref().unwrap().affinity.is_none());
        assert!(annotation(p, "kafka-advertiser.io/advertised").is_none());
    }
}

#[tokio::test]
async fn example_apache_hostname() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-ex-apache").await;
    apply_file(&c, &examples_dir().join("kafka-apache.yaml"), &ns).await;
    let pods = wait_pods(&c, &ns, "kafka", 3, T).await;
    for (i, p) in pods.iter().enumerate() {
        let v = env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
        assert!(v.contains(&format!("EXTERNAL://kafka-{i}.{ns}.kafka.example.com:9094")), "{v}");
        assert!(annotation(p, "kafka-advertiser.io/advertised").is_some());
        assert!(anti_affinity(p)["preferredDuringSchedulingIgnoredDuringExecution"].is_array(), "{}", anti_affinity(p));
    }
}

/// A broker whose Service never gets an address (a load-balancer class nobody implements): the
/// StatefulSet controller's own FailedCreate Event carries the webhook's denial, which says what to
/// look at. That is where users look: nobody sees the admission answer itself.
#[tokio::test]
async fn denial_for_a_missing_address_reaches_the_statefulset_events() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-noaddr").await;
    Broker::new("kafka", 1)
        .annotate("kafka-advertiser.io/mode", "loadbalancer")
        .annotate("kafka-advertiser.io/load-balancer-class", "example.com/no-such-load-balancer")
        .create(&c, &ns)
        .await;
    let ev = wait_event(&c, &ns, "kafka", "FailedCreate", "has no status.loadBalancer.ingress yet").await;
    let note = ev.note.unwrap();
    assert!(note.contains(&format!("kubectl describe service -n {ns} kafka-0-external")), "{note}");
    assert!(pods_of(&c, &ns, "kafka").await.is_empty(), "the broker must not start without its address");
}

/// The webhook's checks, run by the controller on the pod template, become Warning Events on the
/// StatefulSet: a template that gives every broker the same name (refused), and a container that
/// sets both listener variables (admitted, with a warning nobody would otherwise see).
#[tokio::test]
async fn template_problems_are_warning_events_on_the_statefulset() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-template").await;
    Broker::new("same", 1)
        .annotate("kafka-advertiser.io/mode", "hostname")
        .annotate("kafka-advertiser.io/hostname-template", "kafka.example.test")
        .create(&c, &ns)
        .await;
    let ev = wait_event(&c, &ns, "same", "InvalidSettings", "kafka-advertiser.io/hostname-template").await;
    assert!(ev.note.unwrap().contains("{ordinal} or {pod}"));
    assert!(pods_of(&c, &ns, "same").await.is_empty(), "a broker without its own name must not be admitted");

    let mut both = Broker::new("both", 1)
        .annotate("kafka-advertiser.io/mode", "hostname")
        .annotate("kafka-advertiser.io/hostname-template", "{pod}.{namespace}.example.test");
    both.env.push(("KAFKA_ADVERTISED_LISTENERS".into(), "PLAINTEXT://localhost:9092".into()));
    both.env.push(("KAFKA_CFG_ADVERTISED_LISTENERS".into(), "PLAINTEXT://localhost:9092".into()));
    both.create(&c, &ns).await;
    wait_event(&c, &ns, "both", "BothListenerVariablesSet", "sets both").await;
    let pods = wait_pods(&c, &ns, "both", 1, T).await;
    let v = env_value(&pods[0], "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
    assert!(v.contains(&format!("EXTERNAL://both-0.{ns}.example.test:9094")), "{v}");
    // The user's PLAINTEXT entry is kept, and KAFKA_LISTENERS does not declare it: a real broker
    // refuses that (kafka::configs runs it), so the StatefulSet is told.
    assert!(v.contains("PLAINTEXT://localhost:9092"), "{v}");
    wait_event(&c, &ns, "both", "ListenerNotDeclared", "does not declare the listener PLAINTEXT").await;
}

/// The process's /metrics, from every replica of one kind (webhook or controller), concatenated.
async fn scrape(controllers: bool) -> String {
    crate::processes::scrape_replicas(controllers).await.concat()
}

/// The sum of one series over the scraped text (0 when absent).
fn series_sum(text: &str, series: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(series)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// Per-StatefulSet series through the running install: brokers waiting for an address show under
/// their StatefulSet's labels on the controller, the webhook counts the refusals by reason, and the
/// StatefulSet's series go when it does.
#[tokio::test]
async fn metrics_are_labelled_per_statefulset_and_denials_by_reason() {
    let _g = INSTALL.read().await;
    let c = client().await;
    let ns = namespace(&c, "e2e-metrics").await;
    let pending = r#"kafka_advertiser_admission_denials_total{reason="address_pending"}"#;
    let before = series_sum(&scrape(false).await, pending);
    let sts = Broker::new("waits", 2)
        .annotate("kafka-advertiser.io/mode", "loadbalancer")
        .annotate("kafka-advertiser.io/load-balancer-class", "example.com/no-such-load-balancer")
        .create(&c, &ns)
        .await;
    let waiting = format!(
        r#"kafka_advertiser_statefulset_brokers_waiting_for_address{{namespace="{ns}",statefulset="waits"}} 2"#
    );
    wait_for("the controller's gauge for the StatefulSet", T, || async {
        scrape(true).await.lines().any(|l| l == waiting).then_some(())
    })
    .await;
    wait_for("the webhook counting address_pending denials", T, || async {
        (series_sum(&scrape(false).await, pending) > before).then_some(())
    })
    .await;
    let api: Api<StatefulSet> = Api::namespaced(c.clone(), &ns);
    api.delete(&sts.name_any(), &Default::default()).await.unwrap();
    let label = format!(r#"namespace="{ns}",statefulset="waits""#);
    wait_for("the StatefulSet's series removed", T, || async { (!scrape(true).await.contains(&label)).then_some(()) })
        .await;
}
