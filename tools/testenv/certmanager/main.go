// Command certmanager runs cert-manager's own controllers (root module github.com/cert-manager/cert-manager,
// pinned in go.mod; its cmd/controller module is not served here) for the test environment: the
// Certificate controllers (trigger, key manager, request manager, issuing, readiness, revision manager),
// the CertificateRequest approver and the CA issuer's CertificateRequest controller, and the Issuer and
// ClusterIssuer readiness controllers. It is what cert-manager's controller binary starts, with only
// the CA issuer; the ACME, Vault, Venafi and self-signed issuers are not compiled in. It serves no
// webhook (the API server validates Certificates by the CRDs' schemas).
//
//	certmanager -kubeconfig KC [-cluster-resource-namespace cert-manager]
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/cert-manager/cert-manager/pkg/controller"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

func main() {
	// A flag set of its own: controller-runtime (cainjector's) registers -kubeconfig on the global one.
	flags := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of the test control plane")
	crNamespace := flags.String("cluster-resource-namespace", "cert-manager", "where ClusterIssuers' Secrets live")
	// cert-manager's own defaults (cmd/controller's flags): a failed CertificateRequest is retried after
	// 1 h, doubling to 32 h. A test that makes issuance fail on purpose restarts it with shorter ones.
	minBackoff := flags.Duration("certificate-request-minimum-backoff-duration", time.Hour, "first retry after a failed CertificateRequest")
	maxBackoff := flags.Duration("certificate-request-maximum-backoff-duration", 32*time.Hour, "longest retry interval")
	_ = flags.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	opts := controller.ContextOptions{
		Kubeconfig: *kubeconfig, KubernetesAPIQPS: 50, KubernetesAPIBurst: 100,
		IssuerOptions: controller.IssuerOptions{ClusterResourceNamespace: *crNamespace},
		CertificateOptions: controller.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: *minBackoff,
			CertificateRequestMaximumBackoffDuration: *maxBackoff,
		},
	}
	factory, err := controller.NewContextFactory(ctx, opts)
	if err != nil {
		log.Fatalf("context: %v", err)
	}
	cctx, err := factory.Build()
	if err != nil {
		log.Fatalf("context: %v", err)
	}
	var names []string
	for name, start := range controller.Known() {
		iface, err := start(factory)
		if err != nil {
			log.Fatalf("controller %s: %v", name, err)
		}
		names = append(names, name)
		go func() {
			if err := iface.Run(2, ctx); err != nil && ctx.Err() == nil {
				log.Fatalf("controller %s: %v", name, err)
			}
		}()
	}
	sort.Strings(names)
	cctx.SharedInformerFactory.Start(ctx.Done())
	cctx.KubeSharedInformerFactory.Start(ctx.Done())
	cctx.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	if err := runCAInjector(ctx, *kubeconfig); err != nil {
		log.Fatalf("cainjector: %v", err)
	}
	log.Printf("cert-manager controllers running: %v, and cainjector", names)
	<-ctx.Done()
}
