//! `kafka-advertiser check`: verifies a live install the way `cmctl check api` and `linkerd check` do.
//! Each verdict is a pure function of what was read (`judge_*`, unit-tested); [`check`] only reads,
//! plus one scratch namespace for the dry-run pod, deleted again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::{MutatingWebhookConfiguration, WebhookClientConfig};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;

use crate::config::CheckArgs;
use crate::names::{ANN_ADVERTISED, ENABLED_LABEL};
use crate::output::Format;

const CRD: &str = "externalaccessclasses.kafka-advertiser.io";
/// Less than this left on the serving certificate fails the check.
const EXPIRY_MARGIN: i64 = 7 * 86_400;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot reach the cluster with this kubeconfig: {0}")]
    Config(String),
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    /// What to do about a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn pass(name: &'static str, detail: String) -> CheckResult {
    CheckResult { name, ok: true, detail, fix: None }
}

fn fail(name: &'static str, detail: String, fix: String) -> CheckResult {
    CheckResult { name, ok: false, detail, fix: Some(fix) }
}

/// The ExternalAccessClass CRD is installed and Established.
pub fn judge_crd(crd: Option<&CustomResourceDefinition>) -> CheckResult {
    let established = crd
        .and_then(|c| c.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
    match (crd, established) {
        (Some(_), true) => pass("crds", format!("{CRD} is served")),
        (Some(_), false) => {
            fail("crds", format!("{CRD} is not Established yet"), "wait, or kubectl describe crd".into())
        }
        (None, _) => fail(
            "crds",
            format!("{CRD} is not installed"),
            "install deploy/crds (kubectl apply -k deploy) or the chart with crds.enabled=true".into(),
        ),
    }
}

/// The webhook configuration exists and carries a CA bundle; returns its first webhook's client config.
pub fn judge_webhook(
    name: &str,
    mwc: Option<&MutatingWebhookConfiguration>,
) -> (CheckResult, Option<WebhookClientConfig>) {
    let Some(w) = mwc.and_then(|m| m.webhooks.as_ref()).and_then(|w| w.first()) else {
        let fix =
            "install kafka-advertiser (helm install, or kubectl apply -k deploy), or pass --webhook-configuration";
        return (fail("webhook", format!("MutatingWebhookConfiguration {name} not found or empty"), fix.into()), None);
    };
    let cc = w.client_config.clone();
    if cc.ca_bundle.as_ref().is_none_or(|b| b.0.is_empty()) {
        let fix = "cert-manager's CA injector fills it (is cert-manager running? the inject-ca-from annotation), or \
                   set webhook.caBundle";
        return (fail("webhook", format!("{} has no caBundle", w.name), fix.into()), Some(cc));
    }
    let target = match (&cc.url, &cc.service) {
        (Some(u), _) => u.clone(),
        (None, Some(s)) => format!("Service {}/{}", s.namespace, s.name),
        (None, None) => "nothing".into(),
    };
    (
        pass(
            "webhook",
            format!("{} calls {target} (failurePolicy {})", w.name, w.failure_policy.as_deref().unwrap_or("Fail")),
        ),
        Some(cc),
    )
}

/// A controller replica holds the Lease and renewed it within its duration.
pub fn judge_lease(name: &str, lease: Option<&Lease>, now: k8s_openapi::jiff::Timestamp) -> CheckResult {
    let fix = "check the controller's pods and logs (kubectl -n NAMESPACE get pods -l app.kubernetes.io/component=controller)";
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
        return fail("leader", format!("Lease {name} does not exist: no controller has run"), fix.into());
    };
    let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    let fresh = spec.renew_time.as_ref().is_some_and(|t| now.duration_since(t.0).as_secs() <= duration);
    match (holder, fresh) {
        (Some(h), true) => pass("leader", format!("{h} holds Lease {name}")),
        (Some(h), false) => {
            fail("leader", format!("Lease {name} was last renewed by {h} more than {duration} s ago"), fix.into())
        }
        (None, _) => fail("leader", format!("nobody holds Lease {name}"), fix.into()),
    }
}

/// The serving certificate is valid for more than [`EXPIRY_MARGIN`].
pub fn judge_expiry(not_after: i64, now: i64) -> CheckResult {
    let days = (not_after - now) / 86_400;
    if not_after - now > EXPIRY_MARGIN {
        pass("certificate", format!("the serving certificate expires in {days} days"))
    } else {
        let fix = "renew it: cert-manager renews at 2/3 of its lifetime (kubectl describe certificate); without \
                   cert-manager, replace the Secret and the caBundle";
        fail("certificate", format!("the serving certificate expires in {days} days"), fix.into())
    }
}

/// The dry-run pod came back with the listeners the webhook injects.
pub fn judge_dry_run(result: Result<Pod, String>) -> CheckResult {
    match result {
        Ok(pod) => match pod.metadata.annotations.as_ref().and_then(|a| a.get(ANN_ADVERTISED)) {
            Some(a) => pass("admission", format!("a dry-run broker pod came back mutated, advertising {a}")),
            None => fail(
                "admission",
                "a dry-run broker pod came back unchanged: the webhook was not called".into(),
                "check the webhook configuration's objectSelector and namespaceSelector".into(),
            ),
        },
        Err(e) => fail(
            "admission",
            format!("the dry-run broker pod was refused: {e}"),
            "a webhook replica must be ready behind the configured Service or URL".into(),
        ),
    }
}

/// The verdicts as text (one line each, the fix below a failure), JSON or YAML.
pub fn render(outcomes: &[CheckResult], output: Format) -> String {
    let ok = outcomes.iter().all(|o| o.ok);
    if output != Format::Text {
        return crate::output::document(output, &serde_json::json!({"ok": ok, "checks": outcomes}));
    }
    let mut out = String::new();
    for o in outcomes {
        let tag = match (o.ok, o.fix.is_some()) {
            (true, false) => "ok  ",
            (true, true) => "warn",
            (false, _) => "FAIL",
        };
        out.push_str(&format!("{tag} {:<12} {}\n", o.name, o.detail));
        if let Some(f) = &o.fix {
            out.push_str(&format!("     {:<12} fix: {f}\n", ""));
        }
    }
    out.push_str(if ok { "all checks passed\n" } else { "some checks failed\n" });
    out
}

async fn client(args: &CheckArgs) -> Result<Client, CheckError> {
    crate::install::user_client(args.kubeconfig.as_deref(), args.context.as_deref()).await.map_err(CheckError::Config)
}

/// The install's objects: each named by its flag, else found by its labels, else the default name.
#[derive(Debug, Clone)]
struct Install {
    namespace: String,
    webhook: String,
    lease: String,
    tls_secret: Option<String>,
}

async fn install(client: &Client, args: &CheckArgs) -> Install {
    use crate::install::{name, DEFAULT_NAME, DEFAULT_NAMESPACE};
    let mwcs = Api::<MutatingWebhookConfiguration>::all(client.clone());
    let webhook = name(&mwcs, args.webhook_configuration.as_deref(), None, DEFAULT_NAME).await;
    if args.namespace.is_some() && args.install_namespace.is_none() {
        crate::output::deprecated("check -n/--namespace", "--install-namespace");
    }
    let behind = || async {
        let mwc = mwcs.get_opt(&webhook).await.ok().flatten()?;
        mwc.webhooks?.into_iter().find_map(|w| w.client_config.service.map(|s| s.namespace))
    };
    let namespace = match args.install_namespace.clone().or_else(|| args.namespace.clone()) {
        Some(ns) => ns,
        None => behind().await.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
    };
    let leases = Api::<Lease>::namespaced(client.clone(), &namespace);
    let lease = name(&leases, args.lease.as_deref(), Some(crate::names::COMPONENT_LEASE), DEFAULT_NAME).await;
    Install { namespace, webhook, lease, tls_secret: args.tls_secret.clone() }
}

/// `kafka-advertiser check`: 0 every check passed, 1 one failed, 2 the cluster cannot be read.
pub async fn run(args: &CheckArgs) -> Result<crate::output::Ended, crate::output::Failure> {
    let outcomes = check(args).await.map_err(|e| crate::output::Failure::error("ClusterUnreachable", e.to_string()))?;
    let out = render(&outcomes, args.output);
    Ok(match outcomes.iter().filter(|o| !o.ok).count() {
        0 => crate::output::Ended::ok(out),
        n => crate::output::Ended::not_ready(out, format!("{n} check(s) failed")),
    })
}

/// Run every check; with `--wait`, again until all pass or the time is up.
pub async fn check(args: &CheckArgs) -> Result<Vec<CheckResult>, CheckError> {
    let client = client(args).await?;
    // One read that must work: the rest of the checks report what they cannot read.
    client.apiserver_version().await.map_err(|e| CheckError::Config(e.to_string()))?;
    let found = install(&client, args).await;
    let deadline = Instant::now() + args.wait;
    loop {
        let outcomes = once(&client, args, &found).await;
        if outcomes.iter().all(|o| o.ok) || Instant::now() >= deadline {
            return Ok(outcomes);
        }
        tokio::time::sleep(Duration::from_secs(2).min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

async fn once(client: &Client, args: &CheckArgs, found: &Install) -> Vec<CheckResult> {
    let crd = Api::<CustomResourceDefinition>::all(client.clone()).get_opt(CRD).await.ok().flatten();
    let mwc = Api::<MutatingWebhookConfiguration>::all(client.clone()).get_opt(&found.webhook).await.ok().flatten();
    let (webhook, cc) = judge_webhook(&found.webhook, mwc.as_ref());
    let mut out = vec![judge_crd(crd.as_ref()), webhook];
    if let Some(cc) = cc.filter(|_| out[1].ok) {
        out.extend(serving(client, found, &cc).await);
    }
    let admitted = match &args.dry_run_namespace {
        Some(ns) => dry_run_in(client, ns).await,
        None => dry_run(client).await,
    };
    out.push(judge_dry_run(admitted));
    let lease = Api::<Lease>::namespaced(client.clone(), &found.namespace).get_opt(&found.lease).await.ok().flatten();
    out.push(judge_lease(&found.lease, lease.as_ref(), k8s_openapi::jiff::Timestamp::now()));
    out.push(platform(client, found).await);
    out.push(judge_optional_apis(&crate::controller::kinds::discover(client).await));
    out
}

/// Which optional APIs the cluster serves at the versions kafka-advertiser uses, and what lacks one
/// (information, not a failure: a cluster without gateway modes needs no Gateway API).
pub fn judge_optional_apis(served: &[crate::controller::kinds::Kind]) -> CheckResult {
    use crate::controller::kinds::Kind;
    let mut by_gv: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for k in served {
        by_gv.entry(k.group_version()).or_default().push(k.name());
    }
    let mut parts: Vec<String> = by_gv.iter().map(|(gv, kinds)| format!("{gv}: {}", kinds.join(", "))).collect();
    let missing: Vec<String> = Kind::OPTIONAL
        .into_iter()
        .filter(|k| !served.contains(k))
        .map(|k| format!("{} {} (needed by {})", k.group_version(), k.name(), k.needed_by()))
        .collect();
    if !missing.is_empty() {
        parts.push(format!("not served: {}", missing.join("; ")));
    }
    pass("optional-apis", parts.join("; "))
}

/// The platform the nodes' `providerID` names, and whether the install's default mode works there.
async fn platform(client: &Client, found: &Install) -> CheckResult {
    use k8s_openapi::api::core::v1::Node;
    let lp = kube::api::ListParams::default().limit(1);
    let provider = match Api::<Node>::all(client.clone()).list(&lp).await {
        Ok(l) => l.items.into_iter().next().and_then(|n| n.spec?.provider_id),
        Err(_) => return pass("platform", "unknown: the nodes cannot be listed with these rights".into()),
    };
    let published = crate::install::published(client, &found.namespace, None).await;
    let mode = crate::controller::published::defaults_from(&published).map(|d| d.mode);
    judge_platform(provider.as_deref(), mode)
}

/// The platform from a node's `providerID` and the default mode's warnings there (advice, not a failure).
pub fn judge_platform(provider_id: Option<&str>, default_mode: Option<crate::spec::settings::Mode>) -> CheckResult {
    use crate::spec::platform::{warnings, Platform};
    let platform = provider_id.map_or(Platform::Generic, Platform::from_provider_id);
    let from = provider_id.map_or("no providerID on the nodes".to_owned(), |p| format!("providerID {p}"));
    let detail = format!("{} ({from})", platform.name());
    let advice = default_mode.map(|m| warnings(platform, m, None)).unwrap_or_default();
    match advice.is_empty() {
        true => pass("platform", detail),
        false => CheckResult {
            name: "platform",
            ok: true,
            detail: format!("{detail}: the default mode needs care here"),
            fix: Some(advice.join("; ")),
        },
    }
}

/// The CA bundle verifies the serving certificate (fetched from the URL, or read from the Secret
/// behind the Service), and how long it has left.
async fn serving(client: &Client, found: &Install, cc: &WebhookClientConfig) -> Vec<CheckResult> {
    let ca = cc.ca_bundle.as_ref().map(|b| b.0.clone()).unwrap_or_default();
    let chain = match (&cc.url, &cc.service) {
        (Some(url), _) => fetch_chain(url, &ca).await,
        (None, Some(svc)) => service_chain(client, found, svc, &ca).await,
        (None, None) => Err("the webhook has neither a url nor a service".into()),
    };
    match chain {
        Ok(leaf) => {
            let trust = pass("ca-bundle", "the caBundle verifies the serving certificate".into());
            let expiry = x509_parser::parse_x509_certificate(&leaf)
                .map(|(_, c)| {
                    judge_expiry(c.validity().not_after.timestamp(), k8s_openapi::jiff::Timestamp::now().as_second())
                })
                .unwrap_or_else(|e| {
                    fail("certificate", format!("cannot parse the serving certificate: {e}"), "replace it".into())
                });
            vec![trust, expiry]
        }
        Err(e) => vec![fail(
            "ca-bundle",
            e,
            "the caBundle must be the CA that signed the serving certificate: with cert-manager, check the \
             cainjector and the Certificate; otherwise set webhook.caBundle to its CA"
                .into(),
        )],
    }
}

fn roots(ca_pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in crate::tls::parse_certs(std::path::Path::new("caBundle"), ca_pem).map_err(|e| e.to_string())? {
        roots.add(cert).map_err(|e| format!("the caBundle holds an unusable certificate: {e}"))?;
    }
    Ok(roots)
}

/// Connect to the webhook URL, verifying its certificate against the CA bundle; returns the leaf.
async fn fetch_chain(url: &str, ca_pem: &[u8]) -> Result<Vec<u8>, String> {
    let (host, port) = url_target(url)?;
    let addr = tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
        .await
        .map_err(|_| format!("{url}: name lookup timed out"))?
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: {host} has no address"))?;
    handshake(addr, &host, ca_pem).await.map_err(|e| format!("{url}: {e}"))
}

/// The host (an IPv6 address without its brackets) and port of an https webhook URL.
pub fn url_target(url: &str) -> Result<(String, u16), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!("{url} is not an https URL"));
    }
    let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| format!("{url} has no host"))?;
    Ok((host.trim_matches(['[', ']']).to_owned(), uri.port_u16().unwrap_or(443)))
}

/// How long a connection and TLS handshake to the webhook may take, together.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// A TLS handshake with `addr` for the name `sni`, verified against the CA bundle; the leaf.
async fn handshake(addr: std::net::SocketAddr, sni: &str, ca_pem: &[u8]) -> Result<Vec<u8>, String> {
    let config = rustls::ClientConfig::builder().with_root_certificates(roots(ca_pem)?).with_no_client_auth();
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| format!("{sni}: {e}"))?;
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect to {addr}: {e}"))?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS to {addr} as {sni} with the caBundle failed: {e}"))
    };
    let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, connect)
        .await
        .map_err(|_| format!("connect and TLS handshake to {addr} timed out after {HANDSHAKE_TIMEOUT:?}"))??;
    let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
    leaf.ok_or_else(|| format!("{addr} presented no certificate"))
}

/// The certificate a webhook replica behind the Service serves, by a handshake with one of its
/// ready endpoints (in the cluster, as the `helm test` hook runs: no Secret read). From outside the
/// cluster, where pod addresses do not answer, the serving Secret's `tls.crt` instead.
async fn service_chain(
    client: &Client,
    found: &Install,
    svc: &k8s_openapi::api::admissionregistration::v1::ServiceReference,
    ca_pem: &[u8],
) -> Result<Vec<u8>, String> {
    let sni = format!("{}.{}.svc", svc.name, svc.namespace);
    let mut tried = Vec::new();
    for addr in endpoints(client, svc).await {
        match handshake(addr, &sni, ca_pem).await {
            Ok(leaf) => return Ok(leaf),
            // A certificate the bundle does not verify is the answer, not a reason to look elsewhere.
            Err(e) if e.contains("TLS to") => return Err(e),
            Err(e) => tried.push(e),
        }
    }
    let secret = found.tls_secret.clone().unwrap_or_else(|| format!("{}-tls", svc.name));
    secret_chain(client, &svc.namespace, &secret, &svc.name, ca_pem).await.map_err(|e| match tried.first() {
        Some(t) => format!("{e} (and no endpoint answered: {t})"),
        None => e,
    })
}

/// The ready pods behind the webhook's Service, on the port the Service sends its port to (the
/// target port, by number or by the container port's name), as kube-proxy resolves it.
async fn endpoints(
    client: &Client,
    svc: &k8s_openapi::api::admissionregistration::v1::ServiceReference,
) -> Vec<std::net::SocketAddr> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let port = svc.port.unwrap_or(443);
    let service = Api::<k8s_openapi::api::core::v1::Service>::namespaced(client.clone(), &svc.namespace);
    let Some(spec) = service.get_opt(&svc.name).await.ok().flatten().and_then(|s| s.spec) else { return Vec::new() };
    let Some(target) = spec.ports.unwrap_or_default().into_iter().find(|p| p.port == port).map(|p| p.target_port)
    else {
        return Vec::new();
    };
    let selector = spec.selector.unwrap_or_default();
    if selector.is_empty() {
        return Vec::new();
    }
    let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let lp = kube::api::ListParams::default().labels(&labels.join(",")).limit(16);
    let pods = Api::<Pod>::namespaced(client.clone(), &svc.namespace).list(&lp).await.map(|l| l.items);
    let mut out = Vec::new();
    for pod in pods.unwrap_or_default() {
        let status = pod.status.unwrap_or_default();
        let ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
        let ip = status.pod_ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok());
        let container_port = match &target {
            Some(IntOrString::Int(n)) => u16::try_from(*n).ok(),
            Some(IntOrString::String(name)) => (pod.spec.iter().flat_map(|s| &s.containers))
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok()),
            None => Some(port as u16),
        };
        if let (true, Some(ip), Some(p)) = (ready, ip, container_port) {
            out.push(std::net::SocketAddr::new(ip, p));
        }
    }
    out.truncate(3);
    out
}

/// Read the serving Secret and verify it for the Service's DNS name against the CA bundle.
async fn secret_chain(
    client: &Client,
    ns: &str,
    secret: &str,
    service: &str,
    ca_pem: &[u8],
) -> Result<Vec<u8>, String> {
    let s = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(secret)
        .await
        .map_err(|e| format!("cannot read Secret {ns}/{secret}: {e}"))?
        .ok_or_else(|| {
            format!("Secret {ns}/{secret} does not exist (pass --tls-secret, or run check in the cluster)")
        })?;
    let pem = s.data.as_ref().and_then(|d| d.get("tls.crt")).map(|b| b.0.clone()).unwrap_or_default();
    let certs = crate::tls::parse_certs(std::path::Path::new(secret), &pem).map_err(|e| e.to_string())?;
    let (leaf, rest) = certs.split_first().ok_or_else(|| format!("Secret {ns}/{secret} has no tls.crt"))?;
    let verifier =
        rustls::client::WebPkiServerVerifier::builder(Arc::new(roots(ca_pem)?)).build().map_err(|e| e.to_string())?;
    let name = ServerName::try_from(format!("{service}.{ns}.svc")).map_err(|e| e.to_string())?;
    use rustls::client::danger::ServerCertVerifier;
    let intermediates: Vec<CertificateDer<'_>> = rest.to_vec();
    verifier
        .verify_server_cert(leaf, &intermediates, &name, &[], UnixTime::now())
        .map_err(|e| format!("the caBundle does not verify Secret {ns}/{secret} for {service}.{ns}.svc: {e}"))?;
    Ok(leaf.to_vec())
}

/// A server-side dry-run create of a labelled broker pod in a scratch namespace (deleted after).
async fn dry_run(client: &Client) -> Result<Pod, String> {
    let namespaces = Api::<Namespace>::all(client.clone());
    let scratch: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"generateName": "kafka-advertiser-check-", "labels": {"kafka-advertiser.io/check": "true"}}
    }))
    .map_err(|e| e.to_string())?;
    let ns = namespaces
        .create(&PostParams::default(), &scratch)
        .await
        .map_err(|e| format!("cannot make a scratch namespace: {e}"))?;
    let name = ns.metadata.name.clone().unwrap_or_default();
    let result = dry_run_in(client, &name).await;
    let _ = namespaces.delete(&name, &DeleteParams::default()).await;
    result
}

async fn dry_run_in(client: &Client, ns: &str) -> Result<Pod, String> {
    // The ServiceAccount admission plugin refuses pods until the namespace's `default` exists.
    let sas = Api::<ServiceAccount>::namespaced(client.clone(), ns);
    for _ in 0..60 {
        if sas.get_opt("default").await.ok().flatten().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "check-0", "labels": {ENABLED_LABEL: "true"}, "annotations": {
            "kafka-advertiser.io/mode": "hostname",
            "kafka-advertiser.io/hostname-template": "{pod}.check.invalid",
            "kafka-advertiser.io/anti-affinity": "none"}},
        "spec": {"subdomain": "check", "automountServiceAccountToken": false,
            // Pod Security `restricted` (the check's own namespace enforces it).
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "kafka", "image": "apache/kafka:4.1.1", "securityContext": {
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}
    }))
    .map_err(|e| e.to_string())?;
    let pp = PostParams { dry_run: true, ..Default::default() };
    Api::<Pod>::namespaced(client.clone(), ns).create(&pp, &pod).await.map_err(|e| match e {
        kube::Error::Api(s) => s.message,
        e => e.to_string(),
    })
}

#[cfg(test)]
mod tests;
