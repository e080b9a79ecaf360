//go:build tools

// Package tools pins helm for the chart tests (scripts/testenv.sh builds helm.sh/helm/v4/cmd/helm).
package tools

import _ "helm.sh/helm/v4/cmd/helm"
