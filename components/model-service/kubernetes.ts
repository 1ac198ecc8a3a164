import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { imageVersion } from "../../kit/image-ref";
import { recommendedLabels, selectorLabels } from "../../kit/labels";
import { modelConfigData } from "./model-config";
import { ModelServiceSettings, ModelSettings, SLOT_NAMES, SlotName } from "./schema";
import { ADMIN_KEY_HEADER, PodSpecArgs, SLOT_LABEL, tritonPodSpec } from "./workload";

/** Arguments of {@link ModelService}. */
export interface ModelServiceArgs {
    /** Namespace of every object (the stack's own, never `default`). */
    namespace: pulumi.Input<string>;
    /** app.kubernetes.io/instance value, `<project>-<stack>`. */
    instance: string;
    /** User labels, put after the recommended ones. */
    labels?: Record<string, string>;
    /** Zones the replicas spread across (R13). Length <= HPA minimum. */
    zones: string[];
    /** Image per blue-green slot; a slot without an image is not deployed. */
    slots: Record<SlotName, { image?: string }>;
    /** The slot the routing Service selects (R16). */
    activeSlot: SlotName;
    /** Models served, with their R12 settings. */
    models: ModelSettings[];
    settings: ModelServiceSettings;
    /** Object store holding the model repository. */
    objectStorage: { endpoint: string; region: string; forcePathStyle: boolean; serviceAccountAnnotations: Record<string, string> };
    /** Static object-store credentials; unset: the service account's workload identity. */
    objectStorageCredentials?: { accessKeyId: pulumi.Input<string>; secretAccessKey: pulumi.Input<string> };
    /** Triton's restricted-API key (secret). */
    adminKey: pulumi.Input<string>;
    /**
     * Identifies the key generation (non-secret). It annotates the pod template so a key rotation rolls
     * the pods: Triton reads its admin key only at start.
     */
    keyRotationId?: pulumi.Input<string>;
    /** The explicit Kubernetes provider. */
    provider: k8s.Provider;
}

/** What a slot declares. */
export interface SlotResources {
    deployment: k8s.apps.v1.Deployment;
    hpa?: k8s.autoscaling.v2.HorizontalPodAutoscaler;
    pdb: k8s.policy.v1.PodDisruptionBudget;
    /** A Service for this slot alone: smoke-test a new release before switching traffic to it. */
    service: k8s.core.v1.Service;
}

/** ClusterIP spec exposing Triton's HTTP API on the service port (R7), gRPC and metrics on their own ports. */
export function serviceSpec(selector: Record<string, string>, s: ModelServiceSettings): k8s.types.input.core.v1.ServiceSpec {
    return {
        type: "ClusterIP",
        selector,
        ports: [
            // R7: collaboration platforms (through the entry point) reach Triton's HTTP API on 18789.
            { name: "http", port: s.servicePort, targetPort: "http", protocol: "TCP" },
            { name: "grpc", port: s.ports.grpc, targetPort: "grpc", protocol: "TCP" },
            // Metrics for the entry point's metrics:read route; scraping goes to the pods directly.
            { name: "metrics", port: s.ports.metrics, targetPort: "metrics", protocol: "TCP" },
        ],
    };
}

/** Inputs of {@link slotDeploymentSpec}: the pod spec's, and what the slot's pod template carries. */
export type SlotDeploymentArgs = PodSpecArgs & {
    /** Labels of the slot's pods (recommended labels, version, slot). */
    podLabels: Record<string, string>;
    /** SHA-256 of the generated model config: pods restart when it changes (a ConfigMap edit alone would not). */
    configSha256: string;
    /** Key rotation id: a rotation rolls the pods. */
    keyRotationId?: pulumi.Input<string>;
    /** The idle slot scaled to zero (`idleSlot: scaledToZero`): replicas 0 and no HPA. */
    scaledToZero: boolean;
};

/** One slot's Deployment spec. Pure. */
export function slotDeploymentSpec(a: SlotDeploymentArgs): k8s.types.input.apps.v1.DeploymentSpec {
    const { podLabels, configSha256, keyRotationId, scaledToZero, ...pod } = a;
    return {
        // Unset while an HPA owns the count: a fixed value would fight it on every `up`.
        replicas: scaledToZero ? 0 : undefined,
        // R16: keep the last 3 versions for rollback.
        revisionHistoryLimit: 3,
        selector: { matchLabels: a.selector },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" } },
        template: {
            metadata: {
                labels: podLabels,
                annotations: {
                    "triton-platform/model-config-sha256": configSha256,
                    ...(keyRotationId ? { "triton-platform/key-rotation": keyRotationId } : {}),
                    "kubectl.kubernetes.io/default-container": "triton",
                },
            },
            spec: tritonPodSpec(pod),
        },
    };
}

/** A slot's HPA spec (R12: CPU and memory utilisation; scale down one pod a minute). Pure. */
export function slotHpaSpec(s: ModelServiceSettings, deploymentName: pulumi.Input<string>): k8s.types.input.autoscaling.v2.HorizontalPodAutoscalerSpec {
    const utilization = (name: string, averageUtilization: number) => ({ type: "Resource", resource: { name, target: { type: "Utilization", averageUtilization } } });
    return {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deploymentName },
        minReplicas: s.hpa.minReplicas,
        maxReplicas: s.hpa.maxReplicas,
        metrics: [utilization("cpu", s.hpa.cpuUtilization), utilization("memory", s.hpa.memoryUtilization)],
        behavior: {
            scaleDown: {
                stabilizationWindowSeconds: s.hpa.scaleDownStabilizationSeconds,
                // One pod at a time: a model reload costs minutes.
                policies: [{ type: "Pods", value: 1, periodSeconds: 60 }],
            },
        },
    };
}

/** What every slot of one ModelService shares (see ModelService.declareSlot). */
interface SlotContext {
    name: string;
    args: ModelServiceArgs;
    child: pulumi.CustomResourceOptions;
    labels: (extra?: Record<string, string>, version?: string) => Record<string, string>;
    metadata: (extra?: Record<string, string>, version?: string) => { namespace: pulumi.Input<string>; labels: Record<string, string> };
    configChecksum: string;
    serviceAccount: k8s.core.v1.ServiceAccount;
    modelConfig: k8s.core.v1.ConfigMap;
    adminKey: k8s.core.v1.Secret;
    objectStore?: k8s.core.v1.Secret;
}

/**
 * NVIDIA Triton Inference Server on Kubernetes, blue-green: one Deployment, HPA and PDB per slot, and a
 * ClusterIP Service on port 18789 (R7) that routes to the active slot. Switching `activeSlot` changes
 * only that Service's selector; everything else stays byte-identical, so the preview before a
 * switchover shows exactly one update.
 */
export class ModelService extends pulumi.ComponentResource {
    /** The routing Service's name. */
    public readonly serviceName: pulumi.Output<string>;
    /** The routing Service's port (R7: 18789). */
    public readonly servicePort: number;
    /** The slot receiving traffic. */
    public readonly activeSlot: SlotName;
    /** Image per deployed slot. */
    public readonly images: Partial<Record<SlotName, string>>;
    /** Resources of each deployed slot. */
    public readonly slots: Partial<Record<SlotName, SlotResources>>;
    /** Selector labels shared by all model-server pods of this instance (both slots). */
    public readonly podSelector: Record<string, string>;

    constructor(name: string, args: ModelServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("triton-platform:modelService:ModelService", name, {}, opts);
        const s = args.settings;
        const child = { parent: this, provider: args.provider };
        const base = { name: "triton", instance: args.instance, component: "model-server" };
        this.podSelector = selectorLabels(base);
        this.servicePort = s.servicePort;
        this.activeSlot = args.activeSlot;
        const labels = (extra: Record<string, string> = {}, version?: string) => ({
            ...recommendedLabels({ ...base, version, extra: args.labels }),
            ...extra,
        });
        const metadata = (extra: Record<string, string> = {}, version?: string) => ({
            namespace: args.namespace,
            labels: labels(extra, version),
        });

        const adminKey = new k8s.core.v1.Secret(
            `${name}-admin-key`,
            { metadata: metadata(), type: "Opaque", stringData: { "admin-key": args.adminKey } },
            child,
        );
        const objectStore = args.objectStorageCredentials
            ? new k8s.core.v1.Secret(
                  `${name}-object-store`,
                  {
                      metadata: metadata(),
                      type: "Opaque",
                      stringData: {
                          AWS_ACCESS_KEY_ID: args.objectStorageCredentials.accessKeyId,
                          AWS_SECRET_ACCESS_KEY: args.objectStorageCredentials.secretAccessKey,
                      },
                  },
                  child,
              )
            : undefined;
        const serviceAccount = new k8s.core.v1.ServiceAccount(
            `${name}`,
            {
                metadata: { ...metadata(), annotations: args.objectStorage.serviceAccountAnnotations },
                automountServiceAccountToken: false,
            },
            child,
        );
        const configData = modelConfigData(args.models, {
            gpu: s.gpu.count > 0,
            forcePathStyle: args.objectStorage.forcePathStyle,
            region: args.objectStorage.region,
        });
        const modelConfig = new k8s.core.v1.ConfigMap(`${name}-model-config`, { metadata: metadata(), data: configData }, child);
        // Pods restart when the generated model config changes (a ConfigMap edit alone would not).
        const configChecksum = createHash("sha256").update(JSON.stringify(configData)).digest("hex");

        this.images = {};
        this.slots = {};
        const shared = { name, args, child, labels, metadata, configChecksum, serviceAccount, modelConfig, adminKey, objectStore };
        for (const slot of SLOT_NAMES) {
            const image = args.slots[slot].image;
            if (image) {
                this.images[slot] = image;
                this.slots[slot] = this.declareSlot(slot, image, shared);
            }
        }

        // The routing Service: the only object whose inputs depend on activeSlot.
        const routing = new k8s.core.v1.Service(
            `${name}`,
            {
                metadata: {
                    ...metadata(),
                    annotations: { "triton-platform/active-slot": args.activeSlot, "triton-platform/admin-key-header": ADMIN_KEY_HEADER },
                },
                spec: serviceSpec({ ...this.podSelector, [SLOT_LABEL]: args.activeSlot }, s),
            },
            child,
        );
        this.serviceName = routing.metadata.name;

        this.registerOutputs({
            serviceName: this.serviceName,
            servicePort: this.servicePort,
            activeSlot: this.activeSlot,
            images: this.images,
        });
    }

    /** One slot: its Deployment, HPA (unless scaled to zero), PDB and its own Service for smoke tests. */
    private declareSlot(slot: SlotName, image: string, c: SlotContext): SlotResources {
        const { name, args, child, labels, metadata } = c;
        const s = args.settings;
        const slotSelector = { ...this.podSelector, [SLOT_LABEL]: slot };
        const version = imageVersion(image);
        // The idle slot may be scaled to zero.
        const scaledToZero = s.idleSlot === "scaledToZero" && slot !== args.activeSlot;
        const deployment = new k8s.apps.v1.Deployment(
            `${name}-${slot}`,
            {
                metadata: metadata({ [SLOT_LABEL]: slot }, version),
                spec: slotDeploymentSpec({
                    podLabels: labels({ [SLOT_LABEL]: slot }, version),
                    configSha256: c.configChecksum,
                    keyRotationId: args.keyRotationId,
                    scaledToZero,
                    slot,
                    image,
                    settings: s,
                    modelNames: args.models.map((m) => m.name),
                    zones: args.zones,
                    selector: slotSelector,
                    serviceAccountName: c.serviceAccount.metadata.name,
                    configMapName: c.modelConfig.metadata.name,
                    adminKeySecretName: c.adminKey.metadata.name,
                    objectStoreSecretName: c.objectStore?.metadata.name,
                    objectStorage: args.objectStorage,
                    modelRepositoryUri: s.modelRepository.uri,
                }),
            },
            child,
        );
        // No HPA for a slot scaled to zero: autoscaling/v2 cannot hold zero replicas.
        const hpa = scaledToZero
            ? undefined
            : new k8s.autoscaling.v2.HorizontalPodAutoscaler(
                  `${name}-${slot}`,
                  { metadata: metadata({ [SLOT_LABEL]: slot }), spec: slotHpaSpec(s, deployment.metadata.name) },
                  child,
              );
        const pdb = new k8s.policy.v1.PodDisruptionBudget(
            `${name}-${slot}`,
            { metadata: metadata({ [SLOT_LABEL]: slot }), spec: { maxUnavailable: 1, selector: { matchLabels: slotSelector } } },
            child,
        );
        const service = new k8s.core.v1.Service(
            `${name}-${slot}`,
            {
                metadata: metadata({ [SLOT_LABEL]: slot }),
                spec: serviceSpec(slotSelector, s),
            },
            child,
        );
        return { deployment, hpa, pdb, service };
    }
}
