// Summarises V8 CPU profiles (`node --cpu-prof`, or the chunks bench/cpu-profile-hook.js writes) into
// where the time went: phases (type-check, transpile, module loading, stack traces, GC, the program's
// own code), self time per package or project folder, and the heaviest functions. The benchmark puts
// these tables in the report when a target is missed, so "what dominated" comes from a measurement.
import * as fs from "fs";
import * as path from "path";

/** The parts of a .cpuprofile file this summary reads. */
interface CpuProfile {
    nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
    /** Microseconds. */
    startTime: number;
    endTime: number;
    samples: number[];
    /** Microseconds between samples. */
    timeDeltas: number[];
}

interface CallFrame {
    functionName: string;
    url: string;
    lineNumber: number;
}

/** One line of a summary: a name and the milliseconds of CPU samples attributed to it. */
export interface ProfileEntry {
    name: string;
    ms: number;
}

/** Where one process spent its time. */
export interface ProfileSummary {
    /** What the process was (`program`, `policy pack`, ...). */
    label: string;
    /** The profiled lifetime (sum over chunks), without the profiler's own restarts, ms. */
    wallMs: number;
    /** What the profiler's restarts between chunks took, ms (left out of every other figure). */
    profilerMs: number;
    /** Sampled time that was not idle, ms. */
    busyMs: number;
    /** Each sample in exactly one phase, by what is on its stack (see {@link phaseOf}). */
    phases: ProfileEntry[];
    /** Self time per package (`node_modules/<pkg>`), project folder, or V8 bucket (GC, idle). */
    byCategory: ProfileEntry[];
    /** Self time per function (`name file:line`). */
    byFunction: ProfileEntry[];
}

/**
 * The bucket a script URL belongs to: the npm package for dependencies, the first two folders for the
 * project's own files (`components/model-service`), `node:internal` for Node's own code.
 */
export function categoryOf(url: string, functionName: string, projectRoot?: string): string {
    if (!url) {
        // V8's pseudo-frames: (program) is native work outside JS, (garbage collector), (idle), (root).
        return functionName.startsWith("(") ? functionName : "(native)";
    }
    if (url.startsWith("node:")) {
        return "node:internal";
    }
    const file = fileOf(url);
    const nm = file.lastIndexOf("/node_modules/");
    if (nm >= 0) {
        const rest = file.slice(nm + "/node_modules/".length).split("/");
        return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
    }
    const rel = projectRoot ? path.relative(projectRoot, file) : file;
    if (rel.startsWith("..")) {
        return rel;
    }
    const parts = rel.split(path.sep);
    return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts.length === 2 ? parts[0] : rel;
}

function fileOf(url: string): string {
    return url.startsWith("file://") ? decodeURIComponent(url.slice("file://".length)) : url;
}

/** The phase of the samples the profiler's own restarts account for (not counted as busy). */
export const PROFILER = "(profiler restarts)";

/** Phases, in the order a sample is tested against them (the first match wins). */
const PHASES: { name: string; matches: (stack: CallFrame[]) => boolean }[] = [
    // The hook stops and restarts the profiler every second; V8 books the gap on the inspector call.
    { name: PROFILER, matches: (s) => s[0]?.functionName === "dispatch" && s[1]?.url === "node:inspector" },
    { name: "garbage collection", matches: (s) => s[0]?.functionName === "(garbage collector)" },
    { name: "idle (waiting for the engine, providers, I/O)", matches: (s) => s[0]?.functionName === "(idle)" },
    { name: "TypeScript transpile (ts-node, transpile-only)", matches: (s) => s.some((f) => f.functionName === "transpileModule") },
    { name: "TypeScript transpile (sucrase, tools/ts-loader.js)", matches: (s) => s.some((f) => f.url.includes("/node_modules/sucrase/")) },
    {
        name: "TypeScript type-check and emit (ts-node)",
        matches: (s) => s.some((f) => f.url.includes("/typescript/lib/typescript.js") && !f.functionName.startsWith("(")) && s.some((f) => f.url.includes("/ts-node/")),
    },
    { name: "loading TypeScript itself (typescript.js)", matches: (s) => s.some((f) => f.url.includes("/typescript/lib/typescript.js") || f.url.includes("typescript-shim")) },
    {
        name: "stack traces (Error.stack, source-mapped)",
        matches: (s) => s.some((f) => f.functionName === "prepareStackTraceCallback" || f.url.includes("source-map-support") || f.functionName === "get stack"),
    },
    { name: "loading JavaScript modules (require, V8 compile)", matches: (s) => s.some((f) => f.functionName === "Module._load") },
];

/** The phase of one sample, given its stack (leaf first). */
export function phaseOf(stack: CallFrame[], projectRoot?: string): string {
    for (const p of PHASES) {
        if (p.matches(stack)) {
            return p.name;
        }
    }
    const leaf = stack[0];
    if (!leaf) {
        return "other";
    }
    const category = categoryOf(leaf.url, leaf.functionName, projectRoot);
    if (leaf.url && !leaf.url.startsWith("node:") && !fileOf(leaf.url).includes("/node_modules/")) {
        return "the program's own code";
    }
    if (category === "@pulumi/pulumi") {
        return "Pulumi SDK runtime (@pulumi/pulumi)";
    }
    if (category === "@grpc/grpc-js" || category === "google-protobuf") {
        return "gRPC and protobuf";
    }
    if (category === "zod") {
        return "zod (definition parsing)";
    }
    return "other";
}

/**
 * Reads and summarises the .cpuprofile files of one process (one file, or the chunks the hook wrote).
 * `top` limits the category and function tables.
 */
export function summarizeCpuProfiles(files: string[], options: { label: string; projectRoot?: string; top?: number }): ProfileSummary {
    const top = options.top ?? 10;
    const categories = new Map<string, number>();
    const functions = new Map<string, number>();
    const phases = new Map<string, number>();
    const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);
    let wallUs = 0;
    let busyUs = 0;
    let profilerUs = 0;
    for (const file of files) {
        const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
        wallUs += profile.endTime - profile.startTime;
        const byId = new Map(profile.nodes.map((n) => [n.id, n] as const));
        const parent = new Map<number, number>();
        for (const n of profile.nodes) {
            for (const c of n.children ?? []) {
                parent.set(c, n.id);
            }
        }
        const selfUs = new Map<number, number>();
        profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
        for (const [id, us] of selfUs) {
            const stack: CallFrame[] = [];
            for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
                const frame = byId.get(cur)?.callFrame;
                if (frame) {
                    stack.push(frame);
                }
            }
            const leaf = stack[0];
            if (!leaf) {
                continue;
            }
            const phase = phaseOf(stack, options.projectRoot);
            if (phase === PROFILER) {
                profilerUs += us;
                continue;
            }
            add(phases, phase, us);
            const category = categoryOf(leaf.url, leaf.functionName, options.projectRoot);
            add(categories, category, us);
            if (category !== "(idle)") {
                busyUs += us;
            }
            if (leaf.url) {
                const file = fileOf(leaf.url);
                const where = options.projectRoot && !file.startsWith("node:") ? path.relative(options.projectRoot, file) : file;
                add(functions, `${leaf.functionName || "(anonymous)"} ${where}:${leaf.lineNumber + 1}`, us);
            }
        }
    }
    const table = (m: Map<string, number>, n: number) =>
        [...m.entries()]
            .map(([name, us]) => ({ name, ms: us / 1000 }))
            .sort((a, b) => b.ms - a.ms)
            .slice(0, n);
    return {
        label: options.label,
        wallMs: (wallUs - profilerUs) / 1000,
        profilerMs: profilerUs / 1000,
        busyMs: busyUs / 1000,
        phases: table(phases, PHASES.length + 8),
        byCategory: table(categories, top),
        byFunction: table(functions, top),
    };
}

/**
 * The profiled processes of a folder the hook wrote, grouped by process, with what each one was. Short
 * helper processes (version probes, launchers) are left out: they hold no time worth reporting.
 */
export function hookedProcesses(dir: string, minWallMs = 500): { pid: string; label: string; files: string[] }[] {
    if (!fs.existsSync(dir)) {
        return [];
    }
    const byPid = new Map<string, string[]>();
    for (const f of fs.readdirSync(dir).sort()) {
        const m = /^(\d+)\.\d+\.cpuprofile$/.exec(f);
        if (m) {
            byPid.set(m[1], [...(byPid.get(m[1]) ?? []), path.join(dir, f)]);
        }
    }
    const out: { pid: string; label: string; files: string[] }[] = [];
    for (const [pid, files] of byPid) {
        const wall = files.reduce((sum, f) => {
            const p = JSON.parse(fs.readFileSync(f, "utf8")) as CpuProfile;
            return sum + (p.endTime - p.startTime) / 1000;
        }, 0);
        if (wall < minWallMs) {
            continue;
        }
        let argv: string[] = [];
        try {
            argv = (JSON.parse(fs.readFileSync(path.join(dir, `${pid}.argv.json`), "utf8")) as { argv: string[] }).argv;
        } catch {
            // unlabelled process
        }
        const joined = argv.join(" ");
        const label = joined.includes("run-policy-pack") ? "policy pack" : joined.includes("cmd/run") ? "program" : argv.slice(1).join(" ") || `pid ${pid}`;
        out.push({ pid, label, files });
    }
    return out;
}
