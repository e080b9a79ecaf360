//! Whether a Gateway carries the brokers: its owner's consent; a controller that does not handle
//! ListenerSets (no `status.attachedListenerSets`) gets no broker, and after the grace a Warning.

use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// The Gateway as an implementation without ListenerSet support leaves it: programmed, with an
/// address, and nothing about ListenerSets.
fn silent(o: &mut Observed) {
    let GatewayState::Found(gw) = &mut o.gateways.get_mut("infra/public").unwrap().state else { unreachable!() };
    gw.data["status"] =
        json!({"addresses": [{"value": "198.51.100.7"}], "conditions": [{"type": "Programmed", "status": "True"}]});
}

/// Our ListenerSet as that implementation leaves it: made `age` seconds before `o.now`, no status.
fn listener_set_aged(o: &mut Observed, age: i64) {
    let created = o.now.checked_sub(SignedDuration::from_secs(age)).unwrap();
    let ls = o.owned.get_mut(&Kind::ListenerSet).unwrap();
    let mut obj = (*ls[0]).clone();
    obj.data.as_object_mut().unwrap().remove("status");
    obj.metadata.creation_timestamp = Some(Time(created));
    ls[0] = Arc::new(obj);
}

#[test]
fn a_gateway_silent_about_listener_sets_gets_no_broker_and_a_warning_after_the_grace() {
    let mut o = observed(sts(2, tcp_on("infra/public")));
    o.now = "2026-12-06T05:00:00Z".parse::<Timestamp>().unwrap();
    o.gateways.insert("infra/public".into(), gateway(json!([]), Some("198.51.100.7")));
    let mut o = converge(&o, &run(&o));
    silent(&mut o);

    // Young: every broker waits, no Warning yet, and the plan looks again when the grace ends.
    listener_set_aged(&mut o, 20);
    let p = run(&o);
    assert_eq!((gateway_address_of(&p, "kafka-0-external"), gateway_address_of(&p, "kafka-1-external")), (None, None));
    assert!(!objects(&p).contains(&"ListenerSetsNotSupported"), "{:?}", objects(&p));
    assert!(p.requeue.is_some_and(|d| d <= std::time::Duration::from_secs(40)), "{:?}", p.requeue);

    // Past the grace: the Warning names the class and the alternative; still no address.
    listener_set_aged(&mut o, 61);
    let p = run(&o);
    assert_eq!(gateway_address_of(&p, "kafka-0-external"), None);
    let notes = p.problems.iter().flat_map(|(_, n)| n);
    let note = notes.into_iter().find(|n| n.reason == "ListenerSetsNotSupported").expect("the Warning");
    assert!(note.note.contains("gatewayClassName c"), "{}", note.note);
    assert!(note.note.contains("kafka-advertiser.io/manage-listeners=true"), "{}", note.note);

    // Not programmed (its controller has not even taken the Gateway): no verdict on ListenerSets.
    let GatewayState::Found(gw) = &mut o.gateways.get_mut("infra/public").unwrap().state else { unreachable!() };
    gw.data["status"]["conditions"] = json!([]);
    assert!(!objects(&run(&o)).contains(&"ListenerSetsNotSupported"));
}

#[test]
fn without_the_gateway_owners_consent_no_broker_gets_its_address() {
    let mut o = observed(sts(2, tcp_on("infra/public")));
    o.gateways.insert(
        "infra/public".into(),
        gateway_of(json!({}), json!({"namespaces": {"from": "Same"}}), json!([]), Some("198.51.100.7")),
    );
    let p = run(&o);
    assert!(objects(&p).contains(&"ListenersNotAllowed"), "{:?}", objects(&p));
    assert_eq!(gateway_address_of(&p, "kafka-0-external"), None);
    assert!(!p.apply.iter().any(|a| a.kind == Kind::Gateway));
    // Consent given: the ListenerSet is made, and once its listeners are programmed the address follows.
    o.gateways.insert("infra/public".into(), gateway(json!([]), Some("198.51.100.7")));
    let p = run(&o);
    assert_eq!(gateway_address_of(&p, "kafka-0-external"), None, "not before its listener is programmed");
    let p = run(&converge(&o, &p));
    assert_eq!(gateway_address_of(&p, "kafka-0-external").as_deref(), Some("198.51.100.7"));
    assert!(!objects(&p).contains(&"ListenersNotAllowed"));
}
