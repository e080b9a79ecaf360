#!/usr/bin/env bash
# Build the release artifacts of kafka-advertiser, without a container engine or a registry:
#
#   scripts/release.sh [OUT]     OUT defaults to target/release-artifacts
#
#   kafka-advertiser_<V>_linux_{amd64,arm64}.tar.gz   the static CLI (musl; the same binaries as the
#                                                      image, from scripts/image.sh) with LICENSE
#   SHA256SUMS                                         of every file here
#   kafka-advertiser-<V>.tgz                           the Helm chart (helm package)
#   chart-oci/                                         that chart as an OCI artifact (image layout, Helm's
#                                                      media types), pushed beside the image with any
#                                                      OCI tool: `oras cp --from-oci-layout chart-oci:<V> ...`
#   install.yaml                                       deploy/ rendered as one file (kubectl kustomize)
#   krew/kafka-advertiser.yaml                         the krew plugin manifest (`kubectl kafka-advertiser`)
#
# The version is Cargo.toml's; the script refuses to run when the chart, deploy/, the CHANGELOG and
# the README disagree with it. darwin binaries are not built: the musl cross toolchain here (cargo
# zigbuild) has no macOS SDK for aws-lc-rs's C code. Checked by `cargo test --features release --test release`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${1:-$ROOT/target/release-artifacts}
REPO=${RELEASE_REPOSITORY:-kafka-advertiser/kafka-advertiser}
say() { printf '[release] %s\n' "$*" >&2; }
die() { printf '[release] ERROR: %s\n' "$*" >&2; exit 1; }

version=$(awk -F'"' '/^version = / {print $2; exit}' Cargo.toml)
[ -n "$version" ] || die "no version in Cargo.toml"
grep -qx "version: $version" charts/kafka-advertiser/Chart.yaml || die "Chart.yaml version is not $version"
grep -qx "appVersion: \"$version\"" charts/kafka-advertiser/Chart.yaml || die "Chart.yaml appVersion is not $version"
grep -q "newTag: $version\$" deploy/kustomization.yaml || die "deploy/kustomization.yaml image tag is not $version"
grep -q "^## \[$version\] - [0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}\$" CHANGELOG.md || die "CHANGELOG.md has no '## [$version] - YYYY-MM-DD' section"
grep -q "kafka-advertiser:$version" README.md || die "README.md does not name the $version image"

HELM=${HELM:-${KAFKA_ADVERTISER_TESTENV_HELM:-$(ls -d "${XDG_CACHE_HOME:-$HOME/.cache}"/kafka-advertiser/testenv/bin/helm-*/helm 2>/dev/null | head -1)}}
[ -x "$HELM" ] || die "helm not found: run scripts/testenv.sh build (it builds helm), or set HELM"
command -v kubectl >/dev/null || die "kubectl is needed (kubectl kustomize)"

rm -rf "$OUT"; mkdir -p "$OUT/krew"
declare -A TRIPLE=([amd64]=x86_64-unknown-linux-musl [arm64]=aarch64-unknown-linux-musl)
for arch in amd64 arm64; do
  bin=${CARGO_TARGET_DIR:-$ROOT/target}/${TRIPLE[$arch]}/release/kafka-advertiser
  if [ ! -x "$bin" ]; then
    say "building linux/$arch (cargo zigbuild; scripts/image.sh builds the same)"
    CARGO_PROFILE_RELEASE_DEBUG=none CARGO_PROFILE_RELEASE_STRIP=symbols \
      cargo zigbuild --locked --release --target "${TRIPLE[$arch]}" --bin kafka-advertiser --quiet
  fi
  stage=$(mktemp -d)
  cp "$bin" "$stage/kafka-advertiser"; cp LICENSE "$stage/"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -czf \
    "$OUT/kafka-advertiser_${version}_linux_${arch}.tar.gz" kafka-advertiser LICENSE
  rm -rf "$stage"
done
"$HELM" package charts/kafka-advertiser -d "$OUT" >/dev/null
python3 scripts/oci_chart.py --out "$OUT/chart-oci" "$OUT/kafka-advertiser-$version.tgz"
kubectl kustomize deploy >"$OUT/install.yaml"
sha() { sha256sum "$1" | cut -d' ' -f1; }
cat >"$OUT/krew/kafka-advertiser.yaml" <<KREW
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: kafka-advertiser
spec:
  version: v$version
  homepage: https://github.com/$REPO
  shortDescription: Status and checks of kafka-advertiser installs and brokers
  description: |
    kubectl kafka-advertiser status shows what each broker of the opted-in Kafka StatefulSets
    advertises to outside clients, and why one waits or drifts; kubectl kafka-advertiser check
    verifies a live install (CRD, webhook, CA bundle, a dry-run admission, the controller's leader).
  platforms:
$(for arch in amd64 arm64; do cat <<PLATFORM
    - selector:
        matchLabels:
          os: linux
          arch: $arch
      uri: https://github.com/$REPO/releases/download/v$version/kafka-advertiser_${version}_linux_${arch}.tar.gz
      sha256: $(sha "$OUT/kafka-advertiser_${version}_linux_${arch}.tar.gz")
      files:
        - from: kafka-advertiser
          to: .
        - from: LICENSE
          to: .
      bin: kafka-advertiser
PLATFORM
done)
KREW
(cd "$OUT" && find . -type f ! -name SHA256SUMS ! -path './chart-oci/*' | sort | sed 's#^\./##' | xargs sha256sum >SHA256SUMS)
say "release $version in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
