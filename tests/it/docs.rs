//! The documentation holds together: the README stays a short front page (under 200 lines), and every
//! relative link in it and in `docs/` reaches a file that exists and, with `#anchor`, one of its headings
//! (GitHub's anchors: lower case, punctuation dropped, spaces to dashes).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    crate::support::repo_path("")
}

fn pages() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            out.push(p);
        }
    }
    out
}

/// GitHub's heading anchor.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code fences).
fn anchors(text: &str) -> Vec<String> {
    let mut fence = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fence = !fence;
        } else if !fence && line.starts_with('#') {
            out.push(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// `[text](target)` targets that are neither URLs nor mail addresses.
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|t| !t.contains("://") && !t.starts_with("mailto:"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_is_a_front_page() {
    let lines = std::fs::read_to_string(root().join("README.md")).unwrap().lines().count();
    assert!(lines < 200, "README.md has {lines} lines: move the detail into docs/ and link it");
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for link in relative_links(&text) {
            let (file, frag) = link.split_once('#').map_or((link.as_str(), None), |(f, a)| (f, Some(a)));
            let target =
                if file.is_empty() { page.clone() } else { page.parent().unwrap_or(Path::new(".")).join(file) };
            let ok = match std::fs::read_to_string(&target) {
                Ok(t) => frag.is_none_or(|a| anchors(&t).iter().any(|h| h == a)),
                Err(_) => target.is_dir() && frag.is_none(),
            };
            if !ok {
                broken.push(format!("{}: {link}", page.strip_prefix(root()).unwrap().display()));
            }
        }
    }
    assert!(broken.is_empty(), "links that lead nowhere: {broken:#?}");
}

#[test]
fn anchors_follow_github() {
    assert_eq!(anchor(" Quick start (no cluster needed)"), "quick-start-no-cluster-needed");
    assert_eq!(
        anchor(" Operate: check, status, metrics, events and alerts"),
        "operate-check-status-metrics-events-and-alerts"
    );
    assert_eq!(anchor(" How `loadbalancer` mode behaves"), "how-loadbalancer-mode-behaves");
}

/// Strings that look like Event reasons in the controller's sources but name kinds, fields or the
/// Gateway API's own condition reasons.
const NOT_REASONS: [&str; 13] = [
    "ClusterIP",
    "ConfigMap",
    "DoesNotExist",
    "ExternalAccessClass",
    "ListenerSet",
    "ListenersNotValid",
    "LoadBalancer",
    "NodePort",
    "NotIn",
    "PreferDualStack",
    "StatefulSet",
    "TCPRoute",
    "TLSRoute",
];

/// CamelCase string literals of the non-test part of a source file.
fn camel_literals(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            let caps = s.chars().filter(char::is_ascii_uppercase).count();
            s.len() > 3
                && caps >= 2
                && s.chars().all(|c| c.is_ascii_alphabetic())
                && s.starts_with(|c: char| c.is_ascii_uppercase())
        })
        .map(str::to_owned)
        .collect()
}

/// Every Event reason the controller can record is in docs/troubleshooting.md's table, and the table
/// names no reason the code does not have.
#[test]
fn every_event_reason_is_in_the_troubleshooting_table() {
    let mut code = std::collections::BTreeSet::new();
    let mut files =
        vec![root().join("src/spec/class.rs"), root().join("src/spec/claims.rs"), root().join("src/spec/known.rs")];
    let mut dirs = vec![root().join("src/controller")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            // Test code (`tests.rs`, a `tests/` folder) names reasons it expects, not ones it records.
            if p.is_dir() && !p.ends_with("tests") {
                dirs.push(p);
            } else if p.is_file() && !p.file_name().unwrap().to_string_lossy().ends_with("tests.rs") {
                files.push(p);
            }
        }
    }
    for f in files {
        code.extend(
            camel_literals(&std::fs::read_to_string(f).unwrap())
                .into_iter()
                .filter(|s| !NOT_REASONS.contains(&s.as_str())),
        );
    }
    assert!(code.len() > 40, "too few reasons found: {code:?}");
    let doc = std::fs::read_to_string(root().join("docs/troubleshooting.md")).unwrap();
    let table =
        doc.split("## Every Event reason").nth(1).and_then(|t| t.split("\n## ").next()).expect("the reason table");
    let documented: std::collections::BTreeSet<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split('|').next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let missing: Vec<_> = code.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&code).collect();
    assert!(missing.is_empty(), "Event reasons docs/troubleshooting.md does not explain: {missing:?}");
    assert!(unknown.is_empty(), "reasons docs/troubleshooting.md explains that the code does not record: {unknown:?}");
}

/// docs/ARCHITECTURE.md's module map names every source file under `src/` (itself or its folder),
/// and every file or folder it names exists.
#[test]
fn the_module_map_matches_src() {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let table = doc.split("## Module map").nth(1).and_then(|t| t.split("\n## ").next()).expect("the module map");
    let entries: Vec<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert!(entries.len() > 30, "{entries:?}");
    let in_src = |e: &str| root().join("src").join(e);
    for e in &entries {
        assert!(in_src(e).exists() || root().join(e).exists(), "the module map names {e}, which does not exist");
    }
    let mut files = Vec::new();
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for f in std::fs::read_dir(dir).unwrap() {
            let p = f.unwrap().path();
            if p.is_dir() && !p.ends_with("tests") {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.to_string_lossy().ends_with("tests.rs") {
                files.push(p.strip_prefix(root().join("src")).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let missing: Vec<&String> = files
        .iter()
        .filter(|f| !entries.iter().any(|e| e == *f || (e.ends_with('/') && f.starts_with(e.as_str()))))
        .collect();
    assert!(missing.is_empty(), "source files docs/ARCHITECTURE.md's module map does not name: {missing:?}");
}
