//! Finding an install by its labels (`app.kubernetes.io/name=kafka-advertiser`, and
//! `app.kubernetes.io/component` for the objects made at runtime), whatever its Helm release or
//! kustomize overlay called it. A flag naming the object wins; without labels, the default names.

use kube::api::ListParams;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use crate::names::{COMPONENT_LABEL, INSTALL_NAME, INSTALL_NAME_LABEL};

/// The default names of a plain install (`deploy/`, or the chart released as `kafka-advertiser`).
pub const DEFAULT_NAME: &str = "kafka-advertiser";
pub const DEFAULT_NAMESPACE: &str = "kafka-advertiser";
pub const DEFAULT_SETTINGS: &str = "kafka-advertiser-settings";

/// The label selector of the install's objects, of one component or all.
pub fn selector(component: Option<&str>) -> String {
    match component {
        Some(c) => format!("{INSTALL_NAME_LABEL}={INSTALL_NAME},{COMPONENT_LABEL}={c}"),
        None => format!("{INSTALL_NAME_LABEL}={INSTALL_NAME}"),
    }
}

/// The name to use: the one given, else the first (by name) labelled object the API lists, else
/// `default`. A list that fails (no rights, no cluster) falls back to `default` too: the read that
/// follows says what is wrong.
pub async fn name<K>(api: &Api<K>, given: Option<&str>, component: Option<&str>, default: &str) -> String
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if let Some(g) = given {
        return g.to_owned();
    }
    let lp = ListParams::default().labels(&selector(component));
    let mut names: Vec<String> = match api.list_metadata(&lp).await {
        Ok(l) => l.items.into_iter().filter_map(|o| o.metadata.name).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names.into_iter().next().unwrap_or_else(|| default.to_owned())
}

/// A client as kubectl makes one: --kubeconfig, else KUBECONFIG, ~/.kube/config or in-cluster; --context.
pub async fn user_client(kubeconfig: Option<&std::path::Path>, context: Option<&str>) -> Result<kube::Client, String> {
    let options = kube::config::KubeConfigOptions { context: context.map(str::to_owned), ..Default::default() };
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| e.to_string())?;
            kube::Config::from_custom_kubeconfig(kc, &options).await.map_err(|e| e.to_string())?
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&options).await.map_err(|e| e.to_string())?,
        None => kube::Config::infer().await.map_err(|e| e.to_string())?,
    };
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

/// What the install's controller published (its settings ConfigMap, found by its labels unless
/// named); empty when it cannot be read.
pub async fn published(
    client: &kube::Client,
    namespace: &str,
    given: Option<&str>,
) -> std::collections::BTreeMap<String, String> {
    let api = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), namespace);
    let found = self::name(&api, given, Some(crate::names::COMPONENT_SETTINGS), DEFAULT_SETTINGS).await;
    api.get_opt(&found).await.ok().flatten().and_then(|cm| cm.data).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn selectors() {
        assert_eq!(super::selector(None), "app.kubernetes.io/name=kafka-advertiser");
        assert_eq!(
            super::selector(Some("settings")),
            "app.kubernetes.io/name=kafka-advertiser,app.kubernetes.io/component=settings"
        );
    }
}
