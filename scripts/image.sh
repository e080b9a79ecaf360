#!/usr/bin/env bash
# Build kafka-advertiser's multi-arch OCI image without a container engine.
#
#   scripts/image.sh [OUT]     OUT defaults to target/image/oci (an OCI image layout directory)
#
# Static musl binaries for linux/amd64 and linux/arm64, cross-linked by zig (cargo-zigbuild), then
# scripts/oci_image.py writes one layer per platform (the binary, /etc/passwd and /etc/group from
# image/etc; no shell), user 65532, entrypoint `kafka-advertiser serve`, OCI labels, and an index.
# Publish with any OCI tool, e.g. `crane push --index target/image/oci ghcr.io/OWNER/kafka-advertiser:V`
# (.github/workflows/release.yml does that on a tag). The Dockerfile builds the same layout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/target/image/oci}
cd "$ROOT"
say() { printf '[image] %s\n' "$*" >&2; }
t0=$SECONDS

command -v cargo-zigbuild >/dev/null 2>&1 ||
  python3 -m pip install --quiet --disable-pip-version-check --only-binary=:all: --require-hashes -r scripts/image-requirements.txt
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null

# The image carries a stripped binary without debug info: smaller, and quicker to build.
export CARGO_PROFILE_RELEASE_DEBUG=none CARGO_PROFILE_RELEASE_STRIP=symbols
declare -A TRIPLE=([amd64]=x86_64-unknown-linux-musl [arm64]=aarch64-unknown-linux-musl)
bins=()
for arch in amd64 arm64; do
  t=$SECONDS
  cargo zigbuild --locked --release --target "${TRIPLE[$arch]}" --bin kafka-advertiser --quiet
  bins+=("$arch=${CARGO_TARGET_DIR:-$ROOT/target}/${TRIPLE[$arch]}/release/kafka-advertiser")
  say "linux/$arch binary: $((SECONDS - t)) s"
done

version=$(awk -F'"' '/^version = / {print $2; exit}' Cargo.toml)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
rm -rf "$OUT"
python3 scripts/oci_image.py --out "$OUT" --version "$version" --revision "$revision" \
  --source "${IMAGE_SOURCE:-https://github.com/${GITHUB_REPOSITORY:-kafka-advertiser/kafka-advertiser}}" "${bins[@]}"
say "image $version in $OUT ($((SECONDS - t0)) s)"
