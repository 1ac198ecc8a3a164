// Stack definitions for tests, built by the program's own parser (never hand-made objects).
import { parseDefinition, StackDefinition } from "../../stack/definition";
import { PROJECT, stackFileConfig } from "./harness";

/** Parses raw top-level config values; throws with every problem when they are invalid. */
export function definitionFrom(raw: Record<string, unknown>, stack = "test"): StackDefinition {
    const parsed = parseDefinition(raw, { project: PROJECT, stack });
    if (!parsed.ok) {
        throw new Error(parsed.issues.map((i) => `${i.key}: ${i.message}`).join("\n"));
    }
    return parsed.definition;
}

/** The raw config of a repository stack file (Pulumi.<stack>.yaml), decoded like the runtime does. */
export function stackFileRaw(stack: string): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(stackFileConfig(stack))) {
        raw[k.slice(PROJECT.length + 1)] = /^[[{]/.test(v) ? JSON.parse(v) : v;
    }
    return raw;
}

/** A repository stack's definition, with top-level keys overridden. */
export function stackDefinition(stack: string, override: Record<string, unknown> = {}): StackDefinition {
    return definitionFrom({ ...stackFileRaw(stack), ...override }, stack);
}
