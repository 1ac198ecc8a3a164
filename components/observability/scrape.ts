// How Prometheus finds the platform's metrics: PodMonitor specs (Prometheus Operator) and the equivalent
// plain scrape configurations, generated from one description of each target so both paths produce the
// same job, namespace, pod and slot labels the alert rules select on.
import { JOBS } from "./rules";

/** One scrape target: pods selected by labels in one namespace, scraped on a named port. */
export interface ScrapeTarget {
    /** Job label value (what the rules select). */
    job: string;
    namespace: string;
    /** Pod labels that must all match. */
    podLabels: Record<string, string>;
    /** Name of the container port to scrape. */
    port: string;
    path?: string;
    /** Pod label copied into a target label (e.g. triton-platform/slot -> slot). */
    copyPodLabels?: Record<string, string>;
    /** Use the node name as the `instance` label (node-level metrics). */
    instanceFromNode?: boolean;
}

/** The Prometheus meta label of a pod label (`a.b/c-d` -> `__meta_kubernetes_pod_label_a_b_c_d`). */
export function podLabelMeta(label: string): string {
    return `__meta_kubernetes_pod_label_${label.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

/** Relabelings shared by both forms (PodMonitor's `relabelings` use the same fields, camel-cased). */
function relabels(target: ScrapeTarget): { sourceLabels?: string[]; targetLabel: string; replacement?: string; action: "replace" }[] {
    const out: { sourceLabels?: string[]; targetLabel: string; replacement?: string; action: "replace" }[] = [
        { targetLabel: "job", replacement: target.job, action: "replace" },
    ];
    for (const [label, to] of Object.entries(target.copyPodLabels ?? {})) {
        out.push({ sourceLabels: [podLabelMeta(label)], targetLabel: to, action: "replace" });
    }
    if (target.instanceFromNode) {
        out.push({ sourceLabels: ["__meta_kubernetes_pod_node_name"], targetLabel: "instance", action: "replace" });
    }
    return out;
}

/** The spec of a PodMonitor (monitoring.coreos.com/v1) for a target. */
export function podMonitorSpec(target: ScrapeTarget, interval: string): Record<string, unknown> {
    return {
        selector: { matchLabels: target.podLabels },
        namespaceSelector: { matchNames: [target.namespace] },
        podMetricsEndpoints: [
            {
                port: target.port,
                path: target.path ?? "/metrics",
                interval,
                // The operator adds namespace, pod and container labels itself.
                relabelings: relabels(target),
            },
        ],
    };
}

/** A plain Prometheus `scrape_configs` entry for a target (kubernetes_sd, role pod). */
export function scrapeConfig(target: ScrapeTarget, interval: string): Record<string, unknown> {
    const keys = Object.keys(target.podLabels);
    return {
        job_name: target.job,
        scrape_interval: interval,
        metrics_path: target.path ?? "/metrics",
        kubernetes_sd_configs: [{ role: "pod", namespaces: { names: [target.namespace] } }],
        relabel_configs: [
            {
                source_labels: keys.map(podLabelMeta),
                regex: keys.map((k) => escapeRegex(target.podLabels[k])).join(";"),
                action: "keep",
            },
            { source_labels: ["__meta_kubernetes_pod_container_port_name"], regex: escapeRegex(target.port), action: "keep" },
            { source_labels: ["__meta_kubernetes_namespace"], target_label: "namespace", action: "replace" },
            { source_labels: ["__meta_kubernetes_pod_name"], target_label: "pod", action: "replace" },
            { source_labels: ["__meta_kubernetes_pod_container_name"], target_label: "container", action: "replace" },
            ...relabels(target).map((r) => ({
                ...(r.sourceLabels ? { source_labels: r.sourceLabels } : {}),
                target_label: r.targetLabel,
                ...(r.replacement !== undefined ? { replacement: r.replacement } : {}),
                action: r.action,
            })),
        ],
    };
}

function escapeRegex(s: string): string {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The model server pods of one stack instance (labels set by the model service). */
export function tritonTarget(namespace: string, instance: string, metricsPort = "metrics"): ScrapeTarget {
    return {
        job: JOBS.triton,
        namespace,
        podLabels: {
            "app.kubernetes.io/name": "triton",
            "app.kubernetes.io/instance": instance,
            "app.kubernetes.io/component": "model-server",
        },
        port: metricsPort,
        copyPodLabels: { "triton-platform/slot": "slot" },
    };
}
