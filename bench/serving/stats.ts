// Pure parsing and statistics of the serving benchmark (bench/serving/run.ts): k6's JSON summary, the
// /proc files that give a process's CPU time and memory, haproxy's `show stat` CSV, and the judgements
// made on them (saturation, the highest rate under a latency bound, overhead over the floor).

/** One k6 run's figures. Latencies in ms; they cover completed requests only. */
export interface LoadFigures {
    /** Requests completed (any status). */
    requests: number;
    /** Completed requests per second of the run. */
    rps: number;
    /** Requests that failed: transport errors, timeouts and any status other than 200. */
    failed: number;
    /** Of those, answers 429 (the gateway's rate limit). */
    rateLimited: number;
    /** Of those, answers 503 (webhook.k6.js: the dialogue service's webhook queue was full). */
    overloaded: number;
    /** Open loop: arrivals k6 could not start because every allowed request was in flight (saturation). */
    dropped: number;
    p50: number;
    p95: number;
    p99: number;
    max: number;
}

interface K6Metric {
    values?: Record<string, number>;
}

/** The metrics a k6 scenario reports its requests by: HTTP (load.k6.js) or WebSocket turns (dialogue.k6.js). */
export const HTTP_METRICS = { duration: "http_req_duration", count: "http_reqs", failed: "http_req_failed" };
export const TURN_METRICS = { duration: "turn_duration", count: "turns", failed: "turn_errors" };

/** Reads the summary that bench/serving/load.k6.js or dialogue.k6.js writes (k6's handleSummary data). */
export function parseK6Summary(json: string, names: typeof HTTP_METRICS = HTTP_METRICS): LoadFigures {
    const data = JSON.parse(json) as { metrics?: Record<string, K6Metric> };
    const metrics = data.metrics ?? {};
    const v = (metric: string, key: string): number => metrics[metric]?.values?.[key] ?? 0;
    const duration = metrics[names.duration]?.values;
    if (!duration || metrics[names.count] === undefined) {
        throw new Error(`k6 summary without ${names.count} or ${names.duration}: no request completed`);
    }
    const failed = metrics[names.failed]?.values;
    return {
        requests: v(names.count, "count"),
        rps: v(names.count, "rate"),
        // A Rate (http_req_failed) counts failures in `passes` (true); a Counter (turn_errors) in `count`.
        failed: failed?.passes ?? failed?.count ?? 0,
        rateLimited: v("status_429", "count"),
        overloaded: v("status_503", "count"),
        dropped: v("dropped_iterations", "count"),
        p50: duration.med ?? 0,
        p95: duration["p(95)"] ?? 0,
        p99: duration["p(99)"] ?? 0,
        max: duration.max ?? 0,
    };
}

/**
 * Whether an open-loop run at `targetRate` saturated the path: k6 dropped arrivals (every allowed
 * request was in flight), or the path completed less than 95 % of the offered rate.
 */
export function saturated(f: LoadFigures, targetRate: number): boolean {
    return f.dropped > 0 || f.rps < 0.95 * targetRate;
}

/** CPU time (user + system, in clock ticks) and parent of a process, from /proc/<pid>/stat. */
export function parseProcStat(text: string): { ppid: number; cpuTicks: number } {
    // The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
    const fields = text.slice(text.lastIndexOf(")") + 2).trim().split(/\s+/);
    // fields[0] is field 3 (state): field n is fields[n - 3]; ppid is field 4, utime 14, stime 15.
    return { ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** Resident memory now and at its peak, in bytes, from /proc/<pid>/status (VmRSS, VmHWM). */
export function parseProcStatus(text: string): { rssBytes: number; peakRssBytes: number } {
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) * 1024;
    return { rssBytes: kib("VmRSS"), peakRssBytes: kib("VmHWM") };
}

/** Every descendant of `root` (children, their children, ...) given each process's parent. */
export function descendants(root: number, parents: Map<number, number>): number[] {
    const out: number[] = [];
    const queue = [root];
    while (queue.length > 0) {
        const p = queue.shift()!;
        for (const [pid, ppid] of parents) {
            if (ppid === p && !out.includes(pid)) {
                out.push(pid);
                queue.push(pid);
            }
        }
    }
    return out;
}

/** Per server line of haproxy's `show stat`: new connections opened to it and requests that reused one. */
export interface ServerConnections {
    backend: string;
    server: string;
    /** Connections haproxy opened to the server (`connect`). */
    connect: number;
    /** Requests sent over an already open connection (`reuse`). */
    reuse: number;
    /** Most connections open to it at once (`smax`: sessions). */
    maxSessions: number;
}

/** The server lines (not FRONTEND/BACKEND) of `show stat` CSV output. */
export function parseHaproxyStat(csv: string): ServerConnections[] {
    const lines = csv.split("\n").filter((l) => l.trim() !== "");
    const header = lines[0]?.replace(/^# /, "").split(",") ?? [];
    const col = (name: string) => header.indexOf(name);
    const [pxname, svname, connect, reuse, smax] = ["pxname", "svname", "connect", "reuse", "smax"].map(col);
    if (pxname < 0 || svname < 0 || connect < 0 || reuse < 0) {
        throw new Error("not haproxy `show stat` output (no pxname/svname/connect/reuse columns)");
    }
    return lines
        .slice(1)
        .map((l) => l.split(","))
        .filter((f) => f[svname] !== "FRONTEND" && f[svname] !== "BACKEND")
        .map((f) => ({ backend: f[pxname], server: f[svname], connect: Number(f[connect] || 0), reuse: Number(f[reuse] || 0), maxSessions: Number(f[smax] || 0) }));
}

/** The highest offered rate at which `p99` stays under `limitMs` and the path did not saturate. */
export function highestRateUnder<T extends { rate: number; p99: number; saturated: boolean }>(rows: T[], limitMs: number): T | undefined {
    return [...rows].filter((r) => !r.saturated && r.p99 < limitMs).sort((a, b) => b.rate - a.rate)[0];
}

/** What a path adds over the floor at one percentile: in ms and as a ratio. */
export function overhead(path: number, floor: number): { ms: number; ratio: number } {
    return { ms: path - floor, ratio: floor > 0 ? path / floor : Number.POSITIVE_INFINITY };
}

/** CPU seconds per 1,000 requests (numerically, CPU ms per request) from a process's ticks over a run. */
export function cpuSecondsPerThousand(cpuTicks: number, ticksPerSecond: number, requests: number): number {
    return requests > 0 ? (cpuTicks / ticksPerSecond) * (1000 / requests) : 0;
}

/** haproxy's timers of one logged request (the gateway's log-format: `%TR/%Tw/%Tc/%Tr/%Ta`), in ms. */
export interface HaproxyTimers {
    /** Time to receive the request headers (TR). */
    request: number;
    /** Time waiting in haproxy's queues for a connection slot (Tw). */
    queue: number;
    /** Time to connect to the server (Tc; 0 when a connection was reused). */
    connect: number;
    /** The server's response time, to its headers (Tr). */
    response: number;
    /** Total active time of the request in haproxy, first byte in to last byte out (Ta). */
    active: number;
    status: number;
}

/**
 * The timers of every complete request in a stretch of the gateway's log (components/gateway
 * haproxy.ts log-format). Lines of aborted requests (a timer of -1) are left out.
 */
export function parseHaproxyTimers(log: string): HaproxyTimers[] {
    const out: HaproxyTimers[] = [];
    for (const line of log.split("\n")) {
        const m = / (-?\d+)\/(-?\d+)\/(-?\d+)\/(-?\d+)\/(-?\d+) (\d{3}) /.exec(line);
        if (!m) {
            continue;
        }
        const [request, queue, connect, response, active] = m.slice(1, 6).map(Number);
        if ([request, queue, connect, response, active].some((v) => v < 0)) {
            continue;
        }
        out.push({ request, queue, connect, response, active, status: Number(m[6]) });
    }
    return out;
}

/** The p-th percentile (0-100) of values, nearest rank; 0 for none. */
export function percentile(values: number[], p: number): number {
    if (values.length === 0) {
        return 0;
    }
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Percentiles of haproxy's timers over a run: its own time is Ta - Tr (everything but the server's). */
export interface TimerSummary {
    requests: number;
    /** Ta: the request's whole time inside haproxy. */
    active: { p50: number; p99: number };
    /** Tr: the server's response time as haproxy saw it. */
    response: { p50: number; p99: number };
    /** Ta - Tr per request: haproxy's own time (headers in, queue, connect, body out). */
    own: { p50: number; p99: number };
    /** Tw: time queued for a server slot. */
    queue: { p99: number; max: number };
}

export function summarizeTimers(timers: HaproxyTimers[]): TimerSummary {
    const pick = (f: (t: HaproxyTimers) => number) => timers.map(f);
    const two = (v: number[]) => ({ p50: percentile(v, 50), p99: percentile(v, 99) });
    const queue = pick((t) => t.queue);
    return {
        requests: timers.length,
        active: two(pick((t) => t.active)),
        response: two(pick((t) => t.response)),
        own: two(pick((t) => t.active - t.response)),
        queue: { p99: percentile(queue, 99), max: queue.length > 0 ? Math.max(...queue) : 0 },
    };
}

/**
 * The sum of a Prometheus counter or gauge over the series whose labels include `labels`, from the text
 * exposition format (the dialogue service's /metrics).
 */
export function promSum(text: string, metric: string, labels: Record<string, string> = {}): number {
    let sum = 0;
    for (const line of text.split("\n")) {
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)/.exec(line);
        if (!m || m[1] !== metric) {
            continue;
        }
        const have = new Map([...(m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
        if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) {
            sum += Number(m[4]);
        }
    }
    return sum;
}
