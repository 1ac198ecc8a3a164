// The alert rules the program declares, checked and unit-tested by Prometheus' own promtool: the rule
// file is the output of monitoringRuleGroups() for a parsed definition (never a hand-copied file), and
// the promtool tests are generated from the definition's thresholds: synthetic series just above each
// threshold must fire with the right labels and annotations, series just below must stay silent.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { loggingNamespaceName } from "../../components/logsink";
import { AlertRule, availabilityFor, JOBS, monitoringRuleGroups, RuleGroup, SHIPPER_EXPORTERS, UNSCHEDULABLE_MINUTES } from "../../components/observability";
import { parseDefinition, StackDefinition } from "../../stack/definition";
import { PROJECT } from "../support/harness";
import { runPromtool } from "../support/promtool";

function definition(raw: Record<string, unknown> = {}): StackDefinition {
    const parsed = parseDefinition(raw, { project: PROJECT, stack: "test" });
    if (!parsed.ok) {
        throw new Error(parsed.issues.map((i) => `${i.key}: ${i.message}`).join("\n"));
    }
    return parsed.definition;
}

type Labels = Record<string, string>;
interface InputSeries {
    series: string;
    values: string;
}
/** One scenario: series, and the alerts (labels + the value the expression yields) expected at eval time. */
interface Scenario {
    name: string;
    alert: string;
    input: InputSeries[];
    /** Empty: the alert must stay silent. */
    fires: { labels: Labels; value: number }[];
}

const EVAL = "25m";
const series = (metric: string, labels: Labels, values: string): InputSeries => ({
    series: `${metric}{${Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(",")}}`,
    values,
});
const constant = (v: number) => `${v}x30`;
const counter = (perMinute: number) => `0+${perMinute}x30`;

/** Renders the annotation templates the rules use, as Prometheus would for one alert. */
function render(template: string, labels: Labels, value: number): string {
    const out = template
        .replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_, l: string) => labels[l] ?? "")
        .replace(/\{\{ printf "%\.(\d)f" \$value \}\}/g, (_, d: string) => value.toFixed(Number(d)));
    if (out.includes("{{")) {
        throw new Error(`template not rendered by the test: ${template}`);
    }
    return out;
}

/** Scenarios derived from a definition's thresholds. */
function scenarios(def: StackDefinition): Scenario[] {
    const t = def.monitoring.thresholds;
    const ns = def.namespace;
    const logging = loggingNamespaceName(ns);
    const triton = { job: JOBS.triton, namespace: ns };
    const pod = (slot: string, i: number) => ({ ...triton, pod: `triton-${slot}-${i}`, instance: `10.0.0.${i}:8002`, slot });
    const shipper = { job: JOBS.shipper, namespace: logging, pod: "shipper-node-a", instance: "10.0.1.1:8888" };
    const ksm = { job: "kube-state-metrics", instance: "10.0.2.1:8080", namespace: ns };
    const out: Scenario[] = [];

    // P99 latency: the slowest pod of a slot/model decides (max by), in milliseconds.
    for (const [what, ms] of [
        ["above", t.p99LatencyMs * 1.25],
        ["below", t.p99LatencyMs * 0.9],
    ] as const) {
        out.push({
            name: `P99 latency ${what} ${t.p99LatencyMs} ms`,
            alert: "TritonInferenceLatencyP99High",
            input: [
                series("nv_inference_request_summary_us", { ...pod("blue", 1), model: "dialogue", quantile: "0.99" }, constant(ms * 1000)),
                series("nv_inference_request_summary_us", { ...pod("blue", 2), model: "dialogue", quantile: "0.99" }, constant(100_000)),
                // The median is far above the threshold and must be ignored: only quantile 0.99 counts.
                series("nv_inference_request_summary_us", { ...pod("blue", 1), model: "dialogue", quantile: "0.5" }, constant(t.p99LatencyMs * 5000)),
            ],
            fires: what === "above" ? [{ labels: { namespace: ns, slot: "blue", model: "dialogue" }, value: ms }] : [],
        });
    }

    // Error rate: failures (any reason) against all requests.
    const total = 10_000;
    for (const [what, percent] of [
        ["above", t.errorRatePercent * 1.6],
        ["below", t.errorRatePercent * 0.5],
    ] as const) {
        const failed = Math.round((total * percent) / 100);
        out.push({
            name: `error rate ${what} ${t.errorRatePercent}%`,
            alert: "TritonErrorRateHigh",
            input: [
                series("nv_inference_request_success", { ...pod("green", 1), model: "dialogue" }, counter(total - failed)),
                series("nv_inference_request_failure", { ...pod("green", 1), model: "dialogue", reason: "BACKEND" }, counter(failed)),
            ],
            fires: what === "above" ? [{ labels: { namespace: ns, slot: "green", model: "dialogue" }, value: (100 * failed) / total }] : [],
        });
    }

    // Availability: per Deployment with desired replicas > 0; an idle slot scaled to zero never alerts.
    const desired = 100;
    for (const [what, available] of [
        ["below", Math.floor(t.availabilityPercent) - 5],
        ["above", Math.min(desired, Math.ceil(t.availabilityPercent) + 5)],
    ] as const) {
        out.push({
            name: `availability ${what} ${t.availabilityPercent}%`,
            alert: "ModelServiceAvailabilityLow",
            input: [
                series("kube_deployment_spec_replicas", { ...ksm, deployment: "triton-blue" }, constant(desired)),
                series("kube_deployment_status_replicas_available", { ...ksm, deployment: "triton-blue" }, constant(available)),
                series("kube_deployment_spec_replicas", { ...ksm, deployment: "triton-green" }, constant(0)),
                series("kube_deployment_status_replicas_available", { ...ksm, deployment: "triton-green" }, constant(0)),
                // Another namespace's outage is not this stack's.
                series("kube_deployment_spec_replicas", { ...ksm, namespace: "other", deployment: "x" }, constant(3)),
                series("kube_deployment_status_replicas_available", { ...ksm, namespace: "other", deployment: "x" }, constant(0)),
            ],
            fires: what === "below" ? [{ labels: { namespace: ns, deployment: "triton-blue" }, value: (100 * available) / desired }] : [],
        });
    }

    // Disk: used share of real file systems; tmpfs is not a disk.
    const size = 1000;
    for (const [what, usedPercent] of [
        ["above", Math.min(99, t.diskUsagePercent + 5)],
        ["below", Math.max(1, t.diskUsagePercent - 15)],
    ] as const) {
        const node = { job: JOBS.nodeExporter, instance: "node-a", device: "/dev/vda1", fstype: "ext4", mountpoint: "/" };
        const tmp = { ...node, device: "tmpfs", fstype: "tmpfs", mountpoint: "/run" };
        out.push({
            name: `disk usage ${what} ${t.diskUsagePercent}%`,
            alert: "NodeDiskUsageHigh",
            input: [
                series("node_filesystem_size_bytes", node, constant(size)),
                series("node_filesystem_avail_bytes", node, constant(size - (size * usedPercent) / 100)),
                series("node_filesystem_size_bytes", tmp, constant(size)),
                series("node_filesystem_avail_bytes", tmp, constant(1)),
            ],
            fires: what === "above" ? [{ labels: node, value: usedPercent }] : [],
        });
    }

    // HPA at its maximum for the configured minutes.
    const max = def.modelService.hpa.maxReplicas;
    for (const [what, current] of [
        ["at", max],
        ["below", max - 1],
    ] as const) {
        const hpa = { ...ksm, horizontalpodautoscaler: "triton-blue" };
        out.push({
            name: `HPA ${what} maximum`,
            alert: "ModelServiceHpaAtMaximum",
            input: [
                series("kube_horizontalpodautoscaler_status_current_replicas", hpa, constant(current)),
                series("kube_horizontalpodautoscaler_spec_max_replicas", hpa, constant(max)),
            ],
            fires: what === "at" ? [{ labels: { namespace: ns, horizontalpodautoscaler: "triton-blue" }, value: current }] : [],
        });
    }

    // A pod unschedulable for longer than UNSCHEDULABLE_MINUTES (a stuck rollout keeps availability at 100 %);
    // one that waited only a while (a node came up), or one of another namespace, stays silent.
    const stuck = { ...ksm, pod: "triton-green-7d9f-abcde" };
    out.push({
        name: "a pod unschedulable for good",
        alert: "ModelServicePodUnschedulable",
        input: [series("kube_pod_status_unschedulable", stuck, constant(1)), series("kube_pod_status_unschedulable", { ...stuck, namespace: "other" }, constant(1))],
        fires: [{ labels: { namespace: ns, pod: stuck.pod }, value: 1 }],
    });
    out.push({
        name: "a pod unschedulable for less than the window",
        alert: "ModelServicePodUnschedulable",
        input: [series("kube_pod_status_unschedulable", stuck, `1x${UNSCHEDULABLE_MINUTES - 5} 0x30`)],
        fires: [],
    });

    // Scrape health of Triton and of the shipper: down, absent, healthy.
    for (const [alert, down, absentAlert, target] of [
        ["TritonMetricsScrapeDown", pod("blue", 1), "TritonMetricsAbsent", triton],
        ["LogShipperDown", shipper, "LogShipperAbsent", { job: JOBS.shipper, namespace: logging }],
    ] as const) {
        out.push({ name: `${alert}: target down`, alert, input: [series("up", down, constant(0))], fires: [{ labels: down, value: 0 }] });
        out.push({ name: `${alert}: target up`, alert, input: [series("up", down, constant(1))], fires: [] });
        out.push({
            name: `${absentAlert}: no target`,
            alert: absentAlert,
            input: [series("up", { job: "something-else", namespace: target.namespace }, constant(1))],
            fires: [{ labels: target, value: 1 }],
        });
        out.push({ name: `${absentAlert}: target present`, alert: absentAlert, input: [series("up", down, constant(1))], fires: [] });
    }

    // Shipper: uploads failing (records failing at the awss3 exporter), buffer filling.
    const failed = { ...shipper, exporter: SHIPPER_EXPORTERS.upload, data_type: "logs" };
    out.push({
        name: "uploads failing",
        alert: "LogShipperUploadFailing",
        input: [series("otelcol_exporter_send_failed_log_records_total", failed, counter(60))],
        fires: [{ labels: { namespace: logging, pod: shipper.pod }, value: 1 }],
    });
    out.push({
        name: "uploads not failing",
        alert: "LogShipperUploadFailing",
        input: [series("otelcol_exporter_send_failed_log_records_total", failed, counter(0))],
        fires: [],
    });
    const queue = { ...shipper, exporter: SHIPPER_EXPORTERS.queue, data_type: "logs" };
    for (const [what, used] of [
        ["above", 900],
        ["below", 500],
    ] as const) {
        out.push({
            name: `buffer ${what} 80%`,
            alert: "LogShipperBufferFilling",
            input: [series("otelcol_exporter_queue_size", queue, constant(used)), series("otelcol_exporter_queue_capacity", queue, constant(1000))],
            fires: what === "above" ? [{ labels: { namespace: logging, pod: shipper.pod }, value: used / 10 }] : [],
        });
    }
    return out;
}

/** A promtool test file for scenarios against the rules of `groups`. */
function promtoolTests(groups: RuleGroup[], list: Scenario[], rulesFile: string): Record<string, unknown> {
    const rules = new Map<string, AlertRule>(groups.flatMap((g) => g.rules.map((r) => [r.alert, r] as const)));
    return {
        rule_files: [rulesFile],
        evaluation_interval: "1m",
        tests: list.map((s) => {
            const rule = rules.get(s.alert);
            if (!rule) {
                throw new Error(`no rule named ${s.alert}`);
            }
            return {
                interval: "1m",
                input_series: s.input,
                alert_rule_test: [
                    {
                        eval_time: EVAL,
                        alertname: s.alert,
                        exp_alerts: s.fires.map((f) => ({
                            exp_labels: { ...f.labels, ...rule.labels },
                            exp_annotations: Object.fromEntries(
                                Object.entries(rule.annotations).map(([k, v]) => [k, render(v as string, f.labels, f.value)]),
                            ),
                        })),
                    },
                ],
            };
        }),
    };
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Writes the rules and the tests (JSON is YAML) and returns the folder. */
function writeFiles(groups: RuleGroup[], tests?: Record<string, unknown>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "triton-rules-"));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, "rules.yaml"), JSON.stringify({ groups }, null, 2));
    if (tests) {
        fs.writeFileSync(path.join(dir, "tests.yaml"), JSON.stringify(tests, null, 2));
    }
    return dir;
}

const definitions: [string, StackDefinition][] = [
    ["the default (R14) thresholds", definition()],
    [
        "stricter thresholds from the definition",
        definition({
            monitoring: { thresholds: { p99LatencyMs: 300, errorRatePercent: 0.5, availabilityPercent: 95, diskUsagePercent: 70, hpaMaxedMinutes: 5 } },
            modelService: { hpa: { minReplicas: 3, maxReplicas: 12 } },
        }),
    ],
];

describe.each(definitions)("alert rules generated from %s", (_, def) => {
    const groups = monitoringRuleGroups(def, loggingNamespaceName(def.namespace));

    it("pass promtool check rules", () => {
        const dir = writeFiles(groups);
        const r = runPromtool(["check", "rules", "rules.yaml"], dir);
        expect(r.output).toContain("SUCCESS: 12 rules found");
        expect(r.code, r.output).toBe(0);
    });

    it("fire above each threshold and stay silent below it (promtool test rules)", () => {
        const list = scenarios(def);
        // Every rule is exercised, both firing and silent.
        const alerts = groups.flatMap((g) => g.rules.map((r) => r.alert)).sort();
        expect([...new Set(list.filter((s) => s.fires.length > 0).map((s) => s.alert))].sort()).toEqual(alerts);
        expect([...new Set(list.filter((s) => s.fires.length === 0).map((s) => s.alert))].sort()).toEqual(alerts);
        const dir = writeFiles(groups, promtoolTests(groups, list, "rules.yaml"));
        const r = runPromtool(["test", "rules", "tests.yaml"], dir);
        expect(r.code, r.output).toBe(0);
        expect(r.output).toContain("SUCCESS");
    });
});

describe("the promtool harness", () => {
    it("reports a failure when an expectation is wrong (the tests above can fail)", () => {
        const def = definition();
        const groups = monitoringRuleGroups(def, loggingNamespaceName(def.namespace));
        // Claim the above-threshold latency scenario stays silent.
        const wrong = scenarios(def)
            .filter((s) => s.alert === "TritonInferenceLatencyP99High" && s.fires.length > 0)
            .map((s) => ({ ...s, fires: [] }));
        const dir = writeFiles(groups, promtoolTests(groups, wrong, "rules.yaml"));
        const r = runPromtool(["test", "rules", "tests.yaml"], dir);
        expect(r.code).not.toBe(0);
        expect(r.output).toContain("TritonInferenceLatencyP99High");
    });

    it("waits for the model load time before availability pages", () => {
        expect(availabilityFor(300)).toBe("7m");
        expect(availabilityFor(30)).toBe("5m");
        const groups = monitoringRuleGroups(definition({ modelService: { expectedModelLoadSeconds: 1200, probes: { startup: { failureThreshold: 130 } } } }));
        const rule = groups[0].rules.find((r) => r.alert === "ModelServiceAvailabilityLow");
        expect(rule?.for).toBe("22m");
    });
});
