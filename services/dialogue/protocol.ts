// The dialogue service's protocol, as pure functions: what makes a message acceptable (R11 envelope,
// HMAC, timestamp window, size and history bounds), the error codes and their HTTP statuses, the
// signed replies, and the KServe v2 request and response of the dialogue model. The server
// (server.ts) only moves bytes between these and the network, the store and Triton.
import { randomUUID } from "crypto";
import { canonicalJson, Envelope, HistoryEntry, verifyEnvelope } from "../../components/envelope";
import { createHmac } from "crypto";

/** Every way a message can fail, with the HTTP status a REST or webhook caller gets. */
export const ERROR_STATUS = {
    /** Not JSON, or not an R11 envelope. */
    malformed: 400,
    /** The body or frame is larger than limits.maxMessageBytes. */
    payload_too_large: 413,
    /** context.history has more entries than limits.maxHistoryTurns. */
    history_too_long: 413,
    /** HMAC-SHA256 does not match. */
    bad_signature: 401,
    /** timestamp older than limits.maxAgeMs. */
    stale: 401,
    /** timestamp ahead of the service's clock by more than limits.maxFutureMs. */
    from_future: 401,
    /** The webhook path names another platform than header.platform. */
    platform_mismatch: 400,
    /** No reply URL is configured for this platform's webhooks. */
    unknown_platform: 404,
    /** The same message_id is being answered right now (by this or another replica). */
    in_progress: 409,
    /** Too many inferences or queued webhook replies in this replica: retry later. */
    overloaded: 503,
    /** The model did not answer within the route's deadline. */
    model_timeout: 504,
    /** Triton refused or failed the inference. */
    model_error: 502,
    /** Triton could not be reached. */
    model_unavailable: 503,
    /** The conversation store could not be reached. */
    store_unavailable: 503,
    /** No such message (async REST). */
    not_found: 404,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error the caller gets: a code from ERROR_STATUS and a description without message content. */
export class DialogueError extends Error {
    constructor(
        public readonly code: ErrorCode,
        detail: string,
    ) {
        super(detail);
    }
}

/** Limits applied to every message. */
export interface MessageLimits {
    maxMessageBytes: number;
    maxHistoryTurns: number;
    maxAgeMs: number;
    maxFutureMs: number;
}

/**
 * Checks one received message (raw bytes of a body or frame): size, JSON, the R11 envelope schema, the
 * HMAC signature (constant time, components/envelope), the timestamp window and the history bound.
 * Deduplication is the store's part (it needs shared state). Throws DialogueError.
 */
export function checkMessage(raw: Buffer | string, key: string, limits: MessageLimits, now: number): Envelope {
    const bytes = typeof raw === "string" ? Buffer.byteLength(raw) : raw.length;
    if (bytes > limits.maxMessageBytes) {
        throw new DialogueError("payload_too_large", `the message is ${bytes} bytes; at most ${limits.maxMessageBytes} are accepted`);
    }
    let json: unknown;
    try {
        json = JSON.parse(typeof raw === "string" ? raw : raw.toString("utf8"));
    } catch {
        throw new DialogueError("malformed", "the message is not JSON");
    }
    const v = verifyEnvelope(json, key, { now, maxAgeMs: limits.maxAgeMs, maxFutureMs: limits.maxFutureMs });
    if (!v.ok) {
        // "replayed" cannot come back: no `seen` callback is given (the store deduplicates).
        throw new DialogueError(v.reason === "replayed" ? "in_progress" : v.reason, v.detail);
    }
    const turns = v.envelope.payload.context.history.length;
    if (turns > limits.maxHistoryTurns) {
        throw new DialogueError("history_too_long", `context.history has ${turns} entries; at most ${limits.maxHistoryTurns} are accepted`);
    }
    return v.envelope;
}

/** The answer to one message, as stored (dedup) and sent. */
export interface Answer {
    type: "reply";
    /** message_id of the message answered. */
    in_reply_to: string;
    session_id: string;
    platform: string;
    reply: string;
    /** When the reply was made (ms). */
    timestamp: number;
    /** A new id for the reply itself. */
    message_id: string;
}

/** Builds the answer to a message. */
export function makeAnswer(envelope: Envelope, reply: string, now: number): Answer {
    return {
        type: "reply",
        in_reply_to: envelope.header.message_id,
        session_id: envelope.payload.session_id,
        platform: envelope.header.platform,
        reply,
        timestamp: now,
        message_id: randomUUID(),
    };
}

/** A signed message as sent: the fields, `replayed` when this answers a replay, and an HMAC over both. */
export type Signed<T> = T & { replayed?: boolean; signature: string };

/**
 * Signs an outgoing message with the same key and canonical form (RFC 8785) as R11 envelopes, so a
 * platform verifies a reply, and a webhook delivery, exactly as the service verifies its messages.
 */
export function signReply<T extends object>(body: T, key: string): Signed<T> {
    const signature = createHmac("sha256", key).update(canonicalJson(body), "utf8").digest("hex");
    return { ...body, signature };
}

/** An error reply (WebSocket frame or HTTP body): no message content, only ids. */
export interface ErrorReply {
    type: "error";
    error: ErrorCode;
    detail: string;
    in_reply_to?: string;
    session_id?: string;
}

export function errorReply(err: DialogueError, envelope?: Pick<Envelope, "header" | "payload">): ErrorReply {
    return {
        type: "error",
        error: err.code,
        detail: err.message,
        ...(envelope ? { in_reply_to: envelope.header.message_id, session_id: envelope.payload.session_id } : {}),
    };
}

/**
 * The history the model sees: the conversation the service stored for this session when it has one
 * (shared by every replica), otherwise what the message carries in context.history (a platform that
 * keeps its own). At most `maxTurns` entries, the newest.
 */
export function historyForModel(stored: HistoryEntry[], carried: HistoryEntry[], maxTurns: number): HistoryEntry[] {
    const h = stored.length > 0 ? stored : carried;
    return maxTurns === 0 ? [] : h.slice(-maxTurns);
}

/** The KServe v2 inference request for the dialogue model (inputs QUERY and HISTORY, batch of one). */
export function inferRequest(query: string, history: HistoryEntry[]): object {
    return {
        inputs: [
            { name: "QUERY", shape: [1, 1], datatype: "BYTES", data: [query] },
            { name: "HISTORY", shape: [1, 1], datatype: "BYTES", data: [JSON.stringify(history.map((h) => ({ role: h.role, content: h.content })))] },
        ],
        outputs: [{ name: "REPLY" }],
    };
}

/** Reads REPLY from a KServe v2 response; throws DialogueError model_error when it is not there. */
export function replyOf(response: unknown): string {
    const outputs = (response as { outputs?: { name?: string; data?: unknown[] }[] })?.outputs;
    const out = Array.isArray(outputs) ? outputs.find((o) => o?.name === "REPLY") : undefined;
    const value = out && Array.isArray(out.data) ? out.data[0] : undefined;
    if (typeof value !== "string") {
        throw new DialogueError("model_error", "the model's response has no REPLY string");
    }
    return value;
}

/** The platform named by a webhook path (/webhook/<platform>), or undefined. */
export function webhookPlatform(path: string): string | undefined {
    const m = /^\/webhook\/([A-Za-z0-9._-]{1,64})$/.exec(path);
    return m ? m[1] : undefined;
}

/** The message id named by an async REST result path (/v1/messages/<uuid>), or undefined. */
export function resultId(path: string): string | undefined {
    const m = /^\/v1\/messages\/([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$/i.exec(path);
    return m ? m[1].toLowerCase() : undefined;
}

/** Metrics label of a platform: its name when configured, otherwise `other` (labels stay bounded). */
export function platformLabel(platform: string | undefined, known: ReadonlySet<string>): string {
    if (platform === undefined) {
        return "unknown";
    }
    return known.has(platform) ? platform : "other";
}

/** Delay before delivery attempt `attempt` (1-based; the first has none): exponential backoff. */
export function retryDelayMs(attempt: number, backoffMs: number): number {
    return attempt <= 1 ? 0 : backoffMs * 2 ** (attempt - 2);
}

/** Whether a failed webhook delivery is worth another attempt: network errors, 408, 429 and 5xx. */
export function retryable(status: number | undefined): boolean {
    return status === undefined || status === 408 || status === 429 || status >= 500;
}
