// Package shim exposes the upstream Terraform random provider, whose
// implementation lives in an internal package. Go only allows importing
// github.com/terraform-providers/terraform-provider-random/internal/... from
// packages whose import path starts with
// github.com/terraform-providers/terraform-provider-random/, which is why this
// one-function module carries that path (the wrapper's go.mod replaces it with
// ./shim). Part of the offline toolchain (scripts/toolchain.sh).
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"

	upstream "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns the upstream Plugin Framework provider.
func NewProvider() provider.Provider { return upstream.New() }
