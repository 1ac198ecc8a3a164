// Test kit: runs the pack's policies with arguments built exactly like the @pulumi/policy 1.21
// runtime builds them (node_modules/@pulumi/policy/server.js, makeAnalyzeRpcFun and
// makeAnalyzeStackRpcFun):
//   - props are plain JSON wrapped in the SDK's exported `unknownCheckingProxy`, so reading a value
//     that is unknown during preview throws UnknownValueError;
//   - `isType`/`asType` compare the class's `__pulumiType` (or call `isInstance`), like `isTypeOf`;
//   - `notApplicable` throws, and the throw is recorded as "not applicable", never as a pass;
//   - `getConfig` returns the policy's schema defaults overlaid with the given properties, as the
//     engine's ReconcilePolicyPackConfig sends them (enforcementLevel removed);
//   - a validation carrying `__pulumiType` is skipped for other types without being called;
//   - violation messages are `description + "\n" + message`, as makeReportViolationFun writes them;
//   - an UnknownValueError becomes an advisory "can't run ... during preview" diagnostic;
//   - stack resources get `parent` and `dependencies` as resource objects, linked by URN.
// kit.test.ts checks the kit against the runtime's own functions.
import {
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
    UnknownValueError,
    unknownCheckingProxy,
} from "@pulumi/policy";
import { PackPolicy, PackResourcePolicy, PackStackPolicy } from "../lib/policy";

/** The engine's marshalled unknown (plugin.UnknownStringValue): what a preview sends for a value not known yet. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export const PROJECT = "triton-platform";
export const STACK = "test";

/** Thrown by `notApplicable`, as the runtime's (unexported) NotApplicableError is. */
export class NotApplicableError extends Error {
    constructor(public readonly reason?: string) {
        super(reason ?? "Policy does not apply");
    }
}

/** A resource as a test declares it. */
export interface Res {
    type: string;
    name: string;
    /** Inputs (resource policies) and outputs (stack policies): plain JSON, secrets in plain text. */
    props?: Record<string, any>;
    /** `type::name` of the parent resource, as the harness records it. */
    parent?: string;
    /** `type::name` of resources this one depends on. */
    dependsOn?: string[];
}

/** Per-policy config as a policy config file holds it (`{ "<policy>": { enforcementLevel?, ...props } }`). */
export type PackConfig = Record<string, EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>)>;

export interface Violation {
    policy: string;
    level: EnforcementLevel;
    /** The policy's own message (what `reportViolation` received). */
    message: string;
    /** What the engine receives: description, newline, message. */
    full: string;
    urn?: string;
}

export interface Outcome {
    violations: Violation[];
    /** Reasons of `notApplicable` (one per resource a resource policy did not apply to). */
    notApplicable: string[];
    /** "can't run during preview" diagnostics (advisory). */
    cannotRun: string[];
}

function typeOf(cls: unknown): string | undefined {
    const t = (cls as { __pulumiType?: unknown } | undefined)?.__pulumiType;
    return typeof t === "string" && t.length > 0 ? t : undefined;
}

/** The runtime's isTypeOf. */
export function isTypeOf(type: string, resourceClass: unknown): boolean {
    const t = typeOf(resourceClass);
    if (t) {
        return type === t;
    }
    const isInstance = (resourceClass as { isInstance?: unknown })?.isInstance;
    return typeof isInstance === "function" && isInstance({ __pulumiType: type }) === true;
}

/** URN of a resource, with its parents' types qualified (`parentType$type`). */
export function urnOf(r: Res, all: Res[], stack = STACK): string {
    const types: string[] = [r.type];
    let parent = r.parent;
    const seen = new Set<string>();
    while (parent && !seen.has(parent)) {
        seen.add(parent);
        const p = all.find((x) => `${x.type}::${x.name}` === parent);
        if (!p) break;
        types.unshift(p.type);
        parent = p.parent;
    }
    return `urn:pulumi:${stack}::${PROJECT}::${types.join("$")}::${r.name}`;
}

/** Props as the runtime deserializes them: fresh plain JSON (undefined dropped) behind the unknown-checking proxy. */
function runtimeProps(props: Record<string, any> | undefined): Record<string, any> {
    return unknownCheckingProxy(JSON.parse(JSON.stringify(props ?? {})));
}

function options(parentUrn?: string): PolicyResourceOptions {
    const o: PolicyResourceOptions = {
        protect: false,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
    };
    if (parentUrn) {
        o.parent = parentUrn;
    }
    return o;
}

function levelOf(p: PackPolicy, config: PackConfig): EnforcementLevel {
    const c = config[p.name];
    const configured = typeof c === "string" ? c : c?.enforcementLevel;
    const all = config.all;
    const allLevel = typeof all === "string" ? all : all?.enforcementLevel;
    return configured ?? allLevel ?? p.enforcementLevel ?? "advisory";
}

/** The properties the engine sends a policy: schema defaults, then the config file's, enforcementLevel removed. */
export function engineConfig(p: PackPolicy, config: PackConfig): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(p.configSchema?.properties ?? {})) {
        if (v.default !== undefined) {
            out[k] = v.default;
        }
    }
    const c = config[p.name];
    if (c && typeof c === "object") {
        for (const [k, v] of Object.entries(c)) {
            if (k !== "enforcementLevel") out[k] = v;
        }
    }
    return out;
}

function reporter(p: PackPolicy, level: EnforcementLevel, into: Violation[]) {
    return (message: string, urn?: string) => {
        into.push({ policy: p.name, level, message, full: message ? `${p.description}\n${message}` : p.description, urn });
    };
}

function cannotRun(p: PackPolicy, e: UnknownValueError): string {
    return `can't run policy '${p.name}' from policy pack '${PROJECT}@v0.1.0' during preview: ${e.message}`;
}

/**
 * Runs one validation and records how it ended, as the runtime's Analyze handlers do: an unknown value
 * makes the policy "can't run during preview", notApplicable marks it not applicable, anything else
 * propagates.
 */
async function settle(p: PackPolicy, out: Outcome, validate: () => void | Promise<void>): Promise<void> {
    try {
        await Promise.resolve(validate());
    } catch (e) {
        if (e instanceof UnknownValueError) {
            out.cannotRun.push(cannotRun(p, e));
        } else if (e instanceof NotApplicableError) {
            out.notApplicable.push(e.reason ?? "");
        } else {
            throw e;
        }
    }
}

/** Runs a resource policy on each resource, like makeAnalyzeRpcFun does per Analyze call. */
export async function runResourcePolicy(p: PackResourcePolicy, resources: Res[], config: PackConfig = {}): Promise<Outcome> {
    const out: Outcome = { violations: [], notApplicable: [], cannotRun: [] };
    const level = levelOf(p, config);
    if (level === "disabled") {
        return out;
    }
    const validations = Array.isArray(p.validateResource) ? p.validateResource : p.validateResource ? [p.validateResource] : [];
    for (const r of resources) {
        for (const validation of validations) {
            const fastType = typeOf(validation);
            if (!Array.isArray(p.validateResource) && fastType && fastType !== r.type) {
                out.notApplicable.push(`Policy only applies to resources of type '${fastType}'`);
                continue;
            }
            const props = runtimeProps(r.props);
            const urn = urnOf(r, resources);
            const args: ResourceValidationArgs = {
                type: r.type,
                props,
                urn,
                name: r.name,
                opts: options(r.parent ? urnOf(resources.find((x) => `${x.type}::${x.name}` === r.parent) ?? r, resources) : undefined),
                stackTags: new Map(),
                isType: (cls) => isTypeOf(r.type, cls),
                asType: ((cls: unknown) => (isTypeOf(r.type, cls) ? props : undefined)) as ResourceValidationArgs["asType"],
                getConfig: <T extends object>() => engineConfig(p, config) as T,
                notApplicable: (reason?: string): never => {
                    throw new NotApplicableError(reason);
                },
            };
            await settle(p, out, () => validation(args, reporter(p, level, out.violations)));
        }
    }
    return out;
}

/** Runs a stack policy over all resources, like makeAnalyzeStackRpcFun. */
export async function runStackPolicy(p: PackStackPolicy, resources: Res[], config: PackConfig = {}): Promise<Outcome> {
    const out: Outcome = { violations: [], notApplicable: [], cannotRun: [] };
    const level = levelOf(p, config);
    if (level === "disabled") {
        return out;
    }
    const fastType = typeOf(p.validateStack);
    if (fastType && !resources.some((r) => r.type === fastType)) {
        out.notApplicable.push(`Policy only applies to resources of type '${fastType}'`);
        return out;
    }
    const byUrn = new Map<string, PolicyResource>();
    const built = resources.map((r) => {
        const props = runtimeProps(r.props);
        const resource: PolicyResource = {
            type: r.type,
            props,
            urn: urnOf(r, resources),
            name: r.name,
            opts: options(),
            dependencies: [],
            propertyDependencies: {},
            isType: (cls) => isTypeOf(r.type, cls),
            asType: ((cls: unknown) => (isTypeOf(r.type, cls) ? props : undefined)) as PolicyResource["asType"],
        };
        byUrn.set(resource.urn, resource);
        return { r, resource };
    });
    const urnByKey = new Map(built.map(({ r, resource }) => [`${r.type}::${r.name}`, resource.urn]));
    for (const { r, resource } of built) {
        const parentUrn = r.parent ? urnByKey.get(r.parent) : undefined;
        if (parentUrn) {
            resource.parent = byUrn.get(parentUrn);
            resource.opts.parent = parentUrn;
        }
        resource.dependencies = (r.dependsOn ?? []).map((k) => byUrn.get(urnByKey.get(k) ?? "")).filter((d): d is PolicyResource => d !== undefined);
    }
    const args: StackValidationArgs = {
        resources: built.map((b) => b.resource),
        stackTags: new Map(),
        getConfig: <T extends object>() => engineConfig(p, config) as T,
        notApplicable: (reason?: string): never => {
            throw new NotApplicableError(reason);
        },
    };
    await settle(p, out, () => p.validateStack(args, reporter(p, level, out.violations)));
    return out;
}

export function isStackPolicy(p: PackPolicy): p is PackStackPolicy {
    return typeof (p as PackStackPolicy).validateStack === "function";
}

/** Runs any policy of the pack: a resource policy on each resource, a stack policy on all of them. */
export function runPolicy(p: PackPolicy, resources: Res[], config: PackConfig = {}): Promise<Outcome> {
    return isStackPolicy(p) ? runStackPolicy(p, resources, config) : runResourcePolicy(p as PackResourcePolicy, resources, config);
}

/** Runs every policy; violations of all of them, in order. */
export async function runPack(policies: PackPolicy[], resources: Res[], config: PackConfig = {}): Promise<Map<string, Outcome>> {
    const out = new Map<string, Outcome>();
    for (const p of policies) {
        out.set(p.name, await runPolicy(p, resources, config));
    }
    return out;
}
