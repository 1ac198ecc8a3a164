// pulumi-tfgen-random writes schema.json and bridge-metadata.json for the
// offline random provider build (scripts/toolchain.sh runs
// `pulumi-tfgen-random schema --out <dir> --skip-docs`).
package main

import (
	"os"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	"triton-platform/tools/toolchain/random/provider"
)

func main() {
	version := os.Getenv("VERSION")
	if version == "" {
		version = "0.0.0-dev"
	}
	tfgen.Main("random", version, provider.Provider(version, []byte("{}")))
}
