// Kubernetes shapes the policies share: type tokens, pod templates, containers, label selectors,
// namespaces. Everything reads plain JSON (policy props), never @pulumi/kubernetes classes: the
// tokens below are exactly the `__pulumiType` of @pulumi/kubernetes 4.x, which is what the engine
// sends, and the pack then needs no provider SDK of its own.
import { PolicyResource } from "@pulumi/policy";

export const T = {
    Deployment: "kubernetes:apps/v1:Deployment",
    StatefulSet: "kubernetes:apps/v1:StatefulSet",
    DaemonSet: "kubernetes:apps/v1:DaemonSet",
    ReplicaSet: "kubernetes:apps/v1:ReplicaSet",
    Job: "kubernetes:batch/v1:Job",
    CronJob: "kubernetes:batch/v1:CronJob",
    Pod: "kubernetes:core/v1:Pod",
    Service: "kubernetes:core/v1:Service",
    ConfigMap: "kubernetes:core/v1:ConfigMap",
    Secret: "kubernetes:core/v1:Secret",
    Namespace: "kubernetes:core/v1:Namespace",
    HPA: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    PDB: "kubernetes:policy/v1:PodDisruptionBudget",
    NetworkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    Ingress: "kubernetes:networking.k8s.io/v1:Ingress",
} as const;

/** Every HPA API version @pulumi/kubernetes knows (v1 and v2 beta ones also scale workloads). */
export const HPA_TYPES = [
    T.HPA,
    "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
    "kubernetes:autoscaling/v2beta1:HorizontalPodAutoscaler",
    "kubernetes:autoscaling/v2beta2:HorizontalPodAutoscaler",
];

/** Types whose objects carry a pod template (or are pods). */
export const WORKLOAD_TYPES = [T.Deployment, T.StatefulSet, T.DaemonSet, T.ReplicaSet, T.Job, T.CronJob, T.Pod] as const;
/** Long-running workloads: probes and update strategies apply. */
export const SERVING_TYPES = [T.Deployment, T.StatefulSet, T.DaemonSet, T.Pod] as const;
/** Workloads that run N replicas of one pod template (spread, PDBs, HPAs apply). */
export const REPLICATED_TYPES = [T.Deployment, T.StatefulSet] as const;

/** Kinds that live outside namespaces. */
const CLUSTER_SCOPED_KINDS = new Set([
    "Namespace",
    "Node",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "APIService",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "FlowSchema",
    "PriorityLevelConfiguration",
    "CertificateSigningRequest",
    "ComponentStatus",
]);

/** Component label of the model service's pods (components/model-service). */
export const MODEL_SERVER_COMPONENT = "model-server";
/** Label holding the blue-green slot of a model-service pod (R16). */
export const SLOT_LABEL = "triton-platform/slot";
export const COMPONENT_LABEL = "app.kubernetes.io/component";

/** A Kubernetes object type token: `kubernetes:<group/version>:<Kind>`, not a provider or component. */
export function isKubernetesObject(type: string): boolean {
    return type.startsWith("kubernetes:") && type.split(":").length === 3 && !type.startsWith("kubernetes:helm.sh/") && !type.startsWith("kubernetes:yaml/") && !type.startsWith("kubernetes:kustomize/");
}

/** `Deployment` of `kubernetes:apps/v1:Deployment`. */
export function kindOf(type: string): string {
    return type.split(":")[2] ?? "";
}

/** `apps/v1` of `kubernetes:apps/v1:Deployment` (`core/v1` is reported as `v1`). */
export function apiVersionOf(type: string): string {
    const gv = type.split(":")[1] ?? "";
    return gv.startsWith("core/") ? gv.slice("core/".length) : gv;
}

export function isNamespacedKind(kind: string): boolean {
    return !CLUSTER_SCOPED_KINDS.has(kind);
}

/** The pod template (metadata + spec) of a workload's props, or undefined for other types. */
export function podTemplate(type: string, props: Record<string, any>): { metadata?: any; spec?: any } | undefined {
    switch (type) {
        case T.Pod:
            return { metadata: props.metadata, spec: props.spec };
        case T.CronJob:
            return props.spec?.jobTemplate?.spec?.template;
        default:
            return (WORKLOAD_TYPES as readonly string[]).includes(type) ? props.spec?.template : undefined;
    }
}

export interface ContainerRef {
    /** The container spec (proxied props). */
    c: any;
    /** `container "triton"` / `init container "sync"`, for messages. */
    where: string;
    init: boolean;
}

/** Containers and init containers of a pod spec. */
export function containersOf(podSpec: any): ContainerRef[] {
    const out: ContainerRef[] = [];
    for (const c of podSpec?.initContainers ?? []) {
        out.push({ c, where: `init container "${c?.name ?? "?"}"`, init: true });
    }
    for (const c of podSpec?.containers ?? []) {
        out.push({ c, where: `container "${c?.name ?? "?"}"`, init: false });
    }
    return out;
}

/** Pod labels of a workload's template. */
export function templateLabels(type: string, props: Record<string, any>): Record<string, string> {
    return { ...(podTemplate(type, props)?.metadata?.labels ?? {}) };
}

export interface LabelSelector {
    matchLabels?: Record<string, string>;
    matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/**
 * Whether a LabelSelector matches labels. `undefined`/`null` matches nothing; `{}` matches
 * everything (the NetworkPolicy and policy/v1 PodDisruptionBudget semantics).
 */
export function selectorMatches(selector: LabelSelector | undefined | null, labels: Record<string, string>): boolean {
    if (selector === undefined || selector === null) {
        return false;
    }
    for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
        if (labels[k] !== v) {
            return false;
        }
    }
    for (const e of selector.matchExpressions ?? []) {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        const values = e.values ?? [];
        switch (e.operator) {
            case "In":
                if (!has || !values.includes(labels[e.key])) return false;
                break;
            case "NotIn":
                if (has && values.includes(labels[e.key])) return false;
                break;
            case "Exists":
                if (!has) return false;
                break;
            case "DoesNotExist":
                if (has) return false;
                break;
            default:
                return false;
        }
    }
    return true;
}

/** Whether a Service-style selector (a plain map) matches labels; an empty map matches nothing. */
export function mapSelectorMatches(selector: Record<string, string> | undefined | null, labels: Record<string, string>): boolean {
    const entries = Object.entries(selector ?? {});
    return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** Namespace of an object's props; unset is reported as "" (the provider's default namespace). */
export function namespaceOf(props: Record<string, any>): string {
    return props.metadata?.namespace ?? "";
}

/** A workload of the stack, with what the stack policies compare. */
export interface Workload {
    r: PolicyResource;
    kind: string;
    namespace: string;
    /** metadata.name (auto-named objects have it in outputs). */
    objectName: string | undefined;
    podLabels: Record<string, string>;
    /**
     * spec.replicas as the program declared it; undefined when unset. Stack policies see outputs, and a
     * Kubernetes object's outputs are the live object (where the API server always fills spec.replicas)
     * plus the declared inputs under `__inputs` (pulumi-kubernetes checkpointObject): read those first.
     */
    replicas: number | undefined;
}

/** spec.replicas as declared: from `__inputs` when the props are a live object's outputs. */
export function declaredReplicas(props: Record<string, any>): number | undefined {
    const declared = props.__inputs !== undefined ? props.__inputs?.spec?.replicas : props.spec?.replicas;
    return typeof declared === "number" ? declared : undefined;
}

/** Reads a workload's comparable facts; unknown values surface as UnknownValueError. */
export function workloadOf(r: PolicyResource): Workload {
    const props = r.props;
    return {
        r,
        kind: kindOf(r.type),
        namespace: namespaceOf(props),
        objectName: props.metadata?.name,
        podLabels: templateLabels(r.type, props),
        replicas: declaredReplicas(props),
    };
}

/** HPA facts: its target and bounds. */
export interface Autoscaler {
    r: PolicyResource;
    namespace: string;
    targetKind: string | undefined;
    targetName: string | undefined;
    minReplicas: number;
    maxReplicas: number | undefined;
}

export function autoscalerOf(r: PolicyResource): Autoscaler {
    const spec = r.props.spec ?? {};
    return {
        r,
        namespace: namespaceOf(r.props),
        targetKind: spec.scaleTargetRef?.kind,
        targetName: spec.scaleTargetRef?.name,
        // Kubernetes defaults minReplicas to 1.
        minReplicas: typeof spec.minReplicas === "number" ? spec.minReplicas : 1,
        maxReplicas: typeof spec.maxReplicas === "number" ? spec.maxReplicas : undefined,
    };
}

/** Whether an HPA scales this workload. */
export function scales(hpa: Autoscaler, w: Workload): boolean {
    return hpa.namespace === w.namespace && hpa.targetKind === w.kind && hpa.targetName !== undefined && hpa.targetName === w.objectName;
}

/** Resolves a PDB integer-or-percent against a replica count, rounding up as the disruption controller does. */
export function scaled(value: number | string, replicas: number): number | undefined {
    if (typeof value === "number") {
        return value;
    }
    const m = /^(\d+)%$/.exec(value.trim());
    if (m) {
        return Math.ceil((Number(m[1]) * replicas) / 100);
    }
    return /^\d+$/.test(value.trim()) ? Number(value) : undefined;
}

/** Whether a workload belongs to the model service (R13, R16). */
export function isModelServer(labels: Record<string, string>): boolean {
    return labels[COMPONENT_LABEL] === MODEL_SERVER_COMPONENT;
}
