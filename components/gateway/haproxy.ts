// The entry point's haproxy.cfg, generated from the typed definition by one pure function. Kubernetes,
// the lightweight server and the e2e test all call `renderHaproxyConfig`; only listeners, upstream
// addresses and process files differ.
//
// The JWT secret is never in the file: haproxy reads it from the JWT_SECRET environment variable (fed
// by a Kubernetes secretKeyRef, or an env file on the server) into a process variable at start-up.
// `"${JWT_SECRET}"` expanded straight into jwt_verify's argument would also keep it out of the file,
// but the expanded text is then parsed as converter arguments: a secret holding `,` `)` `"` or `\`
// breaks the configuration (tried on haproxy 2.6). A variable is read as data, whatever it holds.
import { CONFIG_TOKEN, GatewaySettings, RateLimitSettings, RouteSettings } from "./schema";

/** The environment variable haproxy reads the HS256 secret from. */
export const JWT_SECRET_ENV = "JWT_SECRET";
/** The environment variable holding the previous rotation period's secret, accepted during the overlap. */
export const JWT_PREVIOUS_SECRET_ENV = "JWT_SECRET_PREVIOUS";
/** Shortest HS256 secret the gateway accepts (RFC 7518 3.2: at least the hash size, 256 bits). */
export const MIN_SECRET_BYTES = 32;
/** Array claims (`aud`, `scope`) are matched element by element up to this many entries. */
export const MAX_ARRAY_CLAIM_ENTRIES = 8;
/** Header through which the verified `sub` claim reaches the upstream (any client-sent copy is dropped). */
export const SUBJECT_HEADER = "x-authenticated-subject";

/** The R10 claims the gateway checks (from the `keys.jwt` settings). */
export interface JwtPolicy {
    issuer: string;
    audience: string;
    /** Longest token lifetime accepted: exp may not lie further ahead than this (plus skew). */
    lifetimeSeconds: number;
    /**
     * Unix time until which a token signed with the previous rotation period's secret (environment
     * variable JWT_SECRET_PREVIOUS) is still accepted. Unset: only JWT_SECRET verifies.
     */
    previousKeyValidUntil?: number;
}

/** A TCP endpoint. */
export interface Endpoint {
    host: string;
    port: number;
}

/** A listening socket of the gateway. `address` "" listens on every IPv4 address. */
export interface Listener {
    name: string;
    address: string;
    port: number;
}

/** Everything the generated haproxy.cfg depends on. Contains no secret. */
export interface HaproxyConfigInput {
    settings: GatewaySettings;
    jwt: JwtPolicy;
    /** Public listeners (Kubernetes: one unprivileged port; server: 80 and 18789). */
    listeners: Listener[];
    /** Probe and Prometheus listener (/healthz, /metrics): never routed from outside. */
    statsListener: Omit<Listener, "name">;
    /**
     * Addresses of the named upstreams routes refer to. `dialogue` unset (a stack without the dialogue
     * service): routes naming it go to Triton, as before the service existed (bring your own dialogue
     * application in front of it).
     */
    upstreams: { triton: Endpoint; "triton-metrics": Endpoint; dialogue?: Endpoint };
    /** Re-resolve upstream host names through the system resolver (Kubernetes Service names). */
    dns?: boolean;
    /** Process files: tests put them in a temporary folder; containers need none. */
    process?: { pidfile?: string; adminSocket?: string; dropPrivilegesTo?: { uid: number; gid: number } };
    /** Client request headers dropped before forwarding (Triton's restricted-API header: only operators send it, never through here). */
    stripHeaders?: string[];
}

/** A route with every default resolved. */
export interface ResolvedRoute {
    name: string;
    access: RouteSettings["access"];
    match: RouteSettings["match"];
    path: string;
    scope: string;
    methods: string[];
    upstream: Endpoint;
    queryToken: boolean;
    maxBodyBytes: number;
    /** Time the upstream has to answer (for WebSocket: to answer the handshake). */
    deadlineMs: number;
    /** The R9 budget of the route's access mode. */
    budgetMs: number;
}

const DEFAULT_METHODS: Record<RouteSettings["access"], string[]> = {
    websocket: ["GET"],
    rest: ["GET", "POST"],
    webhook: ["POST"],
};

/**
 * The upstream deadline of a route. R9 budgets are latency objectives (P99 alerts, R14); the deadline is
 * where an answer is no longer useful to the caller: budget x deadlineFactor, unless the route sets
 * its own. For WebSocket it bounds the handshake only: once upgraded, `tunnelIdleSeconds` applies.
 */
export function routeDeadlineMs(route: Pick<RouteSettings, "access" | "deadlineMs">, settings: GatewaySettings): number {
    return route.deadlineMs ?? settings.budgetsMs[route.access] * settings.deadlineFactor;
}

/** Routes with their defaults filled in and upstream names replaced by addresses. */
export function resolveRoutes(settings: GatewaySettings, upstreams: HaproxyConfigInput["upstreams"]): ResolvedRoute[] {
    return settings.routes.map((r) => ({
        name: r.name,
        access: r.access,
        match: r.match,
        path: r.path,
        scope: r.scope,
        methods: r.methods ?? DEFAULT_METHODS[r.access],
        upstream: typeof r.upstream === "string" ? (r.upstream === "dialogue" ? (upstreams.dialogue ?? upstreams.triton) : upstreams[r.upstream]) : r.upstream,
        queryToken: r.queryToken ?? r.access === "websocket",
        maxBodyBytes: r.maxBodyBytes ?? settings.maxBodyBytes,
        deadlineMs: routeDeadlineMs(r, settings),
        budgetMs: settings.budgetsMs[r.access],
    }));
}

/** JSON whitespace (RFC 8259), for the regexes below: PCRE's \s also matches \v and \f. */
const WS = "[\\t\\n\\r ]*+";

/**
 * A PCRE2 regex matching exactly one JSON object and nothing after it (RFC 8259, with recursion):
 * haproxy's JSON reader stops at the end of the first value, so `{"exp":1}{"exp":9}` or trailing bytes
 * would otherwise pass unseen. Strings may not hold raw control characters; possessive quantifiers keep
 * the match linear.
 */
export const JSON_OBJECT_REGEX =
    "(?(DEFINE)" +
    '(?<s>"(?:[^"\\\\\\x00-\\x1f]++|\\\\["\\\\/bfnrt]|\\\\u[0-9A-Fa-f]{4})*+")' +
    "(?<n>-?(?:0|[1-9][0-9]*+)(?:\\.[0-9]++)?(?:[eE][-+]?[0-9]++)?)" +
    `(?<v>${WS}(?:(?&s)|(?&n)|true|false|null|\\[(?:(?&v)(?:,(?&v))*+|${WS})\\]|\\{(?:${WS}(?&s)${WS}:(?&v)(?:,${WS}(?&s)${WS}:(?&v))*+|${WS})\\})${WS})` +
    ")" +
    `\\A${WS}\\{(?:${WS}(?&s)${WS}:(?&v)(?:,${WS}(?&s)${WS}:(?&v))*+|${WS})\\}${WS}\\z`;

/** A member named `key` (at any depth: nested members of that name count too, which only refuses more). */
function memberRegex(key: string): string {
    return `[{,]${WS}"${key}"${WS}:`;
}

/** Matches a JSON text with two members named `key`: readers disagree on which one counts. */
export function duplicateKeyRegex(key: string): string {
    return `(?s)${memberRegex(key)}.*${memberRegex(key)}`;
}

/** Matches a member `key` whose value is a plain integer of up to 10 digits (NumericDate until 2286). */
export function integerMemberRegex(key: string): string {
    return `${memberRegex(key)}${WS}[0-9]{1,10}${WS}[,}]`;
}

/** Header members the gateway reads or must understand; a duplicate of any is refused. */
export const CHECKED_HEADER_MEMBERS = ["alg", "typ", "kid", "crit"];
/** Payload members the gateway reads; a duplicate of any is refused. */
export const CHECKED_CLAIMS = ["iss", "aud", "exp", "nbf", "iat", "scope", "sub"];
/** NumericDate claims: present means a plain integer, or the token is refused (never skipped). */
export const TIME_CLAIMS = ["exp", "nbf", "iat"] as const;

/** Values written into the file unquoted must not change how haproxy tokenises it. */
function token(value: string, what: string): string {
    if (!CONFIG_TOKEN.test(value)) {
        throw new Error(`${what} "${value}" cannot be written into haproxy.cfg: use letters, digits and . _ : / @ + ~ = -`);
    }
    return value;
}

function regexEscape(s: string): string {
    return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

function pathAcl(r: ResolvedRoute): string {
    switch (r.match) {
        case "exact":
            return `path ${r.path}`;
        case "prefix":
            return `path_beg ${r.path}`;
        case "regex":
            return `path_reg '${r.path}'`;
    }
}

function isIp(host: string): boolean {
    return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

function bindAddress(l: Omit<Listener, "name">): string {
    return l.address.includes(":") ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`;
}

/** JSON error body and content type for `http-request return`. */
function jsonBody(error: string, description?: string): string {
    const body = description ? `{"error":"${error}","error_description":"${description}"}` : `{"error":"${error}"}`;
    return `content-type application/json lf-string '${body}'`;
}

/** Stick-table expiry: entries must outlive the rate period, and idle tokens should leave the table. */
function tableExpirySeconds(periodSeconds: number): number {
    return Math.max(periodSeconds * 2, 60);
}

/** One rate-limit rule of the generated configuration: whose requests it counts, and its limit. */
export interface RateRule {
    /** Routes it counts, each on its own; undefined: every route without a limit of its own, counted together. */
    route?: string;
    /** The platform (token `sub`) it applies to; undefined: every platform not in `otherPlatforms`. */
    platform?: string;
    /** Platforms with a rule of their own on the same routes (excluded from this one). */
    otherPlatforms: string[];
    requests: number;
    periodSeconds: number;
}

/**
 * The rate-limit rules of the settings: the gateway's `rateLimit` for the routes without their own
 * (one count shared by them), each route's own `rateLimit` (a count per route), and within each a rule
 * per named platform before the rule for everyone else. Counts are per token in every rule.
 */
export function rateLimitRules(settings: GatewaySettings): RateRule[] {
    const expand = (limit: RateLimitSettings | GatewaySettings["rateLimit"], route?: string): RateRule[] => {
        const named = Object.keys(limit.platforms);
        return [
            ...named.map((platform) => ({
                route,
                platform,
                otherPlatforms: [],
                requests: limit.platforms[platform].requests,
                periodSeconds: limit.platforms[platform].periodSeconds ?? limit.periodSeconds,
            })),
            { route, otherPlatforms: named, requests: limit.requests, periodSeconds: limit.periodSeconds },
        ];
    };
    return [...expand(settings.rateLimit), ...settings.routes.filter((r) => r.rateLimit).flatMap((r) => expand(r.rateLimit!, r.name))];
}

/** The stick table counting requests over `periodSeconds` (one per distinct period). */
function rateTable(periodSeconds: number, defaultPeriod: number): string {
    return periodSeconds === defaultPeriod ? "rate_per_token" : `rate_per_token_${periodSeconds}s`;
}

/**
 * Renders haproxy.cfg (haproxy >= 2.5 for jwt_verify; tested on 2.6, deployed on 2.8). Pure: the same
 * input always gives the same text, which the Deployment hashes to roll pods on change.
 */
export function renderHaproxyConfig(input: HaproxyConfigInput): string {
    const s = input.settings;
    const jwt = {
        issuer: token(input.jwt.issuer, "the JWT issuer"),
        audience: token(input.jwt.audience, "the JWT audience"),
        lifetimeSeconds: input.jwt.lifetimeSeconds,
    };
    const routes = resolveRoutes(s, input.upstreams);
    routes.forEach((r) => token(r.scope, `the scope of route ${r.name}`));
    const skew = s.clockSkewSeconds;
    const rate = s.rateLimit;
    const realm = token(s.host, "the host");
    const scopes = [...new Set(routes.map((r) => r.scope))];
    const scopeAcl = (scope: string) => `has_scope_${scopes.indexOf(scope)}`;
    const is = (name: string) => `{ var(txn.route) -m str ${name} }`;
    const routesWhere = (pred: (r: ResolvedRoute) => boolean) => routes.filter(pred).map((r) => r.name);
    const ok = "!{ var(txn.auth_error) -m found }";
    const fail = (reason: string, cond: string) => `    http-request set-var(txn.auth_error) str(${reason}) if ${ok} ${cond}`;
    const out: string[] = [];
    const line = (...l: string[]) => out.push(...l);

    line(
        "# Generated by components/gateway from the stack definition: edit the definition, not this file.",
        "# It holds no secret: the HS256 key comes from the JWT_SECRET environment variable at start-up.",
        "",
        `.if !defined(${JWT_SECRET_ENV})`,
        `    .alert "${JWT_SECRET_ENV} is not set: the gateway cannot verify tokens and refuses to start"`,
        ".endif",
        "",
        "global",
        "    log stdout format raw local0 info",
        `    maxconn ${s.maxConnections}`,
        `    nbthread ${s.threads}`,
        // SIGUSR1 (the image's stop signal) stops accepting and lets open requests and WebSockets finish,
        // but not for ever: past this, remaining connections are closed.
        `    hard-stop-after ${s.drainSeconds}s`,
        `    set-var proc.jwt_key env(${JWT_SECRET_ENV})`,
    );
    const rotation = input.jwt.previousKeyValidUntil;
    if (rotation !== undefined) {
        if (!Number.isInteger(rotation) || rotation < 0) {
            throw new Error(`previousKeyValidUntil ${rotation} is not a Unix time in seconds`);
        }
        // Optional: unset (or shorter than the minimum), the previous secret verifies nothing.
        line(`    set-var proc.jwt_key_prev env(${JWT_PREVIOUS_SECRET_ENV})`);
    }
    if (input.process?.pidfile) {
        line(`    pidfile ${input.process.pidfile}`);
    }
    if (input.process?.adminSocket) {
        line(`    stats socket ${input.process.adminSocket} mode 600 level admin`);
    }
    if (input.process?.dropPrivilegesTo) {
        // Binds ports 80/18789 as root, then runs as this user (the server path, host network).
        line(`    uid ${input.process.dropPrivilegesTo.uid}`, `    gid ${input.process.dropPrivilegesTo.gid}`);
    }
    if (input.dns) {
        line(
            "",
            "# Upstream Service names are re-resolved: a replaced Service gets a new ClusterIP.",
            "resolvers cluster",
            "    parse-resolv-conf",
            "    resolve_retries 3",
            "    timeout resolve 1s",
            "    timeout retry 1s",
            "    hold valid 10s",
            "    hold obsolete 30s",
        );
    }

    const t = s.timeouts;
    line(
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option dontlognull",
        "    option forwardfor",
        // Query strings are never logged: a WebSocket token may travel as ?token= (R9).
        '    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq \\"%HM %HPO %HV\\" route=%[var(txn.route)] auth=%[var(txn.auth_error)]"',
        `    timeout connect ${t.connectMs}ms`,
        "    retries 2",
        `    timeout http-request ${t.requestSeconds}s`,
        `    timeout http-keep-alive ${t.keepAliveSeconds}s`,
        `    timeout client ${t.clientSeconds}s`,
        `    timeout server ${Math.max(...routes.map((r) => r.deadlineMs))}ms`,
        `    timeout tunnel ${t.tunnelIdleSeconds}s`,
        "    timeout client-fin 5s",
        "    timeout server-fin 5s",
    );
    if (!s.http2) {
        line("    option disable-h2-upgrade");
    }

    line("", "frontend platform");
    for (const l of input.listeners) {
        line(`    bind ${bindAddress(l)} name ${l.name}`);
    }
    line(
        "",
        "    # Headers only the gateway may set.",
        ...[SUBJECT_HEADER, ...(input.stripHeaders ?? [])].map((h) => `    http-request del-header ${h}`),
        "",
        "",
        // Triton (and most upstreams) resolve dot segments and decode %2e/%2f after the gateway matched the
        // raw path: /webhook/../v2/repository/index matched the webhook prefix and reached Triton's admin
        // API. Such paths are refused before any route is chosen, so the path a route matches is the path
        // the upstream serves. Refusing beats normalising: no client of these routes needs them.
        "    # Paths an upstream would read differently from the gateway: dot segments, encoded dots, slashes,",
        "    # backslashes, NUL and '%' itself (double encoding), raw backslashes. Refused before routing.",
        `    http-request return status 400 ${jsonBody("invalid_request", "ambiguous_path")} if { path_reg -- '(^|/)\\.\\.?(/|$)' }`,
        `    http-request return status 400 ${jsonBody("invalid_request", "ambiguous_path")} if { path_sub -i %2e %2f %5c %00 %25 }`,
        `    http-request return status 400 ${jsonBody("invalid_request", "ambiguous_path")} if { path_reg '\\\\' }`,
        "",
        "    # Route: first match wins; anything else is not reachable through the gateway.",
    );
    routes.forEach((r, i) => {
        line(`    http-request set-var(txn.route) str(${r.name}) if ${i === 0 ? "" : "!{ var(txn.route) -m found } "}{ ${pathAcl(r)} }`);
    });
    line(`    http-request return status 404 ${jsonBody("not_found")} unless { var(txn.route) -m found }`, "");

    line("    # Method, WebSocket handshake and body size, before any token work.");
    for (const r of routes) {
        line(
            `    http-request return status 405 ${jsonBody("method_not_allowed")} hdr allow "${r.methods.join(", ")}" if ${is(r.name)} !{ method ${r.methods.join(" ")} }`,
        );
    }
    const wsRoutes = routesWhere((r) => r.access === "websocket");
    if (wsRoutes.length > 0) {
        line(
            `    http-request return status 426 ${jsonBody("upgrade_required")} hdr upgrade websocket hdr connection upgrade if { var(txn.route) -m str ${wsRoutes.join(" ")} } !{ req.hdr(upgrade) -i websocket }`,
        );
    }
    for (const r of routes) {
        line(`    http-request return status 413 ${jsonBody("payload_too_large")} if ${is(r.name)} { req.hdr_val(content-length) gt ${r.maxBodyBytes} }`);
    }
    // A body of unannounced length (HTTP/1 chunked, HTTP/2 without content-length) could only be
    // measured by buffering all of it: ask for a length instead (411).
    line(
        `    http-request return status 411 ${jsonBody("length_required")} if { req.hdr(transfer-encoding) -m found }`,
        `    http-request return status 411 ${jsonBody("length_required")} if { method POST PUT PATCH } { req.ver 2.0 } !{ req.hdr(content-length) -m found }`,
        "",
    );

    const queryRoutes = routesWhere((r) => r.queryToken);
    const multiple = jsonBody("invalid_request", "multiple_tokens");
    line(
        "    # R10: HS256 bearer token, from the Authorization header or, on WebSocket routes, ?token= (R9).",
        `    http-request return status 503 ${jsonBody("gateway_misconfigured")} unless { var(proc.jwt_key),length ge ${MIN_SECRET_BYTES} }`,
        // One token per request (RFC 6750 3.1: more than one method is invalid_request): with two, the
        // gateway would check one and an upstream or log might read the other.
        `    http-request return status 400 ${multiple} if { req.hdr_cnt(authorization) gt 1 }`,
        `    http-request return status 400 ${multiple} if { query -m reg -- '(^|&)token=.*&token=' }`,
        `    http-request return status 400 ${multiple} if { req.hdr(authorization) -m found } { url_param(token) -m found }`,
        "    http-request set-var(txn.jwt) http_auth_bearer",
    );
    if (queryRoutes.length > 0) {
        line(`    http-request set-var(txn.jwt) url_param(token) if !{ var(txn.jwt) -m found } { var(txn.route) -m str ${queryRoutes.join(" ")} }`);
    }
    line(
        `    http-request return status 401 ${jsonBody("unauthorized")} hdr www-authenticate 'Bearer realm="${realm}"' unless { var(txn.jwt) -m found }`,
        // Three base64url segments, each of header and payload exactly one JSON object: haproxy's JSON
        // reader ignores what follows the first value and reads the first of two equal keys, while other
        // readers (the minter, an upstream) may read the last. What the gateway cannot read unambiguously,
        // it refuses.
        fail("malformed", "!{ var(txn.jwt) -m reg '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*$' }"),
        "    http-request set-var(txn.jwt_head) var(txn.jwt),field(1,.),ub64dec if !{ var(txn.auth_error) -m found }",
        "    http-request set-var(txn.jwt_body) var(txn.jwt),field(2,.),ub64dec if !{ var(txn.auth_error) -m found }",
        fail("malformed", `!{ var(txn.jwt_head) -m reg -- '${JSON_OBJECT_REGEX}' }`),
        fail("malformed", `!{ var(txn.jwt_body) -m reg -- '${JSON_OBJECT_REGEX}' }`),
        ...CHECKED_HEADER_MEMBERS.map((k) => fail("duplicate_member", `{ var(txn.jwt_head) -m reg -- '${duplicateKeyRegex(k)}' }`)),
        ...CHECKED_CLAIMS.map((k) => fail("duplicate_claim", `{ var(txn.jwt_body) -m reg -- '${duplicateKeyRegex(k)}' }`)),
        // RFC 7515 4.1.11: a critical extension the verifier does not understand must fail.
        fail("unsupported_crit", `{ var(txn.jwt_head) -m reg '${memberRegex("crit")}' }`),
        // exp, nbf and iat, when present, are plain integers; anything else (1e30, 2^64, "123", [1]) would be
        // unreadable to haproxy, and an unreadable nbf used to skip its check.
        ...TIME_CLAIMS.map((k) => fail(`bad_${k}`, `{ var(txn.jwt_body) -m reg '${memberRegex(k)}' } !{ var(txn.jwt_body) -m reg '${integerMemberRegex(k)}' }`)),
        // The algorithm is fixed, never taken from the token: alg=none and RS/HS confusion fail here.
        "    http-request set-var(txn.jwt_alg) var(txn.jwt),jwt_header_query('$.alg')",
        fail("unsupported_alg", "!{ var(txn.jwt_alg) -m str HS256 }"),
        ...(rotation === undefined
            ? [fail("bad_signature", "!{ var(txn.jwt),jwt_verify(HS256,proc.jwt_key) -m int 1 }")]
            : [
                  // Key rotation without an outage: a token signed with the previous period's secret is
                  // accepted until the overlap ends (keys.jwt.previousKeyOverlapSeconds after the rotation);
                  // the current secret signs every new token. A too-short previous secret verifies nothing.
                  `    http-request set-var(txn.jwt_prev) int(1) if !{ var(txn.auth_error) -m found } !{ var(txn.jwt),jwt_verify(HS256,proc.jwt_key) -m int 1 } { var(proc.jwt_key_prev),length ge ${MIN_SECRET_BYTES} } { var(txn.jwt),jwt_verify(HS256,proc.jwt_key_prev) -m int 1 }`,
                  fail("bad_signature", "!{ var(txn.jwt),jwt_verify(HS256,proc.jwt_key) -m int 1 } !{ var(txn.jwt_prev) -m found }"),
                  fail("rotated_key", `{ var(txn.jwt_prev) -m found } !{ date lt ${rotation} }`),
              ]),
        "    http-request set-var(txn.now) date",
        "    http-request set-var(txn.jwt_iss) var(txn.jwt),jwt_payload_query('$.iss') if !{ var(txn.auth_error) -m found }",
        fail("bad_issuer", `!{ var(txn.jwt_iss) -m str ${jwt.issuer} }`),
        "    http-request set-var(txn.jwt_aud) var(txn.jwt),jwt_payload_query('$.aud') if !{ var(txn.auth_error) -m found }",
    );
    // `aud` may be a string or an array (RFC 7519 4.1.3); haproxy 2.6 reads arrays one index at a time.
    for (let i = 0; i < MAX_ARRAY_CLAIM_ENTRIES; i++) {
        line(`    http-request set-var(txn.jwt_aud${i}) var(txn.jwt),jwt_payload_query('$.aud[${i}]') if !{ var(txn.auth_error) -m found }`);
    }
    line(
        `    acl aud_ok var(txn.jwt_aud) -m str ${jwt.audience}`,
        ...Array.from({ length: MAX_ARRAY_CLAIM_ENTRIES }, (_, i) => `    acl aud_ok var(txn.jwt_aud${i}) -m str ${jwt.audience}`),
        fail("bad_audience", "!aud_ok"),
        "    http-request set-var(txn.jwt_exp) var(txn.jwt),jwt_payload_query('$.exp','int') if !{ var(txn.auth_error) -m found }",
        fail("missing_exp", "!{ var(txn.jwt_exp) -m found }"),
        // Seconds left, with the tolerated skew: exp + skew - now.
        `    http-request set-var(txn.exp_left) var(txn.jwt_exp),add(${skew}),sub(txn.now) if !{ var(txn.auth_error) -m found }`,
        fail("expired", "{ var(txn.exp_left) -m int le 0 }"),
        // A token may not live longer than keys.jwt.lifetimeSeconds (R10: one hour) from now.
        fail("lifetime_too_long", `{ var(txn.exp_left) -m int gt ${jwt.lifetimeSeconds + 2 * skew} }`),
        "    http-request set-var(txn.jwt_nbf) var(txn.jwt),jwt_payload_query('$.nbf','int') if !{ var(txn.auth_error) -m found }",
        "    http-request set-var(txn.nbf_wait) var(txn.jwt_nbf),sub(txn.now) if { var(txn.jwt_nbf) -m found }",
        fail("not_yet_valid", `{ var(txn.nbf_wait) -m int gt ${skew} }`),
        // A token issued in the future (beyond the skew) comes from a wrong clock or a forger's guess.
        "    http-request set-var(txn.jwt_iat) var(txn.jwt),jwt_payload_query('$.iat','int') if !{ var(txn.auth_error) -m found }",
        "    http-request set-var(txn.iat_ahead) var(txn.jwt_iat),sub(txn.now) if { var(txn.jwt_iat) -m found }",
        fail("issued_in_future", `{ var(txn.iat_ahead) -m int gt ${skew} }`),
        `    http-request return status 401 ${jsonBody("invalid_token", "%[var(txn.auth_error)]")} hdr www-authenticate 'Bearer realm="${realm}", error="invalid_token"' if { var(txn.auth_error) -m found }`,
        "",
        "    # Scopes: a space-separated string (OAuth) or an array (R10) of names.",
        "    http-request set-var(txn.jwt_scope) var(txn.jwt),jwt_payload_query('$.scope')",
    );
    for (let i = 0; i < MAX_ARRAY_CLAIM_ENTRIES; i++) {
        line(`    http-request set-var(txn.jwt_scope${i}) var(txn.jwt),jwt_payload_query('$.scope[${i}]')`);
    }
    scopes.forEach((scope) => {
        const acl = scopeAcl(scope);
        line(
            `    # ${acl}: ${scope}`,
            `    acl ${acl} var(txn.jwt_scope) -m reg '(^| )${regexEscape(scope)}( |$)'`,
            ...Array.from({ length: MAX_ARRAY_CLAIM_ENTRIES }, (_, i) => `    acl ${acl} var(txn.jwt_scope${i}) -m str ${scope}`),
        );
    });
    for (const r of routes) {
        line(
            `    http-request return status 403 ${jsonBody("insufficient_scope", r.scope)} hdr www-authenticate 'Bearer realm="${realm}", error="insufficient_scope", scope="${r.scope}"' if ${is(r.name)} !${scopeAcl(r.scope)}`,
        );
    }

    const rules = rateLimitRules(s);
    const ownRoutes = [...new Set(rules.flatMap((r) => (r.route ? [r.route] : [])))];
    const named = rules.some((r) => r.platform !== undefined);
    line(
        "",
        `    # Rate limit per token (a SHA-256 of it: the table never holds a usable token), per replica: ${rate.requests} per ${rate.periodSeconds}s` +
            (ownRoutes.length > 0 ? ` on the routes without a limit of their own (one count); ${ownRoutes.join(", ")}: their own, each counted apart.` : "."),
        "    http-request set-var(txn.token_key) var(txn.jwt),sha2(256)",
    );
    if (ownRoutes.length > 0) {
        // A route with its own limit counts the token's requests on that route only: token and route name hashed together.
        line(`    http-request set-var(txn.token_key) var(txn.jwt),concat(:,txn.route,),sha2(256) if { var(txn.route) -m str ${ownRoutes.join(" ")} }`);
    }
    if (named) {
        // Named platforms are told apart by the verified token's subject.
        line("    http-request set-var(txn.jwt_sub) var(txn.jwt),jwt_payload_query('$.sub')");
    }
    for (const r of rules) {
        const cond = [
            r.route !== undefined ? `{ var(txn.route) -m str ${r.route} }` : ownRoutes.length > 0 ? `!{ var(txn.route) -m str ${ownRoutes.join(" ")} }` : "",
            r.platform !== undefined
                ? `{ var(txn.jwt_sub) -m str ${token(r.platform, "a rate-limited platform name")} }`
                : r.otherPlatforms.length > 0
                  ? `!{ var(txn.jwt_sub) -m str ${r.otherPlatforms.join(" ")} }`
                  : "",
        ].filter(Boolean);
        const when = cond.length > 0 ? ` if ${cond.join(" ")}` : "";
        line(`    http-request track-sc0 var(txn.token_key) table ${rateTable(r.periodSeconds, rate.periodSeconds)}${when}`);
        line(
            `    http-request return status 429 ${jsonBody("rate_limited")} hdr retry-after ${r.periodSeconds} if ${[...cond, `{ sc_http_req_rate(0) gt ${r.requests} }`].join(" ")}`,
        );
    }
    line(
        "",
        "    # The upstream never sees the token: it is checked here, and Triton would only log it.",
        "    http-request del-header authorization",
    );
    if (queryRoutes.length > 0) {
        line(
            // Single quotes around the expression, double quotes around each argument: see haproxy's
            // configuration manual 2.2 (two levels of quoting).
            "    http-request set-var(txn.query) 'query,regsub(\"(^|&)token=[^&]*\",\"\",g),regsub(\"^&\",\"\")' if { url_param(token) -m found }",
            "    http-request set-uri %[path] if { url_param(token) -m found } !{ var(txn.query) -m len gt 0 }",
            "    http-request set-query %[var(txn.query)] if { url_param(token) -m found } { var(txn.query) -m len gt 0 }",
        );
    }
    line(
        "    http-request set-var(txn.jwt_sub) var(txn.jwt),jwt_payload_query('$.sub')",
        `    http-request set-header ${SUBJECT_HEADER} %[var(txn.jwt_sub)] if { var(txn.jwt_sub) -m found }`,
        "",
        ...routes.map((r) => `    use_backend route_${r.name} if ${is(r.name)}`),
    );

    line(
        "",
        "# Probes and the gateway's own Prometheus metrics; not part of any Service port the Ingress routes to.",
        "frontend probes",
        `    bind ${bindAddress(input.statsListener)}`,
        // Probes every few seconds would drown the access log: log failures only.
        "    option dontlog-normal",
        "    monitor-uri /healthz",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        `    http-request return status 404 ${jsonBody("not_found")}`,
    );

    for (const period of [...new Set([rate.periodSeconds, ...rules.map((r) => r.periodSeconds)])]) {
        line(
            "",
            `backend ${rateTable(period, rate.periodSeconds)}`,
            `    stick-table type binary len 32 size 100k expire ${tableExpirySeconds(period)}s store http_req_rate(${period}s)`,
        );
    }

    for (const r of routes) {
        const u = r.upstream;
        const resolve = input.dns && !isIp(u.host) ? " resolvers cluster resolve-prefer ipv4 init-addr last,libc,none" : "";
        line(
            "",
            `backend route_${r.name}`,
            r.access === "websocket"
                ? `    # ${r.access}: R9 budget ${r.budgetMs} ms for the handshake; then the tunnel idles up to ${t.tunnelIdleSeconds}s`
                : `    # ${r.access}: R9 budget ${r.budgetMs} ms; the upstream must answer within ${r.deadlineMs} ms or the caller gets 504`,
            `    timeout server ${r.deadlineMs}ms`,
            `    timeout queue ${r.budgetMs}ms`,
            // Request/response routes: any idle connection to the upstream serves the next request,
            // whichever client sent it (`safe`, the default, gives each client connection's first request
            // a connection of its own). The upstreams hold no per-connection state: identity travels in
            // each request's headers. Fewer connections opened means less accept and set-up work in
            // Triton (docs/BENCHMARKS.md, serving). A WebSocket's tunnel is never shared either way.
            ...(r.access === "websocket" ? [] : ["    http-reuse always"]),
            `    server upstream ${u.host.includes(":") ? `[${u.host}]` : u.host}:${u.port}${resolve}`,
        );
    }
    return out.join("\n") + "\n";
}
