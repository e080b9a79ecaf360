//! Serving certificate: loaded from a cert-manager Secret volume (`tls.crt`, `tls.key`), swapped
//! in place when the kubelet rotates the `..data` symlink, without a restart.
//!
//! The directory is polled (content comparison, not mtimes: the kubelet swaps a symlink, so the
//! files' own mtimes need not change). A pair that fails to load is refused: the old one keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: invalid PEM certificate: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{path}: no usable private key (RSA, PKCS#8 or SEC1 PEM expected): {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("{key} does not match the certificate in {cert}: {reason}")]
    Mismatch { cert: PathBuf, key: PathBuf, reason: String },
    #[error("{path}: no usable CA certificate for client authentication: {reason}")]
    BadClientCa { path: PathBuf, reason: String },
}

/// A loaded certificate pair plus what we report about it.
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    /// Raw file contents, to notice changes.
    pub fingerprint: (Vec<u8>, Vec<u8>),
    /// `notAfter` of the leaf, Unix seconds.
    pub not_after: i64,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

/// Parse a PEM certificate chain.
pub fn parse_certs(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate { path: path.to_owned(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_owned() });
    }
    Ok(certs)
}

fn not_after(path: &Path, der: &CertificateDer<'_>) -> Result<i64, TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| TlsError::BadCertificate { path: path.to_owned(), reason: e.to_string() })?;
    Ok(cert.validity().not_after.timestamp())
}

/// Load `tls.crt` + `tls.key` from `dir` and check that they belong together.
pub fn load_dir(dir: &Path, provider: &CryptoProvider) -> Result<Loaded, TlsError> {
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    let (cert_pem, key_pem) = (read(&cert_path)?, read(&key_path)?);
    load_pem(&cert_path, &cert_pem, &key_path, &key_pem, provider)
}

fn load_pem(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<Loaded, TlsError> {
    let certs = parse_certs(cert_path, cert_pem)?;
    let not_after = not_after(cert_path, &certs[0])?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::BadKey { path: key_path.to_owned(), reason: e.to_string() })?;
    let key = CertifiedKey::from_der(certs, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            TlsError::Mismatch { cert: cert_path.to_owned(), key: key_path.to_owned(), reason: e.to_string() }
        }
        e => TlsError::BadKey { path: key_path.to_owned(), reason: e.to_string() },
    })?;
    Ok(Loaded { key: Arc::new(key), fingerprint: (cert_pem.to_vec(), key_pem.to_vec()), not_after })
}

/// Hands rustls whichever pair is current; swapped atomically on reload.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl CertResolver {
    pub fn new(key: Arc<CertifiedKey>) -> Arc<Self> {
        Arc::new(Self { current: ArcSwap::new(key) })
    }
    pub fn set(&self, key: Arc<CertifiedKey>) {
        self.current.store(key);
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Server config: TLS 1.2+, ALPN h2 + http/1.1, optional client-certificate authentication.
pub fn server_config(
    resolver: Arc<CertResolver>,
    client_ca: Option<&Path>,
    provider: Arc<CryptoProvider>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("the provider supports TLS 1.2 and 1.3");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let pem = read(path)?;
            let bad = |reason: String| TlsError::BadClientCa { path: path.to_owned(), reason };
            let mut roots = RootCertStore::empty();
            for c in parse_certs(path, &pem).map_err(|e| bad(e.to_string()))? {
                roots.add(c).map_err(|e| bad(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Poll `dir` every `interval`; on a content change load the new pair and swap it in.
pub async fn watch(
    dir: PathBuf,
    interval: Duration,
    mut last: (Vec<u8>, Vec<u8>),
    resolver: Arc<CertResolver>,
    provider: Arc<CryptoProvider>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        // Mid-swap the files can be briefly missing; that is not a change yet.
        let (Ok(cert_pem), Ok(key_pem)) = (std::fs::read(&cert_path), std::fs::read(&key_path)) else {
            continue;
        };
        if (cert_pem.as_slice(), key_pem.as_slice()) == (last.0.as_slice(), last.1.as_slice()) {
            continue;
        }
        match load_pem(&cert_path, &cert_pem, &key_path, &key_pem, &provider) {
            Ok(loaded) => {
                resolver.set(loaded.key);
                metrics.cert_reloaded(true, Some(loaded.not_after));
                tracing::info!(dir = %dir.display(), not_after = loaded.not_after, "serving certificate reloaded");
                last = loaded.fingerprint;
            }
            Err(e) => {
                metrics.cert_reloaded(false, None);
                tracing::warn!(dir = %dir.display(), error = %e, "refusing new certificate pair; the previous one keeps serving");
                // Remember the bad content so we log once per change, not once per poll.
                last = (cert_pem, key_pem);
            }
        }
    }
}
