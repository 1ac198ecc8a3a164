// Signing and verifying R11 envelopes with HMAC-SHA256 (node:crypto).
//
// What is signed: the RFC 8785 JSON Canonicalization Scheme (JCS) form of `{header, payload}`: object
// keys sorted by UTF-16 code units, no whitespace, strings and numbers serialised as ECMAScript's
// JSON.stringify does. Why:
// - The signature travels inside the JSON (R11), so it cannot cover the raw request bytes; the signed
//   bytes must be re-derived from the parsed message.
// - Key order and whitespace differ between JSON libraries (Python dicts, Go maps, Java beans): signing
//   "whatever JSON.stringify printed" would fail across languages. JCS fixes both, is a standard with
//   libraries in most languages, and for this envelope (strings and integers only) amounts to "sorted
//   keys, no spaces, standard string escaping".
import { createHmac, randomUUID, timingSafeEqual } from "crypto";
import { Envelope, envelopeSchema, HistoryEntry, UnsignedEnvelope } from "./schema";

/** Shortest HMAC key accepted (the generated keys are 48 characters; RFC 2104: at least the hash size). */
export const MIN_HMAC_KEY_BYTES = 32;

/** RFC 8785 (JCS) serialisation of a JSON value. Throws on values JSON cannot hold. */
export function canonicalJson(value: unknown): string {
    if (value === null || typeof value === "boolean" || typeof value === "string") {
        return JSON.stringify(value);
    }
    if (typeof value === "number") {
        if (!Number.isFinite(value)) {
            throw new TypeError(`${value} has no JSON form`);
        }
        // ECMAScript Number-to-string is exactly JCS's number serialisation (RFC 8785 3.2.2.3).
        return JSON.stringify(value);
    }
    if (Array.isArray(value)) {
        return `[${value.map(canonicalJson).join(",")}]`;
    }
    if (typeof value === "object") {
        const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
        // Default sort compares UTF-16 code units, which is what RFC 8785 3.2.3 requires.
        entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    throw new TypeError(`a ${typeof value} has no JSON form`);
}

/** The exact bytes the signature covers. */
export function signingInput(envelope: UnsignedEnvelope): string {
    return canonicalJson({ header: envelope.header, payload: envelope.payload });
}

function keyBytes(key: string | Uint8Array): Buffer {
    const bytes = typeof key === "string" ? Buffer.from(key, "utf8") : Buffer.from(key);
    if (bytes.length < MIN_HMAC_KEY_BYTES) {
        throw new Error(`the HMAC key is ${bytes.length} bytes; at least ${MIN_HMAC_KEY_BYTES} are required (use the Keys component's hmacKey)`);
    }
    return bytes;
}

/** HMAC-SHA256 of the envelope's signing input, lower-case hex. */
export function envelopeSignature(envelope: UnsignedEnvelope, key: string | Uint8Array): string {
    return createHmac("sha256", keyBytes(key)).update(signingInput(envelope), "utf8").digest("hex");
}

/** Signs an envelope (any `signature` it carries is replaced). */
export function signEnvelope(envelope: UnsignedEnvelope, key: string | Uint8Array): Envelope {
    return { header: envelope.header, payload: envelope.payload, signature: envelopeSignature(envelope, key) };
}

/** A message to wrap in an envelope. */
export interface EnvelopeMessage {
    /** R11 header.platform. */
    platform: string;
    sessionId: string;
    query: string;
    history?: HistoryEntry[];
    /** @default a random UUID v4 */
    messageId?: string;
    /** Milliseconds since the epoch. @default Date.now() */
    timestamp?: number;
}

/**
 * Builds and signs an R11 envelope; validates it against the schema so a malformed message fails here,
 * not at the receiver. Deterministic when messageId and timestamp are given.
 */
export function buildSignedEnvelope(message: EnvelopeMessage, key: string | Uint8Array): Envelope {
    const unsigned: UnsignedEnvelope = {
        header: { message_id: message.messageId ?? randomUUID(), timestamp: message.timestamp ?? Date.now(), platform: message.platform },
        payload: { session_id: message.sessionId, query: message.query, context: { history: message.history ?? [] } },
    };
    return envelopeSchema.parse(signEnvelope(unsigned, key));
}

/** Why an envelope was refused. */
export type EnvelopeRejection = "malformed" | "bad_signature" | "stale" | "from_future" | "replayed";

/** Result of {@link verifyEnvelope}. */
export type EnvelopeVerification =
    | { ok: true; envelope: Envelope }
    | { ok: false; reason: EnvelopeRejection; detail: string };

/** Options of {@link verifyEnvelope}. */
export interface VerifyEnvelopeOptions {
    /** The receiver's clock, ms since the epoch. @default Date.now() */
    now?: number;
    /** Oldest message accepted, in ms (replay window). @default 300000 (5 minutes) */
    maxAgeMs?: number;
    /** How far ahead of `now` a timestamp may be (clock skew, R15). @default 30000 */
    maxFutureMs?: number;
    /** Returns true when this message_id was already processed (the receiver's replay cache). */
    seen?: (messageId: string) => boolean;
}

/**
 * Verifies a received envelope (the parsed JSON body): shape, HMAC-SHA256 signature (constant-time
 * comparison), then freshness and replay. Never throws for bad input.
 */
export function verifyEnvelope(input: unknown, key: string | Uint8Array, options: VerifyEnvelopeOptions = {}): EnvelopeVerification {
    const parsed = envelopeSchema.safeParse(input);
    if (!parsed.success) {
        const first = parsed.error.issues[0];
        return { ok: false, reason: "malformed", detail: `${first.path.join(".") || "<root>"}: ${first.message}` };
    }
    const envelope = parsed.data;
    const expected = Buffer.from(envelopeSignature(envelope, key), "hex");
    const received = Buffer.from(envelope.signature, "hex");
    if (expected.length !== received.length || !timingSafeEqual(expected, received)) {
        return { ok: false, reason: "bad_signature", detail: "the signature does not match: another key, or the message was altered" };
    }
    const now = options.now ?? Date.now();
    const age = now - envelope.header.timestamp;
    if (age > (options.maxAgeMs ?? 300_000)) {
        return { ok: false, reason: "stale", detail: `sent ${age} ms ago, beyond the replay window` };
    }
    if (-age > (options.maxFutureMs ?? 30_000)) {
        return { ok: false, reason: "from_future", detail: `timestamp is ${-age} ms ahead: check both clocks (NTP, R15)` };
    }
    if (options.seen?.(envelope.header.message_id)) {
        return { ok: false, reason: "replayed", detail: `message ${envelope.header.message_id} was already processed` };
    }
    return { ok: true, envelope };
}

/**
 * The HTTP request that delivers an envelope through the gateway (webhook or REST route): for
 * `fetch(request.url, request.init)`. The token is an R10 JWT with the route's scope.
 */
export function envelopeRequest(url: string, envelope: Envelope, token: string): { url: string; init: { method: "POST"; headers: Record<string, string>; body: string } } {
    return {
        url,
        init: {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify(envelope),
        },
    };
}
