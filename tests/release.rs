//! The release artifacts of `scripts/release.sh` (run it first; `cargo test --features release --test
//! release`): every file in SHA256SUMS verifies; each CLI archive holds the static binary and the
//! licence, and the amd64 one runs and names this version; the chart's OCI artifact (layout, Helm's media
//! types) carries exactly the packaged chart and its metadata; install.yaml is deploy/ with this version's
//! image; the krew manifest names each archive with its checksum. Without the artifacts the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn out() -> PathBuf {
    std::env::var_os("KAFKA_ADVERTISER_RELEASE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release-artifacts"))
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e} (run scripts/release.sh first)", p.display()))
}

fn sha256(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned()
}

#[test]
fn checksums_verify_every_artifact() {
    let sums = String::from_utf8(read(&out().join("SHA256SUMS"))).unwrap();
    let names: Vec<&str> = sums.lines().map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    for want in [
        format!("kafka-advertiser_{VERSION}_linux_amd64.tar.gz"),
        format!("kafka-advertiser_{VERSION}_linux_arm64.tar.gz"),
        format!("kafka-advertiser-{VERSION}.tgz"),
        "install.yaml".to_owned(),
        "krew/kafka-advertiser.yaml".to_owned(),
    ] {
        assert!(names.contains(&want.as_str()), "{want} not in SHA256SUMS: {sums}");
    }
    let check =
        Command::new("sha256sum").arg("-c").arg("--strict").arg("SHA256SUMS").current_dir(out()).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}

#[test]
fn cli_archives_hold_the_static_binary() {
    for arch in ["amd64", "arm64"] {
        let tgz = out().join(format!("kafka-advertiser_{VERSION}_linux_{arch}.tar.gz"));
        let list = Command::new("tar").arg("-tzf").arg(&tgz).output().unwrap();
        let files = String::from_utf8_lossy(&list.stdout).into_owned();
        let mut files: Vec<&str> = files.lines().collect();
        files.sort_unstable();
        assert_eq!(files, ["LICENSE", "kafka-advertiser"], "{arch}");
    }
    let dir = tempfile::tempdir().unwrap();
    let tgz = out().join(format!("kafka-advertiser_{VERSION}_linux_amd64.tar.gz"));
    assert!(Command::new("tar").arg("-xzf").arg(&tgz).arg("-C").arg(dir.path()).status().unwrap().success());
    let bin = read(&dir.path().join("kafka-advertiser"));
    // Static: an ELF without a program interpreter (PT_INTERP, type 3) among its program headers.
    let phoff = u64::from_le_bytes(bin[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) =
        (u16::from_le_bytes([bin[0x36], bin[0x37]]) as usize, u16::from_le_bytes([bin[0x38], bin[0x39]]) as usize);
    let interp = (0..phnum).any(|i| u32::from_le_bytes(bin[phoff + i * phentsize..][..4].try_into().unwrap()) == 3);
    assert!(&bin[..4] == b"\x7fELF" && !interp, "a dynamically linked binary");
    let v = Command::new(dir.path().join("kafka-advertiser")).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).contains(VERSION), "{v:?}");
}

#[test]
fn the_chart_as_an_oci_artifact() {
    let layout = out().join("chart-oci");
    let index: Value = serde_json::from_slice(&read(&layout.join("index.json"))).unwrap();
    let desc = &index["manifests"][0];
    assert_eq!(desc["annotations"]["org.opencontainers.image.ref.name"], VERSION);
    let blob = |d: &Value| {
        let digest = d["digest"].as_str().unwrap();
        let data = read(&layout.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap()));
        assert_eq!(format!("sha256:{}", sha256(&data)), digest);
        assert_eq!(d["size"].as_u64(), Some(data.len() as u64));
        data
    };
    let manifest: Value = serde_json::from_slice(&blob(desc)).unwrap();
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.cncf.helm.config.v1+json");
    let config: Value = serde_json::from_slice(&blob(&manifest["config"])).unwrap();
    assert_eq!((config["name"].as_str(), config["version"].as_str()), (Some("kafka-advertiser"), Some(VERSION)));
    assert_eq!(config["appVersion"], VERSION);
    assert!(config["description"].as_str().unwrap().starts_with("Mutating admission webhook"), "{config}");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/vnd.cncf.helm.chart.content.v1.tar+gzip");
    assert_eq!(blob(&layers[0]), read(&out().join(format!("kafka-advertiser-{VERSION}.tgz"))));
}

#[test]
fn install_yaml_is_deploy_with_this_version() {
    let text = String::from_utf8(read(&out().join("install.yaml"))).unwrap();
    let docs: Vec<Value> =
        serde_saphyr::from_multiple::<Value>(&text).unwrap().into_iter().filter(|v: &Value| !v.is_null()).collect();
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    for k in ["Namespace", "CustomResourceDefinition", "MutatingWebhookConfiguration", "Deployment", "Service"] {
        assert!(kinds.contains(&k), "{k} missing: {kinds:?}");
    }
    let deployments: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Deployment").collect();
    assert_eq!(deployments.len(), 2);
    for d in deployments {
        let image = d["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap();
        assert!(image.ends_with(&format!("/kafka-advertiser:{VERSION}")), "{image}");
    }
}

#[test]
fn krew_manifest_names_each_archive() {
    let text = String::from_utf8(read(&out().join("krew/kafka-advertiser.yaml"))).unwrap();
    let m: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "kafka-advertiser");
    assert_eq!(m["spec"]["version"], format!("v{VERSION}"));
    let platforms = m["spec"]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    for p in platforms {
        let arch = p["selector"]["matchLabels"]["arch"].as_str().unwrap();
        let file = format!("kafka-advertiser_{VERSION}_linux_{arch}.tar.gz");
        assert!(p["uri"].as_str().unwrap().ends_with(&format!("/v{VERSION}/{file}")), "{p}");
        assert_eq!(p["sha256"].as_str().unwrap(), sha256(&read(&out().join(&file))));
        assert_eq!(p["bin"], "kafka-advertiser");
    }
}

/// The release workflow adds the darwin archives (built on a macOS runner) with `release.sh --index`:
/// each gets a krew platform with its checksum, and SHA256SUMS covers it. Played here with stand-in
/// binaries in a copy of the artifacts (the real ones cannot be built on Linux).
#[test]
fn index_adds_the_darwin_archives_to_krew_and_the_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("artifacts");
    assert!(Command::new("cp").arg("-r").arg(out()).arg(&copy).status().unwrap().success());
    for arch in ["amd64", "arm64"] {
        let bin = dir.path().join("darwin").join(arch);
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("kafka-advertiser"), format!("stand-in darwin/{arch}")).unwrap();
        let chmod = Command::new("chmod").arg("755").arg(bin.join("kafka-advertiser")).status().unwrap();
        assert!(chmod.success());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/release.sh");
    let run =
        Command::new("bash").arg(script).arg("--index").arg(&copy).arg(dir.path().join("darwin")).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let m: Value =
        serde_saphyr::from_str(&String::from_utf8(read(&copy.join("krew/kafka-advertiser.yaml"))).unwrap()).unwrap();
    let platforms: Vec<(String, String, String)> = m["spec"]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let l = &p["selector"]["matchLabels"];
            (l["os"].as_str().unwrap().into(), l["arch"].as_str().unwrap().into(), p["sha256"].as_str().unwrap().into())
        })
        .collect();
    assert_eq!(platforms.len(), 4, "{platforms:?}");
    for (os, arch, sum) in &platforms {
        assert_eq!(sum, &sha256(&read(&copy.join(format!("kafka-advertiser_{VERSION}_{os}_{arch}.tar.gz")))));
    }
    let check = Command::new("sha256sum").args(["-c", "--strict", "SHA256SUMS"]).current_dir(&copy).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    let sums = String::from_utf8(read(&copy.join("SHA256SUMS"))).unwrap();
    assert!(sums.contains(&format!("kafka-advertiser_{VERSION}_darwin_arm64.tar.gz")), "{sums}");
}
