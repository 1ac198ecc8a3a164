// Runs Pulumi programs under mocks and records what they register: resolved inputs (from the mock
// monitor), parentage and providers (from a stack transformation). Tests assert on these records.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";

/** One resource the program registered. */
export interface Registered {
    type: string;
    name: string;
    /** Inputs as the engine received them (Outputs resolved, secrets unwrapped). */
    inputs: Record<string, any>;
    /** Whether the resource is custom (provider-managed) rather than a component. */
    custom: boolean;
    /** The parent's `type::name`, or undefined for children of the stack. */
    parent?: string;
    /** Provider reference the mock monitor received (`urn::id`). */
    provider?: string;
    /** Resource options as the program passed them (dependsOn, ignoreChanges, ...). */
    opts: pulumi.CustomResourceOptions;
}

/** What a mocked run produced. */
export interface RunResult {
    resources: Registered[];
    /** Stack outputs, resolved (secrets unwrapped). */
    outputs: Record<string, any>;
    /** Keys of stack outputs that were secret. */
    secretOutputs: string[];
    /** Log lines the program wrote through pulumi.log (message only). */
    logs: string[];
}

/** Thrown by a run when the program failed before or while registering. */
export class ProgramFailed extends Error {
    constructor(
        public readonly cause: unknown,
        public readonly resources: Registered[],
    ) {
        super(cause instanceof Error ? cause.message : String(cause));
    }
}

export const PROJECT = "triton-platform";

/** Reads the `config:` block of a stack file into the flat `project:key` -> string form of the runtime. */
export function stackFileConfig(stack: string, root = path.resolve(__dirname, "../..")): Record<string, string> {
    // Pulumi.<stack>.yaml is plain YAML; js-yaml comes with @pulumi/pulumi.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const yaml = require("js-yaml") as typeof import("js-yaml");
    const doc = yaml.load(fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8")) as {
        config?: Record<string, unknown>;
    };
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc.config ?? {})) {
        if (v !== null && typeof v === "object" && "secure" in (v as object)) {
            continue; // encrypted values need the stack's secrets provider; tests pass their own secrets
        }
        flat[k.includes(":") ? k : `${PROJECT}:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    }
    return flat;
}

/**
 * Runs `program` under mocks with the given config. `secrets` are set as secret config values.
 * Every run resets the mock runtime, so one test file may run several programs in sequence.
 */
export async function runMocked(
    program: () => Promise<Record<string, unknown> | void> | Record<string, unknown> | void,
    options: { stack?: string; config?: Record<string, string>; secrets?: Record<string, string>; preview?: boolean } = {},
): Promise<RunResult> {
    const stack = options.stack ?? "test";
    const byUrnName = new Map<string, Registered>();
    const resources: Registered[] = [];
    const logs: string[] = [];
    const inputsByKey = new Map<string, { inputs: any; provider?: string; custom: boolean }>();

    await pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs) {
                inputsByKey.set(`${args.type}::${args.name}`, {
                    inputs: args.inputs,
                    provider: args.provider,
                    custom: args.custom ?? true,
                });
                // Echo inputs as state, plus the few computed fields programs read back.
                const state = { ...args.inputs };
                if (args.type.startsWith("kubernetes:") && state.metadata) {
                    state.metadata = { name: state.metadata.name ?? `${args.name}-mock`, ...state.metadata };
                }
                return { id: args.id || `${args.name}-id`, state };
            },
            call(args: pulumi.runtime.MockCallArgs) {
                return args.inputs;
            },
        },
        PROJECT,
        stack,
        options.preview ?? false,
    );
    const config: Record<string, string> = { ...(options.config ?? {}) };
    const secretKeys: string[] = [];
    for (const [k, v] of Object.entries(options.secrets ?? {})) {
        const key = k.includes(":") ? k : `${PROJECT}:${k}`;
        config[key] = v;
        secretKeys.push(key);
    }
    pulumi.runtime.setAllConfig(config, secretKeys);

    const origLog = { info: pulumi.log.info, warn: pulumi.log.warn, error: pulumi.log.error, debug: pulumi.log.debug };
    const capture = (level: string) => (msg: string) => {
        logs.push(`${level}: ${msg}`);
    };
    Object.assign(pulumi.log, { info: capture("info"), warn: capture("warn"), error: capture("error"), debug: capture("debug") });

    let outputs: Record<string, any> = {};
    let programError: { error: unknown } | undefined;
    // The program's own return value: the stack's resolved outputs no longer say which were secret.
    let programOutputs: Record<string, unknown> = {};
    const secretOutputs: string[] = [];
    try {
        const raw = await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((args) => {
                const rec: Registered = {
                    type: args.type,
                    name: args.name,
                    inputs: {},
                    custom: !(args.resource instanceof pulumi.ComponentResource),
                    opts: args.opts as pulumi.CustomResourceOptions,
                };
                const parent = args.opts.parent;
                if (parent && !(parent instanceof pulumi.runtime.Stack)) {
                    const p = (parent as unknown as { __pulumiType?: string; __name?: string });
                    rec.parent = `${p.__pulumiType}::${p.__name}`;
                }
                resources.push(rec);
                byUrnName.set(`${args.type}::${args.name}`, rec);
                return undefined;
            });
            // Catch here rather than letting the stack's init reject: a rejected init leaves the Stack
            // resource's outputs promise rejected with nobody awaiting it.
            try {
                programOutputs = (await program()) ?? {};
                return programOutputs;
            } catch (e) {
                programError = { error: e };
                return {};
            }
        });
        // runInPulumiStack resolves with the outputs; registrations may still be in flight.
        await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
        if (programError) {
            throw programError.error;
        }
        for (const [k, v] of Object.entries(programOutputs)) {
            if (await isSecretDeep(v)) {
                secretOutputs.push(k);
            }
        }
        outputs = { ...(raw ?? {}) };
    } catch (e) {
        throw new ProgramFailed(e, resources);
    } finally {
        Object.assign(pulumi.log, origLog);
    }
    for (const rec of resources) {
        const got = inputsByKey.get(`${rec.type}::${rec.name}`);
        if (got) {
            rec.inputs = got.inputs;
            rec.provider = got.provider;
            rec.custom = got.custom;
        }
    }
    outputs = JSON.parse(JSON.stringify(outputs));
    return { resources, outputs, secretOutputs, logs };
}

/** True when a value is, or contains, a secret Output. */
async function isSecretDeep(v: unknown): Promise<boolean> {
    if (pulumi.Output.isInstance(v)) {
        return (await (v as unknown as { isSecret: Promise<boolean> }).isSecret) || isSecretDeep(await unwrap(v));
    }
    if (Array.isArray(v)) {
        return (await Promise.all(v.map(isSecretDeep))).some(Boolean);
    }
    if (v !== null && typeof v === "object") {
        return (await Promise.all(Object.values(v).map(isSecretDeep))).some(Boolean);
    }
    return false;
}

/** Resolves an Output to its value (outside any apply: assertions belong after this). */
export function unwrap<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply((v) => resolve(v)));
}

/** The registered resources of one type. */
export function ofType(result: RunResult, type: string): Registered[] {
    return result.resources.filter((r) => r.type === type);
}

/** The single registered resource of a type whose name matches; fails loudly otherwise. */
export function one(result: RunResult, type: string, name?: string | RegExp): Registered {
    const found = ofType(result, type).filter(
        (r) => name === undefined || (typeof name === "string" ? r.name === name : name.test(r.name)),
    );
    if (found.length !== 1) {
        throw new Error(
            `expected exactly one ${type}${name ? ` named ${name}` : ""}, found ${found.length}: ${found.map((r) => r.name).join(", ")}`,
        );
    }
    return found[0];
}
