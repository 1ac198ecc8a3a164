// The typed stack definition: every setting of a stack, parsed and checked by one schema before any
// resource is declared. Components receive slices of `StackDefinition`; nothing else reads config.
//
// Secrets are not part of the definition: they are read apart (`readSecrets`) and stay Outputs, so a
// plain value never passes through zod, an error message or a log line.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { clusterSchema } from "../components/cluster/schema";
import { dialogueIssues, dialogueSchema } from "../components/dialogue/schema";
import { gatewayIssues } from "../components/gateway/checks";
import { gatewaySchema } from "../components/gateway/schema";
import { keysSchema } from "../components/keys/schema";
import { logSinkIssues, logSinkSchema } from "../components/logsink/schema";
import {
    DEFAULT_TRITON_IMAGE,
    SLOT_NAMES,
    modelSchema,
    modelServiceSchema,
    slotsSchema,
} from "../components/model-service/schema";
import { securityGroupIssues, securityPolicyInput } from "../components/network/rules";
import { securityGroupSchema } from "../components/network/schema";
import { ALERT_WEBHOOK_SECRET, monitoringSchema } from "../components/observability/schema";
import { serverSchema } from "../components/server/schema";
import { checkSlotPorts } from "../components/model-service/server-slots";
import { objectStorageSchema } from "../kit/object-storage";
import {
    controlCharIssues,
    dnsLabel,
    LABEL_VALUE,
    labelMap,
    pinnedImage,
    quantityValue,
    RECOMMENDED_LABEL_KEYS,
} from "../kit/schema";

/** S3-compatible object storage (the schema lives in the kit: the model service and the log sink read it). */
export { objectStorageSchema };

/**
 * The schema of every non-secret config key of the project. Each key maps to one top-level field; the
 * config key path in an error is the field path (`triton-platform:modelService.hpa.minReplicas`).
 */
export const definitionShape = {
    /** dev, staging or prod: prod enforces production minimums (3 zones, a real cluster). */
    environment: z.enum(["dev", "staging", "prod"]).default("dev"),
    cluster: clusterSchema.default({ mode: "render", directory: "out/manifests/<stack>" }),
    /** Namespace of every workload of the stack (never `default`). */
    namespace: dnsLabel
        .refine((n) => n !== "default" && !n.startsWith("kube-"), {
            error: "use a namespace of the stack's own: not default or kube-*",
        })
        .default("triton"),
    /** Availability zones (topology.kubernetes.io/zone values) the model service spreads across (R13). */
    zones: z
        .array(
            z
                .string()
                .min(1)
                .regex(LABEL_VALUE, { error: "a zone is matched as a label value (topology.kubernetes.io/zone): at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends" }),
        )
        .min(1)
        .default(["zone-a", "zone-b", "zone-c"]),
    /**
     * Extra labels put on every Kubernetes object, after the recommended ones. Keys and values must be
     * valid Kubernetes labels, and the recommended labels (`app.kubernetes.io/name`, `instance`,
     * `component`, `part-of`, `managed-by`, `version`) cannot be replaced: selectors depend on them.
     */
    labels: labelMap
        .superRefine((labels, ctx) => {
            for (const k of Object.keys(labels)) {
                if ((RECOMMENDED_LABEL_KEYS as readonly string[]).includes(k)) {
                    ctx.addIssue({
                        code: "custom",
                        path: [k],
                        message: `"${k}" is a recommended label the program sets itself (selectors and policies read it): choose another key`,
                    });
                }
            }
        })
        .default({}),
    /** The blue-green slot the Service routes to (R16). */
    activeSlot: z.enum(SLOT_NAMES).default("blue"),
    slots: slotsSchema.prefault({}),
    /** The last released images, newest first, at most 3 (R16 rollback). */
    releases: z.array(pinnedImage).max(3, { error: "keep at most the last 3 released images (R16)" }).default([]),
    models: z.array(modelSchema).min(1).prefault([{ name: "dialogue" }]),
    modelService: modelServiceSchema.prefault({}),
    objectStorage: objectStorageSchema,
    keys: keysSchema,
    /** The collaboration-platform entry point (R8-R11). */
    gateway: gatewaySchema,
    /** The dialogue service between the gateway and Triton (R9 access modes, R11 messages). */
    dialogue: dialogueSchema,
    securityGroup: securityGroupSchema,
    /** The lightweight server (single-VM path). Unset: no server is managed. */
    server: serverSchema.optional(),
    monitoring: monitoringSchema,
    logSink: logSinkSchema,
};

/**
 * Settings that are documents of several lines (a PEM CA bundle, a kubeconfig's contents): they may hold
 * line breaks and tabs, which their consumers write as a file or a YAML block, never into a line.
 */
export const MULTILINE_SETTINGS = ["logSink.caBundle", "cluster.kubeconfig"] as const;

/** Keys read as secrets, never as part of the definition. */
export const SECRET_KEYS = ["objectStorageAccessKeyId", "objectStorageSecretAccessKey", "serverPrivateKey", "dialogueReplyUrls", "dialogueRedisPassword"] as const;

/** Whether a top-level config key is a secret (a fixed one, or an alert webhook URL `alertWebhook<Name>`). */
export function isSecretKey(key: string): boolean {
    return (SECRET_KEYS as readonly string[]).includes(key) || ALERT_WEBHOOK_SECRET.test(key);
}

/** Secrets that only work together: setting one without the other is an error that names the other. */
export const SECRET_PAIRS: [(typeof SECRET_KEYS)[number], (typeof SECRET_KEYS)[number]][] = [["objectStorageAccessKeyId", "objectStorageSecretAccessKey"]];

/**
 * Problems of which secrets are set (never of their values: only emptiness is looked at). One
 * object-store key without the other would otherwise silently fall back to workload identity.
 */
export function secretPresenceIssues(isSet: (key: (typeof SECRET_KEYS)[number]) => boolean): { key: string; message: string }[] {
    const out: { key: string; message: string }[] = [];
    for (const [a, b] of SECRET_PAIRS) {
        for (const [present, missing] of [
            [a, b],
            [b, a],
        ] as const) {
            if (isSet(present) && !isSet(missing)) {
                out.push({
                    key: missing,
                    message: `${present} is set but ${missing} is not: static object-store keys need both. Set it (\`pulumi config set --secret ${missing} ...\`), or remove ${present} to use workload identity`,
                });
            }
        }
    }
    return out;
}

type Parsed = { [K in keyof typeof definitionShape]: z.infer<(typeof definitionShape)[K]> };
type Report = (path: (string | number)[], message: string) => void;

/**
 * Rules across settings. Each names the top-level keys it reads and runs only when those parsed, so a
 * type error elsewhere never hides a cross-field problem: every problem is reported in one run.
 */
const crossRules: { keys: (keyof Parsed)[]; check: (d: Parsed, issue: Report) => void }[] = [
    {
        keys: ["environment", "zones", "cluster"],
        check: (d, issue) => {
            if (new Set(d.zones).size !== d.zones.length) {
                issue(["zones"], "zones must be distinct");
            }
            if (d.environment === "prod" && d.zones.length < 3) {
                issue(["zones"], `prod needs at least 3 availability zones (R13), got ${d.zones.length}`);
            }
            if (d.environment === "prod" && d.cluster.mode === "render") {
                issue(["cluster", "mode"], "prod must deploy to a cluster: set cluster.mode to kubeconfig");
            }
        },
    },
    {
        // Availability: one replica per zone at least, and room to scale.
        keys: ["modelService", "zones", "cluster"],
        check: (d, issue) => {
            const hpa = d.modelService.hpa;
            if (d.cluster.mode !== "none" && hpa.minReplicas < d.zones.length) {
                issue(
                    ["modelService", "hpa", "minReplicas"],
                    `minReplicas ${hpa.minReplicas} is below the zone count ${d.zones.length}: a zone would have no replica`,
                );
            }
        },
    },
    {
        keys: ["modelService"],
        check: (d, issue) => {
            const ms = d.modelService;
            if (ms.hpa.maxReplicas <= ms.hpa.minReplicas) {
                issue(
                    ["modelService", "hpa", "maxReplicas"],
                    `maxReplicas ${ms.hpa.maxReplicas} must be above minReplicas ${ms.hpa.minReplicas}, or the HPA can never scale`,
                );
            }
            // The startup probe must outlast the slowest model load, or liveness kills loading pods.
            const startup = ms.probes.startup;
            const startupWindow = startup.initialDelaySeconds + startup.periodSeconds * startup.failureThreshold;
            if (startupWindow < ms.expectedModelLoadSeconds) {
                issue(
                    ["modelService", "probes", "startup", "failureThreshold"],
                    `the startup probe gives up after ${startupWindow}s but models may take ${ms.expectedModelLoadSeconds}s to load ` +
                        `(expectedModelLoadSeconds): raise failureThreshold to at least ${Math.ceil(
                            (ms.expectedModelLoadSeconds - startup.initialDelaySeconds) / startup.periodSeconds,
                        )}`,
                );
            }
            for (const kind of ["startup", "liveness", "readiness"] as const) {
                const p = ms.probes[kind];
                if (p.timeoutSeconds > p.periodSeconds) {
                    issue(
                        ["modelService", "probes", kind, "timeoutSeconds"],
                        `timeoutSeconds ${p.timeoutSeconds} exceeds periodSeconds ${p.periodSeconds}`,
                    );
                }
            }
            const portNames = ["http", "grpc", "metrics"] as const;
            portNames.forEach((a, i) =>
                portNames.slice(i + 1).forEach((b) => {
                    if (ms.ports[a] === ms.ports[b]) {
                        issue(["modelService", "ports", b], `port ${ms.ports[b]} is already used by ${a}`);
                    }
                }),
            );
            // SIGTERM arrives after the preStop sleep; Triton then drains for exitTimeoutSeconds.
            if (ms.terminationGracePeriodSeconds <= ms.preStopDelaySeconds + ms.exitTimeoutSeconds) {
                issue(
                    ["modelService", "terminationGracePeriodSeconds"],
                    `terminationGracePeriodSeconds ${ms.terminationGracePeriodSeconds} must exceed preStopDelaySeconds + exitTimeoutSeconds ` +
                        `(${ms.preStopDelaySeconds} + ${ms.exitTimeoutSeconds}), or Kubernetes kills Triton mid-drain`,
                );
            }
            if (quantityValue(ms.resources.memoryLimit) < quantityValue(ms.resources.memoryRequest)) {
                issue(
                    ["modelService", "resources", "memoryLimit"],
                    `memoryLimit ${ms.resources.memoryLimit} is below memoryRequest ${ms.resources.memoryRequest}`,
                );
            }
            if (quantityValue(ms.shmSize) >= quantityValue(ms.resources.memoryLimit)) {
                issue(
                    ["modelService", "shmSize"],
                    `shmSize ${ms.shmSize} must be below memoryLimit ${ms.resources.memoryLimit}: /dev/shm counts against it`,
                );
            }
        },
    },
    {
        keys: ["models"],
        check: (d, issue) => {
            const seen = new Map<string, number>();
            d.models.forEach((m, i) => {
                const first = seen.get(m.name);
                if (first !== undefined) {
                    issue(["models", i, "name"], `model name "${m.name}" is already used by models[${first}]`);
                } else {
                    seen.set(m.name, i);
                }
                if (m.maxBatchSize === 0 && m.dynamicBatching.enabled) {
                    issue(["models", i, "dynamicBatching", "enabled"], "dynamic batching needs maxBatchSize > 0");
                }
                m.dynamicBatching.preferredBatchSizes.forEach((size, j) => {
                    if (m.maxBatchSize > 0 && size > m.maxBatchSize) {
                        issue(
                            ["models", i, "dynamicBatching", "preferredBatchSizes", j],
                            `preferred batch size ${size} exceeds maxBatchSize ${m.maxBatchSize}`,
                        );
                    }
                });
            });
        },
    },
    {
        // Blue-green (R16). The slots run on Kubernetes and on the server alike.
        keys: ["slots", "activeSlot", "releases", "cluster", "server"],
        check: (d, issue) => {
            if ((d.cluster.mode !== "none" || d.server) && !d.slots[d.activeSlot].image) {
                issue(["slots", d.activeSlot, "image"], `the active slot "${d.activeSlot}" has no image: set slots.${d.activeSlot}.image`);
            }
            // The former single server image: only as the active slot's (legacyServerSlots() maps it).
            if (d.server?.image !== undefined && d.server.image !== d.slots[d.activeSlot].image) {
                issue(
                    ["server", "image"],
                    `the server runs slots.${d.activeSlot}.image ("${d.slots[d.activeSlot].image ?? "unset"}"), not server.image ("${d.server.image}"): remove server.image and set the slots (docs/SERVER.md, "Releases and rollbacks")`,
                );
            }
            if (new Set(d.releases).size !== d.releases.length) {
                issue(["releases"], "releases must be distinct");
            }
            if (d.releases.length > 0) {
                // Only the releases stay on a server (and are the ones a rollback may use): every slot's
                // image must be one of them.
                for (const slot of SLOT_NAMES) {
                    const image = d.slots[slot].image;
                    if (image && !d.releases.includes(image)) {
                        issue(["slots", slot, "image"], `image "${image}" is not among the recorded releases: add it to releases (newest first)`);
                    }
                }
            }
        },
    },
    {
        // The server's blue-green slots sit at Triton's ports + 100 and + 200 on its loopback, behind the
        // gateway's slot router on Triton's own ports: none of them may meet another.
        keys: ["server", "modelService", "gateway"],
        check: (d, issue) => {
            if (!d.server || !d.gateway.enabled) {
                return;
            }
            try {
                checkSlotPorts(d.modelService.ports, { "the gateway's statistics port (gateway.statsPort)": d.gateway.statsPort });
            } catch (e) {
                issue(["modelService", "ports"], (e as Error).message);
            }
        },
    },
    {
        // Security-group rules against the ports the services declare (bad CIDR, contradictions, undeclared ports).
        keys: ["securityGroup", "modelService", "objectStorage", "server", "environment", "cluster", "gateway"],
        check: (d, issue) => securityGroupIssues(securityPolicyInput(d)).forEach((i) => issue(i.path, i.message)),
    },
    {
        // The entry point: route scopes among the JWT scopes, a real host and zone-proof replicas in prod.
        keys: ["gateway", "keys", "environment", "cluster", "zones", "models"],
        check: (d, issue) => gatewayIssues(d).forEach((i) => issue(i.path, i.message)),
    },
    {
        // The dialogue service: a shared store with several replicas, a digest-pinned image outside dev.
        // Only checked where it is deployed: behind this stack's gateway (Kubernetes or the server).
        keys: ["dialogue", "environment", "gateway"],
        check: (d, issue) => dialogueIssues(d.dialogue, d.environment, d.gateway.enabled).forEach((i) => issue(["dialogue", ...i.path], i.message)),
    },
    {
        // Conversation logs must not travel in clear text in prod.
        keys: ["environment", "objectStorage", "logSink"],
        check: (d, issue) => logSinkIssues(d).forEach(([path, message]) => issue(path, message)),
    },
    {
        keys: ["cluster", "server"],
        check: (d, issue) => {
            if (d.cluster.mode === "none" && !d.server) {
                issue(["server"], "a stack with cluster.mode none must declare a server, or it deploys nothing");
            }
        },
    },
];

/** The parsed, checked definition of one stack. */
export type StackDefinition = Parsed & {
    /** Pulumi project name (config namespace). */
    project: string;
    /** Pulumi stack name. */
    stack: string;
};

/** Secret settings, read apart from the definition and kept as Outputs. */
export interface StackSecrets {
    objectStorageAccessKeyId?: pulumi.Output<string>;
    objectStorageSecretAccessKey?: pulumi.Output<string>;
    serverPrivateKey?: pulumi.Output<string>;
    /** JSON {platform: reply URL} of the dialogue service's webhook replies (URLs often carry a token). */
    dialogueReplyUrls?: pulumi.Output<string>;
    /** Password of the dialogue service's external Redis (`dialogue.store.auth`). */
    dialogueRedisPassword?: pulumi.Output<string>;
    /** Alert webhook URLs by config key (`alertWebhook<Name>`, named by monitoring.alertRoute.receivers[].urlSecret). */
    alertWebhookUrls?: Record<string, pulumi.Output<string>>;
}

/** One problem of a definition, with the config key it belongs to. */
export interface DefinitionIssue {
    /** Full config key path, e.g. `triton-platform:modelService.hpa.minReplicas`. */
    key: string;
    message: string;
}

/**
 * Raised when a stack definition is invalid; lists every problem at once. A RunError, so the CLI prints
 * just the message (the problems and the fix), not a stack trace of the program.
 */
export class StackDefinitionError extends pulumi.RunError {
    constructor(
        public readonly stackName: string,
        public readonly issues: DefinitionIssue[],
    ) {
        super(
            `The configuration of stack "${stackName}" is invalid (${issues.length} problem${issues.length === 1 ? "" : "s"}); ` +
                "no resource was created:\n" +
                issues.map((i) => `  - ${i.key}: ${i.message}`).join("\n") +
                "\nFix each key with `pulumi config set --path <key> <value>` (or edit Pulumi.<stack>.yaml) and run again.",
        );
        this.name = "StackDefinitionError";
    }
}

function keyPath(project: string, path: readonly PropertyKey[]): string {
    let out = "";
    for (const p of path) {
        out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
    }
    return `${project}:${out || "<root>"}`;
}

/**
 * Parses raw config values (top-level key -> value; objects already decoded) into a definition.
 * Pure: tests call it directly. Returns every problem, never only the first.
 */
export function parseDefinition(
    raw: Record<string, unknown>,
    ctx: { project: string; stack: string },
): { ok: true; definition: StackDefinition } | { ok: false; issues: DefinitionIssue[] } {
    const issues: DefinitionIssue[] = [];
    const values: Record<string, unknown> = {};
    // Only whether a secret is set is read here, never its value.
    const secretSet = (k: string) => raw[k] !== undefined && raw[k] !== null && raw[k] !== "";
    for (const i of secretPresenceIssues(secretSet)) {
        issues.push({ key: `${ctx.project}:${i.key}`, message: i.message });
    }
    for (const [key, value] of Object.entries(raw)) {
        if (isSecretKey(key)) {
            continue;
        }
        for (const i of controlCharIssues(value, [key], MULTILINE_SETTINGS)) {
            issues.push({ key: keyPath(ctx.project, i.path), message: i.message });
        }
        if (!(key in definitionShape)) {
            const near = closest(key, Object.keys(definitionShape));
            issues.push({
                key: `${ctx.project}:${key}`,
                message: `unknown setting${near ? ` (did you mean "${near}"?)` : ""}; known settings: ${Object.keys(definitionShape).join(", ")}`,
            });
            continue;
        }
        values[key] = value;
    }
    Object.assign(values, legacyServerSlots(values));
    const parsed: Partial<Record<keyof Parsed, unknown>> = {};
    for (const key of Object.keys(definitionShape) as (keyof Parsed)[]) {
        let value = values[key];
        // Pulumi.yaml declares structured keys with `default: {}` (a declared key without a default is
        // required); an empty object therefore means "not set" wherever the schema allows unset.
        if (isEmptyObject(value) && definitionShape[key].safeParse(undefined).success) {
            value = undefined;
        }
        const result = definitionShape[key].safeParse(value);
        if (result.success) {
            parsed[key] = result.data;
            continue;
        }
        for (const i of result.error.issues) {
            const path = i.code === "unrecognized_keys" && i.keys.length === 1 ? [...i.path, i.keys[0]] : i.path;
            issues.push({ key: keyPath(ctx.project, [key, ...path]), message: describeIssue(i) });
        }
    }
    for (const rule of crossRules) {
        if (rule.keys.every((k) => k in parsed)) {
            rule.check(parsed as Parsed, (path, message) => issues.push({ key: keyPath(ctx.project, path), message }));
        }
    }
    // Each alert receiver names the secret key of its URL: it must be set (its value stays unread here).
    const monitoring = parsed.monitoring as Parsed["monitoring"] | undefined;
    monitoring?.alertRoute?.receivers.forEach((r, i) => {
        if (raw[r.urlSecret] === undefined || raw[r.urlSecret] === "") {
            issues.push({
                key: keyPath(ctx.project, ["monitoring", "alertRoute", "receivers", i, "urlSecret"]),
                message: `the secret ${r.urlSecret} is not set: pulumi config set --secret ${r.urlSecret} <the receiver's webhook URL>`,
            });
        }
    });
    if (issues.length > 0) {
        return { ok: false, issues };
    }
    return { ok: true, definition: { ...(parsed as Parsed), project: ctx.project, stack: ctx.stack } };
}

/**
 * A server-only stack written before the server had slots: `server.image` and no `slots`. Its image becomes
 * the active slot's and the other slot stays empty (not deployed), so the stack keeps serving the image it
 * names (a Kubernetes stack's slots are never touched). Pure; returns what to set, or nothing.
 */
export function legacyServerSlots(raw: Record<string, unknown>): { slots?: unknown } {
    const server = raw.server as { image?: unknown } | undefined;
    const cluster = raw.cluster as { mode?: unknown } | undefined;
    if ((raw.slots !== undefined && !isEmptyObject(raw.slots)) || cluster?.mode !== "none" || typeof server?.image !== "string") {
        return {};
    }
    const active = raw.activeSlot === "green" ? "green" : "blue";
    return { slots: { [active]: { image: server.image }, [active === "blue" ? "green" : "blue"]: {} } };
}

function describeIssue(i: z.core.$ZodIssue): string {
    if (i.code === "unrecognized_keys") {
        return `unknown setting${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}: check the spelling against Pulumi.yaml`;
    }
    if (i.code === "invalid_value" && "values" in i) {
        return `expected one of ${i.values.map((v) => JSON.stringify(v)).join(", ")}`;
    }
    if (i.code === "invalid_union" && i.message === "Invalid input") {
        return "expected one of the documented shapes";
    }
    return i.message.replace(/^Invalid input: /, "");
}

/** The closest known key by edit distance, for "did you mean" hints. */
function closest(key: string, known: string[]): string | undefined {
    const distance = (a: string, b: string): number => {
        const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
        for (let j = 1; j <= b.length; j++) dp[0][j] = j;
        for (let i = 1; i <= a.length; i++) {
            for (let j = 1; j <= b.length; j++) {
                dp[i][j] = Math.min(dp[i - 1][j] + 1, dp[i][j - 1] + 1, dp[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
            }
        }
        return dp[a.length][b.length];
    };
    const best = known.map((k) => ({ k, d: distance(key.toLowerCase(), k.toLowerCase()) })).sort((x, y) => x.d - y.d)[0];
    return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? best.k : undefined;
}

function isEmptyObject(v: unknown): boolean {
    return v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0;
}

/** Decodes one raw config string: structured values are JSON, scalars stay strings. */
function decode(value: string): unknown {
    const t = value.trim();
    if (t.startsWith("{") || t.startsWith("[")) {
        try {
            return JSON.parse(t);
        } catch {
            return value;
        }
    }
    return value;
}

/**
 * Reads this stack's config (the project namespace only) and parses it. Throws a StackDefinitionError
 * naming every bad key; call it before declaring any resource.
 */
export function loadDefinition(): StackDefinition {
    const project = pulumi.getProject();
    const stack = pulumi.getStack();
    const prefix = `${project}:`;
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
        if (k.startsWith(prefix)) {
            raw[k.slice(prefix.length)] = decode(v);
        }
    }
    const parsed = parseDefinition(raw, { project, stack });
    if (!parsed.ok) {
        throw new StackDefinitionError(stack, parsed.issues);
    }
    return parsed.definition;
}

/** Reads the secret settings as Outputs (never decoded into the definition). */
export function readSecrets(): StackSecrets {
    const config = new pulumi.Config();
    const out: StackSecrets = {};
    for (const key of SECRET_KEYS) {
        // An empty value counts as unset (e.g. `pulumi config set --secret key ""` to clear it). The raw
        // runtime lookup only tests for emptiness; the value itself is only ever handled as a secret.
        if (pulumi.runtime.getConfig(`${pulumi.getProject()}:${key}`)) {
            out[key] = config.requireSecret(key);
        }
    }
    // Alert webhook URLs: every `alertWebhook<Name>` key of the project, whichever receiver names it.
    const prefix = `${pulumi.getProject()}:`;
    for (const [full, value] of Object.entries(pulumi.runtime.allConfig())) {
        const key = full.slice(prefix.length);
        if (full.startsWith(prefix) && ALERT_WEBHOOK_SECRET.test(key) && value) {
            (out.alertWebhookUrls ??= {})[key] = config.requireSecret(key);
        }
    }
    return out;
}

/** The default Triton image, exported for docs and tests. */
export { DEFAULT_TRITON_IMAGE };
