//! What the integration tests (`it`, `hostile`) and the e2e suite share: the real binary on
//! loopback with generated certificates, free ports, fixtures, and the RBAC checks of an install.
#![allow(dead_code)]

pub mod rbac;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_kafka-advertiser");

/// A path in this repository, from its root.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A file of this repository as text; the test fails naming the file when it cannot be read.
pub fn repo_file(rel: &str) -> String {
    std::fs::read_to_string(repo_path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn install_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `kafka-advertiser certs` into `dir`.
pub fn make_certs(dir: &Path, client: bool) {
    let mut cmd = Command::new(BIN);
    cmd.args(["certs", "--out"]).arg(dir).args(["--host", "localhost", "--host", "127.0.0.1"]);
    if client {
        cmd.arg("--client");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "certs failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A cert-manager style Secret volume: `..<ts>/` data dirs, a `..data` symlink, and
/// `tls.crt` / `tls.key` symlinks through it.
pub struct SecretVolume {
    pub dir: PathBuf,
    generation: u32,
}

impl SecretVolume {
    pub fn new(dir: &Path, from: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let mut v = SecretVolume { dir: dir.to_owned(), generation: 0 };
        v.swap_to(from);
        for f in ["tls.crt", "tls.key", "ca.crt"] {
            std::os::unix::fs::symlink(format!("..data/{f}"), dir.join(f)).unwrap();
        }
        v
    }

    /// Atomically point `..data` at a copy of `from` (the kubelet's rename-over-symlink).
    pub fn swap_to(&mut self, from: &Path) {
        self.generation += 1;
        let data = format!("..gen_{}", self.generation);
        let target = self.dir.join(&data);
        std::fs::create_dir_all(&target).unwrap();
        for f in ["tls.crt", "tls.key", "ca.crt"] {
            if from.join(f).exists() {
                std::fs::copy(from.join(f), target.join(f)).unwrap();
            }
        }
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&data, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }
}

pub struct Server {
    pub child: Option<Child>,
    pub port: u16,
    pub admin: u16,
    pub stderr_path: PathBuf,
}

impl Server {
    /// Start `serve --standalone` with `cert_dir` and extra flags; wait for /readyz.
    pub fn start(cert_dir: &Path, extra: &[&str]) -> Server {
        let mut args = vec!["--standalone"];
        args.extend_from_slice(extra);
        let s = Server::spawn(cert_dir, &args, &[]);
        s.wait_ready();
        s
    }

    /// Start `serve` with `cert_dir`, flags and env; wait only for /livez.
    pub fn spawn(cert_dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        Server::spawn_bin(Path::new(BIN), cert_dir, extra, envs)
    }

    /// [`Server::spawn`] with another build of the binary (the release one).
    pub fn spawn_bin(bin: &Path, cert_dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        let (port, admin) = (free_port(), free_port());
        let stderr_path = cert_dir.parent().unwrap().join(format!("server-{port}.log"));
        let child = Command::new(bin)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .envs(envs.iter().copied())
            .args(["serve", "--tls-cert-dir"])
            .arg(cert_dir)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--admin-listen", &format!("127.0.0.1:{admin}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let s = Server { child: Some(child), port, admin, stderr_path };
        s.wait_path("/livez");
        s
    }

    pub fn wait_ready(&self) {
        self.wait_path("/readyz")
    }

    pub fn wait_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok((200, _)) = admin_get(self.admin, path) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("server not ready; log:\n{}", self.log());
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn metrics(&self) -> String {
        admin_get(self.admin, "/metrics").unwrap().1
    }

    pub fn sigterm(&self) {
        let pid = self.child.as_ref().unwrap().id();
        let ok = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success();
        assert!(ok);
    }

    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "server did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Plain HTTP GET on the admin port.
pub fn admin_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let code = buf.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((code, body))
}

pub fn client(ca_files: &[&Path], http2: bool) -> reqwest::Client {
    install_provider();
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10)).tls_built_in_root_certs(false);
    for ca in ca_files {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap());
    }
    b = if http2 { b.http2_prior_knowledge() } else { b.http1_only() };
    b.use_rustls_tls().build().unwrap()
}

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub const FIXTURES: [&str; 11] = [
    "configmap-create",
    "kafka-0-bad-port-base",
    "kafka-0-dry-run",
    "kafka-0-kraft-bitnami-loadbalancer",
    "kafka-0-not-opted-in",
    "kafka-0-update",
    "kafka-1-seed-shared-address",
    "kafka-11-no-pod-index-label",
    "kafka-2-apache-hostname-existing-affinity",
    "kafka-4-nodeport",
    "kafka-client-generate-name-no-ordinal",
];

/// Decode the JSON patch of a response, if any.
pub fn patch_of(resp: &Value) -> Option<json_patch::Patch> {
    use base64::Engine;
    let p = resp.pointer("/response/patch")?.as_str()?;
    assert_eq!(resp.pointer("/response/patchType").and_then(Value::as_str), Some("JSONPatch"));
    let bytes = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
    Some(serde_json::from_slice(&bytes).unwrap())
}
