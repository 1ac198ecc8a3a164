// Program evaluation under Pulumi mocks for growing model counts: one fresh Node.js process per run and
// size (bench/eval-child.ts), TypeScript loaded through ts-node as the Pulumi runtime loads it.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "../test/e2e/support/project";
import type { EvalSample } from "./eval-child";
import { stats, Stats } from "./measure";
import { ProfileSummary, summarizeCpuProfiles } from "./profile";

/** A model count, or the SDK's floor with a resource count (bench/eval-child.ts). */
export type Size = number | { sdkFloor: number };

/** Figures of one size over the runs. */
export interface EvalFigures {
    /** Model count; 0 for the SDK floor. */
    models: number;
    resources: number;
    customResources: number;
    importMs: Stats;
    parseMs: Stats;
    deployMs: Stats;
    evalMs: Stats;
    evalCpuMs: Stats;
    /** Median evaluation time divided by the resource count. */
    msPerResource: number;
    cpuMsPerResource: number;
    peakRssBytes: Stats;
    peakHeapBytes: Stats;
    retainedHeapBytes: Stats;
    samples: EvalSample[];
}

/**
 * Runs one evaluation in a new process: the TypeScript sources through the project's loader, as
 * main.js loads them (bench/eval-entry.js), or with `compiled` the JavaScript bench/compile.ts emitted
 * there.
 */
function runChild(size: Size, env: Record<string, string> = {}, compiled?: string): EvalSample {
    const arg = typeof size === "number" ? String(size) : `sdk-floor:${size.sdkFloor}`;
    const args = compiled
        ? ["--expose-gc", path.join(compiled, "bench/eval-child.js"), arg]
        : ["--expose-gc", path.join(__dirname, "eval-entry.js"), arg];
    const out = execFileSync(process.execPath, args, {
        cwd: compiled ?? REPO_ROOT,
        env: { ...process.env, ...env },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        maxBuffer: 16 * 1024 * 1024,
    });
    const line = out.trim().split("\n").pop() ?? "";
    return JSON.parse(line) as EvalSample;
}

/**
 * Evaluates each size `runs` times, interleaving the sizes round by round, after one untimed warm-up
 * run (the first process after a while pays for cold file caches). `compiled`: the what-if on
 * precompiled JavaScript.
 */
export function measureEvaluation(sizes: Size[], runs: number, log: (m: string) => void, compiled?: string): EvalFigures[] {
    const samples = new Map<Size, EvalSample[]>(sizes.map((n) => [n, []]));
    const label = (n: Size) => (typeof n === "number" ? `${n} model(s)` : "SDK floor");
    runChild(sizes[0], {}, compiled);
    for (let round = 0; round < runs; round++) {
        for (const n of sizes) {
            const s = runChild(n, {}, compiled);
            samples.get(n)!.push(s);
            log(`  run ${round + 1}/${runs}: ${label(n)}: ${s.resources} resources, evaluation ${s.evalMs.toFixed(0)} ms`);
        }
    }
    return sizes.map((n) => {
        const all = samples.get(n)!;
        const pick = (f: (s: EvalSample) => number) => stats(all.map(f));
        const resources = all[0].resources;
        if (all.some((s) => s.resources !== resources)) {
            throw new Error(`${label(n)}: the resource count changed between runs`);
        }
        const evalMs = pick((s) => s.evalMs);
        const evalCpuMs = pick((s) => s.evalCpuMs);
        return {
            models: all[0].models,
            resources,
            customResources: all[0].customResources,
            importMs: pick((s) => s.importMs),
            parseMs: pick((s) => s.parseMs),
            deployMs: pick((s) => s.deployMs),
            evalMs,
            evalCpuMs,
            msPerResource: evalMs.median / resources,
            cpuMsPerResource: evalCpuMs.median / resources,
            peakRssBytes: pick((s) => s.peakRssBytes),
            peakHeapBytes: pick((s) => s.peakHeapBytes),
            retainedHeapBytes: pick((s) => s.retainedHeapBytes),
            samples: all,
        };
    });
}

/** The CPU profile of one evaluation of `models` models (parse and deploy only), summarised. */
export function profileEvaluation(models: number, dir: string): ProfileSummary {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `evaluation-${models}-models.cpuprofile`);
    runChild(models, { BENCH_EVAL_PROFILE: file });
    return summarizeCpuProfiles([file], { label: `evaluation of ${models} models under mocks (parse and deploy)`, projectRoot: REPO_ROOT });
}
