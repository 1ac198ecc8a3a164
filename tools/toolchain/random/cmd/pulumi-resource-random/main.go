// pulumi-resource-random for the offline toolchain. schema.json and
// bridge-metadata.json are generated next to this file by pulumi-tfgen-random
// at build time (scripts/toolchain.sh builds in a scratch copy of this folder);
// they are not committed.
package main

import (
	"context"
	_ "embed"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"triton-platform/tools/toolchain/random/provider"
)

// version is set with -ldflags "-X main.version=4.21.2".
var version = "0.0.0-dev"

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	// The upstream provider is a Plugin Framework provider: serve it with the
	// bridge's Plugin Framework entry point.
	pf.Main(context.Background(), "random", provider.Provider(version, metadata),
		pf.ProviderMetadata{PackageSchema: schema})
}
