// The security group's rule model: validation messages (bad CIDR, port 0, contradictory overlap, a port
// no service declares) and the built-in rules the guide asks for (R3, R6).
import { describe, expect, it } from "vitest";
import { block, contains, parseCidr } from "../../components/network/cidr";
import {
    buildSecurityPolicy,
    objectStorageTarget,
    SecurityGroupError,
    securityGroupIssues,
    SecurityPolicyInput,
    securityPolicyInput,
} from "../../components/network/rules";
import { securityGroupSchema } from "../../components/network/schema";
import { loadDefinition, parseDefinition, readSecrets } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { ProgramFailed, PROJECT, runMocked, stackFileConfig } from "../support/harness";

// The server path requires sshCidrs (no default): tests that are not about SSH give the operators' range.
const input = (settings: unknown, server = true): SecurityPolicyInput => ({
    settings: securityGroupSchema.parse({ sshCidrs: ["198.51.100.0/24"], ...(settings as object) }),
    servicePort: 18789,
    tritonPorts: { http: 8000, grpc: 8001, metrics: 8002 },
    objectStorageEndpoint: "https://s3.us-east-1.amazonaws.com",
    server: server ? { sshPort: 22 } : undefined,
});

/** The schema's issues for `securityGroup`, as `path: message`. */
function schemaIssues(settings: unknown): string[] {
    const r = securityGroupSchema.safeParse(settings);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

const rule = (over: Record<string, unknown>) => ({ direction: "ingress", port: 18789, description: "test rule", ...over });

describe("rule validation: the schema (rule-local problems, with their config key)", () => {
    it("rejects a malformed CIDR and names the rule", () => {
        const issues = schemaIssues({ extraRules: [rule({ cidrs: ["10.0.0.0/33"] })] });
        expect(issues).toEqual([expect.stringMatching(/^extraRules\.0\.cidrs\.0: expected a CIDR block/)]);
    });

    it("rejects a CIDR with host bits and suggests the network", () => {
        const issues = schemaIssues({ sshCidrs: ["10.1.2.3/8"] });
        expect(issues).toEqual(["sshCidrs.0: 10.1.2.3/8 has host bits set beyond /8: did you mean 10.0.0.0/8?"]);
    });

    it("rejects port 0 with a message that says why", () => {
        const issues = schemaIssues({ extraRules: [rule({ port: 0 })] });
        expect(issues).toEqual(["extraRules.0.port: port 0 is reserved and cannot be opened: use a port from 1 to 65535"]);
    });

    it("rejects a range whose end is below its start", () => {
        const issues = schemaIssues({ extraRules: [rule({ port: 8002, toPort: 8000 })] });
        expect(issues).toEqual([expect.stringMatching(/^extraRules\.0\.toPort: toPort 8000 is below port 8002/)]);
    });

    it("rejects a deny rule with in-cluster selectors (NetworkPolicies cannot deny)", () => {
        const issues = schemaIssues({ extraRules: [rule({ action: "deny", podSelector: { app: "x" } })] });
        expect(issues).toEqual([expect.stringMatching(/^extraRules\.0\.action: a deny rule cannot use in-cluster selectors/)]);
    });

    it("rejects two extra rules that contradict each other at the same priority", () => {
        const issues = schemaIssues({
            extraRules: [
                rule({ port: 9100, cidrs: ["10.0.0.0/8"], priority: 200 }),
                rule({ port: 9000, toPort: 9200, action: "deny", cidrs: ["10.20.0.0/16"], priority: 200 }),
            ],
        });
        expect(issues).toHaveLength(1);
        expect(issues[0]).toMatch(/^extraRules\.1\.priority: securityGroup\.extraRules\[1\] \(deny ingress 9000-9200\/tcp from 10\.20\.0\.0\/16, priority 200\) contradicts securityGroup\.extraRules\[0\]/);
        expect(issues[0]).toMatch(/Give the one that should win a lower priority number/);
    });

    it("accepts the same two rules when their priorities decide", () => {
        expect(
            schemaIssues({
                extraRules: [rule({ port: 9100, cidrs: ["10.0.0.0/8"], priority: 200 }), rule({ port: 9100, action: "deny", cidrs: ["10.20.0.0/16"], priority: 150 })],
            }),
        ).toEqual([]);
    });

    it("does not call disjoint peers a contradiction", () => {
        expect(schemaIssues({ extraRules: [rule({ cidrs: ["10.0.0.0/8"] }), rule({ action: "deny", cidrs: ["192.168.0.0/16"] })] })).toEqual([]);
    });
});

describe("rule validation: against the stack's services", () => {
    it("rejects an ingress port no service declares, listing the declared ones", () => {
        const issues = securityGroupIssues(input({ extraRules: [rule({ port: 5432, cidrs: ["10.0.0.0/8"] })] }));
        expect(issues).toHaveLength(1);
        expect(issues[0].path).toEqual(["securityGroup", "extraRules", 0, "port"]);
        expect(issues[0].message).toMatch(/^port 5432\/tcp is not served by any service of this stack/);
        expect(issues[0].message).toContain("18789/tcp model service");
        expect(issues[0].message).toContain("22/tcp ssh");
    });

    it("rejects a range that reaches past the declared ports, naming the first undeclared ones", () => {
        const [issue] = securityGroupIssues(input({ extraRules: [rule({ port: 8000, toPort: 8010, cidrs: ["10.0.0.0/8"] })] }));
        expect(issue.message).toMatch(/^range 8000-8010\/tcp includes 8003, 8004, 8005, 8006, \.\.\., which is not served/);
    });

    it("accepts declared ports, including the server-only node exporter when there is a server", () => {
        expect(securityGroupIssues(input({ extraRules: [rule({ port: 9100, cidrs: ["10.0.0.0/8"] }), rule({ port: 8001, namespaceSelector: { team: "bots" } })] }))).toEqual([]);
    });

    it("rejects the node exporter port when the stack has no server", () => {
        const [issue] = securityGroupIssues(input({ extraRules: [rule({ port: 9100, cidrs: ["10.0.0.0/8"] })] }, false));
        expect(issue.message).toMatch(/port 9100\/tcp is not served/);
    });

    it("rejects in-cluster selectors on a port only the server serves", () => {
        const [issue] = securityGroupIssues(input({ extraRules: [rule({ port: 22, podSelector: { app: "x" } })] }));
        expect(issue.path).toEqual(["securityGroup", "extraRules", 0, "podSelector"]);
        expect(issue.message).toMatch(/selectors apply only on Kubernetes, but 22\/tcp is served only on the server: use cidrs/);
    });

    it("rejects a deny that contradicts a service rule at priority 100", () => {
        const [issue] = securityGroupIssues(input({ extraRules: [rule({ action: "deny", cidrs: ["203.0.113.0/24"] })] }));
        expect(issue.path).toEqual(["securityGroup", "extraRules", 0, "priority"]);
        expect(issue.message).toMatch(/contradicts service model service \(allow ingress 18789\/tcp from 0\.0\.0\.0\/0, priority 100\)/);
    });

    it("accepts the same deny with precedence over the service rule", () => {
        expect(securityGroupIssues(input({ extraRules: [rule({ action: "deny", cidrs: ["203.0.113.0/24"], priority: 50 })] }))).toEqual([]);
    });

    it("buildSecurityPolicy throws one error listing every problem with its config key", () => {
        let error: unknown;
        try {
            buildSecurityPolicy(input({ extraRules: [rule({ port: 5432, cidrs: ["10.0.0.0/8"] }), rule({ port: 6379, cidrs: ["10.0.0.0/8"] })] }));
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(SecurityGroupError);
        expect((error as Error).message).toMatch(/The security group is invalid \(2 problems\)/);
        expect((error as Error).message).toContain("securityGroup.extraRules[0].port: port 5432/tcp");
        expect((error as Error).message).toContain("securityGroup.extraRules[1].port: port 6379/tcp");
    });

    it("the stack definition reports a bad rule with its full config key, before any resource", () => {
        const result = parseDefinition({ securityGroup: { extraRules: [rule({ port: 0 })] } }, { project: PROJECT, stack: "test" });
        expect(result.ok).toBe(false);
        expect(result.ok ? [] : result.issues.map((i) => i.key)).toContain(`${PROJECT}:securityGroup.extraRules[0].port`);
    });
});

describe("a stack with an invalid rule", () => {
    it("fails before any resource is declared, naming the config key", async () => {
        const config = {
            ...stackFileConfig("server"),
            [`${PROJECT}:securityGroup`]: JSON.stringify({ sshCidrs: ["198.51.100.0/24"], extraRules: [rule({ port: 5432, cidrs: ["10.0.0.0/8"] })] }),
        };
        const failure = await runMocked(() => deployPlatform(loadDefinition(), readSecrets()), { stack: "server", config }).then(
            () => undefined,
            (e: unknown) => e,
        );
        expect(failure).toBeInstanceOf(ProgramFailed);
        expect((failure as ProgramFailed).resources).toEqual([]);
        expect((failure as ProgramFailed).message).toContain("securityGroup.extraRules[0].port: port 5432/tcp is not served");
    });
});

describe("the built-in rules (R3, R6)", () => {
    const policy = buildSecurityPolicy(input({ sshCidrs: ["198.51.100.0/24"], serviceCidrs: ["0.0.0.0/0", "::/0"] }));
    const ingress = policy.rules.filter((r) => r.direction === "ingress");

    it("opens 22, 80 and 18789 on the server, at priority 100, and nothing else inbound", () => {
        const server = ingress.filter((r) => r.sides.includes("server"));
        expect(server.map((r) => [r.port, r.priority, r.action])).toEqual([
            [22, 100, "allow"],
            [80, 100, "allow"],
            [18789, 100, "allow"],
        ]);
        expect(server[0].peers).toEqual([{ cidr: "198.51.100.0/24" }]);
    });

    it("lets the cluster reach 18789 from the service sources and metrics only from the monitoring namespace", () => {
        const cluster = ingress.filter((r) => r.sides.includes("cluster"));
        expect(cluster.map((r) => r.port)).toEqual([18789, 8002]);
        expect(cluster[1].peers).toEqual([{ namespaceSelector: { "kubernetes.io/metadata.name": "monitoring" } }]);
    });

    it("orders rules by priority, lowest number first", () => {
        const p = buildSecurityPolicy(input({ extraRules: [rule({ port: 9100, cidrs: ["10.0.0.0/8"], priority: 300 }), rule({ action: "deny", cidrs: ["203.0.113.0/24"], priority: 10 })] }));
        const priorities = p.rules.map((r) => r.priority);
        expect(priorities).toEqual([...priorities].sort((a, b) => a - b));
        expect(p.rules[0].origin).toBe("securityGroup.extraRules[1]");
    });

    it("derives object-storage egress peers from the endpoint", () => {
        expect(objectStorageTarget("https://s3.eu-west-1.amazonaws.com")).toEqual({ host: "s3.eu-west-1.amazonaws.com", port: 443, ip: undefined, namespace: undefined });
        expect(objectStorageTarget("http://10.0.0.5:9000")).toMatchObject({ port: 9000, ip: "10.0.0.5" });
        expect(objectStorageTarget("http://minio.storage.svc.cluster.local:9000")).toMatchObject({ port: 9000, namespace: "storage" });
        const store = (endpoint: string) =>
            buildSecurityPolicy({ ...input({}), objectStorageEndpoint: endpoint }).rules.find((r) => r.origin === "baseline object storage")!;
        expect(store("http://10.0.0.5:9000").peers).toEqual([{ cidr: "10.0.0.5/32" }]);
        expect(store("http://minio.storage.svc.cluster.local:9000").peers).toEqual([{ namespaceSelector: { "kubernetes.io/metadata.name": "storage" } }]);
        expect(store("https://s3.us-east-1.amazonaws.com").peers).toEqual([{ cidr: "0.0.0.0/0" }, { cidr: "::/0" }]);
    });

    it("reads its inputs from a stack definition", () => {
        const result = parseDefinition({ modelService: { servicePort: 18000 } }, { project: PROJECT, stack: "test" });
        if (!result.ok) throw new Error(JSON.stringify(result.issues));
        const i = securityPolicyInput(result.definition);
        expect(i.servicePort).toBe(18000);
        expect(i.server).toBeUndefined();
        expect(i.objectStorageEndpoint).toBe(result.definition.objectStorage.endpoint);
    });
});

describe("CIDR arithmetic", () => {
    it("parses, canonicalises and nests IPv4 and IPv6 blocks", () => {
        expect(parseCidr("2001:DB8:0:0::1/32")).toMatchObject({ text: "2001:db8::/32", hostBits: true });
        expect(contains(block("10.0.0.0/8"), block("10.20.0.0/16"))).toBe(true);
        expect(contains(block("10.20.0.0/16"), block("10.0.0.0/8"))).toBe(false);
        expect(contains(block("0.0.0.0/0"), block("::/0"))).toBe(false);
        expect(contains(block("::/0"), block("2001:db8::/32"))).toBe(true);
        expect(parseCidr("1.2.3/8")).toBeUndefined();
    });
});
