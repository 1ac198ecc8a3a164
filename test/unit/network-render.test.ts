// The security group rendered twice: Kubernetes NetworkPolicies (default deny both ways, 18789 from the
// declared sources, metrics only from the monitoring namespace, egress to DNS, object storage and
// declared destinations) and the server's nftables ruleset (inbound default drop, only 22/80/18789 plus
// declared, Docker-published ports judged before Docker's own chains).
import { describe, expect, it } from "vitest";
import { SecurityGroup } from "../../components/network";
import { NetworkPolicyRuleSpec, renderNetworkPolicies } from "../../components/network/kubernetes";
import { NFT_TABLE, renderNftables, renderSshCheckTable, sshSources } from "../../components/network/server";
import { buildSecurityPolicy, SecurityPolicyInput } from "../../components/network/rules";
import { securityGroupSchema } from "../../components/network/schema";
import { ofType, runMocked } from "../support/harness";

// The server path requires sshCidrs (no default): tests that are not about SSH give the operators' range.
const input = (settings: unknown, server = true): SecurityPolicyInput => ({
    settings: securityGroupSchema.parse({ sshCidrs: ["198.51.100.0/24"], ...(settings as object) }),
    servicePort: 18789,
    tritonPorts: { http: 8000, grpc: 8001, metrics: 8002 },
    objectStorageEndpoint: "https://s3.us-east-1.amazonaws.com",
    server: server ? { sshPort: 22 } : undefined,
});
const policyOf = (settings: unknown, server = true) => buildSecurityPolicy(input(settings, server));

describe("NetworkPolicies", () => {
    const docs = renderNetworkPolicies(policyOf({ serviceCidrs: ["203.0.113.0/24"], serviceNamespaces: ["ingress-nginx"] }, false));
    const byRole = Object.fromEntries(docs.map((d) => [d.role, d.spec]));

    it("deny all ingress and egress in the namespace by default", () => {
        expect(byRole["default-deny"]).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
        expect(byRole["default-deny"].ingress).toBeUndefined();
        expect(byRole["default-deny"].egress).toBeUndefined();
    });

    it("let the declared sources reach the model service on 18789 (and Triton's HTTP pod port behind it)", () => {
        const ingress = byRole["model-server-ingress"];
        expect(ingress.podSelector).toEqual({ matchLabels: { "app.kubernetes.io/component": "model-server" } });
        expect(ingress.policyTypes).toEqual(["Ingress"]);
        const service = ingress.ingress!.find((r) => r.ports.some((p) => p.port === 18789))!;
        expect(service.ports).toEqual([
            { protocol: "TCP", port: 18789 },
            { protocol: "TCP", port: 8000 },
        ]);
        expect(service.from).toEqual([{ ipBlock: { cidr: "203.0.113.0/24" } }, { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } }]);
    });

    it("admit the metrics port only from the monitoring namespace", () => {
        const rules = byRole["model-server-ingress"].ingress!.filter((r) => r.ports.some((p) => p.port === 8002));
        expect(rules).toEqual([{ ports: [{ protocol: "TCP", port: 8002 }], from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }] }]);
    });

    it("open nothing else inbound: no 22, no 80, no gRPC unless declared", () => {
        const ports = byRole["model-server-ingress"].ingress!.flatMap((r) => r.ports.map((p) => p.port));
        expect(new Set(ports)).toEqual(new Set([18789, 8000, 8002]));
    });

    it("allow egress only to cluster DNS (UDP and TCP 53) and the object store", () => {
        const egress = byRole.egress;
        expect(egress.podSelector).toEqual({});
        const dns = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } };
        expect(egress.egress).toEqual([
            { ports: [{ protocol: "UDP", port: 53 }], to: [dns] },
            { ports: [{ protocol: "TCP", port: 53 }], to: [dns] },
            { ports: [{ protocol: "TCP", port: 443 }], to: [{ ipBlock: { cidr: "0.0.0.0/0" } }, { ipBlock: { cidr: "::/0" } }] },
        ]);
    });

    it("add declared egress and ingress rules", () => {
        const docs2 = renderNetworkPolicies(
            policyOf(
                {
                    extraRules: [
                        { direction: "egress", port: 5432, cidrs: ["10.1.0.0/16"], description: "database" },
                        { direction: "ingress", port: 8001, namespaceSelector: { team: "bots" }, podSelector: { app: "client" }, description: "gRPC clients" },
                    ],
                },
                false,
            ),
        );
        const egress = docs2.find((d) => d.role === "egress")!.spec.egress!;
        expect(egress).toContainEqual({ ports: [{ protocol: "TCP", port: 5432 }], to: [{ ipBlock: { cidr: "10.1.0.0/16" } }] });
        const ingress = docs2.find((d) => d.role === "model-server-ingress")!.spec.ingress!;
        expect(ingress).toContainEqual({ ports: [{ protocol: "TCP", port: 8001 }], from: [{ namespaceSelector: { matchLabels: { team: "bots" } }, podSelector: { matchLabels: { app: "client" } } }] });
    });

    it("apply a higher-precedence deny as ipBlock.except on the ports it covers only", () => {
        const docs3 = renderNetworkPolicies(
            policyOf({ serviceCidrs: ["0.0.0.0/0"], extraRules: [{ direction: "ingress", action: "deny", port: 18789, cidrs: ["198.51.100.0/24"], priority: 50, description: "abusive range" }] }, false),
        );
        const rules = docs3.find((d) => d.role === "model-server-ingress")!.spec.ingress!;
        const service = rules.find((r) => r.ports.some((p) => p.port === 18789))!;
        expect(service.from).toEqual([{ ipBlock: { cidr: "0.0.0.0/0", except: ["198.51.100.0/24"] } }]);
        // The metrics rule is untouched by a deny on another port.
        expect(rules.find((r) => r.ports.some((p) => p.port === 8002))!.from).toEqual([{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }]);
    });

    it("split a range around a deny and drop peers a deny covers entirely", () => {
        const docs4 = renderNetworkPolicies(
            policyOf(
                {
                    extraRules: [
                        { direction: "ingress", port: 8000, toPort: 8002, cidrs: ["10.20.0.0/16"], priority: 200, description: "lab" },
                        { direction: "ingress", action: "deny", port: 8001, cidrs: ["10.0.0.0/8"], priority: 150, description: "no gRPC from 10/8" },
                    ],
                },
                false,
            ),
        );
        const lab = docs4.find((d) => d.role === "model-server-ingress")!.spec.ingress!.filter((r: NetworkPolicyRuleSpec) => r.from?.some((f) => f.ipBlock?.cidr === "10.20.0.0/16"));
        expect(lab.map((r) => r.ports[0])).toEqual([
            { protocol: "TCP", port: 8000 },
            { protocol: "TCP", port: 8002 },
        ]);
    });
});

/** The accept rules of the security_group_in chain, as `port[-port]/proto` strings. */
function acceptedInbound(ruleset: string): Set<string> {
    const chain = /chain security_group_in \{([\s\S]*?)\n\t\}/.exec(ruleset)![1];
    return new Set(
        chain
            .split("\n")
            .filter((l) => / accept /.test(l))
            .map((l) => {
                const m = /meta l4proto (tcp|udp) ct original proto-dst (\d+(?:-\d+)?)/.exec(l)!;
                return `${m[2]}/${m[1]}`;
            }),
    );
}

function chainOf(ruleset: string, name: string): string {
    return new RegExp(`chain ${name} \\{([\\s\\S]*?)\\n\\t\\}`).exec(ruleset)![1];
}

describe("nftables ruleset", () => {
    const policy = policyOf({ sshCidrs: ["198.51.100.0/24", "2001:db8::/32"] });
    const ruleset = renderNftables(policy);

    it("drops inbound by default", () => {
        expect(chainOf(ruleset, "input")).toMatch(/type filter hook input priority filter; policy drop;/);
        expect(chainOf(ruleset, "input").trim().split("\n").pop()!.trim()).toBe("drop");
    });

    it("accepts only 22, 80 and 18789 inbound when nothing else is declared", () => {
        expect(acceptedInbound(ruleset)).toEqual(new Set(["22/tcp", "80/tcp", "18789/tcp"]));
    });

    it("admits SSH only from sshCidrs, in both address families", () => {
        expect(ruleset).toContain("ip saddr { 198.51.100.0/24 } meta l4proto tcp ct original proto-dst 22 accept");
        expect(ruleset).toContain("ip6 saddr { 2001:db8::/32 } meta l4proto tcp ct original proto-dst 22 accept");
        expect(ruleset).not.toMatch(/meta nfproto ipv4 meta l4proto tcp ct original proto-dst 22 /);
    });

    it("adds declared ingress rules, and puts a higher-precedence deny before the allow", () => {
        const r = renderNftables(
            policyOf({
                extraRules: [
                    { direction: "ingress", port: 9100, cidrs: ["10.0.0.0/8"], description: "node exporter" },
                    { direction: "ingress", action: "deny", port: 18789, cidrs: ["203.0.113.0/24"], priority: 50, description: "abusive range" },
                ],
            }),
        );
        expect(acceptedInbound(r)).toEqual(new Set(["22/tcp", "80/tcp", "18789/tcp", "9100/tcp"]));
        const lines = chainOf(r, "security_group_in").split("\n");
        const deny = lines.findIndex((l) => l.includes("ip saddr { 203.0.113.0/24 } meta l4proto tcp ct original proto-dst 18789 drop"));
        const allow = lines.findIndex((l) => l.includes("ct original proto-dst 18789 accept"));
        expect(deny).toBeGreaterThanOrEqual(0);
        expect(deny).toBeLessThan(allow);
    });

    it("judges Docker-published ports in a forward chain that runs before Docker's (DOCKER-USER equivalent)", () => {
        const forward = chainOf(ruleset, "docker_user");
        expect(forward).toMatch(/type filter hook forward priority filter - 1; policy accept;/);
        expect(forward).toMatch(/ct status dnat jump security_group_in/);
        expect(forward).toMatch(/\n\t\tct status dnat drop/);
        // The DNAT rule precedes the drop, and established traffic is let through first.
        expect(forward.indexOf("ct state established,related accept")).toBeLessThan(forward.indexOf("ct status dnat jump"));
    });

    it("replaces only its own table, never the whole ruleset (Docker's tables survive)", () => {
        expect(ruleset.split("\n").filter((l) => !l.trim().startsWith("#"))).not.toContainEqual(expect.stringMatching(/flush/));
        expect(ruleset).toMatch(new RegExp(`^table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\ntable inet ${NFT_TABLE} \\{`, "m"));
    });

    it("restricts server egress to DNS, NTP, HTTP(S) and declared rules, for the host and its containers", () => {
        const out = chainOf(ruleset, "output");
        expect(out).toMatch(/policy drop;/);
        const egress = chainOf(ruleset, "security_group_out");
        const ports = new Set([...egress.matchAll(/meta l4proto (tcp|udp) ct original proto-dst (\d+) accept/g)].map((m) => `${m[2]}/${m[1]}`));
        expect(ports).toEqual(new Set(["53/udp", "53/tcp", "123/udp", "80/tcp", "443/tcp"]));
        expect(chainOf(ruleset, "docker_user")).toMatch(/iifname "docker0" oifname != "docker0" oifname != "br-\*" ct state new jump security_group_out/);
    });

    it("adds no egress filter when serverEgress is open", () => {
        const open = renderNftables(policyOf({ serverEgress: "open" }));
        expect(open).not.toMatch(/chain output/);
        expect(open).not.toMatch(/jump security_group_out/);
    });

    it("lists the SSH sources for the lockout check", () => {
        expect(sshSources(policy)).toEqual({ v4: ["198.51.100.0/24"], v6: ["2001:db8::/32"] });
        expect(renderSshCheckTable(policy)).toContain(`set v4 { type ipv4_addr; flags interval; auto-merge; elements = { 198.51.100.0/24 }; }`);
    });

});

describe("SecurityGroup component", () => {
    it("declares the NetworkPolicies in the namespace, with the explicit provider, labels and no stored inputs", async () => {
        const k8s = await import("@pulumi/kubernetes");
        const run = await runMocked(async () => {
            const provider = new k8s.Provider("cluster", { renderYamlToDirectory: "out/test" });
            const sg = new SecurityGroup("security-group", { namespace: "triton-test", provider, instance: "triton-platform-test", labels: { team: "ml" }, policy: policyOf({}, false) });
            return { names: sg.policyNames };
        });
        const policies = ofType(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy");
        expect(policies.map((p) => p.name).sort()).toEqual(["security-group-default-deny", "security-group-egress", "security-group-model-server-ingress"]);
        for (const p of policies) {
            expect(p.parent).toBe("triton-platform:network:SecurityGroup::security-group");
            expect(p.provider).toMatch(/::cluster::/);
            expect(p.inputs.metadata.namespace).toBe("triton-test");
            expect(p.inputs.metadata.name).toBeUndefined();
            expect(p.inputs.metadata.labels).toMatchObject({ "app.kubernetes.io/component": "security-group", "app.kubernetes.io/instance": "triton-platform-test", team: "ml" });
        }
        const component = ofType(run, "triton-platform:network:SecurityGroup")[0];
        expect(component.inputs).toEqual({});
        expect(run.outputs.names).toHaveLength(3);
    });
});

