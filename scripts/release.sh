#!/usr/bin/env bash
# Build the release artifacts of kafka-advertiser, without a container engine or a registry:
#
#   scripts/release.sh [OUT]     OUT defaults to target/release-artifacts
#   scripts/release.sh --index OUT [DARWIN]
#                                adds darwin archives from DARWIN/{amd64,arm64}/kafka-advertiser (built on
#                                a macOS runner by .github/workflows/release.yml) to OUT, then writes the
#                                krew manifest and SHA256SUMS again over every archive in OUT
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
# the README disagree with it. darwin binaries are not built here: the musl cross toolchain (cargo
# zigbuild) has no macOS SDK for aws-lc-rs's C code; the release workflow builds them on macOS and
# runs `--index`. Checked by `cargo test --features release --test release`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
INDEX_ONLY=0 DARWIN=""
if [ "${1:-}" = --index ]; then
  INDEX_ONLY=1 OUT=${2:?--index OUT [DARWIN]} DARWIN=${3:-}
else
  OUT=${1:-$ROOT/target/release-artifacts}
fi
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

if [ "$INDEX_ONLY" = 0 ]; then
  HELM=${HELM:-${KAFKA_ADVERTISER_TESTENV_HELM:-$(ls -d "${XDG_CACHE_HOME:-$HOME/.cache}"/kafka-advertiser/testenv/bin/helm-*/helm 2>/dev/null | head -1)}}
  [ -x "$HELM" ] || die "helm not found: run scripts/testenv.sh build (it builds helm), or set HELM"
  command -v kubectl >/dev/null || die "kubectl is needed (kubectl kustomize)"
fi

# One CLI archive: the binary and the licence, reproducible (sorted, owner 0, mtime 0).
archive() { # os arch binary
  local stage; stage=$(mktemp -d)
  cp "$3" "$stage/kafka-advertiser"; chmod 0755 "$stage/kafka-advertiser"; cp LICENSE "$stage/"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -czf \
    "$OUT/kafka-advertiser_${version}_$1_$2.tar.gz" kafka-advertiser LICENSE
  rm -rf "$stage"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# The krew manifest over every CLI archive in OUT, then SHA256SUMS over every file.
index() {
  mkdir -p "$OUT/krew"
  {
    cat <<KREW
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
KREW
    for tgz in "$OUT"/kafka-advertiser_"${version}"_*_*.tar.gz; do
      local platform os arch
      platform=${tgz##*/kafka-advertiser_"${version}"_}; platform=${platform%.tar.gz}
      os=${platform%_*}; arch=${platform#*_}
      cat <<PLATFORM
    - selector:
        matchLabels:
          os: $os
          arch: $arch
      uri: https://github.com/$REPO/releases/download/v$version/${tgz##*/}
      sha256: $(sha "$tgz")
      files:
        - from: kafka-advertiser
          to: .
        - from: LICENSE
          to: .
      bin: kafka-advertiser
PLATFORM
    done
  } >"$OUT/krew/kafka-advertiser.yaml"
  (cd "$OUT" && find . -type f ! -name SHA256SUMS ! -path './chart-oci/*' | sort | sed 's#^\./##' | xargs sha256sum >SHA256SUMS)
}

if [ "$INDEX_ONLY" = 1 ]; then
  for arch in amd64 arm64; do
    [ -z "$DARWIN" ] || [ ! -x "$DARWIN/$arch/kafka-advertiser" ] || archive darwin "$arch" "$DARWIN/$arch/kafka-advertiser"
  done
  index
  say "index of $version in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
  exit 0
fi

rm -rf "$OUT"; mkdir -p "$OUT/krew"
declare -A TRIPLE=([amd64]=x86_64-unknown-linux-musl [arm64]=aarch64-unknown-linux-musl)
for arch in amd64 arm64; do
  bin=${CARGO_TARGET_DIR:-$ROOT/target}/${TRIPLE[$arch]}/release/kafka-advertiser
  if [ ! -x "$bin" ]; then
    say "building linux/$arch (cargo zigbuild; scripts/image.sh builds the same)"
    CARGO_PROFILE_RELEASE_DEBUG=none CARGO_PROFILE_RELEASE_STRIP=symbols \
      cargo zigbuild --locked --release --target "${TRIPLE[$arch]}" --bin kafka-advertiser --quiet
  fi
  archive linux "$arch" "$bin"
done
"$HELM" package charts/kafka-advertiser -d "$OUT" >/dev/null
python3 scripts/oci_chart.py --out "$OUT/chart-oci" "$OUT/kafka-advertiser-$version.tgz"
kubectl kustomize deploy >"$OUT/install.yaml"
index
say "release $version in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
