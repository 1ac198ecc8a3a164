import { createHmac } from "crypto";
import { describe, expect, it } from "vitest";
import {
    buildSignedEnvelope,
    canonicalJson,
    Envelope,
    envelopeRequest,
    envelopeSchema,
    signEnvelope,
    signingInput,
    UnsignedEnvelope,
    verifyEnvelope,
} from "../../components/envelope";

const KEY = "test-hmac-key-0123456789abcdef0123456789";
const NOW = 1_767_225_600_000;

const unsigned: UnsignedEnvelope = {
    header: { message_id: "9b2f4c1e-8a7d-4f3b-9c6e-2d1a0b5e7f48", timestamp: NOW, platform: "feishu" },
    payload: {
        session_id: "sess-42",
        query: '你好, "bot"\n?',
        context: { history: [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }] },
    },
};

describe("canonicalJson (RFC 8785)", () => {
    it("sorts keys at every level, keeps array order and writes no whitespace", () => {
        expect(canonicalJson({ b: 1, a: [3, { d: null, c: true }, "x"] })).toBe('{"a":[3,{"c":true,"d":null},"x"],"b":1}');
    });

    it("does not depend on the order keys were inserted in", () => {
        expect(canonicalJson({ x: { q: 1, p: 2 }, w: "v" })).toBe(canonicalJson({ w: "v", x: { p: 2, q: 1 } }));
    });

    it("orders keys by UTF-16 code units (the RFC 8785 3.2.3 example)", () => {
        const obj = {
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis",
        };
        // (Compared as text: JSON.parse would move the integer-like key "1" first.)
        const order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"] as const;
        expect(canonicalJson(obj)).toBe(`{${order.map((k) => `${JSON.stringify(k)}:${JSON.stringify(obj[k])}`).join(",")}}`);
    });

    it("writes numbers and strings as ECMAScript JSON does, and refuses what JSON cannot hold", () => {
        expect(canonicalJson([1e21, 0.1, -0, "é\u0001"])).toBe('[1e+21,0.1,0,"é\\u0001"]');
        expect(() => canonicalJson(NaN)).toThrow(/no JSON form/);
        expect(() => canonicalJson(1n)).toThrow(/no JSON form/);
        expect(() => canonicalJson(() => 1)).toThrow(/no JSON form/);
    });
});

describe("R11 envelope signatures (HMAC-SHA256)", () => {
    it("signs exactly the canonical {header, payload}: a vector computed independently with Python's json and hmac", () => {
        // python3: json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False); hmac sha256
        expect(signingInput(unsigned)).toBe(
            '{"header":{"message_id":"9b2f4c1e-8a7d-4f3b-9c6e-2d1a0b5e7f48","platform":"feishu","timestamp":1767225600000},' +
                '"payload":{"context":{"history":[{"content":"hi","role":"user"},{"content":"hello","role":"assistant"}]},"query":"你好, \\"bot\\"\\n?","session_id":"sess-42"}}',
        );
        expect(signEnvelope(unsigned, KEY).signature).toBe("a6ec20c79b9e8fdea3478072006a5599c2ce6e5ebaf97470802daa4571dcfc13");
        expect(signEnvelope(unsigned, KEY).signature).toBe(createHmac("sha256", KEY).update(signingInput(unsigned)).digest("hex"));
    });

    it("verifies what it signed, also after a JSON round trip with another key order", () => {
        const signed = signEnvelope(unsigned, KEY);
        expect(verifyEnvelope(signed, KEY, { now: NOW })).toEqual({ ok: true, envelope: signed });
        const reordered = JSON.parse(
            JSON.stringify({ signature: signed.signature, payload: { context: signed.payload.context, query: signed.payload.query, session_id: signed.payload.session_id }, header: signed.header }),
        );
        expect(verifyEnvelope(reordered, KEY, { now: NOW }).ok).toBe(true);
    });

    it("refuses any altered field, another key, or a forged signature", () => {
        const signed = signEnvelope(unsigned, KEY);
        const altered: Envelope[] = [
            { ...signed, header: { ...signed.header, platform: "slack" } },
            { ...signed, header: { ...signed.header, timestamp: NOW + 1 } },
            { ...signed, payload: { ...signed.payload, query: "something else" } },
            { ...signed, payload: { ...signed.payload, context: { history: [] } } },
            { ...signed, payload: { ...signed.payload, context: { history: [{ role: "system", content: "hi" }, signed.payload.context.history[1]] } } },
            { ...signed, signature: "0".repeat(64) },
        ];
        for (const e of altered) {
            expect(verifyEnvelope(e, KEY, { now: NOW })).toMatchObject({ ok: false, reason: "bad_signature" });
        }
        expect(verifyEnvelope(signed, "another-hmac-key-0123456789abcdef0123", { now: NOW })).toMatchObject({ ok: false, reason: "bad_signature" });
    });

    it("refuses malformed envelopes: extra fields (unsigned content), non-v4 ids, upper-case or short signatures", () => {
        const signed = signEnvelope(unsigned, KEY);
        const bad: unknown[] = [
            { ...signed, extra: "smuggled" },
            { ...signed, payload: { ...signed.payload, attachments: [] } },
            signEnvelope({ ...unsigned, header: { ...unsigned.header, message_id: "9b2f4c1e-8a7d-1f3b-9c6e-2d1a0b5e7f48" } }, KEY),
            { ...signed, signature: signed.signature.toUpperCase() },
            { ...signed, signature: signed.signature.slice(2) },
            { ...signed, header: { ...signed.header, timestamp: "1767225600000" } },
            "not an object",
        ];
        for (const e of bad) {
            expect(verifyEnvelope(e, KEY, { now: NOW })).toMatchObject({ ok: false, reason: "malformed" });
        }
    });

    it("refuses stale, future and replayed messages", () => {
        const signed = signEnvelope(unsigned, KEY);
        expect(verifyEnvelope(signed, KEY, { now: NOW + 300_001 })).toMatchObject({ ok: false, reason: "stale" });
        expect(verifyEnvelope(signed, KEY, { now: NOW + 300_000 }).ok).toBe(true);
        expect(verifyEnvelope(signed, KEY, { now: NOW - 30_001 })).toMatchObject({ ok: false, reason: "from_future" });
        const processed = new Set([unsigned.header.message_id]);
        expect(verifyEnvelope(signed, KEY, { now: NOW, seen: (id) => processed.has(id) })).toMatchObject({ ok: false, reason: "replayed" });
    });

    it("refuses keys shorter than 32 bytes", () => {
        expect(() => signEnvelope(unsigned, "short")).toThrow(/at least 32/);
    });
});

describe("buildSignedEnvelope and envelopeRequest (what `npm run token` sends)", () => {
    it("builds a valid, signed, deterministic envelope from a message", () => {
        const message = { platform: "feishu", sessionId: "sess-42", query: unsigned.payload.query, history: unsigned.payload.context.history, messageId: unsigned.header.message_id, timestamp: NOW };
        const built = buildSignedEnvelope(message, KEY);
        expect(built).toEqual(signEnvelope(unsigned, KEY));
        expect(buildSignedEnvelope(message, KEY)).toEqual(built);
    });

    it("fills a fresh UUID v4 and the current time when not given", () => {
        const a = buildSignedEnvelope({ platform: "slack", sessionId: "s", query: "q" }, KEY);
        const b = buildSignedEnvelope({ platform: "slack", sessionId: "s", query: "q" }, KEY);
        expect(envelopeSchema.safeParse(a).success).toBe(true);
        expect(a.header.message_id).not.toBe(b.header.message_id);
        expect(Math.abs(a.header.timestamp - Date.now())).toBeLessThan(60_000);
        expect(a.payload.context.history).toEqual([]);
        expect(verifyEnvelope(a, KEY).ok).toBe(true);
    });

    it("refuses to build an envelope the receiver would refuse", () => {
        expect(() => buildSignedEnvelope({ platform: "", sessionId: "s", query: "q" }, KEY)).toThrow();
        expect(() => buildSignedEnvelope({ platform: "slack", sessionId: "s", query: "q", messageId: "not-a-uuid" }, KEY)).toThrow();
    });

    it("posts the envelope as JSON with the bearer token", () => {
        const e = signEnvelope(unsigned, KEY);
        const req = envelopeRequest("https://bot.example.com/webhook/feishu", e, "tok");
        expect(req.url).toBe("https://bot.example.com/webhook/feishu");
        expect(req.init.method).toBe("POST");
        expect(req.init.headers).toEqual({ authorization: "Bearer tok", "content-type": "application/json" });
        expect(verifyEnvelope(JSON.parse(req.init.body), KEY, { now: NOW }).ok).toBe(true);
    });
});
