// The serving section of docs/BENCHMARKS.md: the rate sweep per path with the overhead over the floor,
// backend connections and Triton's CPU per request, cost per 1,000 requests, memory against the guide's
// 2 GiB, the batching sweep, and the serving targets with their verdicts.
import { fmtMiB, stats } from "../measure";
import type { ServingResults, ServingRun } from "./run";
import { cpuSecondsPerThousand, highestRateUnder, overhead, TimerSummary } from "./stats";

/** The guide's minimum memory for the server path (R-requirements: 2 GiB). */
export const GUIDE_MEMORY_BYTES = 2 * 1024 ** 3;
/** Direct Triton's p99 bound that picks the rate the overhead targets are judged at. */
export const FLOOR_P99_LIMIT_MS = 50;
/** R9's budget for a webhook's acknowledgement. */
export const WEBHOOK_ACK_BUDGET_MS = 200;
/** The dialogue service's target: what it may add to its model's p99 (S2). */
export const DIALOGUE_OVERHEAD_MS = 5;

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
    /** CPU s per 1,000 requests of k6 itself (the load generator shares the cores). */
    k6PerThousand: number;
    load1: number;
    /** haproxy's timers (gateway HTTP paths): the median over rounds of each percentile. */
    timers?: TimerSummary;
    /** Webhook paths: replies summed over rounds. */
    webhook?: { acknowledged: number; delivered: number; errorReplies: number; retried: number; failed: number; overloaded: number; drainMsMax: number; drained: boolean };
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
        const timed = group.filter((r) => r.timers && r.timers.requests > 0).map((r) => r.timers!);
        const tmed = (f: (t: TimerSummary) => number) => stats(timed.map(f)).median;
        const hooks = group.filter((r) => r.webhook).map((r) => r.webhook!);
        const hsum = (f: (w: NonNullable<ServingRun["webhook"]>) => number) => hooks.reduce((a, w) => a + f(w), 0);
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
            k6PerThousand: requests > 0 ? group.reduce((a, r) => a + r.k6CpuMs, 0) / requests : 0,
            timers:
                timed.length > 0
                    ? {
                          requests: timed.reduce((a, t) => a + t.requests, 0),
                          active: { p50: tmed((t) => t.active.p50), p99: tmed((t) => t.active.p99) },
                          response: { p50: tmed((t) => t.response.p50), p99: tmed((t) => t.response.p99) },
                          own: { p50: tmed((t) => t.own.p50), p99: tmed((t) => t.own.p99) },
                          queue: { p99: tmed((t) => t.queue.p99), max: Math.max(...timed.map((t) => t.queue.max)) },
                      }
                    : undefined,
            webhook:
                hooks.length > 0
                    ? {
                          acknowledged: hsum((w) => w.acknowledged),
                          delivered: hsum((w) => w.delivered),
                          errorReplies: hsum((w) => w.errorReplies),
                          retried: hsum((w) => w.retried),
                          failed: hsum((w) => w.failed),
                          overloaded: group.reduce((a, r) => a + (r.figures.overloaded ?? 0), 0),
                          drainMsMax: Math.max(...hooks.map((w) => w.drainMs)),
                          drained: hooks.every((w) => w.drained),
                      }
                    : undefined,
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
/** A difference in ms with its sign. */
const signedMs = (v: number) => `${v >= 0 ? "+" : "-"}${ms(Math.abs(v))}`;

/** The rate the overhead targets are judged at: the highest where direct Triton keeps p99 under 50 ms. */
export function judgedRate(rows: SweepRow[]): number | undefined {
    return highestRateUnder(rows.filter((r) => r.path === "direct"), FLOOR_P99_LIMIT_MS)?.rate;
}

/**
 * The rate each family of paths is judged at: its own floor's highest rate under 50 ms p99 (direct
 * Triton for the gateway, the dialogue model for the dialogue paths), and whether that is the floor's
 * limit or only the top of the sweep (every rate run kept the floor under the bound: its limit lies
 * beyond, unmeasured).
 */
export interface JudgedRates {
    gateway?: number;
    dialogue?: number;
    /** The highest rate the dialogue paths were run at. */
    dialogueTop?: number;
    /** The dialogue rate is the top of the sweep, not the floor's limit. */
    dialogueCapped: boolean;
    /** The highest rate at which the dialogue service (dialogue-ws) added at most 5 ms p99 and did not saturate. */
    dialogueServiceCapacity?: number;
}

export function judgedRates(rows: SweepRow[]): JudgedRates {
    const dialogueModel = rows.filter((r) => r.path === "dialogue-model");
    const dialogue = highestRateUnder(dialogueModel, FLOOR_P99_LIMIT_MS)?.rate;
    const dialogueTop = dialogueModel.length > 0 ? Math.max(...dialogueModel.map((r) => r.rate)) : undefined;
    const withinBudget = rows
        .filter((r) => r.path === "dialogue-ws" && !r.saturated)
        .filter((r) => {
            const floor = dialogueModel.find((m) => m.rate === r.rate);
            return floor !== undefined && r.p99 - floor.p99 <= DIALOGUE_OVERHEAD_MS;
        })
        .map((r) => r.rate);
    return {
        gateway: judgedRate(rows),
        dialogue,
        dialogueTop,
        dialogueCapped: dialogue !== undefined && dialogue === dialogueTop,
        dialogueServiceCapacity: withinBudget.length > 0 ? Math.max(...withinBudget) : undefined,
    };
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
        out.push({ id: "S1", what: `gateway p99 over direct Triton at ${rateText}`, figure: `${signedMs(o.ms)} (${o.ratio.toFixed(2)}x)`, limit: "<= +1 ms", verdict: o.ms <= 1 ? "PASS" : "MISS" });
    } else {
        out.push({ id: "S1", what: "gateway p99 over direct Triton", figure: rateText, limit: "<= +1 ms", verdict: "n/a" });
    }
    const dRate = judgedRates(rows).dialogue;
    const dAt = (p: string) => rows.find((x) => x.path === p && x.rate === dRate);
    const [dModel, dWs, dFull] = [dAt("dialogue-model"), dAt("dialogue-ws"), dAt("dialogue-ws-gateway")];
    const missing = r.paths.find((p) => p.key === "dialogue-ws")?.notMeasured;
    const notMeasured = missing ? `NOT MEASURED: ${missing}` : `no dialogue rate kept the model's direct p99 under ${FLOOR_P99_LIMIT_MS} ms`;
    if (dModel && dWs) {
        const o = overhead(dWs.p99, dModel.p99);
        out.push({
            id: "S2",
            what: `dialogue service p99 over its model direct (WebSocket turn) at ${dRate} turns/s`,
            figure: `${signedMs(o.ms)} (${o.ratio.toFixed(2)}x)`,
            limit: `<= +${DIALOGUE_OVERHEAD_MS} ms`,
            verdict: o.ms <= DIALOGUE_OVERHEAD_MS ? "PASS" : "MISS",
        });
    } else {
        out.push({ id: "S2", what: "dialogue service p99 over its model direct (WebSocket turn)", figure: notMeasured, limit: "<= +5 ms", verdict: "n/a" });
    }
    if (dFull) {
        out.push({ id: "S3", what: `full WebSocket path (gateway + dialogue service + Triton) p99 at ${dRate} turns/s`, figure: ms(dFull.p99), limit: "< 100 ms", verdict: dFull.p99 < 100 ? "PASS" : "MISS" });
    } else {
        out.push({ id: "S3", what: "full WebSocket path (gateway + dialogue service + Triton) p99", figure: notMeasured, limit: "< 100 ms", verdict: "n/a" });
    }
    const hook = dAt("dialogue-webhook-gateway") ?? dAt("dialogue-webhook");
    if (hook) {
        out.push({
            id: "S5",
            what: `webhook acknowledgement p99 (${hook.path === "dialogue-webhook-gateway" ? "gateway + dialogue service" : "dialogue service directly"}) at ${dRate} messages/s`,
            figure: `${ms(hook.p99)}${hook.saturated ? ` (saturated: ${hook.webhook?.overloaded ?? 0} answered 503, ${hook.dropped} dropped)` : ""}`,
            limit: `< ${WEBHOOK_ACK_BUDGET_MS} ms, not saturated`,
            verdict: hook.p99 < WEBHOOK_ACK_BUDGET_MS && !hook.saturated ? "PASS" : "MISS",
        });
    } else {
        out.push({ id: "S5", what: "webhook acknowledgement p99", figure: notMeasured, limit: `< ${WEBHOOK_ACK_BUDGET_MS} ms`, verdict: "n/a" });
    }
    const hooks = rows.filter((x) => x.webhook);
    if (hooks.length > 0) {
        const sum = (f: (w: NonNullable<SweepRow["webhook"]>) => number) => hooks.reduce((a, x) => a + f(x.webhook!), 0);
        const [acked, delivered, errorReplies, retried, failed] = [sum((w) => w.acknowledged), sum((w) => w.delivered), sum((w) => w.errorReplies), sum((w) => w.retried), sum((w) => w.failed)];
        out.push({
            id: "S6",
            what: "webhook replies delivered (every webhook run, the receiver answering 200)",
            figure: `${delivered} replies of ${acked} acknowledged messages; ${errorReplies} error replies, ${retried} retried, ${failed} failed deliveries`,
            limit: "all, none retried",
            verdict: delivered === acked && errorReplies === 0 && retried === 0 && failed === 0 && hooks.every((x) => x.webhook!.drained) ? "PASS" : "MISS",
        });
    }
    const below = rows.filter((x) => !x.saturated && ["direct", "gateway", "dialogue-model", "dialogue-ws", "dialogue-ws-gateway", "dialogue-webhook", "dialogue-webhook-gateway"].includes(x.path));
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

/** Which rate the dialogue targets are judged at, and why: generated from the sweep. */
export function judgedDialogueText(j: JudgedRates, dialogueRates: number[]): string[] {
    if (j.dialogueTop === undefined) {
        return [];
    }
    const out: string[] = [];
    if (j.dialogue === undefined) {
        out.push(`- The dialogue model kept p99 under ${FLOOR_P99_LIMIT_MS} ms at no turn rate: the dialogue targets (S2, S3, S5) are not judged.`);
    } else if (j.dialogueCapped) {
        out.push(
            `- The dialogue paths have their own floor, the dialogue model, and are judged at its rate, not direct Triton's: it kept p99 under ${FLOOR_P99_LIMIT_MS} ms at every turn rate run ` +
                `(${dialogueRates.join(", ")}), so S2, S3 and S5 are judged at **${j.dialogue} turns/s**, the highest rate run: its own limit lies beyond, unmeasured (\`--dialogue-rates\`).`,
        );
    } else {
        out.push(`- The dialogue paths are judged at the highest turn rate where the dialogue model kept p99 under ${FLOOR_P99_LIMIT_MS} ms: **${j.dialogue} turns/s**.`);
    }
    out.push(
        j.dialogueServiceCapacity === undefined
            ? `- At no turn rate did the dialogue service stay within +${DIALOGUE_OVERHEAD_MS} ms p99 of its model.`
            : `- The highest turn rate at which the dialogue service stayed within +${DIALOGUE_OVERHEAD_MS} ms p99 of its model without saturating: **${j.dialogueServiceCapacity} turns/s**.`,
    );
    return out;
}

/** haproxy's own timers against what k6 saw: where a gateway's p99 goes. */
function timersSection(rows: SweepRow[]): string[] {
    const timed = rows.filter((x) => x.timers).sort((a, b) => a.rate - b.rate || a.path.localeCompare(b.path));
    if (timed.length === 0) {
        return [];
    }
    const out = [
        "### Inside the gateway: haproxy's own timers",
        "",
        "haproxy logs every request with its timers (the generated log-format's `%TR/%Tw/%Tc/%Tr/%Ta`, whole milliseconds): Ta is the request's whole time " +
            "inside haproxy, from the first byte of the request it read to the last byte of the answer it sent; Tr is Triton's response time as haproxy saw it; " +
            "Ta - Tr is haproxy's own part (reading the request, JWT and routing, queue, connect, sending the answer); Tw its queue for a server slot. " +
            "Each is the median over the rounds of that run's percentile. What k6 saw beyond Ta was spent outside haproxy's clock: in the kernel's loopback " +
            "and waiting for a CPU before haproxy read the request or after it wrote the answer.",
        "",
        table(
            ["rate", "path", "k6 p50", "k6 p99", "haproxy Ta p50", "Ta p99", "Tr p50", "Tr p99", "Ta - Tr p50", "Ta - Tr p99", "Tw p99 (max)", "k6 p99 - Ta p99", "load (1 min)"],
            timed.map((x) => {
                const t = x.timers!;
                return [
                    String(x.rate),
                    x.path,
                    ms(x.p50),
                    ms(x.p99),
                    `${t.active.p50} ms`,
                    `${t.active.p99} ms`,
                    `${t.response.p50} ms`,
                    `${t.response.p99} ms`,
                    `${t.own.p50} ms`,
                    `${t.own.p99} ms`,
                    `${t.queue.p99} ms (${t.queue.max})`,
                    ms(x.p99 - t.active.p99),
                    x.load1.toFixed(1),
                ];
            }),
        ),
        "",
    ];
    return out;
}

/**
 * The gateway's p99 over direct Triton at the judged rate, split by haproxy's timers into three parts:
 * Triton answering haproxy more slowly than it answered k6 in the direct run (Tr p99 against direct p99:
 * another moment on a shared machine), haproxy's own time (Ta - Tr), and time outside haproxy's clock
 * (k6 p99 - Ta p99: the kernel, waiting for a core). Percentiles do not add exactly; the parts are
 * approximate. Generated from the figures.
 */
export function gatewaySplitText(rows: SweepRow[], rate: number | undefined): string | undefined {
    const at = (p: string) => rows.find((x) => x.path === p && x.rate === rate);
    const [direct, gateway] = [at("direct"), at("gateway")];
    if (rate === undefined || !direct || !gateway?.timers) {
        return undefined;
    }
    const t = gateway.timers;
    const parts: [string, number][] = [
        ["Triton answering haproxy more slowly than it answered k6 in the direct run (Tr p99 against the direct p99: another moment of a shared machine)", t.response.p99 - direct.p99],
        ["haproxy's own time (Ta - Tr)", t.own.p99],
        ["time outside haproxy's clock (k6 p99 - Ta p99: the kernel's loopback and waiting for one of the 2 cores)", gateway.p99 - t.active.p99],
    ];
    const largest = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
    return (
        `- S1 at ${rate} req/s, split: k6 saw the gateway's p99 at ${ms(gateway.p99)} against ${ms(direct.p99)} direct (${signedMs(gateway.p99 - direct.p99)}). ` +
        `Inside haproxy, the p99 of Ta was ${t.active.p99} ms, of Triton's Tr ${t.response.p99} ms, of haproxy's own Ta - Tr ${t.own.p99} ms (p50 ${t.own.p50} ms) and of its queue Tw ${t.queue.p99} ms. ` +
        `Approximately (percentiles do not add): ${parts.map(([what, v]) => `${signedMs(v)} ${what}`).join("; ")}. ` +
        `The largest part is ${largest[0].replace(/ \(.*$/, "")}` +
        (largest === parts[1] ? "." : `, not haproxy's own work: the machine's (load ${gateway.load1.toFixed(1)}), which a gateway on its own cores, as in production, does not share with its load generator.`)
    );
}

/** Webhook runs: acknowledgement times, and what became of the replies. */
function webhookSection(rows: SweepRow[]): string[] {
    const hooks = rows.filter((x) => x.webhook).sort((a, b) => a.rate - b.rate || a.path.localeCompare(b.path));
    if (hooks.length === 0) {
        return [];
    }
    return [
        "### Webhooks: acknowledgement and delivery",
        "",
        `Acknowledgement (202) times of \`POST /webhook/bench\` (R9: < ${WEBHOOK_ACK_BUDGET_MS} ms), and the replies the loopback receiver got once the service's ` +
            "queue drained (the service delivers at most 4 at once per replica, from a queue of at most 1000: past that it answers 503 `overloaded`, counted apart). " +
            "Acknowledged counts the 202s the service sent (its own counter: under saturation k6 gives up on some requests the service still accepted, " +
            "and their replies are delivered too). Error replies are deliveries of an error answer (model_timeout and the like); retried and failed are " +
            "the service's own delivery counters.",
        "",
        table(
            ["rate (msg/s)", "path", "served", "ack p50", "ack p95", "ack p99", "max", "errors (503s)", "acknowledged", "replies delivered", "error replies", "retried / failed", "drained within"],
            hooks.map((x) => {
                const w = x.webhook!;
                return [
                    String(x.rate),
                    x.path,
                    `${x.rps.toFixed(0)}${x.saturated ? " (saturated)" : ""}`,
                    ms(x.p50),
                    ms(x.p95),
                    ms(x.p99),
                    ms(x.max),
                    `${x.failed} (${w.overloaded})`,
                    String(w.acknowledged),
                    String(w.delivered),
                    String(w.errorReplies),
                    `${w.retried} / ${w.failed}`,
                    `${(w.drainMsMax / 1000).toFixed(1)} s${w.drained ? "" : " (not drained)"}`,
                ];
            }),
        ),
        "",
    ];
}

/** The serving section's markdown. */
export function renderServing(r: ServingResults): string {
    const rows = sweepRows(r.runs, r.ticksPerSecond);
    const rate = judgedRate(rows);
    const rates = judgedRates(rows);
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
            "measured by k6 in whole milliseconds, and leaves the handshake out). Webhook rates count messages: each a new signed message POSTed to " +
            "`/webhook/bench`, timed to its acknowledgement (202); the replies go to a loopback receiver standing in for the platforms' reply URLs " +
            "(bench/serving/receiver.js: answers 200 at once, keeps counters only), and each run waits for the service's webhook queue to drain before the next.",
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
                    // A webhook's acknowledgement does not wait for the model: no floor to compare with.
                    const noFloor = x.path.startsWith("dialogue-webhook");
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
                        d && x.path !== floorKey && !noFloor ? over(x.p50, d.p50) : "",
                        d && x.path !== floorKey && !noFloor ? over(x.p99, d.p99) : "",
                        x.load1.toFixed(1),
                    ];
                }),
        ),
        "",
        rate === undefined
            ? "- No rate kept direct Triton's p99 under 50 ms: the gateway's target (S1) is not judged."
            : `- The highest rate at which direct Triton kept p99 under ${FLOOR_P99_LIMIT_MS} ms: **${rate} req/s**; the gateway's target (S1) is judged there.`,
        ...judgedDialogueText(rates, r.options.dialogueRates ?? [...new Set(rows.filter((x) => x.path === "dialogue-model").map((x) => x.rate))].sort((a, b) => a - b)),
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

    const split = gatewaySplitText(rows, rate);
    if (split) {
        out.push(split, "");
    }
    out.push(...timersSection(rows), ...webhookSection(rows));

    const gatewayKeys = [...new Set(rows.filter((x) => x.connectsPerThousand !== undefined && !r.paths.find((p) => p.key === x.path)?.once).map((x) => x.path))];
    out.push(
        "### Cost per 1,000 requests, backend connections",
        "",
        "CPU seconds per 1,000 requests or turns (numerically, CPU ms per request) of each server process over the runs of that path and rate: Triton counts " +
            "tritonserver and its Python backend stubs; haproxy the gateway process of that path. Backend connections: new TCP connections haproxy " +
            "opened to Triton per 1,000 requests (haproxy's `connect` counter of the infer backend; the rest reused one). The dialogue service's CPU of a webhook run includes " +
            "producing and delivering its replies (the run waits for the queue to drain); the reply receiver is the bench's stand-in for the platforms, and k6 is the load " +
            "generator: both share the 2 cores with the servers.",
        "",
        table(
            ["rate (req/s)", "path", "Triton CPU s / 1k", "haproxy CPU s / 1k", "dialogue service CPU s / 1k", "reply receiver CPU s / 1k", "k6 CPU s / 1k", "backend connections opened / 1k"],
            rows
                .filter((x) => x.path === "direct" || gatewayKeys.includes(x.path) || x.path.startsWith("dialogue"))
                .sort((a, b) => a.rate - b.rate || a.path.localeCompare(b.path))
                .map((x) => {
                    const full = x.path === "dialogue-ws-gateway" || x.path === "dialogue-webhook-gateway";
                    const haproxy = full ? "haproxy:gateway" : `haproxy:${x.path}`;
                    const via = gatewayKeys.includes(x.path) || full;
                    const service = x.path.startsWith("dialogue-ws") || x.path.startsWith("dialogue-webhook");
                    return [
                        String(x.rate),
                        x.path,
                        (x.cpuPerThousand.triton ?? 0).toFixed(3),
                        via ? (x.cpuPerThousand[haproxy] ?? 0).toFixed(3) : "",
                        service ? (x.cpuPerThousand.dialogue ?? 0).toFixed(3) : "",
                        x.path.startsWith("dialogue-webhook") ? (x.cpuPerThousand.receiver ?? 0).toFixed(3) : "",
                        x.k6PerThousand.toFixed(3),
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
