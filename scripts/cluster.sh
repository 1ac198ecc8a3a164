#!/usr/bin/env bash
# A local Kubernetes cluster for the real Kubernetes path, built from Go modules only (no images, no
# downloads at run time): etcd 3.6, kube-apiserver/controller-manager/scheduler v1.34.4 started by
# kwokctl as local processes bound to 127.0.0.1, and kwok's fake kubelets as the nodes (three zones).
# What it covers and what it does not: docs/CLUSTER.md.
#
#   scripts/cluster.sh build             build the binaries and fetch the CRDs (cached by version)
#   scripts/cluster.sh up [--deploy]     start the cluster (building first if needed); --deploy then
#                                        runs `pulumi up` of the `cluster` stack (Pulumi.cluster.yaml)
#   scripts/cluster.sh down              destroy the `cluster` stack's objects (if any), stop the cluster
#   scripts/cluster.sh status            is it running; its kubeconfig
#   scripts/cluster.sh paths             print KEY=VALUE lines (binaries, CRDs) of a finished build
#
# Options of up/down/status: --name NAME (default triton), --workdir DIR (where clusters live).
# Environment:
#   CLUSTER_CACHE            module/build caches, binaries, logs   (default ~/.cache/triton-platform/cluster)
#   CLUSTER_NICE             niceness of the Go builds              (default 10)
#   CLUSTER_ZONES            zone names, comma-separated            (default zone-a,zone-b,zone-c)
#   CLUSTER_NODES_PER_ZONE   kwok nodes per zone                    (default 1)
#   CLUSTER_POD_READY_DELAY  how long kwok keeps a new pod unready  (default 5s; a pod's annotation
#                            pod-ready.stage.kwok.x-k8s.io/delay overrides it)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

readonly KUBE_VERSION=v1.34.4
readonly WRAPPERS="$REPO_ROOT/tools/cluster"
CLUSTER_CACHE=${CLUSTER_CACHE:-$HOME/.cache/triton-platform/cluster}
CLUSTER_NICE=${CLUSTER_NICE:-10}
CLUSTER_ZONES=${CLUSTER_ZONES:-zone-a,zone-b,zone-c}
CLUSTER_NODES_PER_ZONE=${CLUSTER_NODES_PER_ZONE:-1}
CLUSTER_POD_READY_DELAY=${CLUSTER_POD_READY_DELAY:-5s}
readonly LOGS="$CLUSTER_CACHE/logs"

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2; }

# ---------------------------------------------------------------------------------------------------
# Build

go_env() {
  command -v go >/dev/null 2>&1 || die "go is not on PATH: install Go 1.26 or newer (kwok v0.8.0 and etcd 3.6.17 need it)"
  local minor
  minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
  [[ $minor =~ ^[0-9]+$ && $minor -ge 26 ]] || die "Go $(go env GOVERSION) is too old: kwok v0.8.0 needs Go 1.26 or newer (GOTOOLCHAIN=local, no download)"
  export GOMODCACHE="$CLUSTER_CACHE/gomod" GOCACHE="$CLUSTER_CACHE/gocache" GOTOOLCHAIN=local CGO_ENABLED=0
  # readonly: the build uses the committed go.sum files and never edits the repository.
  export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
  mkdir -p "$GOMODCACHE" "$GOCACHE" "$LOGS" "$CLUSTER_CACHE/bin"
}

# key COMPONENT: hash of its wrapper module and the Go version, so an edit (or a new Go) rebuilds.
key() {
  (cd "$WRAPPERS/$1" && LC_ALL=C sha256sum go.mod go.sum 2>/dev/null; go env GOVERSION; printf '%s\n' "$KUBE_VERSION") | sha256sum | cut -c1-12
}
bindir() { printf '%s/bin/%s-%s' "$CLUSTER_CACHE" "$1" "$(key "$1")"; }

# run_logged STEP LABEL LOG COMMAND...: the command's raw output goes to LOG; a heartbeat line every
# 30 s says it is alive; on failure the log's tail is shown and its path named.
run_logged() {
  local step=$1 label=$2 logfile=$3
  shift 3
  local start=$SECONDS beat=$SECONDS pid status
  "$@" >"$logfile" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS - beat >= 30)) && kill -0 "$pid" 2>/dev/null; then
      beat=$SECONDS
      log "step $step: still $label ($((SECONDS - start)) s so far; output: $logfile)"
    fi
  done
  set +e
  wait "$pid"
  status=$?
  set -e
  if ((status != 0)); then
    tail -n 25 "$logfile" >&2 || true
    die "step $step failed: $label (exit $status); the whole go output is in $logfile"
  fi
  log "step $step: $label done in $((SECONDS - start)) s"
}

# module_dir WRAPPER MODULE: the directory of MODULE (a dependency of WRAPPER) in the module cache.
module_dir() {
  (cd "$WRAPPERS/$1" && go list -m -f '{{.Dir}}' "$2")
}

# Cold times measured on 2 busy cores are in docs/CLUSTER.md; the estimates below come from there.
readonly STEPS=5
build() {
  go_env
  exec 8>"$CLUSTER_CACHE/.lock"
  if ! flock -n 8; then
    log "another scripts/cluster.sh build holds $CLUSTER_CACHE/.lock; waiting for it"
    flock 8
  fi
  build_locked
  # Closed before anything is started: the cluster's processes would inherit the lock and hold it.
  exec 8>&-
}

build_locked() {
  local t0=$SECONDS ld dest c

  dest=$(bindir etcd)
  local kwok_dest k8s_dest crd_dest
  kwok_dest=$(bindir kwok)
  k8s_dest=$(bindir kubernetes)
  crd_dest=$(bindir crds)
  if [[ -x $dest/etcd && -x $kwok_dest/kwokctl && -x $k8s_dest/kube-apiserver && -f $crd_dest/.done ]]; then
    log "cached build: $CLUSTER_CACHE/bin (etcd, kwok, kwokctl, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, CRDs)"
    return 0
  fi
  log "building the local cluster into $CLUSTER_CACHE (cold: about 20 minutes on 2 busy cores, a few GB of Go caches; cached afterwards)"

  log "step 1/$STEPS: downloading Go modules (cold: 1-3 min)"
  for c in etcd kwok kubernetes crds; do
    run_logged 1/$STEPS "downloading the modules of tools/cluster/$c" "$LOGS/download-$c.log" \
      bash -c "cd '$WRAPPERS/$c' && go mod download -x"
  done

  if [[ -x $dest/etcd ]]; then
    log "step 2/$STEPS: etcd: cached ($dest)"
  else
    log "step 2/$STEPS: building etcd (go.etcd.io/etcd/server/v3; cold: about 2 min)"
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    run_logged 2/$STEPS "building etcd" "$LOGS/build-etcd.log" \
      bash -c "cd '$WRAPPERS/etcd' && nice -n '$CLUSTER_NICE' go build -ldflags '-s -w' -o '$dest.tmp/etcd' go.etcd.io/etcd/server/v3"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
  fi

  dest=$kwok_dest
  if [[ -x $dest/kwokctl && -x $dest/kwok ]]; then
    log "step 3/$STEPS: kwok, kwokctl: cached ($dest)"
  else
    log "step 3/$STEPS: building kwok and kwokctl (sigs.k8s.io/kwok; cold: about 4 min)"
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    ld="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$(cd "$WRAPPERS/kwok" && go list -m -f '{{.Version}}' sigs.k8s.io/kwok)"
    ld="$ld -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}"
    run_logged 3/$STEPS "building kwok and kwokctl" "$LOGS/build-kwok.log" \
      bash -c "cd '$WRAPPERS/kwok' && nice -n '$CLUSTER_NICE' go build -ldflags '$ld' -o '$dest.tmp/' sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
  fi

  dest=$k8s_dest
  if [[ -x $dest/kube-apiserver && -x $dest/kube-controller-manager && -x $dest/kube-scheduler && -x $dest/kubectl ]]; then
    log "step 4/$STEPS: control plane: cached ($dest)"
  else
    log "step 4/$STEPS: building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $KUBE_VERSION (k8s.io/kubernetes; cold: about 12 min)"
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    # The version the binaries report (kwokctl and clients read it); upstream's hack/lib/version.sh sets the same.
    local minor=${KUBE_VERSION#v1.}
    minor=${minor%%.*}
    ld="-s -w"
    for c in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld="$ld -X $c.gitVersion=$KUBE_VERSION -X $c.gitMajor=1 -X $c.gitMinor=$minor -X $c.gitTreeState=clean -X $c.buildDate=1970-01-01T00:00:00Z"
    done
    run_logged 4/$STEPS "building the control plane" "$LOGS/build-kubernetes.log" \
      bash -c "cd '$WRAPPERS/kubernetes' && nice -n '$CLUSTER_NICE' go build -ldflags '$ld' -o '$dest.tmp/' k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
  fi

  dest=$crd_dest
  log "step 5/$STEPS: CRDs (Prometheus Operator, Gateway API) and kwok's default stages from the module cache"
  rm -rf "$dest" && mkdir -p "$dest/crds" "$dest/stages"
  local prom gw kwok
  prom=$(module_dir crds github.com/prometheus-operator/prometheus-operator)
  gw=$(module_dir crds sigs.k8s.io/gateway-api)
  kwok=$(module_dir kwok sigs.k8s.io/kwok)
  cp "$prom"/example/prometheus-operator-crd/monitoring.coreos.com_{podmonitors,servicemonitors,prometheusrules,alertmanagerconfigs}.yaml "$dest/crds/"
  cp "$gw"/config/crd/standard/gateway.networking.k8s.io_{gatewayclasses,gateways,httproutes,referencegrants}.yaml "$dest/crds/"
  # kwok's own defaults (nodes: initialize + lease heartbeat; pods: fast ready/complete/delete). Passing
  # any Stage replaces all of them, so they are all passed, with a readiness delay added to pod-ready.
  cp "$kwok"/kustomize/stage/node/fast/node-initialize.yaml \
    "$kwok"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    "$kwok"/kustomize/stage/pod/fast/pod-{ready,complete,delete}.yaml "$dest/stages/"
  chmod -R u+w "$dest"
  touch "$dest/.done"
  log "step 5/$STEPS: done"
  log "build finished in $((SECONDS - t0)) s; cache $CLUSTER_CACHE ($(du -sh "$CLUSTER_CACHE" 2>/dev/null | cut -f1))"
}

paths() {
  go_env
  printf 'ETCD_DIR=%s\nKWOK_DIR=%s\nKUBE_DIR=%s\nCRDS_DIR=%s\n' "$(bindir etcd)" "$(bindir kwok)" "$(bindir kubernetes)" "$(bindir crds)/crds"
}

# ---------------------------------------------------------------------------------------------------
# Cluster

NAME=triton
WORKDIR=""
DEPLOY=false
parse_cluster_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --name) NAME=${2:?--name needs a value}; shift 2 ;;
      --workdir) WORKDIR=${2:?--workdir needs a value}; shift 2 ;;
      --deploy) DEPLOY=true; shift ;;
      *) usage; die "unknown option '$1'" ;;
    esac
  done
  [[ $NAME =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "--name '$NAME' must be a DNS label"
  WORKDIR=${WORKDIR:-$CLUSTER_CACHE/kwok}
  mkdir -p "$WORKDIR"
  export KWOK_WORKDIR="$WORKDIR"
  KUBECONFIG_FILE="$WORKDIR/clusters/$NAME/kubeconfig.yaml"
}

kwokctl() { "$(bindir kwok)/kwokctl" "$@"; }
kubectl() { "$(bindir kubernetes)/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

running() { [[ -f $KUBECONFIG_FILE ]] && kubectl get --raw /readyz >/dev/null 2>&1; }

# The kwokctl configuration: local binaries (nothing is downloaded), loopback only, admission on (Pod
# Security Admission enforces the namespaces' `restricted` labels), RBAC on, and kwok's stages.
write_config() {
  local file=$1 crd k8s etcd kwok
  crd=$(bindir crds)
  k8s=$(bindir kubernetes)
  etcd=$(bindir etcd)
  kwok=$(bindir kwok)
  {
    cat <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  kubeVersion: $KUBE_VERSION
  bindAddress: 127.0.0.1
  kubeAdmission: true
  kubeAuthorization: true
  kubeApiserverBinary: $k8s/kube-apiserver
  kubeControllerManagerBinary: $k8s/kube-controller-manager
  kubeSchedulerBinary: $k8s/kube-scheduler
  kubectlBinary: $k8s/kubectl
  etcdBinary: $etcd/etcd
  kwokControllerBinary: $kwok/kwok
EOF
    local f
    for f in "$crd"/stages/*.yaml; do
      printf -- '---\n'
      if [[ $(basename "$f") == pod-ready.yaml ]]; then
        # A new pod stays unready for CLUSTER_POD_READY_DELAY (or its annotation's value), as a real
        # Triton does while it loads: without it a PodDisruptionBudget never sees a pod missing.
        awk -v d="$CLUSTER_POD_READY_DELAY" '
          { print }
          /^spec:$/ && !done {
            ms = d; sub(/ms$/, "", ms)
            if (d ~ /ms$/) { ms = ms + 0 } else if (d ~ /s$/) { sub(/s$/, "", ms); ms = ms * 1000 } else { ms = ms * 1000 }
            print "  delay:"
            print "    durationMilliseconds: " ms
            print "    durationFrom:"
            print "      expressionFrom: \x27.metadata.annotations[\"pod-ready.stage.kwok.x-k8s.io/delay\"]\x27"
            done = 1
          }' "$f"
      else
        cat "$f"
      fi
    done
  } >"$file"
}

# kwok nodes: one Node object per zone and index, labelled with its zone and as a GPU node (the prod
# shape asks for nvidia.com/gpu); kwok's node stages keep them Ready.
write_nodes() {
  local file=$1 zone i n=0
  : >"$file"
  IFS=',' read -r -a zones <<<"$CLUSTER_ZONES"
  for zone in "${zones[@]}"; do
    for ((i = 0; i < CLUSTER_NODES_PER_ZONE; i++)); do
      n=$((n + 1))
      cat >>"$file" <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-$zone-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: kwok-$zone-$i
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
    topology.kubernetes.io/zone: $zone
    nvidia.com/gpu.present: "true"
status:
  allocatable:
    cpu: "64"
    ephemeral-storage: 2Ti
    memory: 512Gi
    nvidia.com/gpu: "8"
    pods: "110"
  capacity:
    cpu: "64"
    ephemeral-storage: 2Ti
    memory: 512Gi
    nvidia.com/gpu: "8"
    pods: "110"
EOF
    done
  done
}

# retry SECONDS COMMAND...: runs COMMAND (quietly) until it succeeds or SECONDS have passed.
retry() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { "$@" >&2; return 1; }
    sleep 1
  done
}

up() {
  parse_cluster_args "$@"
  build
  if running; then
    log "cluster '$NAME' is already running (kubeconfig $KUBECONFIG_FILE)"
  else
    local t0=$SECONDS dir="$WORKDIR/clusters/$NAME"
    if [[ -d $dir ]]; then
      log "removing the stopped cluster '$NAME' left in $dir"
      kwokctl delete cluster --name "$NAME" --kubeconfig "$KUBECONFIG_FILE" >/dev/null 2>&1 || rm -rf "$dir"
    fi
    local conf
    conf=$(mktemp)
    write_config "$conf"
    log "starting cluster '$NAME' (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok; 127.0.0.1 only)"
    if ! kwokctl create cluster --name "$NAME" --config "$conf" --kubeconfig "" --wait 2m >"$LOGS/up-$NAME.log" 2>&1; then
      rm -f "$conf"
      tail -n 25 "$LOGS/up-$NAME.log" >&2 || true
      kwokctl delete cluster --name "$NAME" --kubeconfig "$KUBECONFIG_FILE" >/dev/null 2>&1 || true
      die "kwokctl create cluster failed; its output is in $LOGS/up-$NAME.log, the components' logs in $dir/logs"
    fi
    rm -f "$conf"
    local nodes
    nodes=$(mktemp)
    write_nodes "$nodes"
    kubectl apply -f "$nodes" >/dev/null || die "creating the kwok nodes failed"
    rm -f "$nodes"
    kubectl apply --server-side -f "$(bindir crds)/crds" >/dev/null || die "installing the CRDs failed"
    # `kubectl wait` fails at once on an object without status conditions yet: retry until the deadline.
    retry 60 kubectl wait --for condition=Established --timeout 5s crd --all || die "the CRDs did not become Established"
    retry 60 kubectl wait --for condition=Ready --timeout 5s node --all || die "the kwok nodes did not become Ready"
    log "cluster '$NAME' up in $((SECONDS - t0)) s: $(kubectl get nodes --no-headers | wc -l) nodes in zones $CLUSTER_ZONES"
  fi
  log "kubeconfig: $KUBECONFIG_FILE   (kubectl: $(bindir kubernetes)/kubectl)"
  if $DEPLOY; then
    deploy
  fi
}

# `pulumi up` of the `cluster` stack (Pulumi.cluster.yaml) against this cluster, with the local backend
# and per-machine passphrase of the dev stack.
stack_env() {
  ensure_node_modules
  ensure_pulumi --only cli,kubernetes,random
  use_local_backend
  export KUBECONFIG="$KUBECONFIG_FILE"
  cd "$REPO_ROOT"
}

deploy() {
  stack_env
  # `down` destroys the stack's objects before it stops a cluster that was deployed to.
  touch "$WORKDIR/clusters/$NAME/deployed-stack"
  pulumi stack select cluster >/dev/null 2>&1 || pulumi stack init cluster --secrets-provider passphrase >/dev/null
  pulumi up --stack cluster --yes --non-interactive --skip-preview
  log "deployed: $REPO_ROOT/node_modules/.bin/pulumi stack output --stack cluster; kubectl: KUBECONFIG=$KUBECONFIG_FILE $(bindir kubernetes)/kubectl get pods -A"
}

down() {
  parse_cluster_args "$@"
  go_env
  if [[ -f $WORKDIR/clusters/$NAME/deployed-stack ]] && running; then
    (
      stack_env
      if pulumi stack select cluster >/dev/null 2>&1; then
        log "destroying the objects of the cluster stack"
        pulumi destroy --stack cluster --yes --non-interactive --skip-preview || log "warning: pulumi destroy failed; the cluster is deleted anyway"
      fi
    )
  fi
  if [[ -d $WORKDIR/clusters/$NAME ]]; then
    [[ -x "$(bindir kwok)/kwokctl" ]] || die "kwokctl is not built (scripts/cluster.sh build); cannot stop '$NAME'"
    kwokctl delete cluster --name "$NAME" --kubeconfig "$KUBECONFIG_FILE" >"$LOGS/down-$NAME.log" 2>&1 || die "kwokctl delete cluster --name $NAME failed (output: $LOGS/down-$NAME.log)"
    log "cluster '$NAME' deleted"
  else
    log "no cluster '$NAME' in $WORKDIR"
  fi
}

status() {
  parse_cluster_args "$@"
  go_env
  if running; then
    log "cluster '$NAME' is running; kubeconfig $KUBECONFIG_FILE"
  else
    log "cluster '$NAME' is not running"
    return 1
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  build) build ;;
  paths) paths ;;
  up) up "$@" ;;
  down) down "$@" ;;
  status) status "$@" ;;
  -h | --help | help) usage ;;
  *) usage; die "unknown command '$cmd'" ;;
esac
