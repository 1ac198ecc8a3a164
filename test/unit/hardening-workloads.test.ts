// Safe defaults on Kubernetes: with the gateway in front, Triton's pods admit only the
// gateway (and the monitoring namespace for metrics); Triton's pods request the disk their emptyDirs
// fill; the node agents run at a priority above the workloads. The whole dev and prod programs under mocks.
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_AGENT_PRIORITY } from "../../kit/priority";
import { ephemeralStorageRequest } from "../../components/model-service/workload";
import { loadDefinition, readSecrets } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { quantityValue } from "../../kit/schema";
import { ofType, PROJECT, RunResult, runMocked, stackFileConfig } from "../support/harness";

/** Peers of every ingress rule of the NetworkPolicies that select model-server pods, with their ports. */
function modelServerIngress(run: RunResult): { ports: number[]; from: any[] }[] {
    return ofType(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
        .filter((p) => p.inputs.spec.podSelector?.matchLabels?.["app.kubernetes.io/component"] === "model-server")
        .flatMap((p) => (p.inputs.spec.ingress ?? []).map((r: any) => ({ ports: (r.ports ?? []).map((x: any) => x.port), from: r.from ?? [] })));
}

describe("the dev stack (gateway on) under mocks", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runMocked(() => deployPlatform(loadDefinition(), readSecrets()), { stack: "dev", config: stackFileConfig("dev") });
    });

    it("lets only the gateway's and the dialogue service's pods and the monitoring namespace reach Triton: no CIDR peer at all", () => {
        const rules = modelServerIngress(run);
        expect(rules.length).toBeGreaterThan(0);
        for (const r of rules) {
            for (const peer of r.from) {
                expect(peer.ipBlock, JSON.stringify(r)).toBeUndefined();
                const fromGateway = peer.podSelector?.matchLabels?.["app.kubernetes.io/component"] === "gateway";
                const fromDialogue = peer.podSelector?.matchLabels?.["app.kubernetes.io/component"] === "dialogue";
                const fromMonitoring = peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === "monitoring";
                expect(fromGateway || fromDialogue || fromMonitoring, JSON.stringify(peer)).toBe(true);
                if (fromMonitoring) {
                    expect(r.ports).toEqual([8002]);
                }
                if (fromDialogue) {
                    // The dialogue service calls inference only: Triton's HTTP port, not its metrics.
                    expect(r.ports).toEqual([8000]);
                }
            }
        }
        // The gateway does reach Triton's HTTP port (its own policy).
        expect(rules.some((r) => r.ports.includes(8000) && r.from.some((p) => p.podSelector))).toBe(true);
    });

    it("requests the ephemeral storage Triton's emptyDirs can fill (model cache + /tmp)", () => {
        for (const d of ofType(run, "kubernetes:apps/v1:Deployment").filter((x) => x.name.startsWith("triton-"))) {
            const spec = d.inputs.spec.template.spec;
            const triton = spec.containers.find((c: any) => c.name === "triton");
            const requested = quantityValue(triton.resources.requests["ephemeral-storage"]);
            const onDisk = spec.volumes.filter((v: any) => v.emptyDir && v.emptyDir.medium !== "Memory").reduce((sum: number, v: any) => sum + quantityValue(v.emptyDir.sizeLimit), 0);
            expect(onDisk).toBeGreaterThan(20 * 2 ** 30 - 1);
            expect(requested).toBeGreaterThanOrEqual(onDisk);
        }
    });

    it.each(["log-shipper", "node-exporter"])("runs the %s DaemonSet under a PriorityClass above the workloads", (component) => {
        const classes = ofType(run, "kubernetes:scheduling.k8s.io/v1:PriorityClass");
        const agent = ofType(run, "kubernetes:apps/v1:DaemonSet").find((d) => d.inputs.metadata.labels["app.kubernetes.io/component"] === component);
        expect(agent).toBeDefined();
        const name = agent!.inputs.spec.template.spec.priorityClassName;
        // Auto-named: the mocks name an object `<resource name>-mock`.
        const pc = classes.find((c) => `${c.name}-mock` === name);
        expect(pc, `priorityClassName ${name}`).toBeDefined();
        expect(pc!.inputs).toMatchObject({ value: NODE_AGENT_PRIORITY, globalDefault: false });
        expect(NODE_AGENT_PRIORITY).toBeGreaterThan(0);
        expect(NODE_AGENT_PRIORITY).toBeLessThan(1_000_000_000); // system classes start at 2e9 and are reserved
    });
});

describe("the same stack with the gateway disabled (not prod)", () => {
    it("opens the model service port to serviceCidrs again, since Triton is then the entry point", async () => {
        const run = await runMocked(() => deployPlatform(loadDefinition(), readSecrets()), {
            stack: "dev",
            config: { ...stackFileConfig("dev"), [`${PROJECT}:gateway`]: JSON.stringify({ enabled: false }) },
        });
        const rules = modelServerIngress(run);
        expect(rules.some((r) => r.ports.includes(18789) && r.from.some((p) => p.ipBlock?.cidr === "0.0.0.0/0"))).toBe(true);
    });
});

describe("ephemeralStorageRequest", () => {
    it("is the model cache plus /tmp, in MiB", () => {
        expect(ephemeralStorageRequest({ modelRepository: { sizeLimit: "20Gi", uri: "s3://m/t", syncImage: "x:1" } })).toBe(`${21 * 1024}Mi`);
        expect(ephemeralStorageRequest({ modelRepository: { sizeLimit: "500M", uri: "s3://m/t", syncImage: "x:1" } })).toBe(`${Math.ceil((500e6 + 2 ** 30) / 2 ** 20)}Mi`);
    });
});
