//! The `kafka-advertiser.io/*` vocabulary: every key kafka-advertiser reads or writes, so that a key
//! it does not know (a typo, which would be ignored in silence) is reported with the nearest known
//! one; and what a StatefulSet that was meant to opt in but did not got wrong.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;

use crate::names::*;

const PREFIX: &str = "kafka-advertiser.io/";

/// Keys outside the settings: those kafka-advertiser writes (on pods, StatefulSets, Services) and
/// those users set on other objects (a Service to adopt, a Gateway, a class).
const OTHERS: [&str; 17] = [
    ENABLED_LABEL,
    ANN_ADVERTISED,
    ANN_INTENT,
    ANN_ADDRESSES_READY,
    ANN_EXTERNAL_BOOTSTRAP,
    ANN_ROUTED_THROUGH,
    ANN_CERTIFICATES,
    ANN_PENDING_SINCE,
    ANN_GATEWAY_ADDRESS,
    ANN_MANAGE_LISTENERS,
    ANN_ADOPT,
    ANN_KEEP_SERVICES,
    STATEFULSET_LABEL,
    ORDINAL_LABEL,
    ROLE_LABEL,
    super::class::ANN_CLASS,
    super::class::ANN_DEFAULT_CLASS,
];

/// Every known key, without the prefix.
fn known() -> impl Iterator<Item = &'static str> {
    let settings = super::class::SETTINGS.iter().copied();
    settings.chain(OTHERS.iter().map(|k| k.strip_prefix(PREFIX).unwrap_or(k)))
}

/// At most this many unknown keys are reported per StatefulSet (each costs a comparison with every
/// known key).
const MOST: usize = 10;

/// A `kafka-advertiser.io/*` key kafka-advertiser does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{key} is not a kafka-advertiser annotation and is ignored{}",
    nearest.map(|n| format!(": did you mean {PREFIX}{n}?")).unwrap_or_default()
)]
pub struct UnknownAnnotation {
    pub key: String,
    pub nearest: Option<&'static str>,
}

impl UnknownAnnotation {
    pub const REASON: &'static str = "UnknownAnnotation";
}

/// The unknown `kafka-advertiser.io/*` keys of these maps (at most [`MOST`]), each with the nearest
/// known key when one is close (an edit or two, or the same letters without dashes).
pub fn unknown<'a>(maps: impl IntoIterator<Item = &'a BTreeMap<String, String>>) -> Vec<UnknownAnnotation> {
    let mut out = Vec::new();
    for key in maps.into_iter().flat_map(|m| m.keys()) {
        let Some(name) = key.strip_prefix(PREFIX) else { continue };
        if known().any(|k| k == name) || out.iter().any(|u: &UnknownAnnotation| &u.key == key) {
            continue;
        }
        out.push(UnknownAnnotation { key: key.clone(), nearest: nearest(name) });
        if out.len() == MOST {
            break;
        }
    }
    out
}

/// The known key closest to `name`, if it is close enough to be a typo of it.
fn nearest(name: &str) -> Option<&'static str> {
    // Bytes, not characters: a key is ASCII when the API server took it, and a cut never panics.
    let short = &name.as_bytes()[..name.len().min(64)];
    let flat = |s: &str| s.replace(['-', '_', '.'], "").to_ascii_lowercase();
    let (f, best) = (flat(name), known().map(|k| (distance(short, k.as_bytes()), k)).min_by_key(|(d, _)| *d)?);
    if let Some(k) = known().find(|k| flat(k) == f) {
        return Some(k);
    }
    (best.0 <= 2.max(short.len() / 5)).then_some(best.1)
}

/// Levenshtein distance of two byte strings (both at most 64 bytes here).
fn distance(a: &[u8], b: &[u8]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Why a StatefulSet that looks meant to opt in does not: the label on the StatefulSet's own
/// metadata instead of the pod template, or a value other than `"true"`. `None` when it opted in or
/// shows no sign of meaning to.
pub fn opt_in_hint(sts: &StatefulSet) -> Option<String> {
    if super::opted_in(sts) {
        return None;
    }
    let template = sts.spec.as_ref().and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.labels.as_ref());
    if let Some(v) = template.and_then(|l| l.get(ENABLED_LABEL)) {
        return Some(format!(
            "the pod template's label {ENABLED_LABEL} is {v:?}; only \"true\" opts the brokers in (quote it in YAML)"
        ));
    }
    sts.metadata.labels.as_ref().and_then(|l| l.get(ENABLED_LABEL)).map(|_| {
        format!(
            "the label {ENABLED_LABEL} is on the StatefulSet's own metadata; it opts nothing in there: put it on the \
             pod template (spec.template.metadata.labels)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(keys: &[&str]) -> BTreeMap<String, String> {
        keys.iter().map(|k| (k.to_string(), String::new())).collect()
    }

    #[test]
    fn typos_are_reported_with_the_nearest_key_and_known_keys_never() {
        let m = map(&[
            "kafka-advertiser.io/portbase",
            "kafka-advertiser.io/port-base",
            "kafka-advertiser.io/pending-timout",
            "kafka-advertiser.io/advertised",
            "kafka-advertiser.io/keep-services",
            "kafka-advertiser.io/something-else-entirely",
            "example.com/portbase",
        ]);
        let u = unknown([&m]);
        let found: Vec<(&str, Option<&str>)> = u.iter().map(|u| (u.key.as_str(), u.nearest)).collect();
        assert_eq!(
            found,
            [
                ("kafka-advertiser.io/pending-timout", Some("pending-timeout")),
                ("kafka-advertiser.io/portbase", Some("port-base")),
                ("kafka-advertiser.io/something-else-entirely", None),
            ]
        );
        assert_eq!(
            u[1].to_string(),
            "kafka-advertiser.io/portbase is not a kafka-advertiser annotation and is ignored: did you mean \
             kafka-advertiser.io/port-base?"
        );
    }

    #[test]
    fn many_unknown_keys_are_reported_up_to_a_bound() {
        let keys: Vec<String> = (0..1000).map(|i| format!("kafka-advertiser.io/x{i}")).collect();
        let m: BTreeMap<String, String> = keys.into_iter().map(|k| (k, String::new())).collect();
        assert_eq!(unknown([&m]).len(), MOST);
        let long = map(&[&format!("kafka-advertiser.io/{}", "p".repeat(100_000))]);
        assert_eq!(unknown([&long])[0].nearest, None);
    }
}
