#!/usr/bin/env bash
# Builds the k6 load generator (go.k6.io/k6) from its Go module, for the serving benchmark
# (`npm run bench -- --only serving`): open-loop load at a constant arrival rate over HTTP and
# WebSocket. Debian packages no k6; its wrk and hey run closed loops only (a fixed number of
# connections, each waiting for its answer), which hide queueing delay past saturation.
# The build is cached under
#   ${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/k6/bin/k6-<version>
# keyed by version: about 4 minutes on 2 busy cores from an empty module cache, milliseconds
# afterwards. It prints its step and a line every minute; the go command's own output goes to
# k6/logs/k6-<version>.log, which the error names when the build fails. Prints the binary's path
# (stdout; everything else goes to stderr).
#
# Usage: scripts/install-k6.sh [--check]   (--check: print the path if built, exit 1 if not; no build)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

K6_VERSION="v1.8.1"

cache="${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/k6"
out="$cache/bin/k6-$K6_VERSION"
if [[ -x "$out" ]]; then
    echo "$out"
    exit 0
fi
[[ "${1:-}" == "--check" ]] && exit 1

go_version="$(ensure_go)"
mkdir -p "$cache/bin" "$cache/logs"
export GOMODCACHE="$cache/gomod"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS=-buildvcs=false
# As in install-logsink-tools.sh: the checksum database is not reachable through this network's module
# proxy; set GOSUMDB=sum.golang.org where it is.
export GOSUMDB="${GOSUMDB:-off}"

work="$cache/build-$K6_VERSION"
rm -rf "$work"
logf="$cache/logs/k6-$K6_VERSION.log"
log "step 1/1: k6 $K6_VERSION: go install (about 4 min on 2 busy cores from an empty module cache); output: $logf"
run_logged "k6 $K6_VERSION: go install" "$logf" \
    env GOBIN="$work" nice -n "${TOOLCHAIN_NICE:-10}" go install -v -trimpath -ldflags "-s -w" "go.k6.io/k6@$K6_VERSION"
install -m 0755 "$work/k6" "$out"
rm -rf "$work"
log "k6: $out"
echo "$out"
