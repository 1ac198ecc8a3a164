// Monitoring (R14) under Pulumi mocks and its pure parts: what Prometheus scrapes, the PrometheusRule,
// the plain-Prometheus fallback (checked by promtool), the node exporter and the Grafana dashboard.
import { beforeAll, describe, expect, it } from "vitest";
import { clusterProvider } from "../../components/cluster/provider";
import { loggingNamespaceName } from "../../components/logsink";
import {
    DEFAULT_NODE_EXPORTER_IMAGE,
    grafanaDashboard,
    JOBS,
    Monitoring,
    monitoringNamespaceName,
    monitoringRuleGroups,
    NODE_EXPORTER_PORT,
    nodeExporterNetworkPolicies,
    R14_ALERT_LABEL,
    R14_THRESHOLD_ANNOTATION,
    podLabelMeta,
    scrapeConfig,
    scrapeTargets,
} from "../../components/observability";
import { StackDefinition } from "../../stack/definition";
import { definitionFrom } from "../support/definitions";
import { deployPlatform } from "../../stack/program";
import { ofType, one, PROJECT, RunResult, runMocked } from "../support/harness";

const definition = (raw: Record<string, unknown> = {}): StackDefinition => definitionFrom(raw);
const INSTANCE = `${PROJECT}-test`;
const shipper = { namespaceName: "triton-logging", podSelector: { "app.kubernetes.io/name": "log-shipper" }, metricsPortName: "metrics" };

function run(def: StackDefinition): Promise<RunResult> {
    return runMocked(async () => {
        const provider = clusterProvider("cluster", { mode: "render", directory: "out/test" }, "test");
        new Monitoring("monitoring", { definition: def, provider, namespace: def.namespace, logShipper: { ...shipper, namespace: shipper.namespaceName } });
    });
}
const customs = (r: RunResult, kind: string) => ofType(r, `kubernetes:monitoring.coreos.com/v1:${kind}`);


describe("Monitoring with the Prometheus Operator", () => {
    const def = definition({ monitoring: { selectorLabels: { release: "kube-prometheus-stack" } } });
    let result: RunResult;
    beforeAll(async () => {
        result = await run(def);
    });

    it("scrapes the metrics port of both slots' model-server pods, labelled with their slot", () => {
        const pm = customs(result, "PodMonitor").find((c) => c.name === `monitoring-${JOBS.triton}`)!.inputs;
        expect(pm.apiVersion).toBe("monitoring.coreos.com/v1");
        expect(pm.metadata.namespace).toBe("triton");
        expect(pm.metadata.labels.release).toBe("kube-prometheus-stack");
        expect(pm.spec.selector.matchLabels).toEqual({
            "app.kubernetes.io/name": "triton",
            "app.kubernetes.io/instance": INSTANCE,
            "app.kubernetes.io/component": "model-server",
        });
        expect(pm.spec.selector.matchLabels["triton-platform/slot"]).toBeUndefined();
        const endpoint = pm.spec.podMetricsEndpoints[0];
        expect(endpoint).toMatchObject({ port: "metrics", path: "/metrics", interval: "30s" });
        expect(endpoint.relabelings).toEqual([
            { targetLabel: "job", replacement: JOBS.triton, action: "replace" },
            { sourceLabels: ["__meta_kubernetes_pod_label_triton_platform_slot"], targetLabel: "slot", action: "replace" },
        ]);
    });

    it("scrapes the log shipper and the node exporter in their namespaces", () => {
        const byName = Object.fromEntries(customs(result, "PodMonitor").map((c) => [c.name, c.inputs]));
        expect(byName[`monitoring-${JOBS.shipper}`].metadata.namespace).toBe("triton-logging");
        expect(byName[`monitoring-${JOBS.shipper}`].spec.selector.matchLabels).toEqual(shipper.podSelector);
        expect(byName[`monitoring-${JOBS.nodeExporter}`].metadata.namespace).toBe(monitoringNamespaceName("triton"));
        expect(byName[`monitoring-${JOBS.nodeExporter}`].spec.podMetricsEndpoints[0].relabelings).toContainEqual({
            sourceLabels: ["__meta_kubernetes_pod_node_name"],
            targetLabel: "instance",
            action: "replace",
        });
    });

    it("declares the generated alert rules in a PrometheusRule", () => {
        const rule = one(result, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-alerts").inputs;
        expect(rule.kind).toBe("PrometheusRule");
        expect(rule.metadata.labels.release).toBe("kube-prometheus-stack");
        expect(rule.spec.groups).toEqual(JSON.parse(JSON.stringify(monitoringRuleGroups(def, "triton-logging"))));
        const alerts = rule.spec.groups.flatMap((g: { rules: { alert: string }[] }) => g.rules.map((r) => r.alert));
        expect(alerts).toEqual(
            expect.arrayContaining([
                "TritonInferenceLatencyP99High",
                "TritonErrorRateHigh",
                "ModelServiceAvailabilityLow",
                "NodeDiskUsageHigh",
                "ModelServiceHpaAtMaximum",
                "ModelServicePodUnschedulable",
                "TritonMetricsScrapeDown",
                "LogShipperUploadFailing",
            ]),
        );
        for (const group of rule.spec.groups) {
            for (const r of group.rules) {
                expect(["critical", "warning"], r.alert).toContain(r.labels.severity);
                expect(r.annotations.summary.length, r.alert).toBeGreaterThan(10);
                expect(r.annotations.runbook.length, r.alert).toBeGreaterThan(40);
            }
        }
    });

    it("runs a hardened node exporter without host network or PID, in a privileged-level namespace", () => {
        const ns = one(result, "kubernetes:core/v1:Namespace").inputs.metadata;
        expect(ns.name).toBe("triton-monitoring");
        expect(ns.labels["pod-security.kubernetes.io/enforce"]).toBe("privileged");
        const pod = one(result, "kubernetes:apps/v1:DaemonSet").inputs.spec.template.spec;
        expect(pod.hostNetwork).toBeUndefined();
        expect(pod.hostPID).toBeUndefined();
        expect(pod.automountServiceAccountToken).toBe(false);
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: "RuntimeDefault" } });
        const c = pod.containers[0];
        expect(c.image).toBe(def.monitoring.nodeExporter.image);
        expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
        expect(c.volumeMounts.every((m: { readOnly: boolean }) => m.readOnly)).toBe(true);
        expect(c.args).toContain("--path.rootfs=/host/root");
    });

    it("pulls the node exporter release from Docker Hub and labels it with the component the policy pack allows host paths to", () => {
        expect(DEFAULT_NODE_EXPORTER_IMAGE).toBe("docker.io/prom/node-exporter:v1.9.1");
        const ds = one(result, "kubernetes:apps/v1:DaemonSet").inputs;
        expect(ds.spec.template.metadata.labels["app.kubernetes.io/component"]).toBe("node-exporter");
        expect(ds.spec.template.metadata.labels["app.kubernetes.io/version"]).toBe("v1.9.1");
        const pod = ds.spec.template.spec;
        expect(pod.volumes.map((v: { hostPath: { path: string } }) => v.hostPath.path)).toEqual(["/proc", "/sys", "/"]);
        expect(pod.containers[0].startupProbe).toEqual({ httpGet: { path: "/", port: "metrics" }, periodSeconds: 2, failureThreshold: 30 });
        // The node-exporter PodMonitor selects the same pods.
        const pm = customs(result, "PodMonitor").find((c) => c.name === `monitoring-${JOBS.nodeExporter}`)!.inputs;
        expect(pm.spec.selector.matchLabels).toEqual(ds.spec.selector.matchLabels);
        for (const [k, v] of Object.entries(ds.spec.selector.matchLabels)) {
            expect(ds.spec.template.metadata.labels[k], k).toBe(v);
        }
    });

    it("denies everything in the node exporter's namespace but the scrape of port 9100 from the monitoring namespace", () => {
        const netpols = Object.fromEntries(ofType(result, "kubernetes:networking.k8s.io/v1:NetworkPolicy").map((r) => [r.name, r.inputs]));
        expect(Object.keys(netpols).sort()).toEqual(["monitoring-default-deny", "monitoring-node-exporter"]);
        expect(netpols["monitoring-default-deny"].spec).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
        const ds = one(result, "kubernetes:apps/v1:DaemonSet").inputs;
        expect(netpols["monitoring-node-exporter"].spec).toEqual({
            podSelector: { matchLabels: ds.spec.selector.matchLabels },
            policyTypes: ["Ingress", "Egress"],
            ingress: [{ ports: [{ protocol: "TCP", port: 9100 }], from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }] }],
            egress: [],
        });
        for (const [name, np] of Object.entries(netpols)) {
            expect(np.metadata.namespace, name).toBe("triton-monitoring");
            expect(np.metadata.labels["app.kubernetes.io/component"], name).toBe("network-policy");
            expect(np.metadata.labels["app.kubernetes.io/instance"], name).toBe(INSTANCE);
        }
    });

    it("marks the four R14 alerts with their alert id and threshold from the definition", () => {
        const rule = one(result, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-alerts").inputs;
        const marked = Object.fromEntries(
            rule.spec.groups
                .flatMap((g: { rules: { alert: string; labels: Record<string, string>; annotations: Record<string, string> }[] }) => g.rules)
                .filter((r: { labels: Record<string, string> }) => r.labels[R14_ALERT_LABEL] !== undefined)
                .map((r: { alert: string; labels: Record<string, string>; annotations: Record<string, string> }) => [r.alert, [r.labels[R14_ALERT_LABEL], r.annotations[R14_THRESHOLD_ANNOTATION]]]),
        );
        expect(marked).toEqual({
            TritonInferenceLatencyP99High: ["p99-latency", "800"],
            TritonErrorRateHigh: ["error-rate", "2"],
            ModelServiceAvailabilityLow: ["availability", "90"],
            NodeDiskUsageHigh: ["disk-usage", "85"],
        });
    });

    it("ships a Grafana dashboard ConfigMap labelled for the sidecar", () => {
        const cm = one(result, "kubernetes:core/v1:ConfigMap", "monitoring-dashboard").inputs;
        expect(cm.metadata.labels.grafana_dashboard).toBe("1");
        const dash = JSON.parse(cm.data["triton-model-service.json"]);
        const titles = dash.panels.map((p: { title: string }) => p.title).join(" | ");
        expect(titles).toMatch(/P99 inference latency/);
        expect(titles).toMatch(/error rate/);
        expect(titles).toMatch(/Replicas per slot/);
        expect(titles).toMatch(/GPU/);
        expect(dash).toEqual(grafanaDashboard({ namespace: "triton", instance: INSTANCE, thresholds: def.monitoring.thresholds }));
    });

    it("gives every child the explicit provider and the component as parent", () => {
        for (const r of result.resources.filter((x) => x.custom && x.type.startsWith("kubernetes:"))) {
            expect(r.parent, r.name).toBe("triton-platform:observability:Monitoring::monitoring");
            expect(r.provider, r.name).toMatch(/pulumi:providers:kubernetes::cluster/);
        }
    });
});

describe("Monitoring without the Prometheus Operator", () => {
    const def = definition({ monitoring: { prometheusOperator: false, nodeExporter: { enabled: false }, grafana: { dashboard: false } } });
    let result: RunResult;
    beforeAll(async () => {
        result = await run(def);
    });

    it("declares no operator objects, only a ConfigMap with the rule file and scrape configs", () => {
        expect(result.resources.filter((r) => r.type.startsWith("kubernetes:monitoring.coreos.com/"))).toEqual([]);
        expect(ofType(result, "kubernetes:apps/v1:DaemonSet")).toEqual([]);
        // No node exporter, no namespace of its own, so no NetworkPolicies either.
        expect(ofType(result, "kubernetes:networking.k8s.io/v1:NetworkPolicy")).toEqual([]);
        const cm = one(result, "kubernetes:core/v1:ConfigMap").inputs;
        expect(JSON.parse(cm.data["triton-platform.rules.yaml"])).toEqual(JSON.parse(JSON.stringify({ groups: monitoringRuleGroups(def, "triton-logging") })));
        const jobs = JSON.parse(cm.data["triton-platform.scrape.yaml"]).scrape_configs.map((s: { job_name: string }) => s.job_name);
        expect(jobs).toEqual([JOBS.triton, JOBS.shipper]);
    });

    it("keeps only the model-server pods of this instance on their metrics port", () => {
        const cfg = scrapeConfig(scrapeTargets(def)[0], "30s") as { relabel_configs: Record<string, unknown>[] };
        expect(cfg.relabel_configs[0]).toEqual({
            source_labels: ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"].map(podLabelMeta),
            regex: `triton;${INSTANCE};model-server`,
            action: "keep",
        });
        expect(cfg.relabel_configs[1]).toEqual({ source_labels: ["__meta_kubernetes_pod_container_port_name"], regex: "metrics", action: "keep" });
        expect(cfg.relabel_configs).toContainEqual({ source_labels: [podLabelMeta("triton-platform/slot")], target_label: "slot", action: "replace" });
    });
});

describe("R14 alert marks", () => {
    it("follow the definition's thresholds, in ms for latency and percent otherwise", () => {
        const def = definition({ monitoring: { thresholds: { p99LatencyMs: 450, errorRatePercent: 0.5, availabilityPercent: 95.5, diskUsagePercent: 70 } } });
        const rules = monitoringRuleGroups(def).flatMap((g) => g.rules);
        const mark = (alert: string) => {
            const r = rules.find((x) => x.alert === alert)!;
            return [r.labels[R14_ALERT_LABEL], r.annotations[R14_THRESHOLD_ANNOTATION]];
        };
        expect(mark("TritonInferenceLatencyP99High")).toEqual(["p99-latency", "450"]);
        expect(mark("TritonErrorRateHigh")).toEqual(["error-rate", "0.5"]);
        expect(mark("ModelServiceAvailabilityLow")).toEqual(["availability", "95.5"]);
        expect(mark("NodeDiskUsageHigh")).toEqual(["disk-usage", "70"]);
        // Only the R14 alerts carry the mark.
        expect(rules.filter((r) => r.labels[R14_ALERT_LABEL] !== undefined)).toHaveLength(4);
    });

    it("are Prometheus label names (Prometheus 2.x refuses the rule file otherwise)", () => {
        expect(R14_ALERT_LABEL).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
        expect(R14_THRESHOLD_ANNOTATION).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
    });
});

describe("node exporter NetworkPolicies (pure)", () => {
    it("open only the given port, from only the given namespace, and nothing out", () => {
        const [deny, allow] = nodeExporterNetworkPolicies({ podSelector: { app: "ne" }, port: NODE_EXPORTER_PORT, monitoringNamespace: "prom" });
        expect(deny).toEqual({ role: "default-deny", spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } });
        expect(allow.spec.ingress).toEqual([{ ports: [{ protocol: "TCP", port: 9100 }], from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "prom" } } }] }]);
        expect(allow.spec.egress).toEqual([]);
        expect(allow.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    });
});

describe("monitoring in the platform", () => {
    const program = (raw: Record<string, unknown>) => () => deployPlatform(definition(raw), {});

    it("does not depend on the active slot: rules and monitors are identical for blue and green", async () => {
        const blue = await runMocked(program({ activeSlot: "blue" }));
        const green = await runMocked(program({ activeSlot: "green" }));
        const mine = (r: RunResult) =>
            r.resources
                .filter((x) => x.parent?.startsWith("triton-platform:observability:") || x.parent?.startsWith("triton-platform:logsink:"))
                .map((x) => `${x.type}::${x.name}::${JSON.stringify(x.inputs)}`);
        expect(mine(blue).length).toBeGreaterThan(10);
        expect(mine(green)).toEqual(mine(blue));
        expect(monitoringRuleGroups(definition({ activeSlot: "green" }))).toEqual(monitoringRuleGroups(definition({ activeSlot: "blue" })));
        expect(blue.outputs.alerts).toContain("ModelServiceAvailabilityLow");
    });

    it("watches the log shipper only when the log sink is enabled", async () => {
        const off = await runMocked(program({ logSink: { enabled: false } }));
        const rule = one(off, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-alerts").inputs;
        expect(rule.spec.groups.map((g: { name: string }) => g.name)).toEqual(["triton-platform.model-service"]);
        const on = await runMocked(program({}));
        const ruleOn = one(on, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-alerts").inputs;
        expect(ruleOn.spec.groups[1].rules[0].expr).toContain(`namespace="${loggingNamespaceName("triton")}"`);
    });
});
