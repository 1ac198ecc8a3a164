#!/usr/bin/env bash
# Creates a stack on the current backend without losing its stack file.
#
# `pulumi stack init` rewrites Pulumi.<stack>.yaml when it stores the stack's data key: the comments go,
# and without `--secrets-provider` a KMS `secretsprovider:` line is silently replaced by the passphrase
# provider. This script reads the secrets provider from the stack file itself, creates the stack with it,
# then restores the file as it was plus only the key line Pulumi added (`encryptedkey:` for a KMS,
# `encryptionsalt:` for a passphrase). If `pulumi stack init` fails, the file is restored untouched.
#
#   npm run -s stack:init -- prod      (the backend and passphrase of scripts/env.sh, unless you set yours)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

stack="${1:-}"
{ [ -n "$stack" ] && [ $# -eq 1 ]; } || die "usage: scripts/stack-init.sh <stack>   (e.g. prod)"
file="Pulumi.$stack.yaml"
[ -f "$file" ] || die "$file does not exist in $(pwd): write the stack's settings first (see Pulumi.prod.yaml)"
command -v pulumi >/dev/null 2>&1 || die "no pulumi CLI on PATH: run this through \`npm run -s stack:init -- $stack\`"

if grep -Eq '^(encryptedkey|encryptionsalt):' "$file"; then
  die "$file already holds a data key (encryptedkey/encryptionsalt) from an earlier \`stack init\`: select the stack with \`pulumi stack select $stack\`, or delete that line to create the stack on another backend"
fi
provider=$(sed -n 's/^secretsprovider:[[:space:]]*//p' "$file" | tr -d '"'"'" | head -n 1)
provider="${provider:-passphrase}"

backup="$(mktemp)"
cp "$file" "$backup"
restore() { cp "$backup" "$file"; rm -f "$backup"; }

log "creating stack '$stack' with the secrets provider of $file: $provider"
if ! pulumi stack init "$stack" --secrets-provider "$provider" --non-interactive; then
  restore
  die "pulumi stack init failed (its message is above); $file is unchanged. For a KMS URL: your credentials must allow encrypt/decrypt with that key (see docs/KEYS.md)"
fi

keyline=$(grep -E '^(encryptedkey|encryptionsalt):' "$file" || true)
if [ -z "$keyline" ]; then
  restore
  die "pulumi stack init wrote no encryptedkey/encryptionsalt line into $file; the stack exists, but its file was restored as it was: check \`pulumi stack ls\`"
fi
# The original text with the new key line after `secretsprovider:` (at the top when there is none).
if grep -q '^secretsprovider:' "$backup"; then
  awk -v key="$keyline" '{ print } /^secretsprovider:/ && !done { print key; done = 1 }' "$backup" >"$file"
else
  { printf '%s\n' "$keyline"; cat "$backup"; } >"$file"
fi
rm -f "$backup"
log "stack '$stack' created; $file keeps its comments and settings, plus: ${keyline%%:*}"
