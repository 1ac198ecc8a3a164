// The gateway's rate limit (config `gateway.rateLimit`, `gateway.routes[].rateLimit`): a platform sends
// everything with one token, so the limit is a platform's budget per route, with other budgets for
// named platforms (the token's `sub`).
import { describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMIT, gatewaySchema, GatewaySettings, rateLimitRules, renderHaproxyConfig } from "../../components/gateway";

const render = (settings: GatewaySettings) =>
    renderHaproxyConfig({
        settings,
        jwt: { issuer: "model-service", audience: "collaboration-platform", lifetimeSeconds: 3600 },
        listeners: [{ name: "http", address: "", port: 8080 }],
        statsListener: { address: "", port: 8405 },
        upstreams: { triton: { host: "127.0.0.1", port: 9000 }, "triton-metrics": { host: "127.0.0.1", port: 8002 } },
    });
const lines = (cfg: string, pattern: RegExp) =>
    cfg
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => pattern.test(l));

const ROUTES = [
    { name: "chat", access: "websocket", path: "/chat", scope: "chat:write" },
    { name: "webhook", access: "webhook", match: "prefix", path: "/webhook/", scope: "chat:write" },
    { name: "infer", access: "rest", match: "prefix", path: "/v2/", scope: "chat:write", rateLimit: { requests: 50, periodSeconds: 30, platforms: { trial: { requests: 2 } } } },
];

describe("gateway rate limit", () => {
    it("defaults to a platform's budget, not a user's: 30000 per 10 s per token and replica, no named platforms", () => {
        const s = gatewaySchema.parse({});
        expect(s.rateLimit).toEqual({ requests: 30000, periodSeconds: 10, platforms: {} });
        expect(DEFAULT_RATE_LIMIT.requests / DEFAULT_RATE_LIMIT.periodSeconds).toBeGreaterThanOrEqual(300);
        // The former default (300 per 10 s) throttled a platform past 30 requests per second.
        expect(rateLimitRules(s)).toEqual([{ route: undefined, otherPlatforms: [], requests: 30000, periodSeconds: 10 }]);
    });

    it("renders the default as one count shared by every route, with no route or platform condition", () => {
        const cfg = render(gatewaySchema.parse({}));
        expect(lines(cfg, /track-sc0|status 429|jwt_sub\) var|token_key\) var/)).toEqual([
            "http-request set-var(txn.token_key) var(txn.jwt),sha2(256)",
            "http-request track-sc0 var(txn.token_key) table rate_per_token",
            `http-request return status 429 content-type application/json lf-string '{"error":"rate_limited"}' hdr retry-after 10 if { sc_http_req_rate(0) gt 30000 }`,
            // The subject header for the upstream, after the limit: unchanged.
            "http-request set-var(txn.jwt_sub) var(txn.jwt),jwt_payload_query('$.sub')",
        ]);
        expect(lines(cfg, /^backend rate_per_token|stick-table/)).toEqual(["backend rate_per_token", "stick-table type binary len 32 size 100k expire 60s store http_req_rate(10s)"]);
    });

    it("gives a route its own count and named platforms their own limits, inheriting the period they belong to", () => {
        const s = gatewaySchema.parse({ rateLimit: { requests: 100, platforms: { "big-platform": { requests: 900 }, trial: { requests: 5, periodSeconds: 60 } } }, routes: ROUTES });
        expect(rateLimitRules(s)).toEqual([
            { route: undefined, platform: "big-platform", otherPlatforms: [], requests: 900, periodSeconds: 10 },
            { route: undefined, platform: "trial", otherPlatforms: [], requests: 5, periodSeconds: 60 },
            { route: undefined, otherPlatforms: ["big-platform", "trial"], requests: 100, periodSeconds: 10 },
            { route: "infer", platform: "trial", otherPlatforms: [], requests: 2, periodSeconds: 30 },
            { route: "infer", otherPlatforms: ["trial"], requests: 50, periodSeconds: 30 },
        ]);
    });

    it("renders per-route keys, per-platform conditions on the verified subject, and one table per period", () => {
        const s = gatewaySchema.parse({ rateLimit: { requests: 100, platforms: { "big-platform": { requests: 900 }, trial: { requests: 5, periodSeconds: 60 } } }, routes: ROUTES });
        const cfg = render(s);
        const all = cfg.split("\n").map((l) => l.trim());
        // The route with its own limit hashes token and route together: its count is apart from the others'.
        expect(all).toContain("http-request set-var(txn.token_key) var(txn.jwt),concat(:,txn.route,),sha2(256) if { var(txn.route) -m str infer }");
        // The subject is read from the verified token before the first rule that needs it.
        const sub = all.indexOf("http-request set-var(txn.jwt_sub) var(txn.jwt),jwt_payload_query('$.sub')");
        expect(sub).toBeGreaterThan(-1);
        expect(sub).toBeLessThan(all.findIndex((l) => l.includes("track-sc0")));
        expect(lines(cfg, /track-sc0/)).toEqual([
            "http-request track-sc0 var(txn.token_key) table rate_per_token if !{ var(txn.route) -m str infer } { var(txn.jwt_sub) -m str big-platform }",
            "http-request track-sc0 var(txn.token_key) table rate_per_token_60s if !{ var(txn.route) -m str infer } { var(txn.jwt_sub) -m str trial }",
            "http-request track-sc0 var(txn.token_key) table rate_per_token if !{ var(txn.route) -m str infer } !{ var(txn.jwt_sub) -m str big-platform trial }",
            "http-request track-sc0 var(txn.token_key) table rate_per_token_30s if { var(txn.route) -m str infer } { var(txn.jwt_sub) -m str trial }",
            "http-request track-sc0 var(txn.token_key) table rate_per_token_30s if { var(txn.route) -m str infer } !{ var(txn.jwt_sub) -m str trial }",
        ]);
        // Each 429 repeats its rule's condition, so only the rule that tracked the request can refuse it.
        expect(lines(cfg, /status 429/).map((l) => / hdr retry-after (\d+) if (.*) \{ sc_http_req_rate\(0\) gt (\d+) \}$/.exec(l)!.slice(1))).toEqual([
            ["10", "!{ var(txn.route) -m str infer } { var(txn.jwt_sub) -m str big-platform }", "900"],
            ["60", "!{ var(txn.route) -m str infer } { var(txn.jwt_sub) -m str trial }", "5"],
            ["10", "!{ var(txn.route) -m str infer } !{ var(txn.jwt_sub) -m str big-platform trial }", "100"],
            ["30", "{ var(txn.route) -m str infer } { var(txn.jwt_sub) -m str trial }", "2"],
            ["30", "{ var(txn.route) -m str infer } !{ var(txn.jwt_sub) -m str trial }", "50"],
        ]);
        expect(lines(cfg, /store http_req_rate/)).toEqual([
            "stick-table type binary len 32 size 100k expire 60s store http_req_rate(10s)",
            "stick-table type binary len 32 size 100k expire 120s store http_req_rate(60s)",
            "stick-table type binary len 32 size 100k expire 60s store http_req_rate(30s)",
        ]);
    });

    it("refuses platform names haproxy.cfg cannot hold, and a route limit without requests", () => {
        const bad = gatewaySchema.safeParse({ rateLimit: { platforms: { "two words": { requests: 1 } } } });
        expect(bad.success).toBe(false);
        expect(bad.error!.issues[0].path).toEqual(["rateLimit", "platforms", "two words"]);
        const noRequests = gatewaySchema.safeParse({ routes: [{ ...ROUTES[2], rateLimit: { periodSeconds: 5 } }] });
        expect(noRequests.success).toBe(false);
        expect(noRequests.error!.issues[0].path).toEqual(["routes", 0, "rateLimit", "requests"]);
    });
});
