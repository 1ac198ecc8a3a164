# Shared shell helpers for the project's scripts. Source it; do not run it.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# Installs node_modules from the lock file unless they were installed from this very lock file (its
# SHA-256 is recorded after a successful `npm ci`; a file time would say "changed" after every clone).
ensure_node_modules() {
  local stamp="$REPO_ROOT/node_modules/.installed-from-lock" want
  want=$(sha256sum "$REPO_ROOT/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing npm dependencies from package-lock.json (npm ci)"
    (cd "$REPO_ROOT" && npm ci --no-audit --no-fund) || die "npm ci failed: check that the npm registry is reachable"
    printf '%s\n' "$want" >"$stamp"
  fi
}

# Installs the Debian packages listed in scripts/apt-packages.txt that are missing.
ensure_apt_packages() {
  local wanted missing=()
  wanted=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$REPO_ROOT/scripts/apt-packages.txt" | awk '{print $1}')
  for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing Debian packages ${missing[*]}: install them as root (apt-get install ${missing[*]})"
    sudo="sudo"
  fi
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq || die "apt-get update failed: check that the Debian mirror is reachable"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
}

# Builds or finds the Pulumi CLI and providers, then exports the environment to use them offline.
ensure_pulumi() {
  bash "$REPO_ROOT/scripts/toolchain.sh" "$@" || die "the Pulumi toolchain is not available (see docs/OFFLINE-TOOLCHAIN.md)"
  eval "$(bash "$REPO_ROOT/scripts/toolchain.sh" --print-env)"
}

# Local file backend and a per-machine passphrase for the dev stack, unless the caller set their own.
use_local_backend() {
  local state="$REPO_ROOT/.pulumi-state"
  mkdir -p "$state"
  export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$state}"
  if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    if [ ! -s "$state/passphrase" ]; then
      (umask 077 && head -c 32 /dev/urandom | base64 > "$state/passphrase")
      log "created a random passphrase for this machine's dev stack in .pulumi-state/passphrase (git-ignored)"
    fi
    export PULUMI_CONFIG_PASSPHRASE_FILE="$state/passphrase"
  fi
  export PULUMI_SKIP_UPDATE_CHECK=true
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
}

# Checks that `go` is on PATH and not older than tools/toolchain/GO_VERSION, the one Go requirement of
# the scripts that build from Go modules (toolchain.sh, install-logsink-tools.sh). Prints the version.
ensure_go() {
  local want have
  want="$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$REPO_ROOT/tools/toolchain/GO_VERSION" | head -1 | tr -d '[:space:]')"
  command -v go >/dev/null 2>&1 ||
    die "go is not on PATH: install Go $want or newer (tools/toolchain/GO_VERSION; Debian: golang-go from backports, or the go.dev tarball)"
  have="$(go env GOVERSION)"
  have="${have#go}"
  have="${have%% *}"
  [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" = "$want" ] ||
    die "Go $have is older than $want (tools/toolchain/GO_VERSION): the modules these scripts build need it, and GOTOOLCHAIN=local never downloads one. Install Go $want or newer first on PATH"
  printf '%s\n' "$have"
}

# run_logged LABEL LOGFILE COMMAND...: COMMAND's output goes to LOGFILE (headed by the label, the Go
# version in $go_version when the caller set it, and the start time); a heartbeat line every
# ${TOOLCHAIN_HEARTBEAT:-60} seconds with the modules downloaded so far; on failure the last lines and
# the log's path, and the script stops. For the scripts that build Go modules (install-logsink-tools.sh,
# install-k6.sh).
run_logged() {
  local label="$1" logf="$2" start pid next status heartbeat="${TOOLCHAIN_HEARTBEAT:-60}"
  shift 2
  start="$(date +%s)"
  next=$((start + heartbeat))
  printf '# %s, go%s, started %s\n' "$label" "${go_version:-?}" "$(date -u +%FT%TZ)" >"$logf"
  (
    set -e
    "$@"
  ) >>"$logf" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ "$(date +%s)" -ge "$next" ]; then
      log "  ... $label: $(($(date +%s) - start))s, $(grep -c '^go: downloading' "$logf") modules downloaded (log: $logf)"
      next=$((next + heartbeat))
    fi
  done
  status=0
  wait "$pid" || status=$?
  if [ "$status" -ne 0 ]; then
    log "last lines of $logf:"
    tail -n 25 "$logf" | sed 's/^/  | /' >&2
    die "$label failed (exit $status); the full output is in $logf"
  fi
}
