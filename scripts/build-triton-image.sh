#!/usr/bin/env bash
# Builds a local, CPU-only Triton Inference Server image from package registries alone (no container
# registry): Debian 12 with python3 and python3-numpy from Debian's packages (scripts/rootfs.sh), and
# tritonserver 2.51.0 with its Python backend from PyPI's nvidia-pytriton 0.7.0, pinned by version and
# sha256 (scripts/install-triton.sh downloads and checks it). For the tests, and for air-gapped users who
# cannot pull NVIDIA's image: `server.image` stays the setting that names the image (its default remains
# NVIDIA's pinned nvcr.io image).
#
# The result is a root file system tarball plus the image settings `docker import` takes:
#   scripts/build-triton-image.sh                 build if needed; print the image folder, which holds
#                                                 image.tar, import-changes (one `docker import --change`
#                                                 value a line) and tag (a reference naming the inputs)
#   scripts/build-triton-image.sh --import [REF]  also `docker import` it into the Docker engine that
#                                                 `docker` reaches (DOCKER_HOST, e.g. ssh://user@server),
#                                                 as REF (default: the content of `tag`); prints REF
#   scripts/build-triton-image.sh --key           the cache key only (builds nothing)
# e.g. on a machine with Docker and a server's engine over SSH:
#   DOCKER_HOST=ssh://ubuntu@203.0.113.10 bash scripts/build-triton-image.sh --import
#   pulumi config set --path server.image "$(cat "$(bash scripts/build-triton-image.sh)/tag")"
#
# Inside the image, as in NVIDIA's: tritonserver on PATH (/usr/local/bin -> /opt/tritonserver/bin), the
# backends in /opt/tritonserver/backends (Triton's default --backend-directory), the Python backend stub
# for the image's Python (3.11) beside libtriton_python.so, and the user triton-server with uid and gid
# 1000 (server.modelContainerUser's default). The wheel's own layout is kept under /opt/pytriton (its
# binaries find nvidia_pytriton.libs through RPATH $ORIGIN/../../../nvidia_pytriton.libs).
#
# Cache: ${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/triton-image/<key>/, where <key> hashes the
# root file system's key, scripts/install-triton.sh (the wheel's version and hash) and this script: a
# second run with the same inputs builds nothing and takes a fraction of a second. Needs root (the root
# file system keeps its owners).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
say() { echo "build-triton-image: $*" >&2; }
die() {
    say "$*"
    exit 1
}

mode=build
ref=""
case "${1:-}" in
"") ;;
--import) mode=import; ref="${2:-}" ;;
--key) mode=key ;;
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*) die "usage: $0 [--import [REF]|--key]" ;;
esac

# Debian's Python (3.11 on bookworm) with numpy: the Python backend stub embeds libpython3.11; tritonserver
# links libstdc++ and zlib from the system (the rest comes with the wheel).
packages=(python3 python3-numpy libpython3.11 libstdc++6 zlib1g)
rootfs_key="$(bash "$here/rootfs.sh" --key "${packages[@]}")"
key="$({
    echo "rootfs=$rootfs_key"
    cat "$here/install-triton.sh" "$0"
} | sha256sum | cut -c1-16)"
pytriton_version="$(sed -n 's/^PYTRITON_VERSION="\(.*\)"$/\1/p' "$here/install-triton.sh")"
triton_version="$(sed -n 's/^TRITON_VERSION="\(.*\)"$/\1/p' "$here/install-triton.sh")"
[[ -n "$pytriton_version" && -n "$triton_version" ]] || die "cannot read PYTRITON_VERSION/TRITON_VERSION from scripts/install-triton.sh"
if [[ "$mode" == key ]]; then
    echo "$key"
    exit 0
fi

out="${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/triton-image/$key"
if [[ ! -f "$out/.built" ]]; then
    [[ "$(id -u)" -eq 0 ]] || die "needs root (the image's root file system keeps its owners)"
    rootfs_tar="$(bash "$here/rootfs.sh" --print-tar "${packages[@]}")"
    triton_root="$(bash "$here/install-triton.sh" --print-root)"
    started=$SECONDS
    say "composing the image (Debian root $rootfs_key + tritonserver $triton_version from nvidia-pytriton $pytriton_version)"
    mkdir -p "$(dirname "$out")"
    stage="$(mktemp -d "$(dirname "$out")/.stage.XXXXXX")"
    trap 'rm -rf "$stage"' EXIT
    root="$stage/root"
    mkdir -p "$root"
    tar -C "$root" --numeric-owner -xf "$rootfs_tar"

    pyver="$(chroot "$root" /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    mkdir -p "$root/opt/pytriton"
    cp -a "$triton_root/pytriton" "$triton_root/nvidia_pytriton.libs" "$root/opt/pytriton/"
    server="$root/opt/pytriton/pytriton/tritonserver"
    stub="$server/python_backend_stubs/$pyver/triton_python_backend_stub"
    [[ -f "$stub" ]] || die "the wheel has no Python backend stub for the image's Python $pyver"
    install -m 0755 "$stub" "$server/backends/python/triton_python_backend_stub"
    # Only the image's Python runs here: the other versions' stubs are dead weight.
    rm -rf "$server/python_backend_stubs"
    ln -s pytriton/pytriton/tritonserver "$root/opt/tritonserver"
    ln -s /opt/tritonserver/bin/tritonserver "$root/usr/local/bin/tritonserver"
    chown -R 0:0 "$root/opt/pytriton"
    # NVIDIA's images have this user; server.modelContainerUser defaults to its ids.
    echo 'triton-server:x:1000:1000:Triton Inference Server:/home/triton-server:/bin/bash' >>"$root/etc/passwd"
    echo 'triton-server:x:1000:' >>"$root/etc/group"
    install -d -o 1000 -g 1000 -m 0755 "$root/home/triton-server"
    install -d -m 0755 "$root/models"

    # Every binary must find its libraries inside the image (its own loader, the image's libc).
    for f in /opt/tritonserver/bin/tritonserver /opt/tritonserver/backends/python/triton_python_backend_stub /opt/tritonserver/backends/python/libtriton_python.so; do
        missing="$(chroot "$root" /usr/bin/ldd "$f" 2>&1 | awk '/not found/ {print $1}' | tr '\n' ' ')"
        [[ -z "$missing" ]] || die "$f misses shared libraries inside the image: $missing"
    done
    chroot "$root" /usr/bin/python3 -c 'import numpy' || die "numpy does not import inside the image"

    printf '%s\n' \
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        'WORKDIR /' \
        'CMD ["tritonserver", "--model-repository=/models"]' \
        "LABEL org.opencontainers.image.title=tritonserver-cpu" \
        "LABEL org.opencontainers.image.version=$triton_version" \
        "LABEL org.opencontainers.image.description=\"Triton $triton_version (CPU, Python backend) from nvidia-pytriton $pytriton_version on Debian $(cat "$root/etc/debian_version")\"" \
        >"$stage/import-changes"
    echo "localhost/tritonserver-cpu:$triton_version-$key" >"$stage/tag"
    tar -C "$root" --numeric-owner -cf "$stage/image.tar" .
    rm -rf "$root"
    rm -rf "$out"
    mv "$stage" "$out"
    trap - EXIT
    : >"$out/.built"
    say "built $out/image.tar ($(du -m "$out/image.tar" | cut -f1) MB) in $((SECONDS - started)) s"
fi

if [[ "$mode" == import ]]; then
    [[ -n "$ref" ]] || ref="$(cat "$out/tag")"
    changes=()
    while IFS= read -r line; do changes+=(--change "$line"); done <"$out/import-changes"
    ${DOCKER:-docker} import "${changes[@]}" "$out/image.tar" "$ref" >/dev/null
    echo "$ref"
    exit 0
fi
echo "$out"
