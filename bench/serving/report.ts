// The serving section of docs/BENCHMARKS.md: the rate sweep per path with the overhead over the floor,
// backend connections and Triton's CPU per request, cost per 1,000 requests, memory against the guide's
// 2 GiB, the batching sweep, and the serving targets with their verdicts.
import { fmtMiB, stats } from "../measure";
import type { ServingResults, ServingRun } from "./run";
import { cpuSecondsPerThousand, highestRateUnder, overhead } from "./stats";

/** The guide's minimum memory for the server path (R-requirements: 2 GiB). */
export const GUIDE_MEMORY_BYTES = 2 * 1024 ** 3;
/** Direct Triton's p99 bound that picks the rate the overhead targets are judged at. */
export const FLOOR_P99_LIMIT_MS = 50;

/** One path at one rate, over its rounds: medians, and the p99 range. */
export interface SweepRow {
    path: string;
    rate: number;
    rounds: number;
    rps: number;
    p50: number;
    p95: number;
    p99: number;
    p99Min: number;
    p99Max: number;
    max: number;
    failed: number;
    rateLimited: number;
    dropped: number;
    /** Saturated in the majority of rounds. */
    saturated: boolean;
    /** CPU s per 1,000 requests of each server process group, over all rounds. */
    cpuPerThousand: Record<string, number>;
    /** Backend connections opened per 1,000 requests (gateway paths). */
    connectsPerThousand?: number;
    load1: number;
}

/** Groups the open-loop runs by path and rate. */
export function sweepRows(runs: ServingRun[], ticksPerSecond: number): SweepRow[] {
    const keys = [...new Set(runs.filter((r) => r.rate !== undefined).map((r) => `${r.path}@${r.rate}`))];
    return keys.map((k) => {
        const group = runs.filter((r) => `${r.path}@${r.rate}` === k);
        const med = (f: (r: ServingRun) => number) => stats(group.map(f)).median;
        const requests = group.reduce((a, r) => a + r.figures.requests, 0);
        const procs = [...new Set(group.flatMap((r) => Object.keys(r.cpuTicks)))];
        const p99 = stats(group.map((r) => r.figures.p99));
        const conns = group.filter((r) => r.connections);
        return {
            path: group[0].path,
            rate: group[0].rate!,
            rounds: group.length,
            rps: med((r) => r.figures.rps),
            p50: med((r) => r.figures.p50),
            p95: med((r) => r.figures.p95),
            p99: p99.median,
            p99Min: p99.min,
            p99Max: p99.max,
            max: Math.max(...group.map((r) => r.figures.max)),
            failed: group.reduce((a, r) => a + r.figures.failed, 0),
            rateLimited: group.reduce((a, r) => a + r.figures.rateLimited, 0),
            dropped: group.reduce((a, r) => a + r.figures.dropped, 0),
            saturated: group.filter((r) => r.saturated).length * 2 > group.length,
            cpuPerThousand: Object.fromEntries(
                procs.map((p) => [p, cpuSecondsPerThousand(group.reduce((a, r) => a + (r.cpuTicks[p] ?? 0), 0), ticksPerSecond, requests)]),
            ),
            connectsPerThousand: conns.length > 0 ? (1000 * conns.reduce((a, r) => a + r.connections!.connect, 0)) / conns.reduce((a, r) => a + r.figures.requests, 0) : undefined,
            load1: med((r) => r.load1),
        };
    });
}

/** A serving target and its verdict. */
export interface ServingTarget {
    id: string;
    what: string;
    figure: string;
    limit: string;
    verdict: "PASS" | "MISS" | "n/a";
}

const ms = (v: number) => `${v.toFixed(2)} ms`;

/** The rate the overhead targets are judged at: the highest where direct Triton keeps p99 under 50 ms. */
export function judgedRate(rows: SweepRow[]): number | undefined {
    return highestRateUnder(rows.filter((r) => r.path === "direct"), FLOOR_P99_LIMIT_MS)?.rate;
}

export function servingTargets(r: ServingResults): ServingTarget[] {
    const rows = sweepRows(r.runs, r.ticksPerSecond);
    const rate = judgedRate(rows);
    const at = (p: string) => rows.find((x) => x.path === p && x.rate === rate);
    const direct = at("direct");
    const gateway = at("gateway");
    const out: ServingTarget[] = [];
    const rateText = rate === undefined ? "no rate kept direct p99 under 50 ms" : `${rate} req/s`;
    if (direct && gateway) {
        const o = overhead(gateway.p99, direct.p99);
        out.push({ id: "S1", what: `gateway p99 over direct Triton at ${rateText}`, figure: `+${ms(o.ms)} (${o.ratio.toFixed(2)}x)`, limit: "<= +1 ms", verdict: o.ms <= 1 ? "PASS" : "MISS" });
    } else {
        out.push({ id: "S1", what: "gateway p99 over direct Triton", figure: rateText, limit: "<= +1 ms", verdict: "n/a" });
    }
    const dRate = highestRateUnder(rows.filter((x) => x.path === "dialogue-model"), FLOOR_P99_LIMIT_MS)?.rate;
    const dAt = (p: string) => rows.find((x) => x.path === p && x.rate === dRate);
    const [dModel, dWs, dFull] = [dAt("dialogue-model"), dAt("dialogue-ws"), dAt("dialogue-ws-gateway")];
    const missing = r.paths.find((p) => p.key === "dialogue-ws")?.notMeasured;
    const notMeasured = missing ? `NOT MEASURED: ${missing}` : `no dialogue rate kept the model's direct p99 under ${FLOOR_P99_LIMIT_MS} ms`;
    if (dModel && dWs) {
        const o = overhead(dWs.p99, dModel.p99);
        out.push({
            id: "S2",
            what: `dialogue service p99 over its model direct (WebSocket turn) at ${dRate} turns/s`,
            figure: `+${ms(o.ms)} (${o.ratio.toFixed(2)}x)`,
            limit: "<= +5 ms",
            verdict: o.ms <= 5 ? "PASS" : "MISS",
        });
    } else {
        out.push({ id: "S2", what: "dialogue service p99 over its model direct (WebSocket turn)", figure: notMeasured, limit: "<= +5 ms", verdict: "n/a" });
    }
    if (dFull) {
        out.push({ id: "S3", what: `full WebSocket path (gateway + dialogue service + Triton) p99 at ${dRate} turns/s`, figure: ms(dFull.p99), limit: "< 100 ms", verdict: dFull.p99 < 100 ? "PASS" : "MISS" });
    } else {
        out.push({ id: "S3", what: "full WebSocket path (gateway + dialogue service + Triton) p99", figure: notMeasured, limit: "< 100 ms", verdict: "n/a" });
    }
    const below = rows.filter((x) => !x.saturated && ["direct", "gateway", "dialogue-model", "dialogue-ws", "dialogue-ws-gateway"].includes(x.path));
    const errors = below.reduce((a, x) => a + x.failed, 0);
    const requests = below.reduce((a, x) => a + x.rps * r.options.durationSeconds * x.rounds, 0);
    out.push({
        id: "S4",
        what: "errors below saturation (every measured path, one token)",
        figure: `${errors} of about ${Math.round(requests)} requests`,
        limit: "0",
        verdict: below.length === 0 ? "n/a" : errors === 0 ? "PASS" : "MISS",
    });
    return out;
}

function table(header: string[], rows: string[][]): string {
    const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
    return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** The serving section's markdown. */
export function renderServing(r: ServingResults): string {
    const rows = sweepRows(r.runs, r.ticksPerSecond);
    const rate = judgedRate(rows);
    const label = (key: string) => r.paths.find((p) => p.key === key)?.label ?? key;
    const o = r.options;
    const out: string[] = [
        "## 6. Serving: requests through the platform against direct Triton",
        "",
        `Real parts on this machine's loopback: ${r.versions.triton}, ${r.versions.haproxy}, k6 ${r.versions.k6}. ` +
            (o.modelRepository
                ? `Model \`${o.model}\` from ${o.modelRepository}. `
                : `Model \`${o.model}\` (bench/serving/model.py, Python backend): a fixed ${o.computeMs} ms service time per execution (a sleep, no host CPU), max_batch_size 32, one instance; \`${o.model}\` has the dynamic batcher, \`${o.model}-nobatch\` not. `) +
            `k6 offers an open-loop constant arrival rate (a slow answer does not slow the arrivals; at most 256 in flight, past which arrivals are dropped) ` +
            `for ${o.durationSeconds} s per path and rate, ${o.rounds} round(s), the paths' order rotating, after a warm-up. The gateway runs the generated ` +
            `haproxy.cfg with the default settings (JWT verification, ${r.gateway.threads} threads, rate limit ${r.gateway.rateLimit.requests} per ${r.gateway.rateLimit.periodSeconds} s) ` +
            "and one token for every request, as a platform sends. Latencies are k6's `http_req_duration` of completed requests; figures are medians over the rounds, p99 with its range. " +
            "k6 runs on the same 2 cores as the servers and takes a large share of them: saturation here is the machine's, not Triton's alone. " +
            "The dialogue paths have their own floor, the dialogue model (models/dialogue) called direct with the request the service sends; their rate counts " +
            "turns (WebSocket sessions of 3 turns, opened at rate/3 per second; the turn time runs from sending a signed message to its reply frame, " +
            "measured by k6 in whole milliseconds, and leaves the handshake out).",
        "",
        "Paths:",
        "",
        ...r.paths.map((p) => `- \`${p.key}\`: ${p.label}${p.note ? ` (${p.note})` : ""}${p.notMeasured ? `. **NOT MEASURED**: ${p.notMeasured}` : ""}`),
        "",
        table(
            ["rate (req/s)", "path", "served (req/s)", "p50", "p95", "p99 (range)", "max", "errors", "dropped", "p50 over the floor", "p99 over the floor", "load (1 min)"],
            rows
                .filter((x) => !r.paths.find((p) => p.key === x.path)?.once)
                .sort((a, b) => a.rate - b.rate || a.path.localeCompare(b.path))
                .map((x) => {
                    const floorKey = x.path.startsWith("dialogue") ? "dialogue-model" : "direct";
                    const d = rows.find((y) => y.path === floorKey && y.rate === x.rate);
                    const over = (a: number, b: number) => {
                        const v = overhead(a, b);
                        return `${v.ms >= 0 ? "+" : ""}${ms(v.ms)} (${v.ratio.toFixed(2)}x)`;
                    };
                    return [
                        String(x.rate),
                        x.path,
                        `${x.rps.toFixed(0)}${x.saturated ? " (saturated)" : ""}`,
                        ms(x.p50),
                        ms(x.p95),
                        `${ms(x.p99)} (${x.p99Min.toFixed(2)}–${x.p99Max.toFixed(2)})`,
                        ms(x.max),
                        String(x.failed),
                        String(x.dropped),
                        d && x.path !== floorKey ? over(x.p50, d.p50) : "",
                        d && x.path !== floorKey ? over(x.p99, d.p99) : "",
                        x.load1.toFixed(1),
                    ];
                }),
        ),
        "",
        rate === undefined
            ? "- No rate kept direct Triton's p99 under 50 ms: the overhead targets are not judged."
            : `- The highest rate at which direct Triton kept p99 under ${FLOOR_P99_LIMIT_MS} ms: **${rate} req/s**; the targets are judged there.`,
        "",
    ];

    const once = rows.filter((x) => r.paths.find((p) => p.key === x.path)?.once);
    for (const x of once) {
        out.push(
            `- ${label(x.path)}: at ${x.rate} req/s, **${x.rateLimited} of ${Math.round(x.rps * o.durationSeconds * x.rounds)} requests answered 429** ` +
                `(a platform's one token past 30 req/s). With the current default (${r.gateway.rateLimit.requests} per ${r.gateway.rateLimit.periodSeconds} s) the sweep above saw ` +
                `${rows.filter((y) => y.path === "gateway").reduce((a, y) => a + y.rateLimited, 0)} answers 429.`,
            "",
        );
    }

    const gatewayKeys = [...new Set(rows.filter((x) => x.connectsPerThousand !== undefined && !r.paths.find((p) => p.key === x.path)?.once).map((x) => x.path))];
    out.push(
        "### Cost per 1,000 requests, backend connections",
        "",
        "CPU seconds per 1,000 requests or turns (numerically, CPU ms per request) of each server process over the runs of that path and rate: Triton counts " +
            "tritonserver and its Python backend stubs; haproxy the gateway process of that path. Backend connections: new TCP connections haproxy " +
            "opened to Triton per 1,000 requests (haproxy's `connect` counter of the infer backend; the rest reused one).",
        "",
        table(
            ["rate (req/s)", "path", "Triton CPU s / 1k", "haproxy CPU s / 1k", "dialogue service CPU s / 1k", "backend connections opened / 1k"],
            rows
                .filter((x) => x.path === "direct" || gatewayKeys.includes(x.path) || x.path.startsWith("dialogue"))
                .sort((a, b) => a.rate - b.rate || a.path.localeCompare(b.path))
                .map((x) => {
                    const haproxy = x.path === "dialogue-ws-gateway" ? "haproxy:gateway" : `haproxy:${x.path}`;
                    const via = gatewayKeys.includes(x.path) || x.path === "dialogue-ws-gateway";
                    return [
                        String(x.rate),
                        x.path,
                        (x.cpuPerThousand.triton ?? 0).toFixed(3),
                        via ? (x.cpuPerThousand[haproxy] ?? 0).toFixed(3) : "",
                        x.path === "dialogue-ws" || x.path === "dialogue-ws-gateway" ? (x.cpuPerThousand.dialogue ?? 0).toFixed(3) : "",
                        x.connectsPerThousand === undefined ? "" : x.connectsPerThousand.toFixed(1),
                    ];
                }),
        ),
        "",
    );

    const mem = (k: string) => r.memory.find((m) => m.name === k);
    const serverPath = ["triton", "haproxy:gateway", "dialogue"].map(mem).filter((m) => m !== undefined);
    const peak = serverPath.reduce((a, m) => a + m!.peakRssBytes, 0);
    out.push(
        "Resident memory at the end of the section (peak: the sum of each process's own high-water mark, at or above the true joint peak):",
        "",
        table(
            ["process", "processes", "resident", "peak"],
            r.memory.map((m) => [m.name, String(m.processes), fmtMiB(m.rssBytes), fmtMiB(m.peakRssBytes)]),
        ),
        "",
        `- The server path (Triton with these models, one gateway${mem("dialogue") ? ", the dialogue service" : ""}): peak **${fmtMiB(peak)}**, ` +
            `${((100 * peak) / GUIDE_MEMORY_BYTES).toFixed(0)} % of the guide's 2 GiB minimum. A real model's weights come on top.`,
        "",
    );

    if (r.batching.length > 0) {
        const models = [...new Set(r.batching.map((b) => b.path))];
        const levels = [...new Set(r.batching.map((b) => b.vus!))].sort((a, b) => a - b);
        out.push(
            "### Batching: the same model with and without the dynamic batcher",
            "",
            `Closed loop (k6 constant VUs: each sends its next request when the last one answered), direct to Triton, ${o.batchDurationSeconds} s per level. ` +
                "On a GPU host the same section runs unchanged with a GPU build of Triton and a model of yours: " +
                "`npm run bench -- --only serving --triton-bin /opt/tritonserver/bin/tritonserver --model-repository DIR --model NAME --request FILE`, " +
                "where DIR holds NAME (with `dynamic_batching`) and NAME-nobatch (without), and FILE is one KServe v2 request body for it.",
            "",
            table(
                ["concurrency", ...models.flatMap((m) => [`${m}: req/s`, `${m}: p99`])],
                levels.map((v) => [
                    String(v),
                    ...models.flatMap((m) => {
                        const b = r.batching.find((x) => x.path === m && x.vus === v);
                        return b ? [`${b.figures.rps.toFixed(0)}${b.figures.failed ? ` (${b.figures.failed} errors)` : ""}`, ms(b.figures.p99)] : ["", ""];
                    }),
                ]),
            ),
            "",
        );
    }
    return out.join("\n");
}
