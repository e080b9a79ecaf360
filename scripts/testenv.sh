#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1 for the end-to-end tests, built from the official Go
# modules pinned in tools/testenv/*/go.mod (no container engine, no release downloads).
#
#   scripts/testenv.sh build     build (and cache) etcd, kube-apiserver, kube-controller-manager,
#                                kube-scheduler, kubectl, kwok, MetalLB's controller, the forwarder,
#                                the pod runner, Apache Kafka's jars (Maven, pinned in
#                                tools/testenv/kafka/pom.xml) and the release binary of kafka-advertiser
#   scripts/testenv.sh up        start the control plane, 3 kwok nodes in 2 zones, MetalLB with a
#                                loopback pool, the Gateway API (standard channel) and cert-manager
#                                CRDs, and the pod runner (tools/testenv/harness/cmd/podrunner: a kubelet and
#                                kube-proxy stand-in that runs real Apache Kafka brokers for pods
#                                annotated testenv.kafka-advertiser.io/run=broker and kafka-advertiser's
#                                own pods (run=kafka-advertiser), and relays each loopback
#                                load-balancer address and ClusterIP to its Service's ready endpoints);
#                                cert-manager's own controllers and cainjector (tools/testenv/certmanager);
#                                admin kubeconfig in target/testenv/kubeconfig
#   scripts/testenv.sh deploy    install kafka-advertiser as a user would (kubectl apply -k of a test
#                                overlay of deploy/) and run, as its two Deployments would, two
#                                `serve --role webhook` replicas with the webhook ServiceAccount's own
#                                token and two `serve --role controller` replicas with the controller's
#                                With KAFKA_ADVERTISER_TESTENV_INSTALL=helm: `helm upgrade --install` of
#                                charts/kafka-advertiser instead (the other install is removed first).
#                                With KAFKA_ADVERTISER_TESTENV_INSTALL=pods: the chart packaged and
#                                installed with its Deployments; the pod runner runs their pods
#                                (podAnnotations run=kafka-advertiser) and the API server calls the
#                                webhook through its Service's ClusterIP.
#   scripts/testenv.sh previous  build the release before this one (tests/e2e/previous-release: its
#                                version and commit) from a git worktree of that commit, with this
#                                checkout's target directory (shared dependencies are not built again):
#                                its release binary and packaged chart in target/testenv/releases/VERSION
#                                (cached per commit in ~/.cache/kafka-advertiser/testenv/releases).
#                                The pod runner runs that binary for pods of the image tagged VERSION
#                                (upgrade tests install the chart, then upgrade to this checkout's)
#   scripts/testenv.sh undeploy  stop the kafka-advertiser replicas and their forwarder (deploy restarts them)
#   scripts/testenv.sh lb NAMESPACE/SERVICE ADDRESS...  play the cloud: set a Service's
#                                status.loadBalancer.ingress (each ADDRESS an IP or a hostname)
#   scripts/testenv.sh gateway NAMESPACE/GATEWAY ADDRESS...  play a Gateway controller: set the
#                                Gateway's status.addresses (each ADDRESS an IP or a hostname) and
#                                its Accepted and Programmed conditions; from then on `up`'s gatewayctl
#                                writes the status of ListenerSets attached to it (GEP-1713)
#   scripts/testenv.sh restart COMPONENT  a fault: stop one component (SIGTERM, SIGKILL after 10 s) and
#                                start it again with the same command line, waiting until it serves:
#                                apiserver, etcd, controller-manager, scheduler, metallb, kwok,
#                                podrunner (its brokers stop with it, unlike a kubelet's containers),
#                                gatewayctl, certmanager; everything else keeps running
#   scripts/testenv.sh node lose NODE     a fault: the node loses power. Its kubelet (kwok) can no longer
#                                reach the API server (a ValidatingAdmissionPolicy refuses kwok's writes
#                                for that node, its Lease and its pods), as when a node is lost: NotReady after
#                                the node monitor's grace period, its pods evicted but never confirmed
#                                gone (Terminating) until the node is deleted or gets the
#                                node.kubernetes.io/out-of-service taint. The containers the pod runner
#                                runs there die (SIGKILL), it writes nothing for their pods, and load
#                                balancers' health checks of the node fail (annotation
#                                testenv.kafka-advertiser.io/lost=true on the node)
#   scripts/testenv.sh node restore NODE  the node back: the policy, the mark and the out-of-service
#                                taint removed (the containers of pods still bound there start again),
#                                waits until it is Ready
#   scripts/testenv.sh crash NAMESPACE/POD  a fault: the pod runner kills a pod's container with SIGKILL
#                                (a crash or an OOM kill: no stop signal, no grace period); returns
#                                once the container has restarted (the kubelet's crash back-off)
#   scripts/testenv.sh down      stop everything this script started (by pid)
#   scripts/testenv.sh env       print the environment the tests read (KUBECONFIG, ...)
#   scripts/testenv.sh status    show what runs
#
# Every port and path can be moved with the KAFKA_ADVERTISER_TESTENV_* variables listed below.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/tools/testenv
RUN=${KAFKA_ADVERTISER_TESTENV_DIR:-$ROOT/target/testenv}
CACHE=${KAFKA_ADVERTISER_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka-advertiser/testenv}
ETCD_PORT=${KAFKA_ADVERTISER_TESTENV_ETCD_PORT:-22379}
ETCD_PEER_PORT=${KAFKA_ADVERTISER_TESTENV_ETCD_PEER_PORT:-22380}
API_PORT=${KAFKA_ADVERTISER_TESTENV_API_PORT:-26443}
KCM_PORT=${KAFKA_ADVERTISER_TESTENV_KCM_PORT:-30257}
SCHED_PORT=${KAFKA_ADVERTISER_TESTENV_SCHEDULER_PORT:-30259}
METALLB_PORT=${KAFKA_ADVERTISER_TESTENV_METALLB_PORT:-27472}
# Every port a component binds sits below Linux's ephemeral range (32768-60999): no client socket of
# a test or a build can hold one when it starts, or starts again (`restart`, `deploy` mid-suite;
# MetalLB once failed to bind a port in that range).
# The webhook URL the API server calls (a forwarder in front of the replicas, as a Service would be).
WEBHOOK_PORT=${KAFKA_ADVERTISER_TESTENV_WEBHOOK_PORT:-28443}
# Webhook replica i serves on REPLICA_PORT+i and /readyz, /metrics on ADMIN_PORT+i; controller
# replica i serves /readyz, /metrics on ADMIN_PORT+REPLICAS+i.
REPLICA_PORT=${KAFKA_ADVERTISER_TESTENV_REPLICA_PORT:-28444}
ADMIN_PORT=${KAFKA_ADVERTISER_TESTENV_ADMIN_PORT:-28081}
REPLICAS=${KAFKA_ADVERTISER_TESTENV_REPLICAS:-2}
# 497 addresses: more than the bounds test's 256 broker Services (a pool they exhaust leaves MetalLB, after a
# restart, failing to re-process every Service and holding new ones back for minutes). Tests that ask for an
# address take one from the top (127.0.3.200-250), far from where MetalLB assigns from (the bottom).
LB_POOL=${KAFKA_ADVERTISER_TESTENV_LB_POOL:-127.0.2.10-127.0.3.250}
NODES=${KAFKA_ADVERTISER_TESTENV_NODES:-3}
[[ $NODES =~ ^[0-9]+$ ]] && [ "$NODES" -ge 1 ] && [ "$NODES" -le 16 ] \
  || { echo "testenv: KAFKA_ADVERTISER_TESTENV_NODES=$NODES: expected 1 to 16" >&2; exit 2; }
NAMESPACE=kafka-advertiser # the namespace deploy/ installs into
# Services' ClusterIPs are loopback addresses too: the pod runner relays them (kube-proxy's part), and
# the API server calls a webhook Service at its ClusterIP.
SVC_CIDR=127.0.128.0/17
POD_CIDR=10.244.0.1/16 # kwok's fake pod IPs: written into pod status, never contacted
# The pod runner's pod IPs (pods it runs are reached there, so they are loopback addresses).
RUN_ANNOTATION=testenv.kafka-advertiser.io/run
NODE_NET=${KAFKA_ADVERTISER_TESTENV_NODE_NET:-127.0.1} # node i's InternalIP is NODE_NET.(i+1)
RUN_CIDR=${KAFKA_ADVERTISER_TESTENV_RUN_CIDR:-127.0.64.0/18}

PKI=$RUN/pki
KC=$RUN/kubeconfig
LOGS=$RUN/logs
PIDS=$RUN/pids
RELEASES=$RUN/releases

export CGO_ENABLED=0 GOFLAGS=${GOFLAGS:--buildvcs=false} GOTOOLCHAIN=${GOTOOLCHAIN:-local}
# Nothing here may go through a proxy: every address is on this machine.
unset HTTPS_PROXY HTTP_PROXY https_proxy http_proxy ALL_PROXY all_proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

say() { printf '[testenv] %s\n' "$*" >&2; }
die() { printf '[testenv] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------

# shellcheck source=scripts/modver.sh
. "$ROOT/scripts/modver.sh"

# The Kubernetes version: tools/testenv/k8s's by default; KAFKA_ADVERTISER_TESTENV_K8S=vX.Y.Z picks the
# module tools/testenv/k8s-versions/X.Y (one per minor, written by its new.sh), which must pin that version.
K8S_MOD=k8s
if [ -n "${KAFKA_ADVERTISER_TESTENV_K8S:-}" ]; then
  [[ $KAFKA_ADVERTISER_TESTENV_K8S =~ ^v1\.([0-9]+)\.[0-9]+$ ]] \
    || { echo "testenv: KAFKA_ADVERTISER_TESTENV_K8S=$KAFKA_ADVERTISER_TESTENV_K8S: expected vX.Y.Z" >&2; exit 2; }
  if [ "$(modver k8s k8s.io/kubernetes)" != "$KAFKA_ADVERTISER_TESTENV_K8S" ]; then
    K8S_MOD=k8s-versions/1.${BASH_REMATCH[1]}
    if [ "$(modver "$K8S_MOD" k8s.io/kubernetes 2>/dev/null)" != "$KAFKA_ADVERTISER_TESTENV_K8S" ]; then
      echo "testenv: no module pins k8s.io/kubernetes $KAFKA_ADVERTISER_TESTENV_K8S (have: $(modver k8s k8s.io/kubernetes)$(for d in "$TOOLS"/k8s-versions/1.*/; do printf ', %s' "$(modver "k8s-versions/$(basename "$d")" k8s.io/kubernetes)"; done)); write one with tools/testenv/k8s-versions/new.sh $KAFKA_ADVERTISER_TESTENV_K8S" >&2
      exit 2
    fi
  fi
fi

# The Gateway API CRDs `up` installs: tools/testenv/crds's module, standard channel, by default;
# KAFKA_ADVERTISER_TESTENV_GATEWAY_API=vX.Y.Z[-experimental] picks another release (from the Go module
# proxy, its own config/crd files) and channel.
GATEWAY_API=${KAFKA_ADVERTISER_TESTENV_GATEWAY_API:-}
if [ -n "$GATEWAY_API" ] && ! [[ $GATEWAY_API =~ ^v1\.[0-9]+\.[0-9]+(-experimental)?$ ]]; then
  echo "testenv: KAFKA_ADVERTISER_TESTENV_GATEWAY_API=$GATEWAY_API: expected vX.Y.Z or vX.Y.Z-experimental" >&2
  exit 2
fi

# gateway_crds: the directory of the Gateway API CRDs to install.
gateway_crds() {
  local v=${GATEWAY_API%-experimental} channel=standard d
  [[ $GATEWAY_API == *-experimental ]] && channel=experimental
  if [ -z "$GATEWAY_API" ]; then
    d=$(modsrc crds sigs.k8s.io/gateway-api)
  else
    d=$(cd "$TOOLS/crds" && go mod download -json "sigs.k8s.io/gateway-api@$v" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    if [ -z "$d" ]; then
      # A release that requires a newer Go than this machine's (v1.7.0: go 1.27) is downloaded by that
      # toolchain, which the Go module proxy serves (only its CRD files are read).
      d=$(cd "$TOOLS/crds" && GOTOOLCHAIN=${KAFKA_ADVERTISER_TESTENV_GOTOOLCHAIN:-go1.27.3} \
        go mod download -json "sigs.k8s.io/gateway-api@$v" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    fi
  fi
  [ -d "$d/config/crd/$channel" ] || die "no Gateway API CRDs for ${GATEWAY_API:-the pinned module} ($d/config/crd/$channel)"
  printf '%s\n' "$d/config/crd/$channel"
}

bin_key() {
  local sum
  # The control plane's modules only (helm has a cache entry of its own).
  sum=$(cat "$TOOLS"/{etcd,$K8S_MOD,kwok,metallb}/go.mod "$TOOLS"/{etcd,$K8S_MOD,kwok,metallb}/go.sum 2>/dev/null \
    | sha256sum | cut -c1-12)
  printf 'k8s-%s_etcd-%s_kwok-%s_metallb-%s_%s' "$(modver "$K8S_MOD" k8s.io/kubernetes)" \
    "$(modver etcd go.etcd.io/etcd/server/v3)" "$(modver kwok sigs.k8s.io/kwok)" \
    "$(modver metallb go.universe.tf/metallb)" "$sum"
}
BIN=${KAFKA_ADVERTISER_TESTENV_BIN:-$CACHE/bin/$(bin_key)}
# MetalLB: tools/testenv/metallb's by default (in $BIN); KAFKA_ADVERTISER_TESTENV_METALLB=vX.Y.Z picks the
# module tools/testenv/metallb-versions/X.Y, which must pin that version, built into a cache entry of its own.
MLB_MOD=metallb MLB_BIN=$BIN/metallb-controller
if [ -n "${KAFKA_ADVERTISER_TESTENV_METALLB:-}" ] && [ "$KAFKA_ADVERTISER_TESTENV_METALLB" != "$(modver metallb go.universe.tf/metallb)" ]; then
  [[ $KAFKA_ADVERTISER_TESTENV_METALLB =~ ^v0\.([0-9]+)\.[0-9]+$ ]] && MLB_MOD=metallb-versions/0.${BASH_REMATCH[1]}
  if [ "$(modver "$MLB_MOD" go.universe.tf/metallb 2>/dev/null)" != "$KAFKA_ADVERTISER_TESTENV_METALLB" ]; then
    echo "testenv: no module pins go.universe.tf/metallb $KAFKA_ADVERTISER_TESTENV_METALLB (have: $(modver metallb go.universe.tf/metallb)$(for d in "$TOOLS"/metallb-versions/0.*/; do printf ', %s' "$(modver "metallb-versions/$(basename "$d")" go.universe.tf/metallb)"; done))" >&2
    exit 2
  fi
  MLB_BIN=$CACHE/bin/metallb-$KAFKA_ADVERTISER_TESTENV_METALLB-$(cat "$TOOLS/$MLB_MOD"/go.* | sha256sum | cut -c1-12)/metallb-controller
fi
# helm, for the chart tests and `deploy` with KAFKA_ADVERTISER_TESTENV_INSTALL=helm.
HELM_BIN=${KAFKA_ADVERTISER_TESTENV_HELM_BIN:-$CACHE/bin/helm-$(modver helm helm.sh/helm/v4)_$(cat "$TOOLS"/helm/go.mod "$TOOLS"/helm/go.sum 2>/dev/null | sha256sum | cut -c1-12)}
HELM=$HELM_BIN/helm
# The harness's own binaries (tools/testenv/harness, one module): the loopback forwarder, the
# ListenerSet part of a Gateway controller and the pod runner, cached apart, by their sources.
HARNESS_BIN=${KAFKA_ADVERTISER_TESTENV_HARNESS_BIN:-$CACHE/bin/harness-$(cd "$TOOLS/harness" 2>/dev/null \
  && find . -name '*.go' -o -name 'go.mod' -o -name 'go.sum' | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)}
FORWARD=$HARNESS_BIN/forward
GATEWAYCTL=${KAFKA_ADVERTISER_TESTENV_GATEWAYCTL:-$HARNESS_BIN/gatewayctl}
# The pod runner, and the Apache Kafka jars it runs brokers from (and the e2e's Java client).
PODRUNNER=${KAFKA_ADVERTISER_TESTENV_PODRUNNER:-$HARNESS_BIN/podrunner}
# cert-manager's own controllers (tools/testenv/certmanager, the CA issuer), cached apart too.
CERTMANAGER=${KAFKA_ADVERTISER_TESTENV_CERTMANAGER:-$CACHE/bin/certmanager-$(cat "$TOOLS"/certmanager/go.* "$TOOLS"/certmanager/*.go 2>/dev/null | sha256sum | cut -c1-12)/certmanager}
kafka_libs_of() { echo "$CACHE/kafka/$1-$(sha256sum <"$TOOLS/kafka/pom.xml" | cut -c1-12)/libs"; }
KAFKA_LIBS=${KAFKA_ADVERTISER_TESTENV_KAFKA_LIBS:-$(kafka_libs_of "$(sed -n 's#.*<kafka.version>\(.*\)</kafka.version>.*#\1#p' "$TOOLS/kafka/pom.xml")")}
# Other Kafka versions' jars, for broker images tagged with them.
KAFKA_OTHER=$(sed -n 's#.*<kafka.other.versions>\(.*\)</kafka.other.versions>.*#\1#p' "$TOOLS/kafka/pom.xml")
# The e2e's Go Kafka clients (tools/testenv/kafkaclients: franz-go and sarama), cached by their sources;
# and the kafkajs client's packages (tests/e2e/kafka/node, npm ci from its package-lock.json).
KAFKACLIENTS=${KAFKA_ADVERTISER_TESTENV_KAFKACLIENTS:-$CACHE/bin/kafkaclients-$(cat "$TOOLS"/kafkaclients/go.* "$TOOLS"/kafkaclients/*.go 2>/dev/null | sha256sum | cut -c1-12)/kafkaclients}
KAFKAJS_DIR=$ROOT/tests/e2e/kafka/node
# kafka-python 3 beside the 2.3 that .ci/run installs (tests/e2e/kafka/requirements.txt), for the
# client named kafka-python-3 (client.py with this directory first on PYTHONPATH).
KAFKA_PYTHON_3_REQ=$ROOT/tests/e2e/kafka/requirements-kafka-python-3.txt
KAFKA_PYTHON_3=$CACHE/python/kafka-python-3-$(sha256sum <"$KAFKA_PYTHON_3_REQ" 2>/dev/null | cut -c1-12)
KAFKAJS_STAMP=$KAFKAJS_DIR/node_modules/.installed-$(sha256sum <"$KAFKAJS_DIR/package-lock.json" 2>/dev/null | cut -c1-12)
KUBECTL=$BIN/kubectl
PRODUCT=${KAFKA_ADVERTISER_TESTENV_PRODUCT:-$ROOT/target/release/kafka-advertiser}

# step NAME OUTPUT... -- COMMAND: run COMMAND unless every OUTPUT exists; time it; name it on failure.
step() {
  local name=$1; shift
  local outs=() have=1
  while [ "$1" != -- ]; do outs+=("$1"); [ -x "$1" ] || have=0; shift; done
  shift
  if [ "$have" = 1 ]; then say "build $name: cached"; return 0; fi
  local log=$CACHE/logs/build-$name.log t0=$SECONDS
  mkdir -p "$CACHE/logs"
  say "build $name ..."
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "building $name failed (full log: $log)"
  fi
  say "build $name: $((SECONDS - t0)) s"
}

go_build() { # module-dir output package...
  local dir=$1 out=$2; shift 2
  (cd "$TOOLS/$dir" && go build -trimpath -ldflags "-s -w ${LDFLAGS:-}" ${TAGS:+-tags "$TAGS"} -o "$out" "$@")
}

build() {
  command -v go >/dev/null || die "go is not installed (Go >= 1.26 is needed to build the control plane)"
  mkdir -p "$BIN"
  say "binaries: $BIN"
  local k8s minor t0=$SECONDS
  k8s=$(modver "$K8S_MOD" k8s.io/kubernetes); minor=$(cut -d. -f2 <<<"$k8s")
  local ld="" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$k8s -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  step download "$BIN/.downloaded" -- bash -c "for d in $K8S_MOD etcd kwok metallb; do (cd '$TOOLS/'\$d && go mod download) || exit 1; done; touch '$BIN/.downloaded'; chmod +x '$BIN/.downloaded'"
  step etcd "$BIN/etcd" -- go_build etcd "$BIN/etcd" go.etcd.io/etcd/server/v3
  LDFLAGS=$ld TAGS=selinux,notest,grpcnotrace step kubernetes \
    "$BIN/kube-apiserver" "$BIN/kube-controller-manager" "$BIN/kube-scheduler" "$BIN/kubectl" -- \
    go_build "$K8S_MOD" "$BIN/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  step kwok "$BIN/kwok" -- go_build kwok "$BIN/kwok" sigs.k8s.io/kwok/cmd/kwok
  mkdir -p "$(dirname "$MLB_BIN")"
  step metallb "$MLB_BIN" -- go_build "$MLB_MOD" "$MLB_BIN" go.universe.tf/metallb/controller
  mkdir -p "$HELM_BIN"
  step helm "$HELM" -- go_build helm "$HELM" helm.sh/helm/v4/cmd/helm
  mkdir -p "$HARNESS_BIN" "$(dirname "$CERTMANAGER")"
  step harness "$FORWARD" "$GATEWAYCTL" "$PODRUNNER" -- \
    go_build harness "$HARNESS_BIN/" ./cmd/forward ./cmd/gatewayctl ./cmd/podrunner
  step certmanager "$CERTMANAGER" -- go_build certmanager "$CERTMANAGER" .
  command -v mvn >/dev/null || die "mvn is not installed (Maven fetches Apache Kafka's jars)"
  step kafka "$KAFKA_LIBS" -- kafka_jars "" "$KAFKA_LIBS"
  local kv
  for kv in $KAFKA_OTHER; do step "kafka-$kv" "$(kafka_libs_of "$kv")" -- kafka_jars "$kv" "$(kafka_libs_of "$kv")"; done
  mkdir -p "$(dirname "$KAFKACLIENTS")"
  step kafkaclients "$KAFKACLIENTS" -- go_build kafkaclients "$KAFKACLIENTS" .
  command -v npm >/dev/null || die "npm is not installed (it installs the kafkajs client's package)"
  step kafkajs "$KAFKAJS_STAMP" -- kafkajs_packages
  step kafka-python-3 "$KAFKA_PYTHON_3/.installed" -- kafka_python_3
  if [ -z "${KAFKA_ADVERTISER_TESTENV_PRODUCT:-}" ]; then
    local t1=$SECONDS
    say "build kafka-advertiser (cargo build --release --locked) ..."
    (cd "$ROOT" && cargo build --release --locked --quiet) || die "building kafka-advertiser failed"
    say "build kafka-advertiser: $((SECONDS - t1)) s"
  fi
  say "build done in $((SECONDS - t0)) s"
}

# Apache Kafka's jars and their dependencies, copied out of the local Maven repository.
kafka_jars() { # VERSION (empty: the pom's) DIR
  rm -rf "$2.tmp"
  mvn -B -q -f "$TOOLS/kafka/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    ${1:+-Dkafka.version="$1"} -DoutputDirectory="$2.tmp" && mv "$2.tmp" "$2"
}

# podrunner -kafka-libs-for: MAJOR.MINOR=DIR for each other version cached.
kafka_libs_for() {
  local kv out=""
  for kv in $KAFKA_OTHER; do
    [ -d "$(kafka_libs_of "$kv")" ] && out+="${out:+,}$(cut -d. -f1,2 <<<"$kv")=$(kafka_libs_of "$kv")"
  done
  echo "$out"
}

kafka_python_3() {
  rm -rf "$KAFKA_PYTHON_3" && mkdir -p "$KAFKA_PYTHON_3" &&
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$KAFKA_PYTHON_3" \
      -r "$KAFKA_PYTHON_3_REQ" && touch "$KAFKA_PYTHON_3/.installed" && chmod +x "$KAFKA_PYTHON_3/.installed"
}

kafkajs_packages() {
  (cd "$KAFKAJS_DIR" && npm ci --no-audit --no-fund) &&
    touch "$KAFKAJS_STAMP" && chmod +x "$KAFKAJS_STAMP"
}

need_bins() {
  local b
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
    [ -x "$BIN/$b" ] || die "$b is not built ($BIN/$b missing): run scripts/testenv.sh build"
  done
  [ -x "$MLB_BIN" ] || die "MetalLB's controller is not built ($MLB_BIN missing): run scripts/testenv.sh build"
  [ -x "$FORWARD" ] || die "forward is not built ($FORWARD missing): run scripts/testenv.sh build"
}

# What `up` starts besides the control plane (deploy does not need them).
need_up_bins() {
  need_bins
  [ -x "$GATEWAYCTL" ] || die "gatewayctl is not built ($GATEWAYCTL missing): run scripts/testenv.sh build"
  [ -x "$CERTMANAGER" ] || die "certmanager is not built ($CERTMANAGER missing): run scripts/testenv.sh build"
  [ -x "$PODRUNNER" ] || die "podrunner is not built ($PODRUNNER missing): run scripts/testenv.sh build"
  [ -d "$KAFKA_LIBS" ] || die "Apache Kafka's jars are missing ($KAFKA_LIBS): run scripts/testenv.sh build"
  command -v java >/dev/null || die "java is not installed (Java >= 17 runs the Kafka brokers)"
}

start_podrunner() {
  start podrunner "$PODRUNNER" --kubeconfig="$KC" --state="$RUN/pods" --kafka-libs="$KAFKA_LIBS" \
    --kafka-libs-for="$(kafka_libs_for)" \
    --pod-cidr="$RUN_CIDR" --heap="${KAFKA_ADVERTISER_TESTENV_BROKER_HEAP:-384m}" --product-binary="$PRODUCT" \
    --product-releases="$RELEASES"
}

# ---------------------------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------------------------

# alive NAME: its process runs (a zombie, exited and not yet reaped by init, does not).
alive() {
  local pid
  pid=$(cat "$PIDS/$1" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}

start() { # name command...
  local n=$1; shift
  if alive "$n"; then return 0; fi
  "$@" >>"$LOGS/$n.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$n"
  printf '%s\0' "$@" >"$PIDS/.$n.argv" # for `restart`
}

# restart COMPONENT: stop one started component by its pid and start it again as it was started.
restart() {
  local n=${1:-}
  case $n in
    apiserver) n=kube-apiserver ;;
    controller-manager) n=kube-controller-manager ;;
    scheduler) n=kube-scheduler ;;
    etcd|metallb|kwok|podrunner|gatewayctl|certmanager|kube-apiserver|kube-controller-manager|kube-scheduler) ;;
    *) die "restart: unknown component '${1:-}' (apiserver, etcd, controller-manager, scheduler, metallb, kwok, podrunner, gatewayctl, certmanager)" ;;
  esac
  [ -f "$PIDS/.$n.argv" ] || die "restart: $n was not started by this script (scripts/testenv.sh up)"
  local t0=$SECONDS pid argv=()
  pid=$(cat "$PIDS/$n" 2>/dev/null || true)
  mapfile -d '' argv <"$PIDS/.$n.argv"
  if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
    # kube-apiserver can hang after its graceful shutdown: SIGKILL after 10 s, as a kubelet would
    # after a short grace period.
    local i
    for i in $(seq 1 100); do alive "$n" || break; sleep 0.1; done
    if alive "$n"; then
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do alive "$n" || break; sleep 0.1; done
    fi
  fi
  start "$n" "${argv[@]}"
  case $n in
    kube-apiserver) apiserver_until_ready "${argv[@]}" ;;
    etcd) wait_for "$n" 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health" ;;
    kube-controller-manager) wait_for "$n" 90 curl -skf "https://127.0.0.1:$KCM_PORT/healthz" ;;
    kube-scheduler) wait_for "$n" 90 curl -skf "https://127.0.0.1:$SCHED_PORT/healthz" ;;
    metallb) wait_for "$n" 60 bash -c "curl -sf http://127.0.0.1:$METALLB_PORT/metrics | grep -q '^metallb_allocator_addresses_total'" ;;
    *) sleep 1; alive "$n" || die "$n exited after its restart (log: $LOGS/$n.log)" ;;
  esac
  say "restarted $n in $((SECONDS - t0)) s"
}

# kube-apiserver exits when a start-up check fails: its first Service IP and node port repair must
# succeed within a minute, and one conflict with Services created meanwhile puts the next attempt
# three minutes off (seen once in CI, restarted during a scale-up). A kubelet restarts such a static
# pod; so does this, up to three starts in all.
apiserver_until_ready() { # the command line
  local n=kube-apiserver try deadline
  for try in 1 2 3; do
    deadline=$((SECONDS + 120))
    while [ $SECONDS -lt $deadline ] && alive "$n"; do
      api_ready >/dev/null 2>&1 && return 0
      sleep 0.5
    done
    if alive "$n"; then
      tail -n 40 "$LOGS/$n.log" >&2 || true
      die "$n is not ready after 120 s (log: $LOGS/$n.log)"
    fi
    [ "$try" != 3 ] || break
    say "$n exited while starting ($(grep '^F' "$LOGS/$n.log" | tail -1 | cut -c1-160)); start $((try + 1)), as a kubelet restarts a static pod"
    start "$n" "$@"
  done
  die "$n exited on three starts (log: $LOGS/$n.log)"
}

# wait_for NAME SECONDS COMMAND...: poll COMMAND; on timeout name the component and show its log.
wait_for() {
  local n=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    if ! alive "$n"; then
      tail -n 40 "$LOGS/$n.log" >&2 || true
      die "$n exited (log: $LOGS/$n.log)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 40 "$LOGS/$n.log" >&2 || true
      die "$n is not ready after ${secs}s (log: $LOGS/$n.log)"
    fi
    sleep 0.3
  done
}

kc() { "$KUBECTL" --kubeconfig="$KC" "$@"; }

leaf() { # name subject eku [sans]
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  { echo "basicConstraints=critical,CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$3"; if [ -n "${4:-}" ]; then echo "subjectAltName=$4"; fi; } >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}

gen_pki() {
  [ -f "$PKI/admin.crt" ] && return 0
  command -v openssl >/dev/null || die "openssl is needed to make the control plane's certificates"
  mkdir -p "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout ca.key -out ca.crt \
      -days 30 -subj /CN=kafka-advertiser-testenv-ca -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>/dev/null
    leaf apiserver /CN=kube-apiserver serverAuth \
      "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.128.1"
    leaf admin "/O=system:masters/CN=kubernetes-admin" clientAuth
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  write_kubeconfig "$KC" "user: {client-certificate-data: $(base64 -w0 "$PKI/admin.crt"), client-key-data: $(base64 -w0 "$PKI/admin.key")}"
}

write_kubeconfig() { # path user-yaml
  umask 077
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")}
users:
- name: user
  $2
contexts:
- name: testenv
  context: {cluster: testenv, user: user}
current-context: testenv
EOF
  umask 022
}

# modsrc TOOLDIR MODULE: the source directory of a pinned module (downloaded again if the module cache
# was cleaned since the build).
modsrc() {
  local d
  d=$(cd "$TOOLS/$1" && go list -m -f '{{.Dir}}' "$2" 2>/dev/null) || true
  if [ -z "$d" ] || [ ! -d "$d" ]; then
    (cd "$TOOLS/$1" && go mod download "$2") >&2 || die "cannot get the source of $2 (needed for its CRDs/stages)"
    d=$(cd "$TOOLS/$1" && go list -m -f '{{.Dir}}' "$2")
  fi
  [ -d "$d" ] || die "no source directory for $2"
  printf '%s\n' "$d"
}

api_ready() { curl -sf --cacert "$PKI/ca.crt" "https://127.0.0.1:$API_PORT/readyz"; }

up() {
  need_up_bins
  mkdir -p "$LOGS" "$PIDS"
  if alive kube-apiserver && alive metallb && api_ready; then
    alive gatewayctl || start gatewayctl "$GATEWAYCTL" --kubeconfig="$KC"
    alive podrunner || start_podrunner
    alive certmanager || start certmanager "$CERTMANAGER" --kubeconfig="$KC"
    say "already up; KUBECONFIG=$KC"
    return 0
  fi
  local t0=$SECONDS
  gen_pki
  start etcd "$BIN/etcd" --name=node0 --data-dir="$RUN/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="node0=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync=true --auto-compaction-retention=1 --quota-backend-bytes=8589934592 --log-level=warn
  wait_for etcd 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  # Audit log, one line per completed request: kafka-advertiser's own requests (its ServiceAccounts'
  # group), what the quiet benchmark counts; and the StatefulSet controller's pod creates, admitted
  # or refused, from which the nudge test reads when each retry came.
  cat >"$RUN/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts:$NAMESPACE"]
- level: Metadata
  users: ["system:serviceaccount:kube-system:statefulset-controller"]
  verbs: ["create"]
  resources: [{group: "", resources: ["pods"]}]
- level: None
EOF
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SVC_CIDR" --authorization-mode=Node,RBAC --allow-privileged=true \
    --endpoint-reconciler-type=none --v=1 \
    --enable-admission-plugins=OwnerReferencesPermissionEnforcement \
    --audit-policy-file="$RUN/audit-policy.yaml" --audit-log-path="$LOGS/audit.log" --audit-log-format=json \
    --audit-log-maxsize=200 --audit-log-maxbackup=1 \
    ${KAFKA_ADVERTISER_TESTENV_APISERVER_ARGS:-}
  wait_for kube-apiserver 120 api_ready
  # No cloud provider, so no service-lb-controller (MetalLB plays the load balancer). Named off where
  # the version has it (1.37 has none): in 1.31.0 the skipped controller's Service handler still ran
  # and crashed kube-controller-manager.
  local controllers='*'
  if "$BIN/kube-controller-manager" --help 2>&1 | grep -q service-lb-controller; then controllers='*,-service-lb-controller'; fi
  start kube-controller-manager "$BIN/kube-controller-manager" --controllers="$controllers" \
    --kubeconfig="$KC" --authentication-kubeconfig="$KC" --authorization-kubeconfig="$KC" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
    --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
    --use-service-account-credentials=true \
    --service-cluster-ip-range="$SVC_CIDR" --concurrent-statefulset-syncs=10 \
    --kube-api-qps=500 --kube-api-burst=1000 --v=1
  cat >"$RUN/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: "$KC", qps: 200, burst: 400}
leaderElection: {leaderElect: false}
EOF
  start kube-scheduler "$BIN/kube-scheduler" --config="$RUN/scheduler.yaml" \
    --authentication-kubeconfig="$KC" --authorization-kubeconfig="$KC" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --v=1
  # kwok's behaviour: the "fast" stages shipped in its module (nodes Ready with a lease heartbeat, pods
  # Running and Ready as soon as they are bound, deleted pods removed). kwok serves no kubelet API
  # (no --server-address): nothing ever dials the fake pod or node IPs.
  local kwok_src f
  kwok_src=$(modsrc kwok sigs.k8s.io/kwok)
  : >"$RUN/kwok-stages.yaml"
  for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease; do
    { echo "---"; cat "$kwok_src/kustomize/stage/$f.yaml"; } >>"$RUN/kwok-stages.yaml"
  done
  # Pods the pod runner runs are left to it: kwok's pod stages skip them.
  for f in pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    { echo "---"; sed "s#^    matchExpressions:\$#&\n    - {key: '.metadata.annotations[\"$RUN_ANNOTATION\"]', operator: DoesNotExist}#" \
      "$kwok_src/kustomize/stage/$f.yaml"; } >>"$RUN/kwok-stages.yaml"
  done
  [ "$(grep -c "$RUN_ANNOTATION" "$RUN/kwok-stages.yaml")" = 3 ] || die "kwok's pod stages could not be kept off the runner's pods"
  # kwok plays every node's kubelet under an identity of its own (the admin's, impersonating
  # testenv-kwok), so `node lose` can cut one node's kubelet off the API server.
  (umask 077; sed 's#^  user: {#  user: {as: testenv-kwok, as-groups: ["system:masters"], #' "$KC" >"$RUN/kwok.kubeconfig")
  grep -q 'as: testenv-kwok' "$RUN/kwok.kubeconfig" || die "could not write kwok's kubeconfig"
  start kwok "$BIN/kwok" --kubeconfig="$RUN/kwok.kubeconfig" --config="$RUN/kwok-stages.yaml" --manage-all-nodes=true \
    --cidr="$POD_CIDR" --node-lease-duration-seconds=40
  wait_for kube-controller-manager 90 curl -skf "https://127.0.0.1:$KCM_PORT/healthz"
  wait_for kube-scheduler 90 curl -skf "https://127.0.0.1:$SCHED_PORT/healthz"
  local i zone
  for i in $(seq 0 $((NODES - 1))); do
    if [ $((i % 2)) = 0 ]; then zone=zone-a; else zone=zone-b; fi
    kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    topology.kubernetes.io/zone: $zone
    topology.kubernetes.io/region: testenv
spec:
  # Each node's own pod range, as the node IPAM controller gives it: a pod that moves gets an
  # address of its new node's range (kwok allocates from it).
  podCIDR: 10.244.$((i * 16)).0/20
  podCIDRs: [10.244.$((i * 16)).0/20]
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "4000"}
  capacity: {cpu: "64", memory: 256Gi, pods: "4000"}
EOF
  done
  wait_for kwok 90 kc wait --for=condition=Ready node --all --timeout=5s
  # Node addresses on loopback: node ports of Services with running endpoints answer there (the pod
  # runner), and the pods it runs report their node's address as status.hostIP.
  for i in $(seq 0 $((NODES - 1))); do
    kc patch node "kwok-node-$i" --subresource=status --type=merge -p "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"${NODE_NET}.$((i + 1))\"},{\"type\":\"Hostname\",\"address\":\"kwok-node-$i\"}]}}" >/dev/null
  done
  # MetalLB: its CRDs come from the pinned module's own source; the pool is on loopback.
  local dir
  dir=$(modsrc "$MLB_MOD" go.universe.tf/metallb)
  kc apply --server-side -f "$dir/config/crd/bases/" >/dev/null
  kc create namespace metallb-system --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc wait --for=condition=Established crd/ipaddresspools.metallb.io --timeout=60s >/dev/null
  kc apply -f - >/dev/null <<EOF
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testenv-loopback, namespace: metallb-system}
spec: {addresses: ["$LB_POOL"]}
EOF
  # Gateway API (standard channel) and cert-manager CRDs, from the pinned modules' own files. No
  # Gateway data plane or cert-manager controller runs: `gateway` plays the Gateway's controller.
  local gw cm
  gw=$(gateway_crds)
  cm=$(modsrc crds github.com/cert-manager/cert-manager)
  # Gateway API v1.6's CRDs need Kubernetes 1.31 (TLSRoute's CEL rules; a ValidatingAdmissionPolicy
  # from 1.30): on an older version the cluster runs without them, as users' clusters do.
  local minor crds=(crd/certificates.cert-manager.io)
  minor=$("$KUBECTL" version -o json --kubeconfig="$KC" 2>/dev/null | sed -n 's/.*"minor": "\([0-9]*\).*/\1/p' | tail -1)
  if [ "${minor:-99}" -ge 31 ]; then
    # The CRD files only (an experimental channel's directory holds its kustomization.yaml too).
    kc apply --server-side $(printf -- '-f %s ' "$gw"/gateway.networking*.yaml) >/dev/null
    crds+=(crd/gateways.gateway.networking.k8s.io crd/tlsroutes.gateway.networking.k8s.io)
    # v1.5's standard channel has no TCPRoute.
    [ -e "$gw/gateway.networking.k8s.io_tcproutes.yaml" ] && crds+=(crd/tcproutes.gateway.networking.k8s.io)
    say "Gateway API CRDs: $gw"
  else
    say "Kubernetes 1.$minor: no Gateway API CRDs (v$(modver crds sigs.k8s.io/gateway-api | tr -d v) needs 1.31)"
  fi
  if [ "${minor:-99}" -ge 30 ]; then
    kc apply --server-side $(printf -- '-f %s ' "$cm"/deploy/crds/cert-manager.io_*.yaml) >/dev/null
  else
    # cert-manager v1.21's CRDs declare selectableFields, which 1.29's CRD schema does not know (server-side
    # apply refuses them): created with unknown fields dropped. (Users of 1.29 run an older cert-manager;
    # only v1.21 is served here.)
    kc create --validate=false $(printf -- '-f %s ' "$cm"/deploy/crds/cert-manager.io_*.yaml) >/dev/null
  fi
  kc wait --for=condition=Established "${crds[@]}" --timeout=60s >/dev/null
  start metallb "$MLB_BIN" --kubeconfig="$KC" --namespace=metallb-system \
    --webhook-mode=disabled --port="$METALLB_PORT" --log-level=info
  wait_for metallb 60 bash -c "curl -sf http://127.0.0.1:$METALLB_PORT/metrics | grep -q '^metallb_allocator_addresses_total'"
  # A Gateway controller's ListenerSet status, for the Gateways `gateway` plays (GEP-1713).
  start gatewayctl "$GATEWAYCTL" --kubeconfig="$KC"
  start_podrunner
  start certmanager "$CERTMANAGER" --kubeconfig="$KC"
  say "up in $((SECONDS - t0)) s: Kubernetes $("$KUBECTL" version -o json --kubeconfig="$KC" 2>/dev/null | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1), $NODES kwok nodes, MetalLB pool $LB_POOL"
  print_env >"$RUN/env"
  say "export KUBECONFIG=$KC"
}

# ---------------------------------------------------------------------------------------------
# deploy
# ---------------------------------------------------------------------------------------------

deploy() {
  need_bins
  api_ready >/dev/null || die "the control plane is not up: run scripts/testenv.sh up"
  [ -x "$PRODUCT" ] || die "$PRODUCT is missing: run scripts/testenv.sh build (or cargo build --release)"
  local t0=$SECONDS certs=$RUN/webhook-certs
  if [ ! -f "$certs/tls.crt" ]; then
    "$PRODUCT" certs --out "$certs" --host 127.0.0.1 --host localhost >/dev/null
  fi
  # The test overlay: deploy/ with only what a host process needs changed (tests/e2e/overlay).
  local overlay=$RUN/overlay
  rm -rf "$overlay"; mkdir -p "$overlay"
  cp "$ROOT"/tests/e2e/overlay/*.yaml "$overlay/"
  sed -i -e "s#@DEPLOY@#$(realpath --relative-to="$overlay" "$ROOT/deploy")#" "$overlay/kustomization.yaml"
  sed -i -e "s#@WEBHOOK_URL@#https://127.0.0.1:$WEBHOOK_PORT/mutate#" \
    -e "s#@CA_BUNDLE@#$(base64 -w0 "$certs/ca.crt")#" "$overlay/webhook.yaml"
  # Which install is there now: none, Helm's (its label), or kustomize's.
  local how=${KAFKA_ADVERTISER_TESTENV_INSTALL:-kustomize} by=none
  if kc get mutatingwebhookconfiguration kafka-advertiser >/dev/null 2>&1; then
    by=$(kc get mutatingwebhookconfiguration kafka-advertiser -o 'jsonpath={.metadata.labels.app\.kubernetes\.io/managed-by}')
    [ "$by" = Helm ] || by=kustomize
  fi
  case $how in
    kustomize)
      if [ "$by" = Helm ]; then
        undeploy
        "$HELM" uninstall kafka-advertiser --kubeconfig "$KC" -n "$NAMESPACE" --wait >/dev/null || die "helm uninstall failed"
      fi
      kc apply -k "$overlay" >"$LOGS/deploy-apply.log" 2>&1 || { cat "$LOGS/deploy-apply.log" >&2; die "kubectl apply -k $overlay failed"; }
      ;;
    helm)
      # The chart as a user installs it, with the values a host process needs: no Deployment, no
      # cert-manager, the webhook URL and CA of the host replicas.
      [ -x "$HELM" ] || die "helm is not built ($HELM missing): run scripts/testenv.sh build"
      if [ "$by" = kustomize ]; then
        undeploy
        kc delete -k "$overlay" --ignore-not-found --wait=true >/dev/null 2>&1 || true
        kc wait --for=delete "namespace/$NAMESPACE" --timeout=120s >/dev/null 2>&1 || true
      fi
      "$HELM" upgrade --install kafka-advertiser "$ROOT/charts/kafka-advertiser" --kubeconfig "$KC" \
        -n "$NAMESPACE" --create-namespace --set deployment.enabled=false --set tls.certManager.enabled=false \
        --set "webhook.url=https://127.0.0.1:$WEBHOOK_PORT/mutate" --set-file "webhook.caBundle=$certs/ca.crt" \
        >"$LOGS/deploy-helm.log" 2>&1 || { cat "$LOGS/deploy-helm.log" >&2; die "helm install failed"; }
      ;;
    pods)
      deploy_pods "$overlay" "$by"
      print_env >"$RUN/env"
      say "deployed in $((SECONDS - t0)) s: the packaged chart, its Deployments' pods run by the pod runner"
      return 0
      ;;
    *) die "KAFKA_ADVERTISER_TESTENV_INSTALL=$how: expected kustomize, helm or pods" ;;
  esac
  # Each role runs with its own ServiceAccount's token, so deploy/rbac.yaml (or the chart's) is what
  # authorizes it: the webhook's read-only identity, the controller's writes.
  local token role i
  for role in webhook controller; do
    token=$(kc -n "$NAMESPACE" create token "kafka-advertiser-$role" --duration=48h) \
      || die "TokenRequest for $NAMESPACE/kafka-advertiser-$role failed"
    write_kubeconfig "$RUN/$role.kubeconfig" "user: {token: $token}"
  done
  # Webhook replica i: https on REPLICA_PORT+i, admin on ADMIN_PORT+i.
  for i in $(seq 0 $((REPLICAS - 1))); do
    start "kafka-advertiser-webhook-$i" env KUBECONFIG="$RUN/webhook.kubeconfig" \
      KAFKA_ADVERTISER_LOG_LEVEL="${KAFKA_ADVERTISER_LOG_LEVEL:-info}" \
      "$PRODUCT" serve --role webhook --listen "127.0.0.1:$((REPLICA_PORT + i))" \
      --admin-listen "127.0.0.1:$((ADMIN_PORT + i))" --tls-cert-dir "$certs" --shutdown-delay 1s \
      ${KAFKA_ADVERTISER_TESTENV_SERVE_ARGS:-}
  done
  # Controller replica i (Lease identity testenv-i): admin on ADMIN_PORT+REPLICAS+i, no other port.
  for i in $(seq 0 $((REPLICAS - 1))); do
    start "kafka-advertiser-controller-$i" env KUBECONFIG="$RUN/controller.kubeconfig" \
      KAFKA_ADVERTISER_IDENTITY="testenv-$i" KAFKA_ADVERTISER_LOG_LEVEL="${KAFKA_ADVERTISER_LOG_LEVEL:-info}" \
      "$PRODUCT" serve --role controller --admin-listen "127.0.0.1:$((ADMIN_PORT + REPLICAS + i))" \
      --lease-namespace "$NAMESPACE" --lease-duration 6s --shutdown-delay 1s \
      ${KAFKA_ADVERTISER_TESTENV_SERVE_ARGS:-}
  done
  local backends
  backends=$(for i in $(seq 0 $((REPLICAS - 1))); do printf '127.0.0.1:%s,' $((REPLICA_PORT + i)); done)
  start webhook-forward "$FORWARD" -listen "127.0.0.1:$WEBHOOK_PORT" -to "${backends%,}"
  for i in $(seq 0 $((REPLICAS - 1))); do
    wait_for "kafka-advertiser-webhook-$i" 60 curl -sf "http://127.0.0.1:$((ADMIN_PORT + i))/readyz"
    wait_for "kafka-advertiser-controller-$i" 60 curl -sf "http://127.0.0.1:$((ADMIN_PORT + REPLICAS + i))/readyz"
  done
  print_env >"$RUN/env"
  say "deployed in $((SECONDS - t0)) s: $REPLICAS webhook and $REPLICAS controller replicas (webhook https://127.0.0.1:$WEBHOOK_PORT/mutate)"
}

# The chart as a user installs it, packaged (helm package), with its Deployments, Service and
# cert-manager's serving certificate: the pod runner runs the pods (the chart's podAnnotations opt them
# in), the API server calls the webhook through its Service's ClusterIP.
deploy_pods() {
  local overlay=$1 by=$2 pkg=$RUN/chart
  [ -x "$HELM" ] || die "helm is not built ($HELM missing): run scripts/testenv.sh build"
  undeploy
  if [ "$by" = kustomize ]; then
    kc delete -k "$overlay" --ignore-not-found --wait=true >/dev/null 2>&1 || true
    kc wait --for=delete "namespace/$NAMESPACE" --timeout=120s >/dev/null 2>&1 || true
  fi
  rm -rf "$pkg"; mkdir -p "$pkg"
  "$HELM" package "$ROOT/charts/kafka-advertiser" -d "$pkg" >/dev/null || die "helm package failed"
  "$HELM" upgrade --install kafka-advertiser "$pkg"/kafka-advertiser-*.tgz --kubeconfig "$KC" \
    -n "$NAMESPACE" --create-namespace --set-string "podAnnotations.testenv\.kafka-advertiser\.io/run=kafka-advertiser" \
    --wait --timeout 5m >"$LOGS/deploy-helm.log" 2>&1 || { cat "$LOGS/deploy-helm.log" >&2; die "helm install failed"; }
}

# The previous release (tests/e2e/previous-release: "VERSION COMMIT"), built once per commit.
previous() {
  local version commit out wt keep=$RUN/product.keep bin=$ROOT/target/release/kafka-advertiser
  read -r version commit < <(grep -v '^#' "$ROOT/tests/e2e/previous-release" | grep -m1 .) \
    || die "tests/e2e/previous-release names no release"
  out=$RELEASES/$version
  if [ "$(cat "$out/commit" 2>/dev/null)" = "$commit" ] && [ -x "$out/kafka-advertiser" ]; then
    say "previous release $version ($commit): built in $out"; return 0
  fi
  # Built once per commit on this machine (a clean clone finds it in the cache).
  local cached=$CACHE/releases/$commit
  if [ -x "$cached/kafka-advertiser" ] && [ -f "$cached/commit" ]; then
    rm -rf "$out"; mkdir -p "$RELEASES"; cp -r "$cached" "$out"
    say "previous release $version ($commit): from the cache ($cached)"; return 0
  fi
  [ -x "$HELM" ] || die "helm is not built ($HELM missing): run scripts/testenv.sh build"
  git -C "$ROOT" cat-file -e "$commit^{commit}" 2>/dev/null \
    || die "commit $commit (release $version) is not in this clone: fetch the history of main (git fetch --unshallow)"
  local t0=$SECONDS
  wt=$RUN/previous-src
  git -C "$ROOT" worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"
  git -C "$ROOT" worktree prune
  git -C "$ROOT" worktree add --detach "$wt" "$commit" >/dev/null 2>&1 || die "git worktree add $wt $commit failed"
  # cargo links the binary it builds into target/release: this checkout's is put back afterwards.
  rm -f "$keep"; [ -e "$bin" ] && cp "$bin" "$keep"
  rm -rf "$out"; mkdir -p "$out"
  say "build kafka-advertiser $version ($commit) in $wt ..."
  # This checkout's binary goes back whether the old commit builds or not.
  if ! (cd "$wt" && CARGO_TARGET_DIR=$ROOT/target cargo build --release --locked --quiet); then
    rm -f "$bin"; [ ! -e "$keep" ] || mv "$keep" "$bin"
    die "building release $version failed (this checkout's binary is back in place)"
  fi
  cp "$bin" "$out/kafka-advertiser.tmp"
  rm -f "$bin"; [ ! -e "$keep" ] || mv "$keep" "$bin"
  "$HELM" package "$wt/charts/kafka-advertiser" -d "$out" >/dev/null || die "helm package of release $version failed"
  git -C "$ROOT" worktree remove --force "$wt"
  mv "$out/kafka-advertiser.tmp" "$out/kafka-advertiser"
  echo "$commit" >"$out/commit"
  rm -rf "$cached" "$cached.tmp"; mkdir -p "$(dirname "$cached")"
  cp -r "$out" "$cached.tmp" && mv "$cached.tmp" "$cached"
  say "previous release $version built in $((SECONDS - t0)) s: $(cd "$out" && ls | tr '\n' ' ')"
}

# crash NAMESPACE/POD: the pod runner kills the pod's container with SIGKILL (podrunner/crash.go);
# returns once the container has been restarted (its restart count went up).
crash() {
  [ $# -eq 1 ] && [[ $1 == */* ]] || die "usage: scripts/testenv.sh crash NAMESPACE/POD"
  local ns=${1%%/*} pod=${1#*/} before i now
  before=$(kc -n "$ns" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}') ||
    die "crash: no pod $ns/$pod"
  kc -n "$ns" annotate pod "$pod" --overwrite "testenv.kafka-advertiser.io/crash=$(date +%s%N)" >/dev/null
  for i in $(seq 1 300); do
    now=$(kc -n "$ns" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}' 2>/dev/null || true)
    if [ -n "$now" ] && [ "$now" -gt "${before:-0}" ]; then
      say "crash: $ns/$pod killed with SIGKILL; restart count $before -> $now"
      return 0
    fi
    sleep 0.1
  done
  die "crash: $ns/$pod's restart count is still $before after 30 s (is the pod runner running it?)"
}

# node lose|restore NODE: a node's kubelet cut off the API server, and back. (Not named `node`,
# which would shadow Node.js's command within this script.)
node_cmd() {
  local verb=${1:-} n=${2:-}
  [ -n "$n" ] || die "usage: scripts/testenv.sh node lose|restore NODE"
  kc get node "$n" >/dev/null || die "node: no node $n"
  case $verb in
    lose) node_lose "$n" ;;
    restore) node_restore "$n" ;;
    *) die "node: unknown verb '$verb' (lose, restore)" ;;
  esac
}

node_restore() {
  local n=$1 i
  kc delete validatingadmissionpolicybinding,validatingadmissionpolicy "testenv-lost-$n" --ignore-not-found >/dev/null
  kc taint node "$n" node.kubernetes.io/out-of-service- >/dev/null 2>&1 || true
  kc annotate node "$n" testenv.kafka-advertiser.io/lost- >/dev/null
  # kwok acts on node events: a write to the node makes it post the node's status again (as a
  # kubelet does when it reaches the API server again), once the API server has dropped the policy.
  for i in $(seq 1 60); do
    kc annotate node "$n" --overwrite "testenv.kafka-advertiser.io/restored=$i" >/dev/null
    if kc wait --for=condition=Ready "node/$n" --timeout=2s >/dev/null 2>&1 \
      && ! kc get node "$n" -o jsonpath='{.spec.taints[*].key}' | grep -q 'node.kubernetes.io/\(unreachable\|not-ready\)'; then
      say "node $n restored: Ready, untainted"
      return 0
    fi
  done
  die "node restore: $n is not Ready and untainted after 120 s"
}

node_lose() {
  local n=$1 i
  kc apply -f - >/dev/null <<YAML || die "node lose: the ValidatingAdmissionPolicy was refused (Kubernetes >= 1.30 serves it)"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: testenv-lost-$n}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["v1"], operations: [CREATE, UPDATE, DELETE], resources: [nodes, nodes/status, pods, pods/status]}
    - {apiGroups: [coordination.k8s.io], apiVersions: ["v1"], operations: [CREATE, UPDATE, DELETE], resources: [leases]}
  matchConditions:
  - {name: kubelet, expression: "request.userInfo.username == 'testenv-kwok'"}
  variables:
  - {name: obj, expression: "oldObject != null ? oldObject : object"}
  validations:
  - expression: "request.resource.resource == 'pods' ? (!has(variables.obj.spec.nodeName) || variables.obj.spec.nodeName != '$n') : variables.obj.metadata.name != '$n'"
    message: "testenv: node $n is lost (scripts/testenv.sh node lose): its kubelet cannot reach the API server"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: testenv-lost-$n}
spec: {policyName: testenv-lost-$n, validationActions: [Deny]}
YAML
  # In force once the API server has loaded it: a write of kwok's for the node is refused by this
  # policy (any other failure of the probe proves nothing).
  local out
  for i in $(seq 1 100); do
    if ! out=$(kc -n kube-node-lease annotate lease "$n" --overwrite --dry-run=server --as=testenv-kwok \
      --as-group=system:masters "testenv.kafka-advertiser.io/probe=$i" 2>&1); then
      if [[ $out == *"testenv-lost-$n"* ]]; then
        # The power cut, for the pod runner (its containers there die) and its load balancers.
        kc annotate node "$n" --overwrite testenv.kafka-advertiser.io/lost=true >/dev/null
        say "node $n lost: its kubelet (kwok) is cut off the API server, its containers killed"
        return 0
      fi
      say "node lose: the probe write failed for another reason: $out"
    fi
    sleep 0.2
  done
  die "node lose: kwok's writes for $n are still accepted after 20 s"
}

# ---------------------------------------------------------------------------------------------
# lb, down, env, status
# ---------------------------------------------------------------------------------------------

undeploy() {
  local f
  stop_one webhook-forward
  for f in "$PIDS"/kafka-advertiser-*; do [ -e "$f" ] && stop_one "$(basename "$f")"; done
  say "kafka-advertiser replicas stopped"
}

lb() {
  [ $# -ge 2 ] && [[ $1 == */* ]] || die "usage: scripts/testenv.sh lb NAMESPACE/SERVICE ADDRESS... (an IP or a hostname each)"
  local ns=${1%%/*} svc=${1#*/} entries="" a
  shift
  for a in "$@"; do
    # An IPv4 or IPv6 literal is an ip entry; anything else a hostname (as cloud load balancers report).
    if [[ $a =~ ^[0-9.]+$ || $a == *:* ]]; then
      entries+="${entries:+,}{\"ip\":\"$a\",\"ipMode\":\"VIP\"}"
    else
      entries+="${entries:+,}{\"hostname\":\"$a\"}"
    fi
  done
  kc -n "$ns" patch service "$svc" --subresource=status --type=merge \
    -p "{\"status\":{\"loadBalancer\":{\"ingress\":[$entries]}}}" >/dev/null
  say "$ns/$svc: load balancer ingress $*"
}

gateway() {
  [ $# -ge 2 ] && [[ $1 == */* ]] || die "usage: scripts/testenv.sh gateway NAMESPACE/GATEWAY ADDRESS... (an IP or a hostname each)"
  local ns=${1%%/*} name=${1#*/} entries="" a gen now
  shift
  for a in "$@"; do
    if [[ $a =~ ^[0-9.]+$ || $a == *:* ]]; then
      entries+="${entries:+,}{\"type\":\"IPAddress\",\"value\":\"$a\"}"
    else
      entries+="${entries:+,}{\"type\":\"Hostname\",\"value\":\"$a\"}"
    fi
  done
  gen=$(kc -n "$ns" get gateway "$name" -o jsonpath='{.metadata.generation}')
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local cond='"status":"True","observedGeneration":'"$gen"',"lastTransitionTime":"'"$now"'","message":"testenv"'
  kc -n "$ns" patch gateway "$name" --subresource=status --type=merge -p "{\"status\":{\"addresses\":[$entries],
    \"conditions\":[{\"type\":\"Accepted\",\"reason\":\"Accepted\",$cond},{\"type\":\"Programmed\",\"reason\":\"Programmed\",$cond}]}}" >/dev/null
  say "$ns/$name: Gateway addresses $*"
}

down() {
  [ -d "$PIDS" ] || { say "nothing to stop"; return 0; }
  local n pid order=()
  for n in "$PIDS"/*; do [ -e "$n" ] || continue; order+=("$(basename "$n")"); done
  # The product and the forwarders first, then the control plane from the top down.
  for n in webhook-forward kafka-advertiser-9 kafka-advertiser-8 kafka-advertiser-7 kafka-advertiser-6 \
    kafka-advertiser-5 kafka-advertiser-4 kafka-advertiser-3 kafka-advertiser-2 kafka-advertiser-1 \
    kafka-advertiser-0 podrunner certmanager gatewayctl metallb kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_one "$n"
  done
  for n in "${order[@]}"; do stop_one "$n"; done
  rm -rf "$RUN/etcd" "$PIDS" "$PKI" "$RUN/webhook-certs" "$KC" "$RUN"/*.kubeconfig
  say "down (logs kept in $LOGS)"
}

stop_one() {
  local f=$PIDS/$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# The version the running control plane serves TCPRoute at (v1 from Gateway API v1.6; v1alpha2 in
# v1.5's experimental channel), for the tests' own reads; "none" when none is served or nothing runs.
tcproute_version() {
  local v
  v=$("$KUBECTL" --kubeconfig="$KC" get crd tcproutes.gateway.networking.k8s.io \
    -o jsonpath='{range .spec.versions[?(@.served==true)]}{.name}{" "}{end}' 2>/dev/null || true)
  if [ -z "$v" ]; then echo none; elif [[ " $v " == *" v1 "* ]]; then echo v1; else echo "${v%% *}"; fi
}

print_env() {
  cat <<EOF
export KUBECONFIG=$KC
export KAFKA_ADVERTISER_TESTENV_DIR=$RUN
export KAFKA_ADVERTISER_TESTENV_BIN=$BIN
export KAFKA_ADVERTISER_TESTENV_HELM=$HELM
export KAFKA_ADVERTISER_TESTENV_PRODUCT=$PRODUCT
export KAFKA_ADVERTISER_TESTENV_WEBHOOK_PORT=$WEBHOOK_PORT
export KAFKA_ADVERTISER_TESTENV_REPLICA_PORT=$REPLICA_PORT
export KAFKA_ADVERTISER_TESTENV_ADMIN_PORT=$ADMIN_PORT
export KAFKA_ADVERTISER_TESTENV_REPLICAS=$REPLICAS
export KAFKA_ADVERTISER_TESTENV_API_PORT=$API_PORT
export KAFKA_ADVERTISER_TESTENV_KAFKA_LIBS=$KAFKA_LIBS
export KAFKA_ADVERTISER_TESTENV_KAFKA_LIBS_FOR=$(kafka_libs_for)
export KAFKA_ADVERTISER_TESTENV_KAFKACLIENTS=$KAFKACLIENTS
export KAFKA_ADVERTISER_TESTENV_KAFKA_PYTHON_3=$KAFKA_PYTHON_3
export KAFKA_ADVERTISER_TESTENV_TCPROUTE_VERSION=$(tcproute_version)
export KAFKA_ADVERTISER_TESTENV_PODRUNNER=$PODRUNNER
export KAFKA_ADVERTISER_TESTENV_LB_POOL=$LB_POOL
EOF
  [ -z "${KAFKA_ADVERTISER_TESTENV_K8S:-}" ] || echo "export KAFKA_ADVERTISER_TESTENV_K8S=$KAFKA_ADVERTISER_TESTENV_K8S"
  [ -z "${KAFKA_ADVERTISER_TESTENV_METALLB:-}" ] || echo "export KAFKA_ADVERTISER_TESTENV_METALLB=$KAFKA_ADVERTISER_TESTENV_METALLB"
  [ -z "$GATEWAY_API" ] || echo "export KAFKA_ADVERTISER_TESTENV_GATEWAY_API=$GATEWAY_API"
}

status() {
  local n
  for n in "$PIDS"/*; do
    [ -e "$n" ] || continue
    if kill -0 "$(cat "$n")" 2>/dev/null; then echo "$(basename "$n"): running (pid $(cat "$n"))"; else echo "$(basename "$n"): exited"; fi
  done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  build) build ;;
  up) up ;;
  deploy) deploy ;;
  undeploy) undeploy ;;
  previous) previous ;;
  lb) lb "$@" ;;
  gateway) gateway "$@" ;;
  restart) restart "$@" ;;
  node) node_cmd "$@" ;;
  crash) crash "$@" ;;
  down) down ;;
  env) print_env ;;
  status) status ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
esac
