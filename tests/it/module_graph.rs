//! The crate's modules import one another one way: no circle, and the layers hold (`names` and
//! `spec` at the bottom, the webhook's `mutate` below the controller, the commands on top). This
//! reads every file under `src/` for `crate::…`, `super::…` and `use super::{…}` paths (our own
//! module-graph check; `cargo modules` is not needed in CI) and fails with the circle or the upward
//! arrow it finds. A module's own children and ancestors are not arrows (a folder's `mod.rs` and its
//! files are one room).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` → `a::b`, `src/a/mod.rs` → `a`; the crate root, binaries and test files → None.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.last()?;
    if parts.len() == 1 && (last == "lib" || last == "main") {
        return None;
    }
    if last == "tests" || last.ends_with("_tests") || parts.iter().any(|p| p == "tests" || p == "bin") {
        return None;
    }
    let parts = if last == "mod" { &parts[..parts.len() - 1] } else { &parts[..] };
    Some(parts.join("::"))
}

/// The known module that `path` (a full module path, maybe followed by an item) names.
fn resolve(modules: &BTreeSet<String>, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|p| modules.contains(p))
}

/// The paths a module's code names: `crate::x::y`, `super::x` (from its parent), `use super::{a, b}`.
fn named_paths(module: &str, code: &str) -> Vec<String> {
    let parent: Vec<&str> = module.split("::").collect();
    let parent = parent[..parent.len() - 1].join("::");
    let mut out = Vec::new();
    let word = |s: &str| -> String {
        s.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect::<String>()
    };
    for (i, _) in code.match_indices("crate::") {
        out.push(word(&code[i + 7..]).trim_end_matches(':').to_owned());
    }
    let join = |p: &str| if parent.is_empty() { p.to_owned() } else { format!("{parent}::{p}") };
    for (i, _) in code.match_indices("super::") {
        let rest = &code[i + 7..];
        if let Some(group) = rest.strip_prefix('{') {
            for item in group.split('}').next().unwrap_or_default().split(',') {
                out.push(join(word(item.trim()).trim_end_matches(':')));
            }
        } else {
            out.push(join(word(rest).trim_end_matches(':')));
        }
    }
    out
}

/// Module → the modules it names (code only, not comments or its tests).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    all.sort();
    let texts: BTreeMap<String, String> =
        all.iter().filter_map(|f| Some((module_of(&src, f)?, std::fs::read_to_string(f).unwrap()))).collect();
    let modules: BTreeSet<String> = texts.keys().cloned().collect();
    let related = |a: &str, b: &str| a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"));
    let mut out = BTreeMap::new();
    for (m, text) in &texts {
        // The module's own code: up to its test module, without comments.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        let deps = named_paths(m, &code)
            .iter()
            .filter_map(|p| resolve(&modules, p))
            .filter(|d| d != m && !related(m, d))
            .collect();
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

/// The top-level room a module lives in.
fn room(m: &str) -> &str {
    m.split("::").next().unwrap_or(m)
}

#[test]
fn the_modules_form_no_circle() {
    let g = graph();
    assert!(g.len() >= 40, "{g:?}");
    assert!(g["controller::plan"].contains("controller::observe"), "the reader sees the imports: {g:?}");
    assert!(g["controller::reconcile"].contains("controller::plan"), "{g:?}");
    let plan: Vec<&String> = g.iter().filter(|(m, _)| m.starts_with("controller::plan")).flat_map(|(_, d)| d).collect();
    assert!(
        !plan.iter().any(|d| *d == "controller::apply" || *d == "controller::context"),
        "the plan does no I/O: {plan:?}"
    );
    if let Some(c) = circle(&g) {
        panic!("import circle: {}", c.join(" → "));
    }
}

/// Each room imports only the rooms below it.
#[test]
fn the_layers_hold() {
    let g = graph();
    // Room → the rooms it may import.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("names", &[][..]),
        ("spec", &["names"][..]),
        ("cluster_view", &["names", "spec"][..]),
        ("mutate", &["names", "spec", "cluster_view"][..]),
        ("admission", &["names", "spec", "cluster_view", "mutate", "metrics", "config", "fuzzing"][..]),
    ]);
    let mut upward = Vec::new();
    for (m, deps) in &g {
        let Some(may) = allowed.get(room(m)) else { continue };
        for d in deps.iter().filter(|d| room(d) != room(m) && !may.contains(&room(d))) {
            upward.push(format!("{m} → {d}"));
        }
    }
    assert!(upward.is_empty(), "arrows out of their layer: {upward:?}");
    // Nothing below the controller reaches into it (the commands on top may).
    for low in ["names", "spec", "cluster_view", "mutate", "admission", "selftls", "tls"] {
        let into: Vec<_> =
            g.iter().filter(|(m, _)| room(m) == low).flat_map(|(_, d)| d).filter(|d| room(d) == "controller").collect();
        assert!(into.is_empty(), "{low} imports the controller: {into:?}");
    }
}

#[test]
fn the_check_finds_a_circle_and_resolves_paths() {
    let g: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .iter()
        .map(|(m, d)| (m.to_string(), BTreeSet::from([d.to_string()])))
        .collect();
    assert_eq!(circle(&g).unwrap(), ["a", "b", "c", "a"]);
    let modules: BTreeSet<String> = ["spec", "spec::class", "controller::plan"].map(String::from).into();
    assert_eq!(resolve(&modules, "spec::class::Class").as_deref(), Some("spec::class"));
    assert_eq!(resolve(&modules, "spec::Intent").as_deref(), Some("spec"));
    let paths = named_paths("controller::plan::drift", "use super::{Evict, model::Note};\nuse crate::spec::Intent;");
    assert_eq!(paths, ["spec::Intent", "controller::plan::Evict", "controller::plan::model::Note"]);
}
