#!/usr/bin/env bash
# Runs a command with the project's Pulumi environment: the CLI and plugins that scripts/toolchain.sh
# installed, and the local file backend and per-machine passphrase that `npm run up` uses for the dev
# stack (unless PULUMI_BACKEND_URL / PULUMI_CONFIG_PASSPHRASE[_FILE] are already set).
#   npm run -s pulumi -- stack output --stack dev      (= bash scripts/env.sh pulumi ...)
#   npm run -s token -- --stack dev
#   eval "$(bash scripts/env.sh --print)"             the same environment in your shell
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

[ $# -gt 0 ] || die "usage: scripts/env.sh --print | <command> [args...]"

eval "$(bash "$REPO_ROOT/scripts/toolchain.sh" --print-env)"
command -v pulumi >/dev/null 2>&1 ||
  die "no Pulumi CLI is installed yet: run \`npm run up\` (or \`bash scripts/toolchain.sh\`) once first"
use_local_backend

if [ "$1" = "--print" ]; then
  for name in PATH PULUMI_HOME PULUMI_BACKEND_URL PULUMI_CONFIG_PASSPHRASE_FILE PULUMI_SKIP_UPDATE_CHECK PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION; do
    # A passphrase given as PULUMI_CONFIG_PASSPHRASE stays in the caller's environment: never print it.
    [ -n "${!name:-}" ] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  exit 0
fi
exec "$@"
