// Package provider maps the upstream Terraform random provider to the Pulumi
// package "random" the way the @pulumi/random npm SDK expects: every resource
// random_<x> becomes random:index/random<X>:Random<X>, and property names are
// the bridge's default camelCase renames of the Terraform attributes.
//
// Part of the offline toolchain (scripts/toolchain.sh): the module proxy that
// is reachable here serves the upstream Terraform provider and the Pulumi
// Terraform bridge, but not github.com/pulumi/pulumi-random/provider/v4, so
// this wrapper re-does its (small) mapping. See docs/OFFLINE-TOOLCHAIN.md.
package provider

import (
	"context"
	"errors"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Provider returns the bridge configuration. metadata is the content of
// bridge-metadata.json written by pulumi-tfgen-random ("{}" when generating).
func Provider(version string, metadata []byte) tfbridge.ProviderInfo {
	prov := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(shim.NewProvider()),
		Name:         "random",
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		Keywords:     []string{"pulumi", "random"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-random",
		Version:      version,
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Resources: map[string]*tfbridge.ResourceInfo{
			// random_bytes has no "id" attribute; its ID is the base64 value.
			"random_bytes": {ComputeID: bytesID},
		},
		JavaScript:                  &tfbridge.JavaScriptInfo{RespectSchemaVersion: true},
		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
	}
	prov.MustComputeTokens(tokens.SingleModule("random_", "index",
		func(module, name string) (string, error) {
			return tokens.MakeStandard("random")(module, "Random"+name)
		}))
	prov.MustApplyAutoAliases()
	return prov
}

func bytesID(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
	v, ok := state["base64"]
	if !ok {
		return "", errors.New("random_bytes: no base64 property in state")
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		return "", errors.New("random_bytes: base64 property is not a string")
	}
	return resource.ID(v.StringValue()), nil
}
