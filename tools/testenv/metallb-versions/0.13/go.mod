// MetalLB 0.13.x, the last minor with only the metallb.universe.tf/ annotation prefix, for
// KAFKA_ADVERTISER_TESTENV_METALLB=v0.13.12 (0.13.5 needs k8s.io/kubernetes v1.21.23, which the Go
// module proxy does not serve). Not tidied: `go mod tidy` wants the test imports of MetalLB`s own
// packages, one of which (github.com/metallb/frr-k8s v0.0.27) is not served either.
module kafka-advertiser/testenv/metallb-versions/0.13

go 1.26

require go.universe.tf/metallb v0.13.12 // indirect
