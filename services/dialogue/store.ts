// Conversation state shared by every replica: per-session history and per-message answers (which
// are also the dedup keys: a replayed message_id finds its first answer). Redis in production and in
// the tests; MemoryStore is the named single-process development default (nothing shared, nothing kept).
import Redis from "ioredis";
import type { HistoryEntry } from "../../components/envelope";

/** What a message_id has in the store. */
export type Claim = { state: "new" } | { state: "pending" } | { state: "done"; answer: string };

/** The state every replica shares. Values are JSON text (answers) or history entries. */
export interface ConversationStore {
    /** The store's kind, for /readyz and logs. */
    readonly kind: "redis" | "memory";
    /**
     * Atomically claims a message_id for answering: `new` for the first caller (the key now says
     * pending for `pendingTtlSeconds`), otherwise what is there (pending, or the stored answer).
     */
    claim(messageId: string, pendingTtlSeconds: number): Promise<Claim>;
    /** Stores the answer (or error) of a claimed message for `ttlSeconds`. */
    complete(messageId: string, answer: string, ttlSeconds: number): Promise<void>;
    /** What a message_id has now (async REST polling). */
    lookup(messageId: string): Promise<Claim>;
    /** A session's stored history, oldest first. */
    history(sessionId: string): Promise<HistoryEntry[]>;
    /** Appends turns to a session's history, keeps the newest `maxEntries`, and renews its TTL. */
    append(sessionId: string, entries: HistoryEntry[], maxEntries: number, ttlSeconds: number): Promise<void>;
    /** Throws when the store cannot be reached (readiness). */
    ping(): Promise<void>;
    close(): Promise<void>;
}

const PENDING = "\u0000pending";

/** Redis: SET NX for claims, a capped list per session, TTLs on everything. */
export class RedisStore implements ConversationStore {
    readonly kind = "redis";
    private readonly redis: Redis;

    constructor(
        opts: { host: string; port: number; password?: string },
        private readonly prefix: string,
    ) {
        this.redis = new Redis({
            host: opts.host,
            port: opts.port,
            password: opts.password,
            // Fail a command fast while Redis is away instead of queueing it for ever (callers get store_unavailable).
            maxRetriesPerRequest: 1,
            enableOfflineQueue: false,
            connectTimeout: 2000,
            commandTimeout: 2000,
            lazyConnect: false,
        });
        // Connection errors surface per command; without a listener ioredis would print each one.
        this.redis.on("error", () => undefined);
    }

    private msgKey(id: string): string {
        return `${this.prefix}m:${id}`;
    }

    private histKey(session: string): string {
        return `${this.prefix}h:${session}`;
    }

    private toClaim(v: string | null): Claim {
        return v === null ? { state: "new" } : v === PENDING ? { state: "pending" } : { state: "done", answer: v };
    }

    async claim(messageId: string, pendingTtlSeconds: number): Promise<Claim> {
        // SET NX GET (Redis 7): sets when absent and returns what was there, in one step.
        const previous = await this.redis.call("SET", this.msgKey(messageId), PENDING, "NX", "GET", "EX", String(pendingTtlSeconds));
        return previous === null ? { state: "new" } : this.toClaim(previous as string);
    }

    async complete(messageId: string, answer: string, ttlSeconds: number): Promise<void> {
        await this.redis.set(this.msgKey(messageId), answer, "EX", ttlSeconds);
    }

    async lookup(messageId: string): Promise<Claim> {
        return this.toClaim(await this.redis.get(this.msgKey(messageId)));
    }

    async history(sessionId: string): Promise<HistoryEntry[]> {
        const items = await this.redis.lrange(this.histKey(sessionId), 0, -1);
        return items.map((s) => JSON.parse(s) as HistoryEntry);
    }

    async append(sessionId: string, entries: HistoryEntry[], maxEntries: number, ttlSeconds: number): Promise<void> {
        const key = this.histKey(sessionId);
        await this.redis
            .multi()
            .rpush(key, ...entries.map((e) => JSON.stringify({ role: e.role, content: e.content })))
            .ltrim(key, -Math.max(maxEntries, 1), -1)
            .expire(key, ttlSeconds)
            .exec();
    }

    async ping(): Promise<void> {
        await this.redis.ping();
    }

    async close(): Promise<void> {
        this.redis.disconnect();
    }
}

/** Development default: this process's memory. Not shared by replicas; lost on restart. */
export class MemoryStore implements ConversationStore {
    readonly kind = "memory";
    private readonly messages = new Map<string, { value: string; until: number }>();
    private readonly sessions = new Map<string, { entries: HistoryEntry[]; until: number }>();

    constructor(private readonly clock: () => number = Date.now) {}

    private live<T extends { until: number }>(map: Map<string, T>, key: string): T | undefined {
        const v = map.get(key);
        if (v && v.until <= this.clock()) {
            map.delete(key);
            return undefined;
        }
        return v;
    }

    async claim(messageId: string, pendingTtlSeconds: number): Promise<Claim> {
        const v = this.live(this.messages, messageId);
        if (v) {
            return v.value === PENDING ? { state: "pending" } : { state: "done", answer: v.value };
        }
        this.messages.set(messageId, { value: PENDING, until: this.clock() + pendingTtlSeconds * 1000 });
        return { state: "new" };
    }

    async complete(messageId: string, answer: string, ttlSeconds: number): Promise<void> {
        this.messages.set(messageId, { value: answer, until: this.clock() + ttlSeconds * 1000 });
    }

    async lookup(messageId: string): Promise<Claim> {
        const v = this.live(this.messages, messageId);
        return !v ? { state: "new" } : v.value === PENDING ? { state: "pending" } : { state: "done", answer: v.value };
    }

    async history(sessionId: string): Promise<HistoryEntry[]> {
        return [...(this.live(this.sessions, sessionId)?.entries ?? [])];
    }

    async append(sessionId: string, entries: HistoryEntry[], maxEntries: number, ttlSeconds: number): Promise<void> {
        const all = [...(this.live(this.sessions, sessionId)?.entries ?? []), ...entries].slice(-Math.max(maxEntries, 1));
        this.sessions.set(sessionId, { entries: all, until: this.clock() + ttlSeconds * 1000 });
    }

    async ping(): Promise<void> {}

    async close(): Promise<void> {}
}
