// Timing and statistics helpers of the benchmark: wall and CPU time of a child process, medians and
// spread of repeated runs, the machine the figures come from.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import { performance } from "perf_hooks";

/** Median, extremes and count of repeated measurements. */
export interface Stats {
    median: number;
    min: number;
    max: number;
    n: number;
    /** (max - min) / median: how much the runs disagree (0.1 = 10 %). */
    spread: number;
}

/** Median and spread of a non-empty list of numbers. */
export function stats(values: number[]): Stats {
    if (values.length === 0) {
        throw new Error("stats of no values");
    }
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    const min = sorted[0];
    const max = sorted[sorted.length - 1];
    return { median, min, max, n: values.length, spread: median > 0 ? (max - min) / median : 0 };
}

/** CPU time (user + system, ms) of this process's children that have been waited for. */
export function childrenCpuMs(): number {
    // /proc/self/stat fields 16 and 17 (cutime, cstime) count every waited-for descendant: the pulumi
    // CLI, its language host, the Node.js program, the providers and the policy pack.
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state), so field n is fields[n - 3].
    const ticks = Number(fields[13]) + Number(fields[14]);
    return (ticks * 1000) / clockTicksPerSecond();
}

let ticksPerSecond: number | undefined;
function clockTicksPerSecond(): number {
    if (ticksPerSecond === undefined) {
        try {
            ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
        } catch {
            ticksPerSecond = 100;
        }
    }
    return ticksPerSecond;
}

/** Wall and CPU time of one synchronous child-process run. */
export interface Timed<T> {
    wallMs: number;
    /** CPU of the child and its descendants, ms (10 ms resolution). */
    cpuMs: number;
    result: T;
}

/** Times a function that runs child processes synchronously (execFileSync, spawnSync). */
export function timed<T>(run: () => T): Timed<T> {
    const cpu0 = childrenCpuMs();
    const t0 = performance.now();
    const result = run();
    const wallMs = performance.now() - t0;
    return { wallMs, cpuMs: childrenCpuMs() - cpu0, result };
}

/** The machine and its load. */
export interface Machine {
    cores: number;
    cpuModel: string;
    memoryGiB: number;
    os: string;
    node: string;
    /** 1, 5 and 15 minute load averages. */
    loadavg: number[];
}

export function machine(): Machine {
    const cpus = os.cpus();
    return {
        cores: cpus.length,
        cpuModel: cpus[0]?.model.trim() ?? "unknown",
        memoryGiB: os.totalmem() / 1024 ** 3,
        os: `${os.type()} ${os.release()} ${os.arch()}`,
        node: process.version,
        loadavg: os.loadavg(),
    };
}

/** Formats milliseconds for a table: `812 ms`, `12.4 s`. */
export function fmtMs(ms: number): string {
    if (ms >= 10_000) {
        return `${(ms / 1000).toFixed(1)} s`;
    }
    if (ms >= 1000) {
        return `${(ms / 1000).toFixed(2)} s`;
    }
    return ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(2)} ms`;
}

/** Formats bytes as MiB. */
export function fmtMiB(bytes: number): string {
    return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** `median (min–max)` of a Stats in ms. */
export function fmtStats(s: Stats): string {
    return s.n === 1 ? fmtMs(s.median) : `${fmtMs(s.median)} (${fmtMs(s.min)}–${fmtMs(s.max)})`;
}
