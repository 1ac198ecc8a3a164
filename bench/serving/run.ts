// The serving benchmark (`npm run bench -- --only serving`): requests served by real parts, side by side
// in one run. Real Triton (CPU tritonserver of scripts/install-triton.sh) serves a model of fixed, small
// service time (bench/serving/model.py); k6 (scripts/install-k6.sh) offers load at constant arrival
// rates to each path in turn, round by round:
//   - direct: Triton's HTTP port (the floor);
//   - gateway: haproxy (Debian's) with the generated haproxy.cfg (renderHaproxyConfig: JWT
//     verification, routes, the rate limit), one token for everything as a platform sends;
//   - what-if paths: the same gateway with one setting changed (before the backend-connection fix;
//     the former rate-limit default), to show what each change buys;
//   - the dialogue paths (services/dialogue with models/dialogue): WebSocket turns direct and through the
//     gateway, webhook acknowledgements direct and through the gateway with a loopback receiver
//     (receiver.js) standing in for the platforms' reply URLs, and the dialogue model direct (their floor).
// haproxy's log gives its own timers per request; the dialogue service is also profiled (node --cpu-prof).
// Then the batching sweep (closed loop, concurrency 1 to 64, with and without the dynamic batcher), and
// the cost of each server process (CPU per 1,000 requests, resident memory). Everything listens on
// 127.0.0.1; every load is bounded by its duration. See bench/README.md.
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { gatewaySchema, GatewaySettings, renderHaproxyConfig } from "../../components/gateway";
import { buildClaims, keysSchema } from "../../components/keys";
import { mintToken } from "../../components/keys/jwt";
import { freePort } from "../../test/support/ports";
import { REPO_ROOT } from "../../test/e2e/support/project";
import { ProfileSummary, summarizeCpuProfiles } from "../profile";
import {
    descendants,
    LoadFigures,
    parseHaproxyStat,
    parseK6Summary,
    parseProcStat,
    parseProcStatus,
    parseHaproxyTimers,
    promSum,
    saturated,
    ServerConnections,
    summarizeTimers,
    TimerSummary,
    TURN_METRICS,
} from "./stats";

/** What the serving section runs; `npm run bench -- --help` lists the flags. */
export interface ServingOptions {
    /** Offered rates of the open-loop sweep, requests per second. */
    rates: number[];
    /** Offered rates of the dialogue paths (turns or webhook messages per second). @default rates */
    dialogueRates?: number[];
    /** Seconds of each open-loop run. */
    durationSeconds: number;
    /** Rounds of the sweep (each path at each rate once per round). */
    rounds: number;
    /** Concurrency levels of the batching sweep. */
    concurrency: number[];
    /** Seconds of each batching run. */
    batchDurationSeconds: number;
    /** Service time of the bundled model per execution, ms. */
    computeMs: number;
    /** tritonserver binary (default: scripts/install-triton.sh). A GPU host passes its own build. */
    tritonBin?: string;
    /** A model repository of your own (GPU host): it must hold `model` and `<model>-nobatch`. */
    modelRepository?: string;
    /** The model to load (default: the bundled `fixed`). */
    model: string;
    /** Request body file for that model (default: the bundled model's 16 FP32 values). */
    requestFile?: string;
    /** Also run the what-if gateway paths. */
    whatIf: boolean;
    /** Profile the dialogue service under load (node --cpu-prof). @default true */
    profile?: boolean;
}

/** One k6 run and the CPU its server processes used meanwhile. */
export interface ServingRun {
    path: string;
    /** Open loop: offered rate; closed loop: undefined. */
    rate?: number;
    /** Closed loop: concurrency. */
    vus?: number;
    round: number;
    figures: LoadFigures;
    saturated: boolean;
    /** CPU ticks of each server process group during the run (triton includes its backend stubs). */
    cpuTicks: Record<string, number>;
    /** CPU ms of k6 itself. */
    k6CpuMs: number;
    /** 1-minute load average when the run started. */
    load1: number;
    /** Backend connections haproxy opened and reused during the run (gateway paths). */
    connections?: { connect: number; reuse: number; maxSessions: number };
    /** haproxy's own timers of the run's requests, from its log (HTTP paths through a gateway). */
    timers?: TimerSummary;
    /** Webhook paths: what became of the acknowledged messages' replies. */
    webhook?: WebhookOutcome;
}

/** The replies of one webhook run, counted once the service's queue drained (or the wait ran out). */
export interface WebhookOutcome {
    /** Messages the service acknowledged with 202 (its dialogue_requests_total{route="webhook",code="ok"}). */
    acknowledged: number;
    /** Signed replies (`type: reply`) the loopback receiver got. */
    delivered: number;
    /** Signed error replies it got (model_timeout and the like: delivered, but not an answer). */
    errorReplies: number;
    /** Delivery attempts the service counted as retried or failed (dialogue_webhook_deliveries_total). */
    retried: number;
    failed: number;
    /** ms from k6's end until the service's webhook queue was empty. */
    drainMs: number;
    /** Whether it emptied within the wait (60 s). */
    drained: boolean;
}

/** A process's memory at the end of the section. */
export interface ProcessMemory {
    name: string;
    /** Resident memory at the end, summed over the group's processes. */
    rssBytes: number;
    /** Sum of each process's own peak (VmHWM): at or above the group's true peak. */
    peakRssBytes: number;
    processes: number;
}

/** A path of the sweep. */
export interface PathInfo {
    key: string;
    label: string;
    /** What differs from the generated configuration (what-if paths). */
    note?: string;
    /** Not measured: why. */
    notMeasured?: string;
    /** Measured once at the lowest rate, not in the sweep. */
    once?: boolean;
    /** Part of the dialogue sweep (the dialogue model, rates in turns per second), not the main one. */
    dialogue?: boolean;
}

/** Everything the serving section measured. */
export interface ServingResults {
    options: ServingOptions;
    versions: { triton: string; haproxy: string; k6: string };
    ticksPerSecond: number;
    paths: PathInfo[];
    runs: ServingRun[];
    batching: ServingRun[];
    memory: ProcessMemory[];
    /** The dialogue service's CPU profile under WebSocket turns (with profiling on). */
    serviceProfile?: { rate: number; figures: LoadFigures; summary: ProfileSummary };
    /** The gateway settings the `gateway` path ran with (rate limit, threads, maxconn). */
    gateway: { rateLimit: GatewaySettings["rateLimit"]; threads: number; maxConnections: number };
}

const BUNDLED_MODEL = "fixed";
/** Turns per second of the dialogue service's profiled run: a rate it serves without saturating here. */
const PROFILE_RATE = 400;
/** The platform the dialogue paths' messages come from; its reply URL is the loopback receiver. */
const WEBHOOK_PLATFORM = "bench";

function log(message: string): void {
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function installed(script: string, ...args: string[]): string {
    const r = spawnSync("bash", [path.join(REPO_ROOT, "scripts", script), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 30 * 60_000 });
    if (r.status !== 0) {
        throw new Error(`scripts/${script} failed (exit ${r.status})`);
    }
    return r.stdout.trim().split("\n").pop()!;
}

function modelConfig(name: string, batching: boolean, computeMs: number): string {
    return [
        `name: "${name}"`,
        'backend: "python"',
        // As the platform configures its models (R12): batches up to 32.
        "max_batch_size: 32",
        ...(batching ? ["dynamic_batching { }"] : []),
        'input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 16 ] } ]',
        'output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 16 ] } ]',
        "instance_group [ { kind: KIND_CPU count: 1 } ]",
        `parameters { key: "compute_ms" value: { string_value: "${computeMs}" } }`,
        "",
    ].join("\n");
}

/** The bundled model repository: `fixed` with the dynamic batcher, `fixed-nobatch` without. */
function writeModelRepository(dir: string, computeMs: number): void {
    const source = fs.readFileSync(path.join(__dirname, "model.py"), "utf8");
    for (const [name, batching] of [
        [BUNDLED_MODEL, true],
        [`${BUNDLED_MODEL}-nobatch`, false],
    ] as const) {
        fs.mkdirSync(path.join(dir, name, "1"), { recursive: true });
        fs.writeFileSync(path.join(dir, name, "1", "model.py"), source);
        fs.writeFileSync(path.join(dir, name, "config.pbtxt"), modelConfig(name, batching, computeMs));
    }
}

/** A started server process and its log. */
interface Server {
    name: string;
    proc: ChildProcess;
    logFile: string;
    log: () => string;
}

/** Servers started and not yet exited: stopped by stopStartedServers() when the bench is interrupted. */
const started = new Set<ChildProcess>();

/**
 * Stops every server the section started and has not stopped yet (SIGTERM, then SIGKILL after
 * `graceMs`): bench/run.ts calls it on SIGINT/SIGTERM, when the section's own `finally` cannot run.
 */
export async function stopStartedServers(graceMs = 6000): Promise<number> {
    const live = [...started];
    live.forEach((p) => p.kill("SIGTERM"));
    const until = Date.now() + graceMs;
    while ([...started].length > 0 && Date.now() < until) {
        await sleep(100);
    }
    [...started].forEach((p) => p.kill("SIGKILL"));
    return live.length;
}

function startServer(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Server {
    const out = fs.openSync(logFile, "w");
    const proc = spawn(cmd, args, { env, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    started.add(proc);
    proc.once("exit", () => started.delete(proc));
    return { name, proc, logFile, log: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "") };
}

async function stopServer(s: Server | undefined): Promise<void> {
    if (!s || s.proc.exitCode !== null || s.proc.signalCode !== null) {
        return;
    }
    const exited = new Promise((r) => s.proc.once("exit", r));
    s.proc.kill("SIGTERM");
    await Promise.race([exited, sleep(10_000)]);
    if (s.proc.exitCode === null && s.proc.signalCode === null) {
        s.proc.kill("SIGKILL");
    }
}

async function until(what: string, server: Server, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (server.proc.exitCode !== null || server.proc.signalCode !== null) {
            throw new Error(`${server.name} exited (${server.proc.exitCode ?? server.proc.signalCode}) before ${what}:\n${server.log().slice(-2000)}`);
        }
        if (await probe().catch(() => false)) {
            return;
        }
        await sleep(250);
    }
    throw new Error(`${what}: not within ${timeoutMs / 1000} s:\n${server.log().slice(-2000)}`);
}

async function status(url: string, headers: Record<string, string> = {}): Promise<number> {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
}

/**
 * GET on a new connection. Not fetch: its pooled keep-alive connection may have been closed by the
 * server while this process sat blocked in a k6 run (spawnSync), and reusing it fails the request.
 */
function getFresh(url: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { agent: false, timeout: 5000 }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (body += c));
            res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: ${res.statusCode}`))));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer within 5 s`)));
        req.on("error", reject);
    });
}

/** Every process of the tree rooted at pid (tritonserver and its Python backend stubs). */
function processTree(pid: number): number[] {
    const parents = new Map<number, number>();
    for (const entry of fs.readdirSync("/proc")) {
        if (/^\d+$/.test(entry)) {
            try {
                parents.set(Number(entry), parseProcStat(fs.readFileSync(`/proc/${entry}/stat`, "utf8")).ppid);
            } catch {
                // gone meanwhile
            }
        }
    }
    return [pid, ...descendants(pid, parents)];
}

function treeTicks(pids: number[]): number {
    let sum = 0;
    for (const p of pids) {
        try {
            sum += parseProcStat(fs.readFileSync(`/proc/${p}/stat`, "utf8")).cpuTicks;
        } catch {
            // gone
        }
    }
    return sum;
}

function treeMemory(name: string, pids: number[]): ProcessMemory {
    const m: ProcessMemory = { name, rssBytes: 0, peakRssBytes: 0, processes: 0 };
    for (const p of pids) {
        try {
            const s = parseProcStatus(fs.readFileSync(`/proc/${p}/status`, "utf8"));
            m.rssBytes += s.rssBytes;
            m.peakRssBytes += s.peakRssBytes;
            m.processes++;
        } catch {
            // gone
        }
    }
    return m;
}

function childrenCpuMs(): number {
    // Waited-for children's CPU (cutime, cstime of /proc/self/stat): k6, run synchronously.
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[13]) + Number(f[14])) * 1000) / ticksPerSecond();
}

let tps: number | undefined;
function ticksPerSecond(): number {
    if (tps === undefined) {
        try {
            tps = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
        } catch {
            tps = 100;
        }
    }
    return tps;
}

/** haproxy's `show stat` through its admin socket. */
function haproxyStat(socket: string): Promise<ServerConnections[]> {
    return new Promise((resolve, reject) => {
        const c = net.connect(socket, () => c.write("show stat\n"));
        let data = "";
        c.setEncoding("utf8");
        c.on("data", (d) => (data += d));
        c.on("end", () => {
            try {
                resolve(parseHaproxyStat(data));
            } catch (e) {
                reject(e);
            }
        });
        c.on("error", reject);
    });
}

/** A gateway variant: the generated configuration, or a what-if with one change. */
interface GatewayVariant extends PathInfo {
    settings: GatewaySettings;
    /** Run once at the lowest rate after the sweep instead of in it. */
    once?: boolean;
    /** Edits the generated text (what-if only). */
    transform?: (cfg: string) => string;
}

interface RunningGateway {
    variant: GatewayVariant;
    server: Server;
    port: number;
    socket: string;
}

/**
 * The backend-connection lines the generated configuration adds for its request/response upstreams
 * (components/gateway haproxy.ts: `http-reuse always`): removed, the configuration is the one before
 * that change.
 */
export function withoutBackendReuse(cfg: string): string {
    return cfg
        .split("\n")
        .filter((l) => !/^\s+http-reuse\b/.test(l))
        .join("\n");
}

async function startGateway(
    v: GatewayVariant,
    dir: string,
    tritonPort: number,
    secret: string,
    jwt: { issuer: string; audience: string; lifetimeSeconds: number },
    dialoguePort?: number,
): Promise<RunningGateway> {
    const [port, statsPort] = [await freePort(), await freePort()];
    const socket = path.join(dir, `${v.key}.sock`);
    let cfg = renderHaproxyConfig({
        settings: v.settings,
        jwt,
        listeners: [{ name: "http", address: "127.0.0.1", port }],
        statsListener: { address: "127.0.0.1", port: statsPort },
        upstreams: {
            triton: { host: "127.0.0.1", port: tritonPort },
            "triton-metrics": { host: "127.0.0.1", port: tritonPort },
            ...(dialoguePort ? { dialogue: { host: "127.0.0.1", port: dialoguePort } } : {}),
        },
        process: { pidfile: path.join(dir, `${v.key}.pid`), adminSocket: socket },
    });
    if (v.transform) {
        cfg = v.transform(cfg);
    }
    // haproxy logs every request to stdout: at hundreds per second that is work of its own, as in
    // production (the log sink reads it); kept, into a file.
    const file = path.join(dir, `${v.key}.cfg`);
    fs.writeFileSync(file, cfg);
    const server = startServer(`haproxy (${v.key})`, "haproxy", ["-db", "-f", file], { PATH: process.env.PATH, JWT_SECRET: secret }, path.join(dir, `${v.key}.log`));
    await until(`haproxy (${v.key}) to answer its probe`, server, 20_000, async () => (await status(`http://127.0.0.1:${statsPort}/healthz`)) === 200);
    return { variant: v, server, port, socket };
}

function k6Version(k6: string): string {
    return execFileSync(k6, ["version"], { encoding: "utf8" }).split("\n")[0].trim();
}

interface LoadSpec {
    url: string;
    token?: string;
    mode: "rate" | "vus";
    rate?: number;
    vus?: number;
    durationSeconds: number;
}

/** The dialogue scenarios: WebSocket turns (dialogue.k6.js) or webhook posts (webhook.k6.js), signed with the R11 key. */
interface DialogueScenario {
    kind: "ws" | "webhook";
    hmacKey: string;
    platform: string;
    /** WebSocket: turns per session. */
    turns: number;
}

function runK6(k6: string, spec: LoadSpec, bodyFile: string, scratch: string, ws?: DialogueScenario): { figures: LoadFigures; k6CpuMs: number } {
    const summary = path.join(scratch, `k6-summary-${process.pid}.json`);
    fs.rmSync(summary, { force: true });
    const cpu0 = childrenCpuMs();
    const script = path.join(__dirname, ws ? (ws.kind === "ws" ? "dialogue.k6.js" : "webhook.k6.js") : "load.k6.js");
    const r = spawnSync(k6, ["run", "--quiet", "--no-usage-report", "--no-color", "--log-output=none", script], {
        encoding: "utf8",
        env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            URL: spec.url,
            TOKEN: spec.token ?? "",
            BODY_FILE: bodyFile,
            MODE: spec.mode,
            RATE: String(spec.rate ?? 0),
            VUS: String(spec.vus ?? 0),
            // Open loop: up to this many requests in flight; past it, arrivals are dropped (saturation).
            MAX_VUS: "256",
            DURATION: `${spec.durationSeconds}s`,
            SUMMARY_FILE: summary,
            K6_NO_USAGE_REPORT: "true",
            ...(ws ? { HMAC_KEY: ws.hmacKey, PLATFORM: ws.platform } : {}),
            // WebSocket sessions of `turns` turns: sessions per second = turns per second / turns.
            ...(ws?.kind === "ws" ? { TURNS: String(ws.turns), RATE: String(Math.max(1, Math.round((spec.rate ?? 0) / ws.turns))) } : {}),
        },
        // Bounded: the scenario's own duration, plus k6's start, graceful stop (30 s at most) and summary.
        timeout: (spec.durationSeconds + 60) * 1000,
    });
    const k6CpuMs = childrenCpuMs() - cpu0;
    if (!fs.existsSync(summary)) {
        throw new Error(`k6 wrote no summary (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout || "").slice(-1500)}`);
    }
    return { figures: parseK6Summary(fs.readFileSync(summary, "utf8"), ws?.kind === "ws" ? TURN_METRICS : undefined), k6CpuMs };
}

/** Measures the serving paths; see the file's head comment. */
export async function measureServing(o: ServingOptions, scratch: string, defaults: { settings?: GatewaySettings } = {}): Promise<ServingResults> {
    const dir = path.join(scratch, "serving");
    fs.mkdirSync(dir, { recursive: true });
    const haproxyVersion = spawnSync("haproxy", ["-v"], { encoding: "utf8" });
    if (haproxyVersion.error || haproxyVersion.status !== 0) {
        throw new Error("haproxy is not installed: apt-get install haproxy (scripts/apt-packages.txt)");
    }
    log("k6: scripts/install-k6.sh (a cached build after the first)");
    const k6 = installed("install-k6.sh");
    const tritonBin = o.tritonBin ?? installed("install-triton.sh", "--print-path");
    const repo = o.modelRepository ?? path.join(dir, "models");
    if (!o.modelRepository) {
        writeModelRepository(repo, o.computeMs);
    }
    // The dialogue path: the service (services/dialogue) and its example model (models/dialogue), when present.
    const dialogueMain = path.join(REPO_ROOT, "services/dialogue/main.js");
    const dialogueModel = path.join(REPO_ROOT, "models/dialogue");
    const withDialogue = fs.existsSync(dialogueMain) && fs.existsSync(path.join(dialogueModel, "config.pbtxt")) && fs.existsSync(repo);
    if (withDialogue && !fs.existsSync(path.join(repo, "dialogue"))) {
        fs.cpSync(dialogueModel, path.join(repo, "dialogue"), { recursive: true, filter: (f) => !f.includes("__pycache__") });
    }
    const dialogueBody = path.join(dir, "dialogue-request.json");
    fs.writeFileSync(
        dialogueBody,
        JSON.stringify({
            inputs: [
                { name: "QUERY", shape: [1, 1], datatype: "BYTES", data: ["turn 1 of the benchmark"] },
                { name: "HISTORY", shape: [1, 1], datatype: "BYTES", data: ["[]"] },
            ],
            outputs: [{ name: "REPLY" }],
        }),
    );
    const bodyFile = o.requestFile ?? path.join(dir, "request.json");
    if (!o.requestFile) {
        const data = Array.from({ length: 16 }, (_, i) => i / 16);
        fs.writeFileSync(bodyFile, JSON.stringify({ inputs: [{ name: "INPUT0", shape: [1, 16], datatype: "FP32", data }] }));
    }

    const [tritonPort, tritonMetricsPort] = [await freePort(), await freePort()];
    const servers: Server[] = [];
    const gateways: RunningGateway[] = [];
    try {
        const triton = startServer(
            "tritonserver",
            tritonBin,
            [
                `--model-repository=${repo}`,
                `--backend-directory=${path.join(path.dirname(tritonBin), "..", "backends")}`,
                "--http-address=127.0.0.1",
                `--http-port=${tritonPort}`,
                "--allow-grpc=false",
                "--metrics-address=127.0.0.1",
                `--metrics-port=${tritonMetricsPort}`,
                "--allow-gpu-metrics=false",
                "--exit-timeout-secs=5",
            ],
            { PATH: process.env.PATH, HOME: process.env.HOME },
            path.join(dir, "triton.log"),
        );
        servers.push(triton);
        const tritonUrl = `http://127.0.0.1:${tritonPort}`;
        const models = [o.model, `${o.model}-nobatch`];
        const readyModels = withDialogue ? [...models, "dialogue"] : models;
        log(`serving: starting tritonserver (${tritonBin}) with ${models.join(", ")}`);
        await until("Triton to load the models", triton, 180_000, async () => {
            for (const m of readyModels) {
                if ((await status(`${tritonUrl}/v2/models/${m}/ready`)) !== 200) {
                    return false;
                }
            }
            return true;
        });
        const tritonVersion = ((await (await fetch(`${tritonUrl}/v2`)).json()) as { version?: string }).version ?? "unknown";

        // The gateway as a platform meets it: default settings, one token with the default claims.
        const settings = defaults.settings ?? gatewaySchema.parse({});
        const keys = keysSchema.parse({});
        const claims = buildClaims(keys);
        const jwt = { issuer: claims.iss, audience: claims.aud, lifetimeSeconds: keys.jwt.lifetimeSeconds };
        const secret = Buffer.from(Array.from({ length: 48 }, (_, i) => (i * 37 + 11) % 256)).toString("base64url");
        const token = await mintToken(secret, claims);
        const variants: GatewayVariant[] = [{ key: "gateway", label: "through the gateway (generated haproxy.cfg)", settings }];
        if (o.whatIf) {
            variants.push({
                key: "gateway-before",
                label: "what-if: the gateway before the backend-connection change",
                note: "the generated haproxy.cfg without its `http-reuse always` lines",
                settings,
                transform: withoutBackendReuse,
            });
            variants.push({
                key: "gateway-former-limit",
                label: "what-if: the gateway with the former rate-limit default (300 per 10 s per token), one token",
                note: "rateLimit 300 per 10 s, as before the limit was sized for a platform",
                settings: gatewaySchema.parse({ rateLimit: { requests: 300, periodSeconds: 10 } }),
                once: true,
            });
        }
        // The dialogue service as its tests run it: memory store, its own HMAC key, Triton's URL; webhook
        // replies go to the loopback receiver (bench/serving/receiver.js), the platforms' stand-in.
        const hmacKey = "bench-hmac-key-0123456789abcdef0123456789abcdef";
        let dialogue: { server: Server; port: number; adminPort: number } | undefined;
        let receiver: { server: Server; port: number } | undefined;
        const dialogueConfig = (name: string, port: number, adminPort: number): string => {
            const file = path.join(dir, `${name}.json`);
            fs.writeFileSync(
                file,
                JSON.stringify({
                    listen: { host: "127.0.0.1", port },
                    admin: { host: "127.0.0.1", port: adminPort },
                    tritonUrl,
                    model: "dialogue",
                    hmacKeyFile: path.join(dir, "hmac.key"),
                    replyUrlsFile: path.join(dir, "reply-urls.json"),
                    platforms: [WEBHOOK_PLATFORM],
                    store: { kind: "memory" },
                }),
            );
            return file;
        };
        if (withDialogue) {
            const [port, adminPort, receiverPort] = [await freePort(), await freePort(), await freePort()];
            const rx = startServer("reply receiver", process.execPath, [path.join(__dirname, "receiver.js")], { PATH: process.env.PATH, PORT: String(receiverPort) }, path.join(dir, "receiver.log"));
            servers.push(rx);
            await until("the reply receiver to listen", rx, 20_000, async () => (await status(`http://127.0.0.1:${receiverPort}/stats`)) === 200);
            receiver = { server: rx, port: receiverPort };
            fs.writeFileSync(path.join(dir, "hmac.key"), hmacKey);
            fs.writeFileSync(path.join(dir, "reply-urls.json"), JSON.stringify({ [WEBHOOK_PLATFORM]: `http://127.0.0.1:${receiverPort}/reply` }));
            const server = startServer("dialogue service", process.execPath, [dialogueMain], { PATH: process.env.PATH, HOME: process.env.HOME, DIALOGUE_CONFIG: dialogueConfig("dialogue", port, adminPort) }, path.join(dir, "dialogue.log"));
            servers.push(server);
            log("serving: starting the dialogue service (services/dialogue, memory store)");
            await until("the dialogue service to be ready", server, 60_000, async () => (await status(`http://127.0.0.1:${adminPort}/readyz`)) === 200);
            dialogue = { server, port, adminPort };
        }
        for (const v of variants) {
            gateways.push(await startGateway(v, dir, tritonPort, secret, jwt, dialogue?.port));
        }
        const gatewayUrl = (g: RunningGateway) => `http://127.0.0.1:${g.port}/v2/models/${o.model}/infer`;
        // Everything answers before any load: a path that fails here would only measure errors.
        for (const g of gateways) {
            const s = await status(`http://127.0.0.1:${g.port}/v2/models/${o.model}/ready`, { authorization: `Bearer ${token}` });
            if (s !== 200) {
                throw new Error(`${g.variant.key}: readiness through the gateway answered ${s}:\n${g.server.log().slice(-1500)}`);
            }
        }
        const tritonPids = processTree(triton.proc.pid!);
        const groups = (): Record<string, number[]> => ({
            triton: tritonPids,
            ...Object.fromEntries(gateways.map((g) => [`haproxy:${g.variant.key}`, [g.server.proc.pid!]])),
            ...(dialogue ? { dialogue: [dialogue.server.proc.pid!] } : {}),
            ...(receiver ? { receiver: [receiver.server.proc.pid!] } : {}),
        });

        const paths: PathInfo[] = [
            { key: "direct", label: "direct to Triton (the floor)" },
            ...variants.map(({ key, label, note, once }) => ({ key, label, note, once })),
            ...(dialogue
                ? [
                      { key: "dialogue-model", label: "the dialogue model (models/dialogue), direct to Triton: the dialogue paths' floor", dialogue: true },
                      { key: "dialogue-ws", label: "WebSocket turns to the dialogue service directly (its own overhead)", dialogue: true },
                      { key: "dialogue-ws-gateway", label: "WebSocket turns through the gateway (?token=) and the dialogue service: the full path", dialogue: true },
                      {
                          key: "dialogue-webhook",
                          label: "webhook acknowledgement (POST /webhook/<platform> to its 202) of the dialogue service directly; replies to the loopback receiver",
                          dialogue: true,
                      },
                      {
                          key: "dialogue-webhook-gateway",
                          label: "webhook acknowledgement through the gateway (bearer token) and the dialogue service: the full path",
                          dialogue: true,
                      },
                  ]
                : [
                      {
                          key: "dialogue-ws",
                          label: "WebSocket turns through the dialogue service",
                          notMeasured: o.modelRepository ? "a model repository of your own has no dialogue model" : "services/dialogue or models/dialogue is missing",
                      },
                  ]),
        ];
        const main = () => gateways.find((x) => x.variant.key === "gateway")!;
        const target = (key: string): { url: string; token?: string; gateway?: RunningGateway; logOf?: RunningGateway; body?: string; ws?: boolean; webhook?: boolean } => {
            if (key === "direct") {
                return { url: `${tritonUrl}/v2/models/${o.model}/infer` };
            }
            if (key === "dialogue-model") {
                return { url: `${tritonUrl}/v2/models/dialogue/infer`, body: dialogueBody };
            }
            if (key === "dialogue-ws") {
                return { url: `ws://127.0.0.1:${dialogue!.port}/chat`, ws: true };
            }
            if (key === "dialogue-ws-gateway") {
                return { url: `ws://127.0.0.1:${main().port}/chat?token=${token}`, ws: true };
            }
            if (key === "dialogue-webhook") {
                return { url: `http://127.0.0.1:${dialogue!.port}/webhook/${WEBHOOK_PLATFORM}`, webhook: true };
            }
            if (key === "dialogue-webhook-gateway") {
                return { url: `http://127.0.0.1:${main().port}/webhook/${WEBHOOK_PLATFORM}`, token, logOf: main(), webhook: true };
            }
            const g = gateways.find((x) => x.variant.key === key)!;
            return { url: gatewayUrl(g), token, gateway: g, logOf: g };
        };

        const receiverStats = async (): Promise<{ replies: number; errorReplies: number }> =>
            JSON.parse(await getFresh(`http://127.0.0.1:${receiver!.port}/stats`)) as { replies: number; errorReplies: number };
        const serviceMetrics = (): Promise<string> => getFresh(`http://127.0.0.1:${dialogue!.adminPort}/metrics`);

        const measure = async (key: string, spec: Omit<LoadSpec, "url" | "token">, round: number, model = o.model): Promise<ServingRun> => {
            const t = target(key);
            const url = t.url.replace(`/models/${o.model}/`, `/models/${model}/`);
            const g = groups();
            const before = Object.fromEntries(Object.entries(g).map(([k, pids]) => [k, treeTicks(pids)]));
            const stat0 = t.gateway ? await haproxyStat(t.gateway.socket) : undefined;
            const load1 = os.loadavg()[0];
            const logFile = t.logOf ? t.logOf.server.logFile : undefined;
            const logStart = logFile && fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
            const rx0 = t.webhook ? await receiverStats() : undefined;
            const m0 = t.webhook ? await serviceMetrics() : undefined;
            const scenario: DialogueScenario | undefined = t.ws || t.webhook ? { kind: t.ws ? "ws" : "webhook", hmacKey, platform: WEBHOOK_PLATFORM, turns: 3 } : undefined;
            const { figures, k6CpuMs } = runK6(k6, { ...spec, url, token: t.token }, t.body ?? bodyFile, dir, scenario);
            let webhook: WebhookOutcome | undefined;
            if (t.webhook && rx0 && m0 !== undefined) {
                // Every acknowledged reply is delivered after the acknowledgement: wait (bounded) for the
                // service's queue to empty, so the service's CPU and the receiver's counts cover them all.
                const w0 = performance.now();
                let drained = false;
                while (performance.now() - w0 < 60_000) {
                    if (promSum(await serviceMetrics(), "dialogue_webhook_queue_length") === 0) {
                        drained = true;
                        break;
                    }
                    await sleep(100);
                }
                const [rx1, m1] = [await receiverStats(), await serviceMetrics()];
                const outcome = (m: string, o: string) => promSum(m, "dialogue_webhook_deliveries_total", { outcome: o });
                // Acknowledged as the service counts them (202s it sent): under saturation k6 may give up on a
                // request (timeout) the service still accepted, and that message's reply is delivered too.
                const acked = (m: string) => promSum(m, "dialogue_requests_total", { route: "webhook", code: "ok" });
                webhook = {
                    acknowledged: acked(m1) - acked(m0),
                    delivered: rx1.replies - rx0.replies,
                    errorReplies: rx1.errorReplies - rx0.errorReplies,
                    retried: outcome(m1, "retried") - outcome(m0, "retried"),
                    failed: outcome(m1, "failed") - outcome(m0, "failed"),
                    drainMs: performance.now() - w0,
                    drained,
                };
            }
            const cpuTicks = Object.fromEntries(Object.entries(g).map(([k, pids]) => [k, treeTicks(pids) - before[k]]));
            let timers: TimerSummary | undefined;
            if (logFile && fs.existsSync(logFile)) {
                // haproxy writes a request's log line when it ends: every request of the run has its line by now.
                const fd = fs.openSync(logFile, "r");
                try {
                    const size = fs.statSync(logFile).size;
                    const buf = Buffer.alloc(Math.max(0, size - logStart));
                    fs.readSync(fd, buf, 0, buf.length, logStart);
                    timers = summarizeTimers(parseHaproxyTimers(buf.toString("utf8")));
                } finally {
                    fs.closeSync(fd);
                }
            }
            let connections: ServingRun["connections"];
            if (t.gateway && stat0) {
                const stat1 = await haproxyStat(t.gateway.socket);
                const sum = (s: ServerConnections[], f: (x: ServerConnections) => number) => s.filter((x) => x.backend === "route_infer").reduce((a, x) => a + f(x), 0);
                connections = {
                    connect: sum(stat1, (x) => x.connect) - sum(stat0, (x) => x.connect),
                    reuse: sum(stat1, (x) => x.reuse) - sum(stat0, (x) => x.reuse),
                    maxSessions: sum(stat1, (x) => x.maxSessions),
                };
            }
            return {
                path: key,
                rate: spec.rate,
                vus: spec.vus,
                round,
                figures,
                // A webhook answered 503 `overloaded` when the service's reply queue was full: its own saturation signal.
                saturated: spec.mode === "rate" ? saturated(figures, spec.rate!) || (t.webhook === true && figures.overloaded > 0) : false,
                cpuTicks,
                k6CpuMs,
                load1,
                connections,
                timers,
                webhook,
            };
        };

        const measured = paths.filter((p) => !p.notMeasured && !p.once && !p.dialogue).map((p) => p.key);
        const dialoguePaths = paths.filter((p) => p.dialogue && !p.notMeasured).map((p) => p.key);
        log(`serving: warm-up (2 s at 50 req/s per path)`);
        for (const key of [...measured, ...dialoguePaths]) {
            await measure(key, { mode: "rate", rate: 50, durationSeconds: 2 }, 0);
        }
        const runs: ServingRun[] = [];
        const t0 = performance.now();
        for (let round = 1; round <= o.rounds; round++) {
            for (const rate of o.rates) {
                // Rotate the order each round and rate, so a change in the machine's load touches every path alike.
                const shift = (round + o.rates.indexOf(rate)) % measured.length;
                const order = [...measured.slice(shift), ...measured.slice(0, shift)];
                for (const key of order) {
                    const run = await measure(key, { mode: "rate", rate, durationSeconds: o.durationSeconds }, round);
                    runs.push(run);
                    const f = run.figures;
                    log(
                        `serving round ${round}/${o.rounds} ${key} @ ${rate}/s: ${f.rps.toFixed(0)}/s, p50 ${f.p50.toFixed(2)} p99 ${f.p99.toFixed(2)} max ${f.max.toFixed(1)} ms, ` +
                            `${f.failed} failed, ${f.dropped} dropped${run.saturated ? " (saturated)" : ""}${run.connections ? `, backend connections opened ${run.connections.connect}` : ""}`,
                    );
                }
            }
        }
        log(`serving sweep took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
        for (const p of paths.filter((x) => x.once)) {
            const rate = Math.min(...o.rates);
            const run = await measure(p.key, { mode: "rate", rate, durationSeconds: o.durationSeconds }, 1);
            runs.push(run);
            log(`serving ${p.key} @ ${rate}/s: ${run.figures.rateLimited} of ${run.figures.requests} answered 429`);
        }

        // The dialogue paths: their own model and floor, rates in turns per second (3 turns per WebSocket session).
        // The dialogue paths run at the same rates as the others by default, so each family is judged at
        // its own floor's limit rather than at the top of a shorter sweep.
        const dialogueRates = o.dialogueRates ?? o.rates;
        for (let round = 1; round <= o.rounds && dialoguePaths.length > 0; round++) {
            for (const rate of dialogueRates) {
                const shift = (round + dialogueRates.indexOf(rate)) % dialoguePaths.length;
                for (const key of [...dialoguePaths.slice(shift), ...dialoguePaths.slice(0, shift)]) {
                    const run = await measure(key, { mode: "rate", rate, durationSeconds: o.durationSeconds }, round);
                    runs.push(run);
                    const f = run.figures;
                    const w = run.webhook;
                    log(
                        `dialogue round ${round}/${o.rounds} ${key} @ ${rate}/s: ${f.rps.toFixed(0)}/s, p50 ${f.p50.toFixed(2)} p99 ${f.p99.toFixed(2)} ms, ${f.failed} failed${run.saturated ? " (saturated)" : ""}` +
                            (w ? `; replies delivered ${w.delivered} of ${w.acknowledged} acknowledged (${w.errorReplies} error replies, ${w.retried} retried, ${w.failed} failed), drained in ${(w.drainMs / 1000).toFixed(1)} s` : ""),
                    );
                }
            }
        }

        // A CPU profile of the dialogue service under WebSocket turns (node --cpu-prof): a second instance,
        // profiled from start to exit, at a rate below saturation. Where its own time goes.
        let serviceProfile: ServingResults["serviceProfile"];
        if (dialogue && o.profile !== false) {
            const [port, adminPort] = [await freePort(), await freePort()];
            const profDir = path.join(dir, "dialogue-profile");
            const env = { PATH: process.env.PATH, HOME: process.env.HOME, DIALOGUE_CONFIG: dialogueConfig("dialogue-profiled", port, adminPort) };
            const server = startServer("dialogue service (profiled)", process.execPath, ["--cpu-prof", `--cpu-prof-dir=${profDir}`, dialogueMain], env, path.join(dir, "dialogue-profiled.log"));
            try {
                await until("the profiled dialogue service to be ready", server, 60_000, async () => (await status(`http://127.0.0.1:${adminPort}/readyz`)) === 200);
                const scenario: DialogueScenario = { kind: "ws", hmacKey, platform: WEBHOOK_PLATFORM, turns: 3 };
                runK6(k6, { url: `ws://127.0.0.1:${port}/chat`, mode: "rate", rate: 50, durationSeconds: 2 }, bodyFile, dir, scenario);
                const { figures } = runK6(k6, { url: `ws://127.0.0.1:${port}/chat`, mode: "rate", rate: PROFILE_RATE, durationSeconds: o.durationSeconds }, bodyFile, dir, scenario);
                await stopServer(server);
                const files = fs.existsSync(profDir) ? fs.readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile")).map((f) => path.join(profDir, f)) : [];
                if (files.length > 0) {
                    serviceProfile = {
                        rate: PROFILE_RATE,
                        figures,
                        summary: summarizeCpuProfiles(files, { label: `dialogue service, ${PROFILE_RATE} turns/s for ${o.durationSeconds} s after a warm-up`, projectRoot: REPO_ROOT, top: 12 }),
                    };
                    log(`serving: profiled the dialogue service at ${PROFILE_RATE} turns/s (${figures.rps.toFixed(0)}/s, p99 ${figures.p99.toFixed(1)} ms)`);
                }
            } finally {
                await stopServer(server);
            }
        }

        const batching: ServingRun[] = [];
        for (const vus of o.concurrency) {
            for (const model of models) {
                const run = await measure("direct", { mode: "vus", vus, durationSeconds: o.batchDurationSeconds }, 1, model);
                batching.push({ ...run, path: model });
                log(`batching ${model} x${vus}: ${run.figures.rps.toFixed(0)}/s, p99 ${run.figures.p99.toFixed(2)} ms, ${run.figures.failed} failed`);
            }
        }

        const memory = Object.entries(groups()).map(([k, pids]) => treeMemory(k, pids));
        return {
            options: o,
            versions: { triton: `${tritonVersion} (${path.relative(os.homedir(), tritonBin)})`, haproxy: haproxyVersion.stdout.split("\n")[0].trim(), k6: k6Version(k6) },
            ticksPerSecond: ticksPerSecond(),
            paths,
            runs,
            batching,
            memory,
            serviceProfile,
            gateway: { rateLimit: settings.rateLimit, threads: settings.threads, maxConnections: settings.maxConnections },
        };
    } finally {
        for (const g of gateways) {
            await stopServer(g.server);
        }
        for (const s of servers) {
            await stopServer(s);
        }
    }
}
