use super::*;
use serde_json::json;

fn lease(holder: Option<&str>, renewed: &str, secs: i32) -> Lease {
    serde_json::from_value(json!({"metadata": {"name": "kafka-advertiser"},
        "spec": {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": secs}}))
    .unwrap()
}

#[test]
fn the_lease_must_be_held_and_fresh() {
    let now: k8s_openapi::jiff::Timestamp = "2026-11-28T12:00:10Z".parse().unwrap();
    assert!(judge_lease("l", Some(&lease(Some("pod-a"), "2026-11-28T12:00:05.000000Z", 15)), now).ok);
    let stale = judge_lease("l", Some(&lease(Some("pod-a"), "2026-11-28T11:00:00.000000Z", 15)), now);
    assert!(!stale.ok && stale.detail.contains("pod-a") && stale.fix.is_some(), "{stale:?}");
    assert!(!judge_lease("l", Some(&lease(None, "2026-11-28T12:00:05.000000Z", 15)), now).ok);
    assert!(!judge_lease("l", None, now).ok);
}

#[test]
fn the_crd_must_be_established() {
    let crd = |status: &str| -> CustomResourceDefinition {
        serde_json::from_value(json!({"metadata": {"name": CRD},
            "spec": {"group": "kafka-advertiser.io", "names": {"kind": "ExternalAccessClass", "plural": "externalaccessclasses"},
                "scope": "Cluster", "versions": []},
            "status": {"conditions": [{"type": "Established", "status": status}]}}))
        .unwrap()
    };
    assert!(judge_crd(Some(&crd("True"))).ok);
    assert!(!judge_crd(Some(&crd("False"))).ok);
    let missing = judge_crd(None);
    assert!(!missing.ok && missing.fix.unwrap().contains("crds.enabled"));
}

#[test]
fn the_webhook_needs_a_ca_bundle() {
    let mwc = |ca: Option<&str>| -> MutatingWebhookConfiguration {
        serde_json::from_value(json!({"metadata": {"name": "kafka-advertiser"}, "webhooks": [{
            "name": "pods.kafka-advertiser.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "clientConfig": {"service": {"name": "kafka-advertiser", "namespace": "kafka-advertiser"}, "caBundle": ca}}]}))
        .unwrap()
    };
    let (o, cc) = judge_webhook("kafka-advertiser", Some(&mwc(Some("UEVN"))));
    assert!(o.ok && o.detail.contains("Service kafka-advertiser/kafka-advertiser"), "{o:?}");
    assert!(cc.is_some());
    let (o, _) = judge_webhook("kafka-advertiser", Some(&mwc(None)));
    assert!(!o.ok && o.fix.unwrap().contains("cert-manager"));
    assert!(!judge_webhook("kafka-advertiser", None).0.ok);
}

#[test]
fn expiry_and_dry_run_verdicts() {
    assert!(judge_expiry(1_000_000 + 30 * 86_400, 1_000_000).ok);
    assert!(!judge_expiry(1_000_000 + 86_400, 1_000_000).ok);
    let mutated: Pod =
        serde_json::from_value(json!({"metadata": {"annotations": {ANN_ADVERTISED: "EXTERNAL://x:9094"}}})).unwrap();
    assert!(judge_dry_run(Ok(mutated)).ok);
    assert!(!judge_dry_run(Ok(Pod::default())).ok);
    let refused = judge_dry_run(Err("no endpoints".into()));
    assert!(!refused.ok && refused.detail.contains("no endpoints"));
}

#[test]
fn text_and_json_output() {
    let outcomes = vec![pass("crds", "served".into()), fail("leader", "nobody".into(), "start it".into())];
    let text = render(&outcomes, Format::Text);
    assert!(text.contains("ok   crds") && text.contains("FAIL leader") && text.contains("fix: start it"), "{text}");
    assert!(text.ends_with("some checks failed\n"));
    let v: serde_json::Value = serde_json::from_str(&render(&outcomes, Format::Json)).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["checks"][1]["fix"], "start it");
    assert!(v["checks"][0].get("fix").is_none());
}

#[test]
fn the_platform_is_read_off_the_provider_id_and_warns_about_the_default_mode() {
    use crate::spec::settings::Mode;
    let eks = judge_platform(Some("aws:///eu-west-1a/i-0abc"), Some(Mode::SharedAddress));
    assert!(eks.ok && eks.detail.starts_with("eks (providerID aws://"), "{eks:?}");
    assert!(eks.fix.as_deref().unwrap().contains("one NLB per Service"), "{eks:?}");
    assert!(render(&[eks], Format::Text).starts_with("warn platform"));
    let kind = judge_platform(Some("kind://docker/kind/kind-worker"), Some(Mode::SharedAddress));
    assert_eq!((kind.ok, kind.fix), (true, None));
    assert!(judge_platform(None, None).detail.contains("no providerID"));
}

#[test]
fn webhook_urls_are_parsed_as_urls() {
    assert_eq!(url_target("https://[::1]/mutate"), Ok(("::1".into(), 443)));
    assert_eq!(url_target("https://[::1]:8443/mutate"), Ok(("::1".into(), 8443)));
    assert_eq!(
        url_target("https://webhook.example.com:9443/mutate?timeout=5s"),
        Ok(("webhook.example.com".into(), 9443))
    );
    assert_eq!(url_target("https://10.0.0.1/mutate"), Ok(("10.0.0.1".into(), 443)));
    assert!(url_target("http://10.0.0.1/mutate").unwrap_err().contains("not an https URL"));
    assert!(url_target("https://").is_err());
}

/// The handshake is bounded: a listener that accepts and never answers TLS ends in the timeout.
#[tokio::test]
async fn a_silent_webhook_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let ca = rcgen::generate_simple_self_signed(vec!["x".to_owned()]).unwrap().cert.pem();
    let err = handshake(addr, "x", ca.as_bytes()).await.unwrap_err();
    assert!(err.contains("timed out"), "{err}");
}

#[test]
fn optional_apis_name_what_is_served_and_what_lacks_it() {
    use crate::controller::kinds::Kind;
    let all = judge_optional_apis(&Kind::OPTIONAL);
    assert!(all.ok);
    assert_eq!(
        all.detail,
        "cert-manager.io/v1: Certificate; gateway.networking.k8s.io/v1: Gateway, ListenerSet, TCPRoute, TLSRoute"
    );
    // Gateway API v1.5's standard channel (no TCPRoute) and no cert-manager: still a pass, with the gaps named.
    let some = judge_optional_apis(&[Kind::Gateway, Kind::ListenerSet, Kind::TlsRoute]);
    assert!(some.ok);
    assert!(some.detail.starts_with("gateway.networking.k8s.io/v1: Gateway, ListenerSet, TLSRoute; not served: "));
    assert!(some.detail.contains("gateway.networking.k8s.io/v1 TCPRoute (needed by gateway-tcp)"), "{}", some.detail);
    assert!(some.detail.contains("cert-manager.io/v1 Certificate (needed by tls-issuer)"), "{}", some.detail);
    let none = judge_optional_apis(&[]);
    assert!(
        none.ok
            && none
                .detail
                .starts_with("not served: gateway.networking.k8s.io/v1 Gateway (needed by gateway-tcp, gateway-tls)")
    );
}
