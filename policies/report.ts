// Turns a `pulumi preview --policy-pack policies` run into the pull-request comment and the gate's
// verdict.
//
// Why an engine event log and not `--json`: `pulumi preview --json` prints a digest that leaves
// policy events out (pkg/backend/display/json.go: "we don't handle policy events in JSON
// serialization"); `--event-log <file>` writes every engine event as one JSON object per line
// (apitype.EngineEvent), policy violations included. This script also reads a JSON array or
// `{"events": [...]}` of the same events (PULUMI_ENABLE_STREAMING_JSON_PREVIEW output).
//
// Why the levels are recomputed: CI runs the preview with every policy advisory (so a mandatory
// violation does not stop the preview before the comment is posted); the level a violation really
// has comes from the pack's defaults and the reviewed policy config, exactly as the engine would
// combine them (per-policy level, else `all`, else the policy's default).
//
//   ts-node policies/report.ts advisory-config --config policies/policy-config.example.json --out advisory.json
//   ts-node policies/report.ts comment --events events.ndjson --config <config> --stack prod [--exit-code N] [--out comment.md] [--run-url U] [--docs-url U]
//   ts-node policies/report.ts gate    --events events.ndjson --config <config> [--exit-code N]
import * as fs from "fs";
import { PACK_NAME, policies as packPolicies } from "./catalog";
import { PackPolicy } from "./lib/policy";

export type Level = "advisory" | "mandatory" | "remediate" | "disabled";
/** A policy config file: `{ "all": level, "<policy>": level | { enforcementLevel?, ...properties } }`. */
export type PolicyConfigFile = Record<string, Level | ({ enforcementLevel?: Level } & Record<string, unknown>)>;

/** Marker of the comment, so the workflow updates its own comment instead of adding one per push. */
export const COMMENT_MARKER = "<!-- triton-platform:policy-report -->";
export const DOCS_LINK = "docs/POLICIES.md#how-a-reviewer-reads-the-result";

function levelIn(entry: PolicyConfigFile[string] | undefined): Level | undefined {
    return typeof entry === "string" ? entry : entry?.enforcementLevel;
}

/** The level each policy has under a config file, as the engine reconciles it. */
export function effectiveLevels(config: PolicyConfigFile, list: PackPolicy[] = packPolicies): Map<string, Level> {
    const all = levelIn(config.all);
    return new Map(list.map((p) => [p.name, levelIn(config[p.name]) ?? all ?? (p.enforcementLevel as Level) ?? "advisory"]));
}

/**
 * The config CI previews with: every policy advisory (disabled ones stay disabled), properties kept.
 * The engine applies `all` first and per-policy levels after it, so per-policy levels are removed.
 */
export function advisoryConfig(config: PolicyConfigFile, list: PackPolicy[] = packPolicies): PolicyConfigFile {
    const levels = effectiveLevels(config, list);
    const out: PolicyConfigFile = { all: "advisory" };
    for (const [name, entry] of Object.entries(config)) {
        if (name === "all") continue;
        const props = typeof entry === "object" ? Object.fromEntries(Object.entries(entry).filter(([k]) => k !== "enforcementLevel")) : {};
        const disabled = levels.get(name) === "disabled";
        if (Object.keys(props).length > 0 || disabled) {
            out[name] = { ...(disabled ? { enforcementLevel: "disabled" as Level } : {}), ...props };
        }
    }
    for (const [name, level] of levels) {
        if (level === "disabled" && out[name] === undefined) out[name] = "disabled";
    }
    return out;
}

/** One engine event (apitype.EngineEvent), the fields this script reads. */
export interface EngineEvent {
    sequence?: number;
    policyEvent?: {
        resourceUrn?: string;
        message: string;
        policyName: string;
        policyPackName: string;
        policyPackVersion?: string;
        enforcementLevel: string;
        severity?: string;
    };
    policyAnalyzeSummaryEvent?: { policyPackName: string; passed?: string[]; failed?: string[] };
    policyAnalyzeStackSummaryEvent?: { policyPackName: string; passed?: string[]; failed?: string[] };
    policyLoadEvent?: Record<string, never>;
    diagnosticEvent?: { urn?: string; message: string; severity: string; ephemeral?: boolean };
    summaryEvent?: { PolicyPacks?: Record<string, string>; result?: string; isPreview?: boolean; resourceChanges?: Record<string, number> };
    cancelEvent?: Record<string, never>;
}

/** Reads an event log: JSON lines, a JSON array, or `{ "events": [...] }`. */
export function parseEvents(text: string): EngineEvent[] {
    const t = text.trim();
    if (t === "") return [];
    if (t.startsWith("[")) return JSON.parse(t) as EngineEvent[];
    if (t.startsWith("{") && !t.includes("\n")) {
        const one = JSON.parse(t) as { events?: EngineEvent[] } & EngineEvent;
        return Array.isArray(one.events) ? one.events : [one];
    }
    try {
        const doc = JSON.parse(t) as { events?: EngineEvent[]; steps?: unknown };
        if (Array.isArray(doc.events)) return doc.events;
        if (doc.steps !== undefined) {
            throw new Error("this is a `pulumi preview --json` digest, which holds no policy events: pass the file written by --event-log");
        }
    } catch (e) {
        if (e instanceof Error && e.message.includes("--event-log")) throw e;
    }
    return t
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l, i) => {
            try {
                return JSON.parse(l) as EngineEvent;
            } catch {
                throw new Error(`event log line ${i + 1} is not JSON`);
            }
        });
}

/** Removes Pulumi colour directives (`<{%fg 1%}>`) and ANSI escapes. */
export function stripColor(s: string): string {
    return s.replace(/<\{%[^%]*%\}>/g, "").replace(/\x1b\[[0-9;]*m/g, "");
}

/** `type` and `name` of a URN (`urn:pulumi:stack::project::parent$type::name`). */
export function parseUrn(urn: string | undefined): { type: string; name: string } | undefined {
    if (!urn) return undefined;
    const parts = urn.split("::");
    if (parts.length < 4) return undefined;
    const qualified = parts[2];
    return { type: qualified.slice(qualified.lastIndexOf("$") + 1), name: parts.slice(3).join("::") };
}

export interface Finding {
    policy: string;
    /** The level the policy has under the reviewed config (not the advisory level of the CI run). */
    level: Level;
    /** `type "name"`, or `stack`. */
    resource: string;
    message: string;
}

export interface PreviewResult {
    findings: Finding[];
    /** Policies that could not run on some resource because values were unknown during preview. */
    cannotRun: { policy: string; level: Level; resource: string; message: string }[];
    /** Error diagnostics of the preview itself. */
    errors: string[];
    /** A summary event arrived: the preview ran to the end. */
    completed: boolean;
    /** The summary's result (succeeded/failed/canceled), when the CLI reports it. */
    result?: string;
    /** The pack took part (summary lists it, or it reported anything). */
    packRan: boolean;
    /** Policies with no violation anywhere, and policies with one. */
    passed: string[];
    failed: string[];
}

const CANNOT_RUN = /^can't run policy '/;

/** Reads the events of one preview into findings, with levels from the reviewed config. */
export function analyze(events: EngineEvent[], levels: Map<string, Level>, packName = PACK_NAME, list: PackPolicy[] = packPolicies): PreviewResult {
    const descriptions = new Map(list.map((p) => [p.name, p.description]));
    const res: PreviewResult = { findings: [], cannotRun: [], errors: [], completed: false, packRan: false, passed: [], failed: [] };
    const seen = new Set<string>();
    const failed = new Set<string>();
    for (const e of events) {
        const pe = e.policyEvent;
        if (pe && pe.policyPackName === packName) {
            res.packRan = true;
            const r = parseUrn(pe.resourceUrn);
            const resource = r ? `${r.type} "${r.name}"` : "stack";
            let message = stripColor(pe.message).trim();
            const description = descriptions.get(pe.policyName);
            if (description && message.startsWith(`${description}\n`)) {
                message = message.slice(description.length + 1).trim();
            }
            // Messages start with the resource label (lib/policy.ts); the report shows it in its own column.
            if (message.startsWith(`${resource}: `)) {
                message = message.slice(resource.length + 2);
            }
            const level = levels.get(pe.policyName) ?? (pe.enforcementLevel as Level);
            const key = `${pe.policyName}\u0000${resource}\u0000${message}`;
            if (seen.has(key)) continue;
            seen.add(key);
            if (CANNOT_RUN.test(message)) {
                res.cannotRun.push({ policy: pe.policyName, level, resource, message });
            } else {
                res.findings.push({ policy: pe.policyName, level, resource, message });
                failed.add(pe.policyName);
            }
        }
        for (const s of [e.policyAnalyzeSummaryEvent, e.policyAnalyzeStackSummaryEvent]) {
            if (s && s.policyPackName === packName) {
                res.packRan = true;
            }
        }
        const d = e.diagnosticEvent;
        if (d && d.severity === "error" && !d.ephemeral) {
            const text = stripColor(d.message).trim();
            res.errors.push(text.length > 600 ? `${text.slice(0, 600)}...` : text);
        }
        if (e.summaryEvent) {
            res.completed = true;
            res.result = e.summaryEvent.result;
            if (e.summaryEvent.PolicyPacks && packName in e.summaryEvent.PolicyPacks) res.packRan = true;
        }
    }
    res.failed = list.map((p) => p.name).filter((n) => failed.has(n));
    // Every enabled policy of the pack that reported no violation passed (or did not apply).
    res.passed = list.map((p) => p.name).filter((n) => !failed.has(n) && levels.get(n) !== "disabled");
    return res;
}

export interface Verdict {
    ok: boolean;
    reasons: string[];
}

/** The gate: mandatory violations, a preview that did not complete, or a pack that did not run fail it. */
export function verdict(r: PreviewResult, previewExitCode = 0): Verdict {
    const reasons: string[] = [];
    const mandatory = r.findings.filter((f) => f.level === "mandatory");
    if (mandatory.length > 0) {
        reasons.push(`${mandatory.length} mandatory policy violation${mandatory.length === 1 ? "" : "s"}`);
    }
    if (!r.completed || r.result === "failed" || r.result === "canceled") {
        reasons.push("the preview did not complete");
    } else if (previewExitCode !== 0) {
        reasons.push(`the preview exited with code ${previewExitCode}`);
    }
    if (!r.packRan) {
        reasons.push(`the policy pack ${PACK_NAME} did not run`);
    }
    if (r.errors.length > 0 && !reasons.includes("the preview did not complete")) {
        reasons.push(`the preview reported ${r.errors.length} error${r.errors.length === 1 ? "" : "s"}`);
    }
    return { ok: reasons.length === 0, reasons };
}

/** Escapes a table cell: no pipes, no raw HTML, newlines as <br>. */
function cell(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

function table(rows: { policy: string; level: string; resource: string; message: string }[]): string[] {
    return [
        "| Policy | Level | Resource | What is wrong and how to fix it |",
        "| --- | --- | --- | --- |",
        ...rows.map((f) => `| \`${cell(f.policy)}\` | ${cell(f.level)} | ${cell(f.resource)} | ${cell(f.message)} |`),
    ];
}

/** The pull-request comment. */
export function renderComment(r: PreviewResult, opts: { stack: string; previewExitCode?: number; runUrl?: string; docsUrl?: string; total?: number }): string {
    const v = verdict(r, opts.previewExitCode ?? 0);
    const mandatory = r.findings.filter((f) => f.level === "mandatory");
    const advisory = r.findings.filter((f) => f.level !== "mandatory");
    const total = opts.total ?? packPolicies.length;
    const lines: string[] = [COMMENT_MARKER];
    lines.push(
        v.ok
            ? `## ✅ Policy check passed (stack \`${opts.stack}\`)`
            : `## ❌ Policy check failed (stack \`${opts.stack}\`): ${v.reasons.join("; ")}`,
        "",
        `${total - r.failed.length} of ${total} policies found nothing. Violations: ${mandatory.length} mandatory, ${advisory.length} advisory.` +
            (r.cannotRun.length > 0 ? ` Not verified during preview: ${r.cannotRun.length} check${r.cannotRun.length === 1 ? "" : "s"}.` : ""),
        "",
    );
    if (mandatory.length > 0) {
        lines.push("### Mandatory: must be fixed before merge", "", ...table(mandatory), "");
    }
    if (advisory.length > 0) {
        lines.push(`<details><summary>Advisory: ${advisory.length} finding${advisory.length === 1 ? "" : "s"} to consider</summary>`, "", ...table(advisory), "", "</details>", "");
    }
    if (r.cannotRun.length > 0) {
        lines.push(
            `<details><summary>Not verified in this preview: ${r.cannotRun.length} check${r.cannotRun.length === 1 ? "" : "s"} (values known only after the update)</summary>`,
            "",
            ...table(r.cannotRun),
            "",
            "</details>",
            "",
        );
    }
    if (r.errors.length > 0) {
        lines.push("### Preview errors", "", ...r.errors.map((e) => `- ${cell(e)}`), "");
    }
    if (!r.packRan) {
        lines.push(`> The policy pack \`${PACK_NAME}\` reported nothing: check that the preview ran with \`--policy-pack policies\`.`, "");
    }
    lines.push(
        `Levels are the reviewed ones (pack defaults and the policy config), not the advisory levels the preview ran with. How to read this: ${opts.docsUrl ? `[${DOCS_LINK}](${opts.docsUrl})` : `\`${DOCS_LINK}\``}` +
            (opts.runUrl ? ` · [workflow run](${opts.runUrl})` : ""),
    );
    return `${lines.join("\n")}\n`;
}

function arg(argv: string[], name: string): string | undefined {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
}

function readConfig(path: string | undefined): PolicyConfigFile {
    return path ? (JSON.parse(fs.readFileSync(path, "utf8")) as PolicyConfigFile) : {};
}

/** CLI. Returns the process exit code. */
export function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): number {
    const [command] = argv;
    const config = readConfig(arg(argv, "config"));
    if (command === "advisory-config") {
        const text = `${JSON.stringify(advisoryConfig(config), null, 4)}\n`;
        const dest = arg(argv, "out");
        if (dest) fs.writeFileSync(dest, text);
        else out(text);
        return 0;
    }
    if (command !== "comment" && command !== "gate") {
        out("usage: report.ts advisory-config|comment|gate --config <policy config> [--events <event log>] [--stack <stack>] [--exit-code <n>] [--out <file>] [--run-url <url>] [--docs-url <url>]\n");
        return 2;
    }
    const eventsPath = arg(argv, "events");
    const events = eventsPath && fs.existsSync(eventsPath) ? parseEvents(fs.readFileSync(eventsPath, "utf8")) : [];
    const result = analyze(events, effectiveLevels(config));
    const exitCode = Number(arg(argv, "exit-code") ?? "0");
    if (command === "comment") {
        const text = renderComment(result, {
            stack: arg(argv, "stack") ?? "prod",
            previewExitCode: exitCode,
            runUrl: arg(argv, "run-url"),
            docsUrl: arg(argv, "docs-url"),
        });
        const dest = arg(argv, "out");
        if (dest) fs.writeFileSync(dest, text);
        else out(text);
        return 0;
    }
    const v = verdict(result, exitCode);
    out(v.ok ? "policy gate: passed\n" : `policy gate: failed: ${v.reasons.join("; ")}\n`);
    for (const f of result.findings.filter((x) => x.level === "mandatory")) {
        out(`  mandatory ${f.policy}: ${f.resource}: ${f.message}\n`);
    }
    return v.ok ? 0 : 1;
}

if (require.main === module) {
    process.exitCode = main(process.argv.slice(2));
}
