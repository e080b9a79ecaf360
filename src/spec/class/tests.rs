use serde_json::json;

use super::*;
use crate::mutate::Defaults;

fn class(name: &str, spec: serde_json::Value) -> Arc<Class> {
    Arc::new(Class::from_value(&json!({"metadata": {"name": name}, "spec": spec})).unwrap())
}

fn default_class(name: &str, spec: serde_json::Value) -> Arc<Class> {
    Arc::new(
        Class::from_value(
            &json!({"metadata": {"name": name, "annotations": {ANN_DEFAULT_CLASS: "true"}}, "spec": spec}),
        )
        .unwrap(),
    )
}

const OWNER: Owner<'static> = Owner { namespace: "team-a", statefulset: "kafka" };

fn ann(pairs: &[(&str, &str)]) -> Annotations {
    pairs.iter().map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string())).collect()
}

fn internet() -> Arc<Class> {
    class(
        "internet",
        json!({
            "settings": {"mode": "loadbalancer", "load-balancer-class": "cloud", "service-annotations": "{\"lb\": \"public\"}"},
            "tenantSettings": ["anti-affinity", "load-balancer-source-ranges", "port"],
            "hostnameSuffixes": ["kafka.example.com"],
            "addressRanges": ["203.0.113.0/24"],
            "portRange": {"min": 9000, "max": 9999},
            "namespaceSelector": {"matchLabels": {"tier": "tenant"}},
        }),
    )
}

#[test]
fn a_named_class_fixes_its_settings_and_lets_the_tenant_set_only_what_it_lists() {
    let classes = Classes { tenancy: Tenancy::Open, classes: vec![internet()] };
    let labels = BTreeMap::from([("tier".to_owned(), "tenant".to_owned())]);
    let mut a = ann(&[("class", "internet"), ("anti-affinity", "preferred"), ("env", "KAFKA_ADVERTISED_LISTENERS")]);
    a.insert("app".into(), "kafka".into());
    let c = select(&a, "team-a", Some(&labels), &classes).unwrap().unwrap();
    let e = effective(&a, Some(c)).unwrap();
    assert_eq!(e[&format!("{PREFIX}mode")], "loadbalancer");
    assert_eq!(e[&format!("{PREFIX}load-balancer-class")], "cloud");
    assert_eq!(e[&format!("{PREFIX}anti-affinity")], "preferred", "listed in tenantSettings");
    assert_eq!(e[&format!("{PREFIX}env")], "KAFKA_ADVERTISED_LISTENERS", "pod-shape keys are the tenant's");
    assert_eq!(e["app"], "kafka", "other annotations pass through");
    // Every setting the class does not hand out is refused, naming it and the class.
    for (k, v) in [
        ("service-annotations", "{\"metallb.io/address-pool\": \"dmz\"}"),
        ("load-balancer-class", "other"),
        ("mode", "nodeport"),
        ("tls-issuer", "ClusterIssuer/corp"),
    ] {
        let mut a = a.clone();
        a.insert(format!("{PREFIX}{k}"), v.into());
        let err = effective(&a, Some(c)).unwrap_err();
        assert_eq!(err.reason(), "ClassSettingRefused");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{PREFIX}{k}")) && msg.contains("internet") && msg.contains("anti-affinity"),
            "{msg}"
        );
    }
    // Repeating the class's own value is no change, so no refusal.
    let mut same = a.clone();
    same.insert(format!("{PREFIX}mode"), " loadbalancer ".into());
    assert!(effective(&same, Some(c)).is_ok());
    // Annotations outside the vocabulary (our own status ones) are not settings.
    let mut ours = a.clone();
    ours.insert(format!("{PREFIX}advertised"), "EXTERNAL://x:1".into());
    assert!(effective(&ours, Some(c)).is_ok());
}

#[test]
fn which_class_applies() {
    let labels = BTreeMap::from([("tier".to_owned(), "tenant".to_owned())]);
    let open = Classes { tenancy: Tenancy::Open, classes: vec![internet()] };
    let closed = Classes { tenancy: Tenancy::Classes, ..open.clone() };
    let none = Annotations::new();
    assert!(select(&none, "a", Some(&labels), &open).unwrap().is_none(), "open: no class, no default");
    assert_eq!(select(&none, "a", Some(&labels), &closed).unwrap_err(), ClassError::Required);
    let missing = ann(&[("class", "intranet")]);
    assert_eq!(select(&missing, "a", None, &open).unwrap_err(), ClassError::NotFound { class: "intranet".into() });
    // A class the namespace is not selected by is refused in both modes: no fallback to open.
    let named = ann(&[("class", "internet")]);
    let other = BTreeMap::from([("tier".to_owned(), "platform".to_owned())]);
    for c in [&open, &closed] {
        let err = select(&named, "infra", Some(&other), c).unwrap_err();
        assert_eq!(err.reason(), "ClassNotPermitted");
        // Labels not known yet admit nothing (N11): a `NotIn` selector would pass an empty map.
        let unknown = select(&named, "infra", None, c).unwrap_err();
        assert_eq!(unknown, ClassError::NamespaceUnknown { class: "internet".into(), namespace: "infra".into() });
        assert!(err.to_string().contains("namespace infra"));
    }
    // One default applies when none is named; two are an error, never a guess.
    let d = Classes { tenancy: Tenancy::Classes, classes: vec![internet(), default_class("intranet", json!({}))] };
    assert_eq!(select(&none, "a", None, &d).unwrap().unwrap().name, "intranet");
    let two = Classes { classes: vec![default_class("b", json!({})), default_class("a", json!({}))], ..d.clone() };
    let err = select(&none, "a", None, &two).unwrap_err();
    assert_eq!(err, ClassError::DefaultAmbiguous { classes: vec!["a".into(), "b".into()] });
    assert!(select(&ann(&[("class", "b")]), "a", None, &two).is_ok(), "naming one resolves it");
}

#[test]
fn bounds_on_ports_hosts_and_addresses() {
    let c = internet();
    let s = |pairs: &[(&str, &str)]| Settings::from_annotations(&ann(pairs), &Defaults::default()).unwrap();
    assert!(c.bounds(&s(&[("port", "9094")]), 0, None, OWNER).is_ok());
    let err = c.bounds(&s(&[("port", "443")]), 0, None, OWNER).unwrap_err();
    assert_eq!(err.reason(), "PortOutOfRange");
    assert!(err.to_string().contains("port 443") && err.to_string().contains("9000-9999"), "{err}");
    // port-base + N: the last broker's port counts.
    let tcp = s(&[("mode", "shared-address"), ("address", "203.0.113.7"), ("port-base", "9998")]);
    assert!(c.bounds(&tcp, 1, None, OWNER).is_ok());
    assert_eq!(c.bounds(&tcp, 2, None, OWNER).unwrap_err().reason(), "PortOutOfRange");
    // An IP outside addressRanges (another tenant's MetalLB IP), a name outside the suffixes.
    let foreign = s(&[("mode", "shared-address"), ("address", "198.51.100.7"), ("port-base", "9092")]);
    assert_eq!(c.bounds(&foreign, 0, None, OWNER).unwrap_err().reason(), "AddressNotAllowed");
    let host = s(&[("mode", "hostname"), ("hostname-template", "{pod}.kafka.example.com")]);
    assert!(c.bounds(&host, 0, Some("kafka-0.kafka.example.com"), OWNER).is_ok());
    let err = c.bounds(&host, 0, Some("www.corp.example.org"), OWNER).unwrap_err();
    assert!(err.to_string().contains("www.corp.example.org") && err.to_string().contains("kafka.example.com"));
}

#[test]
fn suffixes_match_on_label_boundaries_and_cidrs_by_prefix() {
    assert!(under("kafka.example.com", "example.com"));
    assert!(under("A.Example.COM.", "example.com"));
    assert!(under("example.com", "example.com"));
    assert!(!under("badexample.com", "example.com"));
    assert!(!under("example.com.evil.org", "example.com"));
    assert!(!under("x.example.com", ""));
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(in_cidr(ip("203.0.113.7"), "203.0.113.0/24"));
    assert!(!in_cidr(ip("203.0.114.7"), "203.0.113.0/24"));
    assert!(in_cidr(ip("10.1.2.3"), "0.0.0.0/0"));
    assert!(in_cidr(ip("2001:db8::5"), "2001:db8::/32"));
    assert!(!in_cidr(ip("2001:db9::5"), "2001:db8::/32"));
    assert!(!in_cidr(ip("203.0.113.7"), "2001:db8::/32"), "families never match");
    assert!(in_cidr(ip("203.0.113.7"), "203.0.113.7"), "a bare address is itself");
    // A range that does not parse contains nothing (before: `/abc` became a bare /32, `/33` a /32).
    for bad in ["203.0.113.7/abc", "203.0.113.0/33", "203.0.113.0/ 24", "example.com"] {
        assert!(!in_cidr(ip("203.0.113.7"), bad), "{bad}");
    }
    // And a class holding one is refused with the entry named (preview reads classes from files).
    let e = Class::from_value(
        &json!({"metadata": {"name": "c"}, "spec": {"addressRanges": ["10.0.0.0/8", "10.0.0.0/abc"]}}),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("10.0.0.0/abc"), "{e}");
}

#[test]
fn selectors() {
    let sel: LabelSelector = serde_json::from_value(json!({
        "matchLabels": {"tier": "tenant"},
        "matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}, {"key": "frozen", "operator": "DoesNotExist"}]
    }))
    .unwrap();
    let l = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Annotations>();
    assert!(selects(&sel, &l(&[("tier", "tenant"), ("team", "a")])));
    assert!(!selects(&sel, &l(&[("tier", "tenant"), ("team", "c")])));
    assert!(!selects(&sel, &l(&[("tier", "tenant"), ("team", "a"), ("frozen", "")])));
    assert!(selects(&LabelSelector::default(), &l(&[])), "an empty selector selects everything");
    // One it cannot read selects nothing (fail closed).
    for bad in [
        json!({"matchExpressions": [{"key": "team", "operator": "Like", "values": ["a"]}]}),
        json!({"matchExpressions": [{"key": "team", "operator": "In"}]}),
    ] {
        let sel: LabelSelector = serde_json::from_value(bad).unwrap();
        assert!(!selects(&sel, &l(&[("team", "a")])));
    }
}

#[test]
fn usage_counts_namespaces_and_statefulsets_per_class() {
    let u = usage([("a", "internet"), ("a", "internet"), ("b", "internet"), ("b", "intranet")]);
    assert_eq!(u["internet"], (2, 3));
    assert_eq!(u["intranet"], (1, 1));
    assert!(usage([]).is_empty());
}

/// `{namespace}` and `{statefulset}` in `hostnameSuffixes` are the owner's (N3): team-a's
/// StatefulSet gets nothing under team-b's subtree.
#[test]
fn per_tenant_suffixes_read_for_the_owner() {
    let c = class(
        "shared-gateway",
        json!({"hostnameSuffixes": ["{namespace}.kafka.example.com", "{statefulset}-{namespace}.apps.example.com"]}),
    );
    assert!(c.host_or_ip("kafka-0.team-a.kafka.example.com", "t", OWNER).is_ok());
    assert!(c.host_or_ip("kafka-team-a.apps.example.com", "t", OWNER).is_ok());
    let err = c.host_or_ip("kafka-0.team-b.kafka.example.com", "t", OWNER).unwrap_err();
    assert_eq!(err.reason(), "AddressNotAllowed");
    assert!(err.to_string().contains("team-a.kafka.example.com"), "the suffix as it reads for the owner: {err}");
    for bad in ["{tenant}.example.com", "*.example.com", "{namespace}.{x}", "10.0.0.1"] {
        let v = json!({"metadata": {"name": "x"}, "spec": {"hostnameSuffixes": [bad]}});
        assert!(Class::from_value(&v).is_err(), "{bad:?} is refused as a suffix");
    }
    assert!(
        Class::from_value(&json!({"metadata": {"name": "x"}, "spec": {"hostnameSuffixes": ["{namespace}.x"]}})).is_ok()
    );
}

/// A class with `addressRanges` and no `hostnameSuffixes` allows no DNS name, and no address but in
/// its canonical spelling (N5a): a resolver reads `3325256711` as 198.51.100.7.
#[test]
fn an_address_only_class_refuses_names_and_odd_spellings() {
    let lan = class("lan", json!({"addressRanges": ["203.0.113.0/24"], "tenantSettings": ["address"]}));
    assert!(lan.host_or_ip("203.0.113.9", "t", OWNER).is_ok());
    for (value, reason) in [
        ("198.51.100.7", "AddressNotAllowed"),
        ("0xc6.0x33.0x64.7", "AddressNotAllowed"),
        ("3325256711", "AddressNotAllowed"),
        ("login.corp.example.com", "AddressNotAllowed"),
        ("*.kafka.example.com", "AddressNotAllowed"),
    ] {
        let err = lan.host_or_ip(value, "kafka-advertiser.io/address", OWNER).unwrap_err();
        assert_eq!(err.reason(), reason, "{value}");
        assert!(err.to_string().contains(value), "{err}");
    }
    for bad in ["2001:db8:0::/32", "203.0.113.0/024"] {
        let v = json!({"metadata": {"name": "x"}, "spec": {"addressRanges": [bad]}});
        assert!(Class::from_value(&v).is_err(), "{bad:?}: only canonical spellings");
    }
    let names = lan.host_or_ip("login.corp.example.com", "t", OWNER).unwrap_err();
    assert!(matches!(names, ClassError::NamesNotAllowed { .. }), "{names}");
    // A class that bounds nothing still reads only addresses and names.
    let free = class("free", json!({}));
    assert!(free.host_or_ip("login.corp.example.com", "t", OWNER).is_ok());
    assert!(free.host_or_ip("3325256711", "t", OWNER).is_err());
}

/// Granting `service-annotations` is not a way around the bounds (N5b): the keys that place an
/// address or a name are judged like the settings are.
#[test]
fn service_annotations_that_place_addresses_are_bounded() {
    let c = class(
        "lb",
        json!({"addressRanges": ["203.0.113.0/24"], "hostnameSuffixes": ["{namespace}.kafka.example.com"], "tenantSettings": ["service-annotations"]}),
    );
    let check = |pairs: &[(&str, &str)]| {
        let m: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        c.service_annotations(&m, OWNER, "kafka-advertiser.io/service-annotations")
    };
    assert!(check(&[("metallb.io/loadBalancerIPs", "203.0.113.4"), ("prometheus.io/scrape", "true")]).is_ok());
    assert!(check(&[("external-dns.alpha.kubernetes.io/hostname", "b0.team-a.kafka.example.com")]).is_ok());
    for (k, v) in [
        ("metallb.io/loadBalancerIPs", "198.51.100.7"),
        ("metallb.universe.tf/loadBalancerIPs", "203.0.113.4,198.51.100.7"),
        ("metallb.io/allow-shared-ip", "kafka-advertiser-0123456789abcdef"),
        ("external-dns.alpha.kubernetes.io/hostname", "www.bank.example"),
        ("external-dns.alpha.kubernetes.io/hostname", "b0.team-b.kafka.example.com"),
        ("external-dns.alpha.kubernetes.io/target", "198.51.100.7"),
        ("service.beta.kubernetes.io/aws-load-balancer-eip-allocations", "eipalloc-0123"),
        ("service.beta.kubernetes.io/azure-load-balancer-ipv4", "198.51.100.7"),
    ] {
        let err = check(&[(k, v)]).unwrap_err();
        assert!(err.to_string().contains(k) || err.to_string().contains(v), "{k}={v}: {err}");
    }
}

/// The controller judges every rendered name as the webhook does (N5d): a wildcard template writes
/// no route and no Certificate, with or without a class.
#[test]
fn a_template_rendering_a_wildcard_is_refused_by_the_intent() {
    let sts = crate::testing::StatefulSetFixture::new("kafka", "team-a")
        .annotations(serde_json::json!({"kafka-advertiser.io/mode": "gateway-tls", "kafka-advertiser.io/gateway": "edge",
            "kafka-advertiser.io/gateway-listener": "tls", "kafka-advertiser.io/hostname-template": "*.{ordinal}.kafka.example.com"}))
        .build();
    let err = crate::spec::intent(&Arc::new(sts), &Defaults::default(), &crate::mutate::NoAddresses).unwrap_err();
    assert!(err.to_string().contains("*.0.kafka.example.com"), "{err}");
}

/// A class the exact parse refuses (the CRD checks shapes only) is kept, marked invalid: a
/// StatefulSet it applies to, by name or as the default, is refused (`ClassInvalid`), never judged
/// as if there were no class; its `Valid` condition says why.
#[test]
fn an_invalid_class_fails_closed_and_says_why() {
    let bad = json!({"metadata": {"name": "lan", "generation": 3,
        "annotations": {"kafka-advertiser.io/is-default-class": "true"}},
        "spec": {"addressRanges": ["10.0.0.0/33"]}});
    assert!(Class::from_value(&bad).is_err());
    let c = Class::from_object(&bad);
    assert!(c.default && c.invalid.as_deref().unwrap().contains("10.0.0.0/33"), "{c:?}");
    let classes = Classes { tenancy: Tenancy::Open, classes: vec![Arc::new(c.clone())] };
    for annotations in [BTreeMap::new(), BTreeMap::from([(ANN_CLASS.to_owned(), "lan".to_owned())])] {
        let e = select(&annotations, "ns", Some(&BTreeMap::new()), &classes).unwrap_err();
        assert_eq!(e.reason(), "ClassInvalid");
        assert!(e.to_string().contains("ExternalAccessClass lan is invalid"), "{e}");
    }
    let cond = valid_condition(&c, "2026-12-06T09:00:00Z");
    assert_eq!((cond["status"].as_str(), cond["reason"].as_str()), (Some("False"), Some("ClassInvalid")));
    assert_eq!(cond["observedGeneration"], 3);
    let good = Class::from_object(&json!({"metadata": {"name": "ok"}, "spec": {"addressRanges": ["10.0.0.0/8"]}}));
    assert_eq!(valid_condition(&good, "t")["status"], "True");
}
