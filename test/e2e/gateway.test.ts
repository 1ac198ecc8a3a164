// The entry point for real: Debian's haproxy (2.6) runs the generated haproxy.cfg (the production
// generator, with loopback listeners) in front of a stand-in upstream that echoes requests and accepts
// WebSocket upgrades. Tokens are minted with jose. No Pulumi engine. Everything listens on 127.0.0.1.
import { ChildProcess, spawn, spawnSync } from "child_process";
import { createHash, createHmac, randomBytes, randomUUID } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as http2 from "http2";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSignedEnvelope, envelopeRequest, verifyEnvelope } from "../../components/envelope";
import { gatewaySchema, kubernetesGatewayConfig, renderHaproxyConfig, serverGateway } from "../../components/gateway";
import { buildClaims, keysSchema } from "../../components/keys";
import { mintToken } from "../../components/keys/jwt";
import { freePort } from "../support/ports";

// Deliberately full of characters that break haproxy's config parser if the secret were written into
// (or expanded into) the file: the gateway must read it as data.
const SECRET = `e2e "secret", with) commas $HOME \\ and 'quotes' 0123456789abcdef`;
const HMAC_KEY = "hmac-key-for-the-e2e-test-0123456789abcdef";
const JWT = { issuer: "model-service", audience: "collaboration-platform", lifetimeSeconds: 3600 };
const RATE = { requests: 5, periodSeconds: 60 };
const enc = new TextEncoder();

interface Reply {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

/** What the stand-in upstream received, per request id. */
interface Seen {
    method: string;
    url: string;
    headers: http.IncomingHttpHeaders;
    body: string;
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function call(port: number, method: string, urlPath: string, opts: { headers?: Record<string, string>; body?: string; chunked?: boolean } = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
        const headers: Record<string, string> = { ...(opts.headers ?? {}) };
        if (opts.body !== undefined && !opts.chunked) {
            headers["content-length"] = String(Buffer.byteLength(opts.body));
        }
        const req = http.request({ host: "127.0.0.1", port, method, path: urlPath, headers, agent: false }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on("error", reject);
        if (opts.chunked && opts.body !== undefined) {
            req.write(opts.body);
        }
        req.end(opts.chunked ? undefined : opts.body);
    });
}

/** A WebSocket handshake; on 101, the first (text) frame the upstream sends. */
function websocket(port: number, urlPath: string, headers: Record<string, string> = {}): Promise<{ status: number; accepted: boolean; message?: string; body?: string }> {
    return new Promise((resolve, reject) => {
        const key = randomBytes(16).toString("base64");
        const req = http.request({
            host: "127.0.0.1",
            port,
            path: urlPath,
            agent: false,
            headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": key, "sec-websocket-version": "13", ...headers },
        });
        req.on("upgrade", (res, socket, head) => {
            const expected = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
            let buf = Buffer.from(head);
            const done = () => {
                // Server frames are unmasked; the stand-in sends one short text frame (length < 126).
                const len = buf[1] & 0x7f;
                if (buf.length >= 2 + len) {
                    socket.destroy();
                    resolve({ status: res.statusCode ?? 0, accepted: res.headers["sec-websocket-accept"] === expected, message: buf.subarray(2, 2 + len).toString("utf8") });
                    return true;
                }
                return false;
            };
            if (buf.length >= 2 && done()) {
                return;
            }
            socket.on("data", (d: Buffer) => {
                buf = Buffer.concat([buf, d]);
                if (buf.length >= 2) {
                    done();
                }
            });
            socket.on("error", reject);
        });
        req.on("response", (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, accepted: false, body }));
        });
        req.on("error", reject);
        req.end();
    });
}

/** Waits (bounded) until haproxy answers on its probe port. */
async function waitHealthy(proc: ChildProcess, statsPort: number, stderr: () => string): Promise<void> {
    for (let i = 0; i < 100; i++) {
        if (proc.exitCode !== null || proc.signalCode !== null) {
            throw new Error(`haproxy exited (${proc.exitCode ?? proc.signalCode}): ${stderr()}`);
        }
        const up = await call(statsPort, "GET", "/healthz").then(
            (r) => r.status === 200,
            () => false,
        );
        if (up) {
            return;
        }
        await sleep(100);
    }
    throw new Error(`haproxy did not come up: ${stderr()}`);
}

/** Stops a haproxy this test started, by its own handle. */
async function stop(proc: ChildProcess | undefined): Promise<void> {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await Promise.race([exited, sleep(5000)]);
        if (proc.exitCode === null && proc.signalCode === null) {
            proc.kill("SIGKILL");
        }
    }
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

/** An HS256 token; `claims` overrides (undefined deletes) the R10 defaults. */
async function token(claims: Record<string, unknown> = {}, key: string = SECRET, header: Record<string, unknown> = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = {
        iss: JWT.issuer,
        aud: JWT.audience,
        scope: ["chat:write", "metrics:read"],
        sub: "e2e",
        jti: randomUUID(),
        iat: now,
        exp: now + 3600,
        ...claims,
    };
    for (const k of Object.keys(payload)) {
        if (payload[k] === undefined) {
            delete payload[k];
        }
    }
    const alg = (header.alg as string | undefined) ?? "HS256";
    return new SignJWT(payload).setProtectedHeader({ typ: "JWT", ...header, alg }).sign(enc.encode(key));
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** An HS256 token over exactly these header and payload texts (duplicate keys, trailing bytes, odd numbers). */
function rawToken(headerJson: string, payloadJson: string, key: string = SECRET): string {
    const input = `${Buffer.from(headerJson).toString("base64url")}.${Buffer.from(payloadJson).toString("base64url")}`;
    return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`;
}

/** Sends one request exactly as written (no client normalisation) and returns the status code. */
function rawRequest(port: number, head: string): Promise<number> {
    return new Promise((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1", () => socket.write(head));
        let data = "";
        socket.setEncoding("latin1");
        socket.on("data", (d) => {
            data += d;
            const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
            if (m) {
                socket.destroy();
                resolve(Number(m[1]));
            }
        });
        socket.on("error", reject);
        socket.on("close", () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0)));
    });
}

/** Triton's admin and inspection APIs (the restricted APIs): never reachable through the gateway. */
const ADMIN_PATHS = [
    "v2/repository/index",
    "v2/repository/models/dialogue/load",
    "v2/repository/models/dialogue/unload",
    "v2/models/dialogue/config",
    "v2/models/stats",
    "v2/trace/setting",
    "v2/logging",
    "v2/systemsharedmemory/status",
    "v2/cudasharedmemory/status",
];

/** Ways to write "one folder up" that some server resolves after the gateway matched the raw path. */
const UP = ["..", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%252e%252e", "..%00"];
/** Ways to write "/" that some server reads as a separator. */
const SEP = ["/", "%2f", "%2F", "\\", "%5c", "%5C", "%252f"];

describe("the generated haproxy.cfg in front of a stand-in upstream (haproxy from Debian)", () => {
    let dir: string;
    let haproxy: ChildProcess | undefined;
    let upstream: http.Server;
    let port: number;
    let statsPort: number;
    let logs = "";
    let stderr = "";
    const seen = new Map<string, Seen>();
    const sockets = new Set<net.Socket>();

    beforeAll(async () => {
        const version = spawnSync("haproxy", ["-v"], { encoding: "utf8" });
        if (version.error || version.status !== 0) {
            throw new Error("haproxy is not installed: apt-get install haproxy (listed in scripts/apt-packages.txt)");
        }
        const m = /version (\d+)\.(\d+)/.exec(version.stdout);
        if (!m || Number(m[1]) * 100 + Number(m[2]) < 205) {
            throw new Error(`haproxy >= 2.5 is needed for jwt_verify, found: ${version.stdout.split("\n")[0]}`);
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-e2e-"));
        [port, statsPort] = [await freePort(), await freePort()];
        const upstreamPort = await freePort();

        upstream = http.createServer((req, res) => {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
                const id = randomUUID();
                seen.set(id, { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
                const reply = () => {
                    res.writeHead(200, { "content-type": "application/json", "x-upstream-request": id });
                    res.end(JSON.stringify({ id }));
                };
                if ((req.url ?? "").startsWith("/webhook/slow")) {
                    setTimeout(reply, 1500);
                } else {
                    reply();
                }
            });
        });
        upstream.on("upgrade", (req, socket: net.Socket) => {
            const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
            socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
            const payload = Buffer.from(JSON.stringify({ url: req.url, auth: req.headers.authorization !== undefined }));
            socket.write(Buffer.concat([Buffer.from([0x81, payload.length]), payload]));
            socket.on("error", () => undefined);
        });
        upstream.on("connection", (s: net.Socket) => sockets.add(s));
        await new Promise<void>((r) => upstream.listen(upstreamPort, "127.0.0.1", r));

        const settings = gatewaySchema.parse({ rateLimit: RATE });
        const cfg = renderHaproxyConfig({
            settings,
            jwt: JWT,
            listeners: [{ name: "http", address: "127.0.0.1", port }],
            statsListener: { address: "127.0.0.1", port: statsPort },
            upstreams: { triton: { host: "127.0.0.1", port: upstreamPort }, "triton-metrics": { host: "127.0.0.1", port: upstreamPort } },
            process: { pidfile: path.join(dir, "haproxy.pid"), adminSocket: path.join(dir, "admin.sock") },
            stripHeaders: ["triton-admin-key"],
        });
        fs.writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
        haproxy = spawn("haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], {
            env: { PATH: process.env.PATH ?? "/usr/bin:/bin", JWT_SECRET: SECRET },
            stdio: ["ignore", "pipe", "pipe"],
        });
        haproxy.stdout!.on("data", (d) => (logs += d));
        haproxy.stderr!.on("data", (d) => (stderr += d));
        await waitHealthy(haproxy, statsPort, () => stderr);
    });

    afterAll(async () => {
        await stop(haproxy);
        if (upstream) {
            // haproxy keeps upstream connections alive and upgraded sockets leave the server's own
            // bookkeeping: destroy every socket, or close() waits for them.
            const closed = new Promise((r) => upstream.close(r));
            sockets.forEach((s) => s.destroy());
            await closed;
        }
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    const upstreamSaw = (r: Reply): Seen => {
        const s = seen.get(String(r.headers["x-upstream-request"]));
        if (!s) {
            throw new Error(`the upstream did not see this request (status ${r.status}: ${r.body})`);
        }
        return s;
    };

    it("forwards a valid token's request to the upstream, without the token and with the subject", async () => {
        const r = await call(port, "POST", "/v2/models/dialogue/infer", { headers: { ...bearer(await token()), "content-type": "application/json" }, body: "{}" });
        expect(r.status).toBe(200);
        const s = upstreamSaw(r);
        expect(s.url).toBe("/v2/models/dialogue/infer");
        expect(s.headers.authorization).toBeUndefined();
        expect(s.headers["x-authenticated-subject"]).toBe("e2e");
    });

    it("accepts tokens minted by the Keys component's minter (npm run token)", async () => {
        const claims = buildClaims(keysSchema.parse({}));
        const t = await mintToken(SECRET, claims);
        expect((await call(port, "GET", "/v2/health/ready", { headers: bearer(t) })).status).toBe(200);
    });

    it("refuses a wrong signature with 401", async () => {
        const r = await call(port, "GET", "/v2/health/ready", { headers: bearer(await token({}, "another-secret-of-the-same-length-0123456789")) });
        expect(r.status).toBe(401);
        expect(JSON.parse(r.body)).toEqual({ error: "invalid_token", error_description: "bad_signature" });
        expect(r.headers["www-authenticate"]).toMatch(/^Bearer realm="triton.example.com", error="invalid_token"/);
    });

    it("refuses alg=none (unsigned) and other algorithms with 401", async () => {
        const now = Math.floor(Date.now() / 1000);
        const unsigned = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ iss: JWT.issuer, aud: JWT.audience, scope: ["chat:write"], iat: now, exp: now + 600 })}.`;
        const none = await call(port, "GET", "/v2/health/ready", { headers: bearer(unsigned) });
        expect(none.status).toBe(401);
        expect(JSON.parse(none.body).error_description).toBe("unsupported_alg");
        const hs512 = await call(port, "GET", "/v2/health/ready", { headers: bearer(await token({}, SECRET, { alg: "HS512" })) });
        expect(hs512.status).toBe(401);
    });

    it("refuses a wrong audience or issuer with 401, and accepts the audience inside an array", async () => {
        const aud = await call(port, "GET", "/v2/health/ready", { headers: bearer(await token({ aud: "someone-else" })) });
        expect(aud.status).toBe(401);
        expect(JSON.parse(aud.body).error_description).toBe("bad_audience");
        const inArray = await call(port, "GET", "/v2/health/ready", { headers: bearer(await token({ aud: ["other", JWT.audience] })) });
        expect(inArray.status).toBe(200);
        const iss = await call(port, "GET", "/v2/health/ready", { headers: bearer(await token({ iss: "someone-else" })) });
        expect(JSON.parse(iss.body).error_description).toBe("bad_issuer");
    });

    it("refuses expired tokens, tokens without exp, not-yet-valid tokens and tokens living longer than the lifetime", async () => {
        const now = Math.floor(Date.now() / 1000);
        const cases: [Record<string, unknown>, string][] = [
            [{ iat: now - 7200, exp: now - 120 }, "expired"],
            [{ exp: undefined }, "missing_exp"],
            [{ nbf: now + 600 }, "not_yet_valid"],
            [{ exp: now + 86_400 }, "lifetime_too_long"],
        ];
        for (const [claims, reason] of cases) {
            const r = await call(port, "GET", "/v2/health/ready", { headers: bearer(await token(claims)) });
            expect({ status: r.status, reason: JSON.parse(r.body).error_description }).toEqual({ status: 401, reason });
        }
        // Within the tolerated clock skew (30 s) a just-expired token still passes (R15: unsynchronised clocks).
        const skewed = await call(port, "GET", "/v2/health/ready", { headers: bearer(await token({ iat: now - 3600, exp: now - 5 })) });
        expect(skewed.status).toBe(200);
    });

    it("refuses a missing token with 401 and a missing scope with 403, per route", async () => {
        const none = await call(port, "GET", "/v2/health/ready");
        expect(none.status).toBe(401);
        expect(none.headers["www-authenticate"]).toBe('Bearer realm="triton.example.com"');
        const metricsOnly = await token({ scope: ["metrics:read"] });
        const chat = await call(port, "POST", "/webhook/slack", { headers: bearer(metricsOnly), body: "{}" });
        expect(chat.status).toBe(403);
        expect(chat.headers["www-authenticate"]).toContain('error="insufficient_scope", scope="chat:write"');
        expect((await call(port, "GET", "/metrics", { headers: bearer(metricsOnly) })).status).toBe(200);
        const chatOnly = await token({ scope: "chat:write" }); // OAuth style: a space-separated string
        expect((await call(port, "GET", "/metrics", { headers: bearer(chatOnly) })).status).toBe(403);
        expect((await call(port, "POST", "/webhook/slack", { headers: bearer(chatOnly), body: "{}" })).status).toBe(200);
        // A scope name inside another one is not that scope.
        const lookalike = await token({ scope: ["chat:writer", "xchat:write"] });
        expect((await call(port, "POST", "/webhook/slack", { headers: bearer(lookalike), body: "{}" })).status).toBe(403);
    });

    it("upgrades a WebSocket on /chat with a valid token (header or ?token=) and refuses it without one", async () => {
        const viaHeader = await websocket(port, "/chat", bearer(await token()));
        expect(viaHeader).toMatchObject({ status: 101, accepted: true });
        const t = await token();
        const viaQuery = await websocket(port, `/chat?token=${t}&lang=en`);
        expect(viaQuery).toMatchObject({ status: 101, accepted: true });
        // The upstream sees neither the query token nor an Authorization header.
        expect(JSON.parse(viaQuery.message!)).toEqual({ url: "/chat?lang=en", auth: false });
        const onlyToken = await websocket(port, `/chat?token=${await token()}`);
        expect(JSON.parse(onlyToken.message!).url).toBe("/chat");
        expect((await websocket(port, "/chat")).status).toBe(401);
        expect((await websocket(port, `/chat?token=${await token({ scope: ["metrics:read"] })}`)).status).toBe(403);
        // ?token= is a WebSocket concession (R9): REST routes want the header.
        expect((await call(port, "GET", `/v2/health/ready?token=${t}`)).status).toBe(401);
        // /chat is WebSocket only.
        expect((await call(port, "GET", "/chat", { headers: bearer(t) })).status).toBe(426);
    });

    it("never writes a token into its log, and logs why a token was refused", async () => {
        const t = await token();
        await websocket(port, `/chat?token=${t}`);
        await call(port, "GET", "/v2/health/ready", { headers: bearer(await token({ iat: 1, exp: 2 })) });
        for (let i = 0; i < 50 && !logs.includes("auth=expired"); i++) {
            await sleep(100);
        }
        expect(logs).toContain("auth=expired");
        expect(logs).toContain('"GET /chat HTTP/1.1" route=chat');
        expect(logs).not.toContain(t);
        expect(logs).not.toContain("token=");
    });

    it("returns 429 once a token exceeds its rate, while other tokens pass", async () => {
        const t = await token();
        const statuses: number[] = [];
        for (let i = 0; i < RATE.requests + 1; i++) {
            statuses.push((await call(port, "GET", "/v2/health/ready", { headers: bearer(t) })).status);
        }
        expect(statuses).toEqual([...Array(RATE.requests).fill(200), 429]);
        const limited = await call(port, "GET", "/v2/health/ready", { headers: bearer(t) });
        expect(limited.headers["retry-after"]).toBe(String(RATE.periodSeconds));
        expect((await call(port, "GET", "/v2/health/ready", { headers: bearer(await token()) })).status).toBe(200);
    });

    it("answers 504 when the upstream misses the webhook deadline (200 ms budget x 5)", async () => {
        const r = await call(port, "POST", "/webhook/slow", { headers: bearer(await token()), body: "{}" });
        expect(r.status).toBe(504);
    });

    it("limits bodies (413, 411 for unannounced lengths), methods (405) and paths (404)", async () => {
        const t = await token();
        const big = "x".repeat((1 << 20) + 1);
        expect((await call(port, "POST", "/webhook/slack", { headers: bearer(t), body: big })).status).toBe(413);
        expect((await call(port, "POST", "/webhook/slack", { headers: bearer(t), body: "{}", chunked: true })).status).toBe(411);
        const get = await call(port, "GET", "/webhook/slack", { headers: bearer(t) });
        expect(get.status).toBe(405);
        expect(get.headers.allow).toBe("POST");
        // Triton's admin APIs are not reachable through the gateway, token or not.
        expect((await call(port, "POST", "/v2/repository/index", { headers: bearer(t), body: "{}" })).status).toBe(404);
        expect((await call(port, "GET", "/v2/models/dialogue/config", { headers: bearer(t) })).status).toBe(404);
    });

    it("refuses every dot-segment, encoded-separator and backslash path before routing: no admin path is reachable through any route", async () => {
        const t = await token();
        // A path inside each route: the default routes are chat (exact), infer and health (regex), webhook
        // (prefix) and metrics (exact).
        const entries = [
            { method: "GET", path: "/chat/", ws: true },
            { method: "POST", path: "/v2/models/dialogue/infer/" },
            { method: "GET", path: "/v2/health/ready/" },
            { method: "POST", path: "/webhook/x/" },
            { method: "POST", path: "/webhook/" },
            { method: "GET", path: "/metrics/" },
        ];
        const before = seen.size;
        const statuses = new Map<number, number>();
        let sent = 0;
        for (const e of entries) {
            for (const admin of ADMIN_PATHS) {
                for (const up of UP) {
                    for (const sep of SEP) {
                        for (const depth of [1, 3, 5]) {
                            const target = `${e.path}${Array(depth).fill(up).join(sep)}${sep}${admin}`;
                            const head =
                                `${e.method} ${target} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${t}\r\nContent-Length: 2\r\n` +
                                (e.ws ? "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" : "") +
                                "\r\n{}";
                            const status = await rawRequest(port, head);
                            statuses.set(status, (statuses.get(status) ?? 0) + 1);
                            sent++;
                        }
                    }
                }
            }
        }
        expect(sent).toBe(entries.length * ADMIN_PATHS.length * UP.length * SEP.length * 3);
        // Nothing reached the upstream, whatever the route, and every answer is a refusal.
        expect(seen.size - before).toBe(0);
        expect([...statuses.keys()].every((st) => st === 400 || st === 404), JSON.stringify([...statuses])).toBe(true);
        // The positive control: the same routes without traversal do reach the upstream.
        const ok = await call(port, "POST", "/webhook/x/v2/repository/index", { headers: bearer(t), body: "{}" });
        expect(ok.status).toBe(200);
        expect(upstreamSaw(ok).url).toBe("/webhook/x/v2/repository/index");
        // ...and the refusal says why.
        const r = await call(port, "POST", "/webhook/%2e%2e/v2/repository/index", { headers: bearer(t), body: "{}" });
        expect({ status: r.status, body: JSON.parse(r.body) }).toEqual({ status: 400, body: { error: "invalid_request", error_description: "ambiguous_path" } });
    });

    it("refuses claims haproxy cannot read, instead of skipping their check", async () => {
        const now = Math.floor(Date.now() / 1000);
        const head = '{"alg":"HS256","typ":"JWT"}';
        const claims = `"iss":"${JWT.issuer}","aud":"${JWT.audience}","scope":["chat:write"],"sub":"e2e"`;
        const cases: [string, string, string][] = [
            ["nbf 1e30", `{${claims},"iat":${now},"exp":${now + 600},"nbf":1e30}`, "bad_nbf"],
            ["nbf 2^64", `{${claims},"iat":${now},"exp":${now + 600},"nbf":18446744073709551616}`, "bad_nbf"],
            ["nbf a string", `{${claims},"iat":${now},"exp":${now + 600},"nbf":"later"}`, "bad_nbf"],
            ["nbf an array", `{${claims},"iat":${now},"exp":${now + 600},"nbf":[${now + 9999}]}`, "bad_nbf"],
            ["nbf a float", `{${claims},"iat":${now},"exp":${now + 600},"nbf":${now}.5}`, "bad_nbf"],
            ["exp a numeric string", `{${claims},"iat":${now},"exp":"${now + 600}"}`, "bad_exp"],
            ["exp 1e30", `{${claims},"iat":${now},"exp":1e30}`, "bad_exp"],
            ["iat a string", `{${claims},"iat":"${now}","exp":${now + 600}}`, "bad_iat"],
            ["iat in the future beyond the skew", `{${claims},"iat":${now + 600},"exp":${now + 900}}`, "issued_in_future"],
            ["trailing data after the payload", `{${claims},"iat":${now},"exp":${now + 600}}{"exp":${now + 99999}}`, "malformed"],
            ["trailing bytes after the payload", `{${claims},"iat":${now},"exp":${now + 600}} x`, "malformed"],
            ["a duplicate exp", `{${claims},"iat":${now},"exp":${now - 9999},"exp":${now + 600}}`, "duplicate_claim"],
            ["a duplicate aud", `{${claims},"aud":"someone-else","iat":${now},"exp":${now + 600}}`, "duplicate_claim"],
            ["a duplicate nbf", `{${claims},"iat":${now},"exp":${now + 600},"nbf":${now},"nbf":${now + 9999}}`, "duplicate_claim"],
            ["a payload that is no JSON object", `[${now}]`, "malformed"],
        ];
        for (const [what, payload, reason] of cases) {
            const r = await call(port, "GET", "/v2/health/ready", { headers: bearer(rawToken(head, payload)) });
            expect({ what, status: r.status, reason: JSON.parse(r.body).error_description }).toEqual({ what, status: 401, reason });
        }
        const headerCases: [string, string, string][] = [
            ["a duplicate alg in the header", '{"alg":"none","alg":"HS256","typ":"JWT"}', "duplicate_member"],
            ["trailing data after the header", '{"alg":"HS256"}{"alg":"none"}', "malformed"],
            ["a critical extension", '{"alg":"HS256","crit":["exp"],"exp":1}', "unsupported_crit"],
        ];
        for (const [what, header, reason] of headerCases) {
            const r = await call(port, "GET", "/v2/health/ready", { headers: bearer(rawToken(header, `{${claims},"iat":${now},"exp":${now + 600}}`)) });
            expect({ what, status: r.status, reason: JSON.parse(r.body).error_description }).toEqual({ what, status: 401, reason });
        }
        const extra = await call(port, "GET", "/v2/health/ready", { headers: bearer(`${await token()}.AAAA`) });
        expect({ status: extra.status, reason: JSON.parse(extra.body).error_description }).toEqual({ status: 401, reason: "malformed" });
        // What the rules are not about still passes: whitespace, a nested object, a kid, a within-skew iat.
        const fine = rawToken('{ "alg" : "HS256", "typ":"JWT", "kid":"k1" }', `{ ${claims}, "iat" : ${now + 5}, "exp" : ${now + 600}, "ctx": {"platform":"feishu","n":[1,2.5,-3e2,true,null]} }`);
        expect((await call(port, "GET", "/v2/health/ready", { headers: bearer(fine) })).status).toBe(200);
    });

    it("refuses two Authorization headers, two token parameters, and a header with a token parameter (400)", async () => {
        const [a, b] = [await token(), await token({ scope: ["metrics:read"] })];
        const ws = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
        expect(await rawRequest(port, `GET /v2/health/ready HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${a}\r\nAuthorization: Bearer ${b}\r\n\r\n`)).toBe(400);
        expect(await rawRequest(port, `GET /v2/health/ready HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${a}, Bearer ${b}\r\n\r\n`)).toBe(400);
        expect(await rawRequest(port, `GET /chat?token=${a}&token=${b} HTTP/1.1\r\nHost: gw\r\n${ws}\r\n`)).toBe(400);
        expect(await rawRequest(port, `GET /chat?lang=en&token=${a}&x=1&token=${b} HTTP/1.1\r\nHost: gw\r\n${ws}\r\n`)).toBe(400);
        expect(await rawRequest(port, `GET /chat?token=${b} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${a}\r\n${ws}\r\n`)).toBe(400);
        // One token, either way, still works.
        expect((await websocket(port, `/chat?token=${a}`)).status).toBe(101);
        expect((await websocket(port, "/chat", bearer(a))).status).toBe(101);
    });

    it("drops client-sent identity and Triton admin headers", async () => {
        const r = await call(port, "GET", "/v2/health/ready", {
            headers: { ...bearer(await token({ sub: undefined })), "x-authenticated-subject": "admin", "triton-admin-key": "guess" },
        });
        const s = upstreamSaw(r);
        expect(s.headers["x-authenticated-subject"]).toBeUndefined();
        expect(s.headers["triton-admin-key"]).toBeUndefined();
    });

    it("speaks HTTP/2 without TLS (prior knowledge) when http2 is on (R8)", async () => {
        const client = http2.connect(`http://127.0.0.1:${port}`);
        try {
            const t = await token();
            const status = await new Promise<number>((resolve, reject) => {
                const req = client.request({ ":method": "GET", ":path": "/v2/health/ready", authorization: `Bearer ${t}` });
                req.on("response", (h) => resolve(Number(h[":status"])));
                req.on("error", reject);
                req.resume();
                req.end();
            });
            expect(status).toBe(200);
        } finally {
            client.close();
        }
    });

    it("carries a signed R11 envelope end to end through the webhook route", async () => {
        const envelope = buildSignedEnvelope({ platform: "e2e", sessionId: "s-1", query: "ping", history: [{ role: "user", content: "hi" }] }, HMAC_KEY);
        const req = envelopeRequest(`http://127.0.0.1:${port}/webhook/e2e`, envelope, await token());
        const r = await call(port, "POST", new URL(req.url).pathname, { headers: req.init.headers, body: req.init.body });
        expect(r.status).toBe(200);
        const received = JSON.parse(upstreamSaw(r).body);
        expect(verifyEnvelope(received, HMAC_KEY)).toMatchObject({ ok: true });
        expect(verifyEnvelope({ ...received, payload: { ...received.payload, query: "pong" } }, HMAC_KEY)).toMatchObject({ ok: false, reason: "bad_signature" });
    });
});

describe("a JWT_SECRET too short to be safe", () => {
    let proc: ChildProcess | undefined;
    let dir: string;

    afterAll(async () => {
        await stop(proc);
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("makes the gateway answer 503 to everything rather than accept tokens anyone could sign", async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-short-"));
        const [port, statsPort, upstreamPort] = [await freePort(), await freePort(), await freePort()];
        fs.writeFileSync(
            path.join(dir, "haproxy.cfg"),
            renderHaproxyConfig({
                settings: gatewaySchema.parse({}),
                jwt: JWT,
                listeners: [{ name: "http", address: "127.0.0.1", port }],
                statsListener: { address: "127.0.0.1", port: statsPort },
                upstreams: { triton: { host: "127.0.0.1", port: upstreamPort }, "triton-metrics": { host: "127.0.0.1", port: upstreamPort } },
            }),
        );
        let stderr = "";
        proc = spawn("haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], { env: { PATH: process.env.PATH ?? "", JWT_SECRET: "" }, stdio: ["ignore", "ignore", "pipe"] });
        proc.stderr!.on("data", (d) => (stderr += d));
        await waitHealthy(proc, statsPort, () => stderr);
        // A token signed with the empty key (jose refuses to): what an attacker tries against an unset secret.
        const now = Math.floor(Date.now() / 1000);
        const signingInput = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url({ iss: JWT.issuer, aud: JWT.audience, scope: ["chat:write"], iat: now, exp: now + 600 })}`;
        const forged = `${signingInput}.${createHmac("sha256", "").update(signingInput).digest("base64url")}`;
        const r = await call(port, "GET", "/v2/health/ready", { headers: bearer(forged) });
        expect(r.status).toBe(503);
        expect(JSON.parse(r.body)).toEqual({ error: "gateway_misconfigured" });
    });
});

describe("key rotation without an outage", () => {
    let proc: ChildProcess | undefined;
    let dir: string;
    let upstream: http.Server | undefined;

    afterAll(async () => {
        await stop(proc);
        if (upstream) {
            await new Promise((r) => upstream!.close(r));
        }
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("accepts a token minted before the rotation during the overlap and refuses it after; the new secret signs throughout", async () => {
        const OLD = "previous-period-secret-0123456789abcdef-xyz";
        const NEW = "current-period-secret-0123456789abcdef-abc";
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-rotation-"));
        const [port, statsPort, upstreamPort] = [await freePort(), await freePort(), await freePort()];
        upstream = http.createServer((_req, res) => res.end("{}"));
        await new Promise<void>((r) => upstream!.listen(upstreamPort, "127.0.0.1", r));
        // The overlap ends 3 s from now (keys.jwt.previousKeyOverlapSeconds after the window's start).
        const overlapEnd = Math.floor(Date.now() / 1000) + 3;
        fs.writeFileSync(
            path.join(dir, "haproxy.cfg"),
            renderHaproxyConfig({
                settings: gatewaySchema.parse({}),
                jwt: { ...JWT, previousKeyValidUntil: overlapEnd },
                listeners: [{ name: "http", address: "127.0.0.1", port }],
                statsListener: { address: "127.0.0.1", port: statsPort },
                upstreams: { triton: { host: "127.0.0.1", port: upstreamPort }, "triton-metrics": { host: "127.0.0.1", port: upstreamPort } },
            }),
        );
        let stderr = "";
        proc = spawn("haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], {
            env: { PATH: process.env.PATH ?? "", JWT_SECRET: NEW, JWT_SECRET_PREVIOUS: OLD },
            stdio: ["ignore", "ignore", "pipe"],
        });
        proc.stderr!.on("data", (d) => (stderr += d));
        await waitHealthy(proc, statsPort, () => stderr);

        const mintedBefore = await token({}, OLD); // minted before the rotation, still within its hour
        const mintedAfter = await token({}, NEW);
        const stranger = await token({}, "neither-secret-0123456789abcdef-0123456789");
        const ask = async (t: string) => {
            const r = await call(port, "GET", "/v2/health/ready", { headers: bearer(t) });
            return { status: r.status, reason: r.status === 200 ? undefined : JSON.parse(r.body).error_description };
        };
        expect(await ask(mintedBefore)).toEqual({ status: 200 });
        expect(await ask(mintedAfter)).toEqual({ status: 200 });
        expect(await ask(stranger)).toEqual({ status: 401, reason: "bad_signature" });

        while (Math.floor(Date.now() / 1000) < overlapEnd + 1) {
            await sleep(200);
        }
        expect(await ask(mintedBefore)).toEqual({ status: 401, reason: "rotated_key" });
        expect(await ask(mintedAfter)).toEqual({ status: 200 });
        expect(await ask(stranger)).toEqual({ status: 401, reason: "bad_signature" });
    });
});

describe("haproxy accepts the production configurations", () => {
    const check = (cfg: string, env: Record<string, string>) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-check-"));
        try {
            fs.writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
            return spawnSync("haproxy", ["-c", "-f", path.join(dir, "haproxy.cfg")], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env } });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    };
    const settings = gatewaySchema.parse({});

    it("checks the Kubernetes config (Service DNS names, resolvers) and the server config (80, 18789, loopback Triton)", () => {
        const k8s = kubernetesGatewayConfig({ settings, jwt: JWT, serviceName: "triton-1a2b3c", namespace: "triton", httpPort: 18789, metricsPort: 8002 });
        const k = check(k8s, { JWT_SECRET: SECRET });
        expect(k.status, k.stderr).toBe(0);
        const server = serverGateway({ settings, jwt: JWT });
        const s = check(server.config, { JWT_SECRET: SECRET });
        expect(s.status, s.stderr).toBe(0);
        // With the rotation overlap (the previous secret and the overlap's end), as Gateway renders it.
        const rotating = kubernetesGatewayConfig({ settings, jwt: { ...JWT, previousKeyValidUntil: 1_773_100_800 }, serviceName: "triton-1a2b3c", namespace: "triton", httpPort: 18789, metricsPort: 8002 });
        const r = check(rotating, { JWT_SECRET: SECRET, JWT_SECRET_PREVIOUS: `${SECRET}-previous` });
        expect(r.status, r.stderr).toBe(0);
    });

    it("refuses to start without JWT_SECRET", () => {
        const r = check(serverGateway({ settings, jwt: JWT }).config, {});
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("JWT_SECRET is not set");
    });

    it("is haproxy's own verdict, not a stub: a broken line fails the check", () => {
        const r = check(renderHaproxyConfig({
            settings,
            jwt: JWT,
            listeners: [{ name: "http", address: "127.0.0.1", port: 1 }],
            statsListener: { address: "127.0.0.1", port: 2 },
            upstreams: { triton: { host: "127.0.0.1", port: 3 }, "triton-metrics": { host: "127.0.0.1", port: 4 } },
        }).replace("http-request set-var(txn.jwt) http_auth_bearer", "http-request set-var(txn.jwt) no_such_fetch"), { JWT_SECRET: SECRET });
        expect(r.status).not.toBe(0);
    });
});

describe("the generated haproxy.cfg in front of a real Triton (tritonserver 2.51 from scripts/install-triton.sh)", () => {
    // Triton as the server runs it: the example model repository (models/), model control off, the admin
    // APIs behind the restricted-API key, latency summaries on; haproxy from the production generator.
    const ADMIN_KEY = randomBytes(24).toString("hex");
    let dir: string;
    let haproxy: ChildProcess | undefined;
    let triton: ChildProcess | undefined;
    let port: number;
    let statsPort: number;
    let stderr = "";

    beforeAll(async () => {
        const install = spawnSync("bash", [path.join(__dirname, "../../scripts/install-triton.sh"), "--print-path"], { encoding: "utf8", timeout: 15 * 60_000 });
        if (install.status !== 0) {
            throw new Error(`scripts/install-triton.sh failed (exit ${install.status}):\n${install.stderr}`);
        }
        const bin = install.stdout.trim();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-triton-e2e-"));
        const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
        [port, statsPort] = [await freePort(), await freePort()];
        const restricted = "model-repository,model-config,shared-memory,statistics,trace,logging:triton-admin-key=";
        // The key reaches Triton as its flag (as on the server: docs/KEYS.md); a file keeps it off this test's logs.
        const log = fs.openSync(path.join(dir, "triton.log"), "a");
        triton = spawn(
            bin,
            [
                `--model-repository=${path.join(__dirname, "../../models")}`,
                `--backend-directory=${path.join(path.dirname(bin), "..", "backends")}`,
                "--model-control-mode=none",
                "--http-address=127.0.0.1",
                `--http-port=${http}`,
                "--grpc-address=127.0.0.1",
                `--grpc-port=${grpc}`,
                "--metrics-address=127.0.0.1",
                `--metrics-port=${metrics}`,
                "--metrics-config=summary_latencies=true",
                `--http-restricted-api=${restricted}${ADMIN_KEY}`,
            ],
            { env: { PATH: "/usr/bin:/bin", HOME: dir, TRITON_PLATFORM_RELEASE: "gateway-e2e" }, stdio: ["ignore", log, log] },
        );
        fs.closeSync(log);
        for (let i = 0; ; i++) {
            if (triton.exitCode !== null) {
                throw new Error(`tritonserver exited ${triton.exitCode}: ${fs.readFileSync(path.join(dir, "triton.log"), "utf8").slice(-2000)}`);
            }
            const ready = await call(http, "GET", "/v2/health/ready").then((r) => r.status, () => 0);
            if (ready === 200) {
                break;
            }
            if (i > 240) {
                throw new Error(`tritonserver not ready after 120 s: ${fs.readFileSync(path.join(dir, "triton.log"), "utf8").slice(-2000)}`);
            }
            await sleep(500);
        }
        const cfg = renderHaproxyConfig({
            settings: gatewaySchema.parse({}),
            jwt: JWT,
            listeners: [{ name: "http", address: "127.0.0.1", port }],
            statsListener: { address: "127.0.0.1", port: statsPort },
            upstreams: { triton: { host: "127.0.0.1", port: http }, "triton-metrics": { host: "127.0.0.1", port: metrics } },
            process: { pidfile: path.join(dir, "haproxy.pid"), adminSocket: path.join(dir, "admin.sock") },
            stripHeaders: ["triton-admin-key"],
        });
        fs.writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
        haproxy = spawn("haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], {
            env: { PATH: process.env.PATH ?? "/usr/bin:/bin", JWT_SECRET: SECRET },
            stdio: ["ignore", "ignore", "pipe"],
        });
        haproxy.stderr!.on("data", (d) => (stderr += d));
        await waitHealthy(haproxy, statsPort, () => stderr);
    }, 20 * 60_000);

    afterAll(async () => {
        await stop(haproxy);
        if (triton && triton.exitCode === null) {
            const exited = new Promise((r) => triton!.once("exit", r));
            triton.kill("SIGTERM");
            await Promise.race([exited, sleep(30_000)]);
            if (triton.exitCode === null) {
                triton.kill("SIGKILL");
            }
        }
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    const infer = (query: string, history: unknown[]) =>
        JSON.stringify({
            inputs: [
                { name: "QUERY", datatype: "BYTES", shape: [1, 1], data: [query] },
                { name: "HISTORY", datatype: "BYTES", shape: [1, 1], data: [JSON.stringify(history)] },
            ],
        });
    const json = { "content-type": "application/json" };

    it("passes a REST inference request with a valid token to Triton and returns the model's reply", async () => {
        const r = await call(port, "POST", "/v2/models/dialogue/infer", { headers: { ...json, ...bearer(await token()) }, body: infer("hello", [{ role: "user", content: "hi" }]) });
        expect(r.status, r.body).toBe(200);
        expect(JSON.parse(r.body).outputs).toEqual([{ name: "REPLY", datatype: "BYTES", shape: [1, 1], data: ['[gateway-e2e] turn 2: you said "hello"'] }]);
    });

    it("refuses the same request without a token, with a bad signature or without chat:write; Triton never sees them", async () => {
        const body = infer("hello", []);
        const before = await call(port, "GET", "/metrics", { headers: bearer(await token()) });
        expect((await call(port, "POST", "/v2/models/dialogue/infer", { headers: json, body })).status).toBe(401);
        expect((await call(port, "POST", "/v2/models/dialogue/infer", { headers: { ...json, ...bearer(await token({}, "another-secret-0123456789abcdef")) }, body })).status).toBe(401);
        expect((await call(port, "POST", "/v2/models/dialogue/infer", { headers: { ...json, ...bearer(await token({ scope: ["metrics:read"] })) }, body })).status).toBe(403);
        const after = await call(port, "GET", "/metrics", { headers: bearer(await token()) });
        const count = (text: string) => Number(/^nv_inference_request_success\{model="dialogue",version="1"\} (\d+)/m.exec(text)?.[1]);
        expect(count(after.body)).toBe(count(before.body));
    });

    it("answers Triton's readiness with a token, and Triton's metrics to metrics:read", async () => {
        expect((await call(port, "GET", "/v2/health/ready")).status).toBe(401);
        expect((await call(port, "GET", "/v2/health/ready", { headers: bearer(await token()) })).status).toBe(200);
        expect((await call(port, "GET", "/v2/models/dialogue/ready", { headers: bearer(await token()) })).status).toBe(200);
        const metrics = await call(port, "GET", "/metrics", { headers: bearer(await token({ scope: ["metrics:read"] })) });
        expect(metrics.status).toBe(200);
        expect(metrics.body).toMatch(/^nv_inference_request_success\{model="dialogue",version="1"\} [1-9]/m);
        expect(metrics.body).toMatch(/^nv_inference_request_summary_us\{.*quantile="0\.99"\}/m);
        expect((await call(port, "GET", "/metrics", { headers: bearer(await token({ scope: ["chat:write"] })) })).status).toBe(403);
    });

    it("keeps Triton's admin APIs out of reach even with the admin key header and a valid token", async () => {
        for (const p of ADMIN_PATHS) {
            for (const method of ["GET", "POST"]) {
                const r = await call(port, method, `/${p}`, { headers: { ...json, ...bearer(await token()), "triton-admin-key": ADMIN_KEY }, body: "{}" });
                expect({ p, method, status: r.status }).toEqual({ p, method, status: expect.toSatisfy((s: number) => s === 403 || s === 404 || s === 405) });
            }
        }
    });
});
