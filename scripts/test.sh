#!/usr/bin/env bash
# The test command (README, .ci/run). From empty caches it first installs or builds everything the
# tests need, each a numbered step that names itself when it fails; then it type-checks, lints and runs
# every vitest project. Nothing is skipped for a missing prerequisite: a prerequisite that cannot be
# installed fails the run.
#   npm test              everything
#   npm test -- --unit    the unit project and what it needs
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

# Each prerequisite: a label and the command that installs it (idempotent, cached by version: seconds on
# a warm machine). The unit project needs the first three; the end-to-end projects need all of them.
declare -a labels=() commands=()
need() { labels+=("$1"); commands+=("$2"); }
need "npm dependencies (package-lock.json)" "ensure_node_modules"
need "Debian packages (scripts/apt-packages.txt)" "ensure_apt_packages"
need "OpenTelemetry Collector and MinIO builds (scripts/install-logsink-tools.sh)" "bash scripts/install-logsink-tools.sh all >/dev/null"
need "Alertmanager and amtool build (scripts/install-alertmanager.sh)" "bash scripts/install-alertmanager.sh >/dev/null"
if ! $unit_only; then
  need "Pulumi CLI, language host and providers (scripts/toolchain.sh)" "bash scripts/toolchain.sh"
  need "Triton Inference Server from PyPI's nvidia-pytriton (scripts/install-triton.sh)" "bash scripts/install-triton.sh --print-path >/dev/null"
  need "Kubernetes control plane, etcd and kwok builds (scripts/cluster.sh build)" "bash scripts/cluster.sh build"
fi

started=$SECONDS
for i in "${!labels[@]}"; do
  step_start=$SECONDS
  log "step $((i + 1))/${#labels[@]}: ${labels[$i]}"
  eval "${commands[$i]}" || die "step $((i + 1))/${#labels[@]} failed: ${labels[$i]} (its output is above; nothing was tested)"
  log "step $((i + 1))/${#labels[@]} done in $((SECONDS - step_start)) s"
done
$unit_only || eval "$(bash scripts/toolchain.sh --print-env)"
log "prerequisites ready in $((SECONDS - started)) s"

log "type-checking (tsc --noEmit)"
npx tsc --noEmit -p tsconfig.json
log "linting (eslint)"
npx eslint --max-warnings 0 .

# Runs vitest, then prints the closing line ("vitest: N passed, N failed, N skipped") that CI and people
# read: scripts/vitest-summary.js counts files that failed to load and unhandled errors as failures and a
# skipped test as not passed, and its exit status is the run's.
run_vitest() {
  local report status
  report="$(mktemp)"
  log "running vitest $*"
  set +e
  npx vitest run "$@" --reporter=default --reporter=json --outputFile.json="$report"
  status=$?
  set -e
  local verdict=0
  node scripts/vitest-summary.js "$report" "$status" || verdict=$?
  rm -f "$report"
  return "$verdict"
}

if $unit_only; then
  run_vitest --project unit
else
  run_vitest --project unit --project e2e --project e2e-server
fi
