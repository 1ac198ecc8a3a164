// The unit suite's wall time (`npx vitest run --project unit`), with vitest's own split of it (import,
// tests, transform) and the slowest files, so a miss says where the time went.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "../test/e2e/support/project";
import { stats, Stats, timed } from "./measure";

/** One run of the suite. */
export interface UnitRun {
    wallMs: number;
    cpuMs: number;
    exitCode: number;
    passed: number;
    failed: number;
    skipped: number;
    files: number;
    /** Vitest's summary, e.g. `import 55.53s, tests 50.05s` (summed over workers, so above the wall time). */
    phases: Record<string, number>;
    /** Test files by duration, slowest first. */
    slowest: { file: string; ms: number }[];
}

export interface UnitFigures {
    /** Options added to `npx vitest run --project unit` (none for the measurement itself). */
    extraArgs: string[];
    wall: Stats;
    cpu: Stats;
    runs: UnitRun[];
}

interface VitestJson {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests?: number;
    testResults: { name: string; startTime: number; endTime: number }[];
}

/** Parses vitest's `Duration 120.66s (transform 2.35s, setup 0ms, import 55.53s, ...)` line into ms. */
export function vitestPhases(output: string): Record<string, number> {
    const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
    const inner = /Duration\s+[\d.]+m?s\s+\(([^)]*)\)/.exec(plain)?.[1] ?? "";
    const out: Record<string, number> = {};
    for (const m of inner.matchAll(/([a-z]+) ([\d.]+)(ms|s|m)/g)) {
        out[m[1]] = Number(m[2]) * (m[3] === "ms" ? 1 : m[3] === "s" ? 1000 : 60_000);
    }
    return out;
}

/**
 * Runs the unit suite `runs` times as a developer does, in the repository; `extraArgs` are added to
 * vitest's command line (the what-ifs: `--maxWorkers`, `--no-isolate`).
 */
export function measureUnitSuite(runs: number, scratch: string, log: (m: string) => void, extraArgs: string[] = []): UnitFigures {
    fs.mkdirSync(scratch, { recursive: true });
    const all: UnitRun[] = [];
    for (let i = 0; i < runs; i++) {
        const report = path.join(scratch, `vitest${extraArgs.join("").replace(/[^a-zA-Z0-9]+/g, "-")}-${i}.json`);
        fs.rmSync(report, { force: true });
        const t = timed(() =>
            spawnSync("npx", ["vitest", "run", "--project", "unit", ...extraArgs, "--reporter=default", "--reporter=json", `--outputFile.json=${report}`], {
                cwd: REPO_ROOT,
                encoding: "utf8",
                env: { ...process.env, FORCE_COLOR: "0" },
                maxBuffer: 256 * 1024 * 1024,
            }),
        );
        let json: VitestJson | undefined;
        try {
            json = JSON.parse(fs.readFileSync(report, "utf8")) as VitestJson;
        } catch {
            throw new Error(`the unit suite wrote no JSON report (exit ${t.result.status}):\n${(t.result.stdout + t.result.stderr).slice(-3000)}`);
        }
        const run: UnitRun = {
            wallMs: t.wallMs,
            cpuMs: t.cpuMs,
            exitCode: t.result.status ?? 1,
            passed: json.numPassedTests,
            failed: json.numFailedTests,
            skipped: json.numPendingTests + (json.numTodoTests ?? 0),
            files: json.testResults.length,
            phases: vitestPhases(t.result.stdout),
            slowest: json.testResults
                .map((r) => ({ file: path.relative(REPO_ROOT, r.name), ms: r.endTime - r.startTime }))
                .sort((a, b) => b.ms - a.ms),
        };
        all.push(run);
        log(`  run ${i + 1}/${runs}${extraArgs.length ? ` (${extraArgs.join(" ")})` : ""}: ${(run.wallMs / 1000).toFixed(1)} s, ${run.passed} passed, ${run.failed} failed, ${run.skipped} skipped`);
    }
    return { extraArgs, wall: stats(all.map((r) => r.wallMs)), cpu: stats(all.map((r) => r.cpuMs)), runs: all };
}
