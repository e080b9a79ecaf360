// The Gateway API and cert-manager CRDs the e2e control plane installs, from these pinned modules'
// own files (nothing here is built).
module kafka-advertiser/testenv/crds

go 1.26

require (
	github.com/cert-manager/cert-manager v1.21.2
	sigs.k8s.io/gateway-api v1.6.3
)
