//! Offline commands: `mutate`, `preview`, `certs`. No cluster needed.

use std::fmt::Write as _;
use std::io::Read;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use crate::admission::review;
use crate::config::{CertsArgs, MutateArgs, MutateOutput, PreviewArgs, PreviewOutput};
use crate::controller::desired;
use crate::mutate::{self, ClusterLookup, Defaults, MutateError, RequestNames};

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The I/O error is the source (shown once, by the error chain).
    #[error("cannot read {path}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: not valid JSON or YAML: {reason}")]
    Parse { path: String, reason: String },
    #[error("{path}: {reason}")]
    Input { path: String, reason: String },
    #[error(transparent)]
    Review(#[from] review::ReviewError),
    #[error("{0}")]
    Denied(String),
    #[error(transparent)]
    Settings(#[from] crate::spec::settings::SettingsError),
    #[error("cannot write {path}")]
    Write { path: String, source: std::io::Error },
    #[error("certificate generation failed: {0}")]
    Certs(#[from] rcgen::Error),
}

fn read_input(path: &str) -> Result<String, OfflineError> {
    let mut s = String::new();
    let r = if path == "-" {
        std::io::stdin().read_to_string(&mut s).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|c| s = c)
    };
    r.map_err(|source| OfflineError::Read { path: path.into(), source })?;
    Ok(s)
}

/// All documents of a JSON or multi-document YAML file.
fn documents(path: &str, text: &str) -> Result<Vec<Value>, OfflineError> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(vec![v]);
    }
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| OfflineError::Parse { path: path.into(), reason: e.to_string() })?;
    let out: Vec<Value> = docs.into_iter().filter(|v| !v.is_null()).collect();
    if out.is_empty() {
        return Err(OfflineError::Parse { path: path.into(), reason: "empty document".into() });
    }
    Ok(out)
}

/// `--address` entries apply to whichever StatefulSet the pod belongs to; `preview` also knows that
/// StatefulSet's selector, as the controller's watch tells the webhook.
/// The fourth field is the StatefulSet's first ordinal (`mutate`, which sees no StatefulSet, counts
/// from 0): with `--max-brokers`, which brokers may exist.
struct AnyStatefulSet(
    Vec<(u32, String)>,
    Option<std::sync::Arc<std::collections::BTreeMap<String, String>>>,
    Option<std::sync::Arc<crate::spec::class::Classes>>,
    u32,
);

impl crate::spec::class::ClassSource for AnyStatefulSet {
    fn classes(&self) -> Option<std::sync::Arc<crate::spec::class::Classes>> {
        self.2.clone()
    }

    /// Offline, a namespace has the one label the API server gives every namespace.
    fn namespace_labels(&self, namespace: &str) -> Option<std::sync::Arc<std::collections::BTreeMap<String, String>>> {
        let label = ("kubernetes.io/metadata.name".to_owned(), namespace.to_owned());
        Some(std::sync::Arc::new(std::collections::BTreeMap::from([label])))
    }
}

impl ClusterLookup for AnyStatefulSet {
    fn address(&self, _: &str, _: &str, ordinal: u32) -> Option<std::sync::Arc<str>> {
        self.0.iter().rev().find(|(o, _)| *o == ordinal).map(|(_, h)| std::sync::Arc::from(h.as_str()))
    }

    fn selector(&self, _: &str, _: &str) -> Option<std::sync::Arc<std::collections::BTreeMap<String, String>>> {
        self.1.clone()
    }

    fn ordinal_start(&self, _: &str, _: &str) -> Option<u32> {
        Some(self.3)
    }
}

/// `kafka-advertiser mutate`: returns what to print and whether the pod was admitted.
pub fn mutate_cmd(args: &MutateArgs) -> Result<(String, bool), OfflineError> {
    let text = read_input(&args.file)?;
    let input = |reason: &str| OfflineError::Input { path: args.file.clone(), reason: reason.into() };
    // The first Pod or AdmissionReview of the file (a manifest may start with a Namespace).
    let docs = documents(&args.file, &text)?;
    let kind = |d: &Value| d.get("kind").and_then(Value::as_str).map(str::to_owned);
    let doc = match docs.iter().position(|d| matches!(kind(d).as_deref(), Some("Pod" | "AdmissionReview"))) {
        Some(i) => docs.into_iter().nth(i).unwrap_or(Value::Null),
        None if docs.len() > 1 => {
            let kinds: Vec<String> = docs.iter().map(|d| kind(d).unwrap_or_else(|| "(no kind)".into())).collect();
            return Err(input(&format!("expected an AdmissionReview or a Pod, found {}", kinds.join(", "))));
        }
        None => docs.into_iter().next().unwrap_or(Value::Null),
    };
    let defaults = args.mutation.defaults();
    let lookup = AnyStatefulSet(args.addresses.clone(), None, None, 0);
    // A bare Pod becomes the AdmissionReview kube-apiserver would send for its CREATE.
    let (review_json, pod) = match doc.get("kind").and_then(Value::as_str) {
        Some("AdmissionReview") => {
            let pod = doc.pointer("/request/object").cloned();
            (doc, pod)
        }
        Some("Pod") => {
            let md = &doc["metadata"];
            let r = json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {
                    "uid": "offline", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "name": md["name"].as_str().unwrap_or(""), "namespace": md["namespace"].as_str().unwrap_or("default"),
                    "operation": "CREATE", "userInfo": {}, "object": doc.clone(),
                }
            });
            (r, Some(doc))
        }
        Some(k) => return Err(input(&format!("expected an AdmissionReview or a Pod, got kind {k}"))),
        None => return Err(input("expected an AdmissionReview or a Pod: no kind")),
    };
    let body = serde_json::to_vec(&review_json).unwrap_or_default();
    let decision = review::review(&body, &defaults, &lookup)?;
    let allowed = decision.message.is_none();
    match args.output {
        MutateOutput::Review => {
            let v: Value = serde_json::from_slice(&decision.body).unwrap_or(Value::Null);
            Ok((serde_json::to_string_pretty(&v).unwrap_or_default() + "\n", allowed))
        }
        MutateOutput::Pod => {
            if let Some(msg) = decision.message {
                return Err(OfflineError::Denied(msg));
            }
            let mut pod = pod.ok_or_else(|| input("the AdmissionReview carries no object"))?;
            let v: Value = serde_json::from_slice(&decision.body).unwrap_or(Value::Null);
            if let Some(p) = v.pointer("/response/patch").and_then(Value::as_str) {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD.decode(p).unwrap_or_default();
                let patch: json_patch::Patch = serde_json::from_slice(&bytes).map_err(|e| input(&e.to_string()))?;
                json_patch::patch(&mut pod, &patch).map_err(|e| input(&format!("patch does not apply: {e}")))?;
            }
            Ok((serde_saphyr::to_string(&pod).unwrap_or_default(), true))
        }
    }
}

mod preview;
pub use preview::{preview_cmd, EMBEDDED_EXAMPLE};

/// `kafka-advertiser certs`: a local CA and a serving (and optionally client) certificate.
pub fn certs_cmd(args: &CertsArgs) -> Result<String, OfflineError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
    let write = |name: &str, content: &str| {
        let path = args.out.join(name);
        std::fs::write(&path, content)
            .map_err(|source| OfflineError::Write { path: path.display().to_string(), source })
    };
    std::fs::create_dir_all(&args.out)
        .map_err(|source| OfflineError::Write { path: args.out.display().to_string(), source })?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "kafka-advertiser dev CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(args.hosts.clone())?;
    params.distinguished_name.push(DnType::CommonName, args.hosts.first().cloned().unwrap_or_default());
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer)?;
    write("ca.crt", &ca_cert.pem())?;
    write("tls.crt", &cert.pem())?;
    write(crate::tls::KEY_FILE, &key.serialize_pem())?;
    if args.client {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &issuer)?;
        write("client.crt", &cert.pem())?;
        write("client.key", &key.serialize_pem())?;
    }
    Ok(format!(
        "wrote {}/{{ca.crt,tls.crt,tls.key{}}} for {}\n",
        args.out.display(),
        if args.client { ",client.crt,client.key" } else { "" },
        args.hosts.join(", ")
    ))
}
