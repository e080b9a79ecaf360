//! Property tests of the pure mutation over generated pods.

use k8s_openapi::api::core::v1::Pod;
use kafka_advertiser::mutate::{mutate, ClusterView, Defaults, RequestNames};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const MANAGED: [&str; 7] = [
    "KAFKA_CFG_ADVERTISED_LISTENERS",
    "KAFKA_ADVERTISED_LISTENERS",
    "ADVERTISER_HOST_IP",
    "KAFKA_ADVERTISER_HOST_IP",
    "ADVERTISER_POD_IP",
    "KAFKA_BROKER_RACK",
    "KAFKA_CFG_BROKER_RACK",
];

fn key() -> impl Strategy<Value = String> {
    // Label/annotation-like keys, including `/` and `~`.
    "[a-z]{1,6}(\\.[a-z]{1,4})?(/[a-z~]{1,6})?"
}

fn env_var() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        Just("A".to_owned()),
        Just("KAFKA_CFG_ADVERTISED_LISTENERS".to_owned()),
        Just("KAFKA_ADVERTISED_LISTENERS".to_owned()),
        Just("KAFKA_ADVERTISER_HOST_IP".to_owned()),
        Just("ADVERTISER_HOST_IP".to_owned()),
        Just("ADVERTISER_POD_IP".to_owned()),
        Just("KAFKA_BROKER_RACK".to_owned()),
        Just("KAFKA_LISTENERS".to_owned()),
        "[A-Z_]{1,10}",
    ];
    let value = prop_oneof![
        "[A-Z]{1,8}://[a-z0-9.]{0,12}:[0-9]{1,5}(,[A-Z]{1,8}://[a-z0-9.]{0,8}:[0-9]{1,5}){0,3}"
            .prop_map(|v| json!({"value": v})),
        "[ -~]{0,20}".prop_map(|v| json!({"value": v})),
        Just(json!({"valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}})),
        Just(json!({"valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}})),
    ];
    (name, value).prop_map(|(n, mut v)| {
        v["name"] = json!(n);
        v
    })
}

fn container(name: String) -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop::collection::vec(env_var(), 0..6)),
        prop_oneof![Just("bitnami/kafka:3.9"), Just("apache/kafka:3.9"), Just("busybox")],
    )
        .prop_map(move |(env, image)| {
            let mut c = json!({"name": name, "image": image});
            if let Some(e) = env {
                c["env"] = Value::Array(e);
            }
            c
        })
}

fn term() -> impl Strategy<Value = Value> {
    (
        prop::collection::btree_map(key(), "[a-z]{1,5}", 1..3),
        prop_oneof![Just("kubernetes.io/hostname"), Just("topology.kubernetes.io/zone")],
    )
        .prop_map(|(labels, k)| json!({"labelSelector": {"matchLabels": labels}, "topologyKey": k}))
}

fn affinity() -> impl Strategy<Value = Option<Value>> {
    prop::option::of((
        prop::option::of(prop::collection::vec(term(), 0..3)),
        prop::option::of(prop::collection::vec((1i32..100, term()), 0..3)),
        any::<bool>(),
    ))
    .prop_map(|a| {
        a.map(|(req, pref, node)| {
            let mut aff = json!({});
            if node {
                aff["nodeAffinity"] = json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Exists"}]}]}});
            }
            if req.is_some() || pref.is_some() {
                let mut anti = json!({});
                if let Some(r) = req {
                    anti["requiredDuringSchedulingIgnoredDuringExecution"] = Value::Array(r);
                }
                if let Some(p) = pref {
                    anti["preferredDuringSchedulingIgnoredDuringExecution"] =
                        p.into_iter().map(|(w, t)| json!({"weight": w, "podAffinityTerm": t})).collect();
                }
                aff["podAntiAffinity"] = anti;
            }
            aff
        })
    })
}

#[derive(Debug, Clone)]
struct Case {
    pod: Value,
    opted_in: bool,
    ordinal: u32,
}

fn case() -> impl Strategy<Value = Case> {
    let containers = (1usize..=4, any::<bool>()).prop_flat_map(|(n, has_kafka)| {
        let names: Vec<String> =
            (0..n).map(|i| if has_kafka && i == n / 2 { "kafka".to_owned() } else { format!("c{i}") }).collect();
        names.into_iter().map(container).collect::<Vec<_>>()
    });
    let inits = prop::collection::vec(container("init".into()), 0..2);
    let mode =
        prop_oneof![Just("loadbalancer"), Just("shared-address"), Just("hostname"), Just("nodeport"), Just("pod-ip")];
    let anti = prop_oneof![Just(None), Just(Some("required")), Just(Some("preferred")), Just(Some("none"))];
    (
        containers,
        inits,
        affinity(),
        prop::collection::btree_map(key(), "[a-z0-9]{0,6}", 0..4),
        prop::collection::btree_map(key(), "[ -~]{0,10}", 0..4),
        mode,
        anti,
        0u32..300,
        any::<bool>(),
        prop::bool::weighted(0.85),
        any::<bool>(),
    )
        .prop_map(|(containers, inits, aff, labels, anns, mode, anti, ordinal, index_label, opted_in, rack)| {
            let mut labels: Map<String, Value> = labels.into_iter().map(|(k, v)| (k, json!(v))).collect();
            labels.insert("app".into(), json!("kafka"));
            if opted_in {
                labels.insert("kafka-advertiser.io/enabled".into(), json!("true"));
            }
            if index_label {
                labels.insert("apps.kubernetes.io/pod-index".into(), json!(ordinal.to_string()));
            }
            let mut anns: Map<String, Value> = anns.into_iter().map(|(k, v)| (k, json!(v))).collect();
            anns.insert("kafka-advertiser.io/mode".into(), json!(mode));
            anns.insert("kafka-advertiser.io/address".into(), json!("198.51.100.7"));
            anns.insert("kafka-advertiser.io/port-base".into(), json!("9092"));
            anns.insert("kafka-advertiser.io/hostname-template".into(), json!("b-{ordinal}.{namespace}.example.com"));
            if rack {
                anns.insert("kafka-advertiser.io/rack".into(), json!("true"));
            }
            if let Some(a) = anti {
                anns.insert("kafka-advertiser.io/anti-affinity".into(), json!(a));
            }
            let name = format!("brokers-{ordinal}");
            let mut spec = json!({"hostname": name, "subdomain": "brokers-hs", "containers": containers});
            if !inits.is_empty() {
                spec["initContainers"] = Value::Array(inits);
            }
            if let Some(a) = aff {
                spec["affinity"] = a;
            }
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "ns", "labels": labels, "annotations": anns,
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "brokers", "uid": "u", "controller": true}]},
                "spec": spec
            });
            Case { pod, opted_in, ordinal }
        })
}

/// The model of container choice: named kafka; else the one with KAFKA_*LISTENERS env; else one
/// running a Kafka image; else the first.
fn target_index(pod: &Value) -> usize {
    let cs = pod["spec"]["containers"].as_array().unwrap();
    let configures = |c: &Value| {
        c["env"].as_array().into_iter().flatten().any(|e| {
            let n = e["name"].as_str().unwrap_or("");
            n.starts_with("KAFKA_") && n.ends_with("LISTENERS")
        })
    };
    let kafka_image = |c: &Value| {
        let i = c["image"].as_str().unwrap_or("");
        let repo = i.rsplit('/').next().unwrap_or(i);
        repo.starts_with("kafka") || repo.starts_with("cp-kafka") || repo.starts_with("cp-server")
    };
    cs.iter()
        .position(|c| c["name"] == "kafka")
        .or_else(|| cs.iter().position(configures))
        .or_else(|| cs.iter().position(kafka_image))
        .unwrap_or(0)
}

/// The kubelet's `$(VAR)` expansion (Kubernetes' forked `expansion.Expand`): `$$` is an escaped
/// `$`, `$(` runs to the next `)`, and a reference to a variable not defined earlier stays as written.
/// Defined variables expand to `<VAR>`.
fn expand(input: &str, defined: impl Fn(&str) -> bool) -> String {
    let b = input.as_bytes();
    let (mut out, mut last, mut i) = (String::new(), 0, 0);
    while i + 1 < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        out.push_str(&input[last..i]);
        match b[i + 1] {
            b'$' => {
                out.push('$');
                i += 2;
            }
            b'(' => match input[i + 2..].find(')') {
                Some(j) => {
                    let var = &input[i + 2..i + 2 + j];
                    out.push_str(&if defined(var) { format!("<{var}>") } else { format!("$({var})") });
                    i += j + 3;
                }
                None => {
                    out.push_str("$(");
                    i += 2;
                }
            },
            _ => {
                let c = input[i + 1..].chars().next().unwrap_or_default();
                out.push('$');
                out.push(c);
                i += 1 + c.len_utf8();
            }
        }
        last = i;
    }
    out.push_str(&input[last.min(input.len())..]);
    out
}

fn unmanaged_env(c: &Value) -> Vec<Value> {
    c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| !MANAGED.contains(&e["name"].as_str().unwrap()))
        .cloned()
        .collect()
}

fn anti_list(pod: &Value, key: &str) -> Vec<Value> {
    pod["spec"]["affinity"]["podAntiAffinity"][key].as_array().cloned().unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutation_properties(c in case()) {
        let book = ClusterView::new();
        book.set("ns", "brokers", c.ordinal, Some("203.0.113.10"));
        let typed: Pod = serde_json::from_value(c.pod.clone()).unwrap();
        let names = RequestNames { name: "", namespace: "ns" };
        let m = mutate(&typed, names, &Defaults::default(), &book).expect("valid generated settings never fail");
        let Some(m) = m else {
            prop_assert!(!c.opted_in, "opted-in pod produced no mutation");
            return Ok(());
        };
        prop_assert!(c.opted_in, "un-opted pod produced a mutation");
        let mut doc = c.pod.clone();
        json_patch::patch(&mut doc, &m.patch).map_err(|e| TestCaseError::fail(format!("patch does not apply: {e}")))?;
        let patched: Pod = serde_json::from_value(doc.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = mutate(&patched, names, &Defaults::default(), &book).unwrap().unwrap();
        prop_assert!(again.patch.0.is_empty(), "not idempotent: {:?}", again.patch);

        let t = target_index(&c.pod);
        // The kubelet expands $(VAR) only from variables defined earlier in the list: every reference
        // in the effective (last) listeners entry must come after its definition, and that entry is
        // what the webhook advertised.
        let env = doc["spec"]["containers"][t]["env"].as_array().cloned().unwrap_or_default();
        let carries = |v: &str| m.advertised.split(',').all(|ours| v.split(',').any(|x| x == ours));
        let last = env.iter().rposition(|e| e["value"].as_str().is_some_and(carries));
        let last = last.ok_or_else(|| TestCaseError::fail(format!("no env entry carries {}", m.advertised)))?;
        prop_assert!(
            !env[last + 1..].iter().any(|e| e["name"] == env[last]["name"]),
            "a later {} entry overrides the one carrying our listeners: {:?}", env[last]["name"], env
        );
        let value = env[last]["value"].as_str().unwrap();
        let defined = |var: &str| env[..last].iter().any(|e| e["name"] == var);
        let expanded = expand(value, defined);
        for ours in m.advertised.split(',') {
            let want = expand(ours, defined);
            prop_assert!(!want.contains("$("), "{} refers to a variable not defined before it: {:?}", ours, env);
            prop_assert!(
                expanded.split(',').any(|e| e == want),
                "the kubelet expands {} to {}, which lacks {}", value, expanded, want
            );
        }
        let (before, after) = (c.pod["spec"]["containers"].as_array().unwrap(), doc["spec"]["containers"].as_array().unwrap());
        prop_assert_eq!(before.len(), after.len());
        for (i, (b, a)) in before.iter().zip(after).enumerate() {
            if i == t {
                prop_assert_eq!(unmanaged_env(b), unmanaged_env(a));
                let mut rest_b = b.clone();
                let mut rest_a = a.clone();
                rest_b.as_object_mut().unwrap().remove("env");
                rest_a.as_object_mut().unwrap().remove("env");
                prop_assert_eq!(rest_b, rest_a);
            } else {
                prop_assert_eq!(b, a);
            }
        }
        prop_assert_eq!(&c.pod["spec"]["initContainers"], &doc["spec"]["initContainers"]);
        prop_assert_eq!(&c.pod["spec"]["affinity"]["nodeAffinity"], &doc["spec"]["affinity"]["nodeAffinity"]);
        for key in ["requiredDuringSchedulingIgnoredDuringExecution", "preferredDuringSchedulingIgnoredDuringExecution"] {
            let (b, a) = (anti_list(&c.pod, key), anti_list(&doc, key));
            prop_assert!(a.len() >= b.len() && a.len() <= b.len() + 1);
            prop_assert_eq!(&a[..b.len()], &b[..], "user terms changed or reordered");
        }
        // Everything else in metadata is untouched but our annotation.
        prop_assert_eq!(&c.pod["metadata"]["labels"], &doc["metadata"]["labels"]);
        let mut anns = doc["metadata"]["annotations"].as_object().unwrap().clone();
        prop_assert_eq!(anns.remove("kafka-advertiser.io/advertised"), Some(json!(m.advertised)));
        let mut orig = c.pod["metadata"]["annotations"].as_object().unwrap().clone();
        orig.remove("kafka-advertiser.io/advertised");
        prop_assert_eq!(anns, orig);
    }

    #[test]
    fn listener_merge_never_loses_foreign_entries(existing in listener_list()) {
        use kafka_advertiser::mutate::listeners::{merge, Listener, entry_name};
        let ours = [Listener { name: "INTERNAL", host: "h.i", port: 9092 }, Listener { name: "EXTERNAL", host: "1.2.3.4", port: 9094 }];
        let out = merge(Some(&existing), &ours);
        prop_assert_eq!(merge(Some(&out), &ours), out.clone());
        let foreign: Vec<&str> = existing.split(',').filter(|e| !matches!(entry_name(e), Some(n) if n.eq_ignore_ascii_case("INTERNAL") || n.eq_ignore_ascii_case("EXTERNAL"))).collect();
        let kept: Vec<&str> = out.split(',').filter(|e| !matches!(entry_name(e), Some(n) if n.eq_ignore_ascii_case("INTERNAL") || n.eq_ignore_ascii_case("EXTERNAL"))).collect();
        prop_assert_eq!(foreign, kept);
        prop_assert_eq!(out.matches("EXTERNAL://1.2.3.4:9094").count(), 1);
        prop_assert_eq!(out.matches("INTERNAL://h.i:9092").count(), 1);
        // Our names appear once each, whatever case or how often they were there before.
        for ours in ["INTERNAL", "EXTERNAL"] {
            prop_assert_eq!(out.split(',').filter(|e| matches!(entry_name(e), Some(n) if n.eq_ignore_ascii_case(ours))).count(), 1);
        }
    }
}

/// Listener lists whose names include ours (in any case) and common foreign ones, so merge's
/// replace-in-place and drop-duplicate branches run, not only append.
fn listener_list() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("INTERNAL"),
        Just("EXTERNAL"),
        Just("internal"),
        Just("External"),
        Just("CLIENT"),
        Just("PLAINTEXT"),
        Just("CONTROLLER"),
        Just("BROKER"),
    ];
    let entry = (name, "[a-z.]{0,8}", 1u16..65535).prop_map(|(n, h, p)| format!("{n}://{h}:{p}"));
    prop::collection::vec(entry, 1..6).prop_map(|v| v.join(","))
}
