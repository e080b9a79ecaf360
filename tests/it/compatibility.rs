//! What the README, `docs/install.md` and the chart claim about Kubernetes versions is proven:
//! `docs/compatibility.md` (written by `scripts/matrix.sh`) has a passing row for the claimed floor,
//! every version the test control plane pins has a row, and the claims agree with each other.

use crate::support::{repo_file as read, repo_path};

/// The minor after each `marker` in `text` (e.g. `Kubernetes >= 1.` → 30).
fn minors_after(text: &str, marker: &str) -> Vec<u32> {
    text.match_indices(marker)
        .filter_map(|(i, m)| {
            let digits: String = text[i + m.len()..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// The table's rows: (Kubernetes version, its cells after the version).
fn rows() -> Vec<(String, String)> {
    read("docs/compatibility.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| v1."))
        .map(|rest| {
            let (v, cells) = rest.split_once(" |").expect("a row has cells");
            (format!("v1.{v}"), cells.to_string())
        })
        .collect()
}

fn passing(cells: &str) -> bool {
    !cells.contains("**fail**") && !cells.contains("did not") && !cells.contains("deploy failed")
}

/// The Kubernetes versions the test control plane pins: tools/testenv/k8s and k8s-versions/1.N.
fn pinned() -> Vec<String> {
    let mut mods = vec![repo_path("tools/testenv/k8s/go.mod")];
    for e in std::fs::read_dir(repo_path("tools/testenv/k8s-versions")).unwrap() {
        let p = e.unwrap().path().join("go.mod");
        if p.exists() {
            mods.push(p);
        }
    }
    mods.iter()
        .map(|m| {
            let text = std::fs::read_to_string(m).unwrap();
            let line =
                text.lines().find(|l| l.starts_with("require k8s.io/kubernetes ")).expect("pins k8s.io/kubernetes");
            line.rsplit(' ').next().unwrap().to_string()
        })
        .collect()
}

#[test]
fn the_claimed_kubernetes_floor_has_a_passing_row_and_the_claims_agree() {
    let mut claims = vec![];
    claims.extend(minors_after(&read("README.md"), "Kubernetes >= 1."));
    claims.extend(minors_after(&read("docs/install.md"), "Kubernetes >= 1."));
    claims.extend(minors_after(&read("docs/install.md"), "Kubernetes ≥ 1."));
    claims.extend(minors_after(&read("charts/kafka-advertiser/Chart.yaml"), "kubeVersion: \">=1."));
    assert!(claims.len() >= 3, "the README, docs/install.md and the chart each claim a floor: {claims:?}");
    let floor = claims[0];
    assert!(claims.iter().all(|&c| c == floor), "the claimed floors disagree: {claims:?}");
    let rows = rows();
    let proven: Vec<_> = rows.iter().filter(|(v, _)| v.starts_with(&format!("v1.{floor}."))).collect();
    assert!(!proven.is_empty(), "Kubernetes 1.{floor} is claimed but docs/compatibility.md has no row of it");
    assert!(proven.iter().all(|(_, c)| passing(c)), "Kubernetes 1.{floor} is claimed but its rows fail: {proven:?}");
}

#[test]
fn every_pinned_kubernetes_version_has_a_row() {
    let rows = rows();
    for v in pinned() {
        assert!(
            rows.iter().any(|(r, _)| *r == v),
            "{v} is pinned under tools/testenv but docs/compatibility.md has no row"
        );
    }
}

#[test]
fn the_readme_links_the_compatibility_table() {
    assert!(
        read("README.md").contains("(docs/compatibility.md)"),
        "the README's Compatibility section links the table"
    );
}
