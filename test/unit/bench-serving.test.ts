// The serving benchmark's parsing and statistics (bench/serving/stats.ts, report.ts): what k6, /proc and
// haproxy print, and the judgements made on them. The benchmark itself is never a timed test.
import { describe, expect, it } from "vitest";
import { loaderVerdict, mergeResults, renderReport, Results } from "../../bench/report";
import { gatewaySplitText, judgedDialogueText, judgedRate, judgedRates, servingTargets, sweepRows } from "../../bench/serving/report";
import type { ServingResults, ServingRun } from "../../bench/serving/run";
import { withoutBackendReuse } from "../../bench/serving/run";
import {
    cpuSecondsPerThousand,
    descendants,
    highestRateUnder,
    overhead,
    parseHaproxyStat,
    parseK6Summary,
    parseProcStat,
    parseHaproxyTimers,
    parseProcStatus,
    percentile,
    promSum,
    saturated,
    summarizeTimers,
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
        expect(parseK6Summary(K6_SUMMARY)).toEqual({ requests: 4000, rps: 399.7, failed: 10, rateLimited: 4, overloaded: 0, dropped: 2, p50: 3.2, p95: 5.5, p99: 9.75, max: 31.6 });
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
        expect(parseK6Summary(turns, TURN_METRICS)).toEqual({ requests: 300, rps: 99.5, failed: 2, rateLimited: 0, overloaded: 0, dropped: 0, p50: 6, p95: 9, p99: 14, max: 30 });
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
        figures: { requests: rate * 10, rps: rate, failed: 0, rateLimited: 0, overloaded: 0, dropped: 0, p50: p99 / 3, p95: p99 / 2, p99, max: p99 * 2 },
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

describe("serving benchmark: haproxy's timers and the service's metrics", () => {
    // Lines as the generated log-format writes them (components/gateway haproxy.ts).
    const line = (timers: string, status = 200) =>
        `127.0.0.1:40000 [05/Dec/2026:07:00:00.000] http route_infer/upstream ${timers} ${status} 312 ---- 3/3/1/1/0 0/0 "POST /v2/models/fixed/infer HTTP/1.1" route=infer auth=-`;

    it("reads TR/Tw/Tc/Tr/Ta and the status of each complete request, and leaves out aborted ones and other lines", () => {
        const log = [line("0/0/0/3/4"), line("1/2/1/10/15", 429), line("0/0/-1/-1/5", 503), "[NOTICE] (1) : haproxy started", ""].join("\n");
        expect(parseHaproxyTimers(log)).toEqual([
            { request: 0, queue: 0, connect: 0, response: 3, active: 4, status: 200 },
            { request: 1, queue: 2, connect: 1, response: 10, active: 15, status: 429 },
        ]);
    });

    it("takes nearest-rank percentiles, and haproxy's own time as Ta - Tr per request", () => {
        expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
        expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 100], 99)).toBe(100);
        expect(percentile([], 99)).toBe(0);
        const timers = parseHaproxyTimers([line("0/0/0/3/4"), line("0/0/0/3/5"), line("0/7/0/20/30")].join("\n"));
        expect(summarizeTimers(timers)).toEqual({
            requests: 3,
            active: { p50: 5, p99: 30 },
            response: { p50: 3, p99: 20 },
            own: { p50: 2, p99: 10 },
            queue: { p99: 7, max: 7 },
        });
    });

    it("sums a Prometheus series by label, whatever the label order and other labels", () => {
        const text = [
            "# HELP dialogue_webhook_deliveries_total Webhook reply deliveries",
            "# TYPE dialogue_webhook_deliveries_total counter",
            'dialogue_webhook_deliveries_total{platform="bench",outcome="delivered"} 120',
            'dialogue_webhook_deliveries_total{outcome="retried",platform="bench"} 3',
            'dialogue_webhook_deliveries_total{platform="other",outcome="delivered"} 5',
            "dialogue_webhook_queue_length 0",
            "dialogue_webhook_queue_length_other 9",
        ].join("\n");
        expect(promSum(text, "dialogue_webhook_deliveries_total", { outcome: "delivered" })).toBe(125);
        expect(promSum(text, "dialogue_webhook_deliveries_total", { outcome: "retried", platform: "bench" })).toBe(3);
        expect(promSum(text, "dialogue_webhook_queue_length")).toBe(0);
        expect(promSum(text, "dialogue_webhook_deliveries_total", { outcome: "failed" })).toBe(0);
    });
});

describe("serving benchmark: the dialogue and webhook verdicts", () => {
    const run = (path: string, rate: number, p99: number, extra: Partial<ServingRun> = {}): ServingRun => ({
        path,
        rate,
        round: 1,
        figures: { requests: rate * 8, rps: rate, failed: 0, rateLimited: 0, overloaded: 0, dropped: 0, p50: p99 / 3, p95: p99 / 2, p99, max: p99 * 2 },
        saturated: false,
        cpuTicks: {},
        k6CpuMs: 0,
        load1: 2,
        ...extra,
    });
    const hook = (acknowledged: number, delivered: number, extra: Partial<NonNullable<ServingRun["webhook"]>> = {}) => ({
        webhook: { acknowledged, delivered, errorReplies: 0, retried: 0, failed: 0, drainMs: 100, drained: true, ...extra },
    });
    const results = (runs: ServingRun[]): ServingResults =>
        ({
            options: { rates: [100, 400, 1600], durationSeconds: 8, rounds: 1, concurrency: [], batchDurationSeconds: 4, computeMs: 2, model: "fixed", whatIf: false },
            versions: { triton: "", haproxy: "", k6: "" },
            ticksPerSecond: 100,
            paths: [],
            runs,
            batching: [],
            memory: [],
            gateway: { rateLimit: { requests: 30000, periodSeconds: 10 }, threads: 2, maxConnections: 1000 },
        }) as unknown as ServingResults;

    it("judges the dialogue paths at their own floor's rate, says when that is only the top of the sweep, and finds the service's capacity", () => {
        const rows = sweepRows(
            [
                run("direct", 1600, 10),
                run("dialogue-model", 400, 3),
                run("dialogue-model", 800, 7),
                run("dialogue-ws", 400, 7),
                run("dialogue-ws", 800, 60, { saturated: true }),
            ],
            100,
        );
        const j = judgedRates(rows);
        expect(j).toEqual({ gateway: 1600, dialogue: 800, dialogueTop: 800, dialogueCapped: true, dialogueServiceCapacity: 400 });
        const text = judgedDialogueText(j, [400, 800]).join("\n");
        expect(text).toMatch(/judged at \*\*800 turns\/s\*\*, the highest rate run: its own limit lies beyond, unmeasured/);
        expect(text).toMatch(/within \+5 ms p99 of its model without saturating: \*\*400 turns\/s\*\*/);
    });

    it("judges at the floor's limit when the model itself went over 50 ms below the top rate", () => {
        const rows = sweepRows([run("dialogue-model", 400, 3), run("dialogue-model", 800, 70), run("dialogue-ws", 400, 20)], 100);
        const j = judgedRates(rows);
        expect(j).toMatchObject({ dialogue: 400, dialogueTop: 800, dialogueCapped: false, dialogueServiceCapacity: undefined });
        expect(judgedDialogueText(j, [400, 800]).join("\n")).toMatch(/highest turn rate where the dialogue model kept p99 under 50 ms: \*\*400 turns\/s\*\*/);
    });

    it("passes the webhook targets only under 200 ms p99 at the judged rate and with every acknowledged reply delivered, none retried", () => {
        const base = [run("direct", 100, 5), run("gateway", 100, 6), run("dialogue-model", 400, 3), run("dialogue-ws", 400, 6), run("dialogue-ws-gateway", 400, 9)];
        const ok = servingTargets(results([...base, run("dialogue-webhook-gateway", 400, 150, hook(3200, 3200)), run("dialogue-webhook", 400, 20, hook(3200, 3200))]));
        expect(ok.find((t) => t.id === "S5")).toMatchObject({ verdict: "PASS", figure: "150.00 ms" });
        expect(ok.find((t) => t.id === "S5")!.what).toMatch(/gateway \+ dialogue service\) at 400 messages\/s/);
        expect(ok.find((t) => t.id === "S6")).toMatchObject({ verdict: "PASS" });

        const slow = servingTargets(results([...base, run("dialogue-webhook-gateway", 400, 250, hook(3200, 3200))]));
        expect(slow.find((t) => t.id === "S5")!.verdict).toBe("MISS");
        const overloaded = servingTargets(results([...base, run("dialogue-webhook-gateway", 400, 50, { ...hook(3000, 3000), saturated: true, figures: { ...run("x", 400, 50).figures, overloaded: 200 } })]));
        expect(overloaded.find((t) => t.id === "S5")).toMatchObject({ verdict: "MISS", figure: "50.00 ms (saturated: 200 answered 503, 0 dropped)" });
        const lost = servingTargets(results([...base, run("dialogue-webhook-gateway", 400, 50, hook(3200, 3199))]));
        expect(lost.find((t) => t.id === "S6")!.verdict).toBe("MISS");
        const retried = servingTargets(results([...base, run("dialogue-webhook-gateway", 400, 50, hook(3200, 3200, { retried: 1 }))]));
        expect(retried.find((t) => t.id === "S6")!.verdict).toBe("MISS");
        const stuck = servingTargets(results([...base, run("dialogue-webhook-gateway", 400, 50, hook(3200, 3200, { drained: false }))]));
        expect(stuck.find((t) => t.id === "S6")!.verdict).toBe("MISS");
        const none = servingTargets(results(base));
        expect(none.find((t) => t.id === "S5")!.verdict).toBe("n/a");
        expect(none.find((t) => t.id === "S6")).toBeUndefined();
    });

    it("splits the gateway's p99 into haproxy's own time and the time outside its clock", () => {
        const timers = { requests: 100, active: { p50: 5, p99: 12 }, response: { p50: 4, p99: 10 }, own: { p50: 1, p99: 2 }, queue: { p99: 0, max: 0 } };
        const rows = sweepRows([run("direct", 1600, 14), run("gateway", 1600, 27, { timers })], 100);
        const text = gatewaySplitText(rows, 1600)!;
        expect(text).toMatch(/27\.00 ms against 14\.00 ms direct \(\+13\.00 ms\)/);
        expect(text).toMatch(/Ta was 12 ms, of Triton's Tr 10 ms, of haproxy's own Ta - Tr 2 ms \(p50 1 ms\)/);
        // Tr 10 against direct 14: -4 ms; own +2 ms; outside 27 - 12 = +15 ms, the largest.
        expect(text).toMatch(/-4\.00 ms Triton answering haproxy more slowly.*\+2\.00 ms haproxy's own time.*\+15\.00 ms time outside haproxy's clock/);
        expect(text).toMatch(/The largest part is time outside haproxy's clock, not haproxy's own work/);
        const slowTriton = sweepRows([run("direct", 1600, 14), run("gateway", 1600, 60, { timers: { ...timers, active: { p50: 5, p99: 58 }, response: { p50: 4, p99: 57 } } })], 100);
        expect(gatewaySplitText(slowTriton, 1600)).toMatch(/The largest part is Triton answering haproxy more slowly than it answered k6 in the direct run, not haproxy's own work/);
        const slowHaproxy = sweepRows([run("direct", 1600, 14), run("gateway", 1600, 40, { timers: { ...timers, active: { p50: 5, p99: 39 }, own: { p50: 3, p99: 25 } } })], 100);
        expect(gatewaySplitText(slowHaproxy, 1600)).toMatch(/The largest part is haproxy's own time\.$/);
        expect(gatewaySplitText(rows, 800)).toBeUndefined();
    });
});

describe("program loader verdict", () => {
    const own = { label: "tools/ts-loader.js", dev: 4430, pack: 8030 };

    it("counts both previews a user runs: a loader close on the dev preview but slow with the pack does not win", () => {
        const tsNode = { label: "the runtime's ts-node", dev: 4780, pack: 13800 };
        const v = loaderVerdict(own, [tsNode])!;
        // (4.78 + 13.8) against (4.43 + 8.03): 33 % less.
        expect(v.keep).toBe(true);
        expect(v.text).toMatch(/33 % less wall time than the closest maintained loader \(the runtime's ts-node: 18\.58 s against 12\.46 s\)/);
    });

    it("replaces the loader when the closest maintained one is within 10 % over both previews, or faster", () => {
        expect(loaderVerdict(own, [{ label: "tsx", dev: 4600, pack: 8600 }])).toMatchObject({ keep: false });
        expect(loaderVerdict(own, [{ label: "tsx", dev: 4600, pack: 8600 }])!.text).toMatch(/replace it with tsx.*saves only 6 %/);
        expect(loaderVerdict(own, [{ label: "tsx", dev: 4000, pack: 7000 }])!.text).toMatch(/replace it with tsx.*13 % faster than tools\/ts-loader\.js/);
    });

    it("judges against the closest of several loaders, on the dev preview alone when one has no pack figure", () => {
        const v = loaderVerdict(own, [{ label: "the runtime's ts-node", dev: 4780, pack: 13800 }, { label: "tsx", dev: 6310 }])!;
        expect(v.keep).toBe(true);
        // tsx on the dev preview alone: 1 - 4.43 / 6.31 = 30 %, closer than ts-node's 33 % over both.
        expect(v.text).toMatch(/over the dev preview, it takes 30 % less wall time than the closest maintained loader \(tsx: 6\.31 s against 4\.43 s\)/);
        expect(loaderVerdict({ label: "own" }, [{ label: "tsx", dev: 1 }])).toBeUndefined();
    });
});

describe("joining partial bench runs", () => {
    const partial = (startedAt: string, sections: string[], extra: Partial<Results>): Results => ({
        startedAt,
        finishedAt: startedAt.replace("T08", "T09"),
        options: { runs: 3, upRuns: 2, unitRuns: 1, sizes: [1, 5, 50], whatIf: true, sections },
        machine: { cores: 2, cpuModel: "cpu", memoryGiB: 8, os: "Linux", loadavg: [4, 3, 2], node: "v20" } as unknown as Results["machine"],
        loadEnd: [1, 1, 1],
        packages: {},
        git: { commit: "abc1234", modifiedFiles: 0 },
        profiles: [],
        errors: [],
        ...extra,
    });

    it("takes each section from the run that measured it and records every run for the header", () => {
        const serving = partial("2026-12-05T08:00:00.000Z", ["serving"], { serving: { runs: [] } as unknown as Results["serving"], profiles: [{ title: "service", processes: [] }] });
        const rest = partial("2026-12-05T08:30:00.000Z", ["eval", "unit"], { unit: { wallMs: 20_000 } as unknown as Results["unit"], errors: [{ section: "up", message: "x" }] });
        const m = mergeResults([rest, serving]);
        expect(m.options.sections).toEqual(["serving", "eval", "unit"]);
        expect(m.serving).toBe(serving.serving);
        expect(m.unit).toBe(rest.unit);
        expect(m.startedAt).toBe(serving.startedAt);
        expect(m.finishedAt).toBe(rest.finishedAt);
        expect(m.profiles.map((p) => p.title)).toEqual(["service"]);
        expect(m.errors).toHaveLength(1);
        expect(m.merged!.map((r) => r.sections)).toEqual([["serving"], ["eval", "unit"]]);
        expect(mergeResults([serving])).toBe(serving);
    });

    it("refuses two runs of the same section", () => {
        const a = partial("2026-12-05T08:00:00.000Z", ["serving"], {});
        const b = partial("2026-12-05T08:10:00.000Z", ["serving", "unit"], {});
        expect(() => mergeResults([a, b])).toThrow(/two runs measured the section serving/);
    });

    it("says in the report which run each section comes from, with its load", () => {
        const m = mergeResults([partial("2026-12-05T08:00:00.000Z", ["unit"], {}), partial("2026-12-05T08:30:00.000Z", ["up"], {})]);
        const text = renderReport(m, "");
        expect(text).toMatch(/This report joins 2 partial runs/);
        expect(text).toMatch(/- unit: 2026-12-05T08:00:00\.000Z to 2026-12-05T09:00:00\.000Z, load average 4\.00 \/ 3\.00 \/ 2\.00 at its start/);
    });
});
