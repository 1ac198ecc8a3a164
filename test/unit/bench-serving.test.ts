// The serving benchmark's parsing and statistics (bench/serving/stats.ts, report.ts): what k6, /proc and
// haproxy print, and the judgements made on them. The benchmark itself is never a timed test.
import { describe, expect, it } from "vitest";
import { judgedRate, sweepRows } from "../../bench/serving/report";
import type { ServingRun } from "../../bench/serving/run";
import { withoutBackendReuse } from "../../bench/serving/run";
import {
    cpuSecondsPerThousand,
    descendants,
    highestRateUnder,
    overhead,
    parseHaproxyStat,
    parseK6Summary,
    parseProcStat,
    parseProcStatus,
    saturated,
    TURN_METRICS,
} from "../../bench/serving/stats";

// The shape of k6 1.8's handleSummary data, trimmed to what the benchmark reads.
const K6_SUMMARY = JSON.stringify({
    metrics: {
        http_reqs: { type: "counter", contains: "default", values: { count: 4000, rate: 399.7 } },
        http_req_failed: { type: "rate", contains: "default", values: { rate: 0.0025, passes: 10, fails: 3990 } },
        http_req_duration: { type: "trend", contains: "time", values: { min: 1.1, med: 3.2, "p(95)": 5.5, "p(99)": 9.75, max: 31.6, avg: 3.4 } },
        status_429: { type: "counter", contains: "default", values: { count: 4, rate: 0.4 } },
        dropped_iterations: { type: "counter", contains: "default", values: { count: 2, rate: 0.2 } },
    },
});

describe("serving benchmark: k6 summary", () => {
    it("reads counts, failures, 429s, dropped arrivals and the latency percentiles", () => {
        expect(parseK6Summary(K6_SUMMARY)).toEqual({ requests: 4000, rps: 399.7, failed: 10, rateLimited: 4, dropped: 2, p50: 3.2, p95: 5.5, p99: 9.75, max: 31.6 });
    });

    it("counts absent counters as zero (no 429, nothing dropped)", () => {
        const data = JSON.parse(K6_SUMMARY);
        delete data.metrics.status_429;
        delete data.metrics.dropped_iterations;
        expect(parseK6Summary(JSON.stringify(data))).toMatchObject({ rateLimited: 0, dropped: 0 });
    });

    it("reads WebSocket turns (dialogue.k6.js): a turn Trend, a turn Counter and an error Counter", () => {
        const turns = JSON.stringify({
            metrics: {
                turns: { values: { count: 300, rate: 99.5 } },
                turn_errors: { values: { count: 2, rate: 0.1 } },
                turn_duration: { values: { med: 6, "p(95)": 9, "p(99)": 14, max: 30 } },
            },
        });
        expect(parseK6Summary(turns, TURN_METRICS)).toEqual({ requests: 300, rps: 99.5, failed: 2, rateLimited: 0, dropped: 0, p50: 6, p95: 9, p99: 14, max: 30 });
    });

    it("refuses a summary in which no request completed", () => {
        expect(() => parseK6Summary(JSON.stringify({ metrics: { iterations: { values: { count: 0 } } } }))).toThrow(/no request completed/);
    });

    it("calls a run saturated when arrivals were dropped or under 95 % of the offered rate was served", () => {
        const f = parseK6Summary(K6_SUMMARY);
        expect(saturated(f, 400)).toBe(true); // 2 dropped
        expect(saturated({ ...f, dropped: 0 }, 400)).toBe(false);
        expect(saturated({ ...f, dropped: 0, rps: 370 }, 400)).toBe(true);
    });
});

describe("serving benchmark: /proc and haproxy", () => {
    it("reads CPU ticks and the parent from /proc/<pid>/stat, whatever the command name holds", () => {
        const stat = "4242 (triton_python (x) stub) S 4200 4242 4200 0 -1 4194560 1000 0 0 0 150 25 0 0 20 0 8 0 123 456 789";
        expect(parseProcStat(stat)).toEqual({ ppid: 4200, cpuTicks: 175 });
    });

    it("reads resident and peak memory from /proc/<pid>/status", () => {
        expect(parseProcStatus("Name:\thaproxy\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n")).toEqual({ rssBytes: 10240 * 1024, peakRssBytes: 20480 * 1024 });
    });

    it("finds every descendant of a process (tritonserver's backend stubs)", () => {
        const parents = new Map([
            [10, 1],
            [11, 10],
            [12, 10],
            [13, 12],
            [20, 1],
        ]);
        expect(descendants(10, parents).sort()).toEqual([11, 12, 13]);
        expect(descendants(20, parents)).toEqual([]);
    });

    it("reads the server lines of `show stat`: connections opened and reused", () => {
        const csv = [
            "# pxname,svname,qcur,qmax,scur,smax,slim,stot,connect,reuse,status",
            "platform,FRONTEND,,,1,5,4096,100,,,OPEN",
            "route_infer,upstream,0,0,2,20,,3200,39,3161,UP",
            "route_infer,BACKEND,0,0,2,20,,3200,39,3161,UP",
            "",
        ].join("\n");
        expect(parseHaproxyStat(csv)).toEqual([{ backend: "route_infer", server: "upstream", connect: 39, reuse: 3161, maxSessions: 20 }]);
        expect(() => parseHaproxyStat("hello\n")).toThrow(/show stat/);
    });

    it("removes the backend-reuse lines for the what-if path, and nothing else", () => {
        const cfg = "backend route_infer\n    timeout queue 500ms\n    http-reuse always\n    server upstream 127.0.0.1:1\n";
        expect(withoutBackendReuse(cfg)).toBe("backend route_infer\n    timeout queue 500ms\n    server upstream 127.0.0.1:1\n");
    });
});

describe("serving benchmark: judgements", () => {
    const run = (path: string, rate: number, round: number, p99: number, extra: Partial<ServingRun> = {}): ServingRun => ({
        path,
        rate,
        round,
        figures: { requests: rate * 10, rps: rate, failed: 0, rateLimited: 0, dropped: 0, p50: p99 / 3, p95: p99 / 2, p99, max: p99 * 2 },
        saturated: false,
        cpuTicks: { triton: rate / 5 },
        k6CpuMs: 0,
        load1: 2,
        ...extra,
    });

    it("takes medians over rounds, keeps the p99 range, and sums CPU per 1,000 requests", () => {
        const rows = sweepRows([run("direct", 100, 1, 4), run("direct", 100, 2, 6), run("direct", 100, 3, 20)], 100);
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ path: "direct", rate: 100, rounds: 3, p99: 6, p99Min: 4, p99Max: 20, max: 40, saturated: false });
        // 3 runs x 20 ticks at 100 ticks/s = 0.6 CPU s over 3,000 requests: 0.2 s per 1,000.
        expect(rows[0].cpuPerThousand.triton).toBeCloseTo(0.2);
    });

    it("judges at the highest rate where direct Triton kept p99 under 50 ms and did not saturate", () => {
        const rows = sweepRows(
            [
                run("direct", 100, 1, 5),
                run("direct", 400, 1, 30),
                run("direct", 800, 1, 45, { saturated: true }),
                run("direct", 1600, 1, 80),
                run("gateway", 1600, 1, 10),
            ],
            100,
        );
        expect(judgedRate(rows)).toBe(400);
        expect(highestRateUnder([], 50)).toBeUndefined();
    });

    it("states overhead in ms and as a ratio", () => {
        expect(overhead(6, 4)).toEqual({ ms: 2, ratio: 1.5 });
        expect(cpuSecondsPerThousand(50, 100, 2000)).toBeCloseTo(0.25);
        expect(cpuSecondsPerThousand(50, 100, 0)).toBe(0);
    });
});
