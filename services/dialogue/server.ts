// The dialogue service: between the gateway (which checked the JWT) and Triton. Three ways in, one
// way of answering:
//   GET  /chat                     WebSocket; each frame an R11 message, each answer a frame on the same connection
//   POST /webhook/<platform>       202 at once; the reply is POSTed to the platform's reply URL, with retries
//   POST /v1/messages              async REST: 202 {id}; GET /v1/messages/<id> gives the answer when it is there
// Every message is checked (protocol.ts), claimed by message_id in the shared store (a replay gets the
// first answer, never a second inference), answered by the model with the history the store keeps for
// its session, and logged without its content.
import { createHash } from "crypto";
import * as http from "http";
import { AddressInfo } from "net";
import { WebSocket, WebSocketServer } from "ws";
import type { Envelope, HistoryEntry } from "../../components/envelope";
import type { RuntimeConfig } from "./config";
import { DialogueMetrics } from "./metrics";
import {
    Answer,
    checkMessage,
    DialogueError,
    ERROR_STATUS,
    ErrorReply,
    errorReply,
    historyForModel,
    makeAnswer,
    platformLabel,
    resultId,
    retryable,
    retryDelayMs,
    signReply,
    webhookPlatform,
} from "./protocol";
import type { ConversationStore } from "./store";
import type { ModelClient } from "./triton";

/** The three routes, as metrics and logs name them. */
export type Route = "websocket" | "webhook" | "rest";

/** A structured log line. Never holds a query, history or reply: only ids, codes and times. */
export type Logger = (fields: Record<string, unknown>) => void;

export const jsonLogger: Logger = (fields) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);

/** What the service needs besides its configuration. */
export interface DialogueDeps {
    config: RuntimeConfig;
    hmacKey: string;
    /** Webhook reply URL per platform (secret). */
    replyUrls: Map<string, URL>;
    store: ConversationStore;
    model: ModelClient;
    log?: Logger;
    clock?: () => number;
}

/** How long a claimed message stays `pending` if its replica dies before answering. */
const PENDING_TTL_SECONDS = 120;
/** How long a failed message's error is the answer to its replays (then it may be retried). */
const ERROR_TTL_SECONDS = 60;

/** A session id in logs: a short hash (session ids may name people). */
function sessionTag(sessionId: string): string {
    return createHash("sha256").update(sessionId).digest("hex").slice(0, 12);
}

/** The outcome of one message: an answer or an error reply, and whether it was already answered before. */
interface Outcome {
    body: Answer | ErrorReply;
    replayed: boolean;
}

export class DialogueService {
    readonly metrics = new DialogueMetrics();
    private readonly cfg: RuntimeConfig;
    private readonly log: Logger;
    private readonly clock: () => number;
    private readonly knownPlatforms: Set<string>;
    private readonly server: http.Server;
    private readonly admin: http.Server;
    private readonly wss: WebSocketServer;
    private inFlight = 0;
    private readonly queue: (() => Promise<void>)[] = [];
    private queued = 0;
    private activeDeliveries = 0;
    private stopping = false;
    private readonly background = new Set<Promise<unknown>>();

    constructor(private readonly deps: DialogueDeps) {
        this.cfg = deps.config;
        this.log = deps.log ?? jsonLogger;
        this.clock = deps.clock ?? Date.now;
        this.knownPlatforms = new Set([...deps.config.platforms, ...deps.replyUrls.keys()]);
        // A frame up to twice the message limit is read and refused with payload_too_large; ws closes
        // the connection (1009) on anything larger without buffering it.
        this.wss = new WebSocketServer({ noServer: true, maxPayload: this.cfg.limits.maxMessageBytes * 2, perMessageDeflate: false });
        this.server = http.createServer((req, res) => void this.route(req, res));
        this.server.on("upgrade", (req, socket, head) => {
            if (new URL(req.url ?? "/", "http://x").pathname !== "/chat" || this.stopping) {
                socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
                return;
            }
            this.wss.handleUpgrade(req, socket, head, (ws) => this.chat(ws));
        });
        this.admin = http.createServer((req, res) => void this.adminRoute(req, res));
    }

    /** Starts both listeners; resolves to their ports. */
    async start(): Promise<{ port: number; adminPort: number }> {
        const listen = (s: http.Server, l: { host: string; port: number }) =>
            new Promise<number>((resolve, reject) => {
                s.once("error", reject);
                s.listen(l.port, l.host, () => resolve((s.address() as AddressInfo).port));
            });
        const port = await listen(this.server, this.cfg.listen);
        const adminPort = await listen(this.admin, this.cfg.admin);
        this.log({ level: "info", event: "started", port, adminPort, store: this.deps.store.kind });
        return { port, adminPort };
    }

    /** Stops accepting, closes WebSockets (1001), waits for running answers and deliveries up to `graceMs`. */
    async stop(graceMs = 10_000): Promise<void> {
        this.stopping = true;
        for (const ws of this.wss.clients) {
            ws.close(1001, "server shutting down");
        }
        this.server.close();
        this.server.closeIdleConnections();
        const until = Date.now() + graceMs;
        while ((this.background.size > 0 || this.queued > 0) && Date.now() < until) {
            await Promise.race([Promise.allSettled([...this.background]), new Promise((r) => setTimeout(r, 100))]);
        }
        for (const ws of this.wss.clients) {
            ws.terminate();
        }
        this.server.closeAllConnections();
        this.admin.close();
        this.admin.closeAllConnections();
        await this.deps.store.close();
    }

    // ---------------------------------------------------------------- answering

    /** Runs `fn` as tracked background work (stop() waits for it). */
    private track<T>(p: Promise<T>): Promise<T> {
        this.background.add(p);
        void p.finally(() => this.background.delete(p)).catch(() => undefined);
        return p;
    }

    private async storeCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
        try {
            return await fn();
        } catch (e) {
            throw new DialogueError("store_unavailable", `the conversation store failed to ${what} (${(e as Error).message})`);
        }
    }

    private hasCapacity(): void {
        if (this.inFlight >= this.cfg.limits.maxInFlight) {
            throw new DialogueError("overloaded", `${this.inFlight} answers are running in this replica; retry later`);
        }
    }

    /**
     * Claims the message_id: a message answered before gets its stored answer (replayed), one being
     * answered now gets in_progress, a new one `undefined` (the caller then calls produce()).
     */
    private async claim(env: Envelope): Promise<Outcome | undefined> {
        const c = await this.storeCall("claim the message", () => this.deps.store.claim(env.header.message_id, PENDING_TTL_SECONDS));
        if (c.state === "done") {
            return { body: JSON.parse(c.answer) as Answer | ErrorReply, replayed: true };
        }
        if (c.state === "pending") {
            throw new DialogueError("in_progress", `message ${env.header.message_id} is being answered`);
        }
        return undefined;
    }

    /** Answers a claimed message: history from the store, the model, then history and answer stored. */
    private async produce(env: Envelope, route: Route): Promise<Outcome> {
        this.inFlight++;
        this.metrics.inFlight.inc();
        const id = env.header.message_id;
        const session = env.payload.session_id;
        try {
            const stored = await this.storeCall("read the history", () => this.deps.store.history(session));
            const history = historyForModel(stored, env.payload.context.history, this.cfg.limits.maxHistoryTurns);
            const t0 = performance.now();
            let reply: string;
            try {
                reply = await this.deps.model.infer(env.payload.query, history, this.cfg.deadlinesMs[route]);
            } finally {
                this.metrics.inference.observe({ route }, (performance.now() - t0) / 1000);
            }
            const answer = makeAnswer(env, reply, this.clock());
            const turns: HistoryEntry[] = [
                // A platform that sent its own history starts the stored one with it.
                ...(stored.length === 0 ? history : []),
                { role: "user", content: env.payload.query },
                { role: "assistant", content: reply },
            ];
            await this.storeCall("store the history", () => this.deps.store.append(session, turns, this.cfg.limits.maxHistoryTurns, this.cfg.ttlSeconds.history));
            await this.storeCall("store the answer", () => this.deps.store.complete(id, JSON.stringify(answer), this.cfg.ttlSeconds.result));
            return { body: answer, replayed: false };
        } catch (e) {
            const err = e instanceof DialogueError ? e : new DialogueError("model_error", (e as Error).message);
            const body = errorReply(err, env);
            // The error is the answer to replays for a minute; then the platform may retry the same id.
            await this.deps.store.complete(id, JSON.stringify(body), ERROR_TTL_SECONDS).catch(() => undefined);
            return { body, replayed: false };
        } finally {
            this.inFlight--;
            this.metrics.inFlight.dec();
        }
    }

    /** Signs what goes out; marks replays. */
    private signed(o: Outcome): object {
        return signReply(o.replayed ? { ...o.body, replayed: true } : o.body, this.deps.hmacKey);
    }

    private record(route: Route, platform: string | undefined, env: Envelope | undefined, code: string, startedAt: number, extra: Record<string, unknown> = {}): void {
        const p = platformLabel(platform, this.knownPlatforms);
        const seconds = (performance.now() - startedAt) / 1000;
        this.metrics.requests.inc({ route, platform: p, code });
        this.metrics.duration.observe({ route, platform: p }, seconds);
        this.log({
            level: code === "ok" ? "info" : "warn",
            event: "message",
            route,
            platform: p,
            code,
            ms: Math.round(seconds * 1000),
            ...(env ? { message_id: env.header.message_id, session: sessionTag(env.payload.session_id) } : {}),
            ...extra,
        });
    }

    private check(raw: Buffer): Envelope {
        return checkMessage(raw, this.deps.hmacKey, this.cfg.limits, this.clock());
    }

    // ---------------------------------------------------------------- WebSocket /chat

    private chat(ws: WebSocket): void {
        this.metrics.connections.inc();
        const limits = this.cfg.limits;
        let alive = true;
        let pending = 0;
        let running = 0;
        let paused = false;
        const pinger = setInterval(() => {
            if (!alive) {
                ws.terminate();
                return;
            }
            alive = false;
            ws.ping();
        }, this.cfg.websocket.pingIntervalMs);
        const idle = setTimeout(() => ws.close(1001, "idle timeout"), this.cfg.websocket.idleTimeoutMs);
        ws.on("pong", () => (alive = true));
        // Back-pressure: stop reading the socket (TCP then pushes back on the client) while too many
        // messages are in flight or too many bytes wait to be sent; read again when both are low.
        const adjust = () => {
            const full = pending >= limits.perConnectionInFlight || ws.bufferedAmount > limits.maxBufferedBytes;
            if (full && !paused) {
                paused = true;
                ws.pause();
            } else if (!full && paused && ws.readyState === WebSocket.OPEN) {
                paused = false;
                ws.resume();
            }
        };
        const send = (body: object) => {
            if (ws.readyState === WebSocket.OPEN) {
                ws.send(JSON.stringify(body), () => adjust());
            }
        };
        // Frames ws had already read from the socket when it was paused still arrive: they wait here
        // (at most one socket read's worth) and start as running ones finish.
        const waiting: { raw: Buffer; isBinary: boolean }[] = [];
        const startNext = () => {
            while (running < limits.perConnectionInFlight && waiting.length > 0) {
                const f = waiting.shift()!;
                running++;
                void this.track(this.answerFrame(f.raw, f.isBinary))
                    .then(send)
                    .finally(() => {
                        running--;
                        pending--;
                        startNext();
                        adjust();
                    });
            }
        };
        ws.on("message", (data, isBinary) => {
            idle.refresh();
            alive = true;
            pending++;
            waiting.push({ raw: Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer), isBinary });
            adjust();
            startNext();
        });
        ws.on("close", () => {
            clearInterval(pinger);
            clearTimeout(idle);
            this.metrics.connections.dec();
        });
        ws.on("error", () => ws.terminate());
    }

    private async answerFrame(raw: Buffer, isBinary: boolean): Promise<object> {
        const t0 = performance.now();
        let env: Envelope | undefined;
        try {
            if (isBinary) {
                throw new DialogueError("malformed", "send R11 messages as text frames");
            }
            env = this.check(raw);
            const replay = await this.claim(env);
            if (replay) {
                this.metrics.replays.inc({ route: "websocket", platform: platformLabel(env.header.platform, this.knownPlatforms) });
                this.record("websocket", env.header.platform, env, "replayed", t0);
                return this.signed(replay);
            }
            this.hasCapacity();
            const out = await this.produce(env, "websocket");
            this.record("websocket", env.header.platform, env, out.body.type === "error" ? out.body.error : "ok", t0);
            return this.signed(out);
        } catch (e) {
            const err = e instanceof DialogueError ? e : new DialogueError("malformed", "unreadable message");
            this.record("websocket", env?.header.platform, env, err.code, t0, { detail: err.message });
            if (env && err.code === "overloaded") {
                // Claimed but not answered: let the platform send it again.
                await this.deps.store.complete(env.header.message_id, JSON.stringify(errorReply(err, env)), 1).catch(() => undefined);
            }
            return errorReply(err, env);
        }
    }

    // ---------------------------------------------------------------- HTTP routes

    private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        const platform = webhookPlatform(path);
        try {
            if (path === "/chat") {
                return json(res, 426, { type: "error", error: "upgrade_required", detail: "/chat is a WebSocket" }, { upgrade: "websocket" });
            }
            if (platform !== undefined) {
                return req.method === "POST" ? await this.webhook(req, res, platform) : json(res, 405, { type: "error", error: "method_not_allowed" }, { allow: "POST" });
            }
            if (path === "/v1/messages") {
                return req.method === "POST" ? await this.restSubmit(req, res) : json(res, 405, { type: "error", error: "method_not_allowed" }, { allow: "POST" });
            }
            const id = resultId(path);
            if (id !== undefined) {
                return req.method === "GET" ? await this.restResult(res, id) : json(res, 405, { type: "error", error: "method_not_allowed" }, { allow: "GET" });
            }
            return json(res, 404, { type: "error", error: "not_found", detail: "no such route" });
        } catch (e) {
            const err = e instanceof DialogueError ? e : new DialogueError("malformed", "unreadable request");
            return json(res, ERROR_STATUS[err.code], errorReply(err));
        }
    }

    /** Reads a body of at most maxMessageBytes; refuses larger ones without reading them whole. */
    private body(req: http.IncomingMessage): Promise<Buffer> {
        const max = this.cfg.limits.maxMessageBytes;
        const announced = Number(req.headers["content-length"] ?? "0");
        if (announced > max) {
            req.resume();
            return Promise.reject(new DialogueError("payload_too_large", `the message is ${announced} bytes; at most ${max} are accepted`));
        }
        return new Promise((resolve, reject) => {
            const chunks: Buffer[] = [];
            let size = 0;
            req.on("data", (c: Buffer) => {
                size += c.length;
                if (size > max) {
                    reject(new DialogueError("payload_too_large", `the message is over ${max} bytes`));
                    req.destroy();
                    return;
                }
                chunks.push(c);
            });
            req.on("end", () => resolve(Buffer.concat(chunks)));
            req.on("error", reject);
        });
    }

    private async webhook(req: http.IncomingMessage, res: http.ServerResponse, platform: string): Promise<void> {
        const t0 = performance.now();
        let env: Envelope | undefined;
        try {
            env = this.check(await this.body(req));
            if (env.header.platform !== platform) {
                throw new DialogueError("platform_mismatch", `the message is from ${env.header.platform}, the path names ${platform}`);
            }
            const url = this.deps.replyUrls.get(platform);
            if (!url) {
                throw new DialogueError("unknown_platform", `no reply URL is configured for ${platform}`);
            }
            if (this.queued >= this.cfg.limits.webhookQueue) {
                throw new DialogueError("overloaded", `${this.queued} webhook replies wait for delivery in this replica; retry later`);
            }
            const replay = await this.claim(env);
            if (replay) {
                // The first answer was (or is being) delivered: acknowledge again, deliver nothing twice.
                this.metrics.replays.inc({ route: "webhook", platform: platformLabel(platform, this.knownPlatforms) });
                this.record("webhook", platform, env, "replayed", t0);
                return json(res, 200, { status: "duplicate", message_id: env.header.message_id });
            }
            const claimed = env;
            this.enqueue(async () => {
                const out = await this.produce(claimed, "webhook");
                await this.deliver(url, platform, claimed, this.signed(out));
            });
            this.record("webhook", platform, env, "ok", t0);
            return json(res, 202, { status: "accepted", message_id: env.header.message_id });
        } catch (e) {
            const err = e instanceof DialogueError ? e : new DialogueError("malformed", "unreadable request");
            this.record("webhook", env?.header.platform ?? platform, env, err.code, t0, { detail: err.message });
            return json(res, ERROR_STATUS[err.code], errorReply(err, env));
        }
    }

    /** The bounded webhook queue: at most `webhookQueue` jobs waiting or running, 4 running at once. */
    private enqueue(job: () => Promise<void>): void {
        this.queued++;
        this.metrics.queue.set(this.queued);
        this.queue.push(job);
        this.pump();
    }

    private pump(): void {
        while (this.activeDeliveries < 4 && this.queue.length > 0) {
            const job = this.queue.shift()!;
            this.activeDeliveries++;
            void this.track(job())
                .catch((e) => this.log({ level: "error", event: "webhook_job_failed", detail: (e as Error).message }))
                .finally(() => {
                    this.activeDeliveries--;
                    this.queued--;
                    this.metrics.queue.set(this.queued);
                    this.pump();
                });
        }
    }

    /** POSTs a signed reply to the platform's reply URL, with exponential backoff on retryable failures. */
    private async deliver(url: URL, platform: string, env: Envelope, body: object): Promise<void> {
        const w = this.cfg.webhook;
        const p = platformLabel(platform, this.knownPlatforms);
        for (let attempt = 1; attempt <= w.attempts; attempt++) {
            const delay = retryDelayMs(attempt, w.backoffMs);
            if (delay > 0) {
                await new Promise((r) => setTimeout(r, delay));
            }
            let status: number | undefined;
            try {
                const res = await fetch(url, {
                    method: "POST",
                    headers: { "content-type": "application/json" },
                    body: JSON.stringify(body),
                    signal: AbortSignal.timeout(w.timeoutMs),
                });
                status = res.status;
                await res.arrayBuffer().catch(() => undefined);
            } catch {
                status = undefined;
            }
            if (status !== undefined && status >= 200 && status < 300) {
                this.metrics.deliveries.inc({ platform: p, outcome: "delivered" });
                this.log({ level: "info", event: "webhook_delivered", platform: p, message_id: env.header.message_id, attempt });
                return;
            }
            const again = retryable(status) && attempt < w.attempts;
            this.metrics.deliveries.inc({ platform: p, outcome: again ? "retried" : "failed" });
            this.log({ level: "warn", event: "webhook_delivery_failed", platform: p, message_id: env.header.message_id, attempt, status: status ?? "no_answer", retry: again });
            if (!again) {
                return;
            }
        }
    }

    private async restSubmit(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const t0 = performance.now();
        let env: Envelope | undefined;
        try {
            env = this.check(await this.body(req));
            this.hasCapacity();
            const replay = await this.claim(env);
            if (replay) {
                this.metrics.replays.inc({ route: "rest", platform: platformLabel(env.header.platform, this.knownPlatforms) });
                this.record("rest", env.header.platform, env, "replayed", t0);
                return json(res, 200, this.signed(replay));
            }
            const claimed = env;
            void this.track(this.produce(claimed, "rest"));
            this.record("rest", env.header.platform, env, "ok", t0);
            const id = env.header.message_id;
            return json(res, 202, { status: "accepted", id, result_url: `/v1/messages/${id}` }, { location: `/v1/messages/${id}` });
        } catch (e) {
            const err = e instanceof DialogueError ? e : new DialogueError("malformed", "unreadable request");
            this.record("rest", env?.header.platform, env, err.code, t0, { detail: err.message });
            return json(res, ERROR_STATUS[err.code], errorReply(err, env));
        }
    }

    private async restResult(res: http.ServerResponse, id: string): Promise<void> {
        const c = await this.storeCall("look the message up", () => this.deps.store.lookup(id));
        if (c.state === "new") {
            return json(res, 404, { type: "error", error: "not_found", detail: `no message ${id} (never sent, or its answer expired)` });
        }
        if (c.state === "pending") {
            return json(res, 202, { status: "pending", id }, { "retry-after": "1" });
        }
        return json(res, 200, this.signed({ body: JSON.parse(c.answer) as Answer | ErrorReply, replayed: false }));
    }

    // ---------------------------------------------------------------- probes and metrics

    private async adminRoute(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        if (path === "/healthz") {
            return json(res, 200, { status: "ok" });
        }
        if (path === "/readyz") {
            // Ready when the shared store answers: without it no message can be deduplicated. Triton's
            // state is not part of it, so a Triton outage gives clear model_unavailable replies.
            try {
                if (this.stopping) {
                    throw new Error("stopping");
                }
                await this.deps.store.ping();
                return json(res, 200, { status: "ready", store: this.deps.store.kind });
            } catch (e) {
                return json(res, 503, { status: "not_ready", detail: (e as Error).message });
            }
        }
        if (path === "/metrics") {
            res.writeHead(200, { "content-type": this.metrics.registry.contentType });
            res.end(await this.metrics.registry.metrics());
            return;
        }
        return json(res, 404, { error: "not_found" });
    }
}

function json(res: http.ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-store", ...headers });
    res.end(text);
}
