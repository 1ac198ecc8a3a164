#!/usr/bin/env bash
# Builds the dialogue service's image from this repository's source, with no Docker engine and no
# registry: base = a Debian 12 root file system with nodejs (scripts/rootfs.sh, cached), layer 2 = the
# transpiled service and its production dependencies (scripts/build-dialogue-image.mjs). Writes an OCI
# image layout archive and prints the reference to put in `dialogue.image`:
#   <repository>@sha256:<manifest digest>
#   image-id sha256:<config digest>        (Docker's image ID after `docker load`)
#
# Usage: scripts/build-dialogue-image.sh [OUT]   (default out/images/dialogue.oci.tar)
#   DIALOGUE_IMAGE_REPOSITORY  repository name (default localhost/triton-platform/dialogue)
# Then, by target (docs/DIALOGUE.md):
#   registry (prod): skopeo copy --preserve-digests oci-archive:OUT docker://<registry>/<repo>:<tag>
#                    and set dialogue.image to <registry>/<repo>@sha256:<manifest digest>
#   a node without a registry (dev, kind/k3s): ctr -n k8s.io images import OUT
#   the lightweight server: the stack copies OUT over SSH and runs `docker load` (components/dialogue/server.ts)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$root/out/images/dialogue.oci.tar}"
repo="${DIALOGUE_IMAGE_REPOSITORY:-localhost/triton-platform/dialogue}"
tag="$(node -p 'require(process.argv[1]).version' "$root/package.json")"
tar="$(bash "$here/rootfs.sh" --print-tar nodejs ca-certificates)"
node "$here/build-dialogue-image.mjs" "$tar" "$out" "$repo" "$tag"
