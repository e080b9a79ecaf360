//! Self-managed webhook TLS (the chart's `tls.source: self`), as Kyverno keeps its own: the
//! controller's leader keeps a CA in one Secret, the webhook's serving certificate (which the webhook
//! replicas mount and reload) in another, and the webhook configuration's `caBundle` in step, all
//! with server-side apply under kafka-advertiser's field manager. What to hold is decided by
//! [`plan::plan`]; this module only reads and writes.

pub mod plan;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::names::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL};
pub use plan::{Lifetimes, Pair, Stored};

/// What self-managed TLS adds to the controller's rights, in its own namespace: the two Secrets by
/// name, and creating Secrets (create cannot be narrowed by name).
pub const SECRETS_RBAC: (&str, &str, &[&str]) = ("", "secrets", &["get", "patch"]);
pub const SECRETS_CREATE_RBAC: (&str, &str, &[&str]) = ("", "secrets", &["create"]);
/// ... and cluster-wide, its own webhook configuration by name.
pub const WEBHOOK_CA_RBAC: (&str, &str, &[&str]) =
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", &["get", "patch"]);

#[derive(Debug, thiserror::Error)]
pub enum SelfTlsError {
    #[error("cannot make a certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("certificate validity out of range: {0}")]
    Time(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the webhook configuration {0} does not exist (is the install complete?)")]
    NoWebhookConfiguration(String),
}

/// Where the material lives and how long it lasts.
#[derive(Clone, Debug)]
pub struct SelfTls {
    /// The install's namespace: both Secrets and the webhook Service are there.
    pub namespace: String,
    pub serving_secret: String,
    pub ca_secret: String,
    /// The webhook Service, whose DNS names the serving certificate carries.
    pub service: String,
    pub cluster_domain: String,
    /// The MutatingWebhookConfiguration whose `caBundle` is kept.
    pub webhook_configuration: String,
    pub lifetimes: Lifetimes,
    /// How often the leader looks again.
    pub interval: Duration,
}

impl SelfTls {
    /// The serving certificate's DNS names: the Service's, short and fully qualified.
    pub fn dns_names(&self) -> Vec<String> {
        let short = format!("{}.{}.svc", self.service, self.namespace);
        vec![short.clone(), format!("{short}.{}", self.cluster_domain)]
    }
}

fn text(s: Option<&Secret>, key: &str) -> Option<String> {
    let v = s?.data.as_ref()?.get(key)?;
    String::from_utf8(v.0.clone()).ok().filter(|t| !t.is_empty())
}

/// What the two Secrets hold.
pub fn stored(ca: Option<&Secret>, serving: Option<&Secret>) -> Stored {
    let pair = |s: Option<&Secret>| Some(Pair { cert: text(s, "tls.crt")?, key: text(s, "tls.key")? });
    Stored {
        ca: pair(ca),
        previous_ca: text(ca, "previous.crt"),
        serving: pair(serving),
        serving_ca: text(serving, "ca.crt"),
    }
}

fn secret(name: &str, namespace: &str, type_: &str, data: BTreeMap<&str, &str>) -> serde_json::Value {
    use crate::names::{COMPONENT_CA, COMPONENT_LABEL, COMPONENT_TLS, INSTALL_NAME, INSTALL_NAME_LABEL};
    let component = if type_ == "kubernetes.io/tls" { COMPONENT_TLS } else { COMPONENT_CA };
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let data: serde_json::Map<String, serde_json::Value> =
        data.into_iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_owned(), b64(v).into())).collect();
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": type_,
        "metadata": {"name": name, "namespace": namespace, "labels": {
            MANAGED_BY_LABEL: MANAGED_BY, INSTALL_NAME_LABEL: INSTALL_NAME, COMPONENT_LABEL: component}},
        "data": data,
    })
}

/// The two Secrets as they should be stored (the CA's first: the bundle must trust a new CA before
/// any replica serves a certificate it signed).
pub fn secrets(s: &SelfTls, m: &Stored) -> [(String, serde_json::Value); 2] {
    let ca = m.ca.clone().unwrap_or_default();
    let serving = m.serving.clone().unwrap_or_default();
    let prev = m.previous_ca.clone().unwrap_or_default();
    let ca_data =
        BTreeMap::from([("tls.crt", ca.cert.as_str()), ("tls.key", ca.key.as_str()), ("previous.crt", &prev)]);
    let serving_ca = m.serving_ca.clone().unwrap_or_default();
    let serving_data = BTreeMap::from([
        ("tls.crt", serving.cert.as_str()),
        ("tls.key", serving.key.as_str()),
        ("ca.crt", serving_ca.as_str()),
    ]);
    [
        (s.ca_secret.clone(), secret(&s.ca_secret, &s.namespace, "Opaque", ca_data)),
        (s.serving_secret.clone(), secret(&s.serving_secret, &s.namespace, "kubernetes.io/tls", serving_data)),
    ]
}

/// The apply body that sets `caBundle` on every webhook of the configuration (and nothing else).
pub fn ca_bundle_patch(mwc: &MutatingWebhookConfiguration, bundle: &str) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bundle);
    let hooks: Vec<serde_json::Value> =
        (mwc.webhooks.iter().flatten()).map(|w| json!({"name": w.name, "clientConfig": {"caBundle": b64}})).collect();
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": mwc.metadata.name},
        "webhooks": hooks,
    })
}

fn bundle_of(mwc: &MutatingWebhookConfiguration) -> Vec<Option<String>> {
    (mwc.webhooks.iter().flatten())
        .map(|w| w.client_config.ca_bundle.as_ref().and_then(|b| String::from_utf8(b.0.clone()).ok()))
        .collect()
}

/// One look: renew what needs it, then make the webhook configuration trust the current bundle.
pub async fn reconcile(client: &Client, s: &SelfTls, now: i64) -> Result<(), SelfTlsError> {
    let secrets_api: Api<Secret> = Api::namespaced(client.clone(), &s.namespace);
    let ca = secrets_api.get_opt(&s.ca_secret).await?;
    let serving = secrets_api.get_opt(&s.serving_secret).await?;
    let current = stored(ca.as_ref(), serving.as_ref());
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let held = match plan::plan(&current, &s.dns_names(), now, &s.lifetimes)? {
        None => current,
        Some((next, why)) => {
            tracing::info!(ca = ?why.ca, serving = ?why.serving, secret = %s.serving_secret, "renewing the webhook's certificates");
            let [(ca_name, ca_body), (serving_name, serving_body)] = secrets(s, &next);
            secrets_api.patch(&ca_name, &pp, &Patch::Apply(ca_body)).await?;
            set_bundle(client, s, &next.bundle()).await?;
            secrets_api.patch(&serving_name, &pp, &Patch::Apply(serving_body)).await?;
            return Ok(());
        }
    };
    set_bundle(client, s, &held.bundle()).await
}

async fn set_bundle(client: &Client, s: &SelfTls, bundle: &str) -> Result<(), SelfTlsError> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let name = &s.webhook_configuration;
    let mwc = api.get_opt(name).await?.ok_or_else(|| SelfTlsError::NoWebhookConfiguration(name.clone()))?;
    if bundle_of(&mwc).iter().all(|b| b.as_deref() == Some(bundle)) {
        return Ok(());
    }
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(ca_bundle_patch(&mwc, bundle))).await?;
    tracing::info!(webhook_configuration = %name, "caBundle set");
    Ok(())
}

/// While this replica leads: look now, then every `interval`, until `stop`.
pub async fn run(client: Client, s: SelfTls, mut leader: watch::Receiver<bool>, stop: CancellationToken) {
    loop {
        if *leader.borrow_and_update() {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            if let Err(e) = reconcile(&client, &s, now.as_secs() as i64).await {
                tracing::warn!(error = %e, "cannot keep the webhook's certificates");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(s.interval) => {}
            _ = leader.changed() => {}
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SelfTls {
        SelfTls {
            namespace: "ops".into(),
            serving_secret: "ka-tls".into(),
            ca_secret: "ka-ca".into(),
            service: "ka".into(),
            cluster_domain: "cluster.local".into(),
            webhook_configuration: "ka".into(),
            lifetimes: Lifetimes { ca: Duration::from_secs(86_400 * 3650), serving: Duration::from_secs(86_400 * 90) },
            interval: Duration::from_secs(60),
        }
    }

    /// What is written reads back as what was planned: the Secrets' keys round-trip.
    #[test]
    fn the_secrets_round_trip() {
        let s = settings();
        let (m, _) = plan::plan(&Stored::default(), &s.dns_names(), 1_800_000_000, &s.lifetimes).unwrap().unwrap();
        let m = Stored { previous_ca: Some(m.ca.clone().unwrap().cert), ..m };
        let [(_, ca), (_, serving)] = secrets(&s, &m);
        assert_eq!(serving["type"], "kubernetes.io/tls");
        let ca: Secret = serde_json::from_value(ca).unwrap();
        let serving: Secret = serde_json::from_value(serving).unwrap();
        assert_eq!(stored(Some(&ca), Some(&serving)), m);
        assert_eq!(s.dns_names(), ["ka.ops.svc", "ka.ops.svc.cluster.local"]);
    }

    #[test]
    fn the_bundle_patch_sets_only_each_webhooks_ca_bundle() {
        let mwc: MutatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": "ka"},
            "webhooks": [{"name": "pods.kafka-advertiser.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                          "clientConfig": {"service": {"name": "ka", "namespace": "ops"}}}]
        }))
        .unwrap();
        assert_eq!(bundle_of(&mwc), [None]);
        let p = ca_bundle_patch(&mwc, "PEM");
        assert_eq!(p["webhooks"], json!([{"name": "pods.kafka-advertiser.io", "clientConfig": {"caBundle": "UEVN"}}]));
    }
}
