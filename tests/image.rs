//! The OCI image of `scripts/image.sh` (run it first; `cargo test --features image --test image`):
//! an index with linux/amd64 and linux/arm64, each config non-root with the documented entrypoint
//! and OCI labels, each layer holding the static binary and no shell; the amd64 binary taken from its
//! layer runs `--version`. Without the layout the test fails, it does not skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn layout() -> PathBuf {
    std::env::var_os("KAFKA_ADVERTISER_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/image/oci"))
}

fn blob(digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    let path = layout().join("blobs/sha256").join(hex);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/image.sh first)", path.display()))
}

/// Every blob's name is the sha256 of its content, and its descriptor's size is its length.
fn check(descriptor: &Value) -> Vec<u8> {
    let digest = descriptor["digest"].as_str().unwrap();
    let data = blob(digest);
    let sum = {
        let out =
            Command::new("sha256sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn();
        let mut child = out.expect("sha256sum");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&data).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    assert_eq!(format!("sha256:{}", &sum[..64]), digest, "blob content");
    assert_eq!(descriptor["size"].as_u64(), Some(data.len() as u64), "descriptor size of {digest}");
    data
}

#[test]
fn the_image_is_multi_arch_non_root_and_runs() {
    let dir = layout();
    let top: Value = serde_json::from_slice(
        &std::fs::read(dir.join("index.json"))
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/image.sh first)", dir.display())),
    )
    .unwrap();
    let oci_layout: Value = serde_json::from_slice(&std::fs::read(dir.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(oci_layout["imageLayoutVersion"], "1.0.0");
    let version = env!("CARGO_PKG_VERSION");
    let entry = &top["manifests"][0];
    assert_eq!(entry["annotations"]["org.opencontainers.image.ref.name"], version);
    assert_eq!(entry["mediaType"], "application/vnd.oci.image.index.v1+json");
    let index: Value = serde_json::from_slice(&check(entry)).unwrap();
    let mut platforms: Vec<String> = Vec::new();
    for m in index["manifests"].as_array().unwrap() {
        let arch = m["platform"]["architecture"].as_str().unwrap().to_owned();
        assert_eq!(m["platform"]["os"], "linux");
        let manifest: Value = serde_json::from_slice(&check(m)).unwrap();
        let config: Value = serde_json::from_slice(&check(&manifest["config"])).unwrap();
        assert_eq!(config["architecture"], arch.as_str());
        let c = &config["config"];
        assert_eq!(c["User"], "65532:65532");
        assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/local/bin/kafka-advertiser", "serve"]));
        assert_eq!(c["Labels"]["org.opencontainers.image.version"], version);
        assert!(c["Labels"]["org.opencontainers.image.source"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
        let layer = check(&manifest["layers"][0]);
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("layer.tar.gz"), &layer).unwrap();
        let list = Command::new("tar").args(["-tzf", "layer.tar.gz"]).current_dir(tmp.path()).output().unwrap();
        let files = String::from_utf8(list.stdout).unwrap();
        assert!(files.lines().any(|l| l == "usr/local/bin/kafka-advertiser"), "{files}");
        assert!(!files.lines().any(|l| l.ends_with("bin/sh") || l.ends_with("busybox")), "no shell: {files}");
        let x = Command::new("tar").args(["-xzf", "layer.tar.gz"]).current_dir(tmp.path()).status().unwrap();
        assert!(x.success());
        let passwd = std::fs::read_to_string(tmp.path().join("etc/passwd")).unwrap();
        assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
        let bin = tmp.path().join("usr/local/bin/kafka-advertiser");
        let file = Command::new("file").arg(&bin).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        if let Ok(f) = file {
            assert!(f.contains("statically linked") || f.contains("static-pie"), "{arch}: {f}");
            let want = if arch == "amd64" { "x86-64" } else { "aarch64" };
            assert!(f.contains(want), "{arch}: {f}");
        }
        if arch == "amd64" {
            let out = Command::new(&bin).arg("--version").output().unwrap();
            assert!(out.status.success());
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("kafka-advertiser {version}"));
        }
        platforms.push(arch);
    }
    platforms.sort();
    assert_eq!(platforms, ["amd64", "arm64"]);
}
