// Prometheus alerting rules of R14 and of the platform's own parts, as pure data (the spec.groups of a
// PrometheusRule, which is also the format of a plain Prometheus rule file). Tests write this output to
// a file and run `promtool check rules` and `promtool test rules` on it.
//
// Nothing here depends on the active slot: switching activeSlot must change only the traffic-routing
// resources. Availability is therefore judged per Deployment of the model-service namespace whose
// desired replicas are above zero, which is every slot meant to serve: the active one always, the idle
// one only when it is kept warm (then it is the instant-rollback target and its health matters too).
import { MonitoringSettings } from "./schema";

/** Job labels the scrape configurations set, so rules select exactly their targets. */
export const JOBS = {
    triton: "triton-model-server",
    shipper: "triton-log-shipper",
    nodeExporter: "triton-node-exporter",
} as const;

/** Exporter names in the shipper's configuration (components/logsink/config.ts). */
export const SHIPPER_EXPORTERS = { upload: "awss3", queue: "otlp/loopback" } as const;

/**
 * Label naming which R14 alert a rule implements, and annotation holding its threshold (a number in
 * ms for latency, percent otherwise). The policy pack's `alert-rules-r14` finds the four R14 alerts by
 * these, and checks the threshold against the guide's and against the rule's expression. Prometheus
 * label names (no '-' or '/'): Prometheus 2.x and promtool refuse the whole rule file otherwise.
 */
export const R14_ALERT_LABEL = "triton_platform_alert";
export const R14_THRESHOLD_ANNOTATION = "triton_platform_threshold";
/** The R14 alerts, as the value of {@link R14_ALERT_LABEL}. */
export type R14Alert = "p99-latency" | "error-rate" | "availability" | "disk-usage";

/** One alerting rule. */
export interface AlertRule {
    alert: string;
    expr: string;
    for: string;
    labels: { severity: "critical" | "warning"; [R14_ALERT_LABEL]?: R14Alert } & Record<string, string>;
    annotations: { summary: string; description: string; runbook: string; runbook_url?: string; [R14_THRESHOLD_ANNOTATION]?: string };
}

/** One rule group. */
export interface RuleGroup {
    name: string;
    interval?: string;
    rules: AlertRule[];
}

/** Inputs of {@link alertRuleGroups}. */
export interface AlertRuleInput {
    /** Namespace of the model service. */
    namespace: string;
    /** Namespace of the log shipper; unset: no log sink, no shipper alerts. */
    shipperNamespace?: string;
    thresholds: MonitoringSettings["thresholds"];
    /** How long latency, error and disk conditions must hold. */
    alertFor: string;
    /** modelService.expectedModelLoadSeconds: how long a new pod may take to become ready. */
    modelLoadSeconds: number;
    /** Base URL of runbook pages. */
    runbookBaseUrl?: string;
}

/** Prometheus duration in minutes for the availability alert: model load plus 2 minutes, at least 5. */
export function availabilityFor(modelLoadSeconds: number): string {
    return `${Math.max(5, Math.ceil((modelLoadSeconds + 120) / 60))}m`;
}

/** Minutes a pod may stay unschedulable before ModelServicePodUnschedulable fires (a node scale-up usually takes less). */
export const UNSCHEDULABLE_MINUTES = 15;

/** A number as PromQL writes it (no exponent, no trailing zeros). */
function num(n: number): string {
    return String(Number(n.toFixed(6)));
}

/** Labels and annotations that mark a rule as one of the R14 alerts, with its threshold. */
function r14(alert: R14Alert, threshold: number): { labels: { [R14_ALERT_LABEL]: R14Alert }; annotations: { [R14_THRESHOLD_ANNOTATION]: string } } {
    return { labels: { [R14_ALERT_LABEL]: alert }, annotations: { [R14_THRESHOLD_ANNOTATION]: num(threshold) } };
}

/** File systems that are not disks (or are the container runtime's layers, counted via their disk). */
const NOT_DISKS = 'fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs|autofs|fuse.lxcfs"';

/**
 * The alerting rules, in two groups: the model service (R14 thresholds, HPA, scrape health) and the
 * platform's agents (log shipper). Pure.
 */
export function alertRuleGroups(input: AlertRuleInput): RuleGroup[] {
    const t = input.thresholds;
    const ns = input.namespace;
    const triton = `job="${JOBS.triton}", namespace="${ns}"`;
    const runbook = (alert: string, text: string) => ({
        runbook: text,
        ...(input.runbookBaseUrl ? { runbook_url: `${input.runbookBaseUrl.replace(/#.*$/, "")}#${alert.toLowerCase()}` } : {}),
    });
    const byModel = "namespace, slot, model";
    const r14Marks = {
        latency: r14("p99-latency", t.p99LatencyMs),
        errorRate: r14("error-rate", t.errorRatePercent),
        availability: r14("availability", t.availabilityPercent),
        disk: r14("disk-usage", t.diskUsagePercent),
    };
    const service: AlertRule[] = [
        {
            alert: "TritonInferenceLatencyP99High",
            expr: `max by (${byModel}) (nv_inference_request_summary_us{${triton}, quantile="0.99"}) / 1000 > ${num(t.p99LatencyMs)}`,
            for: input.alertFor,
            labels: { severity: "warning", ...r14Marks.latency.labels },
            annotations: {
                ...r14Marks.latency.annotations,
                summary: `P99 inference latency above ${num(t.p99LatencyMs)} ms (R14)`,
                description:
                    'Model {{ $labels.model }} in slot {{ $labels.slot }} of {{ $labels.namespace }} answers its slowest 1% of requests in {{ printf "%.1f" $value }} ms.',
                ...runbook(
                    "TritonInferenceLatencyP99High",
                    "Compare nv_inference_queue_duration_us with nv_inference_compute_infer_duration_us: queueing means too few replicas " +
                        "(check the HPA and pending pods), compute means a slower model or GPU contention (nvidia-smi, nv_gpu_utilization). " +
                        "After a blue-green switch, roll back to the previous slot if the new image is the cause.",
                ),
            },
        },
        {
            alert: "TritonErrorRateHigh",
            expr:
                `100 * sum by (${byModel}) (rate(nv_inference_request_failure{${triton}}[5m])) / ` +
                `(sum by (${byModel}) (rate(nv_inference_request_success{${triton}}[5m])) + sum by (${byModel}) (rate(nv_inference_request_failure{${triton}}[5m]))) ` +
                `> ${num(t.errorRatePercent)}`,
            for: input.alertFor,
            labels: { severity: "critical", ...r14Marks.errorRate.labels },
            annotations: {
                ...r14Marks.errorRate.annotations,
                summary: `Inference error rate above ${num(t.errorRatePercent)}% (R14)`,
                description:
                    'Model {{ $labels.model }} in slot {{ $labels.slot }} of {{ $labels.namespace }} fails {{ printf "%.1f" $value }}% of its requests.',
                ...runbook(
                    "TritonErrorRateHigh",
                    "Read nv_inference_request_failure by reason and the shipped Triton logs (severity E) of the slot. Rejected inputs point " +
                        "at a client or model-config change; backend errors at the model or out-of-memory. Roll back the slot if it started with a release.",
                ),
            },
        },
        {
            alert: "ModelServiceAvailabilityLow",
            expr:
                `100 * sum by (namespace, deployment) (kube_deployment_status_replicas_available{namespace="${ns}"}) / ` +
                `sum by (namespace, deployment) (kube_deployment_spec_replicas{namespace="${ns}"} > 0) < ${num(t.availabilityPercent)}`,
            for: availabilityFor(input.modelLoadSeconds),
            labels: { severity: "critical", ...r14Marks.availability.labels },
            annotations: {
                ...r14Marks.availability.annotations,
                summary: `Fewer than ${num(t.availabilityPercent)}% of the desired replicas are available (R14)`,
                description:
                    'Deployment {{ $labels.deployment }} in {{ $labels.namespace }} has {{ printf "%.1f" $value }}% of its desired replicas available.',
                ...runbook(
                    "ModelServiceAvailabilityLow",
                    "kubectl get pods -l app.kubernetes.io/component=model-server: Pending pods mean no GPU or zone capacity (check nodes and " +
                        "the zone spread), CrashLoopBackOff or failing startup probes mean a model that does not load (Triton logs). " +
                        "If this is the active slot, consider switching to the other slot.",
                ),
            },
        },
        {
            alert: "ModelServiceHpaAtMaximum",
            expr:
                `max by (namespace, horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{namespace="${ns}"}) ` +
                `>= max by (namespace, horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas{namespace="${ns}"})`,
            for: `${t.hpaMaxedMinutes}m`,
            labels: { severity: "warning" },
            annotations: {
                summary: `An HPA has run at its maximum replicas for ${t.hpaMaxedMinutes} minutes`,
                description:
                    'HorizontalPodAutoscaler {{ $labels.horizontalpodautoscaler }} in {{ $labels.namespace }} is at its maximum of {{ printf "%.0f" $value }} replicas: demand may exceed capacity.',
                ...runbook(
                    "ModelServiceHpaAtMaximum",
                    "Check latency and queue time: if they grow, raise modelService.hpa.maxReplicas (and the GPU node pool behind it) " +
                        "or add model instances per pod. If they do not, the CPU/memory targets may be too low.",
                ),
            },
        },
        {
            // A pod the scheduler cannot place: during a rollout the surge pod waits while the old pods
            // still serve, so availability stays at 100 % and only this says the rollout is stuck.
            alert: "ModelServicePodUnschedulable",
            expr: `max by (namespace, pod) (kube_pod_status_unschedulable{namespace="${ns}"}) > 0`,
            for: `${UNSCHEDULABLE_MINUTES}m`,
            labels: { severity: "warning" },
            annotations: {
                summary: `A pod of the stack has been unschedulable for ${UNSCHEDULABLE_MINUTES} minutes`,
                description: "Pod {{ $labels.pod }} in {{ $labels.namespace }} cannot be scheduled: a rollout or scale-out is stuck waiting for it.",
                ...runbook(
                    "ModelServicePodUnschedulable",
                    "kubectl describe pod: 'didn't match pod topology spread constraints' means a zone without room (one pod per zone at most: " +
                        "add capacity in that zone or uncordon its nodes); 'Insufficient nvidia.com/gpu' or memory means no node large enough.",
                ),
            },
        },
        {
            alert: "TritonMetricsScrapeDown",
            expr: `up{${triton}} == 0`,
            for: input.alertFor,
            labels: { severity: "critical" },
            annotations: {
                summary: "Prometheus cannot scrape a Triton pod's metrics",
                description: "Pod {{ $labels.pod }} in {{ $labels.namespace }} does not answer on its metrics port: its alerts are blind.",
                ...runbook(
                    "TritonMetricsScrapeDown",
                    "The pod may be restarting or overloaded; check its status and port 8002 (the metrics port) from inside the cluster. " +
                        "A NetworkPolicy must let Prometheus reach the metrics port.",
                ),
            },
        },
        {
            alert: "TritonMetricsAbsent",
            expr: `absent(up{${triton}})`,
            for: "10m",
            labels: { severity: "critical" },
            annotations: {
                summary: "No Triton metrics target is discovered",
                description: "Prometheus has no target for job {{ $labels.job }} in {{ $labels.namespace }}: every model-service alert is blind.",
                ...runbook(
                    "TritonMetricsAbsent",
                    "Check that the PodMonitor exists and carries the labels the Prometheus podMonitorSelector wants (monitoring.selectorLabels), " +
                        "and that model-server pods run.",
                ),
            },
        },
        {
            alert: "NodeDiskUsageHigh",
            expr:
                `100 * (1 - node_filesystem_avail_bytes{${NOT_DISKS}} / node_filesystem_size_bytes{${NOT_DISKS}}) ` +
                `> ${num(t.diskUsagePercent)}`,
            for: input.alertFor,
            labels: { severity: "warning", ...r14Marks.disk.labels },
            annotations: {
                ...r14Marks.disk.annotations,
                summary: `A node file system is more than ${num(t.diskUsagePercent)}% full (R14)`,
                description: 'File system {{ $labels.mountpoint }} on {{ $labels.instance }} is {{ printf "%.1f" $value }}% full.',
                ...runbook(
                    "NodeDiskUsageHigh",
                    "Image layers (old Triton releases beyond the last 3), the model repository copies and container logs are the usual " +
                        "growth; the log shipper's disk buffer is bounded by logSink.bufferSize. Prune unused images, then grow the disk.",
                ),
            },
        },
    ];
    const groups: RuleGroup[] = [{ name: "triton-platform.model-service", rules: service }];

    if (input.shipperNamespace) {
        const shipper = `job="${JOBS.shipper}", namespace="${input.shipperNamespace}"`;
        groups.push({
            name: "triton-platform.log-sink",
            rules: [
                {
                    alert: "LogShipperDown",
                    expr: `up{${shipper}} == 0`,
                    for: input.alertFor,
                    labels: { severity: "critical" },
                    annotations: {
                        summary: "A log shipper pod does not answer",
                        description: "Log shipper {{ $labels.pod }} in {{ $labels.namespace }} is down: its node's logs are not shipped (they wait on the node).",
                        ...runbook(
                            "LogShipperDown",
                            "kubectl -n <logging namespace> describe pod / logs: a bad configuration fails at start, an OOM kill needs a higher " +
                                "logSink.resources.memoryLimit.",
                        ),
                    },
                },
                {
                    alert: "LogShipperAbsent",
                    expr: `absent(up{${shipper}})`,
                    for: "10m",
                    labels: { severity: "critical" },
                    annotations: {
                        summary: "No log shipper target is discovered",
                        description: "Prometheus has no target for job {{ $labels.job }} in {{ $labels.namespace }}: conversation logs may not be shipped.",
                        ...runbook("LogShipperAbsent", "Check the DaemonSet (desired vs ready) and its PodMonitor's labels."),
                    },
                },
                {
                    alert: "LogShipperUploadFailing",
                    expr:
                        `sum by (namespace, pod) (rate(otelcol_exporter_send_failed_log_records_total{${shipper}, exporter="${SHIPPER_EXPORTERS.upload}"}[5m])) > 0`,
                    for: "10m",
                    labels: { severity: "warning" },
                    annotations: {
                        summary: "Log uploads to object storage are failing",
                        description:
                            "Log shipper {{ $labels.pod }} cannot write to the bucket: lines are kept in its disk buffer until the store answers again.",
                        ...runbook(
                            "LogShipperUploadFailing",
                            "The shipper's logs name the S3 error: AccessDenied means credentials or bucket policy, NoSuchBucket a missing bucket, " +
                                "connection errors the endpoint or a NetworkPolicy. Nothing is lost until the buffer is full (LogShipperBufferFilling).",
                        ),
                    },
                },
                {
                    alert: "LogShipperBufferFilling",
                    expr:
                        `100 * max by (namespace, pod) (otelcol_exporter_queue_size{${shipper}, exporter="${SHIPPER_EXPORTERS.queue}"}) / ` +
                        `max by (namespace, pod) (otelcol_exporter_queue_capacity{${shipper}, exporter="${SHIPPER_EXPORTERS.queue}"}) > 80`,
                    for: "5m",
                    labels: { severity: "critical" },
                    annotations: {
                        summary: "A log shipper's disk buffer is more than 80% full",
                        description:
                            'The disk buffer of {{ $labels.pod }} is {{ printf "%.1f" $value }}% full. When full, the shipper stops reading and lines older than the runtime\'s log rotation are lost.',
                        ...runbook(
                            "LogShipperBufferFilling",
                            "Restore the object store (LogShipperUploadFailing says why it fails), or raise logSink.bufferSize if the outage must last.",
                        ),
                    },
                },
            ],
        });
    }
    return groups;
}
