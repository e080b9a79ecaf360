//! What each platform's load balancers and networks can do for each mode: the warnings `preview
//! --platform` prints and `check` gives for the platform it reads off the nodes' `providerID`.

use clap::ValueEnum;

use super::settings::Mode;

/// Platforms whose limits are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Amazon EKS with the AWS Load Balancer Controller (NLB).
    Eks,
    /// Google Kubernetes Engine.
    Gke,
    /// Azure Kubernetes Service.
    Aks,
    /// Bare metal or a lab with MetalLB.
    Metallb,
    /// Anything else: no platform-specific warning.
    Generic,
}

impl Platform {
    /// The platform a node's `spec.providerID` names (`aws://…`, `gce://…`, `azure://…`).
    pub fn from_provider_id(id: &str) -> Platform {
        match id.split_once("://").map(|(scheme, _)| scheme) {
            Some("aws") => Platform::Eks,
            Some("gce") => Platform::Gke,
            Some("azure") => Platform::Aks,
            _ => Platform::Generic,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Platform::Eks => "eks",
            Platform::Gke => "gke",
            Platform::Aks => "aks",
            Platform::Metallb => "metallb",
            Platform::Generic => "generic",
        }
    }
}

/// Why `mode` cannot work (or needs care) on `platform`, and what to use instead; empty when it works.
pub fn warnings(platform: Platform, mode: Mode) -> Vec<String> {
    let shared = "shared-address needs a load balancer that gives one IP to several Services (MetalLB with \
                  allow-shared-ip, which kafka-advertiser sets; AKS with one public IP named on each Service)";
    match (platform, mode) {
        (Platform::Eks, Mode::SharedAddress) => vec![format!(
            "{shared}: on EKS the AWS Load Balancer Controller makes one NLB per Service, so the brokers would \
             get different addresses; use loadbalancer (one NLB per broker) or gateway-tcp"
        )],
        (Platform::Gke, Mode::SharedAddress) => vec![format!(
            "{shared}: on GKE each LoadBalancer Service gets its own forwarding rule and address; use \
             loadbalancer or gateway-tcp"
        )],
        (Platform::Aks, Mode::SharedAddress) => vec![format!(
            "{shared}: on AKS set one reserved public IP on every broker Service \
             (service.beta.kubernetes.io/azure-load-balancer-ipv4 in service-annotations) and keep the ports distinct"
        )],
        (Platform::Eks | Platform::Gke | Platform::Aks, Mode::PodIp) => vec![
            "pod-ip advertises pod IPs: clients outside the VPC/VNet cannot reach them; use loadbalancer or a gateway mode"
                .to_owned(),
        ],
        (Platform::Eks | Platform::Gke | Platform::Aks, Mode::Nodeport) => vec![
            "nodeport advertises node addresses: managed node pools often have no public IP and replace nodes \
             (new addresses); open the node ports in the firewall, or use loadbalancer"
                .to_owned(),
        ],
        (Platform::Eks, Mode::Loadbalancer) => vec![
            "on EKS, give the broker Services the AWS Load Balancer Controller's NLB annotations (the eks-nlb \
             component or the chart's platform: eks preset), else the legacy in-tree controller makes a Classic LB"
                .to_owned(),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_from_provider_ids_and_their_warnings() {
        assert_eq!(Platform::from_provider_id("aws:///eu-west-1a/i-0abc"), Platform::Eks);
        assert_eq!(Platform::from_provider_id("gce://proj/europe-west1-b/node-1"), Platform::Gke);
        assert_eq!(Platform::from_provider_id("azure:///subscriptions/x"), Platform::Aks);
        assert_eq!(Platform::from_provider_id("kind://docker/kind/kind-control-plane"), Platform::Generic);
        assert_eq!(Platform::from_provider_id(""), Platform::Generic);
        assert!(warnings(Platform::Eks, Mode::SharedAddress)[0].contains("MetalLB"));
        assert!(warnings(Platform::Metallb, Mode::SharedAddress).is_empty());
        assert!(warnings(Platform::Generic, Mode::PodIp).is_empty());
        assert!(warnings(Platform::Gke, Mode::Hostname).is_empty());
        assert!(!warnings(Platform::Aks, Mode::Nodeport).is_empty());
    }
}
