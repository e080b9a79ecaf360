//! The JSON patch: the advertised-listeners variable, the helper variables from the downward API,
//! the rack, the TLS volume and its mount, each added or corrected, never duplicated.

use super::*;

/// `$(ADVERTISER_HOST_IP)`: the kubelet expands it (the var is defined before the listeners var).
pub(super) const HOST_IP_REF: &str = "$(ADVERTISER_HOST_IP)";
pub(super) const LEGACY_HOST_IP_REF: &str = "$(KAFKA_ADVERTISER_HOST_IP)";
/// `$(ADVERTISER_POD_IP)`, in pod-ip mode.
pub(super) const POD_IP_REF: &str = "$(ADVERTISER_POD_IP)";
/// The helper variables we own: at most one, the one the mode needs, before the listeners var.
pub(super) const HELPER_ENVS: [&str; 3] = [HOST_IP_ENV, LEGACY_HOST_IP_ENV, POD_IP_ENV];

/// An env var from the downward API.
pub(super) fn field_var(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { api_version: None, field_path: field_path.into() }),
            ..Default::default()
        }),
    }
}

/// Whether `e` is exactly `want` (a downward-API var; the API server defaults `apiVersion`).
pub(super) fn is_field_var(e: &EnvVar, want: &EnvVar) -> bool {
    let path = |e: &EnvVar| e.value_from.as_ref().and_then(|v| v.field_ref.as_ref()).map(|f| f.field_path.clone());
    e.name == want.name && e.value.is_none() && path(e).is_some() && path(e) == path(want)
}

pub(super) fn env_json(e: &EnvVar) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// What the broker container's env must hold.
pub(super) struct EnvWant<'a> {
    /// The listeners var and its value.
    var: &'a str,
    value: &'a str,
    /// The helper the value refers to (`ADVERTISER_HOST_IP`, `ADVERTISER_POD_IP`), before `var`.
    helper: Option<EnvVar>,
    /// The broker-rack var (downward API), anywhere.
    rack: Option<EnvVar>,
}

/// Operations that set the listeners var, the helper var before it, and the rack var.
pub(super) fn env_ops(ci: usize, container: &ContainerView, want: &EnvWant<'_>, ops: &mut Vec<PatchOperation>) {
    let (var, value) = (want.var, want.value);
    let idx = ci.to_string();
    let base = ["spec", "containers", idx.as_str(), "env"];
    let listeners_var = EnvVar { name: var.to_owned(), value: Some(value.to_owned()), value_from: None };
    let Some(env) = container.env.as_ref() else {
        let mut vars = Vec::with_capacity(3);
        if let Some(h) = &want.helper {
            vars.push(env_json(h));
        }
        vars.push(env_json(&listeners_var));
        if let Some(r) = &want.rack {
            vars.push(env_json(r));
        }
        ops.push(PatchOperation::Add(AddOperation { path: ptr(&base), value: Value::Array(vars) }));
        return;
    };
    let at = |i: usize| {
        let i = i.to_string();
        ptr(&[base[0], base[1], base[2], base[3], i.as_str()])
    };
    // Simulated names after each op, so later indices are right.
    let mut names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    let pos = |names: &[&str], n: &str| names.iter().rposition(|x| *x == n);
    if let Some(helper) = &want.helper {
        // We own these names: exactly one, the right one, before the listeners var. The legacy
        // name goes too: apache/kafka would turn it into a broker property.
        let l = pos(&names, var);
        let hosts: Vec<usize> =
            names.iter().enumerate().filter(|(_, n)| HELPER_ENVS.contains(n)).map(|(i, _)| i).collect();
        let ok = matches!(hosts.as_slice(), [h] if is_field_var(&env[*h], helper) && l.is_none_or(|l| *h < l));
        if !ok {
            for &h in hosts.iter().rev() {
                ops.push(PatchOperation::Remove(RemoveOperation { path: at(h) }));
                names.remove(h);
            }
            let insert = pos(&names, var).unwrap_or(names.len());
            ops.push(PatchOperation::Add(AddOperation { path: at(insert), value: env_json(helper) }));
            names.insert(insert, helper.name.as_str());
        }
    }
    match pos(&names, var) {
        Some(l) => {
            let current = env.iter().rev().find(|e| e.name == var);
            let same = current.is_some_and(|e| e.value.as_deref() == Some(value) && e.value_from.is_none());
            if !same {
                ops.push(PatchOperation::Replace(ReplaceOperation { path: at(l), value: env_json(&listeners_var) }));
            }
        }
        None => {
            ops.push(PatchOperation::Add(AddOperation {
                path: ptr(&[base[0], base[1], base[2], base[3], "-"]),
                value: env_json(&listeners_var),
            }));
            names.push(var);
        }
    }
    if let Some(rack) = &want.rack {
        // The last entry of a name is the one the kubelet uses.
        match pos(&names, &rack.name) {
            Some(r) => {
                if !env.iter().rev().find(|e| e.name == rack.name).is_some_and(|e| is_field_var(e, rack)) {
                    ops.push(PatchOperation::Replace(ReplaceOperation { path: at(r), value: env_json(rack) }));
                }
            }
            None => ops.push(PatchOperation::Add(AddOperation {
                path: ptr(&[base[0], base[1], base[2], base[3], "-"]),
                value: env_json(rack),
            })),
        }
    }
}

/// Name of the Secret (and the cert-manager Certificate) of a broker's certificate.
pub fn tls_secret_name(pod: &str) -> String {
    format!("{pod}-tls")
}

/// Operations that mount the broker's certificate Secret read-only in the broker container: a
/// volume [`settings::TLS_VOLUME`] and its mount, each added or corrected, never duplicated.
pub(super) fn tls_ops(
    spec: &pod::SpecView,
    ci: usize,
    container: &ContainerView,
    pod: &str,
    path: &str,
    ops: &mut Vec<PatchOperation>,
) -> Result<(), MutateError> {
    let secret = tls_secret_name(pod);
    let volume = json!({"name": settings::TLS_VOLUME, "secret": {"secretName": secret}});
    match spec.volumes.as_deref() {
        None => ops.push(PatchOperation::Add(AddOperation { path: ptr(&["spec", "volumes"]), value: json!([volume]) })),
        Some(vs) => match vs.iter().position(|v| v.name == settings::TLS_VOLUME) {
            Some(i) if vs[i].secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(secret.as_str()) => {}
            Some(i) => ops.push(PatchOperation::Replace(ReplaceOperation {
                path: ptr(&["spec", "volumes", &i.to_string()]),
                value: volume,
            })),
            None => ops.push(PatchOperation::Add(AddOperation { path: ptr(&["spec", "volumes", "-"]), value: volume })),
        },
    }
    let mount = json!({"name": settings::TLS_VOLUME, "mountPath": path, "readOnly": true});
    let ci = ci.to_string();
    let base = ["spec", "containers", ci.as_str(), "volumeMounts"];
    match container.volume_mounts.as_deref() {
        None => ops.push(PatchOperation::Add(AddOperation { path: ptr(&base), value: json!([mount]) })),
        Some(ms) => {
            let same_path = |m: &pod::MountView| m.mount_path.trim_end_matches('/') == path;
            if let Some(other) = ms.iter().find(|m| m.name != settings::TLS_VOLUME && same_path(m)) {
                return Err(MutateError::TlsMountPathTaken {
                    container: container.name.clone(),
                    volume: other.name.clone(),
                    path: path.to_owned(),
                });
            }
            match ms.iter().position(|m| m.name == settings::TLS_VOLUME) {
                Some(i) if same_path(&ms[i]) && ms[i].read_only == Some(true) => {}
                Some(i) => ops.push(PatchOperation::Replace(ReplaceOperation {
                    path: ptr(&[base[0], base[1], base[2], base[3], &i.to_string()]),
                    value: mount,
                })),
                None => ops.push(PatchOperation::Add(AddOperation {
                    path: ptr(&[base[0], base[1], base[2], base[3], "-"]),
                    value: mount,
                })),
            }
        }
    }
    Ok(())
}

/// The JSON patch: the broker container's env, anti-affinity, the certificate volume, the
/// `advertised` annotation.
pub(super) fn encode(
    b: &Broker<'_>,
    var: &str,
    value: &str,
    advertised: &str,
    addresses: &dyn ClusterLookup,
    warnings: &mut Vec<String>,
) -> Result<Vec<PatchOperation>, MutateError> {
    let (settings, meta) = (&b.settings, &b.pod.metadata);
    let mut ops = Vec::with_capacity(4);
    let helper = match settings.mode {
        Mode::Nodeport => Some(field_var(HOST_IP_ENV, "status.hostIP")),
        Mode::PodIp => Some(field_var(POD_IP_ENV, "status.podIP")),
        _ => None,
    };
    let rack = rack_var(b, var, warnings);
    env_ops(b.ci, b.container, &EnvWant { var, value, helper, rack }, &mut ops);
    // This StatefulSet's brokers: its selector when the controller knows it (and the pod matches
    // it), else the pod's labels without the per-pod ones.
    let selector = addresses
        .selector(b.namespace, &b.statefulset)
        .filter(|sel| {
            !sel.is_empty() && sel.iter().all(|(k, v)| meta.labels.as_ref().and_then(|l| l.get(k)) == Some(v))
        })
        .map(|sel| (*sel).clone())
        .unwrap_or_else(|| affinity::broker_selector(meta.labels.as_ref()));
    ops.extend(affinity::ops(b.spec, settings.anti_affinity, affinity::term(selector, &settings.topology_key)));
    if settings.tls_issuer.is_some() {
        let pod = format!("{}-{}", b.statefulset, b.ordinal);
        tls_ops(b.spec, b.ci, b.container, &pod, &settings.tls_mount_path, &mut ops)?;
    }
    match meta.annotations.as_ref() {
        None => ops.push(PatchOperation::Add(AddOperation {
            path: ptr(&["metadata", "annotations"]),
            value: json!({ ANN_ADVERTISED: advertised }),
        })),
        Some(a) if a.get(ANN_ADVERTISED).map(String::as_str) != Some(advertised) => {
            ops.push(PatchOperation::Add(AddOperation {
                path: ptr(&["metadata", "annotations", ANN_ADVERTISED]),
                value: Value::String(advertised.to_owned()),
            }))
        }
        Some(_) => {}
    }
    Ok(ops)
}

/// The broker-rack var by the same rule as the listeners var (Bitnami's KAFKA_CFG_ prefix, else KAFKA_).
pub(super) fn rack_var(b: &Broker<'_>, var: &str, warnings: &mut Vec<String>) -> Option<EnvVar> {
    let label = b.settings.rack_label.as_deref()?;
    let name = if var.starts_with("KAFKA_CFG_") { "KAFKA_CFG_BROKER_RACK" } else { "KAFKA_BROKER_RACK" };
    let r = field_var(name, &format!("metadata.labels['{label}']"));
    let set = b.container.env.iter().flatten().rev().find(|e| e.name == r.name);
    if set.is_some_and(|e| !is_field_var(e, &r)) {
        warnings.push(format!(
            "kafka-advertiser: {} of container {} is replaced by the pod's {label} label ({ANN_RACK} is \"true\")",
            r.name, b.container.name
        ));
    }
    Some(r)
}
