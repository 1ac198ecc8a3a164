// Settings of monitoring (config key `monitoring`): R14 thresholds.
import { z } from "zod";
import { bool, int } from "../../stack/schema-kit";

export const monitoringSchema = z
    .strictObject({
        /** The cluster has the Prometheus Operator CRDs (ServiceMonitor, PrometheusRule). */
        prometheusOperator: bool.default(true),
        thresholds: z
            .strictObject({
                /** R14: alert when P99 inference latency exceeds this many milliseconds. */
                p99LatencyMs: int(1).default(800),
                /** R14: alert when the error rate exceeds this percentage. */
                errorRatePercent: z.number().positive().max(100).default(2),
                /** R14: alert when available replicas fall below this percentage of desired. */
                availabilityPercent: z.number().positive().max(100).default(90),
                /** R14: alert when disk usage exceeds this percentage. */
                diskUsagePercent: z.number().positive().max(100).default(85),
            })
            .prefault({}),
    })
    .prefault({});
export type MonitoringSettings = z.infer<typeof monitoringSchema>;
