# shellcheck shell=bash
# Sourced by scripts/testenv.sh and scripts/matrix.sh, with TOOLS set to the tool modules' directory.
# The version of a module one of the tool modules requires, e.g. `modver k8s k8s.io/kubernetes`.
modver() { awk -v m="$2" '$1==m || ($1=="require" && $2==m) {print ($1=="require") ? $3 : $2; exit}' "$TOOLS/$1/go.mod"; }
