// Pure builders for the Triton workload: the container arguments, probes and pod spec of one slot.
// The ModelService component only wires these to resources; tests call them directly.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { hardenedContainer, zonePlacement } from "../../kit/pod";
import { quantityValue } from "../../kit/schema";
import { ModelServiceSettings, ProbeSettings, SlotName } from "./schema";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type Probe = k8s.types.input.core.v1.Probe;

/** Label that tells the slots apart; the routing Service selects on it. */
export const SLOT_LABEL = "triton-platform/slot";
/** Environment variable through which the restricted-API key reaches Triton (from a Secret). */
export const ADMIN_KEY_ENV = "TRITON_ADMIN_KEY";
/** HTTP header that carries the restricted-API key. */
export const ADMIN_KEY_HEADER = "triton-admin-key";
/** Triton's readiness endpoint (KServe v2): 200 once every model is loaded. Probes, waits and checks on both targets use it. */
export const TRITON_READY_PATH = "/v2/health/ready";
/** Triton admin APIs closed to callers without the restricted-API key. */
export const RESTRICTED_APIS = ["model-repository", "model-config", "shared-memory", "statistics", "trace", "logging"];

/** Size bound of the pod's /tmp (HOME of both containers). */
export const TMP_SIZE = "1Gi";

/**
 * Disk the pod's emptyDirs may fill on the node: the model cache and /tmp (/dev/shm is memory and counts
 * against the memory limit). Requested as ephemeral storage, so the scheduler places the pod only where
 * that room is free, and the kubelet, under disk pressure, does not evict it first for using more than
 * it asked for.
 */
export function ephemeralStorageRequest(settings: Pick<ModelServiceSettings, "modelRepository">): string {
    const bytes = quantityValue(settings.modelRepository.sizeLimit) + quantityValue(TMP_SIZE);
    return `${Math.ceil(bytes / 2 ** 20)}Mi`;
}

/** Mount points inside the pod. */
export const PATHS = { models: "/models", modelConfig: "/config/models", shm: "/dev/shm", tmp: "/tmp" } as const;

/**
 * Triton's command line. The restricted-API key is expanded by the shell from an environment variable
 * fed by a secretKeyRef, so the value never appears in the pod spec (args are visible to anyone who
 * can read the Deployment).
 */
export function tritonCommand(settings: ModelServiceSettings): string[] {
    const p = settings.ports;
    const flags = [
        `--model-repository=${PATHS.models}`,
        // Repository writers must not be able to load code at runtime: models change by rollout only.
        "--model-control-mode=none",
        `--http-port=${p.http}`,
        `--grpc-port=${p.grpc}`,
        `--metrics-port=${p.metrics}`,
        "--allow-metrics=true",
        // Per-pod latency quantiles: the P99 alert (R14) reads nv_inference_request_summary_us.
        "--metrics-config=summary_latencies=true",
        `--exit-timeout-secs=${settings.exitTimeoutSeconds}`,
        "--log-format=ISO8601",
        "--log-info=true",
        `--http-restricted-api=${RESTRICTED_APIS.join(",")}:${ADMIN_KEY_HEADER}="$${ADMIN_KEY_ENV}"`,
        `--grpc-restricted-protocol=${RESTRICTED_APIS.join(",")}:${ADMIN_KEY_HEADER}="$${ADMIN_KEY_ENV}"`,
    ];
    return ["/bin/sh", "-c", `exec tritonserver ${flags.join(" ")}`];
}

function probe(path: string, timing: ProbeSettings): Probe {
    return {
        httpGet: { path, port: "http" },
        initialDelaySeconds: timing.initialDelaySeconds,
        periodSeconds: timing.periodSeconds,
        timeoutSeconds: timing.timeoutSeconds,
        failureThreshold: timing.failureThreshold,
    };
}

/**
 * Probes. Triton serves HTTP only after the models of a `none`-mode repository have loaded, so the
 * startup probe (on readiness) holds liveness off for the whole load window; liveness then checks the
 * process (/v2/health/live, R13: 30 s delay, 10 s period) and readiness gates traffic on loaded models.
 */
export function tritonProbes(settings: ModelServiceSettings): { startupProbe: Probe; livenessProbe: Probe; readinessProbe: Probe } {
    return {
        startupProbe: probe(TRITON_READY_PATH, settings.probes.startup),
        livenessProbe: probe("/v2/health/live", settings.probes.liveness),
        readinessProbe: probe(TRITON_READY_PATH, settings.probes.readiness),
    };
}

/** The shell script of the init container that copies the model repository into the pod. */
export function modelSyncScript(modelNames: string[]): string {
    const overlays = modelNames
        .map((m) => `mkdir -p "${PATHS.models}/${m}" && cp "${PATHS.modelConfig}/${m}.pbtxt" "${PATHS.models}/${m}/config.pbtxt"`)
        .join("\n");
    return [
        "set -eu",
        `aws s3 sync "$MODEL_REPOSITORY_URI" "${PATHS.models}" --only-show-errors --no-progress`,
        "# config.pbtxt comes from the stack definition, not from the bucket (R12 settings in one place)",
        overlays,
    ].join("\n");
}

/** Inputs of the pod spec of one slot. */
export interface PodSpecArgs {
    slot: SlotName;
    image: string;
    settings: ModelServiceSettings;
    modelNames: string[];
    zones: string[];
    /** Labels selecting this slot's pods (for topology spread). */
    selector: Record<string, string>;
    /** Names of the slot's companions: Inputs, so a preview shows the spec even before they exist. */
    serviceAccountName: pulumi.Input<string>;
    configMapName: pulumi.Input<string>;
    adminKeySecretName: pulumi.Input<string>;
    /** Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; unset: workload identity. */
    objectStoreSecretName?: pulumi.Input<string>;
    objectStorage: { endpoint: string; region: string };
    modelRepositoryUri: string;
}

/** The pod spec of one slot. */
export function tritonPodSpec(a: PodSpecArgs): PodSpec {
    const s = a.settings;
    const gpu = s.gpu.count > 0;
    const limits: Record<string, string> = { memory: s.resources.memoryLimit };
    if (s.resources.cpuLimit) {
        limits.cpu = s.resources.cpuLimit;
    }
    if (gpu) {
        limits["nvidia.com/gpu"] = String(s.gpu.count);
    }
    const credentialEnv: k8s.types.input.core.v1.EnvVar[] = a.objectStoreSecretName
        ? ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].map((key) => ({
              name: key,
              valueFrom: { secretKeyRef: { name: a.objectStoreSecretName, key } },
          }))
        : [];
    return {
        serviceAccountName: a.serviceAccountName,
        // Triton needs no Kubernetes API access; a mounted token would only be something to steal.
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: s.terminationGracePeriodSeconds,
        securityContext: {
            runAsNonRoot: true,
            // uid/gid 1000: the triton-server user of NVIDIA's images.
            runAsUser: 1000,
            runAsGroup: 1000,
            fsGroup: 1000,
            seccompProfile: { type: "RuntimeDefault" },
        },
        // R13: replicas across availability zones, and across nodes softly.
        ...zonePlacement(a.zones, a.selector),
        nodeSelector: gpu ? s.gpu.nodeSelector : undefined,
        tolerations: gpu ? s.gpu.tolerations : undefined,
        initContainers: [
            {
                name: "model-sync",
                image: s.modelRepository.syncImage,
                command: ["/bin/sh", "-c", modelSyncScript(a.modelNames)],
                env: [
                    { name: "MODEL_REPOSITORY_URI", value: a.modelRepositoryUri },
                    { name: "AWS_ENDPOINT_URL", value: a.objectStorage.endpoint },
                    { name: "AWS_REGION", value: a.objectStorage.region },
                    { name: "AWS_CONFIG_FILE", value: `${PATHS.modelConfig}/aws-config` },
                    { name: "HOME", value: PATHS.tmp },
                    ...credentialEnv,
                ],
                resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } },
                securityContext: hardenedContainer,
                volumeMounts: [
                    { name: "models", mountPath: PATHS.models },
                    { name: "model-config", mountPath: PATHS.modelConfig, readOnly: true },
                    { name: "tmp", mountPath: PATHS.tmp },
                ],
            },
        ],
        containers: [
            {
                name: "triton",
                image: a.image,
                command: tritonCommand(s),
                env: [
                    { name: ADMIN_KEY_ENV, valueFrom: { secretKeyRef: { name: a.adminKeySecretName, key: "admin-key" } } },
                    { name: "HOME", value: PATHS.tmp },
                ],
                ports: [
                    { name: "http", containerPort: s.ports.http, protocol: "TCP" },
                    { name: "grpc", containerPort: s.ports.grpc, protocol: "TCP" },
                    { name: "metrics", containerPort: s.ports.metrics, protocol: "TCP" },
                ],
                ...tritonProbes(s),
                lifecycle: {
                    // Endpoints drop the pod while it sleeps; then SIGTERM lets Triton drain for exitTimeoutSeconds.
                    preStop: { exec: { command: ["/bin/sh", "-c", `sleep ${s.preStopDelaySeconds}`] } },
                },
                resources: {
                    requests: { cpu: s.resources.cpuRequest, memory: s.resources.memoryRequest, "ephemeral-storage": ephemeralStorageRequest(s) },
                    limits,
                },
                securityContext: hardenedContainer,
                volumeMounts: [
                    { name: "models", mountPath: PATHS.models, readOnly: true },
                    { name: "shm", mountPath: PATHS.shm },
                    { name: "tmp", mountPath: PATHS.tmp },
                ],
            },
        ],
        volumes: [
            { name: "models", emptyDir: { sizeLimit: s.modelRepository.sizeLimit } },
            // Triton's Python backend and shared-memory transfers need more than the runtime's 64 MiB.
            { name: "shm", emptyDir: { medium: "Memory", sizeLimit: s.shmSize } },
            { name: "tmp", emptyDir: { sizeLimit: TMP_SIZE } },
            { name: "model-config", configMap: { name: a.configMapName } },
        ],
    };
}
