//! docs/annotations.md (the annotation reference) and the code agree: every annotation the settings parser and the
//! controller read or write is documented in the table, and every annotation the table names exists in
//! the code. A renamed, added or dropped annotation fails here until the reference follows.

use std::collections::BTreeSet;

const SOURCES: [(&str, &str); 3] = [
    ("src/spec/settings.rs", include_str!("../../src/spec/settings.rs")),
    ("src/names.rs", include_str!("../../src/names.rs")),
    ("src/spec/class.rs", include_str!("../../src/spec/class.rs")),
];
const REFERENCE: &str = include_str!("../../docs/annotations.md");
/// Where annotations that are not set on pod templates are documented.
const ELSEWHERE: [&str; 2] =
    [include_str!("../../docs/multi-tenant.md"), include_str!("../../docs/gateway-and-tls.md")];

/// `pub const ANN_…: &str = "kafka-advertiser.io/…";` in the code, and the opt-in label.
fn in_code() -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    for (file, text) in SOURCES {
        for line in text.lines() {
            let line = line.trim();
            let Some(rest) =
                line.strip_prefix("pub const ANN_").or_else(|| line.strip_prefix("pub const ENABLED_LABEL"))
            else {
                continue;
            };
            if let Some(value) = rest.split('"').nth(1).filter(|v| v.starts_with("kafka-advertiser.io/")) {
                out.insert((file, value.to_owned()));
            }
        }
    }
    out
}

/// The first column of the annotation reference table.
fn in_reference() -> BTreeSet<String> {
    let start = REFERENCE.find("## Annotation reference").expect("an annotation reference in docs/annotations.md");
    let table = &REFERENCE[start..];
    let end = table[4..].find("\n#").map_or(table.len(), |e| e + 4);
    table[..end]
        .lines()
        .filter(|l| l.starts_with("| "))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>())
        .filter(|n| n.starts_with("kafka-advertiser.io/"))
        .collect()
}

#[test]
fn every_annotation_in_the_code_is_in_the_reference() {
    let reference = in_reference();
    assert!(reference.len() > 30, "the reference table was not found whole: {reference:?}");
    // Annotations that are not set on pod templates are documented where they apply.
    let elsewhere = ["kafka-advertiser.io/is-default-class", "kafka-advertiser.io/manage-listeners"];
    let missing: Vec<String> = in_code()
        .into_iter()
        .filter(|(_, a)| !reference.contains(a))
        .filter(|(_, a)| !(elsewhere.contains(&a.as_str()) && ELSEWHERE.iter().any(|d| d.contains(&format!("`{a}")))))
        .map(|(f, a)| format!("{a} ({f})"))
        .collect();
    assert!(missing.is_empty(), "annotations the code uses that docs/annotations.md lacks: {missing:?}");
}

#[test]
fn every_annotation_in_the_reference_is_in_the_code() {
    let code: BTreeSet<String> = in_code().into_iter().map(|(_, a)| a).collect();
    let unknown: Vec<String> = in_reference().into_iter().filter(|a| !code.contains(a)).collect();
    assert!(unknown.is_empty(), "annotations docs/annotations.md documents that the code does not know: {unknown:?}");
}
