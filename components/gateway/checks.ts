// Rules across the `gateway` settings and other keys, for stack/definition.ts's cross-field rules. Each
// problem names the config key to fix.
import { quantityValue } from "../../stack/schema-kit";
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
