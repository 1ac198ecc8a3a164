import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { clusterProvider } from "../../components/cluster/provider";
import { modelConfigPbtxt, ModelService, slotDeploymentSpec, slotHpaSpec, tritonCommand, tritonPodSpec } from "../../components/model-service";
import { StackDefinition } from "../../stack/definition";
import { stackDefinition } from "../support/definitions";
import { ofType, one, Registered, RunResult, runMocked } from "../support/harness";

const ADMIN_KEY = "admin-key-value-that-must-stay-secret-0123456789";

const definitionOf = stackDefinition;

function modelServiceProgram(def: StackDefinition) {
    return () => {
        const provider = clusterProvider("cluster", { mode: "render", directory: "out/manifests/<stack>" }, def.stack);
        const svc = new ModelService("triton", {
            namespace: def.namespace,
            instance: `${def.project}-${def.stack}`,
            labels: def.labels,
            zones: def.zones,
            slots: def.slots,
            activeSlot: def.activeSlot,
            models: def.models,
            settings: def.modelService,
            objectStorage: def.objectStorage,
            objectStorageCredentials: { accessKeyId: pulumi.secret("AKIA-TEST"), secretAccessKey: pulumi.secret("s3-secret-value-xyz") },
            adminKey: pulumi.secret(ADMIN_KEY),
            provider,
        });
        return { serviceName: svc.serviceName };
    };
}

const container = (d: Registered, name = "triton") =>
    d.inputs.spec.template.spec.containers.find((c: { name: string }) => c.name === name);

describe("ModelService under the prod definition", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runMocked(modelServiceProgram(definitionOf("prod")), { stack: "prod" });
    });

    it("declares one Deployment, HPA, PDB and slot Service per blue-green slot", () => {
        const deployments = ofType(run, "kubernetes:apps/v1:Deployment");
        expect(deployments.map((d) => d.name).sort()).toEqual(["triton-blue", "triton-green"]);
        expect(ofType(run, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")).toHaveLength(2);
        expect(ofType(run, "kubernetes:policy/v1:PodDisruptionBudget")).toHaveLength(2);
        expect(ofType(run, "kubernetes:core/v1:Service").map((s) => s.name).sort()).toEqual(["triton", "triton-blue", "triton-green"]);
    });

    it("spreads replicas across zones (maxSkew 1, DoNotSchedule) and nodes, and pins them to the declared zones", () => {
        for (const d of ofType(run, "kubernetes:apps/v1:Deployment")) {
            const spec = d.inputs.spec.template.spec;
            const zone = spec.topologySpreadConstraints.find((c: any) => c.topologyKey === "topology.kubernetes.io/zone");
            expect(zone).toMatchObject({ maxSkew: 1, whenUnsatisfiable: "DoNotSchedule", labelSelector: { matchLabels: d.inputs.spec.selector.matchLabels } });
            expect(spec.topologySpreadConstraints.some((c: any) => c.topologyKey === "kubernetes.io/hostname")).toBe(true);
            const term = spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0];
            expect(term.matchExpressions[0]).toEqual({ key: "topology.kubernetes.io/zone", operator: "In", values: ["eu-west-1a", "eu-west-1b", "eu-west-1c"] });
        }
    });

    it("probes: startup sized for model load, liveness per R13, readiness on /v2/health/ready", () => {
        const c = container(one(run, "kubernetes:apps/v1:Deployment", "triton-blue"));
        expect(c.livenessProbe).toMatchObject({ httpGet: { path: "/v2/health/live", port: "http" }, initialDelaySeconds: 30, periodSeconds: 10 });
        expect(c.readinessProbe).toMatchObject({ httpGet: { path: "/v2/health/ready", port: "http" } });
        expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(600);
    });

    it("runs Triton hardened: non-root, read-only root, no capabilities, RuntimeDefault seccomp, no API token", () => {
        for (const d of ofType(run, "kubernetes:apps/v1:Deployment")) {
            const pod = d.inputs.spec.template.spec;
            expect(pod.automountServiceAccountToken).toBe(false);
            expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
            for (const c of [...pod.initContainers, ...pod.containers]) {
                expect(c.securityContext).toMatchObject({
                    runAsNonRoot: true,
                    readOnlyRootFilesystem: true,
                    allowPrivilegeEscalation: false,
                    capabilities: { drop: ["ALL"] },
                });
            }
            const shm = pod.volumes.find((v: any) => v.name === "shm");
            expect(shm.emptyDir).toEqual({ medium: "Memory", sizeLimit: "2Gi" });
            expect(pod.volumes.filter((v: any) => v.emptyDir).every((v: any) => v.emptyDir.sizeLimit)).toBe(true);
        }
    });

    it("leaves replicas to the HPA, which scales from >= 3 on CPU and memory with a scale-down window", () => {
        for (const d of ofType(run, "kubernetes:apps/v1:Deployment")) {
            expect(d.inputs.spec.replicas).toBeUndefined();
        }
        const hpa = one(run, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "triton-blue");
        expect(hpa.inputs.spec.minReplicas).toBeGreaterThanOrEqual(3);
        expect(hpa.inputs.spec.maxReplicas).toBeGreaterThan(hpa.inputs.spec.minReplicas);
        expect(hpa.inputs.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "triton-blue-mock" });
        expect(hpa.inputs.spec.metrics.map((m: any) => m.resource.name).sort()).toEqual(["cpu", "memory"]);
        expect(hpa.inputs.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(300);
    });

    it("gives each slot a PDB allowing one disruption over exactly that slot's pods", () => {
        for (const slot of ["blue", "green"]) {
            const pdb = one(run, "kubernetes:policy/v1:PodDisruptionBudget", `triton-${slot}`);
            const deployment = one(run, "kubernetes:apps/v1:Deployment", `triton-${slot}`);
            expect(pdb.inputs.spec.maxUnavailable).toBe(1);
            expect(pdb.inputs.spec.selector.matchLabels).toEqual(deployment.inputs.spec.selector.matchLabels);
        }
    });

    it("routes port 18789 to the active slot only", () => {
        const svc = one(run, "kubernetes:core/v1:Service", "triton");
        expect(svc.inputs.spec.type).toBe("ClusterIP");
        expect(svc.inputs.spec.ports[0]).toMatchObject({ port: 18789, targetPort: "http" });
        expect(svc.inputs.spec.selector["triton-platform/slot"]).toBe("blue");
    });

    it("requests GPUs with a limit, node selector and toleration when the definition asks for them", () => {
        const d = one(run, "kubernetes:apps/v1:Deployment", "triton-blue");
        expect(container(d).resources.limits["nvidia.com/gpu"]).toBe("1");
        expect(d.inputs.spec.template.spec.nodeSelector).toEqual({ "nvidia.com/gpu.present": "true" });
        expect(d.inputs.spec.template.spec.tolerations[0].key).toBe("nvidia.com/gpu");
    });

    it("shuts down gracefully: grace period longer than preStop sleep plus Triton's drain", () => {
        const d = one(run, "kubernetes:apps/v1:Deployment", "triton-blue");
        const pod = d.inputs.spec.template.spec;
        expect(container(d).lifecycle.preStop.exec.command.join(" ")).toContain("sleep 10");
        expect(container(d).command.join(" ")).toContain("--exit-timeout-secs=30");
        expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(10 + 30);
    });

    it("keeps keys out of the pod spec: secretKeyRef for the admin key and object-store credentials", () => {
        const text = JSON.stringify(run.resources.filter((r) => r.type !== "kubernetes:core/v1:Secret").map((r) => r.inputs));
        expect(text).not.toContain(ADMIN_KEY);
        expect(text).not.toContain("s3-secret-value-xyz");
        const d = one(run, "kubernetes:apps/v1:Deployment", "triton-blue");
        expect(container(d).env.find((e: any) => e.name === "TRITON_ADMIN_KEY").valueFrom.secretKeyRef.key).toBe("admin-key");
        const sync = d.inputs.spec.template.spec.initContainers[0];
        expect(sync.env.find((e: any) => e.name === "AWS_SECRET_ACCESS_KEY").valueFrom.secretKeyRef).toBeDefined();
    });

    it("labels every object with the recommended labels and parents it under the component with the explicit provider", () => {
        for (const r of run.resources.filter((x) => x.type.startsWith("kubernetes:") && x.type !== "pulumi:providers:kubernetes")) {
            expect(r.parent).toBe("triton-platform:modelService:ModelService::triton");
            expect(r.provider).toMatch(/pulumi:providers:kubernetes::cluster::/);
            expect(r.inputs.metadata.labels).toMatchObject({
                "app.kubernetes.io/name": "triton",
                "app.kubernetes.io/instance": "triton-platform-prod",
                "app.kubernetes.io/component": "model-server",
                "app.kubernetes.io/part-of": "triton-platform",
                "app.kubernetes.io/managed-by": "pulumi",
            });
            expect(r.inputs.metadata.name).toBeUndefined();
            expect(r.inputs.metadata.namespace).toBe("triton");
        }
    });

    it("stores no args in the component's state", () => {
        const component = one(run, "triton-platform:modelService:ModelService", "triton");
        expect(component.inputs).toEqual({});
    });

    it("mounts the generated config.pbtxt per model and rolls pods when it changes", () => {
        const cm = one(run, "kubernetes:core/v1:ConfigMap", "triton-model-config");
        expect(cm.inputs.data["dialogue.pbtxt"]).toContain("max_batch_size: 32");
        const d = one(run, "kubernetes:apps/v1:Deployment", "triton-blue");
        expect(d.inputs.spec.template.metadata.annotations["triton-platform/model-config-sha256"]).toMatch(/^[a-f0-9]{64}$/);
        expect(d.inputs.spec.template.spec.initContainers[0].command[2]).toContain('cp "/config/models/dialogue.pbtxt" "/models/dialogue/config.pbtxt"');
    });
});

describe("Triton command line and model config", () => {
    const def = definitionOf("dev");

    it("runs with the safe flags the platform relies on", () => {
        const cmd = tritonCommand(def.modelService)[2];
        for (const flag of [
            "--model-control-mode=none",
            "--log-format=ISO8601",
            "--metrics-config=summary_latencies=true",
            "--http-port=8000",
            "--grpc-port=8001",
            "--metrics-port=8002",
        ]) {
            expect(cmd).toContain(flag);
        }
        expect(cmd).toMatch(/--http-restricted-api=model-repository,model-config,[^ ]*:triton-admin-key="\$TRITON_ADMIN_KEY"/);
        expect(cmd.startsWith("exec tritonserver ")).toBe(true);
    });

    it("writes R12 batching and INT8 precision into config.pbtxt", () => {
        const gpu = modelConfigPbtxt({ ...def.models[0] }, { gpu: true });
        expect(gpu).toContain('platform: "onnxruntime_onnx"');
        expect(gpu).toContain("max_batch_size: 32");
        expect(gpu).toMatch(/dynamic_batching \{\n  preferred_batch_size: \[ 8, 16, 32 \]\n  max_queue_delay_microseconds: 100\n\}/);
        expect(gpu).toContain('parameters { key: "precision_mode" value: "INT8" }');
        expect(gpu).toContain("kind: KIND_GPU");
        const cpu = modelConfigPbtxt({ ...def.models[0] }, { gpu: false });
        expect(cpu).toContain("kind: KIND_CPU");
        expect(cpu).not.toContain("tensorrt");
    });

    it("omits the object-store credential env when workload identity is used", () => {
        const spec = tritonPodSpec({
            slot: "blue",
            image: "nvcr.io/nvidia/tritonserver:23.12-py3",
            settings: def.modelService,
            modelNames: ["dialogue"],
            zones: def.zones,
            selector: {},
            serviceAccountName: "sa",
            configMapName: "cm",
            adminKeySecretName: "key",
            objectStorage: def.objectStorage,
            modelRepositoryUri: def.modelService.modelRepository.uri,
        });
        const env = (spec.initContainers as any[])[0].env.map((e: any) => e.name);
        expect(env).not.toContain("AWS_ACCESS_KEY_ID");
        expect(env).toContain("AWS_ENDPOINT_URL");
    });
});

describe("ModelService: idle slot scaled to zero", () => {
    it("gives the idle slot zero replicas and no HPA, the active slot an HPA", async () => {
        const def = definitionOf("dev", { modelService: { ...definitionOf("dev").modelService, idleSlot: "scaledToZero" } });
        const run = await runMocked(modelServiceProgram(def), { stack: "dev" });
        expect(one(run, "kubernetes:apps/v1:Deployment", "triton-green").inputs.spec.replicas).toBe(0);
        expect(one(run, "kubernetes:apps/v1:Deployment", "triton-blue").inputs.spec.replicas).toBeUndefined();
        expect(ofType(run, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").map((h) => h.name)).toEqual(["triton-blue"]);
    });
});

describe("slot builders (pure)", () => {
    const def = definitionOf("prod");
    const podArgs = {
        slot: "blue" as const,
        image: def.slots.blue.image!,
        settings: def.modelService,
        modelNames: def.models.map((m) => m.name),
        zones: def.zones,
        selector: { app: "triton", "triton-platform/slot": "blue" },
        serviceAccountName: "sa",
        configMapName: "cm",
        adminKeySecretName: "admin",
        objectStorage: def.objectStorage,
        modelRepositoryUri: def.modelService.modelRepository.uri,
    };

    it("leaves the replica count to the HPA, except for an idle slot scaled to zero", () => {
        const live = slotDeploymentSpec({ ...podArgs, podLabels: { a: "b" }, configSha256: "abc", scaledToZero: false });
        expect(live.replicas).toBeUndefined();
        expect(slotDeploymentSpec({ ...podArgs, podLabels: {}, configSha256: "abc", scaledToZero: true }).replicas).toBe(0);
        // Rolling updates never take a serving pod away first, and three old ReplicaSets stay for rollback (R16).
        expect(live.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" } });
        expect(live.revisionHistoryLimit).toBe(3);
    });

    it("rolls the pods when the model config or the keys change", () => {
        const template = (sha: string, keyRotationId?: string) =>
            slotDeploymentSpec({ ...podArgs, podLabels: {}, configSha256: sha, keyRotationId, scaledToZero: false }).template as { metadata: { annotations: Record<string, string> } };
        expect(template("one").metadata.annotations).not.toEqual(template("two").metadata.annotations);
        expect(template("one", "r2").metadata.annotations["triton-platform/key-rotation"]).toBe("r2");
        expect(template("one").metadata.annotations["triton-platform/key-rotation"]).toBeUndefined();
    });

    it("scales on CPU and memory at the settings' targets and gives back one pod a minute", () => {
        const hpa = slotHpaSpec(def.modelService, "triton-blue");
        expect(hpa.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "triton-blue" });
        expect([hpa.minReplicas, hpa.maxReplicas]).toEqual([def.modelService.hpa.minReplicas, def.modelService.hpa.maxReplicas]);
        expect(hpa.metrics).toEqual([
            { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: def.modelService.hpa.cpuUtilization } } },
            { type: "Resource", resource: { name: "memory", target: { type: "Utilization", averageUtilization: def.modelService.hpa.memoryUtilization } } },
        ]);
        expect(hpa.behavior).toMatchObject({ scaleDown: { policies: [{ type: "Pods", value: 1, periodSeconds: 60 }] } });
    });
});
