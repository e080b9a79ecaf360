#!/usr/bin/env bash
# The compatibility matrix: for each Kubernetes version, a fresh test control plane
# (scripts/testenv.sh with KAFKA_ADVERTISER_TESTENV_K8S), each install (kustomize, Helm), and one
# e2e group per mode family; writes the dated table to docs/compatibility.md (or --out).
#
#   scripts/matrix.sh                                   every version with a module, both installs
#   scripts/matrix.sh --versions "v1.30.14 v1.37.2"     those versions only
#   scripts/matrix.sh --ends --installs kustomize --out FILE
#                                                       the oldest and newest pinned, one install (CI)
#   scripts/matrix.sh --ends --prebuild                 only build (and cache) those versions' control
#                                                       planes, touching no running one (CI, niced)
#   scripts/matrix.sh --versions "" --parts "gateway-api=v1.5.1-experimental metallb=v0.13.12"
#                                                       only other parts' versions, each on a fresh
#                                                       control plane of the default version
#                                                       (kustomize); the other rows are kept from --out
#
# Needs what scripts/testenv.sh build needs. Each version's binaries are cached like the default's.
# Stops a running test control plane first (scripts/testenv.sh down) and leaves none running; with
# --prebuild it touches none.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TOOLS=tools/testenv
# shellcheck source=scripts/modver.sh
. "$ROOT/scripts/modver.sh"

versions="" ends=0 installs="kustomize helm" out=docs/compatibility.md prebuild=0 parts="" only_gw=0
while [ $# -gt 0 ]; do
  case $1 in
    --versions) versions=$2; [ -n "$2" ] || only_gw=1; shift 2 ;;
    --parts) parts=$2; shift 2 ;;
    --ends) ends=1; shift ;;
    --installs) installs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --prebuild) prebuild=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "matrix: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$versions" ] && [ "$only_gw" = 0 ]; then
  versions=$(for d in "$TOOLS"/k8s "$TOOLS"/k8s-versions/1.*; do modver "${d#"$TOOLS"/}" k8s.io/kubernetes; done | sort -V | tr '\n' ' ')
  [ "$ends" = 0 ] || versions="$(awk '{print $1, $NF}' <<<"$versions")"
fi

# Build into the cache only: a state directory of its own, this checkout's binary as the product (no
# cargo build), so a control plane already running and the e2e suite using it are left alone.
if [ "$prebuild" = 1 ]; then
  for v in $versions; do
    t0=$SECONDS
    KAFKA_ADVERTISER_TESTENV_K8S=$v KAFKA_ADVERTISER_TESTENV_DIR="$ROOT/target/prebuild/$v" \
      KAFKA_ADVERTISER_TESTENV_PRODUCT="$ROOT/target/release/kafka-advertiser" scripts/testenv.sh build
    echo "[matrix] $v: built in $((SECONDS - t0)) s"
  done
  exit 0
fi

# The groups: a name, the minimum Kubernetes minor it needs here (0: none), the e2e tests (exact names).
TEST_GROUPS=(
  "install and check|0|check::check_passes_on_the_install_and_names_what_fails"
  "loadbalancer|0|admission::statefulset_pods_get_listeners_affinity_and_annotation services::loadbalancer_mode_scale_and_garbage_collection"
  "shared-address|0|services::shared_address_mode_gets_one_metallb_ip"
  "nodeport|0|services::node_port_clash_is_refused_and_reported"
  "pod-ip, rack from the zone label|35|discovery::pod_ip_mode_with_rack_awareness"
  "access classes (CRD, ClassInvalid)|0|tenancy::an_invalid_class_fails_closed_with_class_invalid tenancy::a_tenant_gets_what_its_class_allows_and_nothing_else"
  "gateway-tcp, gateway-tls|31|gateway::gateway_tcp_one_address_a_port_per_broker gateway::gateway_tls_routes_each_broker_by_name"
  "real Kafka round trip|0|kafka::smoke::real_kafka_clients_reach_every_broker_through_its_load_balancer"
)

FEATURES=e2e,image,release
cargo build --locked --release --quiet
cargo test --locked --features "$FEATURES" --test e2e --no-run --quiet 2>/dev/null
logs=target/matrix; mkdir -p "$logs"
rows=()
trap 'scripts/testenv.sh down >/dev/null 2>&1 || true' EXIT

for v in $versions; do
  export KAFKA_ADVERTISER_TESTENV_K8S=$v
  minor=$(cut -d. -f2 <<<"$v")
  scripts/testenv.sh down >/dev/null 2>&1 || true
  rm -rf target/testenv
  t0=$SECONDS
  if ! scripts/testenv.sh build >"$logs/$v-build.log" 2>&1 || ! scripts/testenv.sh up >"$logs/$v-up.log" 2>&1; then
    echo "[matrix] $v: the control plane did not build or start (logs: $logs/$v-*.log)"
    rows+=("| $v | (any) | the control plane did not build or start: see \`$logs/$v-up.log\` |")
    continue
  fi
  echo "[matrix] $v: up in $((SECONDS - t0)) s"
  for how in $installs; do
    export KAFKA_ADVERTISER_TESTENV_INSTALL=$how
    cells=""
    if ! scripts/testenv.sh deploy >"$logs/$v-$how-deploy.log" 2>&1; then
      echo "[matrix] $v $how: deploy failed (log: $logs/$v-$how-deploy.log)"
      rows+=("| $v | $how | deploy failed (every CRD and object applied?): see \`$logs/$v-$how-deploy.log\` |")
      continue
    fi
    for g in "${TEST_GROUPS[@]}"; do
      IFS='|' read -r name need tests <<<"$g"
      if [ "$minor" -lt "$need" ]; then cells+=" n/a (needs 1.$need) |"; continue; fi
      n=$(wc -w <<<"$tests") log="$logs/$v-$how-${name//[^a-z]/_}.log"
      # shellcheck disable=SC2086 # the test names, one word each
      if cargo test --locked --features "$FEATURES" --test e2e -- --exact $tests >"$log" 2>&1 \
        && grep -q "test result: ok. $n passed" "$log"; then
        cells+=" pass |"
      else
        cells+=" **fail** |"
        echo "[matrix] $v $how: $name failed (log: $log)"
      fi
    done
    echo "[matrix] $v $how:$cells"
    rows+=("| $v | $how |$cells")
  done
  unset KAFKA_ADVERTISER_TESTENV_INSTALL
  scripts/testenv.sh down >/dev/null 2>&1 || true
done
unset KAFKA_ADVERTISER_TESTENV_K8S
k8s_date=""
if [ "$only_gw" = 1 ]; then # the date the kept rows were measured on
  k8s_date=$(sed -n 's/.*(the Kubernetes rows on \([0-9-]*\)).*/\1/p' "$out" 2>/dev/null || true)
  [ -n "$k8s_date" ] || k8s_date=$(sed -n 's/^Written by `scripts\/matrix.sh` on \([0-9-]*\).*/\1/p' "$out" 2>/dev/null || true)
fi
[ "$only_gw" = 0 ] || mapfile -t rows < <(grep -E '^\| v1\.[0-9]+\.[0-9]+ \| (kustomize|helm|\(any\)) \|' "$out" 2>/dev/null || true)

# Other parts' versions (Gateway API releases and channels, MetalLB), each on a fresh control plane of
# the default Kubernetes version, kustomize: PART=VERSION sets KAFKA_ADVERTISER_TESTENV_<PART>.
PART_GROUPS=(
  "install and check|check::check_passes_on_the_install_and_names_what_fails"
  "loadbalancer|services::loadbalancer_mode_scale_and_garbage_collection"
  "shared-address|services::shared_address_mode_gets_one_metallb_ip"
  "gateway-tcp|gateway::gateway_tcp_one_address_a_port_per_broker"
  "gateway-tls|gateway::gateway_tls_routes_each_broker_by_name"
  "real Kafka round trip|kafka::smoke::real_kafka_clients_reach_every_broker_through_its_load_balancer"
)
part_rows=()
for p in $parts; do
  var=KAFKA_ADVERTISER_TESTENV_$(tr 'a-z-' 'A-Z_' <<<"${p%%=*}") value=${p#*=} label="${p%%=*} ${p#*=}"
  export "$var=$value" KAFKA_ADVERTISER_TESTENV_INSTALL=kustomize
  scripts/testenv.sh down >/dev/null 2>&1 || true
  rm -rf target/testenv
  if ! scripts/testenv.sh build >"$logs/part-$p-build.log" 2>&1 || ! scripts/testenv.sh up >"$logs/part-$p-up.log" 2>&1 \
    || ! scripts/testenv.sh deploy >"$logs/part-$p-deploy.log" 2>&1; then
    echo "[matrix] $label: the control plane did not build, start or deploy (logs: $logs/part-$p-*.log)"
    part_rows+=("| $label | | did not build, start or deploy: see \`$logs/part-$p-up.log\` |")
    unset "$var"
    continue
  fi
  tcp=$(scripts/testenv.sh env | sed -n 's/^export KAFKA_ADVERTISER_TESTENV_TCPROUTE_VERSION=//p')
  cells=""
  for grp in "${PART_GROUPS[@]}"; do
    IFS='|' read -r name tests <<<"$grp"
    log="$logs/part-$p-${name//[^a-z]/_}.log"
    # shellcheck disable=SC2086 # the test names, one word each
    if cargo test --locked --features "$FEATURES" --test e2e -- --exact $tests >"$log" 2>&1 \
      && grep -q "test result: ok. $(wc -w <<<"$tests") passed" "$log"; then
      cells+=" pass |"
    elif [ "$name" = gateway-tcp ] && [ "$tcp" = none ]; then
      cells+=" n/a (no TCPRoute in this channel) |"
    else
      cells+=" **fail** |"
      echo "[matrix] $label: $name failed (log: $log)"
    fi
  done
  echo "[matrix] $label (TCPRoute $tcp):$cells"
  part_rows+=("| $label | $tcp |$cells")
  unset "$var" KAFKA_ADVERTISER_TESTENV_INSTALL
  scripts/testenv.sh down >/dev/null 2>&1 || true
done
# The rows of parts not run this time: as --out had them, in their order, before this run's.
mapfile -t kept < <(sed -n '/^<!-- parts -->$/,/^<!-- \/parts -->$/p' "$out" 2>/dev/null | grep -E '^\| [a-z-]+ v' || true)
ran=" $parts " older=()
for r in "${kept[@]}"; do
  IFS='|' read -r _ label _ <<<"$r"
  label=$(xargs <<<"$label")
  [[ $ran == *" ${label/ /=} "* ]] || older+=("$r")
done
part_rows=("${older[@]}" "${part_rows[@]}")

header="| Kubernetes | install |" rule="|---|---|"
for g in "${TEST_GROUPS[@]}"; do header+=" ${g%%|*} |"; rule+="---|"; done
{
  cat <<EOF
# Compatibility

Written by \`scripts/matrix.sh\` on $(date -u +%Y-%m-%d)${k8s_date:+ (the Kubernetes rows on $k8s_date)}. Each row: a fresh test control plane of that
Kubernetes version (real kube-apiserver, kube-controller-manager, kube-scheduler and etcd; kwok nodes;
\`docs/testing.md\` says which parts play a role), kafka-advertiser installed one way, and the e2e tests
of each column run against it. "n/a" is a column whose APIs that version cannot serve.

Other parts, the same in every row: etcd $(modver etcd go.etcd.io/etcd/server/v3), MetalLB $(modver metallb go.universe.tf/metallb),
Gateway API $(modver crds sigs.k8s.io/gateway-api) (standard channel; its CRDs need 1.31), cert-manager
$(modver crds github.com/cert-manager/cert-manager) (only v1.21.x is served to this build; before 1.30 its CRDs are created without \`selectableFields\`, which
that CRD schema does not know), Apache Kafka
$(sed -n 's#.*<kafka.version>\(.*\)</kafka.version>.*#\1#p' "$TOOLS/kafka/pom.xml") (brokers and the Java client; brokers of images tagged
$(sed -n 's#.*<kafka.other.versions>\(.*\)</kafka.other.versions>.*#\1#p' "$TOOLS/kafka/pom.xml" | sed 's/ /, /g') run those versions, and
\`kafka::smoke\` round-trips the oldest and the newest). The Kafka clients and what each needs:
[clients.md](clients.md).

$header
$rule
EOF
  printf '%s\n' "${rows[@]}"
  cat <<EOF

Tests per column (\`cargo test --features e2e,image,release --test e2e -- --exact …\`):

EOF
  for g in "${TEST_GROUPS[@]}"; do
    IFS='|' read -r name need tests <<<"$g"
    printf -- '- %s: `%s`\n' "$name" "${tests// /\`, \`}"
  done
  if [ ${#part_rows[@]} -gt 0 ]; then
    cat <<EOF

<!-- parts -->
## Other parts' versions

Each row: a fresh control plane of the default Kubernetes version ($(modver k8s k8s.io/kubernetes)) with one part at
another version (\`KAFKA_ADVERTISER_TESTENV_GATEWAY_API\`: that release's CRDs from its own module, and channel;
\`KAFKA_ADVERTISER_TESTENV_METALLB\`: that MetalLB controller), the kustomize install. kafka-advertiser writes
each route kind at the version discovery finds served; "TCPRoute" is the one found. MetalLB v0.13.5 cannot be
built here (it needs \`k8s.io/kubernetes\` v1.21.23, which the Go module proxy refuses): v0.13.12 is the last
0.13 and, like it, knows only the \`metallb.universe.tf/\` annotation prefix. Gateway API v1.7.0's module
requires Go 1.27: its CRD files are downloaded by that toolchain (\`KAFKA_ADVERTISER_TESTENV_GOTOOLCHAIN\`).

| part | TCPRoute | install and check | loadbalancer | shared-address | gateway-tcp | gateway-tls | real Kafka round trip |
|---|---|---|---|---|---|---|---|
EOF
    printf '%s\n' "${part_rows[@]}"
    cat <<EOF

Tests:
EOF
    for grp in "${PART_GROUPS[@]}"; do
      IFS='|' read -r name tests <<<"$grp"
      printf -- '- %s: `%s`\n' "$name" "$tests"
    done
    echo "<!-- /parts -->"
  fi
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "[matrix] wrote $out"
! grep -q '\*\*fail\*\*\|did not build\|deploy failed' "$out"
