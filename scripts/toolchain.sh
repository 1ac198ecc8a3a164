#!/usr/bin/env bash
# Offline install of the Pulumi engine pieces this project needs: the pulumi CLI,
# its Node.js language host and the resource provider plugins, built from Go
# modules (the only Pulumi source reachable without internet access here) and
# installed where the CLI and the `npx pulumi` launcher look for them.
#
#   scripts/toolchain.sh                      build/install everything that can be built
#   scripts/toolchain.sh --only cli,random    just these components
#   eval "$(scripts/toolchain.sh --print-env)"  export PATH, PULUMI_HOME, ... (prints only)
#
# Versions come from package-lock.json. Details, versions actually built and
# known limits: docs/OFFLINE-TOOLCHAIN.md.
#
# Environment:
#   PULUMI_HOME       where the CLI, plugins and state live      (default: $HOME/.pulumi)
#   TOOLCHAIN_CACHE   Go module/build caches, finished binaries  (default: $HOME/.cache/triton-platform/toolchain)
#   TOOLCHAIN_NICE    niceness for the Go builds                  (default: 10)
set -euo pipefail

readonly ALL_COMPONENTS=(cli kubernetes random command docker)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly WRAPPERS="$ROOT/tools/toolchain"
PULUMI_HOME=${PULUMI_HOME:-$HOME/.pulumi}
TOOLCHAIN_CACHE=${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform/toolchain}
TOOLCHAIN_NICE=${TOOLCHAIN_NICE:-10}

log() { printf '[toolchain] %s\n' "$*" >&2; }
step() { printf '\n[toolchain] ==> %s\n' "$*" >&2; }
die() {
	printf '[toolchain] ERROR: %s\n' "$1" >&2
	[[ $# -gt 1 ]] && printf '[toolchain]        fix: %s\n' "$2" >&2
	exit 1
}

usage() {
	cat >&2 <<EOF
usage: scripts/toolchain.sh [--only LIST] [--reinstall] [--print-env] [--help]

  --only LIST   comma-separated subset of: ${ALL_COMPONENTS[*]}
                (default: all; components whose source the module proxy does not
                serve are then reported and skipped; naming them explicitly makes
                that an error)
  --reinstall   install again even when PULUMI_HOME already has the CLI or plugin
                (rebuilds only if tools/toolchain/<name> changed since the cached build)
  --print-env   print export lines for eval (PATH, PULUMI_HOME, ...) and exit;
                builds nothing
EOF
}

# ---------------------------------------------------------------------------
# Arguments

ONLY=""
PRINT_ENV=false
REINSTALL=false
while [[ $# -gt 0 ]]; do
	case "$1" in
	--only)
		[[ $# -ge 2 ]] || die "--only needs a value" "e.g. --only cli,kubernetes"
		ONLY=$2
		shift 2
		;;
	--only=*)
		ONLY=${1#--only=}
		shift
		;;
	--print-env)
		PRINT_ENV=true
		shift
		;;
	--reinstall)
		REINSTALL=true
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage
		die "unknown argument: $1" "see --help"
		;;
	esac
done

EXPLICIT=false
declare -a COMPONENTS=()
if [[ -n $ONLY ]]; then
	EXPLICIT=true
	IFS=',' read -r -a COMPONENTS <<<"$ONLY"
	for c in "${COMPONENTS[@]}"; do
		case " ${ALL_COMPONENTS[*]} " in
		*" $c "*) ;;
		*) die "unknown component '$c' in --only" "valid: ${ALL_COMPONENTS[*]}" ;;
		esac
	done
else
	COMPONENTS=("${ALL_COMPONENTS[@]}")
fi
wants() { case " ${COMPONENTS[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac }

# ---------------------------------------------------------------------------
# Versions (package-lock.json is the single source of truth)

command -v node >/dev/null 2>&1 || die "node is not on PATH" "install Node.js 20 (the project's runtime)"
lock_version() {
	node -e '
		const lock = require(process.argv[1]);
		const p = lock.packages && lock.packages["node_modules/" + process.argv[2]];
		if (!p || !p.version) { process.stderr.write("not in package-lock.json: " + process.argv[2] + "\n"); process.exit(1); }
		process.stdout.write(p.version);
	' "$ROOT/package-lock.json" "$1"
}
CLI_VERSION=$(lock_version pulumi) || die "cannot read the pulumi version from package-lock.json" "is $ROOT/package-lock.json intact?"
declare -A PROVIDER_VERSION=()
for p in kubernetes random command docker; do
	PROVIDER_VERSION[$p]=$(lock_version "@pulumi/$p") ||
		die "cannot read the @pulumi/$p version from package-lock.json" "is $ROOT/package-lock.json intact?"
done

readonly INSTALL_BIN="$PULUMI_HOME/versions/$CLI_VERSION/bin"
readonly LINK_BIN="$PULUMI_HOME/bin"

# ---------------------------------------------------------------------------
# Existing CLI detection

# is_npm_launcher PATH: true when PATH is the `pulumi` npm package's run.js (or
# a shim to it) rather than a real CLI binary.
is_npm_launcher() {
	local real
	real=$(readlink -f "$1" 2>/dev/null || printf '%s' "$1")
	case "$real" in */node_modules/*) return 0 ;; esac
	# a script (not an ELF binary) that mentions node is a launcher shim
	if [[ "$(head -c 4 "$real" 2>/dev/null | od -An -c | tr -d ' ')" != '177ELF' ]] &&
		grep -q 'node' "$real" 2>/dev/null; then
		return 0
	fi
	return 1
}

# find_system_cli: prints the path of a real pulumi 3.x CLI on PATH that this
# script did not install itself, or nothing.
find_system_cli() {
	local p ver
	while IFS= read -r p; do
		[[ -x $p ]] || continue
		is_npm_launcher "$p" && continue
		# our own install (e.g. $PULUMI_HOME/bin/pulumi -> versions/<v>/bin/pulumi) is not "a CLI already there"
		[[ "$(readlink -m "$p")" == "$(readlink -m "$INSTALL_BIN/pulumi")" ]] && continue
		ver=$(PULUMI_SKIP_UPDATE_CHECK=true "$p" version 2>/dev/null || true)
		if [[ $ver == v3.* ]]; then
			printf '%s\n' "$p"
			return 0
		fi
	done < <(type -ap pulumi 2>/dev/null || true)
	return 0
}

print_env() {
	local sys path_dir
	sys=$(find_system_cli)
	if [[ -n $sys ]]; then
		path_dir=$(dirname "$sys")
	else
		path_dir=$LINK_BIN
		[[ -x $INSTALL_BIN/pulumi ]] ||
			log "warning: no pulumi CLI installed yet under $INSTALL_BIN; run scripts/toolchain.sh first"
	fi
	printf 'export PULUMI_HOME=%q\n' "$PULUMI_HOME"
	# shellcheck disable=SC2016 # $PATH is meant to expand when eval'd
	printf 'export PATH=%q:"$PATH"\n' "$path_dir"
	printf 'export PULUMI_SKIP_UPDATE_CHECK=true\n'
	printf 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
}

if $PRINT_ENV; then
	print_env
	exit 0
fi

# ---------------------------------------------------------------------------
# Go environment

command -v go >/dev/null 2>&1 || die "go is not on PATH" "install Go 1.25 or newer (Debian: golang-go from backports, or the official tarball)"
GO_VERSION=$(go env GOVERSION)
go_minor=$(sed -E 's/^go1\.([0-9]+).*/\1/' <<<"$GO_VERSION")
[[ $go_minor =~ ^[0-9]+$ && $go_minor -ge 25 ]] ||
	die "Go $GO_VERSION is too old: the Pulumi modules need Go 1.25 or newer (GOTOOLCHAIN=local, no download)" \
		"install Go 1.25+ and put it first on PATH"

export GOMODCACHE="$TOOLCHAIN_CACHE/gomod"
export GOCACHE="$TOOLCHAIN_CACHE/gocache"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"
# The toolchain never needs private modules; keep the user's GOPROXY/GOSUMDB.
readonly WORK="$TOOLCHAIN_CACHE/work"
readonly BINCACHE="$TOOLCHAIN_CACHE/bin"
mkdir -p "$GOMODCACHE" "$GOCACHE" "$WORK" "$BINCACHE" "$PULUMI_HOME"

# One run at a time per cache (other shells may run this script concurrently).
exec 9>"$TOOLCHAIN_CACHE/.lock"
if ! flock -n 9; then
	log "another scripts/toolchain.sh holds $TOOLCHAIN_CACHE/.lock; waiting for it"
	flock 9
fi

now() { date +%s; }
elapsed() { printf '%ss' $(($(now) - $1)); }

# wrapper_key NAME: hash of the wrapper module's files + Go version, so editing
# a wrapper (or changing Go) rebuilds instead of reusing a stale binary.
wrapper_key() {
	(
		cd "$WRAPPERS/$1"
		find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | LC_ALL=C sort -z |
			xargs -0 sha256sum
		printf '%s\n' "$GO_VERSION"
	) | sha256sum | cut -c1-12
}

# prepare_workdir NAME: fresh copy of tools/toolchain/NAME to build in (the
# repository copy is never modified by a build).
prepare_workdir() {
	local dir="$WORK/$1"
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -R "$WRAPPERS/$1/." "$dir/"
	chmod -R u+w "$dir"
	printf '%s\n' "$dir"
}

gobuild() { nice -n "$TOOLCHAIN_NICE" go build -trimpath "$@"; }

# run_sub FUNC ARGS...: run FUNC in a subshell that stops at its first failing
# command; the status goes to RUN_RC. (A `f || die` form would switch errexit
# off inside f, so failures in the middle of a build would go unnoticed.)
RUN_RC=0
run_sub() {
	set +e
	(
		set -e
		"$@"
	)
	RUN_RC=$?
	set -e
	return 0
}

# module_dir MODULE@VERSION: download (if needed) and print the module's directory.
module_dir() {
	local out
	out=$(go mod download -json "$1") || {
		printf '%s\n' "$out" >&2
		return 1
	}
	node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8")); if(!j.Dir){process.stderr.write(j.Error||"no Dir");process.exit(1)} process.stdout.write(j.Dir)' <<<"$out"
}

# go_mod_require DIR MODULE: version of MODULE required by DIR/go.mod.
go_mod_require() {
	(cd "$1" && go list -m -f '{{.Version}}' "$2")
}

declare -A RESULT=()
declare -A DETAIL=()
FAILED=false

# ---------------------------------------------------------------------------
# CLI + Node.js language host

PULUMI_BIN=""

# _build_cli_in DIR: runs in a subshell with errexit (see run_sub).
_build_cli_in() {
	cd "$1"
	local have
	have=$(go_mod_require . github.com/pulumi/pulumi/pkg/v3)
	if [[ $have != "v$CLI_VERSION" ]]; then
		log "cli: tools/toolchain/cli/go.mod pins pkg/v3 $have but package-lock.json wants v$CLI_VERSION"
		log "cli: update it: cd tools/toolchain/cli && go get -tool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$CLI_VERSION && go get github.com/pulumi/pulumi/sdk/v3@v$CLI_VERSION && go mod tidy"
		return 1
	fi
	mkdir -p out
	gobuild -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$CLI_VERSION" \
		-o out/pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
	log "cli: building pulumi-language-nodejs (tools/toolchain/cli/langhost)"
	gobuild -ldflags "-s -w -X main.version=$CLI_VERSION" -o out/pulumi-language-nodejs ./langhost
}

build_cli() {
	local key dest t dir
	key=$(wrapper_key cli)
	dest="$BINCACHE/cli-$CLI_VERSION-$key"
	if [[ -x $dest/pulumi && -x $dest/pulumi-language-nodejs ]]; then
		log "cli: cached build $dest"
	else
		dir=$(prepare_workdir cli)
		t=$(now)
		log "cli: building pulumi v$CLI_VERSION (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi); the first build takes several minutes"
		run_sub _build_cli_in "$dir"
		((RUN_RC == 0)) || die "building the pulumi CLI failed (output above)" \
			"check that the module proxy is reachable (go env GOPROXY), then rerun scripts/toolchain.sh --only cli"
		rm -rf "$dest.tmp"
		mkdir -p "$dest.tmp"
		mv "$dir/out/pulumi" "$dir/out/pulumi-language-nodejs" "$dest.tmp/"
		rm -rf "$dest"
		mv "$dest.tmp" "$dest"
		DETAIL[cli]="built in $(elapsed "$t")"
		log "cli: built in $(elapsed "$t")"
	fi
	mkdir -p "$INSTALL_BIN"
	local f
	for f in pulumi pulumi-language-nodejs; do
		if ! cmp -s "$dest/$f" "$INSTALL_BIN/$f"; then
			install -m 0755 "$dest/$f" "$INSTALL_BIN/$f.tmp.$$"
			mv -f "$INSTALL_BIN/$f.tmp.$$" "$INSTALL_BIN/$f"
		fi
	done
	link_cli
	PULUMI_BIN="$INSTALL_BIN/pulumi"
	"$PULUMI_BIN" version >/dev/null || die "the installed CLI does not run: $PULUMI_BIN version failed" \
		"delete $dest and rerun scripts/toolchain.sh --only cli"
}

# link_cli: $PULUMI_HOME/bin/{pulumi,pulumi-language-nodejs} -> versions/<v>/bin
link_cli() {
	local f
	mkdir -p "$LINK_BIN"
	for f in pulumi pulumi-language-nodejs; do
		if [[ -e $LINK_BIN/$f && ! -L $LINK_BIN/$f ]]; then
			log "cli: warning: $LINK_BIN/$f is a regular file (another install?); leaving it alone. Put $INSTALL_BIN on PATH instead."
		else
			ln -sfn "$INSTALL_BIN/$f" "$LINK_BIN/$f"
		fi
	done
}

step_cli() {
	step "pulumi CLI v$CLI_VERSION + pulumi-language-nodejs"
	local sys
	sys=$(find_system_cli)
	if [[ -n $sys ]]; then
		PULUMI_BIN=$sys
		RESULT[cli]="using $sys ($("$sys" version))"
		log "cli: using the pulumi CLI already on PATH: $sys ($("$sys" version)); not building one"
		if [[ ! -x "$(dirname "$sys")/pulumi-language-nodejs" ]] && ! command -v pulumi-language-nodejs >/dev/null 2>&1; then
			log "cli: warning: no pulumi-language-nodejs next to $sys or on PATH; Node.js programs will not run with it"
		fi
		[[ -x $INSTALL_BIN/pulumi ]] ||
			log "cli: note: 'npx pulumi' looks for $INSTALL_BIN/pulumi and would try to download it; to populate it run: PATH=<a PATH without $(dirname "$sys")> scripts/toolchain.sh --only cli"
		return 0
	fi
	if [[ -x $INSTALL_BIN/pulumi && -x $INSTALL_BIN/pulumi-language-nodejs ]] && ! $REINSTALL; then
		log "cli: already installed: $INSTALL_BIN ($("$INSTALL_BIN/pulumi" version)); --reinstall replaces it"
		link_cli
		PULUMI_BIN="$INSTALL_BIN/pulumi"
		RESULT[cli]="ok: already installed ($INSTALL_BIN)"
		return 0
	fi
	build_cli
	RESULT[cli]="ok: $INSTALL_BIN/{pulumi,pulumi-language-nodejs}, linked in $LINK_BIN"
}

# Any CLI for `pulumi plugin install`: this run's, one on PATH, or an earlier install.
need_cli() {
	[[ -n $PULUMI_BIN ]] && return 0
	PULUMI_BIN=$(find_system_cli)
	[[ -n $PULUMI_BIN ]] && return 0
	if [[ -x $INSTALL_BIN/pulumi ]]; then
		PULUMI_BIN="$INSTALL_BIN/pulumi"
		return 0
	fi
	die "installing a provider needs the pulumi CLI, and none is installed" "run scripts/toolchain.sh --only cli first"
}

# ---------------------------------------------------------------------------
# Providers

# install_plugin NAME VERSION BINARY
install_plugin() {
	local name=$1 version=$2 bin=$3
	need_cli
	log "$name: pulumi plugin install resource $name $version --file $bin"
	PULUMI_HOME=$PULUMI_HOME PULUMI_SKIP_UPDATE_CHECK=true \
		"$PULUMI_BIN" plugin install resource "$name" "$version" --file "$bin" --reinstall --non-interactive >&2 ||
		die "pulumi plugin install for $name $version failed (output above)" \
			"check that $PULUMI_HOME is writable; remove $PULUMI_HOME/plugins/resource-$name-v$version* and rerun"
	[[ -x $PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name ]] ||
		die "$name: plugin install reported success but $PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name is missing" \
			"report this; as a workaround copy $bin there"
}

# provider_step NAME BUILD_FUNCTION
provider_step() {
	local name=$1 build=$2 version=${PROVIDER_VERSION[$1]}
	local target="$PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name"
	step "provider $name v$version"
	if [[ -x $target ]] && ! $REINSTALL; then
		log "$name: already installed: $target"
		RESULT[$name]="ok: already installed ($target)"
		return 0
	fi
	local key dest
	key=$(wrapper_key "$name")
	dest="$BINCACHE/$name-$version-$key/pulumi-resource-$name"
	if [[ -x $dest ]]; then
		log "$name: cached build $dest"
	else
		local t
		t=$(now)
		"$build" "$version" "$dest"
		DETAIL[$name]="built in $(elapsed "$t")"
		log "$name: built in $(elapsed "$t")"
	fi
	install_plugin "$name" "$version" "$dest"
	RESULT[$name]="ok: $target"
}

# finish_binary SRC DEST: move a freshly built binary into the cache atomically.
finish_binary() {
	local dir
	dir=$(dirname "$2")
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp"
	mv "$1" "$dir.tmp/$(basename "$2")"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
}

# kubernetes: github.com/pulumi/pulumi-kubernetes/provider/v4. The module proxy
# serves exactly one version of it, v4.0.0-20260115033456-f47bc2d6f199 (pinned
# in tools/toolchain/kubernetes/go.mod); see docs/OFFLINE-TOOLCHAIN.md.
_build_kubernetes_in() {
	local dir=$1 version=$2 mod src
	cd "$dir"
	mod=$(go_mod_require . github.com/pulumi/pulumi-kubernetes/provider/v4)
	src=$(module_dir "github.com/pulumi/pulumi-kubernetes/provider/v4@$mod")
	log "kubernetes: source github.com/pulumi/pulumi-kubernetes/provider/v4@$mod"
	# main.go embeds schema-embed.json and terraform-mapping-embed.json, which
	# upstream generates (go generate) and does not ship in the module zip.
	cp "$src/cmd/pulumi-resource-kubernetes/"{main.go,generate.go,schema.json,terraform-mapping.json} .
	chmod u+w ./*.go ./*.json
	VERSION=$version nice -n "$TOOLCHAIN_NICE" go run generate.go
	gobuild -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$version" \
		-o pulumi-resource-kubernetes .
}

build_kubernetes() {
	local version=$1 dest=$2 dir
	dir=$(prepare_workdir kubernetes)
	log "kubernetes: building pulumi-resource-kubernetes (the first build takes a while)"
	run_sub _build_kubernetes_in "$dir" "$version"
	((RUN_RC == 0)) || die "building pulumi-resource-kubernetes failed (output above)" \
		"check that the module proxy is reachable; the pinned source version is in tools/toolchain/kubernetes/go.mod"
	finish_binary "$dir/pulumi-resource-kubernetes" "$dest"
}

# random: the upstream Terraform provider bridged with the Pulumi Terraform
# bridge by tools/toolchain/random (github.com/pulumi/pulumi-random/provider/v4
# itself is not served by the module proxy).
_build_random_in() {
	local dir=$1 version=$2
	cd "$dir"
	gobuild -o pulumi-tfgen-random ./cmd/pulumi-tfgen-random
	log "random: generating schema.json and bridge-metadata.json (pulumi-tfgen-random schema)"
	mkdir -p gen
	VERSION=$version ./pulumi-tfgen-random schema --out gen --skip-docs >&2
	cp gen/schema.json gen/bridge-metadata.json cmd/pulumi-resource-random/
	log "random: building pulumi-resource-random"
	gobuild -ldflags "-s -w -X main.version=$version" -o pulumi-resource-random ./cmd/pulumi-resource-random
}

build_random() {
	local version=$1 dest=$2 dir
	dir=$(prepare_workdir random)
	log "random: building pulumi-tfgen-random (tools/toolchain/random; the first build takes a while)"
	run_sub _build_random_in "$dir" "$version"
	((RUN_RC == 0)) || die "building pulumi-resource-random failed (output above)" \
		"check that the module proxy is reachable; the pinned versions are in tools/toolchain/random/go.mod"
	finish_binary "$dir/pulumi-resource-random" "$dest"
}

# command / docker: the provider source is not served by the module proxy.
# unavailable NAME MODULE@VERSION...: ask the proxy (only the proxy: a "direct"
# fallback would just fail on the missing internet) and print one line per module.
unavailable() {
	local name=$1
	shift
	local m out proxy
	proxy=$(go env GOPROXY | sed -E 's/[,|]direct$//')
	for m in "$@"; do
		if GOPROXY=$proxy go mod download -json "$m" >/dev/null 2>&1; then
			printf '  %s is now served, but tools/toolchain/%s has no wrapper module yet\n' "$m" "$name"
		else
			out=$(GOPROXY=$proxy go mod download -json "$m" 2>&1 || true)
			printf '  go mod download %s: %s\n' "$m" \
				"$(grep -o '"Error": *"[^"]*"' <<<"$out" | head -1 | sed -e 's/"Error": *"//' -e 's/"$//' -e 's/\\n\\t/ /g' -e 's/\\n/ /g')"
		fi
	done
}

build_unavailable() {
	local name=$1
	shift
	RESULT[$name]="NOT BUILT: provider source not available from the Go module proxy"
	log "$name: cannot be built here: the provider's Go source is not served by the module proxy:"
	unavailable "$name" "$@" | sed 's/^/[toolchain] /' >&2
	log "$name: see docs/OFFLINE-TOOLCHAIN.md ('$name') for what was tried and the options"
	if $EXPLICIT; then
		FAILED=true
	fi
}

step_command() {
	local version=${PROVIDER_VERSION[command]}
	local target="$PULUMI_HOME/plugins/resource-command-v$version/pulumi-resource-command"
	step "provider command v$version"
	if [[ -x $target ]]; then
		log "command: already installed: $target"
		RESULT[command]="ok: already installed ($target)"
		return 0
	fi
	build_unavailable command "github.com/pulumi/pulumi-command/provider@v$version"
}

step_docker() {
	local version=${PROVIDER_VERSION[docker]}
	local target="$PULUMI_HOME/plugins/resource-docker-v$version/pulumi-resource-docker"
	step "provider docker v$version"
	if [[ -x $target ]]; then
		log "docker: already installed: $target"
		RESULT[docker]="ok: already installed ($target)"
		return 0
	fi
	build_unavailable docker "github.com/pulumi/pulumi-docker/provider/v${version%%.*}@v$version"
}

# ---------------------------------------------------------------------------
# Main

T0=$(now)
log "PULUMI_HOME=$PULUMI_HOME"
log "TOOLCHAIN_CACHE=$TOOLCHAIN_CACHE ($GO_VERSION, GOPROXY=$(go env GOPROXY))"
log "components: ${COMPONENTS[*]}"

wants cli && step_cli
wants kubernetes && provider_step kubernetes build_kubernetes
wants random && provider_step random build_random
wants command && step_command
wants docker && step_docker

step "summary ($(elapsed "$T0"))"
for c in "${ALL_COMPONENTS[@]}"; do
	wants "$c" || continue
	log "$(printf '%-11s %s%s' "$c" "${RESULT[$c]:-?}" "${DETAIL[$c]:+ [${DETAIL[$c]}]}")"
done
log "cache: $TOOLCHAIN_CACHE ($(du -sh "$TOOLCHAIN_CACHE" 2>/dev/null | cut -f1))"
if wants cli || [[ -x $INSTALL_BIN/pulumi ]]; then
	log "to use it:  eval \"\$(scripts/toolchain.sh --print-env)\""
fi
if $FAILED; then
	die "some requested components could not be built (see above)" \
		"use --only with the components that can be built here (cli,kubernetes,random)"
fi
