// Not built: pins the modules whose CustomResourceDefinitions the test cluster installs (go.sum
// verifies them). scripts/cluster.sh copies the YAML out of the module cache:
//   prometheus-operator: example/prometheus-operator-crd (PodMonitor, PrometheusRule, ...)
//   gateway-api:         config/crd/standard (Gateway, HTTPRoute, ...)
module triton-platform/tools/cluster/crds

go 1.24.0

require (
	github.com/prometheus-operator/prometheus-operator v0.85.0
	sigs.k8s.io/gateway-api v1.3.0
)
