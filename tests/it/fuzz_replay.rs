//! Replays the fuzz seeds (and any committed crash reproducers) through the fuzz entry points,
//! plus byte-level mutations of each seed, as a normal test.

use std::path::Path;

fn files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.path().display().to_string(), std::fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

/// Deterministic variants: truncations, flipped bytes, duplicated slices.
fn variants(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let n = seed.len();
    for cut in [0, 1, n / 3, n / 2, n.saturating_sub(1)] {
        v.push(seed[..cut.min(n)].to_vec());
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if n == 0 {
            break;
        }
        let mut m = seed.to_vec();
        let i = (x as usize) % n;
        m[i] = m[i].wrapping_add((x >> 32) as u8 | 1);
        v.push(m);
    }
    v
}

#[test]
fn admission_seeds_and_variants() {
    let seeds = files("seeds/admission");
    assert!(seeds.len() >= 11, "fixtures are the admission seeds");
    for (name, data) in seeds.iter().chain(files("regressions/admission").iter()) {
        kafka_advertiser::fuzzing::admission(data);
        for v in variants(data) {
            let r = std::panic::catch_unwind(|| kafka_advertiser::fuzzing::admission(&v));
            assert!(r.is_ok(), "{name}: variant panicked: {}", String::from_utf8_lossy(&v));
        }
    }
}

#[test]
fn listener_seeds_and_variants() {
    let seeds = files("seeds/listeners");
    assert!(!seeds.is_empty());
    for (name, data) in seeds.iter().chain(files("regressions/listeners").iter()) {
        kafka_advertiser::fuzzing::listeners(data);
        for v in variants(data) {
            let r = std::panic::catch_unwind(|| kafka_advertiser::fuzzing::listeners(&v));
            assert!(r.is_ok(), "{name}: variant panicked: {:?}", String::from_utf8_lossy(&v));
        }
    }
}
