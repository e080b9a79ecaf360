//! Intents: the body of a server-side apply, stamped with a hash of itself, and the test that
//! decides whether an object must be sent at all.
//!
//! An object is left alone when its cached state *contains* the intent: every field the intent
//! sets has that value in the cache (maps by key, lists of named entries by name, other lists
//! element by element and of the same length). The intent carries `kafka-advertiser.io/intent`, a
//! hash of the rest of the intent, so a field the intent no longer sets (a removed annotation, a
//! broker scaled away from a ConfigMap) changes the hash and the object is sent, and server-side
//! apply removes the field. A field someone else changed fails the containment, and is put back.

use serde_json::Value;

use crate::names::{fnv1a, ANN_INTENT};

/// `body` with the hash of its own content in the intent annotation.
pub fn stamp(mut body: Value) -> Value {
    if let Some(meta) = body["metadata"].as_object_mut() {
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove(ANN_INTENT);
            if a.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    let hash = format!("{:016x}", fnv1a(body.to_string().as_bytes()));
    let meta = &mut body["metadata"];
    if !meta["annotations"].is_object() {
        meta["annotations"] = Value::Object(Default::default());
    }
    meta["annotations"][ANN_INTENT] = Value::String(hash);
    body
}

/// Whether the cached object already holds an (already stamped) intent. `apiVersion` and `kind`
/// at the top are the request's, not compared.
pub fn in_place(current: Option<&Value>, intent: &Value) -> bool {
    let Some(current) = current else { return false };
    let mut wanted = intent.clone();
    if let Some(w) = wanted.as_object_mut() {
        w.remove("apiVersion");
        w.remove("kind");
    }
    contains(current, &wanted)
}

/// Whether `actual` holds every field `wanted` sets (see the module docs).
pub fn contains(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (_, Value::Null) => true,
        (Value::Object(a), Value::Object(w)) => {
            w.iter().all(|(k, v)| v.is_null() || a.get(k).is_some_and(|x| contains(x, v)))
        }
        (Value::Array(a), Value::Array(w)) => {
            let named = !w.is_empty() && w.iter().all(|e| e["name"].is_string());
            if named {
                a.len() >= w.len() && w.iter().all(|e| a.iter().any(|x| x["name"] == e["name"] && contains(x, e)))
            } else {
                a.len() == w.len() && a.iter().zip(w).all(|(x, e)| contains(x, e))
            }
        }
        (a, w) => a == w,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_stamp_changes_with_the_intent_and_not_with_itself() {
        let a = stamp(json!({"metadata": {"name": "x"}, "data": {"k": "v"}}));
        assert_eq!(a, stamp(a.clone()), "stamping again is stable");
        let b = stamp(json!({"metadata": {"name": "x"}, "data": {"k": "w"}}));
        assert_ne!(a["metadata"]["annotations"][ANN_INTENT], b["metadata"]["annotations"][ANN_INTENT]);
    }

    #[test]
    fn containment_ignores_what_the_server_adds_and_sees_what_changed() {
        let wanted = stamp(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "s", "labels": {"a": "1"}, "ownerReferences": [{"name": "kafka", "uid": "u"}]},
            "spec": {"ports": [{"name": "external", "port": 9094, "targetPort": 9095}], "type": "LoadBalancer"}
        }));
        let mut actual = wanted.clone();
        actual["metadata"]["resourceVersion"] = json!("7");
        actual["metadata"]["labels"]["extra"] = json!("x");
        actual["spec"]["ports"][0]["nodePort"] = json!(31000);
        actual["spec"]["clusterIP"] = json!("10.96.0.9");
        actual["status"] = json!({"loadBalancer": {}});
        assert!(in_place(Some(&actual), &wanted));
        assert!(!in_place(None, &wanted), "a missing object is sent");
        let mut edited = actual.clone();
        edited["spec"]["ports"][0]["targetPort"] = json!(9092);
        assert!(!in_place(Some(&edited), &wanted), "an edited field is put back");
        let mut older = actual.clone();
        older["metadata"]["annotations"][ANN_INTENT] = json!("0000000000000000");
        assert!(!in_place(Some(&older), &wanted), "another intent is sent again");
    }

    #[test]
    fn unnamed_lists_compare_whole_and_named_ones_by_name() {
        assert!(!contains(&json!({"r": ["a", "b"]}), &json!({"r": ["a"]})), "a shorter list is a change");
        assert!(contains(
            &json!({"l": [{"name": "b", "p": 2}, {"name": "a", "p": 1}]}),
            &json!({"l": [{"name": "a", "p": 1}]})
        ));
        assert!(!contains(&json!({"l": [{"name": "a", "p": 2}]}), &json!({"l": [{"name": "a", "p": 1}]})));
    }
}
