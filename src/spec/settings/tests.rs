//! The settings parser from annotation maps: every setting, its defaults and its errors.

use super::*;

fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn hostname_template_must_distinguish_brokers() {
    let d = Defaults::default();
    for t in ["kafka.example.com", "{statefulset}.{namespace}.example.com"] {
        let e = Settings::from_annotations(&ann(&[(ANN_MODE, "hostname"), (ANN_HOSTNAME_TEMPLATE, t)]), &d)
            .unwrap_err()
            .to_string();
        assert!(e.contains(ANN_HOSTNAME_TEMPLATE) && e.contains("{ordinal} or {pod}"), "{e}");
    }
    for t in ["b-{ordinal}.example.com", "{pod}.kafka.example.com"] {
        assert!(Settings::from_annotations(&ann(&[(ANN_MODE, "hostname"), (ANN_HOSTNAME_TEMPLATE, t)]), &d).is_ok());
    }
}

#[test]
fn unspecified_address_is_refused() {
    for a in ["0.0.0.0", "::", "[::]"] {
        let e =
            Settings::from_annotations(&ann(&[(ANN_MODE, "shared-address"), (ANN_ADDRESS, a)]), &Defaults::default())
                .unwrap_err()
                .to_string();
        assert!(e.contains(ANN_ADDRESS) && e.contains("unspecified"), "{e}");
    }
}

#[test]
fn port_base_plus_a_huge_ordinal_is_an_error_naming_both() {
    let s = Settings::from_annotations(
        &ann(&[(ANN_MODE, "shared-address"), (ANN_ADDRESS, "192.0.2.1"), (ANN_PORT_BASE, "65000")]),
        &Defaults::default(),
    )
    .unwrap();
    assert_eq!(s.external_port(535), Ok(65535));
    for ordinal in [536, u32::MAX - 1, u32::MAX] {
        let e = s.external_port(ordinal).unwrap_err().to_string();
        assert!(e.contains(ANN_PORT_BASE) && e.contains(&format!("ordinal {ordinal}")), "{e}");
    }
}

#[test]
fn defaults_apply_without_annotations() {
    let s = Settings::from_annotations(&BTreeMap::new(), &Defaults::default()).unwrap();
    assert_eq!(s.mode, Mode::Loadbalancer);
    assert_eq!((s.port_base, s.port, s.node_port_base, s.internal_port), (9092, 9094, 31090, 9092));
    assert_eq!(s.listener, "EXTERNAL");
    assert_eq!(s.internal_listener.as_deref(), Some("INTERNAL"));
    assert_eq!(s.anti_affinity, AntiAffinity::Required);
    assert_eq!(s.topology_key, "kubernetes.io/hostname");
}

#[test]
fn bad_values_name_the_annotation() {
    for (k, v) in [
        (ANN_PORT_BASE, "nine"),
        (ANN_PORT, "70000"),
        (ANN_NODE_PORT_BASE, "0"),
        (ANN_MODE, "ingress"),
        (ANN_ANTI_AFFINITY, "sometimes"),
        (ANN_LISTENER, "EXT://"),
        (ANN_HOSTNAME_TEMPLATE, "b-{idx}.example.com"),
        (ANN_ADDRESS, "not a host"),
    ] {
        let err = Settings::from_annotations(&ann(&[(k, v)]), &Defaults::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(k) && msg.contains(v), "{msg}");
    }
}

#[test]
fn hostname_mode_requires_template() {
    let err = Settings::from_annotations(&ann(&[(ANN_MODE, "hostname")]), &Defaults::default()).unwrap_err();
    assert!(err.to_string().contains(ANN_HOSTNAME_TEMPLATE));
}

#[test]
fn template_renders_every_placeholder() {
    let t = Template::parse("{statefulset}-{ordinal}.{namespace}.x/{pod}").unwrap();
    assert_eq!(t.render(12, "k-12", "ns", "k"), "k-12.ns.x/k-12");
}

#[test]
fn external_port_overflow_is_an_error() {
    let s = Settings::from_annotations(
        &ann(&[(ANN_MODE, "shared-address"), (ANN_PORT_BASE, "65530")]),
        &Defaults::default(),
    )
    .unwrap();
    assert_eq!(s.external_port(5).unwrap(), 65535);
    assert!(s.external_port(6).unwrap_err().to_string().contains(ANN_PORT_BASE));
}
