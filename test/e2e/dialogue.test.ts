// The dialogue path for real, on loopback: Debian's haproxy running the generated gateway config
// (JWT checks, routes), two replicas of the dialogue service (services/dialogue, started as the image
// starts it, from the configuration components/dialogue generates), Debian's redis-server as the shared
// store, and a real Triton (scripts/install-triton.sh) serving the example model models/dialogue. A
// loopback HTTP server plays the collaboration platform's webhook reply endpoint.
import { ChildProcess, spawn, spawnSync } from "child_process";
import { createHmac, randomUUID } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { dialogueRuntimeConfig, dialogueSchema, SECRET_FILES } from "../../components/dialogue";
import { buildSignedEnvelope, canonicalJson, HistoryEntry } from "../../components/envelope";
import { gatewaySchema, renderHaproxyConfig } from "../../components/gateway";
import { buildClaims, keysSchema } from "../../components/keys";
import { mintToken } from "../../components/keys/jwt";
import { freePort } from "../support/ports";

const ROOT = path.resolve(__dirname, "../..");
const JWT_SECRET = "jwt-secret-of-the-dialogue-e2e-test-0123456789";
const HMAC_KEY = "hmac-key-of-the-dialogue-e2e-test-0123456789";
const REDIS_PASSWORD = "redis-password-of-the-dialogue-e2e-0123";
const PLATFORM = "dingtalk";

let work: string;
const procs: { name: string; proc: ChildProcess }[] = [];
let receiver: http.Server;
const delivered: Record<string, unknown>[] = [];
const ports: Record<string, number> = {};
let token: string;

function start(name: string, cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
    const out = fs.openSync(path.join(work, `${name}.log`), "a");
    const proc = spawn(cmd, args, { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: work, ...env }, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    procs.push({ name, proc });
    return proc;
}

function logOf(name: string): string {
    const f = path.join(work, `${name}.log`);
    return fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "";
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
    const end = Date.now() + ms;
    let last: unknown;
    while (Date.now() < end) {
        try {
            const v = await probe();
            if (v !== undefined) {
                return v;
            }
        } catch (e) {
            last = e;
            if ((e as Error).message.startsWith("exited")) {
                throw e;
            }
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

async function ok(url: string): Promise<true | undefined> {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200 ? true : undefined;
}

function alive(name: string): void {
    const p = procs.find((x) => x.name === name)!.proc;
    if (p.exitCode !== null || p.signalCode !== null) {
        throw new Error(`exited: ${name} (${p.exitCode ?? p.signalCode}):\n${logOf(name).slice(-3000)}`);
    }
}

/** An R11 message, signed with the test's HMAC key unless `key` says otherwise. */
function message(o: { session: string; query: string; history?: HistoryEntry[]; messageId?: string; timestamp?: number; key?: string }) {
    return buildSignedEnvelope(
        { platform: PLATFORM, sessionId: o.session, query: o.query, history: o.history, messageId: o.messageId, timestamp: o.timestamp ?? Date.now() },
        o.key ?? HMAC_KEY,
    );
}

/** A WebSocket through gateway `g` (0 or 1), with the token as ?token= (R9). */
async function chat(g: 0 | 1): Promise<{ ws: WebSocket; ask: (m: object) => Promise<Record<string, unknown>> }> {
    const ws = new WebSocket(`ws://127.0.0.1:${ports[`gateway${g}`]}/chat?token=${token}`);
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const inbox: ((m: Record<string, unknown>) => void)[] = [];
    ws.on("message", (d) => inbox.shift()?.(JSON.parse(d.toString()) as Record<string, unknown>));
    return {
        ws,
        ask: (m) =>
            new Promise((resolve, reject) => {
                const timer = setTimeout(() => reject(new Error("no answer within 10 s")), 10_000);
                inbox.push((r) => {
                    clearTimeout(timer);
                    resolve(r);
                });
                ws.send(JSON.stringify(m));
            }),
    };
}

function post(g: 0 | 1, urlPath: string, body: unknown): Promise<Response> {
    return fetch(`http://127.0.0.1:${ports[`gateway${g}`]}${urlPath}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
    });
}

/** Counts of the model's successful inferences, from Triton's own metrics. */
async function inferences(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${ports.tritonMetrics}/metrics`)).text();
    const m = /^nv_inference_request_success\{[^}]*model="dialogue"[^}]*\} (\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
}

beforeAll(async () => {
    for (const k of ["gateway0", "gateway1", "stats0", "stats1", "svc0", "svc1", "admin0", "admin1", "redis", "tritonHttp", "tritonMetrics", "receiver"]) {
        ports[k] = await freePort();
    }
    work = fs.mkdtempSync(path.join(os.tmpdir(), "dialogue-e2e-"));
    for (const tool of ["/usr/bin/redis-server", "/usr/sbin/haproxy"]) {
        if (!fs.existsSync(tool)) {
            throw new Error(`${tool} is missing: install the Debian packages of scripts/apt-packages.txt (redis-server, haproxy)`);
        }
    }
    const install = spawnSync("bash", [path.join(ROOT, "scripts", "install-triton.sh"), "--print-path"], { encoding: "utf8", timeout: 15 * 60_000 });
    if (install.status !== 0) {
        throw new Error(`scripts/install-triton.sh failed (exit ${install.status}):\n${install.stderr}`);
    }
    const tritonBin = install.stdout.trim().split("\n")[0];

    // The platform's reply endpoint.
    receiver = http.createServer((req, res) => {
        let b = "";
        req.on("data", (c) => (b += c)).on("end", () => {
            delivered.push(JSON.parse(b) as Record<string, unknown>);
            res.writeHead(200).end();
        });
    });
    await new Promise<void>((r) => receiver.listen(ports.receiver, "127.0.0.1", r));

    // Redis, with a password from its config file (never on a command line).
    fs.writeFileSync(path.join(work, "redis.conf"), `port ${ports.redis}\nbind 127.0.0.1\nsave ""\nappendonly no\nrequirepass ${REDIS_PASSWORD}\ndir ${work}\n`, { mode: 0o600 });
    start("redis", "/usr/bin/redis-server", [path.join(work, "redis.conf")]);

    // Triton with the example model (copied: the Python backend writes __pycache__ next to it).
    fs.cpSync(path.join(ROOT, "models"), path.join(work, "models"), { recursive: true, filter: (src) => !src.includes("__pycache__") });
    start("triton", tritonBin, [
        `--model-repository=${path.join(work, "models")}`,
        `--backend-directory=${path.join(path.dirname(tritonBin), "..", "backends")}`,
        "--http-address=127.0.0.1",
        `--http-port=${ports.tritonHttp}`,
        "--allow-grpc=false",
        "--metrics-address=127.0.0.1",
        `--metrics-port=${ports.tritonMetrics}`,
        "--allow-gpu-metrics=false",
        "--exit-timeout-secs=5",
    ]);

    // Two replicas of the service, each with the configuration the component generates.
    const settings = dialogueSchema.parse({ limits: { maxHistoryTurns: 8 }, webhook: { backoffMs: 100 } });
    const secrets = path.join(work, "secrets");
    fs.mkdirSync(secrets, { mode: 0o700 });
    fs.writeFileSync(path.join(secrets, SECRET_FILES.hmacKey), HMAC_KEY, { mode: 0o600 });
    fs.writeFileSync(path.join(secrets, SECRET_FILES.redisPassword), REDIS_PASSWORD, { mode: 0o600 });
    fs.writeFileSync(path.join(secrets, SECRET_FILES.replyUrls), JSON.stringify({ [PLATFORM]: `http://127.0.0.1:${ports.receiver}/reply` }), { mode: 0o600 });
    for (const i of [0, 1]) {
        const cfg = dialogueRuntimeConfig(
            { ...settings, port: ports[`svc${i}`], adminPort: ports[`admin${i}`] },
            {
                tritonUrl: `http://127.0.0.1:${ports.tritonHttp}`,
                redis: { host: "127.0.0.1", port: ports.redis, password: true },
                listenHost: "127.0.0.1",
                secretsDir: secrets,
                replyUrls: true,
            },
        );
        fs.writeFileSync(path.join(work, `dialogue${i}.json`), JSON.stringify(cfg));
        start(`dialogue${i}`, process.execPath, [path.join(ROOT, "services", "dialogue", "main.js")], { DIALOGUE_CONFIG: path.join(work, `dialogue${i}.json`) });
    }

    // Two gateways (as in two zones), each in front of one replica.
    const gw = gatewaySchema.parse({});
    for (const i of [0, 1]) {
        const cfg = renderHaproxyConfig({
            settings: gw,
            jwt: { issuer: "model-service", audience: "collaboration-platform", lifetimeSeconds: 3600 },
            listeners: [{ name: "http", address: "127.0.0.1", port: ports[`gateway${i}`] }],
            statsListener: { address: "127.0.0.1", port: ports[`stats${i}`] },
            upstreams: {
                triton: { host: "127.0.0.1", port: ports.tritonHttp },
                "triton-metrics": { host: "127.0.0.1", port: ports.tritonMetrics },
                dialogue: { host: "127.0.0.1", port: ports[`svc${i}`] },
            },
            process: { pidfile: path.join(work, `haproxy${i}.pid`) },
        });
        fs.writeFileSync(path.join(work, `haproxy${i}.cfg`), cfg);
        start(`haproxy${i}`, "/usr/sbin/haproxy", ["-db", "-f", path.join(work, `haproxy${i}.cfg`)], { JWT_SECRET });
    }
    token = await mintToken(JWT_SECRET, buildClaims(keysSchema.parse({})), { scope: ["chat:write"] });

    await until("Triton to load the dialogue model", 180_000, async () => {
        alive("triton");
        return ok(`http://127.0.0.1:${ports.tritonHttp}/v2/models/dialogue/ready`);
    });
    for (const i of [0, 1]) {
        await until(`dialogue replica ${i} to be ready (Redis reached)`, 60_000, async () => {
            alive(`dialogue${i}`);
            alive("redis");
            return ok(`http://127.0.0.1:${ports[`admin${i}`]}/readyz`);
        });
        await until(`gateway ${i}`, 30_000, async () => {
            alive(`haproxy${i}`);
            return ok(`http://127.0.0.1:${ports[`stats${i}`]}/healthz`);
        });
    }
}, 20 * 60_000);

afterAll(async () => {
    for (const { proc } of procs.reverse()) {
        if (proc.exitCode === null && proc.signalCode === null) {
            const exited = new Promise((r) => proc.once("exit", r));
            proc.kill("SIGTERM");
            const t = setTimeout(() => proc.kill("SIGKILL"), 15_000);
            await exited;
            clearTimeout(t);
        }
    }
    await new Promise((r) => receiver?.close(r));
    if (work) {
        fs.rmSync(work, { recursive: true, force: true });
    }
});

describe("the dialogue service behind the gateway, with Redis and Triton", () => {
    it("holds a WebSocket conversation of several turns where the model sees the history, on one connection", async () => {
        const { ws, ask } = await chat(0);
        const session = `ws-${randomUUID()}`;
        const replies: Record<string, unknown>[] = [];
        for (const q of ["hello", "how are you", "tell me more", "thanks"]) {
            replies.push(await ask(message({ session, query: q })));
        }
        ws.close();
        expect(replies.map((r) => [r.type, r.session_id])).toEqual(Array(4).fill(["reply", session]));
        // The example model counts the user turns it was given: turn n means it saw n-1 earlier ones.
        expect(replies.map((r) => /turn (\d+)/.exec(String(r.reply))?.[1])).toEqual(["1", "2", "3", "4"]);
        expect(String(replies[3].reply)).toContain('you said "thanks"');
        // Replies are signed with the R11 key and form.
        const { signature, ...rest } = replies[0];
        expect(signature).toBe(createHmac("sha256", HMAC_KEY).update(canonicalJson(rest)).digest("hex"));
    });

    it("shares one conversation between two replicas (through two gateways) via Redis", async () => {
        const session = `shared-${randomUUID()}`;
        const a = await chat(0);
        const b = await chat(1);
        const r1 = await a.ask(message({ session, query: "first, on replica 0" }));
        const r2 = await b.ask(message({ session, query: "second, on replica 1" }));
        const r3 = await a.ask(message({ session, query: "third, on replica 0" }));
        a.ws.close();
        b.ws.close();
        expect([r1.reply, r2.reply, r3.reply].map((r) => /turn (\d+)/.exec(String(r))?.[1])).toEqual(["1", "2", "3"]);
        // Each replica really answered its own part: both logged a message of this session.
        await new Promise((r) => setTimeout(r, 200));
        expect(logOf("dialogue0")).toContain(String(r1.in_reply_to));
        expect(logOf("dialogue1")).toContain(String(r2.in_reply_to));
    });

    it("serves many concurrent sessions, each with its own history, across both replicas", async () => {
        const sessions = Array.from({ length: 16 }, (_, i) => ({ id: `many-${i}-${randomUUID()}`, gateway: (i % 2) as 0 | 1 }));
        const turns = await Promise.all(
            sessions.map(async (s) => {
                const c = await chat(s.gateway);
                const replies = [];
                for (const q of ["a", "b", "c"]) {
                    replies.push(await c.ask(message({ session: s.id, query: `${q} of ${s.id}` })));
                }
                c.ws.close();
                return replies;
            }),
        );
        turns.forEach((replies, i) => {
            expect(replies.map((r) => r.session_id)).toEqual(Array(3).fill(sessions[i].id));
            expect(replies.map((r) => /turn (\d+)/.exec(String(r.reply))?.[1])).toEqual(["1", "2", "3"]);
            expect(String(replies[2].reply)).toContain(`c of ${sessions[i].id}`);
        });
    });

    it("answers a replayed message_id once: the replay (even on the other replica) gets the first answer and Triton sees no second inference", async () => {
        const m = message({ session: `replay-${randomUUID()}`, query: "only once" });
        const a = await chat(0);
        const first = await a.ask(m);
        const before = await inferences();
        const again = await a.ask(m);
        const b = await chat(1);
        const elsewhere = await b.ask(m);
        a.ws.close();
        b.ws.close();
        expect(first.type).toBe("reply");
        expect([again.reply, again.message_id, again.replayed]).toEqual([first.reply, first.message_id, true]);
        expect([elsewhere.reply, elsewhere.replayed]).toEqual([first.reply, true]);
        expect(await inferences()).toBe(before);
    });

    it("refuses a bad signature, an old timestamp and an oversized history with their codes, before any inference", async () => {
        const { ws, ask } = await chat(0);
        const before = await inferences();
        const session = `bad-${randomUUID()}`;
        const forged = await ask(message({ session, query: "forged", key: "another-key-of-the-same-length-0123456789abc" }));
        const old = await ask(message({ session, query: "old", timestamp: Date.now() - 10 * 60_000 }));
        const history = Array.from({ length: 9 }, (_, i): HistoryEntry => ({ role: i % 2 ? "assistant" : "user", content: `turn ${i}` }));
        const long = await ask(message({ session, query: "long", history }));
        ws.close();
        expect([forged.error, old.error, long.error]).toEqual(["bad_signature", "stale", "history_too_long"]);
        expect(await inferences()).toBe(before);
        // The same over REST: clear HTTP statuses.
        expect((await post(0, "/v1/messages", message({ session, query: "forged", key: "another-key-of-the-same-length-0123456789abc" }))).status).toBe(401);
        expect((await post(0, "/v1/messages", message({ session, query: "long", history }))).status).toBe(413);
        // And nothing of what was refused is logged with its content.
        expect(logOf("dialogue0")).not.toContain("forged");
    });

    it("acknowledges a webhook within the R9 budget and delivers the signed reply to the platform's reply URL", async () => {
        const session = `hook-${randomUUID()}`;
        const m = message({ session, query: "from a webhook" });
        const t0 = performance.now();
        const res = await post(1, `/webhook/${PLATFORM}`, m);
        const ackMs = performance.now() - t0;
        expect(res.status).toBe(202);
        expect(await res.json()).toEqual({ status: "accepted", message_id: m.header.message_id });
        expect(ackMs).toBeLessThan(200);
        const reply = await until("the webhook reply at the receiver", 10_000, async () => delivered.find((d) => d.in_reply_to === m.header.message_id));
        expect(reply).toMatchObject({ type: "reply", session_id: session, platform: PLATFORM });
        expect(String(reply.reply)).toMatch(/turn 1: you said "from a webhook"/);
        const { signature, ...rest } = reply;
        expect(signature).toBe(createHmac("sha256", HMAC_KEY).update(canonicalJson(rest)).digest("hex"));
        // A platform retrying the same webhook is acknowledged, and gets no second delivery.
        const dup = await post(0, `/webhook/${PLATFORM}`, m);
        expect(dup.status).toBe(200);
        await new Promise((r) => setTimeout(r, 500));
        expect(delivered.filter((d) => d.in_reply_to === m.header.message_id)).toHaveLength(1);
    });

    it("accepts async REST with 202 and an id, and serves the answer from either replica", async () => {
        const m = message({ session: `rest-${randomUUID()}`, query: "async please" });
        const res = await post(0, "/v1/messages", m);
        expect(res.status).toBe(202);
        const body = (await res.json()) as { id: string; result_url: string };
        expect(body.id).toBe(m.header.message_id);
        const result = await until("the REST result", 10_000, async () => {
            const r = await fetch(`http://127.0.0.1:${ports.gateway1}${body.result_url}`, { headers: { authorization: `Bearer ${token}` } });
            return r.status === 200 ? ((await r.json()) as Record<string, unknown>) : undefined;
        });
        expect(String(result.reply)).toMatch(/turn 1: you said "async please"/);
        // Without a token the gateway refuses before the service.
        expect((await fetch(`http://127.0.0.1:${ports.gateway1}${body.result_url}`)).status).toBe(401);
    });

    it("exports per-route and per-platform counts for Prometheus", async () => {
        const text = await (await fetch(`http://127.0.0.1:${ports.admin0}/metrics`)).text();
        expect(text).toMatch(new RegExp(`dialogue_requests_total\\{route="websocket",platform="${PLATFORM}",code="ok"\\} [1-9]`));
        // A refused message's platform is not trusted (nothing verified it): counted as unknown.
        expect(text).toMatch(/dialogue_requests_total\{route="websocket",platform="unknown",code="bad_signature"\} [1-9]/);
        expect(text).toMatch(/dialogue_request_duration_seconds_count\{route="rest",platform="dingtalk"\} [1-9]/);
        expect(text).toMatch(/dialogue_replays_total\{route="websocket",platform="dingtalk"\} [1-9]/);
    });
});
