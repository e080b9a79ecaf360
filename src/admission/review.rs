//! AdmissionReview ↔ decision: decode the request (the pod stays raw until we know it is ours),
//! run the pure mutation, encode the response. No I/O; the HTTP handler and `mutate` command share it.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::limits::{self, Head, Limits, Measure, OverLimit};
use crate::metrics::AdmissionResult;
use crate::mutate::{self, ClusterLookup, Defaults, Mutation, PodView, RequestNames};

/// The request as far as we need it, read in one pass. kube-apiserver writes `kind` and
/// `operation` before `object`, so by the time the object arrives we know whether it is a Pod
/// CREATE: then it is read straight into a [`PodView`], otherwise skipped without being built. In
/// any other field order the object is kept raw and read afterwards.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<'a> {
    /// Borrowed when it can be; an escaped string (`admission.k8s.io\/v1`, valid JSON) is owned.
    #[serde(default, borrow)]
    api_version: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    request: Option<RequestIn<'a>>,
}

struct RequestIn<'a> {
    uid: String,
    kind: Gvk,
    sub_resource: Option<String>,
    name: String,
    namespace: Option<String>,
    operation: String,
    dry_run: bool,
    object: ObjectIn<'a>,
}

enum ObjectIn<'a> {
    Absent,
    Pod(Box<PodView>),
    Raw(&'a RawValue),
    Skipped,
}

impl RequestIn<'_> {
    fn wants_pod(kind: &Gvk, operation: &str, sub_resource: Option<&str>) -> bool {
        kind.group.is_empty()
            && kind.version == "v1"
            && kind.kind == "Pod"
            // Absent and empty both mean the pod itself (clients other than kube-apiserver send "").
            && sub_resource.is_none_or(str::is_empty)
            && operation == "CREATE"
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum Field {
    Uid,
    Kind,
    SubResource,
    Name,
    Namespace,
    Operation,
    DryRun,
    Object,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for RequestIn<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = RequestIn<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an AdmissionRequest object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                use serde::de::{Error, IgnoredAny};
                let (mut uid, mut kind, mut sub_resource, mut name, mut namespace) = (None, None, None, None, None);
                let (mut operation, mut dry_run, mut object) = (None::<String>, false, ObjectIn::Absent);
                while let Some(field) = m.next_key::<Field>()? {
                    match field {
                        Field::Uid => uid = Some(m.next_value::<String>()?),
                        Field::Kind => kind = Some(m.next_value::<Gvk>()?),
                        Field::SubResource => sub_resource = m.next_value::<Option<String>>()?,
                        Field::Name => name = m.next_value::<Option<String>>()?,
                        Field::Namespace => namespace = m.next_value::<Option<String>>()?,
                        Field::Operation => operation = Some(m.next_value::<String>()?),
                        Field::DryRun => dry_run = m.next_value::<Option<bool>>()?.unwrap_or(false),
                        Field::Object => {
                            object = match (&kind, &operation) {
                                (Some(k), Some(op)) if RequestIn::wants_pod(k, op, sub_resource.as_deref()) => {
                                    match m.next_value::<Option<PodView>>()? {
                                        Some(p) => ObjectIn::Pod(Box::new(p)),
                                        None => ObjectIn::Absent,
                                    }
                                }
                                (Some(_), Some(_)) => {
                                    m.next_value::<IgnoredAny>()?;
                                    ObjectIn::Skipped
                                }
                                _ => match m.next_value::<Option<&'de RawValue>>()? {
                                    Some(r) => ObjectIn::Raw(r),
                                    None => ObjectIn::Absent,
                                },
                            }
                        }
                        Field::Other => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RequestIn {
                    uid: uid.ok_or_else(|| M::Error::missing_field("uid"))?,
                    kind: kind.ok_or_else(|| M::Error::missing_field("kind"))?,
                    sub_resource,
                    name: name.unwrap_or_default(),
                    namespace,
                    operation: operation.ok_or_else(|| M::Error::missing_field("operation"))?,
                    dry_run,
                    object,
                })
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct Gvk {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    kind: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'a str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut<'a>>,
    /// Base64 needs no JSON escaping: written as a raw string, not scanned character by character.
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

#[derive(Serialize)]
struct StatusOut<'a> {
    code: u16,
    reason: &'static str,
    message: &'a str,
}

/// A body that is not an AdmissionReview we can answer: HTTP 400 with this message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReviewError {
    #[error("malformed AdmissionReview: {0}")]
    Malformed(String),
    #[error("AdmissionReview has no request")]
    NoRequest,
    #[error("unsupported AdmissionReview apiVersion {0:?}; expected admission.k8s.io/v1")]
    ApiVersion(String),
}

/// The decision on one review, encoded and ready to send.
#[derive(Debug)]
pub struct Decision {
    pub outcome: AdmissionResult,
    pub body: Vec<u8>,
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// Denial message, for logs.
    pub message: Option<String>,
    /// Denial reason, a metric label (`mutate::DENIAL_REASONS`).
    pub deny_reason: Option<&'static str>,
    pub dry_run: bool,
}

/// Decide one AdmissionReview body under the default [`Limits`].
pub fn review(body: &[u8], defaults: &Defaults, addresses: &dyn ClusterLookup) -> Result<Decision, ReviewError> {
    review_limited(body, Limits::default(), defaults, addresses)
}

/// Decide one AdmissionReview body: the counting pass first, the typed decode only within `limits`.
pub fn review_limited(
    body: &[u8],
    limits: Limits,
    defaults: &Defaults,
    addresses: &dyn ClusterLookup,
) -> Result<Decision, ReviewError> {
    match limits::measure(body, limits) {
        Measure::Within(_) => decide(body, defaults, addresses),
        Measure::Over(over) => refuse(body, &over),
        Measure::Malformed(e) => Err(ReviewError::Malformed(e)),
    }
}

/// A review over a limit: `allowed: false` naming the limit (HTTP 200), nothing of the pod built.
/// A body with no request uid to answer is no review: [`ReviewError`].
pub fn refuse(body: &[u8], over: &OverLimit) -> Result<Decision, ReviewError> {
    let head: Head = serde_json::from_slice(body).map_err(|e| ReviewError::Malformed(e.to_string()))?;
    let api_version = head.api_version.as_deref().unwrap_or("admission.k8s.io/v1");
    if api_version != "admission.k8s.io/v1" && api_version != "admission.k8s.io/v1beta1" {
        return Err(ReviewError::ApiVersion(api_version.to_owned()));
    }
    let req = head.request.ok_or(ReviewError::NoRequest)?;
    let mut decision = Decision {
        outcome: AdmissionResult::Denied,
        body: Vec::new(),
        uid: req.uid,
        namespace: String::new(),
        name: String::new(),
        message: Some(format!("kafka-advertiser: {over}")),
        deny_reason: Some("over_limit"),
        dry_run: false,
    };
    decision.body = encode(api_version, &decision, None, &[], Some(413));
    Ok(decision)
}

/// Decide one AdmissionReview body already measured within the limits.
pub fn decide(body: &[u8], defaults: &Defaults, addresses: &dyn ClusterLookup) -> Result<Decision, ReviewError> {
    let review: ReviewIn<'_> = serde_json::from_slice(body).map_err(|e| ReviewError::Malformed(e.to_string()))?;
    let api_version = review.api_version.as_deref().unwrap_or("admission.k8s.io/v1");
    if api_version != "admission.k8s.io/v1" && api_version != "admission.k8s.io/v1beta1" {
        return Err(ReviewError::ApiVersion(api_version.to_owned()));
    }
    let req = review.request.ok_or(ReviewError::NoRequest)?;
    let namespace = req.namespace.unwrap_or_default();
    let is_pod_create = RequestIn::wants_pod(&req.kind, &req.operation, req.sub_resource.as_deref());
    let mut decision = Decision {
        outcome: AdmissionResult::Skipped,
        body: Vec::new(),
        uid: req.uid,
        namespace,
        name: req.name,
        message: None,
        deny_reason: None,
        dry_run: req.dry_run,
    };
    let mut warnings: Vec<String> = Vec::new();
    let mut patch = None;
    if is_pod_create {
        match decide_pod(req.object, &decision, defaults, addresses) {
            Ok(None) => {}
            Ok(Some(m)) => {
                warnings = m.warnings;
                if m.patch.0.is_empty() {
                    decision.outcome = AdmissionResult::Unchanged;
                } else {
                    decision.outcome = AdmissionResult::Patched;
                    // Serialising a Patch into JSON cannot fail.
                    let bytes = serde_json::to_vec(&m.patch).unwrap_or_default();
                    let mut quoted = String::with_capacity(bytes.len() * 4 / 3 + 8);
                    quoted.push('"');
                    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut quoted);
                    quoted.push('"');
                    patch = RawValue::from_string(quoted).ok();
                }
            }
            Err((message, code, reason)) => {
                decision.outcome = AdmissionResult::Denied;
                decision.message = Some(message);
                decision.deny_reason = Some(reason);
                decision.body = encode(api_version, &decision, None, &warnings, Some(code));
                return Ok(decision);
            }
        }
    }
    decision.body = encode(api_version, &decision, patch, &warnings, None);
    Ok(decision)
}

fn decide_pod(
    object: ObjectIn<'_>,
    d: &Decision,
    defaults: &Defaults,
    addresses: &dyn ClusterLookup,
) -> Result<Option<Mutation>, (String, u16, &'static str)> {
    let pod = match object {
        ObjectIn::Pod(p) => p,
        ObjectIn::Raw(raw) => Box::new(serde_json::from_str::<PodView>(raw.get()).map_err(|e| {
            (format!("kafka-advertiser: the request object is not a valid Pod: {e}"), 400, "bad_object")
        })?),
        ObjectIn::Absent | ObjectIn::Skipped => {
            return Err(("kafka-advertiser: the request carries no object".to_owned(), 400, "bad_object"))
        }
    };
    let names = RequestNames { name: &d.name, namespace: &d.namespace };
    mutate::mutate_view(&pod, names, defaults, addresses).map_err(|e| {
        // 503 tells the caller it may retry; 403 that the pod must change.
        let code = if e.is_retryable() { 503 } else { 403 };
        (format!("kafka-advertiser: {e}"), code, e.reason())
    })
}

fn encode(
    api_version: &str,
    d: &Decision,
    patch: Option<Box<RawValue>>,
    warnings: &[String],
    deny: Option<u16>,
) -> Vec<u8> {
    let status = deny.map(|code| StatusOut {
        code,
        reason: match code {
            503 => "ServiceUnavailable",
            400 => "BadRequest",
            413 => "RequestEntityTooLarge",
            _ => "Forbidden",
        },
        message: d.message.as_deref().unwrap_or_default(),
    });
    let out = ReviewOut {
        api_version,
        kind: "AdmissionReview",
        response: ResponseOut {
            uid: &d.uid,
            allowed: deny.is_none(),
            status,
            patch_type: patch.as_ref().map(|_| "JSONPatch"),
            patch,
            warnings,
        },
    };
    serde_json::to_vec(&out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutate::NoAddresses;

    use crate::testing::fixture_bytes;

    /// kube-apiserver's field order (object last) and any other order decide the same.
    #[test]
    fn field_order_does_not_change_the_decision() {
        for name in ["kafka-1-seed-shared-address", "kafka-0-update", "configmap-create", "kafka-0-bad-port-base"] {
            let raw = fixture_bytes(name);
            let in_order = review(&raw, &Defaults::default(), &NoAddresses).unwrap();
            // Re-serialising through a Value sorts keys: `object` now precedes `operation`.
            let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            let sorted = serde_json::to_vec(&v).unwrap();
            let text = String::from_utf8_lossy(&sorted);
            assert!(text.find("\"object\"").unwrap() < text.find("\"operation\"").unwrap());
            let reordered = review(&sorted, &Defaults::default(), &NoAddresses).unwrap();
            assert_eq!(in_order.outcome, reordered.outcome, "{name}");
            assert_eq!(in_order.body, reordered.body, "{name}");
        }
    }

    /// Escaped JSON strings and an empty `subResource` are the same request as their plain forms.
    #[test]
    fn escaped_api_version_and_empty_sub_resource_decide_like_the_plain_request() {
        let raw = String::from_utf8(fixture_bytes("kafka-4-nodeport")).unwrap();
        let plain = review(raw.as_bytes(), &Defaults::default(), &NoAddresses).unwrap();
        assert_eq!(plain.outcome, AdmissionResult::Patched);
        let mut v: serde_json::Value = serde_json::from_str(&raw).unwrap();
        v["request"]["subResource"] = serde_json::json!("");
        let text = serde_json::to_string(&v).unwrap().replace("admission.k8s.io/v1", "admission.k8s.io\\/v1");
        assert!(text.contains(r#""apiVersion":"admission.k8s.io\/v1""#), "{text}");
        let escaped = review(text.as_bytes(), &Defaults::default(), &NoAddresses).unwrap();
        assert_eq!(escaped.outcome, AdmissionResult::Patched);
        let body =
            |d: &Decision| serde_json::from_slice::<serde_json::Value>(&d.body).unwrap()["response"]["patch"].clone();
        assert_eq!(body(&plain), body(&escaped));
        // A real subresource is not a pod CREATE.
        v["request"]["subResource"] = serde_json::json!("status");
        let sub = review(serde_json::to_string(&v).unwrap().as_bytes(), &Defaults::default(), &NoAddresses).unwrap();
        assert_eq!(sub.outcome, AdmissionResult::Skipped);
    }

    #[test]
    fn missing_required_fields_are_malformed() {
        for body in [
            r#"{"request":{"kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE"}}"#,
            r#"{"request":{"uid":"u","operation":"CREATE"}}"#,
            r#"{"request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"}}}"#,
            r#"{"request":[]}"#,
        ] {
            assert!(
                matches!(review(body.as_bytes(), &Defaults::default(), &NoAddresses), Err(ReviewError::Malformed(_))),
                "{body}"
            );
        }
        let no_object =
            r#"{"request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE"}}"#;
        let d = review(no_object.as_bytes(), &Defaults::default(), &NoAddresses).unwrap();
        assert_eq!(d.outcome, AdmissionResult::Denied);
        assert_eq!(
            review(br#"{"apiVersion":"admission.k8s.io/v2"}"#, &Defaults::default(), &NoAddresses).unwrap_err(),
            ReviewError::ApiVersion("admission.k8s.io/v2".into())
        );
    }

    /// The hand-written decoding reads every fixture as kube's admission types do: the same uid,
    /// kind, operation and subresource decide whether the pod is ours to mutate, and the response is
    /// one kube's `AdmissionResponse` reads (the patch, base64 on the wire, checked as a JSON patch).
    #[test]
    fn the_decoding_agrees_with_kubes_admission_types() {
        use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
        use kube::core::DynamicObject;
        let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let raw = std::fs::read(&path).unwrap();
            let theirs: AdmissionReview<DynamicObject> = serde_json::from_slice(&raw).unwrap();
            let req: AdmissionRequest<DynamicObject> = theirs.try_into().unwrap();
            let ours = review(&raw, &Defaults::default(), &NoAddresses).unwrap();
            let pod_create = req.kind.group.is_empty()
                && req.kind.kind == "Pod"
                && req.operation == Operation::Create
                && req.sub_resource.as_deref().unwrap_or_default().is_empty();
            let opted_in = (req.object.as_ref())
                .and_then(|o| o.metadata.labels.as_ref())
                .is_some_and(|l| l.get(crate::names::ENABLED_LABEL).is_some_and(|v| v == "true"));
            let ours_to_decide = ours.outcome != AdmissionResult::Skipped;
            assert_eq!(ours_to_decide, pod_create && opted_in, "{path:?}: {:?}", ours.outcome);
            let mut body: serde_json::Value = serde_json::from_slice(&ours.body).unwrap();
            assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
            assert_eq!(body["kind"], "AdmissionReview");
            let response = body["response"].as_object_mut().unwrap();
            let patch = response.remove("patch");
            // The API server reads an allowed response without `status`; kube's type requires one.
            response.entry("status").or_insert_with(|| serde_json::json!({}));
            let resp: AdmissionResponse = serde_json::from_value(serde_json::Value::Object(response.clone())).unwrap();
            assert_eq!(resp.uid, req.uid, "{path:?}");
            assert_eq!(resp.allowed, ours.outcome != AdmissionResult::Denied, "{path:?}");
            if let Some(p) = patch {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD.decode(p.as_str().unwrap()).unwrap();
                let _: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(response["patchType"], "JSONPatch");
            }
            seen += 1;
        }
        assert!(seen >= 10, "{seen} fixtures");
    }
}
