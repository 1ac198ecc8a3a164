#!/usr/bin/env bash
# The test command (README, .ci/run). From empty caches it first installs or builds everything the
# tests need, each a numbered step that names itself when it fails; then it type-checks, lints and runs
# every vitest project. Nothing is skipped for a missing prerequisite: a prerequisite that cannot be
# installed fails the run.
#   npm test                                  every tier, after tsc and eslint
#   npm test -- --tier unit                   one tier and what it needs (npm run test:unit, ...):
#                 unit | integration | e2e | e2e-server
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

tier=all
while (($#)); do
  case "$1" in
    --tier) tier=${2:-}; shift ;;
    --tier=*) tier=${1#--tier=} ;;
    --unit) tier=unit ;;
    *) die "unknown option '$1' (supported: --tier unit|integration|e2e|e2e-server)" ;;
  esac
  shift
done
case "$tier" in
  all) projects=(unit integration e2e e2e-server); level=3 ;;
  unit) projects=(unit); level=1 ;;
  integration) projects=(integration); level=2 ;;
  e2e | e2e-server) projects=("$tier"); level=3 ;;
  *) die "unknown tier '$tier': use unit, integration, e2e or e2e-server" ;;
esac

# Each prerequisite: a label and the command that installs it (idempotent, cached by version: seconds on
# a warm machine). unit needs npm packages only; integration adds the system tools and source builds its
# tests run; the end-to-end tiers add the Pulumi toolchain, Triton and the local control plane.
declare -a labels=() commands=()
need() { labels+=("$1"); commands+=("$2"); }
need "npm dependencies (package-lock.json)" "ensure_node_modules"
if ((level >= 2)); then
  need "Debian packages (scripts/apt-packages.txt)" "ensure_apt_packages"
  need "OpenTelemetry Collector and MinIO builds (scripts/install-logsink-tools.sh)" "bash scripts/install-logsink-tools.sh all >/dev/null"
  need "Alertmanager and amtool build (scripts/install-alertmanager.sh)" "bash scripts/install-alertmanager.sh >/dev/null"
fi
if ((level >= 3)); then
  need "Pulumi CLI, language host and providers (scripts/toolchain.sh)" "bash scripts/toolchain.sh"
  need "Triton Inference Server from PyPI's nvidia-pytriton (scripts/install-triton.sh)" "bash scripts/install-triton.sh --print-path >/dev/null"
  need "Triton image from Debian packages and that Triton (scripts/build-triton-image.sh, scripts/rootfs.sh)" "bash scripts/build-triton-image.sh >/dev/null"
  need "Kubernetes control plane, etcd and kwok builds (scripts/cluster.sh build)" "bash scripts/cluster.sh build"
fi

started=$SECONDS
for i in "${!labels[@]}"; do
  step_start=$SECONDS
  log "step $((i + 1))/${#labels[@]}: ${labels[$i]}"
  eval "${commands[$i]}" || die "step $((i + 1))/${#labels[@]} failed: ${labels[$i]} (its output is above; nothing was tested)"
  log "step $((i + 1))/${#labels[@]} done in $((SECONDS - step_start)) s"
done
((level < 3)) || eval "$(bash scripts/toolchain.sh --print-env)"
log "prerequisites ready in $((SECONDS - started)) s"

if [[ $tier == all ]]; then
  log "type-checking (tsc --noEmit)"
  npx tsc --noEmit -p tsconfig.json
  log "linting (eslint)"
  npx eslint --max-warnings 0 .
fi

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

args=()
for p in "${projects[@]}"; do args+=(--project "$p"); done
run_vitest "${args[@]}"
