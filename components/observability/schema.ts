// Settings of monitoring (config key `monitoring`): how Prometheus finds the targets (R14), the alert
// thresholds of R14, the node exporter and the optional Grafana dashboard.
import { z } from "zod";
import { bool, int, pinnedImage } from "../../kit/schema";

/**
 * Default node exporter image (R2 names the Prometheus Node Exporter): the Prometheus project's release
 * as published on Docker Hub (the same build as quay.io/prometheus/node-exporter), because docker.io is
 * on the policy pack's registry allow-list.
 */
export const DEFAULT_NODE_EXPORTER_IMAGE = "docker.io/prom/node-exporter:v1.9.1";

/** A Prometheus duration such as 30s, 5m, 1h. */
const duration = z.string().regex(/^[1-9][0-9]*(s|m|h)$/, { error: "expected a duration such as 30s, 5m or 1h" });

/**
 * Names of the secret config keys that hold webhook URLs: `alertWebhook` and a capitalised rest, e.g.
 * `alertWebhookOncall`. stack/definition.ts reads every key of this form as a secret (readSecrets) and
 * never parses it into the definition.
 */
export const ALERT_WEBHOOK_SECRET = /^alertWebhook[A-Z][A-Za-z0-9]*$/;

/** One webhook receiver of the alert route: a collaboration platform's robot URL (a secret). */
export const alertReceiverSchema = z.strictObject({
    /** Receiver name in Alertmanager (lower-case letters, digits, '-'). */
    name: z.string().regex(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, { error: "expected a lower-case name such as oncall or team-chat" }),
    /**
     * The secret config key holding the webhook URL, e.g. `alertWebhookOncall`
     * (`pulumi config set --secret alertWebhookOncall https://...`). It lands in a Kubernetes Secret or a
     * file the Alertmanager reads (`url_file`), never in a configuration, output or log.
     */
    urlSecret: z.string().regex(ALERT_WEBHOOK_SECRET, { error: "expected a config key such as alertWebhookOncall (alertWebhook + a capitalised name)" }),
    /** Severities this receiver gets: `[critical]` pages (the on-call channel), `[warning]` does not. */
    severities: z.array(z.enum(["critical", "warning"])).min(1).default(["critical"]),
    /** Also send the resolved notice when the alert stops. */
    sendResolved: bool.default(true),
});

/**
 * Where alerts go: webhook receivers, grouping and repeat intervals, severity routing (each receiver
 * gets the severities it lists) and inhibition (a critical alert of a model silences the warnings of
 * the same model, slot and namespace). Unset: no route is declared and alerts reach nobody.
 */
export const alertRouteSchema = z
    .strictObject({
        receivers: z.array(alertReceiverSchema).min(1),
        /** Labels that make one notification: alerts sharing them arrive together. */
        groupBy: z.array(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, { error: "expected a Prometheus label name" })).min(1).default(["alertname", "namespace", "model"]),
        /** Wait before the first notification of a new group (alerts of the group that fire meanwhile join it). */
        groupWait: duration.default("30s"),
        /** Wait before notifying a group again when alerts join or leave it (or resolve). */
        groupInterval: duration.default("5m"),
        /** Send a still-firing group again after this long. */
        repeatInterval: duration.default("4h"),
        /**
         * Folder the plain Alertmanager reads the webhook URLs from (`url_file`: `<folder>/<receiver>.url`):
         * mount the webhook Secret there, or on the lightweight server write each URL there (0600).
         */
        urlFileDirectory: z.string().regex(/^\/[^\s]*$/, { error: "expected an absolute path" }).default("/etc/alertmanager/webhook-urls"),
    })
    .superRefine((route, ctx) => {
        const seen = new Set<string>();
        route.receivers.forEach((r, i) => {
            if (r.name === "none") {
                ctx.addIssue({ code: "custom", path: ["receivers", i, "name"], message: 'the name "none" is the route\'s own receiver of unrouted alerts: choose another' });
            }
            if (seen.has(r.name)) {
                ctx.addIssue({ code: "custom", path: ["receivers", i, "name"], message: `receiver name "${r.name}" is used twice` });
            }
            seen.add(r.name);
        });
    });
export type AlertRouteSettings = z.infer<typeof alertRouteSchema>;

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
        /** Where alerts go (receivers, grouping, severity routing, inhibition). Unset: nowhere. */
        alertRoute: alertRouteSchema.optional(),
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
