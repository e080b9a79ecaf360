//! Entry points shared by the fuzz targets (`fuzz/`) and the corpus replay test: each takes raw
//! bytes, runs a public path, and panics only when an invariant breaks.

use crate::admission::review::{review, ReviewError};
use crate::mutate::listeners::{entry_name, merge, Listener};
use crate::mutate::{ClusterView, Defaults};

/// bytes → decode → mutate → encode response. The response must be a JSON AdmissionReview whose
/// patch (if any) applies to the request's object.
pub fn admission(data: &[u8]) {
    let book = ClusterView::new();
    book.set("streaming", "kafka", 0, Some("203.0.113.10"));
    book.mark_synced();
    let decision = match review(data, &Defaults::default(), &book) {
        Ok(d) => d,
        Err(ReviewError::Malformed(_) | ReviewError::NoRequest | ReviewError::ApiVersion(_)) => return,
    };
    let resp: serde_json::Value = serde_json::from_slice(&decision.body).expect("response is JSON");
    assert_eq!(resp["kind"], "AdmissionReview");
    assert!(resp["response"]["allowed"].is_boolean());
    if let Some(p) = resp["response"]["patch"].as_str() {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD.decode(p).expect("patch is base64");
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).expect("patch is a JSON patch");
        // Only the object is read strictly (serde skips over the rest), so extract just that.
        #[derive(serde::Deserialize)]
        struct Req<'a> {
            #[serde(borrow)]
            request: Obj<'a>,
        }
        #[derive(serde::Deserialize)]
        struct Obj<'a> {
            #[serde(borrow)]
            object: &'a serde_json::value::RawValue,
        }
        // The decoder skips parts of the object it does not read without validating every string
        // escape in them (as serde does for ignored values); such an object cannot be turned into a
        // Value to apply the patch to. kube-apiserver never sends one.
        let Ok(req) = serde_json::from_slice::<Req<'_>>(data) else { return };
        let Ok(mut object) = serde_json::from_str::<serde_json::Value>(req.request.object.get()) else { return };
        json_patch::patch(&mut object, &patch).expect("patch applies to the request object");
    }
}

/// First line: existing listeners value; the rest: our entries' hosts. Merge must keep every foreign
/// entry in order, contain each of ours once, and be idempotent.
pub fn listeners(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (existing, hosts) = text.split_once('\n').unwrap_or((text, "h"));
    let host = hosts.lines().next().unwrap_or("h");
    if host.contains(',') {
        // A host with a comma cannot be represented in a listeners value; the mutation refuses such
        // hosts before merging (settings: address and rendered-template validation, tested there).
        return;
    }
    let ours = [
        Listener { name: "INTERNAL", host: "kafka-0.hs.ns.svc.cluster.local", port: 9092 },
        Listener { name: "EXTERNAL", host, port: 9094 },
    ];
    let out = merge(Some(existing), &ours);
    assert_eq!(merge(Some(&out), &ours), out, "merge is idempotent");
    let foreign = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .filter(|e| !matches!(entry_name(e), Some(n) if ours.iter().any(|o| o.name.eq_ignore_ascii_case(n))))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(foreign(existing), foreign(&out), "foreign entries kept in order");
}
