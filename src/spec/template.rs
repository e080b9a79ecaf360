//! Names: the one `{ordinal}` template renderer (host names, Service names, Service annotation and
//! label values), and the checks on what a name may be (DNS labels and subdomains, host names,
//! label keys), as the API server checks them.

use std::fmt::Write;

/// The placeholders a template may hold.
pub const PLACEHOLDERS: [&str; 4] = ["ordinal", "pod", "namespace", "statefulset"];

/// A hostname or Service-name template, validated at parse time so rendering cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(String);

impl Template {
    /// A template, or why it is not one.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or("unclosed '{'")?;
            let name = &after[..close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "unknown placeholder {{{name}}}; known: {{ordinal}}, {{pod}}, {{namespace}}, {{statefulset}}"
                ));
            }
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err("unmatched '}'".into());
        }
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn render(&self, ordinal: u32, pod: &str, namespace: &str, statefulset: &str) -> String {
        render(&self.0, ordinal, pod, namespace, statefulset)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Replace `{ordinal}`, `{pod}`, `{namespace}` and `{statefulset}` in one pass; every other `{`, as
/// in a JSON value, is kept as written. The one renderer: templates (validated, so they hold only
/// these) and Service annotation and label values (free text) both go through it.
pub fn render(template: &str, ordinal: u32, pod: &str, namespace: &str, statefulset: &str) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}');
        match close.map(|c| &after[..c]) {
            Some("ordinal") => drop(write!(out, "{ordinal}")),
            Some("pod") => out.push_str(pod),
            Some("namespace") => out.push_str(namespace),
            Some("statefulset") => out.push_str(statefulset),
            _ => {
                out.push('{');
                rest = after;
                continue;
            }
        }
        rest = close.map_or("", |c| &after[c + 1..]);
    }
    out.push_str(rest);
    out
}

/// A DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63): namespace and section names.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain (object names such as a Gateway's or an issuer's; a label key's prefix): at
/// most 253 in all, dot-separated parts of lowercase alphanumerics and `-` (the API server's rule
/// puts no 63 limit on a part).
pub(crate) fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !p.starts_with('-')
                && !p.ends_with('-')
        })
}

/// A host name a client resolves or an IP address (letters in any case: DNS ignores it). An IP is
/// accepted only in its canonical spelling, and a name whose last label is a number is no name: a
/// resolver reads `3325256711` or `0xc6.0x33.0x64.7` as the IPv4 address 198.51.100.7 (glibc's
/// `inet_aton`; the WHATWG URL standard's "ends in a number"), which no address bound would see.
pub(crate) fn is_valid_host(s: &str) -> bool {
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return is_canonical_ip(s, ip);
    }
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && !ends_in_number(s)
}

/// `s` is how `ip` is written canonically (RFC 5952 for IPv6, letters in any case).
pub(crate) fn is_canonical_ip(s: &str, ip: std::net::IpAddr) -> bool {
    ip.to_string().eq_ignore_ascii_case(s)
}

/// The last label reads as a number: decimal, or `0x` and hex digits (octal is decimal digits).
fn ends_in_number(s: &str) -> bool {
    let last = s.trim_end_matches('.').rsplit('.').next().unwrap_or_default();
    let hex = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X"));
    match hex {
        Some(h) => h.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// A Kubernetes label key, as the API server checks it (apimachinery's `IsQualifiedName`):
/// `[prefix/]name`, at most one `/`, the prefix a lowercase DNS-1123 subdomain, the name at most 63
/// alphanumerics, `-`, `_` and `.`, starting and ending with an alphanumeric.
pub(crate) fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    name_ok && prefix.is_none_or(|p| !p.is_empty() && is_dns_subdomain(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// apimachinery's `TestIsQualifiedName` cases (pkg/util/validation), ported.
    #[test]
    fn label_keys_as_the_api_server_checks_them() {
        let good = [
            "simple".to_owned(),
            "now-with-dashes".into(),
            "1-starts-with-num".into(),
            "1234".into(),
            "simple/simple".into(),
            "now-with-dashes/simple".into(),
            "now-with-dashes/now-with-dashes".into(),
            "now.with.dots/simple".into(),
            "now-with.dashes-and.dots/simple".into(),
            "1-num.2-num/3-num".into(),
            "1234/5678".into(),
            "1.2.3.4/5678".into(),
            "Uppercase_Is_OK_123".into(),
            "example.com/Uppercase_Is_OK_123".into(),
            "requests.storage-foo".into(),
            "a".repeat(63),
            format!("{}/{}", "a".repeat(253), "b".repeat(63)),
        ];
        for k in &good {
            assert!(is_label_key(k), "{k:?} is a label key");
        }
        let bad = [
            "nospecialchars%^=@".to_owned(),
            "cantendwithadash-".into(),
            "-cantstartwithadash-".into(),
            "only/one/slash".into(),
            "Example.com/abc".into(),
            "example_com/abc".into(),
            "example.com/".into(),
            "/simple".into(),
            "a".repeat(64),
            format!("{}/abc", "a".repeat(254)),
        ];
        for k in &bad {
            assert!(!is_label_key(k), "{k:?} is not a label key");
        }
    }

    /// Names a resolver reads as IPv4 addresses, and IPs not in their canonical spelling, are refused.
    #[test]
    fn only_canonical_addresses_and_names_that_are_names() {
        for good in ["198.51.100.7", "2001:db8::1", "2001:DB8::1", "kafka-0.example.com", "b0.0x.example.com", "x.0a"] {
            assert!(is_valid_host(good), "{good:?} is a host");
        }
        for bad in [
            "3325256711",
            "0xc6.0x33.0x64.7",
            "198.051.100.7",
            "198.51.100",
            "kafka.example.7",
            "kafka.0x1f",
            "2001:db8:0:0::1",
            "*.example.com",
            "a..b",
        ] {
            assert!(!is_valid_host(bad), "{bad:?} is not a host");
        }
    }

    #[test]
    fn one_renderer_keeps_what_is_not_a_placeholder() {
        let r = |t: &str| render(t, 2, "kafka-2", "prod", "kafka");
        assert_eq!(r("{pod}.{namespace}.example.com"), "kafka-2.prod.example.com");
        assert_eq!(r("{statefulset}-{ordinal}-external"), "kafka-2-external");
        assert_eq!(r(r#"{"zone": "{ordinal}"}"#), r#"{"zone": "2"}"#);
        assert_eq!(r("{unknown} {"), "{unknown} {");
        assert_eq!(r("{{ordinal}}"), "{2}");
        let t = Template::parse("b{ordinal}.{namespace}.x").unwrap();
        assert_eq!(t.render(7, "p", "ns", "s"), "b7.ns.x");
    }
}
