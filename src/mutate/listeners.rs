//! Kafka `advertised.listeners` values: `NAME://host:port,NAME://host:port`.

use std::fmt::Write;
use std::net::Ipv6Addr;

/// One `NAME://host:port` entry we manage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener<'a> {
    pub name: &'a str,
    pub host: &'a str,
    pub port: u16,
}

impl Listener<'_> {
    fn write(&self, out: &mut String) {
        out.push_str(self.name);
        out.push_str("://");
        // IPv6 literals must be bracketed in a listener.
        if self.host.parse::<Ipv6Addr>().is_ok() {
            let _ = write!(out, "[{}]", self.host);
        } else {
            out.push_str(self.host);
        }
        let _ = write!(out, ":{}", self.port);
    }
}

/// Render entries as a listeners value.
pub fn render(entries: &[Listener<'_>]) -> String {
    let mut out = String::with_capacity(entries.len() * 64);
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        e.write(&mut out);
    }
    out
}

/// The listener name of one entry (`NAME://...` → `NAME`); `None` for an entry without `://`.
pub fn entry_name(entry: &str) -> Option<&str> {
    entry.trim().split_once("://").map(|(n, _)| n.trim())
}

/// Merge our entries into an existing value: entries of the listeners we manage are replaced in
/// place, every other entry is kept in order, ours that were absent are appended in our order.
/// Listener names compare case-insensitively (Kafka upper-cases them). Empty entries are dropped.
pub fn merge(existing: Option<&str>, ours: &[Listener<'_>]) -> String {
    merge_without(existing, ours, None)
}

/// [`merge`], dropping every entry of the listener `dropped` (a broker admitted while its external
/// address is pending advertises no external entry, not a stale one).
pub fn merge_without(existing: Option<&str>, ours: &[Listener<'_>], dropped: Option<&str>) -> String {
    let mut out = String::with_capacity(existing.map_or(0, str::len) + ours.len() * 64);
    let mut written = vec![false; ours.len()];
    let push_sep = |out: &mut String| {
        if !out.is_empty() {
            out.push(',');
        }
    };
    for entry in existing.unwrap_or("").split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let name = entry_name(entry);
        if name.is_some_and(|n| dropped.is_some_and(|d| d.eq_ignore_ascii_case(n))) {
            continue;
        }
        let mine = name.and_then(|n| ours.iter().position(|o| o.name.eq_ignore_ascii_case(n)));
        match mine {
            Some(i) if written[i] => {} // a duplicate of a listener we manage: drop it
            Some(i) => {
                push_sep(&mut out);
                ours[i].write(&mut out);
                written[i] = true;
            }
            None => {
                push_sep(&mut out);
                push_kept(&mut out, entry);
            }
        }
    }
    for (i, o) in ours.iter().enumerate() {
        if !written[i] {
            push_sep(&mut out);
            o.write(&mut out);
        }
    }
    out
}

/// Append a kept entry. The kubelet expands `$(VAR)` across the whole value: an unterminated
/// `$(` would run on to the `)` of a later entry (ours, `$(ADVERTISER_HOST_IP)`) and swallow it.
/// Such a `$(` is written `$$(`, which the kubelet renders as the same literal `$(` it rendered
/// before, so what the broker reads of this entry does not change. Mirrors the kubelet's scanner
/// (`$$` is an escape, `$(` runs to the next `)`, a `$` before anything else is literal), so a
/// value written by an earlier mutation passes through unchanged.
fn push_kept(out: &mut String, entry: &str) {
    let b = entry.as_bytes();
    let mut last = 0;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b[i + 1] {
            b'$' => i += 2,
            b'(' => match entry[i + 2..].find(')') {
                Some(j) => i += j + 3,
                None => {
                    out.push_str(&entry[last..i]);
                    out.push('$');
                    last = i;
                    i += 2;
                }
            },
            _ => i += 1,
        }
    }
    out.push_str(&entry[last..]);
}

/// Whether a `listeners` or protocol-map value declares a listener name
/// (`NAME://:9094` or `NAME:PLAINTEXT`).
pub fn declares(value: &str, name: &str) -> bool {
    value.split(',').any(|e| {
        let e = e.trim();
        let n = e.split_once(':').map_or(e, |(n, _)| n);
        n.trim().eq_ignore_ascii_case(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INT: Listener<'static> =
        Listener { name: "INTERNAL", host: "kafka-0.kafka.ns.svc.cluster.local", port: 9092 };
    const EXT: Listener<'static> = Listener { name: "EXTERNAL", host: "203.0.113.10", port: 9094 };

    #[test]
    fn renders_in_order() {
        assert_eq!(
            render(&[INT, EXT]),
            "INTERNAL://kafka-0.kafka.ns.svc.cluster.local:9092,EXTERNAL://203.0.113.10:9094"
        );
    }

    #[test]
    fn brackets_ipv6() {
        let l = Listener { name: "EXTERNAL", host: "2001:db8::1", port: 9094 };
        assert_eq!(render(&[l]), "EXTERNAL://[2001:db8::1]:9094");
    }

    #[test]
    fn merge_replaces_ours_keeps_others_in_order() {
        let v = merge(Some("CLIENT://x:1, external://old:2,INTERNAL://y:3,REPL://z:4"), &[INT, EXT]);
        assert_eq!(
            v,
            "CLIENT://x:1,EXTERNAL://203.0.113.10:9094,INTERNAL://kafka-0.kafka.ns.svc.cluster.local:9092,REPL://z:4"
        );
    }

    #[test]
    fn merge_appends_missing_and_drops_duplicates() {
        assert_eq!(
            merge(Some("A://a:1,,EXTERNAL://e:1,EXTERNAL://e:2"), &[EXT]),
            "A://a:1,EXTERNAL://203.0.113.10:9094"
        );
        assert_eq!(merge(None, &[INT, EXT]), render(&[INT, EXT]));
        assert_eq!(merge(Some(""), &[EXT]), render(&[EXT]));
    }

    #[test]
    fn merge_is_idempotent() {
        let once = merge(Some("X://x:1,EXTERNAL://old:1"), &[INT, EXT]);
        assert_eq!(merge(Some(&once), &[INT, EXT]), once);
    }

    #[test]
    fn merge_escapes_an_unterminated_reference_in_a_kept_entry() {
        let ext = Listener { name: "EXTERNAL", host: "$(ADVERTISER_HOST_IP)", port: 31090 };
        let once = merge(Some("$(,A://$(X):1,B://$$(y:2,C://z$"), std::slice::from_ref(&ext));
        assert_eq!(once, "$$(,A://$(X):1,B://$$(y:2,C://z$,EXTERNAL://$(ADVERTISER_HOST_IP):31090");
        assert_eq!(merge(Some(&once), &[ext]), once);
    }

    #[test]
    fn merge_without_drops_the_pending_listener() {
        let v = merge_without(Some("EXTERNAL://placeholder:9094,INTERNAL://old:1,X://x:1"), &[INT], Some("external"));
        assert_eq!(v, "INTERNAL://kafka-0.kafka.ns.svc.cluster.local:9092,X://x:1");
        assert_eq!(merge_without(Some(&v), &[INT], Some("EXTERNAL")), v);
    }

    #[test]
    fn declares_listener_names() {
        assert!(declares("INTERNAL://:9092,EXTERNAL://:9094", "EXTERNAL"));
        assert!(declares("INTERNAL:PLAINTEXT,EXTERNAL:SSL", "external"));
        assert!(!declares("INTERNAL://:9092", "EXTERNAL"));
    }
}
