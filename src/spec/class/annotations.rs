//! The Service annotations kafka-advertiser understands that place an address or a DNS name,
//! judged against a class's bounds when a tenant writes them through `service-annotations`: a
//! granted key is a way to ask for Services, never a way around `addressRanges` and
//! `hostnameSuffixes`.

use super::{Class, ClassError, Owner};

/// What a known annotation carries.
enum Carries {
    /// Comma-separated IP addresses (MetalLB, the clouds' fixed-address keys).
    Ips,
    /// Comma-separated DNS names (external-dns).
    Names,
    /// Comma-separated IPs or DNS names (external-dns's target).
    Hosts,
    /// An address by a name only the cloud can resolve (an allocation, a reserved address's name):
    /// it cannot be checked against `addressRanges`.
    Allocation,
    /// MetalLB's sharing key: the same key on another tenant's Service puts both on one IP.
    SharingKey,
}

const KNOWN: [(&str, Carries); 16] = [
    ("metallb.io/loadBalancerIPs", Carries::Ips),
    ("metallb.universe.tf/loadBalancerIPs", Carries::Ips),
    ("metallb.io/allow-shared-ip", Carries::SharingKey),
    ("metallb.universe.tf/allow-shared-ip", Carries::SharingKey),
    ("external-dns.alpha.kubernetes.io/hostname", Carries::Names),
    ("external-dns.alpha.kubernetes.io/internal-hostname", Carries::Names),
    ("external-dns.alpha.kubernetes.io/target", Carries::Hosts),
    ("service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses", Carries::Ips),
    ("service.beta.kubernetes.io/aws-load-balancer-ipv6-addresses", Carries::Ips),
    ("service.beta.kubernetes.io/aws-load-balancer-eip-allocations", Carries::Allocation),
    ("service.beta.kubernetes.io/azure-load-balancer-ipv4", Carries::Ips),
    ("service.beta.kubernetes.io/azure-load-balancer-ipv6", Carries::Ips),
    ("service.beta.kubernetes.io/azure-pip-name", Carries::Allocation),
    ("service.beta.kubernetes.io/azure-pip-prefix-id", Carries::Allocation),
    ("networking.gke.io/load-balancer-ip-addresses", Carries::Allocation),
    ("service.beta.kubernetes.io/oci-load-balancer-internal-ip", Carries::Ips),
];

impl Class {
    /// Service annotations (a tenant's `service-annotations` rendered for one broker, or those of a
    /// Service to adopt, `from` saying which) within the class: every
    /// address and name a known key carries inside the bounds; an allocation by name only where
    /// the class bounds no address; a sharing key never (kafka-advertiser sets its own).
    pub fn service_annotations<'a>(
        &self,
        annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
        owner: Owner<'_>,
        from: &str,
    ) -> Result<(), ClassError> {
        for (key, value) in annotations {
            let Some((_, carries)) = KNOWN.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) else { continue };
            let source_of = format!("{key} in {from}");
            let refused = |why: &str| ClassError::ServiceAnnotationRefused {
                key: key.clone(),
                class: self.name.clone(),
                why: why.to_owned(),
            };
            let items = value.split(',').map(str::trim).filter(|v| !v.is_empty());
            match carries {
                Carries::SharingKey => {
                    return Err(refused("a MetalLB sharing key lets a Service share another tenant's IP"))
                }
                Carries::Allocation if self.spec.address_ranges.is_some() => {
                    return Err(refused("an address named by its allocation cannot be checked against addressRanges"))
                }
                Carries::Allocation => {}
                Carries::Ips => {
                    for ip in items {
                        if ip.parse::<std::net::IpAddr>().is_err() {
                            return Err(refused(&format!("{ip:?} is not an IP address")));
                        }
                        self.host_or_ip(ip, &source_of, owner)?;
                    }
                }
                Carries::Names | Carries::Hosts => {
                    for host in items {
                        if matches!(carries, Carries::Names) && host.parse::<std::net::IpAddr>().is_ok() {
                            return Err(refused(&format!("{host:?} is not a DNS name")));
                        }
                        self.host_or_ip(host, &source_of, owner)?;
                    }
                }
            }
        }
        Ok(())
    }
}
