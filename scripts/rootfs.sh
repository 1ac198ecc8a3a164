#!/usr/bin/env bash
# Builds a Debian root file system from Debian packages only (mmdebstrap, from this machine's apt
# sources), for images the project builds itself where no container registry is reachable: the local
# Triton image (scripts/build-triton-image.sh), a service's own image (Debian + its runtime).
#
# Usage:
#   scripts/rootfs.sh DIR PACKAGE...          fill DIR (emptied first) with Debian + PACKAGEs; prints DIR
#   scripts/rootfs.sh --print-tar PACKAGE...  build if needed; print the cached tarball's path (owners and
#                                             modes kept: feed it to `docker import`, or `tar -x` as root)
#   scripts/rootfs.sh --key PACKAGE...        print the cache key only (builds nothing)
# e.g.
#   tar="$(bash scripts/rootfs.sh --print-tar nodejs)"
#   docker import --change 'CMD ["node", "/srv/main.js"]' "$tar" localhost/dialogue:dev
#   bash scripts/rootfs.sh /tmp/root python3 python3-numpy && chroot /tmp/root python3 -c 'import numpy'
#
# What the tree holds: mmdebstrap's `essential` variant (Essential: yes packages, no apt) plus PACKAGEs
# and what they depend on (no Recommends), /usr/share/{doc,man,info,locale} left out but copyright files,
# no apt lists or caches. Suite: ROOTFS_SUITE (default bookworm, Debian 12, glibc 2.36).
#
# Cache: ${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/rootfs/<key>/rootfs.tar, where <key> hashes
# the sorted package list, the suite, the architecture, the apt sources used and this script. A second
# run with the same inputs builds nothing (a tar extraction for DIR: seconds). The mirror is not a
# snapshot: a rebuild (another key, or the cache removed) may get newer package versions; the tarball's
# folder keeps the installed versions in packages.txt.
# Apt sources: ROOTFS_SOURCES (a file in sources.list or deb822 format; default the machine's
# /etc/apt/sources.list.d/debian.sources, else /etc/apt/sources.list). Needs root (mmdebstrap's root mode:
# the packages' maintainer scripts run in a chroot) and the Debian package mmdebstrap
# (scripts/apt-packages.txt).
set -euo pipefail

say() { echo "rootfs: $*" >&2; }
die() {
    say "$*"
    exit 1
}

mode=dir
dir=""
case "${1:-}" in
--print-tar) mode=tar; shift ;;
--key) mode=key; shift ;;
-h | --help | "")
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    [[ -n "${1:-}" ]] && exit 0
    exit 2
    ;;
-*) die "unknown option $1 (see --help)" ;;
*) dir="$1"; shift ;;
esac
[[ $# -gt 0 ]] || die "name at least one Debian package (see --help)"

suite="${ROOTFS_SUITE:-bookworm}"
sources="${ROOTFS_SOURCES:-}"
if [[ -z "$sources" ]]; then
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        sources=/etc/apt/sources.list.d/debian.sources
    else
        sources=/etc/apt/sources.list
    fi
fi
[[ -s "$sources" ]] || die "no apt sources in $sources (set ROOTFS_SOURCES)"
arch="$(dpkg --print-architecture)"
packages="$(printf '%s\n' "$@" | sort -u | tr '\n' ' ')"
packages="${packages% }"
key="$({
    printf 'suite=%s\narch=%s\npackages=%s\n' "$suite" "$arch" "$packages"
    grep -v '^[[:space:]]*#' "$sources"
    cat "$0"
} | sha256sum | cut -c1-16)"

if [[ "$mode" == key ]]; then
    echo "$key"
    exit 0
fi

cache="${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/rootfs/$key"
tarball="$cache/rootfs.tar"
if [[ ! -s "$tarball" || ! -f "$cache/.built" ]]; then
    [[ "$(id -u)" -eq 0 ]] || die "needs root (mmdebstrap's root mode runs the packages' maintainer scripts in a chroot)"
    command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install mmdebstrap (scripts/apt-packages.txt)"
    say "building Debian $suite ($arch) with: $packages (key $key; a minute or two)"
    mkdir -p "$cache"
    stage="$(mktemp -d "$cache/.stage.XXXXXX")"
    trap 'rm -rf "$stage"' EXIT
    include="$(printf '%s' "$packages" | tr ' ' ',')"
    # The machine's apt.conf.d options (e.g. Check-Valid-Until off for a frozen mirror) are not read by
    # mmdebstrap's own apt: the two that matter for a snapshot mirror are passed on.
    mmdebstrap --quiet --mode=root --variant=essential --include="$include" \
        --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Retries "3"' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --customize-hook="dpkg-query --admindir=\"\$1/var/lib/dpkg\" -W -f '\${Package} \${Version}\n' >'$stage/packages.txt'" \
        "$suite" "$stage/rootfs.tar" "$sources" >&2 || die "mmdebstrap failed (output above)"
    mv "$stage/packages.txt" "$cache/packages.txt"
    mv "$stage/rootfs.tar" "$tarball"
    : >"$cache/.built"
    say "built $tarball ($(du -m "$tarball" | cut -f1) MB)"
fi

if [[ "$mode" == tar ]]; then
    echo "$tarball"
    exit 0
fi
[[ "$dir" != / ]] || die "refusing to fill /"
mkdir -p "$dir"
find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
tar -C "$dir" --numeric-owner -xf "$tarball"
echo "$dir"
