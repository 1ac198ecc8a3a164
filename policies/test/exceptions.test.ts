// The pack's reviewed exceptions (docs/POLICIES.md "Reviewed exceptions"): per-component entries in a
// policy's config, never a weaker check for everyone. Each is narrow (one component, under conditions),
// and the components that need one (components/logsink, components/observability) pass the pack with
// the defaults, and fail without their exception: the exception is what lets them through, nothing else.
import * as fs from "fs";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { clusterProvider } from "../../components/cluster/provider";
import { LogSink, SHIPPER_COMPONENT } from "../../components/logsink";
import { Monitoring, NODE_EXPORTER_COMPONENT, R14_ALERT_LABEL, R14_THRESHOLD_ANNOTATION, monitoringRuleGroups } from "../../components/observability";
import { parseDefinition, StackDefinition } from "../../stack/definition";
import { RunResult, runMocked } from "../../test/support/harness";
import { policies } from "../catalog";
import { PackPolicy } from "../lib/policy";
import { ALERT_LABEL, THRESHOLD_ANNOTATION } from "../operations";
import { PolicyConfigFile } from "../report";
import { PackConfig, Res, runPolicy } from "./kit";

const policy = (name: string): PackPolicy => policies.find((p) => p.name === name)!;
const defaultOf = <T>(name: string, key: string): T => policy(name).configSchema!.properties[key].default as T;
const example = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "policy-config.example.json"), "utf8")) as PolicyConfigFile;
const exampleOf = <T>(name: string, key: string): T => (example[name] as Record<string, unknown>)[key] as T;

function definition(raw: Record<string, unknown> = {}): StackDefinition {
    const parsed = parseDefinition(raw, { project: "triton-platform", stack: "test" });
    if (!parsed.ok) {
        throw new Error(parsed.issues.map((i) => `${i.key}: ${i.message}`).join("\n"));
    }
    return parsed.definition;
}

describe("the exceptions' defaults", () => {
    it("name only the components that need them, each for its reason", () => {
        expect(defaultOf("run-as-non-root", "exemptComponents")).toEqual([SHIPPER_COMPONENT]);
        expect(defaultOf("no-service-account-token", "apiAccessComponents")).toEqual([SHIPPER_COMPONENT]);
        expect(defaultOf("no-host-path", "allowedHostPaths")).toEqual({ [SHIPPER_COMPONENT]: ["/var/log"], [NODE_EXPORTER_COMPONENT]: ["/proc", "/sys", "/"] });
        expect(defaultOf<number[]>("declared-ports-only", "internalPorts")).toEqual([8000, 8001, 8002, 8888, 13133, 9100, 8080, 8405]);
    });

    it("are not widened by the reviewed config CI uses (it may only narrow them)", () => {
        const subset = (a: unknown[], b: unknown[]) => a.filter((x) => !b.includes(x));
        expect(subset(exampleOf("run-as-non-root", "exemptComponents"), defaultOf("run-as-non-root", "exemptComponents"))).toEqual([]);
        expect(subset(exampleOf("no-service-account-token", "apiAccessComponents"), defaultOf("no-service-account-token", "apiAccessComponents"))).toEqual([]);
        expect(subset(exampleOf("declared-ports-only", "internalPorts"), defaultOf("declared-ports-only", "internalPorts"))).toEqual([]);
        const allowed = defaultOf<Record<string, string[]>>("no-host-path", "allowedHostPaths");
        for (const [component, prefixes] of Object.entries(exampleOf<Record<string, string[]>>("no-host-path", "allowedHostPaths"))) {
            expect(subset(prefixes, allowed[component] ?? []), component).toEqual([]);
        }
    });
});

describe("components/observability: the R14 marks are the ones alert-rules-r14 reads", () => {
    it("uses the pack's label and annotation names", () => {
        expect(R14_ALERT_LABEL).toBe(ALERT_LABEL);
        expect(R14_THRESHOLD_ANNOTATION).toBe(THRESHOLD_ANNOTATION);
    });

    it("satisfies alert-rules-r14 as generated, with the default and with stricter thresholds", async () => {
        for (const raw of [{}, { monitoring: { thresholds: { p99LatencyMs: 500, errorRatePercent: 0.5, availabilityPercent: 95, diskUsagePercent: 70 } } }]) {
            const def = definition(raw);
            const resources: Res[] = [
                { type: "triton-platform:modelService:ModelService", name: "triton", props: {} },
                {
                    type: "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
                    name: "monitoring-alerts",
                    props: { apiVersion: "monitoring.coreos.com/v1", kind: "PrometheusRule", metadata: { namespace: "triton" }, spec: { groups: monitoringRuleGroups(def) } },
                },
            ];
            const out = await runPolicy(policy("alert-rules-r14"), resources);
            expect(out.violations.map((v) => v.message)).toEqual([]);
            expect(out.notApplicable).toEqual([]);
        }
    });
});

/** The log sink and monitoring components, alone, as resource-policy input. */
describe("components/logsink and components/observability against the pack", () => {
    let run: RunResult;
    let resources: Res[];
    beforeAll(async () => {
        run = await runMocked(async () => {
            const def = definition();
            const provider = clusterProvider("cluster", { mode: "render", directory: "out/test" }, "test");
            const sink = new LogSink("logsink", { definition: def, provider, sourceNamespace: def.namespace });
            new Monitoring("monitoring", {
                definition: def,
                provider,
                namespace: def.namespace,
                logShipper: { namespace: sink.namespace, namespaceName: "triton-logging", podSelector: sink.podSelector, metricsPortName: sink.metricsPortName },
            });
        });
        resources = run.resources.map((r) => ({ type: r.type, name: r.name, props: r.inputs, parent: r.parent }));
    });

    const messages = async (name: string, config: PackConfig = {}) => (await runPolicy(policy(name), resources, config)).violations.map((v) => v.message);

    it("pass every policy of the pack with its defaults", async () => {
        const failed: string[] = [];
        for (const p of policies) {
            const out = await runPolicy(p, resources);
            failed.push(...out.violations.map((v) => `${p.name}: ${v.message}`), ...out.cannotRun);
        }
        expect(failed).toEqual([]);
    });

    it("need run-as-non-root's exemption for the root shipper, and only for it", async () => {
        expect(await messages("run-as-non-root", { "run-as-non-root": { exemptComponents: [] } })).toEqual([
            'kubernetes:apps/v1:DaemonSet "logsink-shipper": container "shipper" runs as uid 0. Fix: set runAsUser to a non-zero uid.',
        ]);
    });

    it("need no-host-path's entries: /var/log for the shipper, /proc, /sys and / for the node exporter", async () => {
        const withoutShipper = await messages("no-host-path", { "no-host-path": { allowedHostPaths: { [NODE_EXPORTER_COMPONENT]: ["/proc", "/sys", "/"] } } });
        expect(withoutShipper).toEqual([expect.stringMatching(/^kubernetes:apps\/v1:DaemonSet "logsink-shipper": mounts hostPath volume "varlogpods" but its component is not allowed/)]);
        const withoutExporter = await messages("no-host-path", { "no-host-path": { allowedHostPaths: { [SHIPPER_COMPONENT]: ["/var/log"] } } });
        expect(withoutExporter.map((m) => /volume "(\w+)"/.exec(m)?.[1])).toEqual(["proc", "sys", "root"]);
    });

    it("need no-service-account-token's entry for the shipper only (the node exporter and the Job mount no token)", async () => {
        expect(await messages("no-service-account-token", { "no-service-account-token": { apiAccessComponents: [] } })).toEqual([
            expect.stringMatching(/^kubernetes:apps\/v1:DaemonSet "logsink-shipper": mounts a service-account token/),
        ]);
    });

    it("need declared-ports-only's 8888, 13133 and 9100", async () => {
        const found = await messages("declared-ports-only", { "declared-ports-only": { internalPorts: [8000, 8001, 8002] } });
        expect(found.map((m) => Number(/port (\d+) is not declared/.exec(m)?.[1])).sort()).toEqual([8888, 9100, 9100, 13133, 13133, 8888].sort());
    });
});
