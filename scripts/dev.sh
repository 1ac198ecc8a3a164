#!/usr/bin/env bash
# The main job: `pulumi up` (or preview/destroy/refresh) of the dev stack on a fresh machine, with no
# cluster, no cloud and no KMS: local file backend, passphrase secrets, manifests rendered to
# out/manifests/dev.
#   bash scripts/dev.sh [up|preview|destroy|refresh] [extra pulumi args]
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

if ! pulumi stack select dev >/dev/null 2>&1; then
  # Pulumi writes this machine's salt into the tracked Pulumi.dev.yaml. A salt without its stack (a
  # deleted .pulumi-state, a copied checkout) cannot match the new passphrase: drop it when no
  # secure value depends on it, else say what to do.
  if grep -q '^encryptionsalt:' Pulumi.dev.yaml; then
    if grep -q 'secure:' Pulumi.dev.yaml; then
      die "Pulumi.dev.yaml holds an encryptionsalt and secure values, but no dev stack exists in .pulumi-state (deleted, or a copied checkout): restore that .pulumi-state folder, or delete the encryptionsalt line and set the secure values again with \`npm run pulumi -- config set --secret <key> <value> --stack dev\`"
    fi
    sed -i '/^encryptionsalt:/d' Pulumi.dev.yaml
    log "removed a stale encryptionsalt from Pulumi.dev.yaml: it belonged to a dev stack that is not in .pulumi-state"
  fi
  pulumi stack init dev --secrets-provider passphrase >/dev/null
fi

# Render mode: the kubernetes provider warns up to four times for every Secret it writes (plan, create,
# file, and again in the Diagnostics summary). This folds those warnings into one line at the end and
# passes everything else through unchanged, so the warnings a user can act on are not buried.
fold_plaintext_warnings() {
  awk -v dir="out/manifests/dev" '
    function flush() { if (held != "") { print held; held = "" } }
    /^[[:space:]]+warning: rendered (YAML will contain|file .* contains) a secret value in plaintext$/ { folded++; next }
    /warning: rendered (YAML will contain|file .* contains) a secret value in plaintext$/ {
      folded++; sub(/[[:space:]]*warning: rendered .* a secret value in plaintext$/, ""); flush(); print; next
    }
    # A resource header of the Diagnostics section is printed only if a warning is left under it.
    /^  [^[:space:]].*\):$/ { flush(); held = $0; next }
    /^[[:space:]]*$/ { if (held != "") { held = ""; next } }
    { flush(); print }
    END {
      flush()
      if (folded) printf "\nwarning: render mode wrote the stack'"'"'s Secrets to %s in PLAIN TEXT (%d provider warnings folded into this one): never commit, attach or share that folder\n", dir, folded
    }'
}
case "$action" in
  up)
    # On a failed `up` the CLI prints the stack's outputs under the error, and they are the previous
    # deployment's: values that look current but are not. So `up` suppresses them and this script
    # prints them only after a success; on a failure it says what the summary above means.
    if ! pulumi up --stack dev --yes --non-interactive --skip-preview --suppress-outputs "$@" | fold_plaintext_warnings; then
      log "pulumi up FAILED: Pulumi started no change after the first error; the 'Resources:' summary above counts what it changed before."
      log "The stack's outputs were not updated and still describe the previous deployment (npm run -s pulumi -- stack output)."
      exit 1
    fi
    printf '\nOutputs (npm run -s pulumi -- stack output):\n'
    pulumi stack output --stack dev
    log "manifests are in out/manifests/dev"
    ;;
  destroy|refresh) pulumi "$action" --stack dev --yes --non-interactive --skip-preview "$@" ;;
  preview) pulumi preview --stack dev --non-interactive --diff "$@" | fold_plaintext_warnings ;;
esac
