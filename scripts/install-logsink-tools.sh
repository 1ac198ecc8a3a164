#!/usr/bin/env bash
# Builds, from Go modules, the two real programs the log-sink tests run:
#   - otelcol-logsink: an OpenTelemetry Collector with exactly the components the LogSink
#     configuration uses (filelog receiver, k8sattributes/resource/batch/memory_limiter processors,
#     otlp receiver/exporter for the loopback that gives uploads a retrying disk queue, awss3 exporter,
#     file_storage and health_check extensions), at the version of the pinned
#     image (otel/opentelemetry-collector-contrib). Used for `otelcol validate` and the pipeline test.
#   - minio: an S3-compatible server for the pipeline test (write, outage, restart, nothing lost).
# Neither is packaged by Debian; both are Go modules on the module proxy. Builds are cached under
# ${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/logsink, keyed by version: a second run takes
# seconds. A build prints its step and a line every minute; the go command's own output goes to
# logsink/logs/<name>.log, which the error names when a build fails. Prints the paths of the binaries
# on success (stdout; everything else goes to stderr).
#
# Usage: scripts/install-logsink-tools.sh [otelcol|minio|all]   (default: all)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Keep in step with DEFAULT_SHIPPER_IMAGE in components/logsink/schema.ts: the configuration is
# validated by the same collector version the cluster runs.
OTELCOL_VERSION="0.130.0"
# confmap providers are versioned 1.x alongside collector 0.x (0.130.0 <-> 1.36.0).
OTELCOL_PROVIDER_VERSION="1.36.0"
# The module proxy holds MinIO as a pseudo-version only (the project tags RELEASE.* names).
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
# Seconds between the "still building" lines of run_logged (scripts/lib.sh).
export TOOLCHAIN_HEARTBEAT="${TOOLCHAIN_HEARTBEAT:-60}"

what="${1:-all}"
case "$what" in otelcol | minio | all) ;; *)
    echo "usage: $0 [otelcol|minio|all]" >&2
    exit 2
    ;;
esac

cache="${TOOLCHAIN_CACHE:-$HOME/.cache/triton-platform}/logsink"
bin="$cache/bin"
logs="$cache/logs"
mkdir -p "$bin" "$logs"
export GOMODCACHE="$cache/gomod"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS=-buildvcs=false
# The checksum database is not reachable through this network's module proxy (lookups answer 404),
# so verification against sum.golang.org is off unless the caller sets GOSUMDB; the proxy still
# serves every module over TLS. Set GOSUMDB=sum.golang.org where the database is reachable.
export GOSUMDB="${GOSUMDB:-off}"
nice_level="${TOOLCHAIN_NICE:-10}"

# Cached binaries are returned without needing Go; a build checks the one Go requirement first.
go_checked=false
go_version=""
need_go() {
    $go_checked && return 0
    go_version="$(ensure_go)"
    go_checked=true
}

# run_logged (scripts/lib.sh) puts each build's output in its log and prints a heartbeat line.

otelcol_generate() {
    local work="$1" v="v$OTELCOL_VERSION"
    GOBIN="$work/tool" nice -n "$nice_level" go install "go.opentelemetry.io/collector/cmd/builder@$v"
    # The builder's own `go mod tidy` also resolves the test-only imports of every component, and the
    # module proxy here refuses some of those (403), so the builder only generates the sources and
    # `go build -mod=mod` resolves what the binary itself imports.
    "$work/tool/builder" --config "$work/builder-config.yaml" --skip-get-modules --skip-compilation
}

otelcol_compile() {
    cd "$1/dist" && nice -n "$nice_level" go build -v -mod=mod -trimpath -ldflags "-s -w" -o otelcol-logsink .
}

build_otelcol() {
    local out="$bin/otelcol-logsink-$OTELCOL_VERSION"
    if [[ -x "$out" ]]; then
        echo "$out"
        return
    fi
    need_go
    local work="$cache/otelcol-$OTELCOL_VERSION"
    mkdir -p "$work"
    local c="github.com/open-telemetry/opentelemetry-collector-contrib"
    local v="v$OTELCOL_VERSION" p="v$OTELCOL_PROVIDER_VERSION"
    cat >"$work/builder-config.yaml" <<EOF
dist:
  module: triton-platform/otelcol-logsink
  name: otelcol-logsink
  description: OpenTelemetry Collector with the components of the triton-platform log sink
  version: $OTELCOL_VERSION
  output_path: $work/dist
receivers:
  - gomod: $c/receiver/filelogreceiver $v
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $v
processors:
  - gomod: go.opentelemetry.io/collector/processor/batchprocessor $v
  - gomod: go.opentelemetry.io/collector/processor/memorylimiterprocessor $v
  - gomod: $c/processor/resourceprocessor $v
  - gomod: $c/processor/k8sattributesprocessor $v
exporters:
  - gomod: $c/exporter/awss3exporter $v
  - gomod: go.opentelemetry.io/collector/exporter/otlpexporter $v
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter $v
extensions:
  - gomod: $c/extension/storage/filestorage $v
  - gomod: $c/extension/healthcheckextension $v
providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider $p
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider $p
  - gomod: go.opentelemetry.io/collector/confmap/provider/yamlprovider $p
EOF
    local logf="$logs/otelcol-$OTELCOL_VERSION.log"
    log "step 1/2: OpenTelemetry Collector $OTELCOL_VERSION: generating the sources (under a minute); output: $logs/otelcol-$OTELCOL_VERSION-builder.log"
    run_logged "otelcol $OTELCOL_VERSION: builder" "$logs/otelcol-$OTELCOL_VERSION-builder.log" otelcol_generate "$work"
    log "step 2/2: OpenTelemetry Collector $OTELCOL_VERSION: compiling (about 3 min on 2 cores from an empty module cache); output: $logf"
    run_logged "otelcol $OTELCOL_VERSION: go build" "$logf" otelcol_compile "$work"
    install -m 0755 "$work/dist/otelcol-logsink" "$out"
    rm -f "$work/dist/otelcol-logsink"
    log "otelcol: $out"
    echo "$out"
}

build_minio() {
    local out="$bin/minio-$MINIO_VERSION"
    if [[ -x "$out" ]]; then
        echo "$out"
        return
    fi
    need_go
    local logf="$logs/minio-$MINIO_VERSION.log"
    log "step 1/1: MinIO $MINIO_VERSION: go install (about 10 min on 2 busy cores from an empty module cache); output: $logf"
    run_logged "minio $MINIO_VERSION: go install" "$logf" \
        env GOBIN="$cache/minio-tool" nice -n "$nice_level" go install -v -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION"
    install -m 0755 "$cache/minio-tool/minio" "$out"
    rm -rf "$cache/minio-tool"
    log "minio: $out"
    echo "$out"
}

case "$what" in
otelcol) build_otelcol ;;
minio) build_minio ;;
all)
    build_otelcol
    build_minio
    ;;
esac
