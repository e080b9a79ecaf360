//! Offline commands: `mutate`, `preview`, `certs`, `completion`. No cluster needed.

use std::fmt::Write as _;
use std::io::Read;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use crate::admission::review;
use crate::config::{CertsArgs, MutateArgs, MutateShow, PreviewArgs, PreviewShow};
use crate::controller::desired;
use crate::mutate::{self, ClusterLookup, Defaults, MutateError, RequestNames};
use crate::output::{self, Ended, Failure, Format};

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
    #[error("{0} exists: pass --force to overwrite (nothing was written)")]
    Exists(String),
}

impl OfflineError {
    /// The command's end: a denial or an invalid setting is the answer "no" (exit 1), the rest errors.
    pub fn failure(&self) -> Failure {
        let reason = match self {
            OfflineError::Read { .. } => "Unreadable",
            OfflineError::Parse { .. } | OfflineError::Input { .. } => "InvalidInput",
            OfflineError::Review(_) => "InvalidReview",
            OfflineError::Denied(_) => return Failure::no("Denied", self.to_string()),
            OfflineError::Settings(_) => return Failure::no("InvalidSetting", self.to_string()),
            OfflineError::Write { .. } => "WriteFailed",
            OfflineError::Certs(_) => "CertificateFailed",
            OfflineError::Exists(_) => "Exists",
        };
        // The I/O error is the source: say it in the one message.
        let message = match std::error::Error::source(self) {
            Some(src) if matches!(self, OfflineError::Read { .. } | OfflineError::Write { .. }) => {
                format!("{self}: {src}")
            }
            _ => self.to_string(),
        };
        Failure::error(reason, message)
    }
}

impl From<OfflineError> for Failure {
    fn from(e: OfflineError) -> Self {
        e.failure()
    }
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

/// `kafka-advertiser mutate`: the review or the patched pod; a denial exits 1.
pub fn mutate_cmd(args: &MutateArgs, show: MutateShow, format: Format) -> Result<Ended, Failure> {
    let (out, allowed) = mutate_one(args, show, format)?;
    Ok(match allowed {
        true => Ended::ok(out),
        false => Ended::not_ready(out, "the pod was denied (see response.status.message)".into()),
    })
}

fn mutate_one(args: &MutateArgs, show: MutateShow, format: Format) -> Result<(String, bool), OfflineError> {
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
    let v: Value = serde_json::from_slice(&decision.body).unwrap_or(Value::Null);
    match show {
        MutateShow::Review => {
            Ok((output::document(if format == Format::Text { Format::Json } else { format }, &v), allowed))
        }
        MutateShow::Pod => {
            if let Some(msg) = decision.message {
                return Err(OfflineError::Denied(msg));
            }
            let mut pod = pod.ok_or_else(|| input("the AdmissionReview carries no object"))?;
            if let Some(p) = v.pointer("/response/patch").and_then(Value::as_str) {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD.decode(p).unwrap_or_default();
                let patch: json_patch::Patch = serde_json::from_slice(&bytes).map_err(|e| input(&e.to_string()))?;
                json_patch::patch(&mut pod, &patch).map_err(|e| input(&format!("patch does not apply: {e}")))?;
            }
            Ok((output::document(if format == Format::Text { Format::Yaml } else { format }, &pod), true))
        }
    }
}

/// `kafka-advertiser completion SHELL`: the completion script.
pub fn completion(shell: crate::config::Shell) -> String {
    use clap::CommandFactory;
    let mut cmd = crate::config::Cli::command();
    let mut out = Vec::new();
    let name = "kafka-advertiser";
    match shell {
        crate::config::Shell::Bash => clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, name, &mut out),
        crate::config::Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, name, &mut out),
        crate::config::Shell::Fish => clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, name, &mut out),
    }
    String::from_utf8_lossy(&out).into_owned()
}

mod preview;
pub use preview::{preview_cmd, EMBEDDED_EXAMPLE};

/// What `certs` wrote (`-o json|yaml` prints it).
#[derive(Debug, serde::Serialize)]
pub struct Written {
    pub directory: String,
    pub files: Vec<String>,
    pub hosts: Vec<String>,
}

/// `kafka-advertiser certs`: a local CA and a serving (and optionally client) certificate. Keys are
/// written with mode 0600; an existing file is an error (nothing written) unless `--force`.
pub fn certs_cmd(args: &CertsArgs) -> Result<Ended, Failure> {
    let files = certs(args)?;
    let written = Written {
        directory: args.out.display().to_string(),
        files: files.iter().map(|(n, _)| n.to_string()).collect(),
        hosts: args.hosts.clone(),
    };
    Ok(Ended::ok(match args.output {
        Format::Text => {
            format!("wrote {}/{{{}}} for {}\n", written.directory, written.files.join(","), written.hosts.join(", "))
        }
        f => output::document(f, &written),
    }))
}

fn certs(args: &CertsArgs) -> Result<Vec<(&'static str, String)>, OfflineError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
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
    let mut files =
        vec![("ca.crt", ca_cert.pem()), ("tls.crt", cert.pem()), (crate::tls::KEY_FILE, key.serialize_pem())];
    if args.client {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &issuer)?;
        files.extend([("client.crt", cert.pem()), ("client.key", key.serialize_pem())]);
    }
    write_all(&args.out, &files, args.force)?;
    Ok(files)
}

/// Write every file, or (without `force`, when one exists) none; `*.key` with mode 0600 from creation.
fn write_all(dir: &std::path::Path, files: &[(&str, String)], force: bool) -> Result<(), OfflineError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| OfflineError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(failed(dir))?;
    if let Some((name, _)) = files.iter().find(|(n, _)| !force && dir.join(n).exists()) {
        return Err(OfflineError::Exists(dir.join(name).display().to_string()));
    }
    for (name, content) in files {
        let path = dir.join(name);
        let mode = if name.ends_with(".key") { 0o600 } else { 0o644 };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&path)
            .map_err(failed(&path))?;
        // A key file that existed keeps its old mode through open(): set it.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(failed(&path))?;
        f.write_all(content.as_bytes()).map_err(failed(&path))?;
    }
    Ok(())
}
