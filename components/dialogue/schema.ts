// Settings of the dialogue service (config key `dialogue`): the service between the gateway and Triton
// that speaks the R9 access modes (WebSocket chat, webhooks, async REST) and the R11 message format.
// The runtime limits are the service's own schema (services/dialogue/config.ts), so a value accepted
// here is one the service accepts.
import { z } from "zod";
import { runtimeConfigSchema } from "../../services/dialogue/config";
import { bool, dnsLabel, int, parseImageRef, pinnedImage, port, quantity } from "../../kit/schema";

/**
 * Default image: built from this repository by scripts/build-dialogue-image.sh, which tags it with the
 * package version and prints its digest reference. Production sets `dialogue.image` to the pushed
 * `registry/...@sha256:` reference (staging and prod refuse anything else).
 */
export const DEFAULT_DIALOGUE_IMAGE = "localhost/triton-platform/dialogue:0.1.0";
/** Redis for the in-cluster and server store: the 7.4 branch, patch-pinned (Debian's 7.0 in tests). */
export const DEFAULT_REDIS_IMAGE = "docker.io/library/redis:7.4.2-alpine";

const rt = runtimeConfigSchema.shape;

export const dialogueSchema = z
    .strictObject({
        /** Deploy the dialogue service; the gateway's `dialogue` routes go to it. Off: they go to Triton. */
        enabled: bool.default(true),
        /** The service image, built from services/dialogue on a pinned Debian base; by digest outside dev. */
        image: pinnedImage.default(DEFAULT_DIALOGUE_IMAGE),
        /** Replicas on Kubernetes, spread across the zones (they share state through Redis). */
        replicas: int(1, 100).default(3),
        /** Port of /chat, /webhook/<platform>, /v1/messages (the gateway's upstream). */
        port: port.default(8080),
        /** Port of /healthz, /readyz and /metrics (probes and Prometheus only; the same internal port as the gateway's stats). */
        adminPort: port.default(8405),
        /** The dialogue model Triton serves. */
        model: dnsLabel.default("dialogue"),
        /** Platforms named in metrics (others count as `other`). Webhook reply URLs: secret `dialogueReplyUrls`. */
        platforms: z.array(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/)).default(["dingtalk", "feishu", "slack"]),
        /**
         * Where conversation state lives. `redis`: on Kubernetes, the Redis at `host` (a managed Redis, or
         * a Redis operator's Service, shared by the zones: the stack runs none there, so its own pods stay
         * replicated and spread); on the lightweight server, the stack runs one Redis container on the host
         * (`host` is not used there). `memory`: the single-process development
         * default (one replica, nothing shared, lost on restart).
         */
        store: z
            .strictObject({
                kind: z.enum(["redis", "memory"]).default("redis"),
                /** Redis host (Kubernetes): a Service name in the namespace, or a full DNS name. */
                host: z.string().regex(/^[A-Za-z0-9.-]+$/).default("dialogue-redis"),
                port: port.default(6379),
                /**
                 * CIDRs of an external Redis (outside the namespace) the NetworkPolicy lets the service reach
                 * on `port`. Empty: only pods of the namespace.
                 */
                cidrs: z.array(z.string()).default([]),
                /** Whether the Redis asks for a password (AUTH): then set the secret `dialogueRedisPassword`. */
                auth: bool.default(false),
                /** Image of the server path's Redis container. */
                image: pinnedImage.default(DEFAULT_REDIS_IMAGE),
                /** Memory cap of the server path's Redis (maxmemory; volatile-lru evicts the oldest conversations). */
                maxMemoryMb: int(16, 65536).default(256),
            })
            .prefault({}),
        limits: rt.limits,
        deadlinesMs: rt.deadlinesMs,
        websocket: rt.websocket,
        webhook: rt.webhook,
        ttlSeconds: rt.ttlSeconds,
        /**
         * CIDRs the service may POST webhook replies to (port 443 and 80). The reply URLs are secret; the
         * NetworkPolicy opens only these (private ranges are excluded unless listed).
         */
        replyEgressCidrs: z.array(z.string()).default(["0.0.0.0/0"]),
        /**
         * The lightweight server: set to run the service beside Triton on the host (two containers, Redis
         * and the service, loopback only). `imageArchive` is the OCI archive scripts/build-dialogue-image.sh
         * wrote (copied over SSH and loaded: the server needs no registry), `imageId` the `image-id` line it
         * printed (the container runs by that id). Unset: the server's dialogue routes go to Triton.
         */
        server: z
            .strictObject({
                imageArchive: z.string().min(1),
                imageId: z.string().regex(/^sha256:[0-9a-f]{64}$/, { error: "expected the image-id line of scripts/build-dialogue-image.sh: sha256:<64 hex digits>" }),
            })
            .optional(),
        resources: z
            .strictObject({
                cpuRequest: quantity.default("100m"),
                memoryRequest: quantity.default("128Mi"),
                memoryLimit: quantity.default("256Mi"),
            })
            .prefault({}),
    })
    .prefault({});
export type DialogueSettings = z.infer<typeof dialogueSchema>;

/** Cross-setting problems of the dialogue block (path relative to `dialogue`). */
export function dialogueIssues(d: DialogueSettings, environment: string, deployed: boolean): { path: (string | number)[]; message: string }[] {
    const out: { path: (string | number)[]; message: string }[] = [];
    if (!d.enabled || !deployed) {
        return out;
    }
    if (d.store.kind === "memory" && d.replicas > 1) {
        out.push({ path: ["store", "kind"], message: `the memory store is one process's own: with ${d.replicas} replicas a conversation would split. Use redis, or replicas 1` });
    }
    if (d.store.kind === "memory" && environment !== "dev") {
        out.push({ path: ["store", "kind"], message: "the memory store is the development default only: use redis" });
    }
    if (environment !== "dev" && !parseImageRef(d.image)?.digest) {
        out.push({ path: ["image"], message: `"${d.image}" is not pinned by digest: set the registry reference scripts/build-dialogue-image.sh printed (…@sha256:…)` });
    }
    if (d.ttlSeconds.result * 1000 < d.limits.maxAgeMs) {
        out.push({ path: ["ttlSeconds", "result"], message: `answers must be kept at least as long as a message is accepted (limits.maxAgeMs ${d.limits.maxAgeMs} ms), or a late replay would be answered twice` });
    }
    if (d.port === d.adminPort) {
        out.push({ path: ["adminPort"], message: "the admin port must differ from the service port" });
    }
    return out;
}
