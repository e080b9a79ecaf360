//! What one AdmissionReview may make the webhook build, checked by a counting pass over the body
//! before any typed decode. The byte budget bounds bodies; this bounds what a body parses into: 3
//! bytes of JSON (`{}`) become a 104-byte container, so a 3 MiB body of empty objects would
//! otherwise cost ~150 MiB. The pass allocates nothing, stops at the first limit, and yields the
//! number of JSON values, which the in-flight budget charges beyond a free share per review slot
//! (see [`parsed_bytes`]).
//!
//! Limits (documented in docs/annotations.md, "Admission limits"):
//! - `--max-review-nodes` JSON values in the whole review (default 20000);
//! - in the pod: `spec.containers` 64; each container's `env` 1000, `volumeMounts` 256;
//!   `spec.volumes` 256; `metadata.labels` and `metadata.annotations` 1000 each;
//!   `metadata.ownerReferences` 64.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Default of `--max-review-nodes`.
pub const DEFAULT_MAX_NODES: usize = 20_000;
pub const MAX_CONTAINERS: usize = 64;
pub const MAX_ENV: usize = 1000;
pub const MAX_VOLUMES: usize = 256;
pub const MAX_MOUNTS: usize = 256;
pub const MAX_LABELS: usize = 1000;
pub const MAX_ANNOTATIONS: usize = 1000;
pub const MAX_OWNER_REFERENCES: usize = 64;

/// Upper bound of what one JSON value of a pod costs once decoded (the largest, an `env` entry,
/// is ~300 bytes for two values; a `Vec` that doubles holds both buffers for a moment).
pub const BYTES_PER_NODE: usize = 256;

/// JSON values every review slot may decode without charging the byte budget: the shipped broker
/// pod reviews hold 200–400 (`tests/fixtures`), so pod reviews never wait behind large bodies for
/// bytes. At most `--max-concurrent-reviews` × 256 KiB in all.
pub const FREE_NODES: usize = 1024;

/// Bytes to charge the in-flight budget for a review of `nodes` JSON values, beyond its body and
/// its slot's free share (0: nothing to charge).
pub fn parsed_bytes(nodes: usize) -> usize {
    nodes.saturating_sub(FREE_NODES).saturating_mul(BYTES_PER_NODE)
}

/// The per-review limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most JSON values (objects, arrays, strings, numbers, booleans, nulls) in one review.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_nodes: DEFAULT_MAX_NODES }
    }
}

/// A review over a limit: answered `allowed: false` with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverLimit {
    #[error(
        "the admission review holds more than {max} JSON values (--max-review-nodes {max}); \
         make the pod smaller or raise the flag"
    )]
    Nodes { max: usize },
    #[error("the pod's {path} has more than {max} entries (the webhook's limit is {max}); make it shorter")]
    List { path: &'static str, max: usize },
}

/// What the counting pass found.
#[derive(Debug, PartialEq, Eq)]
pub enum Measure {
    /// Within every limit: this many JSON values.
    Within(usize),
    Over(OverLimit),
    /// Not JSON (the parser's message): the caller answers 400.
    Malformed(String),
}

/// Count the review's JSON values and check the pod's lists, allocating nothing.
pub fn measure(body: &[u8], limits: Limits) -> Measure {
    let mut state = State { nodes: 0, max: limits.max_nodes, over: None };
    let mut de = serde_json::Deserializer::from_slice(body);
    let walked = Walk { st: &mut state, ctx: Ctx::Root }.deserialize(&mut de).and_then(|()| de.end());
    match (walked, state.over) {
        (_, Some(over)) => Measure::Over(over),
        (Ok(()), None) => Measure::Within(state.nodes),
        (Err(e), None) => Measure::Malformed(e.to_string()),
    }
}

struct State {
    nodes: usize,
    max: usize,
    over: Option<OverLimit>,
}

/// Where a value sits, as far as the limits care.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ctx {
    Root,
    Request,
    Pod,
    Meta,
    Spec,
    Container,
    /// A list or map with a cap; its entries are `elem`.
    Capped {
        path: &'static str,
        max: usize,
        elem: Elem,
    },
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Elem {
    Container,
    Other,
}

impl Ctx {
    fn child(self, key: &str) -> Ctx {
        let capped = |path, max| Ctx::Capped { path, max, elem: Elem::Other };
        match (self, key) {
            (Ctx::Root, "request") => Ctx::Request,
            (Ctx::Request, "object" | "oldObject") => Ctx::Pod,
            (Ctx::Pod, "metadata") => Ctx::Meta,
            (Ctx::Pod, "spec") => Ctx::Spec,
            (Ctx::Meta, "labels") => capped("metadata.labels", MAX_LABELS),
            (Ctx::Meta, "annotations") => capped("metadata.annotations", MAX_ANNOTATIONS),
            (Ctx::Meta, "ownerReferences") => capped("metadata.ownerReferences", MAX_OWNER_REFERENCES),
            (Ctx::Spec, "containers") => {
                Ctx::Capped { path: "spec.containers", max: MAX_CONTAINERS, elem: Elem::Container }
            }
            (Ctx::Spec, "volumes") => capped("spec.volumes", MAX_VOLUMES),
            (Ctx::Container, "env") => capped("spec.containers[].env", MAX_ENV),
            (Ctx::Container, "volumeMounts") => capped("spec.containers[].volumeMounts", MAX_MOUNTS),
            _ => Ctx::Other,
        }
    }

    fn element(self) -> Ctx {
        match self {
            Ctx::Capped { elem: Elem::Container, .. } => Ctx::Container,
            _ => Ctx::Other,
        }
    }
}

/// Marks a limit error apart from a syntax error.
const OVER: &str = "kafka-advertiser: admission limit";

struct Walk<'s> {
    st: &'s mut State,
    ctx: Ctx,
}

impl Walk<'_> {
    fn count<E: serde::de::Error>(&mut self) -> Result<(), E> {
        self.st.nodes += 1;
        if self.st.nodes > self.st.max {
            self.st.over = Some(OverLimit::Nodes { max: self.st.max });
            return Err(E::custom(OVER));
        }
        Ok(())
    }

    fn entry<E: serde::de::Error>(&mut self, n: usize) -> Result<(), E> {
        match self.ctx {
            Ctx::Capped { path, max, .. } if n > max => {
                self.st.over = Some(OverLimit::List { path, max });
                Err(E::custom(OVER))
            }
            _ => Ok(()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! scalar {
    ($($f:ident: $t:ty),*) => {$(
        fn $f<E: serde::de::Error>(mut self, _: $t) -> Result<(), E> {
            self.count()
        }
    )*};
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
    fn visit_unit<E: serde::de::Error>(mut self) -> Result<(), E> {
        self.count()
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.count()?;
        let elem = self.ctx.element();
        let mut n = 0;
        while seq.next_element_seed(Walk { st: &mut *self.st, ctx: elem })?.is_some() {
            n += 1;
            self.entry(n)?;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.count()?;
        let mut n = 0;
        while let Some(child) = map.next_key_seed(Key(self.ctx))? {
            map.next_value_seed(Walk { st: &mut *self.st, ctx: child })?;
            n += 1;
            self.entry(n)?;
        }
        Ok(())
    }
}

/// A map key, read as the context of its value (borrowed or unescaped by the parser: no allocation).
struct Key(Ctx);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Ctx;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Ctx, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Ctx;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Ctx, E> {
        Ok(self.0.child(k))
    }
}

/// The two fields a refusal needs, read without building the rest (every other field is skipped).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Head {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub request: Option<HeadRequest>,
}

#[derive(serde::Deserialize)]
pub(crate) struct HeadRequest {
    pub uid: String,
}

#[cfg(test)]
mod tests;
