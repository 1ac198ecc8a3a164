#!/usr/bin/env bash
# Installs a real, CPU-only NVIDIA Triton Inference Server for tests, from the PyPI wheel of PyTriton
# (nvidia-pytriton), which carries a complete `tritonserver` build: tritonserver 2.51.0, the Python
# backend (libtriton_python.so) with its per-Python-version stubs, and the shared libraries it links
# (nvidia_pytriton.libs/). No GPU, Docker or NGC login is needed; Python-backend models run on CPU and
# Triton exports its Prometheus metrics (nv_inference_request_success, nv_inference_request_failure
# {reason}, nv_inference_request_summary_us{quantile} with --metrics-config summary_latencies=true).
#
# The wheel is pinned by version AND sha256 (pip --require-hashes): a changed file on the registry fails
# the install. Only pytriton/tritonserver/ and nvidia_pytriton.libs/ are kept, in the wheel's own layout
# (the binaries find their libraries through RPATH $ORIGIN/../../../nvidia_pytriton.libs), under
#   ${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/triton/<pytriton version>/
# A second run finds the finished install and returns in milliseconds.
#
# The Python backend runs models in `triton_python_backend_stub`, which embeds the machine's Python:
# the stub built for that Python (Debian 12: 3.11, libpython3.11.so.1.0) is copied beside
# libtriton_python.so, where the backend looks for it. Models import numpy from Debian's python3-numpy
# (scripts/apt-packages.txt lists it, libpython3.11 and python3-pip).
#
# Usage:
#   scripts/install-triton.sh                 install if needed; print the tritonserver path
#   scripts/install-triton.sh --print-path    the same, for callers: stdout is only the path
#   scripts/install-triton.sh --check         exit 0 if installed (prints the path), 1 if not; no download
#   scripts/install-triton.sh --print-root    install if needed; print the install root instead (it holds
#                                             pytriton/tritonserver/ and nvidia_pytriton.libs/: copy both,
#                                             side by side, to move the server, e.g. into an image)
# Run the server with the install's backend folder, e.g.
#   bin="$(scripts/install-triton.sh --print-path)"
#   "$bin" --model-repository=DIR --backend-directory="$(dirname "$bin")/../backends" \
#       --metrics-config summary_latencies=true --http-address=127.0.0.1 --metrics-address=127.0.0.1
# Environment: TOOLCHAIN_CACHE (cache root), PYTHON (the Python the stub must embed; default
# /usr/bin/python3, Debian's), PIP_PYTHON (the Python whose pip downloads the wheel; default PYTHON).
set -euo pipefail

PYTRITON_VERSION="0.7.0"
# The Triton release inside that wheel (for messages and docs only).
TRITON_VERSION="2.51.0"
# sha256 of nvidia_pytriton-0.7.0-py3-none-manylinux_2_35_x86_64.whl (x86_64 is the only architecture
# pinned; the wheel needs glibc 2.35 or newer: Debian 12, Ubuntu 22.04).
PYTRITON_SHA256="21f063ff93bb426d0c06b7a55e7eb9efcfe62c0dddd9a908e9877e18710128df"

mode="install"
print="bin"
case "${1:-}" in
"") ;;
--print-path) mode="install" ;;
--print-root) print="root" ;;
--check) mode="check" ;;
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: $0 [--print-path|--print-root|--check]" >&2
    exit 2
    ;;
esac

say() { echo "install-triton: $*" >&2; }
die() {
    say "$*"
    exit 1
}

root="${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/triton/$PYTRITON_VERSION"
server="$root/pytriton/tritonserver"
bin="$server/bin/tritonserver"
marker="$root/.installed"

result() { if [[ "$print" == "root" ]]; then echo "$root"; else echo "$bin"; fi; }

if [[ -f "$marker" && -x "$bin" && -x "$server/backends/python/triton_python_backend_stub" ]]; then
    result
    exit 0
fi
[[ "$mode" == "check" ]] && exit 1

[[ "$(uname -m)" == "x86_64" ]] || die "only x86_64 is pinned (the wheel's sha256 is for manylinux_2_35_x86_64); this machine is $(uname -m)"

python="${PYTHON:-/usr/bin/python3}"
[[ -x "$python" ]] || python="$(command -v python3 || true)"
[[ -n "$python" && -x "$python" ]] || die "no python3: install Debian's python3 (and python3-numpy, libpython3.11)"
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
"$python" -c 'import numpy' 2>/dev/null || die "$python cannot import numpy, which Python-backend models need: apt-get install python3-numpy"

pip_python="${PIP_PYTHON:-$python}"
"$pip_python" -m pip --version >/dev/null 2>&1 || pip_python="$(command -v python3 || true)"
if [[ -z "$pip_python" ]] || ! "$pip_python" -m pip --version >/dev/null 2>&1; then
    die "no pip: apt-get install python3-pip"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/install-triton.XXXXXX")"
trap 'rm -rf "$work"' EXIT

say "downloading nvidia-pytriton==$PYTRITON_VERSION (tritonserver $TRITON_VERSION, about 55 MB), checked against its sha256"
printf 'nvidia-pytriton==%s --hash=sha256:%s\n' "$PYTRITON_VERSION" "$PYTRITON_SHA256" >"$work/requirements.txt"
"$pip_python" -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
    -r "$work/requirements.txt" -d "$work/wheel" >&2
wheel="$(find "$work/wheel" -name 'nvidia_pytriton-*.whl' -print -quit)"
[[ -n "$wheel" ]] || die "pip downloaded no wheel"
# pip checked the hash already; checking again costs a second and guards against a pip that did not.
echo "$PYTRITON_SHA256  $wheel" | sha256sum --check --quiet - || die "sha256 mismatch for $wheel"

# Extract into a fresh folder, then move it into place: an interrupted run leaves no half install.
stage="$work/stage"
mkdir -p "$stage"
"$python" - "$wheel" "$stage" <<'EOF'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
keep = ("pytriton/tritonserver/", "nvidia_pytriton.libs/")
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(keep):
            continue
        path = z.extract(info, dest)
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(path, mode)
EOF
stub="$stage/pytriton/tritonserver/python_backend_stubs/$pyver/triton_python_backend_stub"
[[ -f "$stub" ]] || die "the wheel has no Python backend stub for Python $pyver (it has: $(find "$stage/pytriton/tritonserver/python_backend_stubs" -mindepth 1 -maxdepth 1 -printf '%f '))"
# The backend runs the stub it finds beside libtriton_python.so. Same folder depth as the stubs'
# folder, so the stub's RPATH ($ORIGIN/../../../../nvidia_pytriton.libs) still resolves.
install -m 0755 "$stub" "$stage/pytriton/tritonserver/backends/python/triton_python_backend_stub"
chmod 0755 "$stage/pytriton/tritonserver/bin/tritonserver"

for f in "$stage/pytriton/tritonserver/bin/tritonserver" "$stage/pytriton/tritonserver/backends/python/triton_python_backend_stub" \
    "$stage/pytriton/tritonserver/backends/python/libtriton_python.so"; do
    missing="$(ldd "$f" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')"
    [[ -z "$missing" ]] || die "$(basename "$f") misses shared libraries: $missing(the stub needs libpython$pyver: apt-get install libpython$pyver)"
done

mkdir -p "$(dirname "$root")"
rm -rf "$root"
mv "$stage" "$root"
printf 'nvidia-pytriton %s (tritonserver %s), Python %s stub\n' "$PYTRITON_VERSION" "$TRITON_VERSION" "$pyver" >"$marker"
say "installed tritonserver $TRITON_VERSION under $root"
result
