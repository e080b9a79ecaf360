use super::*;

fn review_of(pod: &str) -> String {
    format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u-1","kind":{{"group":"","version":"v1","kind":"Pod"}},"operation":"CREATE","namespace":"ns","object":{pod}}}}}"#
    )
}

fn repeat(item: &str, n: usize) -> String {
    vec![item; n].join(",")
}

#[test]
fn counts_every_value_and_nothing_else() {
    // object, "a": 1, "b": [true, null, "x", 2.5, {}]
    let m = measure(br#"{"a":1,"b":[true,null,"x",2.5,{}]}"#, Limits::default());
    assert_eq!(m, Measure::Within(8));
}

#[test]
fn a_review_over_the_node_limit_is_over_and_stops_there() {
    let body = review_of(&format!(r#"{{"spec":{{"initContainers":[{}]}}}}"#, repeat("1", 30_000)));
    assert_eq!(measure(body.as_bytes(), Limits::default()), Measure::Over(OverLimit::Nodes { max: 20_000 }));
    assert!(matches!(measure(body.as_bytes(), Limits { max_nodes: 40_000 }), Measure::Within(_)));
}

fn labels(n: usize) -> String {
    (0..n).map(|i| format!(r#""k{i}":"v""#)).collect::<Vec<_>>().join(",")
}

#[test]
fn each_list_cap_is_its_own_limit_at_its_own_path() {
    type Pod = fn(usize) -> String;
    let cases: [(Pod, &str, usize); 7] = [
        (|n| format!(r#"{{"spec":{{"containers":[{}]}}}}"#, repeat("{}", n)), "spec.containers", 64),
        (|n| format!(r#"{{"spec":{{"volumes":[{}]}}}}"#, repeat("{}", n)), "spec.volumes", 256),
        (
            |n| format!(r#"{{"spec":{{"containers":[{{"env":[{}]}}]}}}}"#, repeat(r#"{"name":""}"#, n)),
            "spec.containers[].env",
            1000,
        ),
        (
            |n| format!(r#"{{"spec":{{"containers":[{{}},{{"volumeMounts":[{}]}}]}}}}"#, repeat("{}", n)),
            "spec.containers[].volumeMounts",
            256,
        ),
        (|n| format!(r#"{{"metadata":{{"labels":{{{}}}}}}}"#, labels(n)), "metadata.labels", 1000),
        (|n| format!(r#"{{"metadata":{{"annotations":{{{}}}}}}}"#, labels(n)), "metadata.annotations", 1000),
        (|n| format!(r#"{{"metadata":{{"ownerReferences":[{}]}}}}"#, repeat("{}", n)), "metadata.ownerReferences", 64),
    ];
    for (pod, path, max) in cases {
        let over = review_of(&pod(max + 1));
        assert_eq!(measure(over.as_bytes(), Limits::default()), Measure::Over(OverLimit::List { path, max }), "{path}");
        let at = review_of(&pod(max));
        assert!(matches!(measure(at.as_bytes(), Limits::default()), Measure::Within(_)), "{path} at its cap");
    }
}

#[test]
fn lists_outside_the_pod_or_under_other_keys_are_not_capped() {
    // 100 containers in an unrelated object, and an env list of 2000 outside a container.
    let body = format!(
        r#"{{"request":{{"uid":"u","other":{{"spec":{{"containers":[{}]}}}},"object":{{"env":[{}]}}}}}}"#,
        repeat("{}", 100),
        repeat("1", 2000)
    );
    assert!(matches!(measure(body.as_bytes(), Limits::default()), Measure::Within(_)));
}

#[test]
fn escaped_keys_are_read_as_their_value() {
    let body = review_of(&format!(r#"{{"spec":{{"contain\u0065rs":[{}]}}}}"#, repeat("{}", 65)));
    assert_eq!(
        measure(body.as_bytes(), Limits::default()),
        Measure::Over(OverLimit::List { path: "spec.containers", max: 64 })
    );
}

#[test]
fn not_json_is_malformed_not_over() {
    assert!(matches!(measure(b"{\"a\":", Limits::default()), Measure::Malformed(_)));
    assert!(matches!(measure(b"{} trailing", Limits::default()), Measure::Malformed(_)));
    assert!(matches!(measure(b"", Limits::default()), Measure::Malformed(_)));
}

#[test]
fn every_shipped_fixture_is_within_the_limits() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let m = measure(&std::fs::read(&p).unwrap(), Limits::default());
            assert!(matches!(m, Measure::Within(n) if n < FREE_NODES), "{}: {m:?}", p.display());
        }
    }
}

#[test]
fn a_refusal_names_the_limit_and_answers_the_review() {
    use crate::admission::review::review;
    use crate::mutate::{Defaults, NoAddresses};
    let body = review_of(&format!(r#"{{"spec":{{"containers":[{}]}}}}"#, repeat("{}", 100)));
    let d = review(body.as_bytes(), &Defaults::default(), &NoAddresses).unwrap();
    assert_eq!(d.outcome, crate::metrics::AdmissionResult::Denied);
    assert_eq!(d.deny_reason, Some("over_limit"));
    let v: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
    assert_eq!(v["response"]["uid"], "u-1");
    assert_eq!(v["response"]["allowed"], false);
    assert_eq!(v["response"]["status"]["code"], 413);
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("spec.containers has more than 64 entries"), "{msg}");
    // Over a limit with no uid to answer: not a review.
    let no_uid = format!(r#"{{"request":{{"object":{{"spec":{{"containers":[{}]}}}}}}}}"#, repeat("{}", 100));
    assert!(review(no_uid.as_bytes(), &Defaults::default(), &NoAddresses).is_err());
}

#[test]
fn a_pod_review_charges_nothing_and_a_large_one_its_excess() {
    assert_eq!(parsed_bytes(300), 0);
    assert_eq!(parsed_bytes(FREE_NODES), 0);
    assert_eq!(parsed_bytes(FREE_NODES + 4), 4 * BYTES_PER_NODE);
    assert_eq!(parsed_bytes(DEFAULT_MAX_NODES), (DEFAULT_MAX_NODES - FREE_NODES) * BYTES_PER_NODE);
}
