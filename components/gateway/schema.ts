// Settings of the collaboration-platform entry point (config key `gateway`): R8 host and TLS, R9 access
// modes and latency budgets, R10 JWT checks (claims come from `keys.jwt`), request limits.
import { z } from "zod";
import { bool, dnsLabel, int, pinnedImage, port, quantity } from "../../stack/schema-kit";

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

/** Where a route's requests go. `triton` and `triton-metrics` are the model service; an object names any other upstream. */
export const upstreamSchema = z.union([
    z.enum(["triton", "triton-metrics"]),
    z.strictObject({
        /** DNS name or IP address (in-cluster: a Service name in the stack's namespace, or a full name). */
        host: z.string().regex(/^[A-Za-z0-9.:-]+$/, { error: "expected a host name or IP address" }),
        port,
    }),
]);
export type UpstreamRef = z.infer<typeof upstreamSchema>;

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
    })
    .superRefine((r, ctx) => {
        if (r.match === "regex") {
            if (r.path.includes("'")) {
                ctx.addIssue({ code: "custom", path: ["path"], message: "a path regex cannot contain a single quote" });
            }
            try {
                new RegExp(r.path);
            } catch (e) {
                ctx.addIssue({ code: "custom", path: ["path"], message: `not a valid regular expression: ${(e as Error).message}` });
            }
        } else if (!/^\/[A-Za-z0-9._~/-]*$/.test(r.path)) {
            ctx.addIssue({ code: "custom", path: ["path"], message: "expected a path starting with '/' (letters, digits, . _ ~ / -)" });
        }
    });
export type RouteSettings = z.infer<typeof routeSchema>;

/**
 * Default routes. Only what a collaboration platform needs is reachable: the WebSocket chat (R9,
 * recommended), Triton inference and readiness (REST), webhooks, and metrics (R5 `system-metrics:
 * read`). Everything else, Triton's admin APIs included, gets 404 at the edge.
 */
export const DEFAULT_ROUTES: z.input<typeof routeSchema>[] = [
    { name: "chat", access: "websocket", match: "exact", path: "/chat", scope: "chat:write" },
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
    { name: "webhook", access: "webhook", match: "prefix", path: "/webhook/", scope: "chat:write" },
    { name: "metrics", access: "rest", match: "exact", path: "/metrics", scope: "metrics:read", methods: ["GET"], upstream: "triton-metrics" },
];

const exposureSchema = z.discriminatedUnion("kind", [
    z.strictObject({
        /** A networking.k8s.io/v1 Ingress. */
        kind: z.literal("ingress"),
        /** IngressClass. `nginx` also gets ingress-nginx annotations for body size and WebSocket timeouts. */
        className: z.string().min(1).default("nginx"),
        /** Extra Ingress annotations (after the generated ones). */
        annotations: z.record(z.string(), z.string()).default({}),
    }),
    z.strictObject({
        /** A Gateway API HTTPRoute (gateway.networking.k8s.io/v1). */
        kind: z.literal("gatewayApi"),
        /** GatewayClass of the Gateway this stack declares (HTTPS listener for `host`). */
        gatewayClassName: z.string().min(1).optional(),
        /** Attach to an existing Gateway instead (its HTTPS listener then owns TLS). */
        parentRef: z
            .strictObject({ name: z.string().min(1), namespace: dnsLabel.optional(), sectionName: z.string().min(1).optional() })
            .optional(),
        annotations: z.record(z.string(), z.string()).default({}),
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
        /** R8: the host name collaboration platforms use (CNAME to the ingress or server). */
        host: hostName.default("triton.example.com"),
        tls: z
            .strictObject({
                /** Secret holding the certificate (kubernetes.io/tls). cert-manager writes it when `issuer` is set. */
                secretName: dnsLabel.default("triton-gateway-tls"),
                /** cert-manager issuer that obtains the certificate. Unset: the Secret must exist. */
                issuer: z
                    .strictObject({ kind: z.enum(["ClusterIssuer", "Issuer"]).default("ClusterIssuer"), name: z.string().min(1) })
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
        /** Requests per token per period, enforced by each replica (429 beyond it). */
        rateLimit: z.strictObject({ requests: int(1, 1_000_000).default(300), periodSeconds: int(1, 3600).default(10) }).prefault({}),
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
        clusterDomain: z.string().regex(/^[a-z0-9.-]+$/).default("cluster.local"),
        /** Port of the in-pod probe and Prometheus endpoint (/healthz, /metrics); never exposed by the Ingress. */
        statsPort: port.default(8405),
    })
    .prefault({});
export type GatewaySettings = z.infer<typeof gatewaySchema>;
