// Rules across the `gateway` settings and other keys, for stack/definition.ts's cross-field rules. Each
// problem names the config key to fix.
import { quantityValue } from "../../kit/schema";
import type { KeysSettings } from "../keys/schema";
import { CONFIG_TOKEN, GatewaySettings } from "./schema";

/** One problem, with the path of the key to fix (without the project prefix). */
export interface GatewayIssue {
    path: (string | number)[];
    message: string;
}

/** The parts of the definition the gateway rules read. */
export interface GatewayCheckInput {
    environment: string;
    cluster: { mode: string };
    zones: string[];
    gateway: GatewaySettings;
    keys: Pick<KeysSettings, "jwt">;
    /** The served models: their names fill `{m}` in TRITON_ADMIN_PATHS. */
    models?: { name: string }[];
}

/**
 * Paths of Triton's restricted (admin) APIs, with `{m}` for a model name: model control and repository,
 * configuration, statistics, trace, logging, shared memory. No route to Triton may match any of them
 * (docs/HARDENING.md): Triton's own restricted-API key is the second line, not the first.
 */
export const TRITON_ADMIN_PATHS = [
    "/v2/repository/index",
    "/v2/repository/models/{m}/load",
    "/v2/repository/models/{m}/unload",
    "/v2/models/{m}/config",
    "/v2/models/stats",
    "/v2/models/{m}/stats",
    "/v2/models/{m}/versions/1/stats",
    "/v2/trace/setting",
    "/v2/models/{m}/trace/setting",
    "/v2/logging",
    "/v2/systemsharedmemory/status",
    "/v2/systemsharedmemory/region/r/register",
    "/v2/cudasharedmemory/status",
    "/v2/cudasharedmemory/region/r/register",
];

/** Whether a route's match (exact, prefix or regex on the raw path) takes `path`. */
export function routeMatches(route: { match: "exact" | "prefix" | "regex"; path: string }, path: string): boolean {
    switch (route.match) {
        case "exact":
            return path === route.path;
        case "prefix":
            return path.startsWith(route.path);
        case "regex":
            try {
                return new RegExp(route.path, "u").test(path);
            } catch {
                return false; // reported by the schema
            }
    }
}

/** Host names that are placeholders, never a real R8 domain. */
const PLACEHOLDER_HOST = /(^|\.)(example\.(com|org|net)|example|invalid|test|localhost)$/;

/** Every problem of the gateway settings against the rest of the definition. Pure. */
export function gatewayIssues(d: GatewayCheckInput): GatewayIssue[] {
    const g = d.gateway;
    const issues: GatewayIssue[] = [];
    if (!g.enabled) {
        // Triton checks no token itself: a prod stack without the gateway must say what checks them.
        if (d.environment === "prod" && !g.otherEntryPoint) {
            issues.push({
                path: ["gateway", "enabled"],
                message:
                    "prod with the gateway disabled leaves nothing checking tokens in front of Triton: keep it enabled, or set gateway.otherEntryPoint to the entry point that checks them instead (docs/HARDENING.md)",
            });
        }
        return issues;
    }
    if (g.otherEntryPoint !== undefined) {
        issues.push({ path: ["gateway", "otherEntryPoint"], message: "otherEntryPoint only applies with gateway.enabled false: remove it, or disable the gateway" });
    }
    const jwt = d.keys.jwt;
    g.routes.forEach((r, i) => {
        if (!jwt.scopes.includes(r.scope)) {
            issues.push({
                path: ["gateway", "routes", i, "scope"],
                message: `scope "${r.scope}" is not among keys.jwt.scopes (${jwt.scopes.join(", ")}): no token could ever use this route`,
            });
        }
    });
    const modelNames = [...new Set([...(d.models ?? []).map((m) => m.name), "dialogue", "m"])];
    const adminPaths = TRITON_ADMIN_PATHS.flatMap((p) => (p.includes("{m}") ? modelNames.map((m) => p.replace("{m}", m)) : [p]));
    g.routes.forEach((r, i) => {
        if (typeof r.upstream !== "string") {
            return; // another upstream: its own API is its own business
        }
        const reached = adminPaths.find((p) => routeMatches(r, p));
        if (reached) {
            issues.push({
                path: ["gateway", "routes", i, "path"],
                message: `route "${r.name}" to ${r.upstream} matches Triton's admin API (${reached}): with any ${r.scope} token a caller could reach it. Narrow the path to what the route is for (e.g. ^/v2/models/<m>/infer$)`,
            });
        }
    });
    for (const key of ["issuer", "audience"] as const) {
        if (!CONFIG_TOKEN.test(jwt[key])) {
            issues.push({
                path: ["keys", "jwt", key],
                message: `the gateway matches the ${key} in haproxy.cfg: use letters, digits and . _ : / @ + ~ = - only`,
            });
        }
    }
    jwt.scopes.forEach((scope, i) => {
        if (!CONFIG_TOKEN.test(scope)) {
            issues.push({ path: ["keys", "jwt", "scopes", i], message: "scopes may only hold letters, digits and . _ : / @ + ~ = -" });
        }
    });
    if (d.environment === "prod" && PLACEHOLDER_HOST.test(g.host)) {
        issues.push({ path: ["gateway", "host"], message: `"${g.host}" is a placeholder: set the R8 domain collaboration platforms connect to` });
    }
    if (d.environment === "prod" && d.cluster.mode !== "none" && g.replicas < Math.min(d.zones.length, 3)) {
        issues.push({
            path: ["gateway", "replicas"],
            message: `${g.replicas} gateway replica(s) for ${d.zones.length} zones: a zone outage would cut every platform off; use at least ${Math.min(d.zones.length, 3)}`,
        });
    }
    if (quantityValue(g.resources.memoryLimit) < quantityValue(g.resources.memoryRequest)) {
        issues.push({
            path: ["gateway", "resources", "memoryLimit"],
            message: `memoryLimit ${g.resources.memoryLimit} is below memoryRequest ${g.resources.memoryRequest}`,
        });
    }
    if (g.timeouts.connectMs >= Math.min(...g.routes.map((r) => r.deadlineMs ?? g.budgetsMs[r.access] * g.deadlineFactor))) {
        issues.push({
            path: ["gateway", "timeouts", "connectMs"],
            message: `connectMs ${g.timeouts.connectMs} leaves no time for an answer within the shortest route deadline`,
        });
    }
    return issues;
}
