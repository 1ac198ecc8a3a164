// Contracts between the pack and the components whose output the policies read as text or labels:
// what components/network and components/observability render must satisfy the policies as the
// policies parse it. A failure here means one side changed without the other.
import { describe, expect, it } from "vitest";
import { buildSecurityPolicy, renderNftables, securityPolicyInput } from "../../components/network";
import { monitoringRuleGroups } from "../../components/observability";
import { StackDefinition, parseDefinition } from "../../stack/definition";
import { policies } from "../catalog";
import { ALERT_LABEL, THRESHOLD_ANNOTATION } from "../operations";
import { clusterStack, serverStack } from "./fixtures";
import { Res, runPolicy } from "./kit";

function definition(raw: Record<string, unknown>): StackDefinition {
    const parsed = parseDefinition(raw, { project: "triton-platform", stack: "test" });
    if (!parsed.ok) {
        throw new Error(parsed.issues.map((i) => `${i.key}: ${i.message}`).join("\n"));
    }
    return parsed.definition;
}

const policy = (name: string) => policies.find((p) => p.name === name)!;

describe("components/network: the nftables ruleset it renders passes the server policies", () => {
    function ruleset(securityGroup: Record<string, unknown> = {}): string {
        // sshCidrs has no default on the server path: the operators' range, as Pulumi.server.yaml.
        const def = definition({ server: { host: "203.0.113.10" }, cluster: { mode: "none" }, securityGroup: { sshCidrs: ["198.51.100.0/24"], ...securityGroup } });
        return renderNftables(buildSecurityPolicy(securityPolicyInput(def)));
    }
    const serverPolicies = policies.filter((p) => p.name.startsWith("server-firewall") || p.name === "server-published-ports-filtered");

    it.each(serverPolicies.map((p) => [p.name, p]))("%s passes on the default security group", async (_name, p) => {
        const out = await runPolicy(p, serverStack({ firewall: ruleset() }));
        expect(out.violations.map((v) => v.message)).toEqual([]);
        expect(out.notApplicable).toEqual([]);
    });

    it("server-firewall-declared-ports flags an extra rule opening an undeclared port", async () => {
        const text = ruleset({ serverEgress: "restricted" });
        const p = policy("server-firewall-declared-ports");
        // Egress rules of a restricted server (53, 123, 443 out) are not inbound openings.
        expect((await runPolicy(p, serverStack({ firewall: text }))).violations).toEqual([]);
        const widened = text.replace("ct original proto-dst 80 accept", "ct original proto-dst 80-81 accept");
        expect((await runPolicy(p, serverStack({ firewall: widened }))).violations.map((v) => v.message)).toEqual([expect.stringContaining("tcp port 80-81")]);
    });
});

describe("components/observability: its R14 rules satisfy alert-rules-r14 once labelled", () => {
    /** The alert names of components/observability/rules.ts and the R14 alert each implements. */
    const R14: Record<string, { id: string; threshold: (t: Record<string, number>) => number }> = {
        TritonInferenceLatencyP99High: { id: "p99-latency", threshold: (t) => t.p99LatencyMs },
        TritonErrorRateHigh: { id: "error-rate", threshold: (t) => t.errorRatePercent },
        ModelServiceAvailabilityLow: { id: "availability", threshold: (t) => t.availabilityPercent },
        NodeDiskUsageHigh: { id: "disk-usage", threshold: (t) => t.diskUsagePercent },
    };

    function stackWithRules(label: boolean): Res[] {
        const def = definition({});
        const groups = monitoringRuleGroups(def).map((g) => ({
            ...g,
            rules: g.rules.map((r) => {
                const r14 = R14[r.alert];
                const labels: Record<string, string> = { ...r.labels };
                const annotations: Record<string, string> = { ...r.annotations };
                delete labels[ALERT_LABEL];
                delete annotations[THRESHOLD_ANNOTATION];
                if (r14 && label) {
                    labels[ALERT_LABEL] = r14.id;
                    annotations[THRESHOLD_ANNOTATION] = String(r14.threshold(def.monitoring.thresholds));
                }
                return { ...r, labels, annotations };
            }),
        }));
        return clusterStack().map((r) => (r.name === "monitoring-r14" ? { ...r, props: { ...r.props, spec: { groups } } } : r));
    }

    it("renders every R14 alert this contract names", () => {
        const names = monitoringRuleGroups(definition({})).flatMap((g) => g.rules.map((r) => r.alert));
        expect(names).toEqual(expect.arrayContaining(Object.keys(R14)));
    });

    it("passes with the label and threshold annotation on the four R14 rules: the expressions already compare against the thresholds", async () => {
        const out = await runPolicy(policy("alert-rules-r14"), stackWithRules(true));
        expect(out.violations.map((v) => v.message)).toEqual([]);
    });

    it("fails without them", async () => {
        const out = await runPolicy(policy("alert-rules-r14"), stackWithRules(false));
        expect(out.violations).toHaveLength(4);
    });
});
