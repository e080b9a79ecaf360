// Command podrunner is the test environment's kubelet and kube-proxy for the pods that opt in
// (pod annotation testenv.kafka-advertiser.io/run: broker, a Kafka image): kwok leaves their status
// to it. It gives each such pod a loopback IP, resolves its container's environment and volumes as
// the kubelet does, starts a real Apache Kafka broker by that image's own start-up rules, reports
// the pod's status (Ready when the broker accepts connections), stops the broker when the pod is
// deleted, provisions volumes for their StatefulSets' claims, keeps a hosts file of cluster DNS
// names from EndpointSlices, and relays each loopback load-balancer address of a Service to the
// Service's ready endpoints.
//
//	podrunner -kubeconfig KC -state DIR -kafka-libs DIR [-java java] [-heap 384m] [-pod-cidr 127.0.64.0/18]
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"kafka-advertiser/testenv/harness/internal/dns"
	"kafka-advertiser/testenv/harness/internal/provisioner"
	"kafka-advertiser/testenv/harness/internal/proxy"
	"kafka-advertiser/testenv/harness/internal/watch"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "mount-exec" {
		if err := mountExec(os.Args[2:]); err != nil {
			log.Fatalf("mount-exec: %v", err)
		}
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "bind-listeners" {
		if err := bindListeners(os.Args[2], os.Args[3]); err != nil {
			log.Fatalf("bind-listeners: %v", err)
		}
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "image-run" {
		if err := imageRunMain(os.Args[2]); err != nil {
			log.Fatalf("image-run: %v", err)
		}
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "render-configs" {
		if err := renderConfigs(os.Args[2], os.Args[3]); err != nil {
			log.Fatalf("render-configs: %v", err)
		}
		return
	}
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the test control plane")
	state := flag.String("state", "", "directory for pods' files and volumes")
	libs := flag.String("kafka-libs", "", "directory of the Apache Kafka jars")
	libsFor := flag.String("kafka-libs-for", "", "MAJOR.MINOR=DIR,...: the jars of other Kafka versions, for images tagged with them")
	java := flag.String("java", "java", "the java command")
	heap := flag.String("heap", "384m", "maximum heap of each broker JVM (the log cleaner alone takes 128 MiB)")
	cidr := flag.String("pod-cidr", "127.0.64.0/18", "loopback range pod IPs are taken from")
	gap := flag.Duration("gap", 100*time.Millisecond, "least time between two passes over the watched objects")
	every := flag.Duration("every", 2*time.Second, "a pass at least this often (passes also follow every change)")
	productBin := flag.String("product-binary", "", "kafka-advertiser's binary, run for pods of its image")
	releases := flag.String("product-releases", "", "directory of earlier releases' binaries (TAG/kafka-advertiser), run for pods of the image tagged TAG")
	healthy := flag.Duration("lb-healthy", 10*time.Second,
		"externalTrafficPolicy Local: a load balancer sends to a node once its health check has passed this long")
	unhealthy := flag.Duration("lb-unhealthy", 20*time.Second,
		"externalTrafficPolicy Local: and until it has failed this long (connections sent meanwhile fail)")
	flag.Parse()
	if *state == "" || *libs == "" {
		log.Fatal("usage: podrunner -kubeconfig KC -state DIR -kafka-libs DIR")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Fatalf("client: %v", err)
	}
	byVersion, err := parseLibs(*libsFor)
	if err != nil {
		log.Fatalf("kafka-libs-for: %v", err)
	}
	ips, err := newAllocator(*cidr)
	if err != nil {
		log.Fatalf("pod-cidr: %v", err)
	}
	hosts := filepath.Join(*state, "hosts")
	if err := os.MkdirAll(*state, 0o755); err != nil {
		log.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		log.Fatalf("client: %v", err)
	}
	apiserver, err := url.Parse(cfg.Host)
	if err != nil {
		log.Fatalf("kubeconfig: server %q: %v", cfg.Host, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	kicks := watch.NewKicks()
	c, err := watchCluster(ctx, cs, dyn, kicks)
	if err != nil {
		log.Fatalf("watch: %v", err)
	}
	r := &runner{cs: cs, dyn: dyn, c: c, kicks: kicks, state: *state, ips: ips, procs: map[types.UID]*proc{},
		product: *productBin, releases: *releases, health: proxy.NewHealth(*healthy, *unhealthy), libsFor: byVersion, apiserver: apiserver.Host, jvm: jvm{java: *java, libs: *libs, heap: *heap, hosts: hosts}}
	px := proxy.New()
	log.Printf("running pods annotated %s=broker; pod IPs from %s", runAnnotation, *cidr)
	watch.Loop(ctx, kicks, *gap, *every, func() {
		if err := r.pass(ctx, px, hosts); err != nil && ctx.Err() == nil {
			log.Printf("pass: %v", err)
		}
	})
	r.shutdown()
}

// shutdown stops every broker (the runner's children) before it exits.
func (r *runner) shutdown() {
	r.mu.Lock()
	procs := make([]*proc, 0, len(r.procs))
	for _, pr := range r.procs {
		procs = append(procs, pr)
	}
	r.mu.Unlock()
	for _, pr := range procs {
		r.stop(pr)
	}
}

// pass: one look at the watched objects; each part acts on what it saw.
func (r *runner) pass(ctx context.Context, px *proxy.Proxy, hosts string) error {
	if err := r.volumes().Sync(ctx); err != nil {
		log.Printf("volumes: %v", err)
	}
	snap, err := r.c.snapshot()
	if err != nil {
		return err
	}
	nodes := nodeAddresses(snap.nodes)
	// Services first: a container's KUBERNETES_SERVICE_HOST comes from the `kubernetes` Service.
	r.mu.Lock()
	r.nodes, r.lost = nodes, lostNodes(snap.nodes)
	r.health.Down(r.lost)
	r.kubeService = proxy.KubeService(snap.services)
	r.mu.Unlock()
	svcs, pods := snap.services, snap.pods
	r.syncPods(ctx, pods)
	if err := dns.Sync(hosts, svcs, pods); err != nil {
		log.Printf("hosts: %v", err)
	}
	all := proxy.Routes(svcs, pods, nodes, r.health, time.Now())
	for addr, rt := range proxy.ClusterIPRoutes(svcs, pods, r.apiserver) {
		all[addr] = rt
	}
	for addr, rt := range proxy.GatewayRoutes(r.c.gateway.List, svcs, pods) {
		if _, taken := all[addr]; !taken {
			all[addr] = rt
		}
	}
	px.Apply(all)
	return nil
}

// nodeAddresses: each node's loopback InternalIP (nodes without one get no node ports).
func nodeAddresses(nodes []corev1.Node) map[string]string {
	out := map[string]string{}
	for _, n := range nodes {
		for _, a := range n.Status.Addresses {
			if ip := net.ParseIP(a.Address); a.Type == corev1.NodeInternalIP && ip != nil && ip.IsLoopback() {
				out[n.Name] = a.Address
			}
		}
	}
	return out
}

// volumes: the volume provisioner, for the StatefulSets whose pods this runner runs.
func (r *runner) volumes() *provisioner.Provisioner {
	return &provisioner.Provisioner{Client: r.cs, Root: r.state, Run: runAnnotation,
		StatefulSets: r.c.statefulSets, Claims: r.c.claims, Volumes: r.c.volumes}
}
