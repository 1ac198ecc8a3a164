#!/usr/bin/env bash
# The main job: `pulumi up` (or preview/destroy) of the dev stack on a fresh machine, with no cluster,
# no cloud and no KMS: local file backend, passphrase secrets, manifests rendered to out/manifests/dev.
#   bash scripts/dev.sh [up|preview|destroy] [extra pulumi args]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

action="${1:-up}"
shift || true
case "$action" in up|preview|destroy|refresh) ;; *) die "unknown action '$action': use up, preview, destroy or refresh" ;; esac

ensure_node_modules
ensure_pulumi --only cli,kubernetes,random
use_local_backend

pulumi stack select dev >/dev/null 2>&1 || pulumi stack init dev --secrets-provider passphrase >/dev/null
case "$action" in
  up|destroy|refresh) pulumi "$action" --stack dev --yes --non-interactive --skip-preview "$@" ;;
  preview) pulumi preview --stack dev --non-interactive --diff "$@" ;;
esac
if [ "$action" = up ]; then
  log "manifests are in out/manifests/dev (Secrets in PLAIN TEXT there: never commit or share that folder)"
fi
