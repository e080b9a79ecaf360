//! What the self-managed TLS should hold now, from what is stored: pure, given the time.
//!
//! A CA (10 years by default) signs the serving certificate (90 days by default). Each is renewed
//! when a third of its life is left. A renewed CA keeps the old one in the bundle until it expires,
//! so the API server trusts certificates of either while the webhook replicas reload.

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyPair,
    KeyUsagePurpose, NameConstraints,
};

use super::SelfTlsError;

/// The CA's subject: the issuer name of every serving certificate it signs.
const CA_NAME: &str = "kafka-advertiser webhook CA";

/// A certificate and its key, as stored (PEM).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pair {
    pub cert: String,
    pub key: String,
}

/// What the two Secrets hold: the CA (and the CA before it), and the serving certificate with the CA
/// that signed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    pub ca: Option<Pair>,
    pub previous_ca: Option<String>,
    pub serving: Option<Pair>,
    pub serving_ca: Option<String>,
}

impl Stored {
    /// The webhook configuration's `caBundle`: the current CA, then the previous one.
    pub fn bundle(&self) -> String {
        let mut out = self.ca.as_ref().map(|c| c.cert.clone()).unwrap_or_default();
        if let Some(p) = &self.previous_ca {
            out.push_str(p);
        }
        out
    }
}

#[derive(Clone, Debug)]
pub struct Lifetimes {
    pub ca: Duration,
    pub serving: Duration,
}

/// What changed, for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Renewed {
    pub ca: Option<&'static str>,
    pub serving: Option<&'static str>,
}

/// The material to hold at `now` (Unix seconds) for the DNS names `names`, and why it changed; `None`
/// when what is stored stays.
pub fn plan(
    stored: &Stored,
    names: &[String],
    now: i64,
    life: &Lifetimes,
) -> Result<Option<(Stored, Renewed)>, SelfTlsError> {
    let mut next = stored.clone();
    let mut why = Renewed::default();
    // Drop a previous CA that has expired.
    if next.previous_ca.as_deref().is_some_and(|p| not_after(p).is_none_or(|t| t <= now)) {
        next.previous_ca = None;
    }
    let ca_reason = match &stored.ca {
        None => Some("no CA yet"),
        Some(ca) => match not_after(&ca.cert) {
            None => Some("the stored CA does not parse"),
            Some(t) if t - now < third(life.ca) => Some("a third of the CA's life is left"),
            Some(_) if KeyPair::from_pem(&ca.key).is_err() => Some("the stored CA key does not parse"),
            Some(_) if !key_matches(&ca.cert, &ca.key) => Some("the stored CA key does not belong to its certificate"),
            // Ours (a seeded CA is the platform's to constrain): one an earlier release made, or one
            // made for other names.
            Some(_) if ours(&ca.cert) && permitted(&ca.cert) != Some(sorted(names)) => {
                Some("the CA is not constrained to the webhook Service's names")
            }
            Some(_) => None,
        },
    };
    if let Some(r) = ca_reason {
        // The CA trusted until now stays in the bundle while the replicas reload: ours, or, when taking
        // over a Secret another issuer filled (cert-manager before `tls.source: self`), that issuer's.
        let valid = |pem: &&String| not_after(pem).is_some_and(|t| t > now);
        let old = stored.ca.as_ref().map(|c| &c.cert).filter(valid).or(stored.serving_ca.as_ref().filter(valid));
        next.previous_ca = old.cloned();
        next.ca = Some(new_ca(names, now, life.ca)?);
        why.ca = Some(r);
    }
    let ca = next.ca.clone().unwrap_or_default();
    why.serving = serving_reason(&next, &ca, names, now, life.serving);
    if why.serving.is_some() {
        next.serving = Some(new_serving(&ca, names, now, life.serving)?);
        next.serving_ca = Some(ca.cert.clone());
    }
    Ok((next != *stored).then_some((next, why)))
}

fn serving_reason(next: &Stored, ca: &Pair, names: &[String], now: i64, life: Duration) -> Option<&'static str> {
    let Some(s) = &next.serving else { return Some("no serving certificate yet") };
    if next.serving_ca.as_deref() != Some(ca.cert.as_str()) {
        return Some("signed by another CA");
    }
    match parse(&s.cert) {
        None => Some("the stored serving certificate does not parse"),
        Some((_, sans)) if sans != names => Some("its DNS names are not the Service's"),
        Some((t, _)) if t - now < third(life) => Some("a third of its life is left"),
        Some(_) => None,
    }
}

fn third(d: Duration) -> i64 {
    (d.as_secs() / 3) as i64
}

fn window(now: i64, life: Duration) -> Result<(time::OffsetDateTime, time::OffsetDateTime), SelfTlsError> {
    // A minute back, for clocks a little behind this one.
    let from = time::OffsetDateTime::from_unix_timestamp(now - 60).map_err(|e| SelfTlsError::Time(e.to_string()))?;
    let to = time::OffsetDateTime::from_unix_timestamp(now + life.as_secs() as i64)
        .map_err(|e| SelfTlsError::Time(e.to_string()))?;
    Ok((from, to))
}

/// A CA that may sign for the webhook Service's names only (RFC 5280 name constraints: a DNS
/// subtree is the name and the names under it): were its key taken, it could not impersonate any
/// other server to the API server.
fn ca_params(names: &[String], now: i64, life: Duration) -> Result<CertificateParams, SelfTlsError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, CA_NAME);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let subtree = |n: &String| match n.parse::<std::net::IpAddr>() {
        Ok(ip) => GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(ip, if ip.is_ipv4() { 32 } else { 128 })),
        Err(_) => GeneralSubtree::DnsName(n.clone()),
    };
    p.name_constraints =
        Some(NameConstraints { permitted_subtrees: names.iter().map(subtree).collect(), excluded_subtrees: vec![] });
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    (p.not_before, p.not_after) = window(now, life)?;
    Ok(p)
}

fn new_ca(names: &[String], now: i64, life: Duration) -> Result<Pair, SelfTlsError> {
    let key = KeyPair::generate()?;
    let cert = ca_params(names, now, life)?.self_signed(&key)?;
    Ok(Pair { cert: cert.pem(), key: key.serialize_pem() })
}

fn new_serving(ca: &Pair, names: &[String], now: i64, life: Duration) -> Result<Pair, SelfTlsError> {
    // The issuer is read from the stored CA certificate (its subject and key identifier, whoever made
    // it) with its key: the serving certificate's issuer name and authority key identifier are that
    // CA's, and its signature verifies against it.
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca.cert, KeyPair::from_pem(&ca.key)?)?;
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(names.to_vec())?;
    p.distinguished_name.push(DnType::CommonName, names.first().cloned().unwrap_or_default());
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    (p.not_before, p.not_after) = window(now, life)?;
    let cert = p.signed_by(&key, &issuer)?;
    Ok(Pair { cert: cert.pem(), key: key.serialize_pem() })
}

/// Whether `key` is the private key of the certificate `cert` (their public keys are the same).
fn key_matches(cert: &str, key: &str) -> bool {
    use rcgen::PublicKeyData;
    let Ok(key) = KeyPair::from_pem(key) else { return false };
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(cert.as_bytes()) else { return false };
    pem.parse_x509().is_ok_and(|c| c.tbs_certificate.subject_pki.raw == key.subject_public_key_info().as_slice())
}

/// Whether a CA is one this code made (its subject is [`CA_NAME`]).
fn ours(pem: &str) -> bool {
    let Ok((_, p)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) else { return false };
    p.parse_x509().is_ok_and(|c| c.subject().iter_common_name().any(|cn| cn.as_str() == Ok(CA_NAME)))
}

fn sorted(names: &[String]) -> Vec<String> {
    let mut v = names.to_vec();
    v.sort();
    v
}

/// The DNS names and IPs a CA's name constraints permit, sorted (`None`: it has none, or excludes
/// some).
fn permitted(pem: &str) -> Option<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = p.parse_x509().ok()?;
    let nc = cert.name_constraints().ok().flatten()?.value;
    if nc.excluded_subtrees.as_ref().is_some_and(|e| !e.is_empty()) {
        return None;
    }
    let mut out: Vec<String> = (nc.permitted_subtrees.as_ref()?.iter())
        .map(|s| match &s.base {
            GeneralName::DNSName(d) => Some((*d).to_owned()),
            GeneralName::IPAddress(b) if b.len() == 8 => {
                Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string())
            }
            GeneralName::IPAddress(b) if b.len() == 32 => {
                let a: [u8; 16] = b[..16].try_into().ok()?;
                Some(std::net::Ipv6Addr::from(a).to_string())
            }
            _ => None,
        })
        .collect::<Option<_>>()?;
    out.sort();
    Some(out)
}

/// notAfter (Unix seconds) of the first certificate of a PEM text.
pub fn not_after(pem: &str) -> Option<i64> {
    parse(pem).map(|(t, _)| t)
}

/// notAfter and the DNS names of the first certificate of a PEM text.
fn parse(pem: &str) -> Option<(i64, Vec<String>)> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = p.parse_x509().ok()?;
    let sans = cert.subject_alternative_name().ok().flatten().map_or_else(Vec::new, |s| {
        let names = s.value.general_names.iter();
        names
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                _ => None,
            })
            .collect()
    });
    Some((cert.validity().not_after.timestamp(), sans))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn names() -> Vec<String> {
        vec!["kafka-advertiser.ops.svc".into(), "kafka-advertiser.ops.svc.cluster.local".into()]
    }

    fn life() -> Lifetimes {
        Lifetimes { ca: Duration::from_secs(3650 * DAY as u64), serving: Duration::from_secs(90 * DAY as u64) }
    }

    /// The serving certificate verifies against the bundle, for its DNS names, at `now`.
    fn verifies(s: &Stored, name: &str, now: i64) -> bool {
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile_certs(&s.bundle()) {
            roots.add(c).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let v = rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider).build().unwrap();
        let leaf: CertificateDer<'static> = rustls_pemfile_certs(&s.serving.as_ref().unwrap().cert).remove(0);
        let at = UnixTime::since_unix_epoch(Duration::from_secs(now as u64));
        v.verify_server_cert(&leaf, &[], &ServerName::try_from(name.to_owned()).unwrap(), &[], at).is_ok()
    }

    fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        crate::tls::parse_certs(std::path::Path::new("bundle"), pem.as_bytes()).unwrap()
    }

    #[test]
    fn first_run_issues_a_ca_and_a_serving_certificate_that_verifies() {
        let now = 1_800_000_000;
        let (s, why) = plan(&Stored::default(), &names(), now, &life()).unwrap().unwrap();
        assert_eq!(why, Renewed { ca: Some("no CA yet"), serving: Some("no serving certificate yet") });
        assert!(verifies(&s, "kafka-advertiser.ops.svc", now + 60));
        assert!(!verifies(&s, "other.ops.svc", now + 60), "only its own names");
        assert_eq!(not_after(&s.serving.as_ref().unwrap().cert), Some(now + 90 * DAY));
        // Nothing to do the next minute.
        assert!(plan(&s, &names(), now + 60, &life()).unwrap().is_none());
    }

    #[test]
    fn the_serving_certificate_is_renewed_with_a_third_of_its_life_left_under_the_same_ca() {
        let now = 1_800_000_000;
        let (s, _) = plan(&Stored::default(), &names(), now, &life()).unwrap().unwrap();
        assert!(plan(&s, &names(), now + 59 * DAY, &life()).unwrap().is_none());
        let later = now + 61 * DAY;
        let (r, why) = plan(&s, &names(), later, &life()).unwrap().unwrap();
        assert_eq!(why, Renewed { ca: None, serving: Some("a third of its life is left") });
        assert_eq!(r.ca, s.ca, "the caBundle stays");
        assert!(verifies(&r, "kafka-advertiser.ops.svc.cluster.local", later));
    }

    #[test]
    fn a_renewed_ca_keeps_the_old_one_in_the_bundle_until_it_expires() {
        let now = 1_800_000_000;
        let (first, _) = plan(&Stored::default(), &names(), now, &life()).unwrap().unwrap();
        // Day 2400: the serving certificate long renewed, the CA still has more than a third left.
        let (s, why) = plan(&first, &names(), now + 2400 * DAY, &life()).unwrap().unwrap();
        assert_eq!((why.ca, s.ca.clone()), (None, first.ca.clone()));
        // Day 2440: less than a third of ten years left.
        let later = now + 2440 * DAY;
        let (r, why) = plan(&s, &names(), later, &life()).unwrap().unwrap();
        assert_eq!(why.ca, Some("a third of the CA's life is left"));
        assert_eq!(why.serving, Some("signed by another CA"));
        assert_eq!(r.previous_ca.as_deref(), Some(s.ca.as_ref().unwrap().cert.as_str()));
        // The old serving certificate still verifies against the new bundle (replicas reload in turn).
        let old = Stored { serving: s.serving.clone(), ..r.clone() };
        assert!(verifies(&old, "kafka-advertiser.ops.svc", later) && verifies(&r, "kafka-advertiser.ops.svc", later));
        // Once the old CA has expired it leaves the bundle.
        let (gone, _) = plan(&r, &names(), now + 3651 * DAY, &life()).unwrap().unwrap();
        assert!(gone.previous_ca.is_none());
    }

    /// Taking over a serving Secret another issuer filled: its CA stays trusted beside the new one, so
    /// the replicas still serving the old certificate are not refused meanwhile.
    #[test]
    fn taking_over_another_issuers_secret_keeps_its_ca_trusted() {
        let now = 1_800_000_000;
        let (theirs, _) = plan(&Stored::default(), &names(), now - DAY, &life()).unwrap().unwrap();
        let found = Stored { ca: None, previous_ca: None, ..theirs.clone() };
        let (ours, why) = plan(&found, &names(), now, &life()).unwrap().unwrap();
        assert_eq!(why, Renewed { ca: Some("no CA yet"), serving: Some("signed by another CA") });
        assert_eq!(ours.previous_ca, theirs.serving_ca);
        let still_serving_theirs = Stored { serving: theirs.serving.clone(), ..ours.clone() };
        assert!(verifies(&still_serving_theirs, "kafka-advertiser.ops.svc", now));
        assert!(verifies(&ours, "kafka-advertiser.ops.svc", now));
    }

    /// The CA may sign for the webhook Service's names only (N9): a certificate it signs for any other
    /// name does not verify, and a CA an earlier release made without that bound is replaced.
    #[test]
    fn the_ca_is_constrained_to_the_service_names() {
        let now = 1_800_000_000;
        let (s, _) = plan(&Stored::default(), &names(), now, &life()).unwrap().unwrap();
        assert_eq!(permitted(&s.ca.as_ref().unwrap().cert), Some(sorted(&names())));
        // Its key, taken, signs for another server: that certificate does not verify.
        let ca = s.ca.clone().unwrap();
        let forged = new_serving(&ca, &["kube-apiserver.default.svc".to_owned()], now, life().serving).unwrap();
        let stolen = Stored { serving: Some(forged), ..s.clone() };
        assert!(!verifies(&stolen, "kube-apiserver.default.svc", now + 60));
        // An unconstrained CA of ours (an earlier release): replaced, the old one trusted meanwhile.
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, CA_NAME);
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        (p.not_before, p.not_after) = window(now, life().ca).unwrap();
        let old = Stored {
            ca: Some(Pair { cert: p.self_signed(&key).unwrap().pem(), key: key.serialize_pem() }),
            ..Stored::default()
        };
        let (r, why) = plan(&old, &names(), now, &life()).unwrap().unwrap();
        assert_eq!(why.ca, Some("the CA is not constrained to the webhook Service's names"));
        assert_eq!(r.previous_ca, old.ca.map(|c| c.cert));
        assert!(verifies(&r, "kafka-advertiser.ops.svc", now));
    }

    #[test]
    fn other_dns_names_or_damaged_material_are_replaced() {
        let now = 1_800_000_000;
        let (s, _) = plan(&Stored::default(), &names(), now, &life()).unwrap().unwrap();
        let moved = vec!["kafka-advertiser.platform.svc".to_owned()];
        let (r, why) = plan(&s, &moved, now, &life()).unwrap().unwrap();
        // The CA may sign for the old names only: a new one, the old one trusted meanwhile.
        assert_eq!(
            why,
            Renewed {
                ca: Some("the CA is not constrained to the webhook Service's names"),
                serving: Some("signed by another CA")
            }
        );
        assert!(verifies(&r, "kafka-advertiser.platform.svc", now));
        assert_eq!(r.previous_ca.as_deref(), Some(s.ca.as_ref().unwrap().cert.as_str()));
        let broken = Stored { ca: Some(Pair { cert: "junk".into(), key: "junk".into() }), ..s.clone() };
        let (r, why) = plan(&broken, &names(), now, &life()).unwrap().unwrap();
        assert_eq!(why.ca, Some("the stored CA does not parse"));
        // The CA that signed what the replicas serve stays trusted meanwhile.
        assert_eq!(r.previous_ca.as_deref(), Some(s.ca.as_ref().unwrap().cert.as_str()));
        assert!(verifies(&r, "kafka-advertiser.ops.svc", now));
    }

    /// A CA the platform seeded (another subject, another key identifier method): the serving
    /// certificate names that CA as its issuer and verifies against it; a CA whose key is not its
    /// certificate's is renewed, not used to sign certificates nobody can verify.
    #[test]
    fn a_seeded_ca_signs_as_itself_and_a_mismatched_ca_key_is_renewed() {
        let now = 1_800_000_000;
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, "Platform Team Root");
        p.distinguished_name.push(DnType::OrganizationName, "Example Corp");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(vec![7; 20]);
        (p.not_before, p.not_after) = window(now, life().ca).unwrap();
        let seeded = Pair { cert: p.self_signed(&key).unwrap().pem(), key: key.serialize_pem() };
        let stored = Stored { ca: Some(seeded.clone()), ..Stored::default() };
        let (s, why) = plan(&stored, &names(), now, &life()).unwrap().unwrap();
        assert_eq!(why, Renewed { ca: None, serving: Some("no serving certificate yet") });
        assert_eq!(s.ca.as_ref(), Some(&seeded), "the seeded CA is kept");
        assert!(verifies(&s, "kafka-advertiser.ops.svc", now + 60));
        let (_, leaf) = x509_parser::pem::parse_x509_pem(s.serving.as_ref().unwrap().cert.as_bytes()).unwrap();
        let leaf = leaf.parse_x509().unwrap();
        assert!(leaf.issuer().to_string().contains("Platform Team Root"), "{}", leaf.issuer());
        // The key of another CA beside this certificate: renewed, with the reason.
        let other = KeyPair::generate().unwrap().serialize_pem();
        let mismatched = Stored { ca: Some(Pair { cert: seeded.cert.clone(), key: other }), ..s.clone() };
        let (r, why) = plan(&mismatched, &names(), now, &life()).unwrap().unwrap();
        assert_eq!(why.ca, Some("the stored CA key does not belong to its certificate"));
        assert!(verifies(&r, "kafka-advertiser.ops.svc", now));
    }
}
