//! AdmissionReview ↔ decision: decode the request (the pod stays raw until we know it is ours),
//! run the pure mutation, encode the response. No I/O; the HTTP handler and `mutate` command share it.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::metrics::Outcome;
use crate::mutate::{self, AddressLookup, Defaults, Mutation, PodView, RequestNames};

/// The request as far as we need it. `object` is kept as raw JSON: pods that are not ours are
/// never fully parsed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<'a> {
    #[serde(default)]
    api_version: Option<&'a str>,
    #[serde(default, borrow)]
    request: Option<RequestIn<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn<'a> {
    uid: String,
    kind: Gvk,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    operation: String,
    #[serde(default)]
    dry_run: bool,
    #[serde(default, borrow)]
    object: Option<&'a RawValue>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
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
    pub outcome: Outcome,
    pub body: Vec<u8>,
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// Denial message, for logs.
    pub message: Option<String>,
    pub dry_run: bool,
}

/// Decide one AdmissionReview body.
pub fn review(body: &[u8], defaults: &Defaults, addresses: &dyn AddressLookup) -> Result<Decision, ReviewError> {
    let review: ReviewIn<'_> = serde_json::from_slice(body).map_err(|e| ReviewError::Malformed(e.to_string()))?;
    let api_version = review.api_version.unwrap_or("admission.k8s.io/v1");
    if api_version != "admission.k8s.io/v1" && api_version != "admission.k8s.io/v1beta1" {
        return Err(ReviewError::ApiVersion(api_version.to_owned()));
    }
    let req = review.request.ok_or(ReviewError::NoRequest)?;
    let namespace = req.namespace.unwrap_or_default();
    let is_pod = req.kind.group.is_empty() && req.kind.version == "v1" && req.kind.kind == "Pod";
    let mut decision = Decision {
        outcome: Outcome::Skipped,
        body: Vec::new(),
        uid: req.uid,
        namespace,
        name: req.name,
        message: None,
        dry_run: req.dry_run,
    };
    let mut warnings: Vec<String> = Vec::new();
    let mut patch = None;
    if is_pod && req.sub_resource.is_none() && req.operation == "CREATE" {
        match decide_pod(req.object, &decision, defaults, addresses) {
            Ok(None) => {}
            Ok(Some(m)) => {
                warnings = m.warnings;
                if m.patch.0.is_empty() {
                    decision.outcome = Outcome::Unchanged;
                } else {
                    decision.outcome = Outcome::Patched;
                    // Serialising a Patch into JSON cannot fail.
                    let bytes = serde_json::to_vec(&m.patch).unwrap_or_default();
                    patch = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
                }
            }
            Err((message, code)) => {
                decision.outcome = Outcome::Denied;
                decision.message = Some(message);
                decision.body = encode(api_version, &decision, None, &warnings, Some(code));
                return Ok(decision);
            }
        }
    }
    decision.body = encode(api_version, &decision, patch, &warnings, None);
    Ok(decision)
}

fn decide_pod(
    object: Option<&RawValue>,
    d: &Decision,
    defaults: &Defaults,
    addresses: &dyn AddressLookup,
) -> Result<Option<Mutation>, (String, u16)> {
    let object = object.ok_or_else(|| ("the request carries no object".to_owned(), 400))?;
    let pod: PodView = serde_json::from_str(object.get())
        .map_err(|e| (format!("kafka-advertiser: the request object is not a valid Pod: {e}"), 400))?;
    let names = RequestNames { name: &d.name, namespace: &d.namespace };
    mutate::mutate_view(&pod, names, defaults, addresses).map_err(|e| {
        // 503 tells the caller it may retry; 403 that the pod must change.
        let code = if e.is_retryable() { 503 } else { 403 };
        (format!("kafka-advertiser: {e}"), code)
    })
}

fn encode(api_version: &str, d: &Decision, patch: Option<String>, warnings: &[String], deny: Option<u16>) -> Vec<u8> {
    let status = deny.map(|code| StatusOut {
        code,
        reason: match code {
            503 => "ServiceUnavailable",
            400 => "BadRequest",
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
