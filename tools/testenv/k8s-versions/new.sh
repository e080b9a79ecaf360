#!/usr/bin/env bash
# Writes the Go module that builds one Kubernetes version's control plane for scripts/testenv.sh
# (KAFKA_ADVERTISER_TESTENV_K8S=vX.Y.Z): tools/testenv/k8s-versions/X.Y/{go.mod,go.sum,tools.go}.
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, …) with local paths, so a module that
# imports it names each one at the matching v0.Y.Z. Run once per version; commit the result.
set -euo pipefail
v=${1:?usage: new.sh vX.Y.Z}
[[ $v =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "new.sh: expected vX.Y.Z, got $v" >&2; exit 2; }
minor=${BASH_REMATCH[1]} patch=${BASH_REMATCH[2]}
here=$(cd "$(dirname "$0")" && pwd)
dir=$here/1.$minor
mkdir -p "$dir"
gomod=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
gover=$(awk '$1=="go" {print $2; exit}' "$gomod")
{
  printf 'module kafka-advertiser/testenv/k8s-1.%s\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$minor" "$gover" "$v"
  awk '$2=="=>" && $3 ~ /^\.\/staging\// {print $1}' "$gomod" | sort -u |
    while read -r m; do printf '\t%s => %s v0.%s.%s\n' "$m" "$m" "$minor" "$patch"; done
  printf ')\n'
} >"$dir/go.mod"
cp "$here/../k8s/tools.go" "$dir/tools.go"
(cd "$dir" && go mod tidy)
echo "wrote $dir (k8s.io/kubernetes $v, go $gover)"
