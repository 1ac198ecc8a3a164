#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the suite needs from the repo's own files, then
# type-checks, lints and runs the unit and end-to-end tests. `npm test -- --unit` runs only the fast part.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

unit_only=false
for arg in "$@"; do
  case "$arg" in
    --unit) unit_only=true ;;
    *) die "unknown option '$arg' (supported: --unit)" ;;
  esac
done

ensure_node_modules
ensure_apt_packages

# The OpenTelemetry Collector build validates the log shipper's config in the unit suite (cached).
bash "$REPO_ROOT/scripts/install-logsink-tools.sh" otelcol

log "type-checking (tsc --noEmit)"
npx tsc --noEmit -p tsconfig.json
log "linting (eslint)"
npx eslint --max-warnings 0 .

if $unit_only; then
  exec npx vitest run --project unit
fi
ensure_pulumi --only cli,kubernetes,random,command,docker
log "running unit and end-to-end tests"
exec npx vitest run
