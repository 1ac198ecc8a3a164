#!/usr/bin/env bash
# Renders the dev stack's resource graph (`pulumi stack graph` + graphviz) to docs/graph.png.
# Uses the dev stack's state from `npm run up` (runs it first when the stack has no resources yet).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

command -v dot >/dev/null || die "graphviz is missing: apt-get install graphviz"
ensure_node_modules
ensure_pulumi --only cli,kubernetes,random
use_local_backend

if ! pulumi stack select dev >/dev/null 2>&1 || [ "$(pulumi stack --stack dev --show-ids 2>/dev/null | grep -c 'kubernetes:')" -eq 0 ]; then
  log "the dev stack has no resources yet: running npm run up first"
  bash "$REPO_ROOT/scripts/dev.sh" up >/dev/null
fi

dotfile="$(mktemp --suffix=.dot)"
trap 'rm -f "$dotfile"' EXIT
# Parent edges show the component tree (what the README reader wants); dependency edges would turn
# the picture into a hairball of provider links.
pulumi stack graph --stack dev --ignore-dependency-edges \
  --dot-fragment 'rankdir=RL; ranksep=1.2; node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];' "$dotfile" >/dev/null
# Node labels are URNs; show "Kind" over "name" instead.
perl -pi -e 's/label="urn:pulumi:[^"]*?::(?:[^"]*[:\$])?([^":\$]+)::([^"]+)"/label="$1\\n$2"/g' "$dotfile"
dot -Tpng -Gdpi=96 "$dotfile" -o docs/graph.png
log "wrote docs/graph.png"
