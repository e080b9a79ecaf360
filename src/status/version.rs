//! `kafka-advertiser version`: this binary's version, the running install's (from the settings its
//! controller publishes) and the API server's.

use serde::Serialize;

use crate::config::VersionArgs;
use crate::output::{self, Ended, Failure, Format};

/// What `version` reports (`-o json|yaml` prints it as it is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Versions {
    pub client: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<String>,
}

impl Versions {
    /// One line each; an install not found says where it was looked for.
    pub fn text(&self, looked_in: &str) -> String {
        let mut out = format!("Client version: {}\n", self.client);
        if let Some(k) = &self.kubernetes {
            let install = self.install.clone().unwrap_or_else(|| format!("not found (no settings in {looked_in})"));
            out.push_str(&format!("Install version: {install}\nKubernetes version: {k}\n"));
        }
        out
    }
}

pub async fn run(args: &VersionArgs) -> Result<Ended, Failure> {
    let mut v = Versions { client: env!("CARGO_PKG_VERSION").to_owned(), install: None, kubernetes: None };
    let print = |v: &Versions| match args.output {
        Format::Text => v.text(&format!("namespace {}", args.install_namespace)),
        f => output::document(f, v),
    };
    if args.client {
        return Ok(Ended::ok(print(&v)));
    }
    let unreachable = |e: String| {
        Failure::error("ClusterUnreachable", format!("client version {}; cannot reach the cluster: {e}", v.client))
    };
    let client =
        crate::install::user_client(args.kubeconfig.as_deref(), args.context.as_deref()).await.map_err(unreachable)?;
    let info = client.apiserver_version().await.map_err(|e| unreachable(e.to_string()))?;
    v.kubernetes = Some(info.git_version);
    let published =
        crate::install::published(&client, &args.install_namespace, args.settings_configmap.as_deref()).await;
    v.install = published.get(crate::controller::published::KEY_VERSION).cloned();
    Ok(match v.install {
        Some(_) => Ended::ok(print(&v)),
        None => Ended::not_ready(
            print(&v),
            format!(
                "no install found in namespace {} (pass --install-namespace, or --settings-configmap)",
                args.install_namespace
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_each_version_and_where_the_install_was_not_found() {
        let mut v = Versions { client: "0.2.0".into(), install: None, kubernetes: None };
        assert_eq!(v.text("namespace x"), "Client version: 0.2.0\n");
        v.kubernetes = Some("v1.35.4".into());
        assert!(v.text("namespace x").contains("Install version: not found (no settings in namespace x)"));
        v.install = Some("0.1.0".into());
        let json: serde_json::Value = serde_json::from_str(&output::document(Format::Json, &v)).unwrap();
        assert_eq!(json, serde_json::json!({"client": "0.2.0", "install": "0.1.0", "kubernetes": "v1.35.4"}));
    }
}
