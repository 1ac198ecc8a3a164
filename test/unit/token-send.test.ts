// `npm run token -- --send <url>` (R10, R11): a token with chat:write from the stack's JWT secret, an
// envelope signed with the stack's HMAC key, POSTed through the gateway; the status and body are
// printed, never the token or a key, and the exit code says whether the answer was 2xx.
import * as http from "http";
import * as net from "net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyEnvelope } from "../../components/envelope";
import { buildClaims, KeyClaims } from "../../components/keys";
import { verifyToken } from "../../components/keys/jwt";
import { keysSchema } from "../../components/keys/schema";
import { buildSendRequest, DEFAULT_PLATFORM, DEFAULT_QUERY, FetchLike, hmacKeyFromExport, main, parseArgs, redact, TokenIO } from "../../scripts/token";

const JWT_SECRET = "JwtSecretForSendTests0123456789abcdefABCDEF";
const HMAC_KEY = "HmacKeyForSendTests0123456789abcdefABCDEFGH";
const claims: KeyClaims = buildClaims(keysSchema.parse({}));
const now = new Date("2026-02-01T10:00:00Z");
const URL_ = "http://203.0.113.10:18789/webhook/test";

const shown = (v: string) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: JSON.stringify(v) });
const randomPassword = (role: string, value: string) => ({
    urn: `urn:pulumi:server::triton-platform::triton-platform:keys:Keys$random:index/randomPassword:RandomPassword::keys-${role}`,
    type: "random:index/randomPassword:RandomPassword",
    outputs: { length: 48, result: shown(value) },
});
/** A `pulumi stack export --show-secrets` document as the CLI writes it. */
function stackExport(withHmac = true) {
    return {
        version: 3,
        deployment: {
            resources: [
                { urn: "urn:pulumi:server::triton-platform::triton-platform:keys:Keys::keys", type: "triton-platform:keys:Keys", outputs: { claims } },
                randomPassword("jwt-secret", JWT_SECRET),
                ...(withHmac ? [randomPassword("hmac-key", HMAC_KEY)] : []),
            ],
        },
    };
}

interface Captured {
    url: string;
    init: Parameters<FetchLike>[1];
}

/** IO with a fake fetch that records the request and answers with the given status and body. */
function io(answer: { status: number; statusText?: string; body?: string | ((c: Captured) => string) } | Error, doc: unknown = stackExport()) {
    const out: string[] = [];
    const err: string[] = [];
    const sent: Captured[] = [];
    const fetch: FetchLike = async (url, init) => {
        sent.push({ url, init });
        if (answer instanceof Error) {
            throw answer;
        }
        const body = typeof answer.body === "function" ? answer.body({ url, init }) : (answer.body ?? "");
        return { status: answer.status, statusText: answer.statusText ?? "", text: async () => body };
    };
    const t: TokenIO = { readExport: async () => JSON.stringify(doc), out: (l) => out.push(l), err: (l) => err.push(l), now, fetch };
    return { t, out, err, sent };
}

const everything = (c: { out: string[]; err: string[] }) => [...c.out, ...c.err].join("\n");

describe("--send options", () => {
    it("parses the URL, platform, session, query and timeout", () => {
        expect(parseArgs(["--send", URL_, "--platform", "feishu", "--session", "sess-42", "--query", "hello there", "--timeout", "5", "--stack", "server"])).toEqual({
            keysName: "keys",
            send: URL_,
            platform: "feishu",
            sessionId: "sess-42",
            query: "hello there",
            timeoutSeconds: 5,
            stack: "server",
        });
    });

    it("refuses what cannot work, with the reason", () => {
        expect(() => parseArgs(["--send"])).toThrow(/--send needs a value/);
        expect(() => parseArgs(["--send", "203.0.113.10:18789/webhook/x"])).toThrow(/--send expects a URL such as http:\/\/203\.0\.113\.10:18789\/webhook\/test/);
        expect(() => parseArgs(["--send", "ftp://203.0.113.10/webhook/x"])).toThrow(/--send expects an http:\/\/ or https:\/\/ URL, got ftp:/);
        expect(() => parseArgs(["--send", "not a url"])).toThrow(/--send expects a URL such as/);
        expect(() => parseArgs(["--send", "http://admin:pw@203.0.113.10/webhook/x"])).toThrow(/put no credentials in the URL/);
        expect(() => parseArgs(["--send", URL_, "--verify", "x.y.z"])).toThrow(/--send and --verify cannot be combined/);
        expect(() => parseArgs(["--platform", "slack"])).toThrow(/--platform only applies with --send <url>/);
        expect(() => parseArgs(["--session", "s"])).toThrow(/--session only applies with --send/);
        expect(() => parseArgs(["--send", URL_, "--timeout", "0"])).toThrow(/--timeout expects whole seconds/);
    });

    it("exits 2 with the usage on a bad option, before reading any secret", async () => {
        let read = false;
        const c = io({ status: 200 });
        c.t.readExport = async () => {
            read = true;
            return "{}";
        };
        expect(await main(["--send", "ftp://x/"], c.t)).toBe(2);
        expect(c.err[0]).toMatch(/usage: npm run -s token[\s\S]*--send <url> \[--platform <name>\]/);
        expect(read).toBe(false);
    });
});

describe("the request --send makes (pure)", () => {
    it("POSTs a signed R11 envelope with the token as a bearer header and JSON content", () => {
        const { envelope, request } = buildSendRequest(
            { url: URL_, platform: "feishu", sessionId: "sess-42", query: "hello", messageId: "0b6c7d2e-2f5e-4c1a-9b1e-3a2f4c5d6e7f", timestamp: now.getTime() },
            { token: "header.payload.signature", hmacKey: HMAC_KEY },
        );
        expect(request.url).toBe(URL_);
        expect(request.init.method).toBe("POST");
        expect(request.init.headers).toEqual({ authorization: "Bearer header.payload.signature", "content-type": "application/json" });
        const body = JSON.parse(request.init.body);
        expect(body).toEqual(envelope);
        expect(body.header).toEqual({ message_id: "0b6c7d2e-2f5e-4c1a-9b1e-3a2f4c5d6e7f", timestamp: now.getTime(), platform: "feishu" });
        expect(body.payload).toEqual({ session_id: "sess-42", query: "hello", context: { history: [] } });
        expect(verifyEnvelope(body, HMAC_KEY, { now: now.getTime() })).toMatchObject({ ok: true });
        expect(verifyEnvelope(body, `${HMAC_KEY}-other`, { now: now.getTime() })).toMatchObject({ ok: false, reason: "bad_signature" });
    });

    it("reads the HMAC key from the export, and says so when it is missing, without quoting any secret", () => {
        expect(hmacKeyFromExport(stackExport())).toBe(HMAC_KEY);
        expect(() => hmacKeyFromExport(stackExport(false))).toThrow(/no keys-hmac-key in the stack/);
    });

    it("redacts the token and keys from an answer", () => {
        expect(redact(`echo: Bearer tok.en.value1 ${HMAC_KEY}`, ["tok.en.value1", HMAC_KEY])).toBe("echo: Bearer [redacted] [redacted]");
    });
});

describe("npm run token -- --send", () => {
    it("sends a chat:write token and an envelope the stack's keys verify; prints the status and body; exit 0 on 2xx", async () => {
        const c = io({ status: 202, statusText: "Accepted", body: '{"accepted":true}\n' });
        expect(await main(["--send", URL_, "--platform", "teams", "--session", "sess-7", "--query", "what is up?"], c.t)).toBe(0);
        expect(c.out).toEqual(["HTTP 202 Accepted", '{"accepted":true}']);
        expect(c.sent).toHaveLength(1);
        const { url, init } = c.sent[0];
        expect(url).toBe(URL_);
        expect(init.signal).toBeInstanceOf(AbortSignal);
        const token = init.headers.authorization.replace(/^Bearer /, "");
        await expect(verifyToken(token, JWT_SECRET, claims, { now })).resolves.toMatchObject({ scope: ["chat:write"], iss: "model-service", aud: "collaboration-platform" });
        const envelope = JSON.parse(init.body);
        expect(verifyEnvelope(envelope, HMAC_KEY, { now: now.getTime() })).toMatchObject({ ok: true });
        expect(envelope.header).toMatchObject({ platform: "teams", timestamp: now.getTime() });
        expect(envelope.payload).toEqual({ session_id: "sess-7", query: "what is up?", context: { history: [] } });
        expect(c.err.join("\n")).toContain(`POST ${URL_}: message ${envelope.header.message_id}, platform teams, session sess-7`);
        for (const secret of [token, JWT_SECRET, HMAC_KEY]) {
            expect(everything(c)).not.toContain(secret);
        }
    });

    it("defaults: platform cli, a fresh session id, a fixed query", async () => {
        const c = io({ status: 200 });
        expect(await main(["--send", URL_], c.t)).toBe(0);
        const envelope = JSON.parse(c.sent[0].init.body);
        expect(envelope.header.platform).toBe(DEFAULT_PLATFORM);
        expect(envelope.payload.session_id).toMatch(/^cli-[0-9a-f]{8}$/);
        expect(envelope.payload.query).toBe(DEFAULT_QUERY);
        expect(c.out).toEqual(["HTTP 200"]);
    });

    it("exits 1 on a refusal and prints the gateway's reason", async () => {
        const c = io({ status: 401, statusText: "Unauthorized", body: '{"error":"invalid_token","error_description":"expired"}' });
        expect(await main(["--send", URL_], c.t)).toBe(1);
        expect(c.out).toEqual(["HTTP 401 Unauthorized", '{"error":"invalid_token","error_description":"expired"}']);
        expect(c.err.join("\n")).toMatch(/the gateway answered 401: the body says why the token was refused/);
        expect((await main(["--send", URL_], io({ status: 504 }).t))).toBe(1);
    });

    it("never prints the token or a key, even when the upstream echoes the request", async () => {
        const c = io({ status: 200, body: ({ init }) => `you sent ${init.headers.authorization} and ${init.body}` });
        expect(await main(["--send", URL_], c.t)).toBe(0);
        const token = c.sent[0].init.headers.authorization.replace(/^Bearer /, "");
        expect(everything(c)).not.toContain(token);
        expect(c.out[1]).toMatch(/^you sent Bearer \[redacted\] and \{"header"/);
    });

    it("exits 1 with what to check when the server cannot be reached", async () => {
        const refused = Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });
        const c = io(refused);
        expect(await main(["--send", URL_], c.t)).toBe(1);
        expect(c.out).toEqual([]);
        expect(c.err.join("\n")).toMatch(/could not send to http:\/\/203\.0\.113\.10:18789\/webhook\/test: ECONNREFUSED \(R15: is the port reachable\? nc -vz/);
        const slow = io(Object.assign(new Error("The operation was aborted due to timeout"), { name: "TimeoutError" }));
        expect(await main(["--send", URL_, "--timeout", "3"], slow.t)).toBe(1);
        expect(slow.err.join("\n")).toContain("no answer within 3s (--timeout)");
    });

    it("fails clearly when the stack has no HMAC key", async () => {
        const c = io({ status: 200 }, stackExport(false));
        expect(await main(["--send", URL_], c.t)).toBe(1);
        expect(c.err.join("\n")).toMatch(/no keys-hmac-key in the stack/);
        expect(c.sent).toEqual([]);
    });

    describe("with Node's own fetch against a local HTTP server", () => {
        let server: http.Server;
        let port: number;
        const received: { method?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
        beforeAll(async () => {
            server = http.createServer((req, res) => {
                let body = "";
                req.on("data", (d) => (body += d));
                req.on("end", () => {
                    received.push({ method: req.method, headers: req.headers, body });
                    res.writeHead(201, { "content-type": "application/json" });
                    res.end('{"ok":true}');
                });
            });
            await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
            port = (server.address() as net.AddressInfo).port;
        });
        afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

        it("delivers the envelope over real HTTP", async () => {
            const c = io({ status: 0 });
            delete c.t.fetch;
            expect(await main(["--send", `http://127.0.0.1:${port}/webhook/test`], c.t)).toBe(0);
            expect(c.out).toEqual(["HTTP 201 Created", '{"ok":true}']);
            expect(received).toHaveLength(1);
            expect(received[0].method).toBe("POST");
            expect(received[0].headers["content-type"]).toBe("application/json");
            expect(received[0].headers.authorization).toMatch(/^Bearer ey/);
            expect(verifyEnvelope(JSON.parse(received[0].body), HMAC_KEY, { now: now.getTime() })).toMatchObject({ ok: true });
        });
    });
});
