// Operations policies: conversation logs shipped (R13), the R14 alerts present with the guide's
// thresholds, blue-green slots and their routing (R16), stable Kubernetes APIs.
import { PolicyResource } from "@pulumi/policy";
import { COMPONENT_LABEL, MODEL_SERVER_COMPONENT, SLOT_LABEL, T, isKubernetesObject, mapSelectorMatches, namespaceOf, templateLabels } from "./lib/k8s";
import { PackPolicy, StackContext, ident, resourcePolicy, stackPolicy } from "./lib/policy";
import { parseImageRef } from "../kit/image-ref";
import { REMOTE_IMAGE, SERVER_TYPE, knownStrings, remoteCommandText } from "./server";

export const MODEL_SERVICE_TYPE = "triton-platform:modelService:ModelService";
export const LOG_SINK_TYPE = "triton-platform:logsink:LogSink";
/** The blue-green slots (R16). */
export const SLOTS = ["blue", "green"] as const;

// Both names are Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*): Prometheus before 3.0 (and promtool)
// refuses a rule file whose label or annotation names hold '-' or '/', and a refused file loads no alert
// at all. So not `triton-platform/alert`, as a Kubernetes label key would be spelled.
/** Label that names which R14 alert a rule implements. */
export const ALERT_LABEL = "triton_platform_alert";
/** Annotation with the rule's threshold in the canonical unit (ms for latency, percent otherwise). */
export const THRESHOLD_ANNOTATION = "triton_platform_threshold";

interface ModelDeployment {
    r: PolicyResource;
    namespace: string;
    labels: Record<string, string>;
}

/** Deployments whose pods are the model service's (app.kubernetes.io/component: model-server). */
function modelDeployments(ctx: StackContext<unknown>): { deployments: ModelDeployment[]; incomplete: boolean } {
    const deployments: ModelDeployment[] = [];
    let incomplete = false;
    for (const r of ctx.resources.filter((x) => x.type === T.Deployment)) {
        const d = ctx.known(() => ({ r, namespace: namespaceOf(r.props), labels: templateLabels(r.type, r.props) }));
        if (!d) incomplete = true;
        else if (d.labels[COMPONENT_LABEL] === MODEL_SERVER_COMPONENT) deployments.push(d);
    }
    return { deployments, incomplete };
}

function escapeRegExp(s: string): string {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A pinned reference (tag or digest) to one of the shipper repositories (any registry). */
function isShipperImage(image: string, repositories: string[]): boolean {
    const ref = parseImageRef(image);
    return ref !== undefined && (ref.tag !== undefined || ref.digest !== undefined) && repositories.includes(ref.repository);
}

export const modelServiceLogSink = stackPolicy<{ serverShipperImages: string[] }>({
    name: "model-service-log-sink",
    description: "A stack that runs the model service also ships its conversation logs to object storage (R13).",
    area: "operations",
    source: "R13",
    details:
        "If the stack has model-server Deployments or a ModelService component, it must declare a `triton-platform:logsink:LogSink` component. If it runs the model service only on a LightweightServer, a LogSink component or a shipper container is required: an image of `serverShipperImages` (with a tag or digest) in the remote commands' text, or pulled by a `docker:index/remoteImage:RemoteImage` (how the server's containers are run: hostContainer() in components/server/host.ts).",
    enforcementLevel: "mandatory",
    remediation: "Enable logSink in the stack config (logSink.enabled: true); on the server, run the shipper container from serverLogShipper() (components/logsink).",
    config: {
        serverShipperImages: {
            type: "array",
            items: { type: "string" },
            description: "Image repositories (without registry) that count as a log shipper on the server.",
            default: ["otel/opentelemetry-collector-contrib", "fluent/fluent-bit", "timberio/vector"],
        },
    },
    validate: (ctx) => {
        const { deployments } = modelDeployments(ctx);
        const cluster = ctx.resources.find((r) => r.type === MODEL_SERVICE_TYPE) ?? deployments[0]?.r;
        const server = ctx.resources.find((r) => r.type === SERVER_TYPE);
        const anchor = cluster ?? server;
        if (!anchor) {
            ctx.notApplicable("the stack runs no model service");
        }
        if (ctx.resources.some((r) => r.type === LOG_SINK_TYPE)) {
            return;
        }
        if (!cluster && server) {
            const { text, incomplete: textIncomplete } = remoteCommandText(ctx);
            // Images pulled through @pulumi/docker (how the server's containers are run: hostContainer() in components/server/host.ts).
            const pulled = knownStrings(ctx, REMOTE_IMAGE, ["name"]);
            const shipped =
                ctx.config.serverShipperImages.some((repo) => new RegExp(`(^|[\\s"'=/])${escapeRegExp(repo)}[:@]`).test(text)) ||
                pulled.values.some((image) => isShipperImage(image, ctx.config.serverShipperImages));
            if (!shipped && !textIncomplete && !pulled.incomplete) {
                ctx.report(server, "runs the model service but neither a LogSink nor a log-shipper container ships its conversation logs to object storage", "run the shipper container from serverLogShipper() in the server bootstrap");
            }
            return;
        }
        ctx.report(anchor, "runs the model service but no LogSink ships its conversation logs to object storage", "set logSink.enabled to true so the LogSink component is declared");
    },
});

/** One R14 alert: how its expression compares and which numbers represent a threshold. */
interface AlertSpec {
    id: string;
    what: string;
    /** Alert fires when the measured value is above (`>`) or below (`<`) the threshold. */
    direction: ">" | "<";
    /** Config key holding the guide's threshold. */
    configKey: keyof AlertThresholds;
    unit: string;
    /** Numbers an expression may compare against for a threshold in the canonical unit. */
    forms: (t: number) => { op: ">" | "<"; value: number }[];
}

interface AlertThresholds {
    p99LatencyMs: number;
    errorRatePercent: number;
    availabilityPercent: number;
    diskUsagePercent: number;
}

export const R14_ALERTS: AlertSpec[] = [
    {
        id: "p99-latency",
        what: "P99 inference latency",
        direction: ">",
        configKey: "p99LatencyMs",
        unit: "ms",
        forms: (t) => [t, t / 1000, t * 1000].map((value) => ({ op: ">" as const, value })),
    },
    {
        id: "error-rate",
        what: "error rate",
        direction: ">",
        configKey: "errorRatePercent",
        unit: "%",
        forms: (t) => [t, t / 100].map((value) => ({ op: ">" as const, value })),
    },
    {
        id: "availability",
        what: "instance availability",
        direction: "<",
        configKey: "availabilityPercent",
        unit: "%",
        forms: (t) => [t, t / 100].map((value) => ({ op: "<" as const, value })),
    },
    {
        id: "disk-usage",
        what: "disk usage",
        direction: ">",
        configKey: "diskUsagePercent",
        unit: "%",
        // Usage above T, or free space below 100 - T.
        forms: (t) => [
            ...[t, t / 100].map((value) => ({ op: ">" as const, value })),
            ...[100 - t, 1 - t / 100].map((value) => ({ op: "<" as const, value })),
        ],
    },
];

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

/** Comparisons against number literals in a PromQL expression (`> 0.8`, `>= bool 2`). */
export function comparisons(expr: string): { op: ">" | "<"; value: number }[] {
    const out: { op: ">" | "<"; value: number }[] = [];
    for (const m of expr.matchAll(/(>=|<=|>|<)(?!=)\s*(?:bool\s+)?(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?![\w.])/gi)) {
        out.push({ op: m[1].startsWith(">") ? ">" : "<", value: Number(m[2]) });
    }
    return out;
}

export const alertRulesR14 = stackPolicy<AlertThresholds>({
    name: "alert-rules-r14",
    description: "The stack declares the four R14 alerts (P99 latency, error rate, availability, disk usage) with thresholds no looser than the guide's.",
    area: "operations",
    source: "R14",
    details:
        "Among the alert rules of PrometheusRule resources (`spec.groups[].rules[]` with `alert`), each R14 alert must exist with label `triton_platform_alert: p99-latency|error-rate|availability|disk-usage` and annotation `triton_platform_threshold` (ms for latency, percent otherwise) no looser than the configured threshold, and its `expr` must compare against that threshold in the canonical or base unit (latency: ms, s or us; percentages: percent or ratio; disk also as free space below 100 - T).",
    enforcementLevel: "mandatory",
    remediation: "Generate the rules from monitoring.thresholds (components/observability) with the alert label and threshold annotation.",
    config: {
        p99LatencyMs: { type: "number", minimum: 0, description: "R14: alert when P99 latency exceeds this (ms).", default: 800 },
        errorRatePercent: { type: "number", minimum: 0, description: "R14: alert when the error rate exceeds this (%).", default: 2 },
        availabilityPercent: { type: "number", minimum: 0, description: "R14: alert when availability falls below this (%).", default: 90 },
        diskUsagePercent: { type: "number", minimum: 0, description: "R14: alert when disk usage exceeds this (%).", default: 85 },
    },
    validate: (ctx) => {
        const { deployments } = modelDeployments(ctx);
        const anchor = ctx.resources.find((r) => r.type === MODEL_SERVICE_TYPE) ?? deployments[0]?.r;
        if (!anchor) {
            ctx.notApplicable("the stack runs no model service on Kubernetes");
        }
        const isRuleResource = (r: PolicyResource) =>
            /^kubernetes:monitoring\.coreos\.com\/[^:]+:PrometheusRule$/.test(r.type) || (isKubernetesObject(r.type) && ctx.known(() => r.props.kind) === "PrometheusRule");
        let incomplete = false;
        const rules: { r: PolicyResource; alert: string; expr: string; labels: Record<string, string>; annotations: Record<string, string> }[] = [];
        for (const r of ctx.resources.filter(isRuleResource)) {
            const read = ctx.known(() =>
                [...(r.props.spec?.groups ?? [])].flatMap((g: any) =>
                    [...(g.rules ?? [])]
                        .filter((x: any) => typeof x.alert === "string")
                        .map((x: any) => ({ r, alert: String(x.alert), expr: String(x.expr ?? ""), labels: { ...(x.labels ?? {}) }, annotations: { ...(x.annotations ?? {}) } })),
                ),
            );
            if (read) rules.push(...read);
            else incomplete = true;
        }
        for (const spec of R14_ALERTS) {
            const limit = ctx.config[spec.configKey];
            const candidates = rules.filter((x) => x.labels[ALERT_LABEL] === spec.id);
            if (candidates.length === 0) {
                if (!incomplete) {
                    ctx.report(anchor, `has no alert rule for R14 ${spec.what} (label ${ALERT_LABEL}: ${spec.id})`, `add a PrometheusRule alert labelled ${ALERT_LABEL}: ${spec.id} with annotation ${THRESHOLD_ANNOTATION}`);
                }
                continue;
            }
            for (const rule of candidates) {
                const where = `alert ${ident(rule.alert)} (${spec.id})`;
                const raw = rule.annotations[THRESHOLD_ANNOTATION];
                const t = raw === undefined ? NaN : Number(raw);
                if (!Number.isFinite(t)) {
                    ctx.report(rule.r, `${where} has no numeric ${THRESHOLD_ANNOTATION} annotation`, `annotate it with the threshold in ${spec.unit}`);
                    continue;
                }
                const looser = spec.direction === ">" ? t > limit : t < limit;
                if (looser) {
                    ctx.report(rule.r, `${where} alerts ${spec.direction === ">" ? "above" : "below"} a threshold looser than R14 (${limit} ${spec.unit})`, `set the threshold to ${limit} ${spec.unit} or stricter`);
                    continue;
                }
                const forms = spec.forms(t);
                if (!comparisons(rule.expr).some((c) => forms.some((f) => f.op === c.op && close(f.value, c.value)))) {
                    ctx.report(rule.r, `${where} expression does not compare against its annotated threshold`, `compare the expression with ${spec.direction} the annotated value (in ${spec.unit} or its base unit)`);
                }
            }
        }
    },
});

export const blueGreenSlots = stackPolicy({
    name: "blue-green-slots",
    description: "The model service runs as two blue-green slots, one Deployment labelled blue and one labelled green (R16).",
    area: "operations",
    source: "R16",
    details: "Model-server Deployments (pod label `app.kubernetes.io/component: model-server`) must carry `triton-platform/slot`, and there must be exactly one per slot, blue and green.",
    enforcementLevel: "mandatory",
    remediation: "Give both slots an image (slots.blue.image and slots.green.image) so both Deployments exist.",
    validate: (ctx) => {
        const { deployments, incomplete } = modelDeployments(ctx);
        if (deployments.length === 0) {
            ctx.notApplicable("the stack runs no model-server Deployment");
        }
        for (const d of deployments.filter((x) => !(SLOTS as readonly string[]).includes(x.labels[SLOT_LABEL]))) {
            ctx.report(d.r, `is a model-server Deployment without a valid ${SLOT_LABEL} label (blue or green)`, `label its pods ${SLOT_LABEL}: blue or green`);
        }
        for (const slot of SLOTS) {
            const inSlot = deployments.filter((d) => d.labels[SLOT_LABEL] === slot);
            if (inSlot.length === 0 && !incomplete) {
                ctx.report(deployments[0].r, `has no counterpart in the ${slot} slot, so there is nothing to switch to or roll back to`, `deploy the ${slot} slot (slots.${slot}.image)`);
            } else if (inSlot.length > 1) {
                for (const d of inSlot.slice(1)) {
                    ctx.report(d.r, `is a second model-server Deployment in the ${slot} slot`, "keep exactly one Deployment per slot");
                }
            }
        }
    },
});

export const serviceSelectsOneSlot = stackPolicy<{ servicePort: number }>({
    name: "service-selects-one-slot",
    description: "Every Service that routes the model-service port selects exactly one blue-green slot (R16).",
    area: "operations",
    source: "R16, R7",
    details:
        "A Service with a port equal to `servicePort` (18789) whose selector matches model-server pods must include `triton-platform/slot` and match exactly one model-server Deployment; at least one such Service must exist.",
    enforcementLevel: "mandatory",
    remediation: "Select on triton-platform/slot: <activeSlot> in the routing Service (the ModelService component does).",
    config: { servicePort: { type: "integer", minimum: 1, maximum: 65535, description: "The model-service port (R7).", default: 18789 } },
    validate: (ctx) => {
        const { deployments } = modelDeployments(ctx);
        if (deployments.length === 0) {
            ctx.notApplicable("the stack runs no model-server Deployment");
        }
        let routing = 0;
        let incomplete = false;
        for (const r of ctx.resources.filter((x) => x.type === T.Service)) {
            const svc = ctx.known(() => ({
                namespace: namespaceOf(r.props),
                selector: { ...(r.props.spec?.selector ?? {}) } as Record<string, string>,
                ports: [...(r.props.spec?.ports ?? [])].map((p: any) => p.port),
            }));
            if (!svc) {
                incomplete = true;
                continue;
            }
            if (!svc.ports.includes(ctx.config.servicePort)) {
                continue;
            }
            const selected = deployments.filter((d) => d.namespace === svc.namespace && mapSelectorMatches(svc.selector, d.labels));
            const modelSelector = svc.selector[COMPONENT_LABEL] === MODEL_SERVER_COMPONENT;
            if (!modelSelector && selected.length === 0) {
                continue;
            }
            routing++;
            if (svc.selector[SLOT_LABEL] === undefined) {
                ctx.report(r, `routes port ${ctx.config.servicePort} without selecting a slot, so traffic would reach both blue and green`, `add ${SLOT_LABEL}: <activeSlot> to spec.selector`);
            } else if (selected.length !== 1) {
                ctx.report(r, `selects ${selected.length} model-server Deployments instead of exactly one slot`, `select an existing slot with ${SLOT_LABEL}`);
            }
        }
        if (routing === 0 && !incomplete) {
            ctx.report(deployments[0].r, `is not reachable: no Service routes port ${ctx.config.servicePort} to a model-server slot`, "declare the routing Service (ModelService does)");
        }
    },
});

export const stableApiVersions = resourcePolicy({
    name: "stable-api-versions",
    description: "Kubernetes objects use stable (v1, v2) API versions, not alpha or beta ones.",
    area: "operations",
    source: "Pulumi compliance policies (kubernetes no deprecated APIs), Polaris",
    details: "The API version in the type token (or `apiVersion` of custom resources) must not contain alpha or beta.",
    enforcementLevel: "advisory",
    remediation: "Use the stable API group version of the kind.",
    types: isKubernetesObject,
    validate: (ctx) => {
        const version = String(ctx.props.apiVersion ?? ctx.type.split(":")[1] ?? "");
        if (/\bv\d+(alpha|beta)\d*\b/.test(version) || /v\d+(alpha|beta)\d*/.test(ctx.type.split(":")[1] ?? "")) {
            ctx.report("uses an alpha or beta API version, which Kubernetes removes in later releases", "switch to the stable API version of the kind");
        }
    },
});

export const operationsPolicies: PackPolicy[] = [modelServiceLogSink, alertRulesR14, blueGreenSlots, serviceSelectsOneSlot, stableApiVersions];
