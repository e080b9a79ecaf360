//! The in-memory view of broker addresses: written by the controller (rarely), read by the webhook
//! on every admission (often). Reads are a lock-free `ArcSwap` load plus two hash lookups.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

/// ordinal → address, per StatefulSet.
pub type Brokers = BTreeMap<u32, Arc<str>>;
type Snapshot = HashMap<String, HashMap<String, Brokers>>;

/// Where the webhook looks up a broker's external address. The pure mutation takes this trait so
/// tests and offline commands can pass a plain map.
pub trait AddressLookup {
    fn address(&self, namespace: &str, statefulset: &str, ordinal: u32) -> Option<Arc<str>>;
    /// Whether the view has ever been filled from the API (used in denial messages).
    fn synced(&self) -> bool {
        true
    }
}

/// Shared, cheaply cloneable address view.
#[derive(Clone, Default)]
pub struct AddressBook {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    map: ArcSwap<Snapshot>,
    synced: AtomicBool,
}

impl AddressBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set (or with `None`, remove) one broker's address. Returns whether anything changed.
    pub fn set(&self, namespace: &str, statefulset: &str, ordinal: u32, address: Option<&str>) -> bool {
        let mut changed = false;
        self.inner.map.rcu(|old| {
            let current = old.get(namespace).and_then(|m| m.get(statefulset)).and_then(|b| b.get(&ordinal));
            changed = current.map(|a| &**a) != address;
            if !changed {
                return Arc::clone(old);
            }
            let mut next: Snapshot = (**old).clone();
            let sets = next.entry(namespace.to_owned()).or_default();
            let brokers = sets.entry(statefulset.to_owned()).or_default();
            match address {
                Some(a) => {
                    brokers.insert(ordinal, Arc::from(a));
                }
                None => {
                    brokers.remove(&ordinal);
                    if brokers.is_empty() {
                        sets.remove(statefulset);
                    }
                    if sets.is_empty() {
                        next.remove(namespace);
                    }
                }
            }
            Arc::new(next)
        });
        changed
    }

    /// Keep only the brokers for which `keep(namespace, statefulset, ordinal)` holds.
    pub fn retain(&self, keep: impl Fn(&str, &str, u32) -> bool) {
        self.inner.map.rcu(|old| {
            let mut next: Snapshot = HashMap::with_capacity(old.len());
            for (ns, sets) in old.iter() {
                for (sts, brokers) in sets {
                    let kept: Brokers =
                        brokers.iter().filter(|(o, _)| keep(ns, sts, **o)).map(|(o, a)| (*o, a.clone())).collect();
                    if !kept.is_empty() {
                        next.entry(ns.clone()).or_default().insert(sts.clone(), kept);
                    }
                }
            }
            Arc::new(next)
        });
    }

    pub fn mark_synced(&self) {
        self.inner.synced.store(true, Ordering::Release);
    }

    pub fn len(&self) -> usize {
        self.inner.map.load().values().flat_map(|m| m.values()).map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl AddressLookup for AddressBook {
    fn address(&self, namespace: &str, statefulset: &str, ordinal: u32) -> Option<Arc<str>> {
        self.inner.map.load().get(namespace)?.get(statefulset)?.get(&ordinal).cloned()
    }

    fn synced(&self) -> bool {
        self.inner.synced.load(Ordering::Acquire)
    }
}

/// A lookup with no addresses at all (standalone mode).
pub struct NoAddresses;

impl AddressLookup for NoAddresses {
    fn address(&self, _: &str, _: &str, _: u32) -> Option<Arc<str>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_lookup_remove() {
        let book = AddressBook::new();
        assert!(!book.synced());
        assert!(book.set("ns", "kafka", 0, Some("203.0.113.10")));
        assert!(!book.set("ns", "kafka", 0, Some("203.0.113.10")), "same value is no change");
        assert_eq!(book.address("ns", "kafka", 0).as_deref(), Some("203.0.113.10"));
        assert_eq!(book.address("ns", "kafka", 1), None);
        assert_eq!(book.address("other", "kafka", 0), None);
        assert!(book.set("ns", "kafka", 0, Some("lb.example.com")));
        assert_eq!(book.address("ns", "kafka", 0).as_deref(), Some("lb.example.com"));
        assert!(book.set("ns", "kafka", 0, None));
        assert_eq!(book.address("ns", "kafka", 0), None);
        assert!(book.is_empty());
        book.mark_synced();
        assert!(book.synced());
    }

    #[test]
    fn clones_share_state() {
        let a = AddressBook::new();
        let b = a.clone();
        a.set("ns", "k", 3, Some("1.1.1.1"));
        assert_eq!(b.address("ns", "k", 3).as_deref(), Some("1.1.1.1"));
        assert_eq!(b.len(), 1);
        a.retain(|_, _, o| o != 3);
        assert!(b.is_empty());
    }
}
