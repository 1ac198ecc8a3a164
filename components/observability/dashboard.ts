// The Grafana dashboard of the model service (latency, error rate, replicas per slot, GPU use), as the
// JSON the Grafana sidecar loads from a labelled ConfigMap. Pure.
import { JOBS } from "./rules";

interface Panel {
    title: string;
    unit: string;
    exprs: { expr: string; legend: string }[];
    thresholds?: number;
}

/** The dashboard JSON model for one stack instance. */
export function grafanaDashboard(args: {
    namespace: string;
    instance: string;
    thresholds: { p99LatencyMs: number; errorRatePercent: number };
}): Record<string, unknown> {
    const sel = `job="${JOBS.triton}", namespace="${args.namespace}"`;
    const panels: Panel[] = [
        {
            title: "P99 inference latency by slot and model",
            unit: "ms",
            exprs: [{ expr: `max by (slot, model) (nv_inference_request_summary_us{${sel}, quantile="0.99"}) / 1000`, legend: "{{slot}} {{model}}" }],
            thresholds: args.thresholds.p99LatencyMs,
        },
        {
            title: "Inference error rate",
            unit: "percent",
            exprs: [
                {
                    expr:
                        `100 * sum by (slot, model) (rate(nv_inference_request_failure{${sel}}[5m])) / ` +
                        `(sum by (slot, model) (rate(nv_inference_request_success{${sel}}[5m])) + sum by (slot, model) (rate(nv_inference_request_failure{${sel}}[5m])))`,
                    legend: "{{slot}} {{model}}",
                },
            ],
            thresholds: args.thresholds.errorRatePercent,
        },
        {
            title: "Replicas per slot (available / desired)",
            unit: "short",
            exprs: [
                { expr: `kube_deployment_status_replicas_available{namespace="${args.namespace}"}`, legend: "available {{deployment}}" },
                { expr: `kube_deployment_spec_replicas{namespace="${args.namespace}"}`, legend: "desired {{deployment}}" },
            ],
        },
        {
            title: "GPU utilisation",
            unit: "percentunit",
            exprs: [{ expr: `avg by (slot, gpu_uuid) (nv_gpu_utilization{${sel}})`, legend: "{{slot}} {{gpu_uuid}}" }],
        },
        {
            title: "Requests per second",
            unit: "reqps",
            exprs: [{ expr: `sum by (slot, model) (rate(nv_inference_request_success{${sel}}[5m]))`, legend: "{{slot}} {{model}}" }],
        },
        {
            title: "Queue time share of request time",
            unit: "percentunit",
            exprs: [
                {
                    expr: `sum by (slot) (rate(nv_inference_queue_duration_us{${sel}}[5m])) / sum by (slot) (rate(nv_inference_request_duration_us{${sel}}[5m]))`,
                    legend: "{{slot}}",
                },
            ],
        },
    ];
    return {
        uid: `triton-${args.instance}`.slice(0, 40),
        title: `Triton model service (${args.instance})`,
        tags: ["triton-platform", "triton"],
        timezone: "utc",
        schemaVersion: 39,
        refresh: "30s",
        time: { from: "now-6h", to: "now" },
        templating: { list: [{ name: "datasource", type: "datasource", query: "prometheus", label: "Data source" }] },
        panels: panels.map((p, i) => ({
            id: i + 1,
            type: "timeseries",
            title: p.title,
            datasource: { type: "prometheus", uid: "${datasource}" },
            gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
            fieldConfig: {
                defaults: {
                    unit: p.unit,
                    ...(p.thresholds !== undefined
                        ? {
                              thresholds: {
                                  mode: "absolute",
                                  steps: [
                                      { color: "green", value: null },
                                      { color: "red", value: p.thresholds },
                                  ],
                              },
                              custom: { thresholdsStyle: { mode: "line" } },
                          }
                        : {}),
                },
                overrides: [],
            },
            targets: p.exprs.map((e, j) => ({ refId: String.fromCharCode(65 + j), expr: e.expr, legendFormat: e.legend })),
        })),
    };
}
