#!/usr/bin/env bash
# Builds Prometheus Alertmanager and amtool from their Go module, for the alert-routing tests.
# Debian 12's prometheus-alertmanager is 0.25.0, which refuses the `url_file` field of a webhook
# receiver (added in 0.26): the generated configuration keeps the webhook URL in a secret file and
# never in the configuration itself, so it needs a newer Alertmanager, as the Prometheus Operator's
# current images are. The build is cached under
#   ${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/alertmanager/bin/{alertmanager,amtool}-<version>
# (about 3 minutes on 2 cores the first time; milliseconds afterwards). Prints the two paths, one a
# line: alertmanager first, amtool second.
#
# Usage: scripts/install-alertmanager.sh [--check]   (--check: print the paths if built, exit 1 if not)
set -euo pipefail

ALERTMANAGER_VERSION="v0.28.1"

cache="${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/alertmanager"
am="$cache/bin/alertmanager-$ALERTMANAGER_VERSION"
amtool="$cache/bin/amtool-$ALERTMANAGER_VERSION"
if [[ -x "$am" && -x "$amtool" ]]; then
    printf '%s\n%s\n' "$am" "$amtool"
    exit 0
fi
if [[ "${1:-}" == "--check" ]]; then
    exit 1
fi

command -v go >/dev/null || {
    echo "go is not installed: install Go 1.23 or newer first" >&2
    exit 1
}
export GOMODCACHE="$cache/gomod"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS=-buildvcs=false
# As in install-logsink-tools.sh: the checksum database is not reachable through this network's module
# proxy; set GOSUMDB=sum.golang.org where it is.
export GOSUMDB="${GOSUMDB:-off}"

work="$cache/build-$ALERTMANAGER_VERSION"
rm -rf "$work"
mkdir -p "$work" "$cache/bin"
GOBIN="$work" go install -trimpath -ldflags "-s -w" \
    "github.com/prometheus/alertmanager/cmd/alertmanager@$ALERTMANAGER_VERSION" \
    "github.com/prometheus/alertmanager/cmd/amtool@$ALERTMANAGER_VERSION" >&2
install -m 0755 "$work/alertmanager" "$am"
install -m 0755 "$work/amtool" "$amtool"
rm -rf "$work"
printf '%s\n%s\n' "$am" "$amtool"
