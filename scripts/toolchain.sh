#!/usr/bin/env bash
# Offline install of the Pulumi engine this project runs on: the pulumi CLI, the upstream Node.js
# language host and the provider plugins, each built from its upstream release source and installed
# under that release's version where the CLI and the `npx pulumi` launcher look for them.
#
#   scripts/toolchain.sh                           build/install everything
#   scripts/toolchain.sh --only command,docker     just these components
#   scripts/toolchain.sh --vendor DIR              take the release archives from DIR
#   eval "$(scripts/toolchain.sh --print-env)"     export PATH, PULUMI_HOME, ... (prints only)
#
# Sources: the Go module proxy (the CLI, the kubernetes provider, every Go dependency) and a folder
# of upstream release archives (the language host, command, docker, random) whose SHA-256 sums are
# recorded in tools/toolchain/vendor.sha256 and checked before anything is built. Versions come from
# package-lock.json. Details and measured times: docs/OFFLINE-TOOLCHAIN.md.
#
# Environment:
#   PULUMI_HOME       where the CLI, plugins and state live       (default: $HOME/.pulumi)
#   TOOLCHAIN_CACHE   Go caches, finished binaries, build logs    (default: $HOME/.cache/triton-platform/toolchain)
#   TOOLCHAIN_VENDOR  the release archives (same as --vendor)     (default: <repo>/../shared/vendor if it exists)
#   TOOLCHAIN_NICE    niceness for the Go builds                   (default: 10)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
readonly ROOT=$REPO_ROOT
readonly ALL_COMPONENTS=(cli command docker random kubernetes)
readonly WRAPPERS="$ROOT/tools/toolchain"
readonly MANIFEST="$WRAPPERS/vendor.sha256"
PULUMI_HOME=${PULUMI_HOME:-$HOME/.pulumi}
TOOLCHAIN_CACHE=${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform/toolchain}
TOOLCHAIN_NICE=${TOOLCHAIN_NICE:-10}
# Seconds between the "still building" lines.
HEARTBEAT=${TOOLCHAIN_HEARTBEAT:-60}

# The one served commit of github.com/pulumi/pulumi-kubernetes/provider/v4 is the release tag v4.25.0
# (tools/toolchain/kubernetes/go.mod pins it); no other kubernetes release can be built here.
readonly KUBERNETES_RELEASE=4.25.0
# pulumi-docker v5.0.0 pins pulumi-terraform-bridge v3.126.0, which the module proxy refuses (403);
# the build moves that one dependency to the nearest served version (docs/OFFLINE-TOOLCHAIN.md).
readonly DOCKER_BRIDGE_VERSION=v3.128.0
# pulumi-random v4.21.1's bridge (v3.135.0) requires pseudo-versions of pulumi-yaml and
# pulumi-language-dotnet that the proxy refuses (403); the build moves those two to the nearest
# served releases, which raises pulumi pkg/sdk from v3.253.0 to v3.255.0, and pulumi-java from
# v1.32.0 to v1.33.0, the nearest served release that compiles against pkg v3.255.0
# (docs/OFFLINE-TOOLCHAIN.md).
readonly RANDOM_MOVED_MODULES="github.com/pulumi/pulumi-yaml@v1.38.0 github.com/pulumi/pulumi-dotnet/pulumi-language-dotnet/v3@v3.110.0 github.com/pulumi/pulumi-java@v1.33.0"
# The upstream Terraform provider at the `upstream` submodule commit of pulumi-docker v5.0.0.
readonly DOCKER_UPSTREAM_ARCHIVE=terraform-provider-docker-619686ddb44a.tar.gz

log() { printf '[toolchain] %s\n' "$*" >&2; }
die() {
	printf '[toolchain] ERROR: %s\n' "$1" >&2
	[[ $# -gt 1 ]] && printf '[toolchain]        fix: %s\n' "$2" >&2
	exit 1
}

usage() {
	cat >&2 <<EOF
usage: scripts/toolchain.sh [--only LIST] [--vendor DIR] [--rebuild] [--verify-vendor] [--print-env] [--help]

  --only LIST      comma-separated subset of: ${ALL_COMPONENTS[*]} (default: all)
                   cli = the pulumi CLI and the Node.js language host
  --vendor DIR     folder of upstream release archives (tools/toolchain/vendor.sha256 lists them);
                   default \$TOOLCHAIN_VENDOR, else $ROOT/../shared/vendor when it exists
  --rebuild        build again even when a finished binary is cached
  --reinstall      install again even when PULUMI_HOME already has the same binary
  --verify-vendor  check the archives' SHA-256 sums and exit
  --print-env      print export lines for eval (PATH, PULUMI_HOME, ...) and exit; builds nothing
EOF
}

# ---------------------------------------------------------------------------
# Arguments

ONLY=""
PRINT_ENV=false
REINSTALL=false
REBUILD=false
VERIFY_ONLY=false
VENDOR=${TOOLCHAIN_VENDOR:-}
while [[ $# -gt 0 ]]; do
	case "$1" in
	--only | --vendor)
		[[ $# -ge 2 ]] || die "$1 needs a value" "see --help"
		if [[ $1 == --only ]]; then ONLY=$2; else VENDOR=$2; fi
		shift 2
		;;
	--only=*)
		ONLY=${1#--only=}
		shift
		;;
	--vendor=*)
		VENDOR=${1#--vendor=}
		shift
		;;
	--print-env) PRINT_ENV=true && shift ;;
	--reinstall) REINSTALL=true && shift ;;
	--rebuild) REBUILD=true && shift ;;
	--verify-vendor) VERIFY_ONLY=true && shift ;;
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
if [[ -z $VENDOR && -d $ROOT/../shared/vendor ]]; then
	VENDOR=$(cd "$ROOT/../shared/vendor" && pwd)
fi

declare -a COMPONENTS=()
if [[ -n $ONLY ]]; then
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
declare -A VERSION=([cli]=$CLI_VERSION [nodejs]=$CLI_VERSION)
for p in kubernetes random command docker; do
	VERSION[$p]=$(lock_version "@pulumi/$p") ||
		die "cannot read the @pulumi/$p version from package-lock.json" "is $ROOT/package-lock.json intact?"
done

readonly INSTALL_BIN="$PULUMI_HOME/versions/$CLI_VERSION/bin"
readonly LINK_BIN="$PULUMI_HOME/bin"

# ---------------------------------------------------------------------------
# Existing CLI detection

# is_npm_launcher PATH: true when PATH is the `pulumi` npm package's run.js (or a shim to it).
is_npm_launcher() {
	local real
	real=$(readlink -f "$1" 2>/dev/null || printf '%s' "$1")
	case "$real" in */node_modules/*) return 0 ;; esac
	if [[ "$(head -c 4 "$real" 2>/dev/null | od -An -c | tr -d ' ')" != '177ELF' ]] &&
		grep -q 'node' "$real" 2>/dev/null; then
		return 0
	fi
	return 1
}

# find_system_cli: the path of a real pulumi 3.x CLI on PATH that this script did not install, or nothing.
find_system_cli() {
	local p ver
	while IFS= read -r p; do
		[[ -x $p ]] || continue
		is_npm_launcher "$p" && continue
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
		path_dir="$(dirname "$sys"):$LINK_BIN"
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
# Release archives: which ones the requested components need, and their recorded SHA-256

# archives_of COMPONENT: the archive names it is built from (none for the module-proxy builds).
archives_of() {
	case "$1" in
	cli) printf '%s\n' "pulumi-language-nodejs-v$CLI_VERSION.tar.gz" ;;
	command) printf '%s\n' "pulumi-command-provider-v${VERSION[command]}.tar.gz" ;;
	random) printf '%s\n' "pulumi-random-provider-v${VERSION[random]}.tar.gz" ;;
	docker) printf '%s\n' "pulumi-docker-provider-v${VERSION[docker]}.tar.gz" "$DOCKER_UPSTREAM_ARCHIVE" ;;
	esac
}

# manifest_field ARCHIVE N: column N of the archive's line in tools/toolchain/vendor.sha256.
manifest_field() {
	awk -v a="$1" -v n="$2" '!/^#/ && $2 == a { print $n; exit }' "$MANIFEST"
}

# source_of ARCHIVE: "github.com/<repo> tag <tag> (commit <commit>)" from the manifest.
source_of() {
	printf 'https://github.com/%s tag %s (commit %s)' "$(manifest_field "$1" 3)" "$(manifest_field "$1" 4)" "$(manifest_field "$1" 5)"
}

# verify_vendor: every archive the requested components need is in $VENDOR with its recorded sum.
# Runs before the first build; names each missing or altered archive and where it comes from.
verify_vendor() {
	local c a want have problems=()
	declare -a needed=()
	for c in "${COMPONENTS[@]}"; do
		while IFS= read -r a; do needed+=("$a"); done < <(archives_of "$c")
	done
	[[ ${#needed[@]} -gt 0 ]] || return 0
	if [[ -z $VENDOR || ! -d $VENDOR ]]; then
		for a in "${needed[@]}"; do problems+=("$a: from $(source_of "$a")"); done
		log "the release archives these components are built from are not available:"
		printf '[toolchain]   %s\n' "${problems[@]}" >&2
		die "the vendor folder ${VENDOR:-(none given, and $ROOT/../shared/vendor does not exist)} does not exist; nothing was built" \
			"pass --vendor DIR (or TOOLCHAIN_VENDOR=DIR) naming a folder with the archives above (tools/toolchain/vendor.sha256 lists their SHA-256)"
	fi
	for a in "${needed[@]}"; do
		want=$(manifest_field "$a" 1)
		if [[ -z $want ]]; then
			problems+=("$a: no SHA-256 recorded in tools/toolchain/vendor.sha256 (package-lock.json asks for a version this toolchain has no recorded source for)")
		elif [[ ! -f $VENDOR/$a ]]; then
			problems+=("$a: missing from $VENDOR; get it from $(source_of "$a")")
		else
			have=$(sha256sum "$VENDOR/$a" | cut -d' ' -f1)
			[[ $have == "$want" ]] ||
				problems+=("$a: altered: SHA-256 $have, expected $want; get the original from $(source_of "$a")")
		fi
	done
	if [[ ${#problems[@]} -gt 0 ]]; then
		printf '[toolchain]   %s\n' "${problems[@]}" >&2
		die "${#problems[@]} release archive(s) in $VENDOR missing or altered (listed above); nothing was built" \
			"put the archives named above into $VENDOR (or point --vendor at a folder that has them)"
	fi
	log "vendor: ${#needed[@]} archive(s) in $VENDOR match tools/toolchain/vendor.sha256"
}

verify_vendor
$VERIFY_ONLY && exit 0

# ---------------------------------------------------------------------------
# Go environment

GO_VERSION=$(ensure_go)
readonly GO_VERSION
export GOMODCACHE="$TOOLCHAIN_CACHE/gomod"
export GOCACHE="$TOOLCHAIN_CACHE/gocache"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"
readonly WORK="$TOOLCHAIN_CACHE/work"
readonly BINCACHE="$TOOLCHAIN_CACHE/bin"
readonly LOGS="$TOOLCHAIN_CACHE/logs"
mkdir -p "$GOMODCACHE" "$GOCACHE" "$WORK" "$BINCACHE" "$LOGS" "$PULUMI_HOME"

# One run at a time per cache (other shells may run this script concurrently).
exec 9>"$TOOLCHAIN_CACHE/.lock"
if ! flock -n 9; then
	log "another scripts/toolchain.sh holds $TOOLCHAIN_CACHE/.lock; waiting for it"
	flock 9
fi

now() { date +%s; }
elapsed() { printf '%ss' $(($(now) - $1)); }
# Both print a "== go ..." line into the step's log: the heartbeat shows the latest one.
gobuild() {
	printf '== go build %s\n' "${*: -1}"
	nice -n "$TOOLCHAIN_NICE" go build -v -trimpath "$@"
}
gonice() {
	printf '== go %s\n' "$*"
	nice -n "$TOOLCHAIN_NICE" go "$@"
}

# ---------------------------------------------------------------------------
# Steps, progress, logs

# Minutes each build took in a full run from an empty cache on 2 shared cores (docs/OFFLINE-TOOLCHAIN.md;
# command and the language host reuse the CLI's packages: alone they take about 6 and 4 minutes).
declare -A MINUTES=([cli]=5 [nodejs]=1 [command]=1 [docker]=6 [random]=4 [kubernetes]=13)
declare -a STEPS=()
wants cli && STEPS+=(cli)
wants command && STEPS+=(command)
wants docker && STEPS+=(docker)
wants cli && STEPS+=(nodejs)
wants random && STEPS+=(random)
wants kubernetes && STEPS+=(kubernetes)
STEP_NO=0
step() {
	STEP_NO=$((STEP_NO + 1))
	printf '\n[toolchain] ==> step %d/%d: %s\n' "$STEP_NO" "${#STEPS[@]}" "$*" >&2
}

# run_logged WHAT LOGFILE FUNC ARGS...: FUNC runs in a subshell that stops at its first failing
# command, with all its output (go: downloading, compiled packages, errors) in LOGFILE, and a
# heartbeat line at least every $HEARTBEAT seconds. The status goes to RUN_RC.
RUN_RC=0
run_logged() {
	local what=$1 logf=$2 start next pid
	shift 2
	start=$(now)
	next=$((start + HEARTBEAT))
	printf '# %s, %s, started %s\n' "$what" "$GO_VERSION" "$(date -u +%FT%TZ)" >"$logf"
	set +e
	(
		set -e
		"$@"
	) >>"$logf" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if (($(now) >= next)); then
			log "  ... $what: $(($(now) - start))s, $(grep '^== ' "$logf" | tail -n 1 | cut -c4-80): $(grep -c '^go: downloading' "$logf") modules downloaded, $(grep -c '^[a-z0-9.-]*\.[a-z]*/' "$logf") packages compiled (log: $logf)"
			next=$((next + HEARTBEAT))
		fi
	done
	wait "$pid"
	RUN_RC=$?
	set -e
	return 0
}

# fail_build WHAT LOGFILE HINT: the end of the log and the error, naming the log.
fail_build() {
	log "last lines of $2:"
	tail -n 25 "$2" | sed 's/^/[toolchain]   | /' >&2
	die "$1 failed; the full build output is in $2" "$3"
}

# build_key NAME FUNC [FILES_DIR]: hash of what the binary is made from: the recorded SHA-256 of its
# archives, the build function itself and the constants it reads, the wrapper files
# (tools/toolchain/NAME) and the Go version.
build_key() {
	local name=$1 fn=$2 dir=${3:-} a
	{
		printf '%s %s %s\n' "$name" "${VERSION[$name]}" "$GO_VERSION"
		# the values the recipe reads from the constants at the top
		case $name in
		docker) printf '%s %s\n' "$DOCKER_BRIDGE_VERSION" "$DOCKER_UPSTREAM_ARCHIVE" ;;
		random) printf '%s\n' "$RANDOM_MOVED_MODULES" ;;
		esac
		if [[ $name != cli ]]; then
			while IFS= read -r a; do manifest_field "$a" 1; done < <(archives_of "${name/nodejs/cli}")
		fi
		declare -f "$fn" unpack gobuild gonice
		if [[ -n $dir ]]; then
			(cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
		fi
	} | sha256sum | cut -c1-12
}

# unpack ARCHIVE DIR: a fresh scratch copy of an archive's tree (outside the repository).
unpack() {
	rm -rf "$2"
	mkdir -p "$2"
	tar -xzf "$VENDOR/$1" -C "$2" --strip-components=1
	if [[ -s $2/MISSING-FROM-SNAPSHOT.txt ]]; then
		log "$1 lists files missing from its snapshot:"
		sed 's/^/[toolchain]   /' "$2/MISSING-FROM-SNAPSHOT.txt" >&2
		return 1
	fi
}

# cached_build NAME FUNC KEY OUTNAME HINT: the finished binary for KEY, built with FUNC into a scratch
# folder if not cached. Prints its path.
cached_build() {
	local name=$1 fn=$2 key=$3 out=$4 hint=$5
	local dest="$BINCACHE/$name-${VERSION[$name]}-$key" dir="$WORK/$name" logf="$LOGS/$name-${VERSION[$name]}.log" t
	if [[ -x $dest/$out ]] && ! $REBUILD; then
		log "$name: cached build $dest/$out"
	else
		log "$name: building (about ${MINUTES[$name]} min on 2 busy cores from an empty cache, seconds with warm Go caches); output: $logf"
		t=$(now)
		rm -rf "$dir"
		mkdir -p "$dir"
		run_logged "$name ${VERSION[$name]}" "$logf" "$fn" "$dir" "${VERSION[$name]}" "$dir/$out"
		((RUN_RC == 0)) || fail_build "building $name ${VERSION[$name]}" "$logf" "$hint"
		rm -rf "$dest.tmp"
		mkdir -p "$dest.tmp"
		mv "$dir/$out" "$dest.tmp/$out"
		rm -rf "$dest"
		mv "$dest.tmp" "$dest"
		# older builds of this version (other sources, Go or recipe) are not used again
		find "$BINCACHE" -maxdepth 1 -name "$name-${VERSION[$name]}-*" ! -name "$(basename "$dest")" -exec rm -rf {} +
		rm -rf "$dir"
		DETAIL[$name]="built in $(elapsed "$t")"
		log "$name: built in $(elapsed "$t")"
	fi
	BUILT=$dest/$out
}

declare -A RESULT=()
declare -A DETAIL=()
BUILT=""

# ---------------------------------------------------------------------------
# Build recipes. Each runs in a scratch folder DIR with errexit, output to the step's log, and
# writes the binary to OUT. Editing a recipe changes the cache key (build_key hashes it).

# pulumi CLI: github.com/pulumi/pulumi/pkg/v3/cmd/pulumi through the wrapper module tools/toolchain/cli.
build_cli() {
	local dir=$1 version=$2 out=$3 have
	cp -R "$WRAPPERS/cli/." "$dir/"
	chmod -R u+w "$dir"
	cd "$dir"
	have=$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)
	if [[ $have != "v$version" ]]; then
		echo "tools/toolchain/cli/go.mod pins pkg/v3 $have but package-lock.json wants v$version: cd tools/toolchain/cli && go get -tool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$version && go get github.com/pulumi/pulumi/sdk/v3@v$version && go mod tidy"
		return 1
	fi
	gobuild -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
		-o "$out" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}

# pulumi-language-nodejs: the release source (pulumi/pulumi sdk/nodejs/cmd/pulumi-language-nodejs).
# Its go.mod replaces pkg/v3 and sdk/v3 with the monorepo's folders; they point at the Go modules of
# the same release instead (the ones the CLI is built from).
build_nodejs() {
	local dir=$1 version=$2 out=$3
	unpack "pulumi-language-nodejs-v$version.tar.gz" "$dir"
	cd "$dir/sdk/nodejs/cmd/pulumi-language-nodejs"
	go mod edit -dropreplace=github.com/pulumi/pulumi/pkg/v3 -dropreplace=github.com/pulumi/pulumi/sdk/v3 \
		-require="github.com/pulumi/pulumi/pkg/v3@v$version" -require="github.com/pulumi/pulumi/sdk/v3@v$version"
	gobuild -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" -o "$out" .
}

# command: the release source, unchanged.
build_command() {
	local dir=$1 version=$2 out=$3
	unpack "pulumi-command-provider-v$version.tar.gz" "$dir"
	cd "$dir/provider"
	gobuild -ldflags "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=v$version" \
		-o "$out" ./cmd/pulumi-resource-command
}

# docker: the release source with the upstream Terraform provider at its submodule commit in
# ../upstream and pulumi-docker's patches applied to it, as pulumi-docker's own build does; the
# bridge moved to $DOCKER_BRIDGE_VERSION (the only change to the release source).
build_docker() {
	local dir=$1 version=$2 out=$3 p
	unpack "pulumi-docker-provider-v$version.tar.gz" "$dir"
	unpack "$DOCKER_UPSTREAM_ARCHIVE" "$dir/upstream"
	for p in "$dir"/patches/*.patch; do
		echo "applying $(basename "$p") to upstream"
		git -C "$dir/upstream" apply --whitespace=nowarn "$p"
	done
	cd "$dir/provider"
	go mod edit -require="github.com/pulumi/pulumi-terraform-bridge/v3@$DOCKER_BRIDGE_VERSION"
	gonice mod tidy
	echo "go.mod after moving the bridge to $DOCKER_BRIDGE_VERSION and go mod tidy:"
	go list -m github.com/pulumi/pulumi-terraform-bridge/v3 github.com/pulumi/pulumi/pkg/v3 github.com/pulumi/pulumi/sdk/v3
	VERSION=$version gonice generate ./cmd/pulumi-resource-docker
	gobuild -ldflags "-s -w -X github.com/pulumi/pulumi-docker/provider/v5/pkg/version.Version=$version" \
		-o "$out" ./cmd/pulumi-resource-docker
}

# random: the release source (with its nested shim module), schema stamped with the version; the two
# unserved modules moved to $RANDOM_MOVED_MODULES (the only change to the release source).
build_random() {
	local dir=$1 version=$2 out=$3 m
	unpack "pulumi-random-provider-v$version.tar.gz" "$dir"
	cd "$dir/provider"
	for m in $RANDOM_MOVED_MODULES; do go mod edit -require="$m"; done
	gonice mod tidy
	echo "go.mod after moving $RANDOM_MOVED_MODULES and go mod tidy:"
	go list -m github.com/pulumi/pulumi-terraform-bridge/v3 github.com/pulumi/pulumi/pkg/v3 github.com/pulumi/pulumi/sdk/v3 github.com/pulumi/pulumi-java
	VERSION=$version gonice generate ./cmd/pulumi-resource-random
	gobuild -ldflags "-s -w -X github.com/pulumi/pulumi-random/provider/v4/pkg/version.Version=$version" \
		-o "$out" ./cmd/pulumi-resource-random
}

# kubernetes: github.com/pulumi/pulumi-kubernetes/provider/v4 at the commit of tag v4.25.0, through
# the wrapper module tools/toolchain/kubernetes. main.go embeds schema-embed.json, which upstream
# generates and does not ship in the module zip: copy the command's files and generate it.
build_kubernetes() {
	local dir=$1 version=$2 out=$3 mod src
	cp -R "$WRAPPERS/kubernetes/." "$dir/"
	chmod -R u+w "$dir"
	cd "$dir"
	mod=$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi-kubernetes/provider/v4)
	# `go list -m` names the folder only once the module is downloaded
	go mod download "github.com/pulumi/pulumi-kubernetes/provider/v4@$mod"
	src=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)
	[[ -n $src ]]
	echo "source: github.com/pulumi/pulumi-kubernetes/provider/v4@$mod ($src)"
	cp "$src/cmd/pulumi-resource-kubernetes/"{main.go,generate.go,schema.json,terraform-mapping.json} .
	chmod u+w ./*.go ./*.json
	VERSION=$version gonice run generate.go
	gobuild -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$version" -o "$out" .
}

# ---------------------------------------------------------------------------
# Installing

PULUMI_BIN=""

# install_file SRC DEST: replace DEST atomically unless it is already the same file.
install_file() {
	cmp -s "$1" "$2" && ! $REINSTALL && return 0
	mkdir -p "$(dirname "$2")"
	install -m 0755 "$1" "$2.tmp.$$"
	mv -f "$2.tmp.$$" "$2"
}

# link_cli: $PULUMI_HOME/bin/{pulumi,pulumi-language-nodejs} -> versions/<v>/bin
link_cli() {
	local f
	mkdir -p "$LINK_BIN"
	for f in pulumi pulumi-language-nodejs; do
		[[ -e $INSTALL_BIN/$f ]] || continue
		if [[ -e $LINK_BIN/$f && ! -L $LINK_BIN/$f ]]; then
			log "cli: warning: $LINK_BIN/$f is a regular file (another install?); leaving it alone. Put $INSTALL_BIN on PATH instead."
		else
			ln -sfn "$INSTALL_BIN/$f" "$LINK_BIN/$f"
		fi
	done
}

step_cli() {
	step "pulumi CLI $CLI_VERSION (module github.com/pulumi/pulumi/pkg/v3@v$CLI_VERSION)"
	local sys have
	sys=$(find_system_cli)
	if [[ -n $sys ]]; then
		PULUMI_BIN=$sys
		RESULT[cli]="using $sys ($("$sys" version)) from PATH"
		log "cli: using the pulumi CLI already on PATH: $sys ($("$sys" version)); not building one"
		[[ -x $INSTALL_BIN/pulumi ]] ||
			log "cli: note: 'npx pulumi' looks for $INSTALL_BIN/pulumi and would try to download it; to populate it run: PATH=<a PATH without $(dirname "$sys")> scripts/toolchain.sh --only cli"
		return 0
	fi
	# The CLI was always built from its own release module: an installed one of the right version is kept.
	have=$("$INSTALL_BIN/pulumi" version 2>/dev/null || true)
	if [[ $have == "v$CLI_VERSION" ]] && ! $REINSTALL && ! $REBUILD; then
		log "cli: already installed: $INSTALL_BIN/pulumi ($have)"
		RESULT[cli]="$INSTALL_BIN/pulumi ($have, already installed)"
	else
		cached_build cli build_cli "$(build_key cli build_cli "$WRAPPERS/cli")" pulumi \
			"check that the Go module proxy is reachable (go env GOPROXY), then rerun scripts/toolchain.sh --only cli"
		install_file "$BUILT" "$INSTALL_BIN/pulumi"
		RESULT[cli]="$INSTALL_BIN/pulumi ($("$INSTALL_BIN/pulumi" version))"
	fi
	link_cli
	PULUMI_BIN="$INSTALL_BIN/pulumi"
	"$PULUMI_BIN" version >/dev/null || die "the installed CLI does not run: $PULUMI_BIN version failed" \
		"rerun scripts/toolchain.sh --only cli --rebuild"
}

step_nodejs() {
	step "pulumi-language-nodejs $CLI_VERSION (release source pulumi-language-nodejs-v$CLI_VERSION.tar.gz)"
	cached_build nodejs build_nodejs "$(build_key nodejs build_nodejs)" pulumi-language-nodejs \
		"the Go dependencies come from the module proxy (go env GOPROXY); the source from $VENDOR"
	install_file "$BUILT" "$INSTALL_BIN/pulumi-language-nodejs"
	link_cli
	RESULT[nodejs]="$INSTALL_BIN/pulumi-language-nodejs"
	[[ -z $(find_system_cli) ]] ||
		log "nodejs: note: a pulumi CLI from PATH is used; it finds this language host through $LINK_BIN on PATH (--print-env adds it)"
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
	return 1
}
# Providers built while no CLI was there to install them (the remaining builds still run).
declare -a NOT_INSTALLED=()

# install_plugin NAME VERSION BINARY: `pulumi plugin install ... --file` unless the same binary is there.
install_plugin() {
	local name=$1 version=$2 bin=$3
	local target="$PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name"
	if cmp -s "$bin" "$target" && ! $REINSTALL; then
		log "$name: already installed: $target"
		return 0
	fi
	if ! need_cli; then
		log "$name: built, but there is no pulumi CLI to install it with (scripts/toolchain.sh --only cli)"
		NOT_INSTALLED+=("$name")
		return 0
	fi
	log "$name: pulumi plugin install resource $name $version --file $bin"
	PULUMI_HOME=$PULUMI_HOME PULUMI_SKIP_UPDATE_CHECK=true \
		"$PULUMI_BIN" plugin install resource "$name" "$version" --file "$bin" --reinstall --non-interactive >&2 ||
		die "pulumi plugin install for $name $version failed (output above)" \
			"check that $PULUMI_HOME is writable; remove $PULUMI_HOME/plugins/resource-$name-v$version* and rerun"
	cmp -s "$bin" "$target" ||
		die "$name: plugin install reported success but $target is not the built binary" "report this"
}

# provider_step NAME BUILD_FUNCTION WHAT HINT [WRAPPER_DIR]
provider_step() {
	local name=$1 fn=$2 what=$3 hint=$4 wrapper=${5:-}
	step "provider $name ${VERSION[$name]} ($what)"
	cached_build "$name" "$fn" "$(build_key "$name" "$fn" "$wrapper")" "pulumi-resource-$name" "$hint"
	RESULT[$name]="$PULUMI_HOME/plugins/resource-$name-v${VERSION[$name]}/pulumi-resource-$name"
	install_plugin "$name" "${VERSION[$name]}" "$BUILT"
	[[ " ${NOT_INSTALLED[*]} " != *" $name "* ]] || RESULT[$name]="NOT INSTALLED (no pulumi CLI); built: $BUILT"
}

# Earlier versions of this script installed other builds under release labels they were not:
# kubernetes (the v4.25.0 commit) as 4.34.2 and a hand re-bridged random as 4.21.2. Remove those
# plugins, but only when the installed binary is one that script built (its finished-binary cache).
remove_mislabelled() {
	local label name version target old
	for label in kubernetes@4.34.2 random@4.21.2; do
		name=${label%@*}
		version=${label#*@}
		target="$PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name"
		for old in "$BINCACHE/$name-$version-"*/pulumi-resource-"$name"; do
			[[ -f $old ]] || continue
			if [[ -f $target ]] && cmp -s "$old" "$target"; then
				log "removing $PULUMI_HOME/plugins/resource-$name-v$version: built by an earlier toolchain from other source and labelled $version"
				rm -rf "$PULUMI_HOME/plugins/resource-$name-v$version" "$PULUMI_HOME/plugins/resource-$name-v$version.lock" \
					"$PULUMI_HOME/plugins/resource-$name-v$version.partial"
			fi
			rm -rf "$(dirname "$old")"
		done
	done
}

# ---------------------------------------------------------------------------
# Main

if wants kubernetes && [[ ${VERSION[kubernetes]} != "$KUBERNETES_RELEASE" ]]; then
	die "package-lock.json pins @pulumi/kubernetes ${VERSION[kubernetes]}, but the only kubernetes provider source the Go module proxy serves is release $KUBERNETES_RELEASE" \
		"pin the SDK to the provider that can be built: npm install --save-exact @pulumi/kubernetes@$KUBERNETES_RELEASE"
fi

T0=$(now)
log "PULUMI_HOME=$PULUMI_HOME"
log "TOOLCHAIN_CACHE=$TOOLCHAIN_CACHE (go$GO_VERSION, GOPROXY=$(go env GOPROXY))"
log "steps: ${STEPS[*]}"

wants cli && step_cli
wants command && provider_step command build_command "release source pulumi-command-provider-v${VERSION[command]}.tar.gz" \
	"the Go dependencies come from the module proxy (go env GOPROXY); the source from $VENDOR"
wants docker && provider_step docker build_docker \
	"release source pulumi-docker-provider-v${VERSION[docker]}.tar.gz + $DOCKER_UPSTREAM_ARCHIVE, bridge $DOCKER_BRIDGE_VERSION" \
	"the Go dependencies come from the module proxy (go env GOPROXY); the sources from $VENDOR"
wants cli && step_nodejs
wants random && provider_step random build_random "release source pulumi-random-provider-v${VERSION[random]}.tar.gz" \
	"the Go dependencies come from the module proxy (go env GOPROXY); the source from $VENDOR"
wants kubernetes && provider_step kubernetes build_kubernetes \
	"module github.com/pulumi/pulumi-kubernetes/provider/v4 at the commit of tag v$KUBERNETES_RELEASE" \
	"check that the module proxy is reachable; the pinned source version is in tools/toolchain/kubernetes/go.mod" \
	"$WRAPPERS/kubernetes"
remove_mislabelled

printf '\n[toolchain] ==> summary (%s)\n' "$(elapsed "$T0")" >&2
for c in cli command docker nodejs random kubernetes; do
	[[ -n ${RESULT[$c]:-} ]] || continue
	log "$(printf '%-11s %-8s %s%s' "$c" "${VERSION[$c]}" "${RESULT[$c]}" "${DETAIL[$c]:+ [${DETAIL[$c]}]}")"
done
log "cache: $TOOLCHAIN_CACHE ($(du -sh "$TOOLCHAIN_CACHE" 2>/dev/null | cut -f1)); build logs in $LOGS"
if [[ ${#NOT_INSTALLED[@]} -gt 0 ]]; then
	die "built but not installed (no pulumi CLI): ${NOT_INSTALLED[*]}" "run scripts/toolchain.sh --only cli,${NOT_INSTALLED[*]// /,} (the builds are cached)"
fi
log "to use it:  eval \"\$(scripts/toolchain.sh --print-env)\""
