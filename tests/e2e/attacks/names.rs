//! Names and bounds per tenant (issue 29: the review's N3, N5, N7), tried as a tenant with only
//! `edit`, under the shipped example classes and under classes of the test's own: another tenant's
//! host names (its subtree under a `{namespace}` suffix, a name it already holds under a shared
//! suffix), odd IPv4 spellings and DNS names under an address-only class, `service-annotations`
//! that place addresses, and mount paths that land on system directories. After each attack the
//! stored objects are diffed: nothing but the attacker's own StatefulSet's objects changed, and no
//! broker was admitted.

use super::*;

fn class_ar() -> ApiResource {
    ar("kafka-advertiser.io", "v1alpha1", "ExternalAccessClass", "externalaccessclasses")
}

/// The classes of `deploy/examples/access-classes.yaml`, as the platform applies them, with their
/// namespaceSelector's label on `teams`; removed when dropped.
async fn shipped_classes(c: &Client, teams: &[&str]) -> ClusterObjects {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples/access-classes.yaml")).unwrap();
    let mut made = Vec::new();
    for v in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
        let o: DynamicObject = serde_json::from_value(v).unwrap();
        made.push((class_ar(), o.name_any()));
        class_api(c).create(&PostParams::default(), &o).await.unwrap();
    }
    for t in teams {
        label(c, t, json!({"platform.example.com/kafka": "external"})).await;
    }
    ClusterObjects(made)
}

/// A class of the test's own for the tenants of `id`.
async fn own_class(c: &Client, name: &str, id: &str, spec: Value) -> ClusterObjects {
    let mut spec = spec;
    spec["namespaceSelector"] = json!({"matchLabels": {"e2e-tenant": id}});
    let o: DynamicObject = serde_json::from_value(json!({"apiVersion": "kafka-advertiser.io/v1alpha1",
        "kind": "ExternalAccessClass", "metadata": {"name": name}, "spec": spec}))
    .unwrap();
    class_api(c).create(&PostParams::default(), &o).await.unwrap();
    ClusterObjects(vec![(class_ar(), name.to_owned())])
}

#[tokio::test]
async fn names_and_bounds_hold_per_tenant() {
    // The shipped classes include a default one: nothing else runs meanwhile.
    let _g = INSTALL.write().await;
    let c = client().await;
    let (p, _platform) = platform(&c, "names").await;
    let id = p.infra.rsplit('-').next().unwrap().to_owned();
    let shipped_guard = shipped_classes(&c, &[&p.team_a, &p.team_b]).await;
    let (names, lan) = (format!("e2e-names-{id}"), format!("e2e-lan-{id}"));
    let zone = format!("names-{id}.example.com");
    // gateway-tls under a shared suffix: an SNI route and a Certificate from the platform's issuer per broker.
    let settings = json!({"mode": "gateway-tls", "gateway": format!("{}/public", p.infra), "gateway-listener": "https",
        "tls-issuer": format!("ClusterIssuer/{}", p.issuer)});
    let spec = json!({"settings": settings, "tenantSettings": ["hostname-template"], "hostnameSuffixes": [zone]});
    let _names = own_class(&c, &names, &id, spec).await;
    let _lan = own_class(
        &c,
        &lan,
        &id,
        json!({"settings": {"mode": "shared-address"},
        "tenantSettings": ["address", "port-base", "service-annotations"], "addressRanges": ["203.0.113.0/24"]}),
    )
    .await;
    let shipped: Vec<&str> = shipped_guard.0.iter().map(|(_, n)| n.as_str()).collect();
    every_replica_read_classes(&c, &[&[names.as_str(), lan.as_str()], &shipped[..]].concat()).await;
    let (tenant_a, tenant_b) = (tenant_client(&c, &p.team_a).await, tenant_client(&c, &p.team_b).await);
    let ns = p.team_a.clone();

    // N3 under the shipped class: team-b's subtree is not team-a's.
    let sub = Broker::new("sub", 1)
        .annotate("kafka-advertiser.io/class", "shared-gateway")
        .annotate("kafka-advertiser.io/hostname-template", "{pod}.team-b.kafka.example.com");
    let own = attack(&c, &p, &tenant_a, &ns, sub, "AddressNotAllowed", "sub-0.team-b.kafka.example.com").await;
    assert!(own.is_empty(), "{own:?}");

    // N3 under a shared suffix: the names team-b holds first (its TLSRoutes and Certificates) are not
    // team-a's to take.
    Broker::new("kafka", 2)
        .annotate("kafka-advertiser.io/class", &names)
        .annotate("kafka-advertiser.io/hostname-template", &format!("{{pod}}.{zone}"))
        .create(&tenant_b, &p.team_b)
        .await;
    wait_pods(&c, &p.team_b, "kafka", 2, T).await;
    wait_for("team-b's broker Services", T, || async {
        (services_of(&c, &p.team_b, "kafka").await.len() == 2).then_some(())
    })
    .await;
    // Its writes settle (the diff starts after them); creationTimestamp has whole seconds: the
    // squatter is strictly younger.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let squat = Broker::new("squat", 2)
        .annotate("kafka-advertiser.io/class", &names)
        .annotate("kafka-advertiser.io/hostname-template", &format!("kafka-{{ordinal}}.{zone}"));
    let own = attack(&c, &p, &tenant_a, &ns, squat, "HostnameConflict", &format!("kafka-0.{zone}")).await;
    assert!(own.is_empty(), "the squatter got {own:?} (no Service, TLSRoute or Certificate)");
    wait_event(&c, &ns, "squat", "FailedCreate", "is already advertised or held by another StatefulSet").await;

    lan_attacks(&c, &p, &tenant_a, &lan).await;
    nothing_private_leaked(&c, &ns, &p.team_b).await;

    // The legitimate path under the shipped class: the tenant's own subtree.
    Broker::new("kafka", 1).annotate("kafka-advertiser.io/class", "public-names").create(&tenant_a, &ns).await;
    let pods = wait_pods(&c, &ns, "kafka", 1, T).await;
    let v = env_value(&pods[0], "kafka", "KAFKA_ADVERTISED_LISTENERS").unwrap();
    assert!(v.contains(&format!("kafka-0.{ns}.kafka.example.com:9094")), "{v}");
}

/// N5 and N7 under an address-only class: what a resolver reads as an IPv4 address, a DNS name,
/// addresses placed through `service-annotations`, and mount paths that clean to system directories.
async fn lan_attacks(c: &Client, p: &Platform, tenant: &Client, lan: &str) {
    let ns = p.team_a.as_str();
    let lan = |name: &str, address: &str| {
        Broker::new(name, 1)
            .annotate("kafka-advertiser.io/class", lan)
            .annotate("kafka-advertiser.io/port-base", "9092")
            .annotate("kafka-advertiser.io/address", address)
    };
    for (name, address) in [("dec", "3325256711"), ("hex", "0xc6.0x33.0x64.7")] {
        assert!(attack(c, p, tenant, ns, lan(name, address), "InvalidSettings", address).await.is_empty());
    }
    let dns = lan("dns", "login.corp.example.com");
    assert!(attack(c, p, tenant, ns, dns, "AddressNotAllowed", "allows addresses only").await.is_empty());
    for (name, key, value, reason) in [
        ("ips", "metallb.io/loadBalancerIPs", "198.51.100.7", "AddressNotAllowed"),
        ("dnsname", "external-dns.alpha.kubernetes.io/hostname", "www.bank.example", "AddressNotAllowed"),
        ("shared", "metallb.io/allow-shared-ip", "kafka-advertiser-0123456789abcdef", "ClassSettingRefused"),
    ] {
        let annotations = json!({ key: value }).to_string();
        let b = lan(name, "203.0.113.5").annotate("kafka-advertiser.io/service-annotations", &annotations);
        assert!(attack(c, p, tenant, ns, b, reason, key).await.is_empty(), "{key}");
    }
    for (name, path) in [("slashes", "//etc/ssl/certs"), ("dots", "/var/run/./secrets/kubernetes.io/serviceaccount")] {
        let b = lan(name, "203.0.113.6").annotate("kafka-advertiser.io/tls-mount-path", path);
        assert!(attack(c, p, tenant, ns, b, "InvalidSettings", "which holds the system's trust store")
            .await
            .is_empty());
    }
}
