// Builders for the pack's policies. Every policy of the pack is declared through `resourcePolicy` or
// `stackPolicy`, which add what the SDK leaves to each author: config defaults applied the same way
// the engine applies them, messages that name the resource, and unknown-value handling for stack
// policies that does not throw away the findings already made.
//
// Rule for every message: name the resource (type and name) and the fix; never print a property
// value. Policies receive secrets in plain text (the engine unwraps them before analysis).
import {
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    UnknownValueError,
} from "@pulumi/policy";
import { PolicyConfigJSONSchema } from "@pulumi/policy/schema";

/** The areas of the pack, in the order the docs list them. */
export const AREAS = ["workloads", "pod-security", "network", "secrets", "server", "operations"] as const;
export type Area = (typeof AREAS)[number];

/** A config property of a policy: its JSON schema and its default (the engine fills defaults in). */
export type ConfigProperty<T> = PolicyConfigJSONSchema & { default: T };
export type ConfigSpec<C> = { [K in keyof C]: ConfigProperty<C[K]> };

/** What every policy of the pack carries beyond the SDK's fields (the runtime ignores extra fields). */
export interface PackPolicyInfo {
    /** Where the policy sits in the docs. */
    area: Area;
    /** What the policy inspects and how, in one or two sentences (docs/POLICIES.md "What it checks"). */
    details: string;
    /** The guide requirement or public check it encodes, e.g. "R13" or "kube-score". */
    source: string;
}

export type PackResourcePolicy = ResourceValidationPolicy & PackPolicyInfo & { enforcementLevel: EnforcementLevel };
export type PackStackPolicy = StackValidationPolicy & PackPolicyInfo & { enforcementLevel: EnforcementLevel };
export type PackPolicy = PackResourcePolicy | PackStackPolicy;

interface CommonSpec<C> extends PackPolicyInfo {
    name: string;
    /** One sentence. */
    description: string;
    /** mandatory for security and availability, advisory for hygiene. */
    enforcementLevel: "mandatory" | "advisory";
    /** How to fix a violation (shown by the Pulumi Cloud console and the docs). */
    remediation: string;
    config?: ConfigSpec<C>;
}

/** `kubernetes:apps/v1:Deployment "model-blue"`: how every message names a resource. */
export function resourceLabel(type: string, name: string): string {
    return `${type} "${name}"`;
}

/** Quotes an identifier (container, volume, env var or label name) for a message. */
export function ident(s: unknown): string {
    const text = typeof s === "string" ? s : String(s);
    return `"${text.length > 63 ? `${text.slice(0, 60)}...` : text}"`;
}

/** The config a policy runs with: schema defaults first, then what the engine passed. */
export function readConfig<C>(spec: ConfigSpec<C> | undefined, given: object): C {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(spec ?? {}) as [string, ConfigProperty<unknown>][]) {
        out[k] = v.default;
    }
    for (const [k, v] of Object.entries(given)) {
        if (v !== undefined && k !== "enforcementLevel") {
            out[k] = v;
        }
    }
    return out as C;
}

function configSchemaOf<C>(spec: ConfigSpec<C> | undefined): ResourceValidationPolicy["configSchema"] {
    if (!spec || Object.keys(spec).length === 0) {
        return undefined;
    }
    return { properties: spec as unknown as Record<string, PolicyConfigJSONSchema> };
}

/** What a resource validation sees. */
export interface ResourceContext<C> {
    args: ResourceValidationArgs;
    /** The resource's inputs (wrapped by the runtime's unknown-checking proxy). */
    props: Record<string, any>;
    type: string;
    name: string;
    /** `type "name"`, for messages. */
    label: string;
    config: C;
    /** Reports one violation; the message starts with the resource label. */
    report(problem: string, fix: string): void;
}

/** What the pack, the docs table and the PR report show of a policy: the same for both kinds. */
function policyMetadata<C>(spec: CommonSpec<C>) {
    return {
        name: spec.name,
        description: spec.description,
        enforcementLevel: spec.enforcementLevel,
        remediationSteps: spec.remediation,
        tags: [spec.area],
        configSchema: configSchemaOf(spec.config),
        area: spec.area,
        details: spec.details,
        source: spec.source,
    };
}

/**
 * A resource policy for the given type tokens ("*" for every type). With a single token the
 * validation carries `__pulumiType`, so the runtime skips other types without calling it (the same
 * fast path `validateResourceOfType` uses); otherwise the validation calls `notApplicable` itself.
 */
export function resourcePolicy<C = Record<string, never>>(
    spec: CommonSpec<C> & {
        types: readonly string[] | "*" | ((type: string) => boolean);
        validate: (ctx: ResourceContext<C>) => void;
    },
): PackResourcePolicy {
    const applies =
        spec.types === "*" ? () => true : typeof spec.types === "function" ? spec.types : (t: string) => (spec.types as readonly string[]).includes(t);
    const validation = (args: ResourceValidationArgs, reportViolation: ReportViolation): void => {
        if (!applies(args.type)) {
            args.notApplicable(`Policy only applies to ${Array.isArray(spec.types) ? spec.types.join(", ") : "some"} resources`);
        }
        const label = resourceLabel(args.type, args.name);
        spec.validate({
            args,
            props: args.props,
            type: args.type,
            name: args.name,
            label,
            config: readConfig(spec.config, args.getConfig()),
            report: (problem, fix) => reportViolation(`${label}: ${problem}. Fix: ${fix}.`),
        });
    };
    if (Array.isArray(spec.types) && spec.types.length === 1) {
        (validation as unknown as { __pulumiType: string }).__pulumiType = spec.types[0];
    }
    return {
        ...policyMetadata(spec),
        validateResource: validation,
    };
}

/** What a stack validation sees. */
export interface StackContext<C> {
    args: StackValidationArgs;
    resources: PolicyResource[];
    config: C;
    /** Reports a violation against one resource; the message starts with its label. */
    report(resource: PolicyResource, problem: string, fix: string): void;
    /** Reports a violation of the stack as a whole. */
    reportStack(problem: string, fix: string): void;
    /**
     * Runs `fn` on one resource's values. An unknown value (preview) skips that resource instead of
     * aborting the whole policy; the first such error is rethrown after the validation, so the
     * runtime records "can't run during preview" as well as every violation already reported.
     */
    known<T>(fn: () => T): T | undefined;
    /** Marks the policy not applicable (throws, like the runtime's notApplicable). */
    notApplicable(reason: string): never;
}

/** A stack policy: sees every resource's outputs after the preview. */
export function stackPolicy<C = Record<string, never>>(
    spec: CommonSpec<C> & { validate: (ctx: StackContext<C>) => void },
): PackStackPolicy {
    const validateStack = (args: StackValidationArgs, reportViolation: ReportViolation): void => {
        let firstUnknown: UnknownValueError | undefined;
        const ctx: StackContext<C> = {
            args,
            resources: args.resources,
            config: readConfig(spec.config, args.getConfig()),
            report: (r, problem, fix) => reportViolation(`${resourceLabel(r.type, r.name)}: ${problem}. Fix: ${fix}.`, r.urn),
            reportStack: (problem, fix) => reportViolation(`stack: ${problem}. Fix: ${fix}.`),
            known: <T>(fn: () => T): T | undefined => {
                try {
                    return fn();
                } catch (e) {
                    if (e instanceof UnknownValueError) {
                        firstUnknown ??= e;
                        return undefined;
                    }
                    throw e;
                }
            },
            notApplicable: (reason) => args.notApplicable(reason),
        };
        spec.validate(ctx);
        if (firstUnknown) {
            throw firstUnknown;
        }
    };
    return {
        ...policyMetadata(spec),
        validateStack,
    };
}
