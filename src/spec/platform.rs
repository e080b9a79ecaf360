//! What each platform's load balancers and networks can do for each mode: the warnings `preview
//! --platform` prints and `check` gives for the platform it reads off the nodes' `providerID`.

use clap::ValueEnum;

use super::service::ServiceSettings;
use super::settings::Mode;

/// The AWS Load Balancer Controller's class: an NLB per Service.
pub const AWS_NLB_CLASS: &str = "service.k8s.aws/nlb";
const AWS_LB_TYPE: &str = "service.beta.kubernetes.io/aws-load-balancer-type";

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

/// Whether the broker Services ask the AWS Load Balancer Controller for an NLB.
fn asks_for_nlb(service: &ServiceSettings) -> bool {
    service.lb_class.as_deref() == Some(AWS_NLB_CLASS)
        || matches!(service.annotations.get(AWS_LB_TYPE).map(String::as_str), Some("external" | "nlb-ip"))
}

/// Why `mode` cannot work (or needs care) on `platform`, and what to use instead; empty when it works.
/// `service`: the StatefulSet's Service settings, where known.
pub fn warnings(platform: Platform, mode: Mode, service: Option<&ServiceSettings>) -> Vec<String> {
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
        (Platform::Eks, Mode::Loadbalancer) if !service.is_some_and(asks_for_nlb) => vec![
            "on EKS, give the broker Services the AWS Load Balancer Controller's NLB annotations (the eks-nlb \
             ExternalAccessClass of deploy/components/platform-eks: load-balancer-class service.k8s.aws/nlb), \
             else the legacy in-tree controller makes a Classic Load Balancer"
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
        assert!(warnings(Platform::Eks, Mode::SharedAddress, None)[0].contains("MetalLB"));
        assert!(warnings(Platform::Metallb, Mode::SharedAddress, None).is_empty());
        assert!(warnings(Platform::Generic, Mode::PodIp, None).is_empty());
        assert!(warnings(Platform::Gke, Mode::Hostname, None).is_empty());
        assert!(!warnings(Platform::Aks, Mode::Nodeport, None).is_empty());
        // EKS load balancers: a warning until the Services ask for an NLB, by class or annotation.
        let mut service = ServiceSettings::default();
        assert!(!warnings(Platform::Eks, Mode::Loadbalancer, Some(&service)).is_empty());
        service.lb_class = Some(AWS_NLB_CLASS.into());
        assert!(warnings(Platform::Eks, Mode::Loadbalancer, Some(&service)).is_empty());
        service.lb_class = None;
        service.annotations.insert(AWS_LB_TYPE.into(), "external".into());
        assert!(warnings(Platform::Eks, Mode::Loadbalancer, Some(&service)).is_empty());
    }
}
