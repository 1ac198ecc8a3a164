// The dialogue service's protocol: message checks (size, JSON, R11 schema, HMAC, timestamp window,
// history bound), error codes, signed replies, the KServe v2 request and response, and the service
// itself in this process (MemoryStore, a counting stand-in model, loopback sockets): replays answered
// once, history kept per session, back-pressure, idle timeouts, webhook retries and the bounded queue.
import { createHmac, randomUUID } from "crypto";
import * as http from "http";
import { AddressInfo } from "net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { buildSignedEnvelope, canonicalJson, HistoryEntry } from "../../components/envelope";
import { parseReplyUrls, parseRuntimeConfig, RuntimeConfigInput } from "../../services/dialogue/config";
import {
    checkMessage,
    DialogueError,
    ERROR_STATUS,
    historyForModel,
    inferRequest,
    platformLabel,
    replyOf,
    resultId,
    retryable,
    retryDelayMs,
    signReply,
    webhookPlatform,
} from "../../services/dialogue/protocol";
import { DialogueService } from "../../services/dialogue/server";
import { MemoryStore } from "../../services/dialogue/store";
import { ModelClient, TritonRestClient } from "../../services/dialogue/triton";
import { freePort } from "../support/ports";

const KEY = "dialogue-test-hmac-key-0123456789abcdef";
const NOW = 1_767_225_600_000;
const LIMITS = { maxMessageBytes: 4096, maxHistoryTurns: 4, maxAgeMs: 300_000, maxFutureMs: 30_000 };

function message(over: { query?: string; history?: HistoryEntry[]; timestamp?: number; messageId?: string; sessionId?: string; platform?: string } = {}) {
    return buildSignedEnvelope(
        {
            platform: over.platform ?? "dingtalk",
            sessionId: over.sessionId ?? "s-1",
            query: over.query ?? "hello",
            history: over.history,
            timestamp: over.timestamp ?? NOW,
            messageId: over.messageId,
        },
        KEY,
    );
}

function codeOf(fn: () => unknown): string | undefined {
    try {
        fn();
        return undefined;
    } catch (e) {
        return e instanceof DialogueError ? e.code : `not a DialogueError: ${(e as Error).message}`;
    }
}

describe("checkMessage", () => {
    it("accepts a signed, fresh message and returns the envelope as received", () => {
        const m = message({ history: [{ role: "user", content: "a" }] });
        expect(checkMessage(JSON.stringify(m), KEY, LIMITS, NOW + 1000)).toEqual(m);
    });

    it("refuses each bad message with its own code", () => {
        const m = message();
        expect(codeOf(() => checkMessage("{not json", KEY, LIMITS, NOW))).toBe("malformed");
        expect(codeOf(() => checkMessage(JSON.stringify({ ...m, extra: 1 }), KEY, LIMITS, NOW))).toBe("malformed");
        expect(codeOf(() => checkMessage(JSON.stringify({ ...m, payload: { ...m.payload, query: "changed" } }), KEY, LIMITS, NOW))).toBe("bad_signature");
        expect(codeOf(() => checkMessage(JSON.stringify(m), `${KEY}-other`, LIMITS, NOW))).toBe("bad_signature");
        expect(codeOf(() => checkMessage(JSON.stringify(m), KEY, LIMITS, NOW + 300_001))).toBe("stale");
        expect(codeOf(() => checkMessage(JSON.stringify(m), KEY, LIMITS, NOW - 30_001))).toBe("from_future");
        expect(codeOf(() => checkMessage(JSON.stringify(message({ query: "x".repeat(5000) })), KEY, LIMITS, NOW))).toBe("payload_too_large");
        const five = Array.from({ length: 5 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `t${i}` }) as HistoryEntry);
        expect(codeOf(() => checkMessage(JSON.stringify(message({ history: five })), KEY, LIMITS, NOW))).toBe("history_too_long");
        expect(codeOf(() => checkMessage(JSON.stringify(message({ history: five.slice(0, 4) })), KEY, LIMITS, NOW))).toBeUndefined();
    });

    it("checks the size before parsing, in bytes (not characters)", () => {
        // 1500 three-byte characters: 4500 bytes, 1500 characters.
        const m = message({ query: "\u4f60".repeat(1500) });
        expect(codeOf(() => checkMessage(JSON.stringify(m), KEY, LIMITS, NOW))).toBe("payload_too_large");
    });

    it("maps every code to a 4xx or 5xx status", () => {
        for (const [code, status] of Object.entries(ERROR_STATUS)) {
            expect(status, code).toBeGreaterThanOrEqual(400);
        }
        expect(ERROR_STATUS.bad_signature).toBe(401);
        expect(ERROR_STATUS.history_too_long).toBe(413);
        expect(ERROR_STATUS.model_timeout).toBe(504);
    });
});

describe("replies and the model's request", () => {
    it("signs replies with HMAC-SHA256 over the RFC 8785 form, as R11 envelopes are signed", () => {
        const s = signReply({ type: "reply", reply: "hi", session_id: "s" }, KEY);
        const { signature, ...rest } = s;
        expect(signature).toBe(createHmac("sha256", KEY).update(canonicalJson(rest)).digest("hex"));
    });

    it("builds the KServe v2 request of the dialogue model and reads REPLY", () => {
        const req = inferRequest("q?", [{ role: "user", content: "a" }]) as { inputs: { name: string; shape: number[]; datatype: string; data: string[] }[] };
        expect(req.inputs.map((i) => [i.name, i.datatype, i.shape])).toEqual([
            ["QUERY", "BYTES", [1, 1]],
            ["HISTORY", "BYTES", [1, 1]],
        ]);
        expect(JSON.parse(req.inputs[1].data[0])).toEqual([{ role: "user", content: "a" }]);
        expect(JSON.parse((inferRequest("q", []) as typeof req).inputs[1].data[0])).toEqual([]);
        expect(replyOf({ outputs: [{ name: "REPLY", datatype: "BYTES", shape: [1, 1], data: ["turn 1"] }] })).toBe("turn 1");
        expect(codeOf(() => replyOf({ outputs: [] }))).toBe("model_error");
        expect(codeOf(() => replyOf({ error: "x" }))).toBe("model_error");
    });

    it("prefers the stored history, keeps the newest turns, and uses the carried one for a new session", () => {
        const a: HistoryEntry[] = [{ role: "user", content: "1" }, { role: "assistant", content: "2" }, { role: "user", content: "3" }];
        const b: HistoryEntry[] = [{ role: "user", content: "x" }];
        expect(historyForModel(a, b, 2)).toEqual(a.slice(1));
        expect(historyForModel([], b, 2)).toEqual(b);
        expect(historyForModel(a, b, 0)).toEqual([]);
    });

    it("reads paths, bounds platform labels and schedules retries", () => {
        expect(webhookPlatform("/webhook/dingtalk")).toBe("dingtalk");
        expect(webhookPlatform("/webhook/")).toBeUndefined();
        expect(webhookPlatform("/webhook/a/b")).toBeUndefined();
        const id = randomUUID();
        expect(resultId(`/v1/messages/${id}`)).toBe(id);
        expect(resultId("/v1/messages/../x")).toBeUndefined();
        expect(platformLabel("slack", new Set(["slack"]))).toBe("slack");
        expect(platformLabel("made-up-123", new Set(["slack"]))).toBe("other");
        expect([1, 2, 3, 4].map((n) => retryDelayMs(n, 100))).toEqual([0, 100, 200, 400]);
        expect([undefined, 408, 429, 500, 503].every(retryable)).toBe(true);
        expect([400, 401, 404].some(retryable)).toBe(false);
    });

    it("reads reply URLs and refuses other schemes", () => {
        expect(parseReplyUrls('{"dingtalk":"http://127.0.0.1:9/r"}').get("dingtalk")?.port).toBe("9");
        expect(() => parseReplyUrls('{"dingtalk":"file:///etc/passwd"}')).toThrow(/http/);
    });
});

// ---------------------------------------------------------------- the service in this process

/** A model that answers like the example model (turn n = 1 + user turns seen) and counts its calls. */
class CountingModel implements ModelClient {
    calls = 0;
    delayMs = 0;
    fail?: "timeout";
    async infer(query: string, history: HistoryEntry[], deadlineMs: number): Promise<string> {
        this.calls++;
        if (this.fail === "timeout") {
            throw new DialogueError("model_timeout", `the model did not answer within ${deadlineMs} ms`);
        }
        if (this.delayMs) {
            await new Promise((r) => setTimeout(r, this.delayMs));
        }
        return `turn ${1 + history.filter((h) => h.role === "user").length}: ${query}`;
    }
    async ready(): Promise<boolean> {
        return true;
    }
}

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function service(over: Partial<RuntimeConfigInput> = {}, replyUrls = new Map<string, URL>(), logs: Record<string, unknown>[] = []) {
    const model = new CountingModel();
    const store = new MemoryStore();
    const svc = new DialogueService({
        config: parseRuntimeConfig({
            listen: { host: "127.0.0.1", port: 0 },
            admin: { host: "127.0.0.1", port: 0 },
            tritonUrl: "http://127.0.0.1:9",
            hmacKeyFile: "/unused",
            store: { kind: "memory" },
            platforms: ["dingtalk"],
            ...over,
        }),
        hmacKey: KEY,
        replyUrls,
        store,
        model,
        log: (l) => logs.push(l),
    });
    const ports = await svc.start();
    running.push({ stop: () => svc.stop(1000) });
    return { svc, model, store, ...ports, base: `http://127.0.0.1:${ports.port}` };
}

function fresh(over: Parameters<typeof message>[0] = {}) {
    return message({ timestamp: Date.now(), ...over });
}

async function openChat(port: number): Promise<{ ws: WebSocket; next: () => Promise<Record<string, unknown>> }> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    const inbox: Record<string, unknown>[] = [];
    const waiting: ((m: Record<string, unknown>) => void)[] = [];
    ws.on("message", (d) => {
        const m = JSON.parse(d.toString()) as Record<string, unknown>;
        const w = waiting.shift();
        if (w) {
            w(m);
        } else {
            inbox.push(m);
        }
    });
    await new Promise((r, j) => ws.once("open", r).once("error", j));
    running.push({ stop: async () => ws.terminate() });
    return { ws, next: () => (inbox.length ? Promise.resolve(inbox.shift()!) : new Promise((r) => waiting.push(r))) };
}

describe("DialogueService (in process)", () => {
    it("answers a WebSocket conversation on one connection with the session's history, and a replay from the store", async () => {
        const { port, model } = await service();
        const { ws, next } = await openChat(port);
        const replies: string[] = [];
        for (const q of ["one", "two", "three"]) {
            ws.send(JSON.stringify(fresh({ query: q })));
            const r = await next();
            expect(r.type).toBe("reply");
            expect(r.session_id).toBe("s-1");
            replies.push(r.reply as string);
        }
        expect(replies).toEqual(["turn 1: one", "turn 2: two", "turn 3: three"]);
        const m = fresh({ query: "four" });
        ws.send(JSON.stringify(m));
        const first = await next();
        ws.send(JSON.stringify(m));
        const again = await next();
        expect(again.replayed).toBe(true);
        expect(again.reply).toBe(first.reply);
        expect(again.message_id).toBe(first.message_id);
        expect(model.calls).toBe(4);
    });

    it("answers bad frames with error codes and logs no content", async () => {
        const logs: Record<string, unknown>[] = [];
        const { port, model } = await service({}, new Map(), logs);
        const { ws, next } = await openChat(port);
        const m = fresh({ query: "secret words" });
        ws.send(JSON.stringify({ ...m, signature: "0".repeat(64) }));
        expect((await next()).error).toBe("bad_signature");
        ws.send(JSON.stringify(fresh({ timestamp: Date.now() - 600_000 })));
        expect((await next()).error).toBe("stale");
        ws.send("nope");
        expect((await next()).error).toBe("malformed");
        expect(model.calls).toBe(0);
        expect(JSON.stringify(logs)).not.toContain("secret words");
        expect(logs.filter((l) => l.event === "message").map((l) => l.code)).toEqual(["bad_signature", "stale", "malformed"]);
    });

    it("stops reading a connection while too many messages are in flight (back-pressure), then catches up", async () => {
        const { port, model } = await service({ limits: { perConnectionInFlight: 2 } });
        model.delayMs = 150;
        const { ws, next } = await openChat(port);
        for (let i = 0; i < 6; i++) {
            ws.send(JSON.stringify(fresh({ query: `q${i}`, sessionId: `s-${i}` })));
        }
        await new Promise((r) => setTimeout(r, 100));
        // Two read and running; the rest wait in the socket, not in the service.
        expect(model.calls).toBe(2);
        const got = [];
        for (let i = 0; i < 6; i++) {
            got.push(await next());
        }
        expect(got.every((r) => r.type === "reply")).toBe(true);
        expect(model.calls).toBe(6);
    });

    it("closes an idle connection with 1001 and answers pings", async () => {
        const { port } = await service({ websocket: { idleTimeoutMs: 300, pingIntervalMs: 100 } });
        const { ws } = await openChat(port);
        let pings = 0;
        ws.on("ping", () => pings++);
        const code = await new Promise<number>((r) => ws.once("close", (c) => r(c)));
        expect(code).toBe(1001);
        expect(pings).toBeGreaterThanOrEqual(1);
    });

    it("turns a model timeout into model_timeout and keeps the error as the answer to replays", async () => {
        const { port, model } = await service();
        model.fail = "timeout";
        const { ws, next } = await openChat(port);
        const m = fresh();
        ws.send(JSON.stringify(m));
        expect((await next()).error).toBe("model_timeout");
        ws.send(JSON.stringify(m));
        const again = await next();
        expect([again.error, again.replayed]).toEqual(["model_timeout", true]);
        expect(model.calls).toBe(1);
    });

    it("acknowledges a webhook with 202, delivers the signed reply with retries, and acknowledges a replay without a second delivery", async () => {
        const received: Record<string, unknown>[] = [];
        let failFirst = 2;
        const receiver = http.createServer((req, res) => {
            let b = "";
            req.on("data", (c) => (b += c)).on("end", () => {
                if (failFirst-- > 0) {
                    res.writeHead(503).end();
                    return;
                }
                received.push(JSON.parse(b));
                res.writeHead(204).end();
            });
        });
        await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
        running.push({ stop: () => new Promise((r) => receiver.close(() => r())) });
        const url = new URL(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/reply`);
        const { base, model } = await service({ webhook: { backoffMs: 20 } }, new Map([["dingtalk", url]]));
        const m = fresh({ query: "hook" });
        const post = (body: unknown, platform = "dingtalk") => fetch(`${base}/webhook/${platform}`, { method: "POST", body: JSON.stringify(body) });
        const ack = await post(m);
        expect(ack.status).toBe(202);
        expect(await ack.json()).toMatchObject({ status: "accepted", message_id: m.header.message_id });
        for (let i = 0; i < 100 && received.length === 0; i++) {
            await new Promise((r) => setTimeout(r, 20));
        }
        expect(received).toHaveLength(1);
        const { signature, ...rest } = received[0];
        expect(signature).toBe(createHmac("sha256", KEY).update(canonicalJson(rest)).digest("hex"));
        expect(rest).toMatchObject({ type: "reply", in_reply_to: m.header.message_id, reply: "turn 1: hook" });
        const dup = await post(m);
        expect([dup.status, ((await dup.json()) as { status: string }).status]).toEqual([200, "duplicate"]);
        await new Promise((r) => setTimeout(r, 100));
        expect(received).toHaveLength(1);
        expect(model.calls).toBe(1);
        // Path and header must name the same platform; a platform without a reply URL is refused.
        expect((await post(fresh(), "slack")).status).toBe(400);
        expect(((await (await post(fresh({ platform: "slack" }), "slack")).json()) as { error: string }).error).toBe("unknown_platform");
    });

    it("refuses webhooks with 503 when its delivery queue is full (bounded)", async () => {
        const receiver = http.createServer(() => undefined); // never answers: deliveries hang until their timeout
        await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
        running.push({ stop: () => new Promise((r) => { receiver.closeAllConnections(); receiver.close(() => r()); }) });
        const url = new URL(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/reply`);
        const { base } = await service({ limits: { webhookQueue: 2 }, webhook: { attempts: 1, timeoutMs: 2000 } }, new Map([["dingtalk", url]]));
        const statuses = [];
        for (let i = 0; i < 3; i++) {
            statuses.push((await fetch(`${base}/webhook/dingtalk`, { method: "POST", body: JSON.stringify(fresh({ sessionId: `q${i}` })) })).status);
        }
        expect(statuses).toEqual([202, 202, 503]);
    });

    it("accepts async REST with 202 and an id, then serves the answer at the result URL", async () => {
        const { base, model } = await service();
        model.delayMs = 100;
        const m = fresh({ query: "rest" });
        const res = await fetch(`${base}/v1/messages`, { method: "POST", body: JSON.stringify(m) });
        expect(res.status).toBe(202);
        const body = (await res.json()) as { id: string; result_url: string };
        expect(body.id).toBe(m.header.message_id);
        expect((await fetch(`${base}${body.result_url}`)).status).toBe(202);
        await new Promise((r) => setTimeout(r, 200));
        const done = await fetch(`${base}${body.result_url}`);
        expect(done.status).toBe(200);
        expect(((await done.json()) as { reply: string }).reply).toBe("turn 1: rest");
        expect((await fetch(`${base}/v1/messages/${randomUUID()}`)).status).toBe(404);
        const big = await fetch(`${base}/v1/messages`, { method: "POST", body: "x".repeat(70_000) });
        expect([big.status, ((await big.json()) as { error: string }).error]).toEqual([413, "payload_too_large"]);
    });

    it("exports per-route, per-platform counts and keeps unknown platforms in one label", async () => {
        const { port, adminPort } = await service();
        const { ws, next } = await openChat(port);
        ws.send(JSON.stringify(fresh()));
        await next();
        ws.send(JSON.stringify(fresh({ platform: "made-up" })));
        await next();
        const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
        expect(text).toContain('dialogue_requests_total{route="websocket",platform="dingtalk",code="ok"} 1');
        expect(text).toContain('dialogue_requests_total{route="websocket",platform="other",code="ok"} 1');
        expect((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status).toBe(200);
    });
});

describe("TritonRestClient (KServe v2 over HTTP)", () => {
    it("sends QUERY and HISTORY, reads REPLY, and turns Triton's errors, slowness and absence into codes", async () => {
        const seen: unknown[] = [];
        const triton = http.createServer((req, res) => {
            let b = "";
            req.on("data", (c) => (b += c)).on("end", () => {
                const body = JSON.parse(b) as { inputs: { data: string[] }[] };
                seen.push(body);
                const q = body.inputs[0].data[0];
                if (q === "slow") {
                    setTimeout(() => res.writeHead(200).end("{}"), 500);
                } else if (q === "bad") {
                    res.writeHead(400, { "content-type": "application/json" }).end('{"error":"unexpected shape for input HISTORY"}');
                } else if (q === "busy") {
                    res.writeHead(503, { "content-type": "application/json" }).end('{"error":"model not ready"}');
                } else {
                    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ outputs: [{ name: "REPLY", datatype: "BYTES", shape: [1, 1], data: [`echo ${q}`] }] }));
                }
            });
        });
        await new Promise<void>((r) => triton.listen(0, "127.0.0.1", r));
        running.push({ stop: () => new Promise((r) => { triton.closeAllConnections(); triton.close(() => r()); }) });
        const client = new TritonRestClient(`http://127.0.0.1:${(triton.address() as AddressInfo).port}`, "dialogue");
        const code = async (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof DialogueError ? e.code : String(e)));
        expect(await client.infer("hi", [{ role: "user", content: "a" }], 1000)).toBe("echo hi");
        expect(JSON.parse((seen[0] as { inputs: { data: string[] }[] }).inputs[1].data[0])).toEqual([{ role: "user", content: "a" }]);
        expect(await code(client.infer("slow", [], 100))).toBe("model_timeout");
        expect(await code(client.infer("bad", [], 1000))).toBe("model_error");
        expect(await code(client.infer("busy", [], 1000))).toBe("model_unavailable");
        const closed = new TritonRestClient(`http://127.0.0.1:${await freePort()}`, "dialogue");
        expect(await code(closed.infer("hi", [], 1000))).toBe("model_unavailable");
    });
});
