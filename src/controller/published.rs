//! The controller's effective settings, published in a ConfigMap in its own namespace (`serve
//! --settings-configmap`, the chart's `<fullname>-settings`) so that `kafka-advertiser status` reads the
//! server's defaults from the install instead of having them re-typed as flags. Written at start-up,
//! only when its data differs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::mutate::Defaults;
use crate::names::{
    COMPONENT_LABEL, COMPONENT_SETTINGS, FIELD_MANAGER, INSTALL_NAME, INSTALL_NAME_LABEL, MANAGED_BY, MANAGED_BY_LABEL,
};
use crate::spec::settings::{Mode, DEFAULT_MAX_BROKERS};

pub const KEY_DEFAULT_MODE: &str = "defaultMode";
pub const KEY_CLUSTER_DOMAIN: &str = "clusterDomain";
pub const KEY_TENANCY: &str = "tenancy";
pub const KEY_NAMESPACES: &str = "namespaces";
pub const KEY_VERSION: &str = "version";
pub const KEY_MAX_BROKERS: &str = "maxBrokers";

/// The ConfigMap's data for these settings (a pure function).
pub fn data(defaults: &Defaults, tenancy: &str, namespaces: &[String]) -> BTreeMap<String, String> {
    BTreeMap::from([
        (KEY_DEFAULT_MODE.to_owned(), defaults.mode.as_str().to_owned()),
        (KEY_CLUSTER_DOMAIN.to_owned(), defaults.cluster_domain.clone()),
        (KEY_MAX_BROKERS.to_owned(), defaults.max_brokers.to_string()),
        (KEY_TENANCY.to_owned(), tenancy.to_owned()),
        (KEY_NAMESPACES.to_owned(), namespaces.join(",")),
        (KEY_VERSION.to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
    ])
}

/// The server's defaults as published (the keys `status` needs); None when a value is missing or unknown.
pub fn defaults_from(data: &BTreeMap<String, String>) -> Option<Defaults> {
    let mode = <Mode as clap::ValueEnum>::from_str(data.get(KEY_DEFAULT_MODE)?, false).ok()?;
    let cluster_domain = data.get(KEY_CLUSTER_DOMAIN).filter(|d| !d.is_empty())?.clone();
    let max_brokers = data.get(KEY_MAX_BROKERS).and_then(|m| m.parse().ok()).unwrap_or(DEFAULT_MAX_BROKERS);
    Some(Defaults { mode, cluster_domain, max_brokers })
}

/// Write the ConfigMap when its data differs from `want` (server-side apply, our field manager).
pub async fn publish(
    client: Client,
    namespace: &str,
    name: &str,
    want: BTreeMap<String, String>,
) -> Result<bool, kube::Error> {
    let api = Api::<ConfigMap>::namespaced(client, namespace);
    let labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
        (INSTALL_NAME_LABEL.to_owned(), INSTALL_NAME.to_owned()),
        (COMPONENT_LABEL.to_owned(), COMPONENT_SETTINGS.to_owned()),
    ]);
    let stored = api.get_opt(name).await?;
    let labelled =
        |cm: &ConfigMap| labels.iter().all(|(k, v)| cm.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v));
    if stored.as_ref().is_some_and(|cm| cm.data.as_ref() == Some(&want) && labelled(cm)) {
        return Ok(false);
    }
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": want});
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&cm)).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_defaults_read_back() {
        let d = Defaults { mode: Mode::Nodeport, cluster_domain: "corp.local".into(), max_brokers: 12 };
        let data = data(&d, "classes", &["a".into(), "b".into()]);
        assert_eq!(data[KEY_NAMESPACES], "a,b");
        assert_eq!(data[KEY_TENANCY], "classes");
        assert_eq!(defaults_from(&data), Some(d));
        let mut bad = data.clone();
        bad.insert(KEY_DEFAULT_MODE.into(), "teleport".into());
        assert_eq!(defaults_from(&bad), None);
    }
}
