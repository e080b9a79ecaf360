//! What a plan says: the objects to apply and to delete, the Events, the problem sets, an eviction,
//! and what the controller remembers. [`super::super::apply`] and [`super::super::report`] read only this.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;
use serde_json::Value;

use crate::controller::kinds::Kind;
use crate::names::fnv1a;

/// One server-side apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Apply {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub body: Value,
    /// `None`: [`FIELD_MANAGER`], forced (the object is ours). `Some`: a StatefulSet's listener
    /// manager on a shared Gateway, never forced.
    pub manager: Option<String>,
    /// Published once the API took it (a Service created).
    pub done: Option<Note>,
    /// Not held as this StatefulSet's: it must not exist yet. An object of that name that someone
    /// else made is a conflict, never taken over ([`super::apply`] checks right before the write).
    pub fresh: bool,
}

impl Apply {
    /// An apply of one of our own objects, forced under [`FIELD_MANAGER`], that may exist already.
    pub(super) fn ours(kind: Kind, namespace: String, name: String, body: Value) -> Apply {
        Apply { kind, namespace, name, body, manager: None, done: None, fresh: false }
    }
}

/// One delete of an object this StatefulSet owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub done: Option<Note>,
}

/// Give a Service back: `keep` (its fields as they are, without ours) applied under
/// [`crate::names::RELEASED_MANAGER`], then, only once that took, an apply of nothing under our own
/// manager, which drops what only we held. The Service and its address stay.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub namespace: String,
    pub name: String,
    pub keep: Value,
    pub done: Note,
}

/// One eviction of a broker pod, so it restarts with its new address.
#[derive(Debug, Clone, PartialEq)]
pub struct Evict {
    pub namespace: String,
    pub pod: String,
    pub done: Note,
}

/// An Event on the StatefulSet (or, with `regarding`, on another object).
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub type_: EventType,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
    pub related: Option<ObjectReference>,
    pub regarding: Option<ObjectReference>,
}

impl Note {
    pub fn normal(reason: &'static str, action: &'static str, note: String, related: Option<ObjectReference>) -> Self {
        Self { type_: EventType::Normal, reason, action, note, related, regarding: None }
    }

    pub fn warning(reason: &'static str, note: String, related: Option<ObjectReference>) -> Self {
        Self { type_: EventType::Warning, reason, action: "Reconcile", note, related, regarding: None }
    }
}

/// The problem sets reported as Warning Events when they change (not on every reconcile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemSet {
    /// The pod template's settings and what the access class allows.
    Template,
    /// The objects: the Gateway, routes, Services, Certificates.
    Objects,
}

impl ProblemSet {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemSet::Template => "template",
            ProblemSet::Objects => "objects",
        }
    }
}

/// What one reconcile does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub apply: Vec<Apply>,
    pub delete: Vec<Delete>,
    /// Services given back (adopted ones, or with `keep-services`), never deleted.
    pub release: Vec<Release>,
    /// Published every time they are planned.
    pub events: Vec<Note>,
    /// `(set, problems)`: published when a set differs from the one last published.
    pub problems: Vec<(ProblemSet, Vec<Note>)>,
    /// A broker to restart for its new address.
    pub evict: Option<Evict>,
    pub status: Status,
    /// `None`: wait for a change.
    pub requeue: Option<Duration>,
    /// The StatefulSet left: forget what was kept about it.
    pub forget: bool,
}

/// What the controller remembers and counts from this reconcile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    /// It names no access class although classes exist (`--tenancy open`, no default class).
    pub unclassed: bool,
    pub addresses: BTreeMap<u32, String>,
    pub waiting: i64,
    pub managed: i64,
    /// Running brokers that advertise an address other than the one they would be given now.
    pub drifted: i64,
    /// Running brokers admitted without their external address (`pending-timeout`).
    pub internal_only: i64,
    /// The access class it uses, if any (the class's status counts its users).
    pub class: Option<String>,
    /// Its brokers the StatefulSet controller has not made although nothing holds them back.
    pub stuck: Option<super::retry::Stuck>,
}

pub fn service_ref(namespace: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        ..Default::default()
    }
}

/// Hash of a StatefulSet's addresses, for the `addresses-ready` nudge.
/// FNV-1a over `ordinal=address;` pairs in ordinal order: the same on every build and replica, so
/// an upgrade does not nudge every StatefulSet again.
pub fn addresses_hash(addrs: &BTreeMap<u32, String>) -> String {
    let pairs: String = addrs.iter().map(|(ordinal, address)| format!("{ordinal}={address};")).collect();
    format!("{:016x}", fnv1a(pairs.as_bytes()))
}
