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
