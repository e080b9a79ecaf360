//! The controller's modules import one another one way: no circle (issue: observe → plan → apply,
//! no import circles). This reads `src/controller/*.rs` and `src/names.rs` for `super::X` and
//! `crate::controller::X` paths (our own module-graph check; `cargo modules` is not needed in CI)
//! and fails with the circle it finds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the sibling controller modules it names (code only, not comments or its tests).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/controller");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let modules: BTreeSet<String> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|m| m != "mod" && m != "tests" && !m.ends_with("_tests"))
        .collect();
    let mut out = BTreeMap::new();
    for m in &modules {
        let text = std::fs::read_to_string(dir.join(format!("{m}.rs"))).unwrap();
        // The module's own code: up to its test module.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        let mut deps = BTreeSet::new();
        for other in modules.iter().filter(|o| *o != m) {
            let named = [format!("super::{other}"), format!("crate::controller::{other}")].iter().any(|p| {
                code.contains(&format!("{p}::"))
                    || code.contains(&format!("{p};"))
                    || code.contains(&format!("{p},"))
                    || code.contains(&format!("{p}}}"))
            });
            let grouped = code.contains("use super::{")
                && code.split("use super::{").skip(1).any(|g| {
                    g.split('}')
                        .next()
                        .unwrap_or_default()
                        .split(',')
                        .any(|x| x.trim() == other || x.trim().starts_with(&format!("{other}::")))
                });
            if named || grouped {
                deps.insert(other.clone());
            }
        }
        out.insert(m.clone(), deps);
    }
    out
}

fn circle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        m: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut c = path[i..].to_vec();
            c.push(m.to_owned());
            return Some(c);
        }
        if !done.insert(m.to_owned()) {
            return None;
        }
        path.push(m.to_owned());
        for d in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(g, d, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|m| visit(g, m, &mut Vec::new(), &mut done))
}

#[test]
fn the_controller_modules_form_no_circle() {
    let g = graph();
    assert!(g.len() >= 10, "{g:?}");
    assert!(g["plan"].contains("observe") && g["reconcile"].contains("plan"), "the reader sees the imports: {g:?}");
    assert!(!g["plan"].contains("apply") && !g["plan"].contains("context"), "the plan does no I/O: {:?}", g["plan"]);
    if let Some(c) = circle(&g) {
        panic!("import circle: {}", c.join(" → "));
    }
}

#[test]
fn the_check_finds_a_circle() {
    let g: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .iter()
        .map(|(m, d)| (m.to_string(), BTreeSet::from([d.to_string()])))
        .collect();
    assert_eq!(circle(&g).unwrap(), ["a", "b", "c", "a"]);
}
