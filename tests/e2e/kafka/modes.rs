//! Every mode with real brokers, and the control (the first install pass runs these).

use super::*;

#[tokio::test]
async fn without_the_webhook_the_outside_client_gets_names_it_cannot_reach() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let env = testenv();
    let c = client().await;
    let ns = TempNamespace(namespace(&c, "e2e-kafka-control").await);
    let mut kafka = RealKafka::new("kafka", 3, "loadbalancer");
    kafka.opted_in = false;
    kafka.create(&c, &ns.0).await;
    // The seed's manual first step: one load balancer in front of the brokers, for bootstrapping.
    let lb: Service = serde_json::from_value(json!({
        "metadata": {"name": "kafka-bootstrap", "namespace": ns.0},
        "spec": {"type": "LoadBalancer", "selector": {"app.kubernetes.io/name": "kafka"},
                 "ports": [{"name": "external", "port": 9094, "targetPort": "external"}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(c.clone(), &ns.0).create(&PostParams::default(), &lb).await.unwrap();
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    let ip = wait_for("the bootstrap load balancer's address", Duration::from_secs(60), || async {
        ingress_ip(&Api::<Service>::namespaced(c.clone(), &ns.0).get("kafka-bootstrap").await.ok()?)
    })
    .await;
    let hosts = hosts_file(&env.dir.join("kafka").join(&ns.0), &[]);
    for client in ["java", "kafka-python"] {
        let rt = round_trip(client, &format!("{ip}:9094"), "orders", 3, 15, &hosts, None);
        assert!(!rt.ok, "{client}: the round trip must fail without kafka-advertiser: {}", rt.out);
        assert!(rt.out["consumed"].as_object().unwrap().is_empty(), "{}", rt.out);
        // It got through the load balancer, and learned names that resolve only inside the cluster.
        let internal = format!(".kafka-headless.{}.svc.cluster.local", ns.0);
        // Each client drops the bootstrap connection once it has the metadata, and logs the broker
        // names it then failed to resolve.
        assert!(rt.log.contains(&internal), "{client} names no in-cluster broker: {}\n{}", rt.out, rt.log);
        assert!(learned(&rt).iter().all(|b| b.ends_with(&format!("{internal}:9094"))), "{client}: {}", rt.out);
    }
}

fn work(ns: &TempNamespace) -> PathBuf {
    testenv().dir.join("kafka").join(&ns.0)
}

#[tokio::test]
async fn pod_ip_mode_brokers_are_reached_at_their_pod_ips() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let (ns, pods) = ready_cluster(&c, "e2e-kafka-podip", &RealKafka::new("kafka", 3, "pod-ip")).await;
    let want =
        sorted(pods.iter().map(|p| format!("{}:9094", p.status.as_ref().unwrap().pod_ip.as_ref().unwrap())).collect());
    clients_reach(&work(&ns), &want[0], &want, &[], None);
}

/// `pending-timeout` with real brokers: a load balancer that stays pending does not keep them from
/// starting (they advertise only their internal listener, and Kafka accepts the external one bound
/// but not advertised); when it answers, each broker is restarted once and every client reaches
/// every broker at its address. The test plays the load balancer (a class nothing here serves).
#[tokio::test]
async fn brokers_start_without_their_load_balancer_and_take_its_address_when_it_answers() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let mut kafka = RealKafka::new("kafka", 2, "loadbalancer");
    let class = "e2e.kafka-advertiser.io/played-by-the-test";
    kafka.annotations.push(("kafka-advertiser.io/load-balancer-class".into(), class.into()));
    kafka.annotations.push(("kafka-advertiser.io/pending-timeout".into(), "0s".into()));
    let (ns, pods) = ready_cluster(&c, "e2e-kafka-pending", &kafka).await;
    for p in &pods {
        let a = &p.annotations()["kafka-advertiser.io/advertised"];
        assert_eq!(a, &format!("INTERNAL://{}.kafka-headless.{}.svc.cluster.local:9092", p.name_any(), ns.0));
    }
    // The load balancer answers: loopback addresses outside MetalLB's pool, distinct per run.
    let t0 = Instant::now();
    let ips: Vec<String> = (0..2).map(|o| format!("127.0.{}.{}", 13 + o, std::process::id() % 250 + 1)).collect();
    let services: Api<Service> = Api::namespaced(c.clone(), &ns.0);
    for (o, ip) in ips.iter().enumerate() {
        let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}});
        let name = format!("kafka-{o}-external");
        services.patch_status(&name, &Default::default(), &kube::api::Patch::Merge(status)).await.unwrap();
    }
    let uids: Vec<String> = pods.iter().map(|p| p.uid().unwrap()).collect();
    wait_for("both brokers restarted with their addresses", Duration::from_secs(300), || async {
        let pods = pods_of(&c, &ns.0, "kafka").await;
        let done = pods.len() == 2
            && pods.iter().enumerate().all(|(o, p)| {
                p.uid().as_ref() != Some(&uids[o])
                    && p.annotations()
                        .get("kafka-advertiser.io/advertised")
                        .is_some_and(|a| a.ends_with(&format!(",EXTERNAL://{}:9094", ips[o])))
            });
        done.then_some(())
    })
    .await;
    brokers_ready(&c, &ns.0, "kafka", 2).await;
    let rolled = t0.elapsed();
    let want = sorted(ips.iter().map(|ip| format!("{ip}:9094")).collect());
    clients_reach_with(&["java", "kafka-python"], &work(&ns), &want[0], &want, &[], None);
    eprintln!("pending-timeout: address → both brokers restarted and ready, advertising it, in {rolled:?}");
}

#[tokio::test]
async fn shared_address_mode_brokers_share_one_load_balancer_ip() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let ip = free_pool_ip(&c).await;
    let mut kafka = RealKafka::new("kafka", 3, "shared-address");
    kafka.annotations.push(("kafka-advertiser.io/address".into(), ip.clone()));
    kafka.annotations.push(("kafka-advertiser.io/port-base".into(), "19092".into()));
    let (ns, _) = ready_cluster(&c, "e2e-kafka-shared", &kafka).await;
    let want: Vec<String> = (0..3).map(|n| format!("{ip}:{}", 19092 + n)).collect();
    wait_for("MetalLB gave every broker Service the shared IP", Duration::from_secs(60), || async {
        let svcs = services_of(&c, &ns.0, "kafka").await;
        (svcs.len() == 3 && svcs.values().all(|s| ingress_ip(s).as_deref() == Some(ip.as_str()))).then_some(())
    })
    .await;
    clients_reach_with(&ALL_CLIENTS, &work(&ns), &want[2], &want, &[], None);
}

#[tokio::test]
async fn nodeport_mode_brokers_are_reached_on_their_nodes() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let base = free_node_ports(&c, 3).await;
    let mut kafka = RealKafka::new("kafka", 3, "nodeport");
    kafka.annotations.push(("kafka-advertiser.io/node-port-base".into(), base.to_string()));
    let (ns, pods) = ready_cluster(&c, "e2e-kafka-nodeport", &kafka).await;
    // Broker N on its node's address (status.hostIP, which the kubelet gives the pod) and nodePort base + N.
    let want = sorted(
        pods.iter()
            .map(|p| {
                format!(
                    "{}:{}",
                    p.status.as_ref().unwrap().host_ip.as_ref().unwrap(),
                    base + ordinal_of(&p.name_any()) as i32
                )
            })
            .collect(),
    );
    wait_for("every broker's node port", Duration::from_secs(60), || async {
        want.iter().all(|a| std::net::TcpStream::connect(a).is_ok()).then_some(())
    })
    .await;
    clients_reach(&work(&ns), &want[0], &want, &[], None);
}

#[tokio::test]
async fn hostname_mode_brokers_are_reached_by_their_dns_names() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let mut kafka = RealKafka::new("kafka", 3, "hostname");
    kafka
        .annotations
        .push(("kafka-advertiser.io/hostname-template".into(), "kafka-{ordinal}.{namespace}.example.test".into()));
    let (ns, _) = ready_cluster(&c, "e2e-kafka-hostname", &kafka).await;
    // What external-dns would publish: each broker's name to its own load balancer's address.
    let svcs = wait_for("every broker Service's load-balancer address", Duration::from_secs(60), || async {
        let svcs = services_of(&c, &ns.0, "kafka").await;
        (svcs.len() == 3 && svcs.values().all(|s| ingress_ip(s).is_some())).then_some(svcs)
    })
    .await;
    let hosts: Vec<String> = svcs
        .values()
        .map(|s| {
            format!(
                "{} kafka-{}.{}.example.test",
                ingress_ip(s).unwrap(),
                s.labels()["kafka-advertiser.io/ordinal"],
                ns.0
            )
        })
        .collect();
    let want: Vec<String> = (0..3).map(|n| format!("kafka-{n}.{}.example.test:9094", ns.0)).collect();
    clients_reach(&work(&ns), &want[1], &want, &hosts, None);
}

/// A CA for cert-manager's CA issuer: `Issuer/ca` in the namespace; returns the CA's PEM file.
async fn ca_issuer(c: &Client, ns: &str, dir: &Path) -> PathBuf {
    let (key, crt) = make_ca(dir, "e2e-kafka-ca");
    let b64 = |p: &Path| base64_encode(&std::fs::read(p).unwrap());
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "kafka-ca", "namespace": ns}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(&crt), "tls.key": b64(&key)}
    }))
    .unwrap();
    Api::namespaced(c.clone(), ns).create(&PostParams::default(), &secret).await.unwrap();
    let issuer: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Issuer",
        "metadata": {"name": "ca", "namespace": ns}, "spec": {"ca": {"secretName": "kafka-ca"}}
    }))
    .unwrap();
    let ar = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("cert-manager.io", "v1", "Issuer"),
        "issuers",
    );
    Api::<kube::api::DynamicObject>::namespaced_with(c.clone(), ns, &ar)
        .create(&PostParams::default(), &issuer)
        .await
        .unwrap();
    crt
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A TLS external listener from the Certificates `tls-issuer` keeps (issued by cert-manager's own
/// CA issuer), served by the brokers as the apache/kafka image reads PEM (the key and chain through
/// Kafka's DirectoryConfigProvider); clients verify the chain and the IP SAN.
#[tokio::test]
async fn tls_listener_serves_the_certificate_naming_the_learned_address() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let ns = TempNamespace(namespace(&c, "e2e-kafka-tls").await);
    let ca = ca_issuer(&c, &ns.0, &work(&ns)).await;
    let kafka = tls_kafka("loadbalancer");
    kafka.create(&c, &ns.0).await;
    let addrs = converged(&c, &ns.0, "kafka", 3, 9094).await;
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    let want = sorted(addrs.values().map(|ip| format!("{ip}:9094")).collect());
    clients_reach(&work(&ns), &want[0], &want, &[], Some(&ca));
    // The control: a client that trusts another CA refuses the brokers.
    let other = ca_issuer_file(&work(&ns).join("other"));
    let hosts = hosts_file(&work(&ns), &[]);
    let rt = round_trip("kafka-python", &want[0], "refused", 3, 10, &hosts, Some(&other));
    assert!(
        !rt.ok && rt.out["brokers"].as_array().unwrap().is_empty(),
        "an untrusted chain must be refused: {}",
        rt.out
    );
}

fn ca_issuer_file(dir: &Path) -> PathBuf {
    make_ca(dir, "another-ca").1
}

/// A self-signed CA (EC P-256, two days) in `dir`: (key file, certificate file).
fn make_ca(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (key, crt) = (dir.join("ca.key"), dir.join("ca.crt"));
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-days", "2"])
        .args(["-subj", &format!("/CN={cn}"), "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .unwrap();
    assert!(ok.status.success(), "openssl: {}", String::from_utf8_lossy(&ok.stderr));
    (key, crt)
}

/// A Gateway with `listeners`, given `ip` by its (played) controller.
async fn real_gateway(c: &Client, ns: &str, listeners: Value, ip: &str) {
    create_gateway(c, ns, "edge", listeners).await;
    testenv().script(&["gateway", &format!("{ns}/edge"), ip]);
}

#[tokio::test]
async fn gateway_tcp_brokers_are_reached_through_their_listener_set() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let ns = TempNamespace(namespace(&c, "e2e-kafka-gwtcp").await);
    let ip = free_gateway_ip(&c).await;
    real_gateway(&c, &ns.0, json!([{"name": "web", "port": 8443, "protocol": "TCP"}]), &ip).await;
    let mut kafka = RealKafka::new("kafka", 3, "gateway-tcp");
    kafka.annotations.push(("kafka-advertiser.io/gateway".into(), "edge".into()));
    kafka.annotations.push(("kafka-advertiser.io/port-base".into(), "19092".into()));
    kafka.create(&c, &ns.0).await;
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    let want: Vec<String> = (0..3).map(|n| format!("{ip}:{}", 19092 + n)).collect();
    clients_reach(&work(&ns), &want[1], &want, &[], None);
}

#[tokio::test]
async fn gateway_tls_brokers_are_reached_by_sni_with_their_own_certificates() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let ns = TempNamespace(namespace(&c, "e2e-kafka-gwtls").await);
    let ca = ca_issuer(&c, &ns.0, &work(&ns)).await;
    let ip = free_gateway_ip(&c).await;
    let sni = json!([{"name": "kafka-sni", "port": 9094, "protocol": "TLS", "tls": {"mode": "Passthrough"},
                      "allowedRoutes": {"namespaces": {"from": "Same"}}}]);
    real_gateway(&c, &ns.0, sni, &ip).await;
    let mut kafka = tls_kafka("gateway-tls");
    for (k, v) in [
        ("gateway", "edge".to_owned()),
        ("gateway-listener", "kafka-sni".to_owned()),
        ("hostname-template", "kafka-{ordinal}.{namespace}.example.test".to_owned()),
    ] {
        kafka.annotations.push((format!("kafka-advertiser.io/{k}"), v));
    }
    kafka.create(&c, &ns.0).await;
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    // One address for every name (what the DNS zone publishes); the Gateway tells them apart by SNI.
    let names: Vec<String> = (0..3).map(|n| format!("kafka-{n}.{}.example.test", ns.0)).collect();
    let hosts: Vec<String> = names.iter().map(|n| format!("{ip} {n}")).collect();
    let want: Vec<String> = names.iter().map(|n| format!("{n}:9094")).collect();
    // Every client, kafka-python too. Its intermittent "Connection to N failed" here had two
    // causes in the harness (found by reading, not caught in the act): the pod runner LISTed the Gateway kinds each half second and read a failed
    // LIST as "no routes", closing the SNI relay's listeners for a pass (it watches them now and
    // keeps what it saw), and whose one-failure readiness took a busy broker out of its only
    // endpoint (the probe's thresholds hold now).
    clients_reach_with(&ALL_CLIENTS, &work(&ns), &want[2], &want, &hosts, Some(&ca));
}

/// Brokers whose EXTERNAL listener is TLS from the Certificates of `Issuer/ca` (tls-issuer), read
/// as docs/gateway-and-tls.md shows: PEM key store values through Kafka's DirectoryConfigProvider.
fn tls_kafka(mode: &str) -> RealKafka {
    let mut kafka = RealKafka::new("kafka", 3, mode);
    kafka.annotations.push(("kafka-advertiser.io/tls-issuer".into(), "Issuer/ca".into()));
    let tls = "/etc/kafka/tls";
    for (k, v) in [
        ("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:SSL".to_owned()),
        ("KAFKA_CONFIG_PROVIDERS", "dir".to_owned()),
        (
            "KAFKA_CONFIG_PROVIDERS_DIR_CLASS",
            "org.apache.kafka.common.config.provider.DirectoryConfigProvider".to_owned(),
        ),
        ("KAFKA_LISTENER_NAME_EXTERNAL_SSL_KEYSTORE_TYPE", "PEM".to_owned()),
        ("KAFKA_LISTENER_NAME_EXTERNAL_SSL_KEYSTORE_KEY", format!("${{dir:{tls}:tls.key}}")),
        ("KAFKA_LISTENER_NAME_EXTERNAL_SSL_KEYSTORE_CERTIFICATE_CHAIN", format!("${{dir:{tls}:tls.crt}}")),
    ] {
        kafka.env.push((k.into(), v));
    }
    kafka
}

#[tokio::test]
async fn bitnami_brokers_take_the_advertised_listeners_as_kafka_cfg() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let mut kafka = RealKafka::new("kafka", 3, "loadbalancer");
    kafka.bitnami = true;
    let ns = TempNamespace(namespace(&c, "e2e-kafka-bitnami").await);
    kafka.create(&c, &ns.0).await;
    let addrs = converged_env(&c, &ns.0, "kafka", 3, 9094, "KAFKA_CFG_ADVERTISED_LISTENERS").await;
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    let want = sorted(addrs.values().map(|ip| format!("{ip}:9094")).collect());
    clients_reach(&work(&ns), &want[0], &want, &[], None);
}

#[tokio::test]
async fn brokers_with_separate_controllers_leave_the_controllers_alone() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let mut kafka = RealKafka::new("kafka", 3, "loadbalancer");
    kafka.controllers = Some(3);
    let ns = TempNamespace(namespace(&c, "e2e-kafka-isolated").await);
    kafka.create(&c, &ns.0).await;
    let addrs = converged(&c, &ns.0, "kafka", 3, 9094).await;
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    brokers_ready(&c, &ns.0, "kafka-controller", 3).await;
    // The controllers are not opted in: no Service, no injected listener, no annotation.
    assert!(services_of(&c, &ns.0, "kafka-controller").await.is_empty());
    for p in pods_of(&c, &ns.0, "kafka-controller").await {
        assert!(env_value(&p, "kafka", "KAFKA_ADVERTISED_LISTENERS").is_none(), "{:?}", p.metadata.name);
        assert!(!p.annotations().contains_key("kafka-advertiser.io/advertised"));
    }
    let want = sorted(addrs.values().map(|ip| format!("{ip}:9094")).collect());
    clients_reach(&work(&ns), &want[0], &want, &[], None);
}

/// With a producer (acks=all, replication factor 3) and a consumer running: scale the brokers
/// 3 → 5 → 3, roll them, and move one broker's load balancer to another address (the controller
/// rolls that broker: `roll-on-change`). No acknowledged message is lost, and a fresh client
/// reaches the moved broker at its new address.
#[tokio::test]
async fn a_cluster_scales_rolls_and_moves_while_clients_run() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let t0 = Instant::now();
    let mut kafka = RealKafka::new("kafka", 3, "loadbalancer");
    kafka.controllers = Some(3);
    kafka.annotations.push(("kafka-advertiser.io/roll-on-change".into(), "true".into()));
    // Five brokers on the three test nodes: anti-affinity as a preference, not a requirement.
    kafka.annotations.push(("kafka-advertiser.io/anti-affinity".into(), "preferred".into()));
    let ns = TempNamespace(namespace(&c, "e2e-kafka-life").await);
    kafka.create(&c, &ns.0).await;
    let addrs = converged(&c, &ns.0, "kafka", 3, 9094).await;
    brokers_ready(&c, &ns.0, "kafka", 3).await;
    let soak = Soak::start(&work(&ns), &format!("{}:9094", addrs[&0]), "ledger");
    let mut phases = vec![];
    let mut mark = |what: &str, since: Instant| phases.push(format!("{what} {:.1?}", since.elapsed()));

    let t = Instant::now();
    scale(&c, &ns.0, "kafka", 5).await;
    converged(&c, &ns.0, "kafka", 5, 9094).await;
    rolled_out(&c, &ns.0, "kafka", 5).await;
    mark("scale 3→5", t);
    let t = Instant::now();
    scale(&c, &ns.0, "kafka", 3).await;
    wait_pods(&c, &ns.0, "kafka", 3, Duration::from_secs(120)).await;
    rolled_out(&c, &ns.0, "kafka", 3).await;
    mark("scale 5→3", t);
    let t = Instant::now();
    let restarted = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": format!("{:?}", std::time::SystemTime::now())}}}}});
    Api::<StatefulSet>::namespaced(c.clone(), &ns.0)
        .patch("kafka", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(restarted))
        .await
        .unwrap();
    rolled_out(&c, &ns.0, "kafka", 3).await;
    mark("rolling restart", t);

    // The load balancer of broker 1 moves (MetalLB honours a new requested address).
    let t = Instant::now();
    let new_ip = free_pool_ip(&c).await;
    let svc = "kafka-1-external";
    let moved = json!({"metadata": {"annotations": {"metallb.io/loadBalancerIPs": new_ip}}});
    Api::<Service>::namespaced(c.clone(), &ns.0)
        .patch(svc, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(moved))
        .await
        .unwrap();
    wait_for("broker 1 re-admitted advertising its new address", Duration::from_secs(180), || async {
        let pods = pods_of(&c, &ns.0, "kafka").await;
        let p = pods.iter().find(|p| p.name_any() == "kafka-1")?;
        env_value(p, "kafka", "KAFKA_ADVERTISED_LISTENERS")?
            .ends_with(&format!("EXTERNAL://{new_ip}:9094"))
            .then_some(())
    })
    .await;
    rolled_out(&c, &ns.0, "kafka", 3).await;
    mark("address moved and broker 1 rolled", t);

    let result = soak.finish();
    eprintln!("life of a cluster: {result} — phases: {}; total {:.1?}", phases.join(", "), t0.elapsed());
    assert_eq!(result["lost"], 0, "acknowledged messages lost: {result}");
    assert!(result["acked"].as_u64().unwrap() > 1000, "the producer kept producing: {result}");
    assert!(result["consumedLive"].as_u64().unwrap() > 0, "the consumer kept reading: {result}");
    assert_transactions_held(&result);
    let addrs = converged(&c, &ns.0, "kafka", 3, 9094).await;
    assert_eq!(addrs[&1], new_ip);
    let want = sorted(addrs.values().map(|ip| format!("{ip}:9094")).collect());
    clients_reach(&work(&ns), &format!("{new_ip}:9094"), &want, &[], None);
}

/// The shipped KRaft examples, as a user applies them into a namespace of their own (the namespace in
/// the voters' names replaced), run as real brokers: Kafka accepts every configuration kafka-advertiser
/// produced for them, and every broker turns ready.
#[tokio::test]
async fn the_shipped_examples_run_as_real_brokers() {
    let _g = INSTALL.read().await;
    let c = client().await;
    for (file, example_ns, var) in [
        ("kafka-apache.yaml", "kafka-apache", "KAFKA_ADVERTISED_LISTENERS"),
        ("kafka-kraft.yaml", "streaming", "KAFKA_CFG_ADVERTISED_LISTENERS"),
    ] {
        let _slot = KAFKA_SLOTS.acquire().await.unwrap();
        let ns = TempNamespace(namespace(&c, "e2e-kafka-example").await);
        let text = std::fs::read_to_string(examples_dir().join(file)).unwrap();
        let mut docs = Vec::new();
        let text = text.replace(&format!(".{example_ns}.svc"), &format!(".{}.svc", ns.0));
        for mut v in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            if v["kind"] == "StatefulSet" {
                v["spec"]["template"]["metadata"]["annotations"]["testenv.kafka-advertiser.io/run"] = json!("broker");
            }
            docs.push(serde_saphyr::to_string(&v).unwrap());
        }
        let path = work(&ns).join(file);
        std::fs::create_dir_all(work(&ns)).unwrap();
        std::fs::write(&path, docs.join("---\n")).unwrap();
        apply_file(&c, &path, &ns.0).await;
        let took = brokers_ready(&c, &ns.0, "kafka", 3).await;
        for p in pods_of(&c, &ns.0, "kafka").await {
            let v = env_value(&p, "kafka", var).unwrap_or_default();
            assert!(v.contains("EXTERNAL://") && !v.contains("$("), "{file}: {:?} advertises {v:?}", p.metadata.name);
            // Ready is not enough where the example has no readiness probe: the broker listens.
            let ip = p.status.as_ref().unwrap().pod_ip.clone().unwrap();
            wait_for(&format!("{file}: {ip}:9092 accepts"), Duration::from_secs(60), || async {
                std::net::TcpStream::connect((ip.as_str(), 9092)).ok().map(|_| ())
            })
            .await;
        }
        if var == "KAFKA_CFG_ADVERTISED_LISTENERS" {
            // The loadbalancer example end to end.
            let addrs = converged_env(&c, &ns.0, "kafka", 3, 9094, var).await;
            let want = sorted(addrs.values().map(|ip| format!("{ip}:9094")).collect());
            clients_reach(&work(&ns), &want[0], &want, &[], None);
        }
        let restarts: i32 = pods_of(&c, &ns.0, "kafka")
            .await
            .iter()
            .flat_map(|p| p.status.as_ref().unwrap().container_statuses.iter().flatten().map(|s| s.restart_count))
            .sum();
        assert_eq!(restarts, 0, "{file}: no broker restarted");
        eprintln!("{file}: 3 brokers ready after {took:?}");
    }
}

/// StatefulSets as users get them wrong: a real broker refuses each configuration (its reason is in
/// the pod's last termination message), and kafka-advertiser already said so where users look: a
/// Warning Event on the StatefulSet, in plain words, with what to change.
#[tokio::test]
async fn what_a_broker_refuses_kafka_advertiser_reports_on_the_statefulset() {
    let _g = INSTALL.read().await;
    let _slot = KAFKA_SLOTS.acquire().await.unwrap();
    let c = client().await;
    let ns = TempNamespace(namespace(&c, "e2e-kafka-refused").await);
    let cases = [
        // (name, env change, the Event's reason, what the broker says)
        (
            "nolistener",
            ("KAFKA_LISTENERS", "INTERNAL://:9092,CONTROLLER://:9093"),
            "ListenerNotDeclared",
            "advertised.listeners",
        ),
        (
            "noprotocol",
            ("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"),
            "ListenerNotInProtocolMap",
            "EXTERNAL",
        ),
        (
            "noibl",
            ("KAFKA_INTER_BROKER_LISTENER_NAME", "REPLICATION"),
            "InterBrokerListenerNotAdvertised",
            "inter.broker.listener.name",
        ),
    ];
    for (name, (k, v), _, _) in &cases {
        let mut kafka = RealKafka::new(name, 1, "pod-ip");
        kafka.env.push((k.to_string(), v.to_string()));
        kafka.create(&c, &ns.0).await;
    }
    for (name, _, reason, says) in &cases {
        let ev = wait_event(&c, &ns.0, name, reason, "").await;
        let note = ev.note.unwrap_or_default();
        eprintln!("{name}: {reason}: {note}");
        let refused =
            wait_for(&format!("the broker of {name} refusing its configuration"), Duration::from_secs(120), || async {
                let pods = pods_of(&c, &ns.0, name).await;
                let st = pods.first()?.status.clone()?.container_statuses?.into_iter().next()?;
                let t = st.last_state?.terminated?;
                (t.exit_code != 0).then_some(t.message.unwrap_or_default())
            })
            .await;
        assert!(refused.contains(says), "{name}: the broker's own reason names {says}: {refused}");
    }
}
