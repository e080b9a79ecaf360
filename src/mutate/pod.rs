//! The part of a Pod the mutation reads. The webhook deserialises requests straight into it: the
//! rest of the pod (volumes, probes, resources, managedFields, …) is scanned, never built, which is
//! most of the cost of a typed `Pod`. A full k8s-openapi `Pod` converts into it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, Container, EnvVar, Pod};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodView {
    #[serde(default)]
    pub metadata: MetaView,
    #[serde(default)]
    pub spec: Option<SpecView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaView {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub generate_name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub owner_references: Option<Vec<OwnerRefView>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OwnerRefView {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecView {
    #[serde(default)]
    pub containers: Vec<ContainerView>,
    pub hostname: Option<String>,
    pub subdomain: Option<String>,
    pub affinity: Option<Affinity>,
    #[serde(default)]
    pub volumes: Option<Vec<VolumeView>>,
}

/// A pod volume: its name and, for a Secret volume, the Secret.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeView {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub secret: Option<SecretVolumeView>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretVolumeView {
    pub secret_name: Option<String>,
}

/// A container's volume mount.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MountView {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub mount_path: String,
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerView {
    #[serde(default)]
    pub name: String,
    pub image: Option<String>,
    pub env: Option<Vec<EnvVar>>,
    /// How many `envFrom` sources (their contents are not visible at admission).
    #[serde(default, deserialize_with = "count")]
    pub env_from: usize,
    #[serde(default)]
    pub volume_mounts: Option<Vec<MountView>>,
}

fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v: Option<Vec<serde::de::IgnoredAny>> = Deserialize::deserialize(d)?;
    Ok(v.map_or(0, |v| v.len()))
}

impl From<&Container> for ContainerView {
    fn from(c: &Container) -> Self {
        Self {
            name: c.name.clone(),
            image: c.image.clone(),
            env: c.env.clone(),
            env_from: c.env_from.as_ref().map_or(0, Vec::len),
            volume_mounts: c.volume_mounts.as_ref().map(|m| {
                m.iter()
                    .map(|m| MountView {
                        name: m.name.clone(),
                        mount_path: m.mount_path.clone(),
                        read_only: m.read_only,
                    })
                    .collect()
            }),
        }
    }
}

impl From<&Pod> for PodView {
    fn from(p: &Pod) -> Self {
        let m = &p.metadata;
        Self {
            metadata: MetaView {
                name: m.name.clone(),
                namespace: m.namespace.clone(),
                generate_name: m.generate_name.clone(),
                labels: m.labels.clone(),
                annotations: m.annotations.clone(),
                owner_references: m.owner_references.as_ref().map(|o| {
                    o.iter()
                        .map(|o| OwnerRefView {
                            kind: o.kind.clone(),
                            name: o.name.clone(),
                            uid: o.uid.clone(),
                            controller: o.controller,
                        })
                        .collect()
                }),
            },
            spec: p.spec.as_ref().map(|s| SpecView {
                containers: s.containers.iter().map(ContainerView::from).collect(),
                hostname: s.hostname.clone(),
                subdomain: s.subdomain.clone(),
                affinity: s.affinity.clone(),
                volumes: s.volumes.as_ref().map(|v| {
                    v.iter()
                        .map(|v| VolumeView {
                            name: v.name.clone(),
                            secret: v.secret.as_ref().map(|s| SecretVolumeView { secret_name: s.secret_name.clone() }),
                        })
                        .collect()
                }),
            }),
        }
    }
}
