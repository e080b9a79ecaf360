//go:build tools

// Package tools pins the metallb command built by scripts/testenv.sh.
package tools

import _ "go.universe.tf/metallb/controller"
