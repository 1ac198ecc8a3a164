// The R11 message envelope collaboration platforms exchange with the bot:
//   header {message_id (uuid-v4), timestamp (ms), platform}
//   payload {session_id, query, context.history[{role, content}]}
//   signature: HMAC-SHA256, hex
// Objects are strict and nothing has a default or a transform: the parsed envelope is exactly what was
// received, so re-serialising it for the signature check cannot add, drop or change a field.
import { z } from "zod";

/** Roles of a history entry. */
export const HISTORY_ROLES = ["system", "user", "assistant"] as const;

export const envelopeHeaderSchema = z.strictObject({
    /** Unique per message (uuid v4): receivers use it to drop replays. */
    message_id: z.uuid({ version: "v4", error: "message_id must be a UUID v4" }),
    /** When the message was sent, in milliseconds since the Unix epoch (UTC). */
    timestamp: z
        .number({ error: "timestamp must be a number of milliseconds" })
        .int({ error: "timestamp must be whole milliseconds" })
        .min(0)
        .max(Number.MAX_SAFE_INTEGER),
    /** The collaboration platform that sent it, e.g. `slack`, `feishu`, `dingtalk`. */
    platform: z.string().min(1).max(64),
});

export const historyEntrySchema = z.strictObject({
    role: z.enum(HISTORY_ROLES),
    content: z.string(),
});

export const envelopePayloadSchema = z.strictObject({
    /** The conversation this message belongs to. */
    session_id: z.string().min(1).max(256),
    /** The user's message. */
    query: z.string().min(1),
    context: z.strictObject({
        /** Earlier turns, oldest first. */
        history: z.array(historyEntrySchema),
    }),
});

/** HMAC-SHA256 as 64 lower-case hex digits. */
export const signatureSchema = z.string().regex(/^[0-9a-f]{64}$/, { error: "signature must be 64 lower-case hex digits (HMAC-SHA256)" });

export const envelopeSchema = z.strictObject({
    header: envelopeHeaderSchema,
    payload: envelopePayloadSchema,
    signature: signatureSchema,
});

export type EnvelopeHeader = z.infer<typeof envelopeHeaderSchema>;
export type EnvelopePayload = z.infer<typeof envelopePayloadSchema>;
export type HistoryEntry = z.infer<typeof historyEntrySchema>;
/** A signed R11 envelope. */
export type Envelope = z.infer<typeof envelopeSchema>;
/** The signed part of an envelope. */
export type UnsignedEnvelope = Omit<Envelope, "signature">;
