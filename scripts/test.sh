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

# Runs vitest, then prints one plain closing line ("vitest: N passed, N failed, N skipped") that CI and
# people can read without parsing vitest's own summary.
run_vitest() {
  local report status
  report="$(mktemp)"
  log "running vitest $*"
  set +e
  npx vitest run "$@" --reporter=default --reporter=json --outputFile.json="$report"
  status=$?
  set -e
  # shellcheck disable=SC2016 # a JavaScript template literal, not a shell expansion
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
  ' "$report" || log "no vitest report was written"
  rm -f "$report"
  return "$status"
}

if $unit_only; then
  run_vitest --project unit
  exit
fi
ensure_pulumi --only cli,kubernetes,random
projects=(--project unit --project e2e)
# The server path needs the command and docker providers, which the offline toolchain cannot build here
# (their modules are not served by the Go module proxy): run it where they are installed, and say so
# where they are not, rather than counting it as passed.
if bash "$REPO_ROOT/scripts/toolchain.sh" --only command,docker >/dev/null 2>&1; then
  projects+=(--project e2e-server)
else
  log "NOT RUN: test/e2e/server.test.ts (lightweight server over SSH + Docker): the command 1.2.1 and docker 5.2.0"
  log "provider plugins are not installed and cannot be built offline here; see docs/OFFLINE-TOOLCHAIN.md."
  log "Install them (pulumi plugin install, or scripts/toolchain.sh --only command,docker) and run: npx vitest run --project e2e-server"
fi
run_vitest "${projects[@]}"
