import { describe, expect, it } from "vitest";
import { loadDefinition, parseDefinition, readSecrets, StackDefinitionError } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { ProgramFailed, PROJECT, runMocked, stackFileConfig } from "../support/harness";

const ctx = { project: PROJECT, stack: "test" };
const image = (tag: string) => `nvcr.io/nvidia/tritonserver:${tag}`;

/** Each case: raw config (top-level key -> decoded value), the key the message must name, a phrase it must say. */
const malformed: { what: string; raw: Record<string, unknown>; key: string; says: RegExp }[] = [
    { what: "unknown top-level key (typo)", raw: { modelServce: {} }, key: "modelServce", says: /did you mean "modelService"/ },
    { what: "unknown nested key", raw: { modelService: { hpa: { minReplica: 3 } } }, key: "modelService.hpa.minReplica", says: /unknown setting/ },
    { what: "environment not in enum", raw: { environment: "production" }, key: "environment", says: /"dev", "staging", "prod"/ },
    { what: "image tagged latest", raw: { slots: { blue: { image: image("latest") } } }, key: "slots.blue.image", says: /latest/ },
    { what: "image without tag", raw: { slots: { green: { image: "nvcr.io/nvidia/tritonserver" } } }, key: "slots.green.image", says: /no tag or digest/ },
    { what: "not an image reference", raw: { slots: { blue: { image: "Not An Image!" } } }, key: "slots.blue.image", says: /not an image reference/ },
    { what: "port 0", raw: { modelService: { servicePort: 0 } }, key: "modelService.servicePort", says: />= 1/ },
    { what: "port above 65535", raw: { modelService: { ports: { metrics: 70000 } } }, key: "modelService.ports.metrics", says: /<= 65535/ },
    { what: "port not a number", raw: { modelService: { ports: { http: "eighty" } } }, key: "modelService.ports.http", says: /number/ },
    { what: "duplicate Triton ports", raw: { modelService: { ports: { http: 8000, grpc: 8000 } } }, key: "modelService.ports.grpc", says: /already used by http/ },
    { what: "HPA minimum below zone count", raw: { modelService: { hpa: { minReplicas: 2, maxReplicas: 6 } } }, key: "modelService.hpa.minReplicas", says: /below the zone count 3/ },
    { what: "HPA maximum not above minimum", raw: { modelService: { hpa: { minReplicas: 3, maxReplicas: 3 } } }, key: "modelService.hpa.maxReplicas", says: /must be above minReplicas/ },
    {
        what: "startup probe shorter than model load",
        raw: { modelService: { expectedModelLoadSeconds: 900, probes: { startup: { periodSeconds: 10, failureThreshold: 30 } } } },
        key: "modelService.probes.startup.failureThreshold",
        says: /at least 90/,
    },
    {
        what: "probe timeout above period",
        raw: { modelService: { probes: { liveness: { timeoutSeconds: 20, periodSeconds: 10 } } } },
        key: "modelService.probes.liveness.timeoutSeconds",
        says: /exceeds periodSeconds/,
    },
    {
        what: "grace period shorter than preStop + drain",
        raw: { modelService: { terminationGracePeriodSeconds: 30, preStopDelaySeconds: 10, exitTimeoutSeconds: 30 } },
        key: "modelService.terminationGracePeriodSeconds",
        says: /must exceed preStopDelaySeconds \+ exitTimeoutSeconds/,
    },
    { what: "memory limit below request", raw: { modelService: { resources: { memoryRequest: "8Gi", memoryLimit: "4Gi" } } }, key: "modelService.resources.memoryLimit", says: /below memoryRequest/ },
    { what: "shm as large as the memory limit", raw: { modelService: { shmSize: "8Gi" } }, key: "modelService.shmSize", says: /must be below memoryLimit/ },
    { what: "malformed quantity", raw: { modelService: { resources: { memoryRequest: "lots" } } }, key: "modelService.resources.memoryRequest", says: /Kubernetes quantity/ },
    { what: "duplicate model names", raw: { models: [{ name: "chat" }, { name: "chat" }] }, key: "models[1].name", says: /already used by models\[0\]/ },
    { what: "model name not a DNS label", raw: { models: [{ name: "Chat_Model" }] }, key: "models[0].name", says: /DNS-1123/ },
    { what: "no models", raw: { models: [] }, key: "models", says: /1/ },
    { what: "dynamic batching without batching", raw: { models: [{ name: "chat", maxBatchSize: 0 }] }, key: "models[0].dynamicBatching.enabled", says: /maxBatchSize > 0/ },
    {
        what: "preferred batch above maximum",
        raw: { models: [{ name: "chat", maxBatchSize: 16, dynamicBatching: { preferredBatchSizes: [8, 32] } }] },
        key: "models[0].dynamicBatching.preferredBatchSizes[1]",
        says: /exceeds maxBatchSize 16/,
    },
    { what: "unknown precision", raw: { models: [{ name: "chat", precision: "int4" }] }, key: "models[0].precision", says: /"int8", "fp16", "fp32"/ },
    { what: "active slot without an image", raw: { activeSlot: "green", slots: { green: {} } }, key: "slots.green.image", says: /active slot "green" has no image/ },
    { what: "active slot not blue or green", raw: { activeSlot: "red" }, key: "activeSlot", says: /"blue", "green"/ },
    {
        what: "more than three releases",
        raw: { releases: [image("23.12-py3"), image("24.01-py3"), image("24.02-py3"), image("24.03-py3")] },
        key: "releases",
        says: /at most the last 3/,
    },
    { what: "slot image not among releases", raw: { releases: [image("24.01-py3")] }, key: "slots.blue.image", says: /not among the recorded releases/ },
    { what: "prod with two zones", raw: { environment: "prod", cluster: { mode: "kubeconfig" }, zones: ["a", "b"], modelService: { hpa: { minReplicas: 3, maxReplicas: 6 } } }, key: "zones", says: /at least 3 availability zones/ },
    { what: "prod in render mode", raw: { environment: "prod" }, key: "cluster.mode", says: /set cluster.mode to kubeconfig/ },
    { what: "duplicate zones", raw: { zones: ["a", "a", "b"] }, key: "zones", says: /distinct/ },
    { what: "namespace default", raw: { namespace: "default" }, key: "namespace", says: /not default/ },
    { what: "unknown cluster mode", raw: { cluster: { mode: "eks" } }, key: "cluster.mode", says: /render|kubeconfig|none|expected/ },
    { what: "no cluster and no server", raw: { cluster: { mode: "none" } }, key: "server", says: /must declare a server/ },
    {
        what: "server zone with upper case",
        raw: { server: { host: "203.0.113.10", user: "ubuntu", zone: "CN-Shanghai-B" } },
        key: "server.zone",
        says: /zone name such as cn-shanghai-b/,
    },
    { what: "HPA target utilization above 100", raw: { modelService: { hpa: { cpuUtilization: 150 } } }, key: "modelService.hpa.cpuUtilization", says: /<= 100/ },
    { what: "object storage endpoint not a URL", raw: { objectStorage: { endpoint: "minio:9000" } }, key: "objectStorage.endpoint", says: /http\(s\) URL/ },
    { what: "CIDR with host bits", raw: { securityGroup: { sshCidrs: ["10.0.0.1/8"] } }, key: "securityGroup.sshCidrs[0]", says: /did you mean 10\.0\.0\.0\/8/ },
    {
        what: "firewall rule for a port no service declares",
        raw: { securityGroup: { extraRules: [{ direction: "ingress", port: 3306, description: "mysql" }] } },
        key: "securityGroup.extraRules[0].port",
        says: /not served by any service/,
    },
    { what: "model repository not s3://", raw: { modelService: { modelRepository: { uri: "gs://models" } } }, key: "modelService.modelRepository.uri", says: /s3:\/\// },
];

describe("stack definition: malformed input", () => {
    it.each(malformed)("$what -> names $key", ({ raw, key, says }) => {
        const result = parseDefinition(raw, ctx);
        expect(result.ok).toBe(false);
        const issues = result.ok ? [] : result.issues;
        const hit = issues.find((i) => i.key === `${PROJECT}:${key}`);
        expect(hit, `no issue for ${key}; got ${JSON.stringify(issues)}`).toBeDefined();
        expect(hit!.message).toMatch(says);
    });

    it("has at least 25 cases", () => {
        expect(malformed.length).toBeGreaterThanOrEqual(25);
    });

    it("reports every problem in one run, type errors and cross-field rules together", () => {
        const result = parseDefinition(
            {
                environment: "prod",
                zones: ["a"],
                slots: { blue: { image: image("latest") } },
                modelService: { ports: { http: 0 } },
                models: [{ name: "a" }, { name: "a" }],
            },
            ctx,
        );
        expect(result.ok).toBe(false);
        const keys = result.ok ? [] : result.issues.map((i) => i.key.replace(`${PROJECT}:`, ""));
        expect(keys).toEqual(expect.arrayContaining(["slots.blue.image", "modelService.ports.http", "zones", "cluster.mode", "models[1].name"]));
    });

    it("accepts an empty config with the guide's defaults", () => {
        const result = parseDefinition({}, ctx);
        expect(result.ok).toBe(true);
        const d = result.ok ? result.definition : undefined;
        expect(d?.modelService.servicePort).toBe(18789);
        expect(d?.modelService.probes.liveness).toMatchObject({ initialDelaySeconds: 30, periodSeconds: 10 });
        expect(d?.models[0]).toMatchObject({ maxBatchSize: 32, precision: "int8" });
        expect(d?.keys.rotationDays).toBe(90);
        expect(d?.monitoring.thresholds).toMatchObject({ p99LatencyMs: 800, errorRatePercent: 2, availabilityPercent: 90, diskUsagePercent: 85 });
    });

    it("accepts numbers given as strings at the top level (pulumi config set stores strings)", () => {
        const result = parseDefinition({ modelService: { hpa: { minReplicas: "4", maxReplicas: "8" } } }, ctx);
        expect(result.ok && result.definition.modelService.hpa).toMatchObject({ minReplicas: 4, maxReplicas: 8 });
    });

    it("accepts a digest-pinned image", () => {
        const digest = `nvcr.io/nvidia/tritonserver@sha256:${"a".repeat(64)}`;
        const result = parseDefinition({ slots: { blue: { image: digest } } }, ctx);
        expect(result.ok).toBe(true);
    });
});

describe("stack definition: through the Pulumi runtime", () => {
    const program = () => deployPlatform(loadDefinition(), readSecrets());

    it("registers no resource and names every bad key when the definition is invalid", async () => {
        const config = {
            ...stackFileConfig("dev"),
            [`${PROJECT}:activeSlot`]: "purple",
            [`${PROJECT}:modelService`]: JSON.stringify({ hpa: { minReplicas: 1, maxReplicas: 1 } }),
        };
        const failure = await runMocked(program, { stack: "dev", config }).then(
            () => undefined,
            (e: unknown) => e,
        );
        expect(failure).toBeInstanceOf(ProgramFailed);
        const { cause, resources } = failure as ProgramFailed;
        expect(resources).toEqual([]);
        expect(cause).toBeInstanceOf(StackDefinitionError);
        const message = (cause as Error).message;
        expect(message).toContain(`${PROJECT}:activeSlot`);
        expect(message).toContain(`${PROJECT}:modelService.hpa.minReplicas`);
        expect(message).toContain(`${PROJECT}:modelService.hpa.maxReplicas`);
        expect(message).toContain("no resource was created");
    });

    it.each(["dev", "prod"])("the %s stack file is a valid definition", (stack) => {
        const raw: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(stackFileConfig(stack))) {
            const key = k.slice(PROJECT.length + 1);
            raw[key] = /^[[{]/.test(v) ? JSON.parse(v) : v;
        }
        const result = parseDefinition(raw, { project: PROJECT, stack });
        expect(result.ok ? [] : result.issues).toEqual([]);
    });
});
