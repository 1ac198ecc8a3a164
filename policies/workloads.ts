// Workload policies: images, resources, probes, replicas, autoscaling, disruption budgets, spread,
// labels, namespaces, update strategy (R13, R16; kube-score, Polaris, Kyverno best practices).
import { MUTABLE_TAGS, isMutableTag, parseImageRef } from "../kit/image-ref";
import {
    HPA_TYPES,
    REPLICATED_TYPES,
    SERVING_TYPES,
    SLOT_LABEL,
    T,
    WORKLOAD_TYPES,
    containersOf,
    isKubernetesObject,
    isNamespacedKind,
    kindOf,
    podTemplate,
    scaled,
    scales,
    selectorMatches,
} from "./lib/k8s";
import { PackPolicy, ResourceContext, ident, resourcePolicy, stackPolicy } from "./lib/policy";
import { hpaFor, minimumScale, stackView } from "./lib/stack-view";

const workloadTypes = WORKLOAD_TYPES as readonly string[];

function podSpec(ctx: ResourceContext<unknown>): any {
    return podTemplate(ctx.type, ctx.props)?.spec;
}

/** Sorted-key JSON, so two probes compare equal regardless of key order. */
function canonical(v: unknown): string {
    if (Array.isArray(v)) {
        return `[${v.map(canonical).join(",")}]`;
    }
    if (v !== null && typeof v === "object") {
        return `{${Object.keys(v)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
            .join(",")}}`;
    }
    return JSON.stringify(v);
}

export const imageTagPinned = resourcePolicy<{ mutableTags: string[]; requireDigest: boolean }>({
    name: "image-tag-pinned",
    description: "Every container image is pinned to a release tag or a sha256 digest, never a moving tag (latest, stable, ...) or untagged; with requireDigest, to a digest.",
    area: "workloads",
    source: "R2, R16; kube-score container-image-tag, Kyverno disallow-latest-tag",
    details:
        "Parses each container and init container `image` as an OCI reference; it must carry a digest, or a tag that is not in `mutableTags` (compared case-insensitively: `Latest` moves as `latest` does) and holds a version number (a digit: `stable-alpine` or `bookworm` name no release). With `requireDigest` (set it for prod once its images are pinned by digest), every image needs a sha256 digest: a tag can be moved to other content, a digest cannot.",
    enforcementLevel: "mandatory",
    remediation: "Set the image to a release tag or digest, e.g. nvcr.io/nvidia/tritonserver:23.12-py3 or ...@sha256:<digest>.",
    config: {
        mutableTags: {
            type: "array",
            items: { type: "string" },
            description: "Tags that name a moving target (compared case-insensitively); a tag without any digit counts as well.",
            default: [...MUTABLE_TAGS],
        },
        requireDigest: { type: "boolean", description: "Require a sha256 digest on every image (prod).", default: false },
    },
    types: workloadTypes,
    validate: (ctx) => {
        for (const { c, where } of containersOf(podSpec(ctx))) {
            const image = c.image;
            const ref = typeof image === "string" ? parseImageRef(image) : undefined;
            if (!ref) {
                ctx.report(`${where} has no valid image reference`, "set `image` to registry/repository:tag");
            } else if (!ref.tag && !ref.digest) {
                ctx.report(`${where} uses an unpinned image (no tag)`, "pin a release tag or a sha256 digest so previews show what runs and rollback (R16) works");
            } else if (!ref.digest && ref.tag && isMutableTag(ref.tag, ctx.config.mutableTags)) {
                ctx.report(`${where} uses an unpinned image (the mutable tag ${ident(ref.tag)})`, "pin a release tag or a sha256 digest so previews show what runs and rollback (R16) works");
            } else if (ctx.config.requireDigest && !ref.digest) {
                ctx.report(`${where} uses an image without a sha256 digest, and requireDigest is set`, "pin the image by digest (repository:tag@sha256:<digest> or repository@sha256:<digest>)");
            }
        }
    },
});

export const imageRegistryAllowed = resourcePolicy<{ allowedRegistries: string[] }>({
    name: "image-registry-allowed",
    description: "Every container image comes from a registry on the allow-list.",
    area: "workloads",
    source: "Kyverno restrict-image-registries, Polaris",
    details: "Takes the registry host of each container and init container image (`docker.io` when none is named) and compares it with `allowedRegistries`.",
    enforcementLevel: "mandatory",
    remediation: "Pull the image from an allowed registry, or add the registry to the policy's allowedRegistries after review.",
    config: {
        allowedRegistries: {
            type: "array",
            items: { type: "string" },
            description:
                "Registry hosts images may come from (docker.io covers official and user images on Docker Hub; `localhost` names images this repository builds and operators load into the nodes' image store by digest, pulled from no registry).",
            default: ["nvcr.io", "docker.io", "localhost"],
        },
    },
    types: workloadTypes,
    validate: (ctx) => {
        const allowed = ctx.config.allowedRegistries.map((r) => r.toLowerCase());
        for (const { c, where } of containersOf(podSpec(ctx))) {
            const ref = typeof c.image === "string" ? parseImageRef(c.image) : undefined;
            if (!ref) {
                continue; // image-tag-pinned reports unparseable references
            }
            const registry = ref.registry.toLowerCase().replace(/^(index|registry-1)\.docker\.io$/, "docker.io");
            if (!allowed.includes(registry)) {
                ctx.report(`${where} pulls from a registry outside the allow-list (${allowed.join(", ")})`, "mirror the image into an allowed registry or extend allowedRegistries in the policy config");
            }
        }
    },
});

export const containerRequests = resourcePolicy({
    name: "container-resource-requests",
    description: "Every container requests CPU and memory, so the scheduler places pods on nodes that can run them.",
    area: "workloads",
    source: "kube-score container-resources, Polaris cpuRequestsMissing/memoryRequestsMissing",
    details: "Each container and init container must set `resources.requests.cpu` and `resources.requests.memory`.",
    enforcementLevel: "mandatory",
    remediation: "Set resources.requests.cpu and resources.requests.memory on every container.",
    types: workloadTypes,
    validate: (ctx) => {
        for (const { c, where } of containersOf(podSpec(ctx))) {
            const missing = ["cpu", "memory"].filter((k) => c.resources?.requests?.[k] === undefined);
            if (missing.length > 0) {
                ctx.report(`${where} has no ${missing.join(" and ")} request`, `set resources.requests.${missing.join(" and resources.requests.")}`);
            }
        }
    },
});

export const containerMemoryLimit = resourcePolicy({
    name: "container-memory-limit",
    description: "Every container has a memory limit, so one pod cannot exhaust a node's memory.",
    area: "workloads",
    source: "kube-score container-resources, Polaris memoryLimitsMissing",
    details: "Each container and init container must set `resources.limits.memory`.",
    enforcementLevel: "mandatory",
    remediation: "Set resources.limits.memory (for Triton at least the model's working set plus /dev/shm).",
    types: workloadTypes,
    validate: (ctx) => {
        for (const { c, where } of containersOf(podSpec(ctx))) {
            if (c.resources?.limits?.memory === undefined) {
                ctx.report(`${where} has no memory limit`, "set resources.limits.memory");
            }
        }
    },
});

export const gpuLimit = resourcePolicy<{ gpuResources: string[] }>({
    name: "gpu-limit-when-requested",
    description: "A container that requests GPUs sets an equal GPU limit, as Kubernetes requires for extended resources.",
    area: "workloads",
    source: "Kubernetes extended resources; NVIDIA device plugin",
    details: "For each GPU resource name in `gpuResources`, a container with a request must have a limit of the same quantity.",
    enforcementLevel: "mandatory",
    remediation: "Set resources.limits.<gpu resource> equal to the request (or set only the limit).",
    config: {
        gpuResources: { type: "array", items: { type: "string" }, description: "Extended resource names that denote GPUs.", default: ["nvidia.com/gpu"] },
    },
    types: workloadTypes,
    validate: (ctx) => {
        for (const { c, where } of containersOf(podSpec(ctx))) {
            for (const gpu of ctx.config.gpuResources) {
                const req = c.resources?.requests?.[gpu];
                const lim = c.resources?.limits?.[gpu];
                if (req !== undefined && lim === undefined) {
                    ctx.report(`${where} requests ${gpu} without a limit`, `set resources.limits["${gpu}"] to the requested count`);
                } else if (req !== undefined && String(req) !== String(lim)) {
                    ctx.report(`${where} requests a different ${gpu} count than its limit`, `make resources.requests["${gpu}"] equal resources.limits["${gpu}"]`);
                }
            }
        }
    },
});

export const emptyDirSizeLimit = resourcePolicy({
    name: "emptydir-size-limit",
    description: "Every emptyDir volume has a sizeLimit, so scratch space and /dev/shm cannot fill a node.",
    area: "workloads",
    source: "Triton facts (sized /dev/shm); Polaris",
    details: "Each `spec.volumes[].emptyDir` of a pod template must set `sizeLimit` (for medium Memory it counts against the memory limit).",
    enforcementLevel: "mandatory",
    remediation: "Set emptyDir.sizeLimit, e.g. 1Gi for Triton's /dev/shm.",
    types: workloadTypes,
    validate: (ctx) => {
        for (const v of podSpec(ctx)?.volumes ?? []) {
            if (v.emptyDir !== undefined && v.emptyDir?.sizeLimit === undefined) {
                ctx.report(`emptyDir volume ${ident(v.name)} has no sizeLimit`, "set emptyDir.sizeLimit");
            }
        }
    },
});

function probePolicy(kind: "readiness" | "liveness" | "startup", description: string, why: string) {
    const field = `${kind}Probe`;
    return resourcePolicy({
        name: `${kind}-probe-present`,
        description,
        area: "workloads",
        source: kind === "liveness" ? "R13; kube-score, Polaris" : kind === "startup" ? "Triton facts (slow model load)" : "kube-score, Polaris",
        details: `Each container (not init containers) of Deployments, StatefulSets, DaemonSets and Pods must define \`${field}\`.`,
        enforcementLevel: "mandatory",
        remediation: `Add a ${field} (${why}).`,
        types: SERVING_TYPES as readonly string[],
        validate: (ctx) => {
            for (const { c, where, init } of containersOf(podSpec(ctx))) {
                if (!init && c[field] === undefined) {
                    ctx.report(`${where} has no ${field}`, `add a ${field} (${why})`);
                }
            }
        },
    });
}

export const readinessProbe = probePolicy(
    "readiness",
    "Every serving container has a readiness probe, so traffic only reaches pods that can answer.",
    "for Triton: HTTP GET /v2/health/ready",
);
export const livenessProbe = probePolicy(
    "liveness",
    "Every serving container has a liveness probe, so a hung process is restarted (R13).",
    "for Triton: HTTP GET /v2/health/live, initial delay 30 s, period 10 s",
);
export const startupProbe = probePolicy(
    "startup",
    "Every serving container has a startup probe, so liveness does not kill pods that are still loading.",
    "for Triton: /v2/health/ready with periodSeconds x failureThreshold above the slowest model load",
);

export const probesDistinct = resourcePolicy({
    name: "probes-not-identical",
    description: "A container's liveness and readiness probes differ, so a slow dependency removes a pod from traffic instead of restarting it.",
    area: "workloads",
    source: "kube-score pod-probes",
    details: "Compares each container's `livenessProbe` and `readinessProbe` (handler and timings, key order ignored); identical probes are a violation.",
    enforcementLevel: "mandatory",
    remediation: "Probe liveness on a cheap endpoint (/v2/health/live) and readiness on the serving one (/v2/health/ready).",
    types: SERVING_TYPES as readonly string[],
    validate: (ctx) => {
        for (const { c, where, init } of containersOf(podSpec(ctx))) {
            if (!init && c.livenessProbe !== undefined && c.readinessProbe !== undefined && canonical(c.livenessProbe) === canonical(c.readinessProbe)) {
                ctx.report(`${where} has identical liveness and readiness probes`, "point liveness at /v2/health/live and readiness at /v2/health/ready, or give them different thresholds");
            }
        }
    },
});

export const workloadMinReplicas = stackPolicy<{ minReplicas: number }>({
    name: "workload-min-replicas",
    description: "A Deployment or StatefulSet that no HPA scales runs at least the minimum number of replicas.",
    area: "workloads",
    source: "R13; Polaris deploymentMissingReplicas, kube-score",
    details:
        "For each Deployment/StatefulSet not targeted by an HPA, `spec.replicas` (1 when unset) must be >= `minReplicas`. A blue-green slot (label `triton-platform/slot`) explicitly scaled to 0 is the idle slot and is allowed.",
    enforcementLevel: "mandatory",
    remediation: "Set spec.replicas to at least minReplicas, or scale the workload with an HPA.",
    config: { minReplicas: { type: "integer", minimum: 1, description: "Fewest replicas of a workload without an HPA.", default: 2 } },
    validate: (ctx) => {
        const view = stackView(ctx);
        if (view.incomplete.has("hpa")) {
            return; // an unknown HPA may scale any workload; the rethrown unknown marks the policy not run
        }
        for (const w of view.workloads) {
            if (!(REPLICATED_TYPES as readonly string[]).includes(w.r.type) || hpaFor(view, w)) {
                continue;
            }
            if (w.replicas === 0 && w.podLabels[SLOT_LABEL] !== undefined) {
                continue; // idle blue-green slot scaled to zero (R16)
            }
            const replicas = w.replicas ?? 1;
            if (replicas < ctx.config.minReplicas) {
                ctx.report(w.r, `runs ${replicas} replica(s) without an HPA, below the minimum of ${ctx.config.minReplicas}`, `set spec.replicas to at least ${ctx.config.minReplicas} or add a HorizontalPodAutoscaler`);
            }
        }
    },
});

export const hpaTargetReplicasUnset = stackPolicy({
    name: "hpa-target-replicas-unset",
    description: "A Deployment or StatefulSet scaled by an HPA leaves spec.replicas unset, so a deployment does not reset the autoscaler's choice.",
    area: "workloads",
    source: "Kubernetes HPA docs (migrating Deployments to autoscaling)",
    details: "For each workload an HPA targets (same namespace, kind and metadata.name), the declared `spec.replicas` must be absent (read from `__inputs` of a live object's outputs, where the API server always fills the field).",
    enforcementLevel: "mandatory",
    remediation: "Remove spec.replicas from the workload; the HPA's minReplicas sets its floor.",
    validate: (ctx) => {
        const view = stackView(ctx);
        for (const w of view.workloads) {
            if (w.replicas !== undefined && hpaFor(view, w)) {
                ctx.report(w.r, "sets spec.replicas although an HPA scales it (every update would reset the replica count)", "leave spec.replicas unset");
            }
        }
    },
});

export const hpaTargetExists = stackPolicy({
    name: "hpa-target-exists",
    description: "Every HorizontalPodAutoscaler targets a workload declared in the same stack and namespace.",
    area: "workloads",
    source: "kube-score horizontalpodautoscaler-has-target",
    details: "Resolves each HPA's `scaleTargetRef` (kind, name) against the Deployments/StatefulSets/ReplicaSets of the stack in the HPA's namespace.",
    enforcementLevel: "mandatory",
    remediation: "Point scaleTargetRef at the workload's kind and metadata.name (use the workload's output, not a literal).",
    validate: (ctx) => {
        const view = stackView(ctx);
        if (view.incomplete.has("workload")) {
            return;
        }
        for (const h of view.hpas) {
            if (!view.workloads.some((w) => scales(h, w))) {
                ctx.report(h.r, "scaleTargetRef matches no workload of the stack in its namespace", "set scaleTargetRef.kind and .name from the target Deployment's outputs");
            }
        }
    },
});

export const hpaMinReplicasZones = resourcePolicy<{ zoneCount: number }>({
    name: "hpa-min-replicas-zones",
    description: "An HPA never scales below one replica per availability zone (R13: at least 3 instances across zones).",
    area: "workloads",
    source: "R13",
    details: "`spec.minReplicas` (1 when unset) must be >= `zoneCount`.",
    enforcementLevel: "mandatory",
    remediation: "Raise minReplicas to the zone count (modelService.hpa.minReplicas in the stack config).",
    config: { zoneCount: { type: "integer", minimum: 1, description: "Availability zones the model service spreads across.", default: 3 } },
    types: HPA_TYPES,
    validate: (ctx) => {
        const min = typeof ctx.props.spec?.minReplicas === "number" ? ctx.props.spec.minReplicas : 1;
        if (min < ctx.config.zoneCount) {
            ctx.report(`minReplicas ${min} is below the zone count ${ctx.config.zoneCount}`, `set spec.minReplicas to at least ${ctx.config.zoneCount}`);
        }
    },
});

export const hpaMaxAboveMin = resourcePolicy({
    name: "hpa-max-above-min",
    description: "An HPA's maxReplicas is above its minReplicas, so it can actually scale.",
    area: "workloads",
    source: "R12",
    details: "`spec.maxReplicas` must be greater than `spec.minReplicas` (1 when unset).",
    enforcementLevel: "mandatory",
    remediation: "Raise maxReplicas above minReplicas (modelService.hpa.maxReplicas).",
    types: HPA_TYPES,
    validate: (ctx) => {
        const min = typeof ctx.props.spec?.minReplicas === "number" ? ctx.props.spec.minReplicas : 1;
        const max = ctx.props.spec?.maxReplicas;
        if (typeof max !== "number" || max <= min) {
            ctx.report("maxReplicas is not above minReplicas, so the autoscaler can never scale out", "set spec.maxReplicas above spec.minReplicas");
        }
    },
});

export const pdbSelectsWorkload = stackPolicy({
    name: "pdb-selects-every-workload",
    description: "Every Deployment and StatefulSet that runs pods is selected by a PodDisruptionBudget.",
    area: "workloads",
    source: "R13; kube-score deployment-has-poddisruptionbudget",
    details: "For each Deployment/StatefulSet (except an idle slot with 0 replicas), some PDB in its namespace must have a selector matching the pod template labels.",
    enforcementLevel: "mandatory",
    remediation: "Add a PodDisruptionBudget whose selector matches the workload's pod labels.",
    validate: (ctx) => {
        const view = stackView(ctx);
        if (view.incomplete.has("pdb")) {
            return;
        }
        for (const w of view.workloads) {
            if (!(REPLICATED_TYPES as readonly string[]).includes(w.r.type) || w.replicas === 0) {
                continue;
            }
            if (!view.pdbs.some((p) => p.namespace === w.namespace && selectorMatches(p.selector, w.podLabels))) {
                ctx.report(w.r, "no PodDisruptionBudget selects its pods, so a node drain may evict all of them at once", "add a PodDisruptionBudget with a selector on the pod labels");
            }
        }
    },
});

export const pdbHasPolicy = resourcePolicy({
    name: "pdb-has-policy",
    description: "A PodDisruptionBudget sets exactly one of minAvailable and maxUnavailable.",
    area: "workloads",
    source: "Kubernetes API (mutually exclusive fields)",
    details: "`spec.minAvailable` xor `spec.maxUnavailable` must be set.",
    enforcementLevel: "mandatory",
    remediation: "Set either spec.minAvailable or spec.maxUnavailable (prefer maxUnavailable: 1).",
    types: [T.PDB],
    validate: (ctx) => {
        const hasMin = ctx.props.spec?.minAvailable !== undefined;
        const hasMax = ctx.props.spec?.maxUnavailable !== undefined;
        if (hasMin === hasMax) {
            ctx.report(hasMin ? "sets both minAvailable and maxUnavailable" : "sets neither minAvailable nor maxUnavailable", "set exactly one of spec.minAvailable and spec.maxUnavailable");
        }
    },
});

export const pdbAllowsDisruption = stackPolicy({
    name: "pdb-allows-disruption",
    description: "A PodDisruptionBudget allows at least one voluntary disruption at the workload's minimum scale, so node drains can proceed.",
    area: "workloads",
    source: "kube-score poddisruptionbudget, Kubernetes disruption controller",
    details:
        "maxUnavailable 0 / 0% and minAvailable 100% are violations; an integer or percentage minAvailable must stay below the minimum scale (HPA minReplicas, else spec.replicas) of the workloads it selects. Percentages round up, as the disruption controller does.",
    enforcementLevel: "mandatory",
    remediation: "Use maxUnavailable: 1, or a minAvailable below the minimum replica count.",
    validate: (ctx) => {
        const view = stackView(ctx);
        for (const p of view.pdbs) {
            const selected = view.workloads.filter((w) => w.namespace === p.namespace && selectorMatches(p.selector, w.podLabels));
            const floor = selected.reduce((n, w) => n + minimumScale(view, w), 0);
            if (p.maxUnavailable !== undefined) {
                const allowed = scaled(p.maxUnavailable, Math.max(floor, 1));
                if (allowed === 0) {
                    ctx.report(p.r, "maxUnavailable allows no disruption, which blocks every node drain", "set spec.maxUnavailable to 1");
                }
            } else if (p.minAvailable !== undefined) {
                if (typeof p.minAvailable === "string" && p.minAvailable.trim() === "100%") {
                    ctx.report(p.r, "minAvailable 100% allows no disruption, which blocks every node drain", "use spec.maxUnavailable: 1 instead");
                } else if (selected.length > 0 && !view.incomplete.has("hpa")) {
                    const required = scaled(p.minAvailable, floor);
                    if (required !== undefined && required >= floor) {
                        ctx.report(p.r, `minAvailable leaves no pod to evict at the minimum scale of ${floor} replica(s)`, `lower minAvailable below ${floor} or use spec.maxUnavailable: 1`);
                    }
                }
            }
        }
    },
});

export const pdbWithinHpaMin = stackPolicy({
    name: "pdb-min-available-within-hpa-min",
    description: "A PodDisruptionBudget's minAvailable does not exceed the HPA minimum of the workloads it protects.",
    area: "workloads",
    source: "R13",
    details: "For a PDB with minAvailable selecting HPA-scaled workloads, minAvailable (percentages scaled to the sum of HPA minReplicas) must be <= that sum.",
    enforcementLevel: "mandatory",
    remediation: "Lower minAvailable to at most the HPA's minReplicas, or raise minReplicas.",
    validate: (ctx) => {
        const view = stackView(ctx);
        for (const p of view.pdbs) {
            if (p.minAvailable === undefined) {
                continue;
            }
            const hpaMin = view.workloads
                .filter((w) => w.namespace === p.namespace && selectorMatches(p.selector, w.podLabels))
                .map((w) => hpaFor(view, w)?.minReplicas)
                .filter((n): n is number => n !== undefined);
            if (hpaMin.length === 0) {
                continue;
            }
            const sum = hpaMin.reduce((a, b) => a + b, 0);
            const required = scaled(p.minAvailable, sum);
            if (required !== undefined && required > sum) {
                ctx.report(p.r, `minAvailable exceeds the HPA minimum of ${sum} replica(s) of the workloads it selects`, `set minAvailable to at most ${sum}`);
            }
        }
    },
});

function spreadTerms(spec: any): { key: string; selector: any }[] {
    const out: { key: string; selector: any }[] = [];
    for (const c of spec?.topologySpreadConstraints ?? []) {
        out.push({ key: c.topologyKey, selector: c.labelSelector });
    }
    return out;
}

function antiAffinityTerms(spec: any): { key: string; selector: any }[] {
    const anti = spec?.affinity?.podAntiAffinity;
    const out: { key: string; selector: any }[] = [];
    for (const t of anti?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
        out.push({ key: t.topologyKey, selector: t.labelSelector });
    }
    for (const t of anti?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
        out.push({ key: t.podAffinityTerm?.topologyKey, selector: t.podAffinityTerm?.labelSelector });
    }
    return out;
}

export const zoneTopologySpread = resourcePolicy({
    name: "zone-topology-spread",
    description: "Replicated workloads spread their pods across availability zones (R13).",
    area: "workloads",
    source: "R13; Kyverno require-pod-topology-spread",
    details: "A Deployment/StatefulSet pod template needs a topologySpreadConstraint on `topology.kubernetes.io/zone` whose labelSelector matches the template's own labels.",
    enforcementLevel: "mandatory",
    remediation: "Add topologySpreadConstraints: {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: <pod labels>}.",
    types: REPLICATED_TYPES as readonly string[],
    validate: (ctx) => {
        const tpl = podTemplate(ctx.type, ctx.props);
        const labels = { ...(tpl?.metadata?.labels ?? {}) };
        const terms = spreadTerms(tpl?.spec).filter((t) => t.key === "topology.kubernetes.io/zone");
        if (terms.length === 0) {
            ctx.report("has no topology spread constraint on topology.kubernetes.io/zone", "add a zone topologySpreadConstraint selecting the pod's own labels");
        } else if (!terms.some((t) => selectorMatches(t.selector, labels))) {
            ctx.report("has a zone spread constraint whose labelSelector does not match its own pods", "set the constraint's labelSelector to the pod template labels");
        }
    },
});

export const hostnameSpread = resourcePolicy({
    name: "hostname-spread",
    description: "Replicated workloads spread their pods across nodes, by topology spread or pod anti-affinity.",
    area: "workloads",
    source: "kube-score pod-anti-affinity (deployment-pod-anti-affinity)",
    details: "A Deployment/StatefulSet pod template needs a topologySpreadConstraint or podAntiAffinity term on `kubernetes.io/hostname` whose selector matches its own labels.",
    enforcementLevel: "mandatory",
    remediation: "Add a topologySpreadConstraint on kubernetes.io/hostname (or a preferred podAntiAffinity) selecting the pod's own labels.",
    types: REPLICATED_TYPES as readonly string[],
    validate: (ctx) => {
        const tpl = podTemplate(ctx.type, ctx.props);
        const labels = { ...(tpl?.metadata?.labels ?? {}) };
        const terms = [...spreadTerms(tpl?.spec), ...antiAffinityTerms(tpl?.spec)].filter((t) => t.key === "kubernetes.io/hostname");
        if (!terms.some((t) => selectorMatches(t.selector, labels))) {
            ctx.report("does not spread its pods across nodes (no kubernetes.io/hostname spread or anti-affinity selecting its own pods)", "add a kubernetes.io/hostname topologySpreadConstraint or podAntiAffinity on the pod labels");
        }
    },
});

export const recommendedLabels = resourcePolicy<{ requiredLabels: string[] }>({
    name: "recommended-labels",
    description: "Every Kubernetes object carries the recommended app.kubernetes.io labels.",
    area: "workloads",
    source: "Kubernetes recommended labels; kit/labels.ts",
    details: "`metadata.labels` of every Kubernetes object (and the pod template of workloads) must contain each key of `requiredLabels`.",
    enforcementLevel: "advisory",
    remediation: "Build labels with recommendedLabels() from kit/labels.ts.",
    config: {
        requiredLabels: {
            type: "array",
            items: { type: "string" },
            description: "Label keys every object must carry.",
            default: [
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/component",
                "app.kubernetes.io/part-of",
                "app.kubernetes.io/managed-by",
            ],
        },
    },
    types: isKubernetesObject,
    validate: (ctx) => {
        const missing = ctx.config.requiredLabels.filter((k) => ctx.props.metadata?.labels?.[k] === undefined);
        if (missing.length > 0) {
            ctx.report(`lacks the labels ${missing.join(", ")}`, "set metadata.labels with recommendedLabels()");
        }
        const tpl = podTemplate(ctx.type, ctx.props);
        if (tpl && ctx.type !== T.Pod) {
            const tplMissing = ctx.config.requiredLabels.filter((k) => tpl.metadata?.labels?.[k] === undefined);
            if (tplMissing.length > 0) {
                ctx.report(`pod template lacks the labels ${tplMissing.join(", ")}`, "set spec.template.metadata.labels with recommendedLabels()");
            }
        }
    },
});

export const noBarePods = resourcePolicy({
    name: "no-bare-pods",
    description: "Pods are created by controllers (Deployment, StatefulSet, DaemonSet, Job), never declared bare.",
    area: "workloads",
    source: "Kubernetes best practices (naked pods), Polaris",
    details: "Any `kubernetes:core/v1:Pod` resource is a violation: a bare pod is not rescheduled when its node fails.",
    enforcementLevel: "mandatory",
    remediation: "Declare a Deployment (or a Job for run-to-completion work) instead.",
    types: [T.Pod],
    validate: (ctx) => {
        ctx.report("is a bare Pod, which nothing reschedules when its node fails", "wrap it in a Deployment, StatefulSet, DaemonSet or Job");
    },
});

export const noDefaultNamespace = resourcePolicy({
    name: "no-default-namespace",
    description: "Namespaced objects name their namespace explicitly and never use default.",
    area: "workloads",
    source: "Kyverno disallow-default-namespace, Polaris",
    details:
        "For every namespaced Kubernetes object (all kinds except the cluster-scoped ones and kinds starting with Cluster), `metadata.namespace` must be set and not `default`. An unset namespace falls back to the provider's or kubeconfig's, which has no Pod Security labels of ours.",
    enforcementLevel: "mandatory",
    remediation: "Set metadata.namespace to the stack's namespace (namespace.metadata.name).",
    types: isKubernetesObject,
    validate: (ctx) => {
        const kind = kindOf(ctx.type);
        if (!isNamespacedKind(kind) || kind.startsWith("Cluster")) {
            ctx.args.notApplicable("cluster-scoped kind");
        }
        const ns = ctx.props.metadata?.namespace;
        if (ns === undefined || ns === "") {
            ctx.report("does not set metadata.namespace (it would land in the provider's default namespace)", "set metadata.namespace to the stack's namespace");
        } else if (ns === "default") {
            ctx.report("is in the default namespace", "move it to the stack's namespace");
        }
    },
});

export const rollingUpdate = resourcePolicy({
    name: "rolling-update-strategy",
    description: "Deployments, StatefulSets and DaemonSets update by rolling update, never by recreating all pods.",
    area: "workloads",
    source: "R16; Polaris",
    details: "Deployment `spec.strategy.type` and StatefulSet/DaemonSet `spec.updateStrategy.type` must be unset or `RollingUpdate`.",
    enforcementLevel: "mandatory",
    remediation: "Remove the Recreate/OnDelete strategy (RollingUpdate is the default).",
    types: [T.Deployment, T.StatefulSet, T.DaemonSet],
    validate: (ctx) => {
        const strategy = ctx.type === T.Deployment ? ctx.props.spec?.strategy?.type : ctx.props.spec?.updateStrategy?.type;
        if (strategy !== undefined && strategy !== "RollingUpdate") {
            ctx.report("does not use the RollingUpdate strategy, so an update takes every pod down", "set the strategy type to RollingUpdate or leave it unset");
        }
    },
});

export const noDuplicateEnv = resourcePolicy({
    name: "no-duplicate-env",
    description: "A container does not define the same environment variable twice.",
    area: "workloads",
    source: "kube-score (environment variable key duplication), Kubernetes API warnings",
    details: "The `name`s of each container's `env` list must be unique (the last one silently wins, and server-side apply rejects duplicates).",
    enforcementLevel: "advisory",
    remediation: "Remove the duplicate env entry.",
    types: workloadTypes,
    validate: (ctx) => {
        for (const { c, where } of containersOf(podSpec(ctx))) {
            const seen = new Set<string>();
            const dups = new Set<string>();
            for (const e of c.env ?? []) {
                if (seen.has(e.name)) dups.add(e.name);
                seen.add(e.name);
            }
            if (dups.size > 0) {
                ctx.report(`${where} defines ${[...dups].map(ident).join(", ")} more than once`, "keep one entry per variable");
            }
        }
    },
});

/** The workload policies, in documentation order. */
export const workloadPolicies: PackPolicy[] = [
    imageTagPinned,
    imageRegistryAllowed,
    containerRequests,
    containerMemoryLimit,
    gpuLimit,
    emptyDirSizeLimit,
    readinessProbe,
    livenessProbe,
    startupProbe,
    probesDistinct,
    workloadMinReplicas,
    hpaTargetReplicasUnset,
    hpaTargetExists,
    hpaMinReplicasZones,
    hpaMaxAboveMin,
    pdbSelectsWorkload,
    pdbHasPolicy,
    pdbAllowsDisruption,
    pdbWithinHpaMin,
    zoneTopologySpread,
    hostnameSpread,
    recommendedLabels,
    noBarePods,
    noDefaultNamespace,
    rollingUpdate,
    noDuplicateEnv,
];
