// Settings of the collaboration-platform entry point (config key `gateway`): R8 host and TLS, R9 access
// modes and latency budgets, R10 JWT checks (claims come from `keys.jwt`), request limits.
import { isIP } from "net";
import { z } from "zod";
import { annotationMap, bool, CONTROL_CHARS, dnsLabel, dnsSubdomain, int, pinnedImage, port, quantity } from "../../kit/schema";

/** The R9 access modes. Each has a latency budget and its own haproxy backend (so its own timeouts). */
export const ACCESS_MODES = ["websocket", "rest", "webhook"] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

/** Default haproxy image: the 2.8 LTS branch, patch-pinned (the tests run the same config on Debian's 2.6). */
export const DEFAULT_GATEWAY_IMAGE = "docker.io/library/haproxy:2.8.14-alpine";

/**
 * Characters a value may have to be written into haproxy.cfg without quoting (ACL patterns, header
 * values): claim values, scopes, paths. Anything else (spaces, quotes, `#`, `$`, `\`, commas,
 * parentheses) would change how haproxy tokenises the line.
 */
export const CONFIG_TOKEN = /^[A-Za-z0-9._:/@+~=-]+$/;
const configToken = (what: string) =>
    z.string().regex(CONFIG_TOKEN, { error: `${what} may only hold letters, digits and . _ : / @ + ~ = -` });

/** An RFC 1123 host name with at least two labels (R8: the name collaboration platforms connect to). */
export const hostName = z
    .string()
    .regex(/^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$/, {
        error: "expected a lower-case DNS host name such as bot.example.com",
    });

/**
 * Why an upstream host is refused, or undefined. A route forwards authenticated requests there, so it
 * must be a host the operator means: never the cloud metadata service (169.254.169.254 and the rest of
 * 169.254.0.0/16, fe80::/10, fd00:ec2::254, Alibaba's 100.100.100.200, metadata.google.internal), which
 * hands out the node's credentials; and never an address in a form resolvers read differently from
 * people (`2852039166`, `0xa9fea9fe`, `0251.0376.0251.0376`, `169.254.43518` are all 169.254.169.254).
 */
export function upstreamHostIssue(host: string): string | undefined {
    const h = host.toLowerCase();
    if (h.includes(":")) {
        if (isIP(h) !== 6) {
            return `"${host}" is not an IPv6 address (write it without brackets)`;
        }
        if (/^fe[89ab][0-9a-f]?:/.test(h) || /^fd00:ec2:(0:){0,4}:?254$/.test(h) || /^::ffff:(169\.254\.|a9fe:)/.test(h)) {
            return `"${host}" is link-local or the metadata service (fe80::/10, fd00:ec2::254): a route must not forward authenticated requests there`;
        }
        return undefined;
    }
    if (/^[0-9.]+$/.test(h) || /^0x/.test(h) || /(^|\.)0x[0-9a-f]*(\.|$)/.test(h)) {
        const octets = h.split(".");
        if (octets.length !== 4 || !octets.every((o) => /^(0|[1-9][0-9]{0,2})$/.test(o) && Number(o) <= 255)) {
            return `"${host}" is not a dotted-decimal IPv4 address: write an address as four decimal numbers (a resolver may read this form as another address)`;
        }
        const [a, b] = octets.map(Number);
        if ((a === 169 && b === 254) || h === "100.100.100.200") {
            return `"${host}" is link-local or a cloud metadata address (169.254.0.0/16, 100.100.100.200): a route must not forward authenticated requests there`;
        }
        if (a === 0) {
            return `"${host}" is in 0.0.0.0/8, which is not a destination`;
        }
        return undefined;
    }
    if (!/^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\.?$/.test(h)) {
        return `"${host}" is not a DNS host name (letters, digits, '-' and '.')`;
    }
    if (/^(metadata|metadata\.google\.internal|instance-data|instance-data\.ec2\.internal)\.?$/.test(h)) {
        return `"${host}" is a cloud metadata service name: a route must not forward authenticated requests there`;
    }
    return undefined;
}

/**
 * Where a route's requests go. `triton` and `triton-metrics` are the model service, `dialogue` the
 * dialogue service (components/dialogue: WebSocket chat, webhooks, async REST, R11 messages); an
 * object names any other upstream.
 */
export const upstreamSchema = z.union([
    z.enum(["triton", "triton-metrics", "dialogue"]),
    z.strictObject({
        /** DNS name or IP address (in-cluster: a Service name in the stack's namespace, or a full name). Never link-local or a metadata service. */
        host: z
            .string()
            .regex(/^[A-Za-z0-9.:-]+$/, { error: "expected a host name or IP address" })
            .superRefine((host, ctx) => {
                const issue = upstreamHostIssue(host);
                if (issue) {
                    ctx.addIssue({ code: "custom", message: issue });
                }
            }),
        port,
    }),
]);
export type UpstreamRef = z.infer<typeof upstreamSchema>;

/**
 * Requests per token per period that one gateway replica lets through (429 beyond it). A collaboration
 * platform sends all its traffic with one token, so this is a platform's budget, not a user's: 3000 per
 * second, above what one replica passes of a small model on 2 cores (docs/BENCHMARKS.md, serving), so a
 * platform meets the gateway's capacity before its limit; a leaked or runaway token is still bounded on
 * larger nodes. The former 300 per 10 s throttled a platform past 30 requests per second.
 */
export const DEFAULT_RATE_LIMIT = { requests: 30000, periodSeconds: 10 } as const;

/** A platform's own limit (see `platforms`). */
const platformRateSchema = z.strictObject({
    /** Requests per period. */
    requests: int(1, 1_000_000),
    /** Period in seconds. @default the period of the limit it belongs to */
    periodSeconds: int(1, 3600).optional(),
});

/**
 * Other limits for named platforms, keyed by the `sub` claim of their token (`npm run token --
 * --subject NAME`): a busy platform gets more, a trial one less. Unnamed platforms get the default.
 */
const platformLimits = z.record(configToken("a platform name (the token's sub claim)"), platformRateSchema).default({});

/** A route's own rate limit (`routes[].rateLimit`). */
export const routeRateLimitSchema = z.strictObject({
    /** Requests per token per period on this route. */
    requests: int(1, 1_000_000),
    /** Period in seconds. @default 10 */
    periodSeconds: int(1, 3600).default(DEFAULT_RATE_LIMIT.periodSeconds),
    platforms: platformLimits,
});
export type RateLimitSettings = z.infer<typeof routeRateLimitSchema>;

/** Longest path regex of a route: one line of haproxy.cfg holds it (haproxy's lines end at 2048 bytes). */
export const MAX_PATH_REGEX = 512;

export const routeSchema = z
    .strictObject({
        /** Route name: names the haproxy backend and appears in every log line. */
        name: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, { error: "expected a short lower-case name: letters, digits, '-'" }),
        /** R9 access mode: sets the latency budget (so the timeouts) and what a request must look like. */
        access: z.enum(ACCESS_MODES),
        /** How `path` matches the request path (query string excluded). */
        match: z.enum(["exact", "prefix", "regex"]).default("exact"),
        /** The path, a path prefix, or a PCRE on the path (written in single quotes: no `'` allowed). */
        path: z.string().min(1),
        /** JWT scope the token must carry (R10), e.g. `chat:write`. */
        scope: configToken("a scope"),
        /** Allowed methods. @default GET for websocket, POST for webhook, GET and POST for rest */
        methods: z.array(z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])).min(1).optional(),
        /** Where the route forwards to. @default "triton" (the model service Service, port 18789) */
        upstream: upstreamSchema.default("triton"),
        /**
         * Accept the token as `?token=` when no Authorization header is sent (R9: browsers cannot set
         * headers on a WebSocket handshake). @default true for websocket routes, false otherwise
         */
        queryToken: bool.optional(),
        /** Largest request body, in bytes. @default the gateway's maxBodyBytes */
        maxBodyBytes: int(0, 1 << 30).optional(),
        /** Upstream deadline in ms, overriding budget x deadlineFactor for this route. */
        deadlineMs: int(1, 3_600_000).optional(),
        /**
         * This route's own rate limit, counted per token on this route alone. @default the gateway's
         * `rateLimit`, whose count all routes without their own share
         */
        rateLimit: routeRateLimitSchema.optional(),
    })
    .superRefine((r, ctx) => {
        if (r.match === "regex") {
            // haproxy.cfg holds the regex in single quotes on one line, and haproxy compiles it with PCRE2.
            if (CONTROL_CHARS.test(r.path) || /[^\x21-\x7e]/.test(r.path)) {
                ctx.addIssue({ code: "custom", path: ["path"], message: "a path regex may only hold printable ASCII without spaces (write \\s, \\x20 or %20 for a space): it is one token on one line of haproxy.cfg" });
            } else if (r.path.includes("'")) {
                ctx.addIssue({ code: "custom", path: ["path"], message: "a path regex cannot contain a single quote (haproxy.cfg quotes it with single quotes): use \\x27" });
            } else if (r.path.length > MAX_PATH_REGEX) {
                ctx.addIssue({ code: "custom", path: ["path"], message: `a path regex is at most ${MAX_PATH_REGEX} characters (haproxy.cfg lines are limited)` });
            } else {
                // Unicode mode refuses what PCRE2 refuses and plain JavaScript lets through (\i, \m, lone braces).
                try {
                    new RegExp(r.path, "u");
                } catch (e) {
                    ctx.addIssue({ code: "custom", path: ["path"], message: `not a valid regular expression: ${(e as Error).message}` });
                }
            }
        } else if (!/^\/[A-Za-z0-9._~/-]*$/.test(r.path)) {
            ctx.addIssue({ code: "custom", path: ["path"], message: "expected a path starting with '/' (letters, digits, . _ ~ / -)" });
        }
    });
export type RouteSettings = z.infer<typeof routeSchema>;

/**
 * Default routes. Only what a collaboration platform needs is reachable: the WebSocket chat (R9,
 * recommended), webhooks and async REST messages (the dialogue service, R11 messages), Triton inference
 * and readiness (REST), and metrics (R5 `system-metrics: read`). Everything else, Triton's admin APIs
 * included, gets 404 at the edge.
 */
export const DEFAULT_ROUTES: z.input<typeof routeSchema>[] = [
    { name: "chat", access: "websocket", match: "exact", path: "/chat", scope: "chat:write", upstream: "dialogue" },
    { name: "messages", access: "rest", match: "exact", path: "/v1/messages", scope: "chat:write", methods: ["POST"], upstream: "dialogue" },
    {
        name: "message-result",
        access: "rest",
        match: "regex",
        path: "^/v1/messages/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        scope: "chat:write",
        methods: ["GET"],
        upstream: "dialogue",
    },
    {
        name: "infer",
        access: "rest",
        match: "regex",
        path: "^/v2/models/[a-z0-9][-a-z0-9]*(/versions/[0-9]+)?/infer$",
        scope: "chat:write",
        methods: ["POST"],
    },
    {
        name: "health",
        access: "rest",
        match: "regex",
        path: "^/v2/(health/ready|models/[a-z0-9][-a-z0-9]*(/versions/[0-9]+)?/ready)$",
        scope: "chat:write",
        methods: ["GET"],
    },
    { name: "webhook", access: "webhook", match: "prefix", path: "/webhook/", scope: "chat:write", upstream: "dialogue" },
    { name: "metrics", access: "rest", match: "exact", path: "/metrics", scope: "metrics:read", methods: ["GET"], upstream: "triton-metrics" },
];

/**
 * Refuses configuration-snippet annotations (ingress-nginx `*-snippet`, NGINX Inc's `*-snippets`,
 * Traefik-style `*.snippet`): they paste raw proxy configuration in front of the gateway, where it can
 * rewrite paths past its route checks or read other tenants' traffic (CVE-2021-25742). What the gateway
 * needs is a setting of its own.
 */
function noSnippets(annotations: Record<string, string>, ctx: z.RefinementCtx): void {
    for (const k of Object.keys(annotations)) {
        if (/snippets?$/i.test(k)) {
            ctx.addIssue({
                code: "custom",
                path: [k],
                message: `"${k}" is a snippet annotation: raw proxy configuration in front of the gateway could bypass its route and token checks. Remove it`,
            });
        }
    }
}

const exposureSchema = z.discriminatedUnion("kind", [
    z.strictObject({
        /** A networking.k8s.io/v1 Ingress. */
        kind: z.literal("ingress"),
        /** IngressClass. `nginx` also gets ingress-nginx annotations for body size and WebSocket timeouts. */
        className: dnsSubdomain.default("nginx"),
        /** Extra Ingress annotations (after the generated ones). Snippet annotations are refused (see noSnippets). */
        annotations: annotationMap.superRefine(noSnippets).default({}),
    }),
    z.strictObject({
        /** A Gateway API HTTPRoute (gateway.networking.k8s.io/v1). */
        kind: z.literal("gatewayApi"),
        /** GatewayClass of the Gateway this stack declares (HTTPS listener for `host`). */
        gatewayClassName: dnsSubdomain.optional(),
        /** Attach to an existing Gateway instead (its HTTPS listener then owns TLS). */
        parentRef: z
            .strictObject({ name: dnsSubdomain, namespace: dnsLabel.optional(), sectionName: dnsSubdomain.optional() })
            .optional(),
        annotations: annotationMap.superRefine(noSnippets).default({}),
    }).superRefine((e, ctx) => {
        if (!e.gatewayClassName && !e.parentRef) {
            ctx.addIssue({ code: "custom", path: ["gatewayClassName"], message: "set gatewayClassName (a Gateway is declared) or parentRef (attach to an existing one)" });
        }
    }),
]);

export const gatewaySchema = z
    .strictObject({
        /** Deploy the entry point. Without it nothing checks tokens in front of Triton. */
        enabled: bool.default(true),
        /**
         * Prod with `enabled: false` only: the entry point that checks tokens in front of Triton instead
         * (e.g. "api-gateway.corp: Kong with the jwt plugin"). Prod refuses a disabled gateway without it,
         * because Triton itself checks no token (docs/HARDENING.md).
         */
        otherEntryPoint: z.string().min(8, { error: "name the entry point that checks tokens instead, and how (at least 8 characters)" }).optional(),
        /** R8: the host name collaboration platforms use (CNAME to the ingress or server). */
        host: hostName.default("triton.example.com"),
        tls: z
            .strictObject({
                /** Secret holding the certificate (kubernetes.io/tls). cert-manager writes it when `issuer` is set. */
                secretName: dnsLabel.default("triton-gateway-tls"),
                /** cert-manager issuer that obtains the certificate. Unset: the Secret must exist. */
                issuer: z
                    .strictObject({ kind: z.enum(["ClusterIssuer", "Issuer"]).default("ClusterIssuer"), name: dnsSubdomain })
                    .optional(),
            })
            .prefault({}),
        /** R8 (optional HTTP/2): accept HTTP/2 on the gateway's listeners (h2c prior knowledge; ALPN where TLS ends). */
        http2: bool.default(true),
        exposure: exposureSchema.default({ kind: "ingress", className: "nginx", annotations: {} }),
        /**
         * Namespaces whose pods may reach the gateway's HTTP port: the ingress controller's (or the Gateway
         * API implementation's). Everything else is refused by the gateway's NetworkPolicy.
         */
        ingressNamespaces: z.array(dnsLabel).min(1).default(["ingress-nginx"]),
        routes: z
            .array(routeSchema)
            .min(1)
            .prefault(DEFAULT_ROUTES)
            .superRefine((routes, ctx) => {
                const seen = new Map<string, number>();
                routes.forEach((r, i) => {
                    const first = seen.get(r.name);
                    if (first !== undefined) {
                        ctx.addIssue({ code: "custom", path: [i, "name"], message: `route name "${r.name}" is already used by routes[${first}]` });
                    }
                    seen.set(r.name, i);
                });
            }),
        /** R9 latency budgets per access mode, in ms (objectives, see deadlineFactor). */
        budgetsMs: z
            .strictObject({ webhook: int(1, 60_000).default(200), rest: int(1, 60_000).default(500), websocket: int(1, 60_000).default(100) })
            .prefault({}),
        /**
         * Upstream deadline = budget x this factor. A budget is a latency objective (alerted on at P99,
         * R14), not a cut-off: a timeout equal to it would turn every slightly slow answer into an error
         * and a platform retry. Past budget x 5 the caller has given up; answering 504 then frees the slot.
         */
        deadlineFactor: int(1, 100).default(5),
        timeouts: z
            .strictObject({
                /** TCP connect to the upstream; haproxy retries twice, so a lost SYN costs this, not the kernel's 1 s. */
                connectMs: int(1, 60_000).default(100),
                /** Time a client has to send a complete request head (slow-loris guard). */
                requestSeconds: int(1, 600).default(5),
                /** Idle time of a client connection between requests. */
                keepAliveSeconds: int(1, 3600).default(10),
                /** Client inactivity while a request is in flight. */
                clientSeconds: int(1, 3600).default(30),
                /** Idle time of an established WebSocket before haproxy closes it (clients ping to stay open). */
                tunnelIdleSeconds: int(1, 86_400).default(600),
            })
            .prefault({}),
        /** Largest request body in bytes (413 above it; 411 when the length is not announced). */
        maxBodyBytes: int(0, 1 << 30).default(1 << 20),
        /**
         * Requests per token per period, enforced by each replica (429 beyond it), for every route that
         * sets no `rateLimit` of its own; those routes share one count. `platforms` gives named platforms
         * (the token's `sub`) other limits. See DEFAULT_RATE_LIMIT for the default's size.
         */
        rateLimit: z
            .strictObject({
                requests: int(1, 1_000_000).default(DEFAULT_RATE_LIMIT.requests),
                periodSeconds: int(1, 3600).default(DEFAULT_RATE_LIMIT.periodSeconds),
                platforms: platformLimits,
            })
            .prefault({}),
        /** Clock skew tolerated on exp/nbf (R15: clocks drift without NTP). */
        clockSkewSeconds: int(0, 300).default(30),
        image: pinnedImage.default(DEFAULT_GATEWAY_IMAGE),
        /** Gateway replicas on Kubernetes, spread across the zones. */
        replicas: int(1, 100).default(3),
        resources: z
            .strictObject({
                cpuRequest: quantity.default("250m"),
                memoryRequest: quantity.default("128Mi"),
                memoryLimit: quantity.default("256Mi"),
                cpuLimit: quantity.optional(),
            })
            .prefault({}),
        /** haproxy global maxconn (per replica). */
        maxConnections: int(64, 1_000_000).default(4096),
        /** haproxy worker threads. */
        threads: int(1, 64).default(2),
        /** Seconds haproxy keeps serving open connections (WebSockets) after SIGUSR1 before closing them. */
        drainSeconds: int(1, 3600).default(30),
        /** Kubernetes cluster DNS domain (haproxy's resolver does not apply search domains). */
        clusterDomain: dnsSubdomain.default("cluster.local"),
        /** Port of the in-pod probe and Prometheus endpoint (/healthz, /metrics); never exposed by the Ingress. */
        statsPort: port.default(8405),
    })
    .prefault({});
export type GatewaySettings = z.infer<typeof gatewaySchema>;
