// Settings of monitoring (config key `monitoring`): how Prometheus finds the targets (R14), the alert
// thresholds of R14, the node exporter and the optional Grafana dashboard.
import { z } from "zod";
import { bool, int, pinnedImage } from "../../stack/schema-kit";

/**
 * Default node exporter image (R2 names the Prometheus Node Exporter): the Prometheus project's release
 * as published on Docker Hub (the same build as quay.io/prometheus/node-exporter), because docker.io is
 * on the policy pack's registry allow-list.
 */
export const DEFAULT_NODE_EXPORTER_IMAGE = "docker.io/prom/node-exporter:v1.9.1";

/** A Prometheus duration such as 30s, 5m, 1h. */
const duration = z.string().regex(/^[1-9][0-9]*(s|m|h)$/, { error: "expected a duration such as 30s, 5m or 1h" });

export const monitoringSchema = z
    .strictObject({
        /**
         * The cluster has the Prometheus Operator CRDs (PodMonitor, PrometheusRule): declare those. Otherwise
         * the same rules and matching scrape configs go into a ConfigMap for a plain Prometheus.
         */
        prometheusOperator: bool.default(true),
        /**
         * Labels put on the PodMonitors and the PrometheusRule so the cluster's Prometheus selects them
         * (kube-prometheus-stack selects `release: <its release name>` by default).
         */
        selectorLabels: z.record(z.string(), z.string()).default({}),
        /** Scrape interval of the Triton, shipper and node exporter targets. */
        scrapeInterval: duration.default("30s"),
        thresholds: z
            .strictObject({
                /** R14: alert when P99 inference latency exceeds this many milliseconds (normal < 500). */
                p99LatencyMs: int(1).default(800),
                /** R14: alert when the error rate exceeds this percentage (normal < 0.5). */
                errorRatePercent: z.number().positive().max(100).default(2),
                /** R14: alert when available replicas fall below this percentage of desired. */
                availabilityPercent: z.number().positive().max(100).default(90),
                /** R14: alert when a node file system is fuller than this percentage (normal < 70). */
                diskUsagePercent: z.number().positive().max(100).default(85),
                /** Alert when an HPA has run at its maximum replicas for this many minutes. */
                hpaMaxedMinutes: int(1, 1440).default(15),
            })
            .prefault({}),
        /**
         * How long a condition must hold before its alert fires, for latency, error rate and disk. The
         * availability alert waits longer: model loading (modelService.expectedModelLoadSeconds) plus 2
         * minutes, so pods starting after a scale-up or a deployment do not page.
         */
        alertFor: duration.default("5m"),
        /** Base URL of the runbook pages; each alert links `<base>#<alert name>`. Unset: runbook text only. */
        runbookBaseUrl: z.url({ protocol: /^https?$/ }).optional(),
        nodeExporter: z
            .strictObject({
                /** Run the node exporter DaemonSet (off when the cluster already runs one). */
                enabled: bool.default(true),
                image: pinnedImage.default(DEFAULT_NODE_EXPORTER_IMAGE),
            })
            .prefault({}),
        grafana: z
            .strictObject({
                /** Ship a dashboard ConfigMap for the Grafana sidecar. */
                dashboard: bool.default(true),
                /** Label the Grafana sidecar watches for (kube-prometheus-stack: grafana_dashboard=1). */
                sidecarLabel: z.string().default("grafana_dashboard"),
            })
            .prefault({}),
    })
    .prefault({});
export type MonitoringSettings = z.infer<typeof monitoringSchema>;
