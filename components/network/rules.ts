// The security group's rule model (R3, R6): the service rules the guide asks for, the baseline egress the
// platform needs, and the definition's extra rules, validated together. Both renderers (NetworkPolicies,
// nftables) read the same `SecurityPolicy`, so the cluster and the server cannot drift apart.
import { ANYWHERE, block, contains, overlaps, parseCidr } from "./cidr";
import type { Rule, SecurityGroupSettings } from "./schema";

/** Where a rule is enforced. */
export type Side = "cluster" | "server";
export type Protocol = "tcp" | "udp";
export type Direction = "ingress" | "egress";

/** HTTP port the server opens (R3) for the entry point / reverse proxy. */
export const HTTP_PORT = 80;
/** Prometheus node exporter on the server (R2). */
export const NODE_EXPORTER_PORT = 9100;
/** Labels of the model service pods (the model-service component sets them). */
export const MODEL_SERVER_SELECTOR: Record<string, string> = { "app.kubernetes.io/component": "model-server" };
/** Namespace label every namespace carries (Kubernetes >= 1.21), used to select namespaces by name. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** A port some part of the platform serves: ingress rules may only open these. */
export interface ServicePort {
    name: string;
    protocol: Protocol;
    /** The port clients use (the Service port on Kubernetes, the host port on the server). */
    port: number;
    /** The pod port behind `port` on Kubernetes when it differs (NetworkPolicies see pod ports). */
    targetPort?: number;
    sides: Side[];
}

/** A rule peer: a CIDR block, or in-cluster pods chosen by label selectors. */
export type Peer = { cidr: string } | { namespaceSelector?: Record<string, string>; podSelector?: Record<string, string> };

/** One rule of the security group, normalised. */
export interface SecurityRule {
    /** Where the rule comes from, for messages: `service ssh`, `securityGroup.extraRules[2]`. */
    origin: string;
    /** Config path of an extra rule (relative to the stack's config namespace); undefined for built-in rules. */
    path?: (string | number)[];
    direction: Direction;
    action: "allow" | "deny";
    protocol: Protocol;
    port: number;
    /** Inclusive end of the range; equals `port` for a single port. */
    toPort: number;
    peers: Peer[];
    priority: number;
    description: string;
    sides: Side[];
}

/** The inputs the security group is computed from (a slice of the stack definition). */
export interface SecurityPolicyInput {
    settings: SecurityGroupSettings;
    /** The model service port collaboration platforms reach (R7: 18789). */
    servicePort: number;
    /** Triton's ports inside the pod/container. */
    tritonPorts: { http: number; grpc: number; metrics: number };
    /** S3-compatible endpoint URL the workloads write to and read from. */
    objectStorageEndpoint: string;
    /** Present when the stack manages a lightweight server. */
    server?: { sshPort: number };
    /** dev, staging or prod: prod refuses SSH from anywhere. @default "dev" */
    environment?: string;
    /**
     * The Kubernetes gateway fronts the model service: then only the gateway's pods (its own
     * NetworkPolicy, components/gateway) and the monitoring namespace (metrics) reach Triton's pods, and
     * the service rule from `serviceCidrs`/`serviceNamespaces` applies to the server only.
     */
    gatewayFronted?: boolean;
}

/** The security group: every rule, ordered by priority, plus what the renderers need besides rules. */
export interface SecurityPolicy {
    services: ServicePort[];
    /** All rules, lowest priority number first (stable: built-in rules before extras at equal priority). */
    rules: SecurityRule[];
    serverEgress: "restricted" | "open";
    monitoringNamespace: string;
    sshPort?: number;
}

/** One problem, with its config path (under the project namespace) and a message that says what to change. */
export interface SecurityGroupIssue {
    path: (string | number)[];
    message: string;
}

/** Raised when a security group is invalid; lists every problem. */
export class SecurityGroupError extends Error {
    constructor(public readonly issues: SecurityGroupIssue[]) {
        super(
            `The security group is invalid (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
                issues.map((i) => `  - ${i.path.join(".").replace(/\.(\d+)/g, "[$1]")}: ${i.message}`).join("\n"),
        );
        this.name = "SecurityGroupError";
    }
}

const anywhere = (): Peer[] => ANYWHERE.map((cidr) => ({ cidr }));
const cidrPeers = (cidrs: readonly string[]): Peer[] => (cidrs.length === 0 ? anywhere() : cidrs.map((cidr) => ({ cidr })));
const namespacePeer = (name: string): Peer => ({ namespaceSelector: { [NAMESPACE_NAME_LABEL]: name } });
export const isCidrPeer = (p: Peer): p is { cidr: string } => "cidr" in p;

/** `tcp 18789` or `udp 8000-8010`. */
export function portText(r: { protocol: Protocol; port: number; toPort: number }): string {
    return `${r.port === r.toPort ? r.port : `${r.port}-${r.toPort}`}/${r.protocol}`;
}

/** The ports the platform serves, from the definition. */
export function servicePorts(input: SecurityPolicyInput): ServicePort[] {
    const services: ServicePort[] = [
        { name: "model service", protocol: "tcp", port: input.servicePort, targetPort: input.tritonPorts.http, sides: input.server ? ["cluster", "server"] : ["cluster"] },
        { name: "triton gRPC", protocol: "tcp", port: input.tritonPorts.grpc, sides: ["cluster"] },
        { name: "triton metrics", protocol: "tcp", port: input.tritonPorts.metrics, sides: ["cluster"] },
    ];
    if (input.server) {
        services.push(
            { name: "ssh", protocol: "tcp", port: input.server.sshPort, sides: ["server"] },
            { name: "http", protocol: "tcp", port: HTTP_PORT, sides: ["server"] },
            { name: "node exporter", protocol: "tcp", port: NODE_EXPORTER_PORT, sides: ["server"] },
        );
    }
    return services;
}

/**
 * Host and port of the object-storage endpoint URL, with what a NetworkPolicy can match: its IP when the
 * host is an address, its namespace when it is an in-cluster Service name (`minio.storage.svc...`).
 */
export function objectStorageTarget(endpoint: string): { host: string; port: number; ip?: string; namespace?: string } {
    const url = new URL(endpoint);
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = url.port ? Number(url.port) : url.protocol === "http:" ? 80 : 443;
    const ip = parseCidr(`${host}/${host.includes(":") ? 128 : 32}`) ? host : undefined;
    const namespace = /^[a-z0-9-]+\.([a-z0-9-]+)\.svc(\.|$)/.exec(host)?.[1];
    return { host, port, ip, namespace };
}

/** The built-in rules: the guide's service rules (priority 100, R6) and the platform's baseline egress. */
export function builtinRules(input: SecurityPolicyInput): SecurityRule[] {
    const s = input.settings;
    const rule = (r: Omit<SecurityRule, "action" | "priority" | "toPort"> & { toPort?: number }): SecurityRule => ({
        action: "allow",
        priority: 100,
        ...r,
        toPort: r.toPort ?? r.port,
    });
    const rules: SecurityRule[] = [];
    if (input.server) {
        rules.push(
            rule({ origin: "service ssh", direction: "ingress", protocol: "tcp", port: input.server.sshPort, peers: cidrPeers(s.sshCidrs), description: "SSH administration (R3)", sides: ["server"] }),
            rule({ origin: "service http", direction: "ingress", protocol: "tcp", port: HTTP_PORT, peers: cidrPeers(s.serviceCidrs), description: "HTTP (R3, R6)", sides: ["server"] }),
        );
    }
    // With the gateway in front, the cluster's model-server pods admit only the gateway (its own
    // NetworkPolicy) and the monitoring namespace: 0.0.0.0/0 on Triton's port would make the gateway's
    // token checks optional for anyone who can reach a pod address.
    const serviceSides: Side[] = [...(input.gatewayFronted ? [] : (["cluster"] as Side[])), ...(input.server ? (["server"] as Side[]) : [])];
    if (serviceSides.length > 0) {
        rules.push(
            rule({
                origin: "service model service",
                direction: "ingress",
                protocol: "tcp",
                port: input.servicePort,
                peers: [...cidrPeers(s.serviceCidrs), ...(serviceSides.includes("cluster") ? s.serviceNamespaces.map(namespacePeer) : [])],
                description: "model service (R6, R7)",
                sides: serviceSides,
            }),
        );
    }
    rules.push(
        rule({
            origin: "service triton metrics",
            direction: "ingress",
            protocol: "tcp",
            port: input.tritonPorts.metrics,
            peers: [namespacePeer(s.monitoringNamespace)],
            description: `metrics scrape from namespace ${s.monitoringNamespace}`,
            sides: ["cluster"],
        }),
    );
    // Cluster egress: DNS and the object store, nothing else unless declared.
    const dnsPeers: Peer[] = [{ namespaceSelector: { [NAMESPACE_NAME_LABEL]: s.dns.namespace }, podSelector: s.dns.podSelector }, ...s.dns.cidrs.map((cidr) => ({ cidr }))];
    for (const protocol of ["udp", "tcp"] as const) {
        rules.push(rule({ origin: `baseline dns/${protocol}`, direction: "egress", protocol, port: 53, peers: dnsPeers, description: "cluster DNS", sides: ["cluster"] }));
    }
    const store = objectStorageTarget(input.objectStorageEndpoint);
    // Pods of an in-cluster store are reached at pod addresses (after the Service's DNAT), which CIDR
    // peers do not reliably match on every CNI: select its namespace instead.
    const storeNamespace = s.objectStorageNamespace ?? store.namespace;
    const storePeers: Peer[] = storeNamespace
        ? [namespacePeer(storeNamespace)]
        : store.ip
          ? [{ cidr: `${store.ip}/${store.ip.includes(":") ? 128 : 32}` }]
          : cidrPeers(s.objectStorageCidrs);
    rules.push(rule({ origin: "baseline object storage", direction: "egress", protocol: "tcp", port: store.port, peers: storePeers, description: `object storage ${store.host}`, sides: ["cluster"] }));
    if (input.server && s.serverEgress === "restricted") {
        // The server needs name resolution, time (JWT checks depend on the clock, R15), and HTTP(S) for
        // packages and the image registry, whose addresses are CDN-hosted and not stable CIDRs.
        rules.push(
            rule({ origin: "baseline server dns/udp", direction: "egress", protocol: "udp", port: 53, peers: anywhere(), description: "DNS", sides: ["server"] }),
            rule({ origin: "baseline server dns/tcp", direction: "egress", protocol: "tcp", port: 53, peers: anywhere(), description: "DNS", sides: ["server"] }),
            rule({ origin: "baseline server ntp", direction: "egress", protocol: "udp", port: 123, peers: anywhere(), description: "NTP clock sync (R15)", sides: ["server"] }),
            rule({ origin: "baseline server http", direction: "egress", protocol: "tcp", port: 80, peers: anywhere(), description: "HTTP: packages, image registry", sides: ["server"] }),
            rule({ origin: "baseline server https", direction: "egress", protocol: "tcp", port: 443, peers: anywhere(), description: "HTTPS: packages, image registry, object storage", sides: ["server"] }),
        );
    }
    return rules;
}

/** Where a port is served: a service's own port, or (in the cluster) the pod port behind a Service port. */
export function servedSides(protocol: Protocol, port: number, services: ServicePort[]): Side[] {
    const sides = new Set<Side>();
    for (const svc of services) {
        if (svc.protocol !== protocol) continue;
        if (svc.port === port) svc.sides.forEach((s) => sides.add(s));
        if (svc.targetPort === port && svc.sides.includes("cluster")) sides.add("cluster");
    }
    return [...sides];
}

/** The sides an extra rule applies to: CIDR peers work on both, selectors only in the cluster. */
function extraRuleSides(r: Rule, services: ServicePort[]): Side[] {
    const peerSides: Side[] = r.namespaceSelector || r.podSelector ? (r.cidrs.length > 0 ? ["cluster", "server"] : ["cluster"]) : ["cluster", "server"];
    if (r.direction === "egress") {
        return peerSides;
    }
    const served = new Set<Side>();
    for (let p = r.port; p <= (r.toPort ?? r.port); p++) {
        servedSides(r.protocol, p, services).forEach((s) => served.add(s));
    }
    return peerSides.filter((s) => served.has(s));
}

/** Normalises an extra rule from the definition. */
export function extraRule(r: Rule, index: number, services: ServicePort[]): SecurityRule {
    const peers: Peer[] = r.cidrs.map((cidr) => ({ cidr: block(cidr).text }));
    if (r.namespaceSelector || r.podSelector) {
        peers.push({ ...(r.namespaceSelector ? { namespaceSelector: r.namespaceSelector } : {}), ...(r.podSelector ? { podSelector: r.podSelector } : {}) });
    }
    return {
        origin: `securityGroup.extraRules[${index}]`,
        path: ["securityGroup", "extraRules", index],
        direction: r.direction,
        action: r.action,
        protocol: r.protocol,
        port: r.port,
        toPort: r.toPort ?? r.port,
        peers: peers.length === 0 ? anywhere() : peers,
        priority: r.priority,
        description: r.description,
        sides: extraRuleSides(r, services),
    };
}

function describeRule(r: SecurityRule): string {
    const peers = r.peers.map((p) => (isCidrPeer(p) ? p.cidr : JSON.stringify(p))).join(", ");
    return `${r.origin} (${r.action} ${r.direction} ${portText(r)} ${r.direction === "ingress" ? "from" : "to"} ${peers}, priority ${r.priority})`;
}

/**
 * Two rules contradict when they match the same traffic at the same priority with opposite actions:
 * neither order is "right", so the definition must say which wins by giving one a lower number.
 */
export function contradiction(a: SecurityRule, b: SecurityRule): boolean {
    if (a.action === b.action || a.priority !== b.priority || a.direction !== b.direction || a.protocol !== b.protocol) {
        return false;
    }
    if (a.port > b.toPort || b.port > a.toPort || !a.sides.some((s) => b.sides.includes(s))) {
        return false;
    }
    const cidrsA = a.peers.filter(isCidrPeer).map((p) => block(p.cidr));
    const cidrsB = b.peers.filter(isCidrPeer).map((p) => block(p.cidr));
    return cidrsA.some((x) => cidrsB.some((y) => overlaps(x, y)));
}

/** Problems of extra rules that need no other setting (reported by the schema with their config key). */
export function ruleIssues(rules: readonly Rule[]): SecurityGroupIssue[] {
    const issues: SecurityGroupIssue[] = [];
    rules.forEach((r, i) => {
        if (r.toPort !== undefined && r.toPort < r.port) {
            issues.push({ path: [i, "toPort"], message: `toPort ${r.toPort} is below port ${r.port}: a range runs from port up to toPort` });
        }
        if (r.action === "deny" && (r.namespaceSelector || r.podSelector)) {
            issues.push({
                path: [i, "action"],
                message: "a deny rule cannot use in-cluster selectors: Kubernetes NetworkPolicies only allow. Narrow the allow rules instead, or deny CIDRs",
            });
        }
    });
    // Contradictions among the extra rules themselves (no service ports needed). The schema runs this
    // even when a field failed its own check: such rules are reported already and skipped here.
    const wellFormed = (r: Rule) =>
        Number.isInteger(r.port) && (r.toPort === undefined || Number.isInteger(r.toPort)) && r.cidrs.every((c) => parseCidr(c)?.hostBits === false);
    if (issues.length === 0 && rules.every(wellFormed)) {
        const normalised = rules.map((r, i) => ({ ...extraRule(r, i, []), sides: ["cluster", "server"] as Side[] }));
        normalised.forEach((a, i) =>
            normalised.slice(i + 1).forEach((b, k) => {
                if (contradiction(a, b)) {
                    issues.push({ path: [i + 1 + k, "priority"], message: contradictionMessage(b, a) });
                }
            }),
        );
    }
    return issues;
}

function contradictionMessage(rule: SecurityRule, other: SecurityRule): string {
    return (
        `${describeRule(rule)} contradicts ${describeRule(other)}: both match the same traffic at the same priority with opposite actions. ` +
        "Give the one that should win a lower priority number"
    );
}

/**
 * Every problem of the security group that needs the service ports: ingress ports no service declares,
 * rules that would apply nowhere, contradictions with the built-in rules. Paths are config paths.
 */
export function securityGroupIssues(input: SecurityPolicyInput): SecurityGroupIssue[] {
    const services = servicePorts(input);
    const issues: SecurityGroupIssue[] = ruleIssues(input.settings.extraRules).map((i) => ({ ...i, path: ["securityGroup", "extraRules", ...i.path] }));
    if (issues.length > 0) {
        return issues; // the rules themselves are malformed: cross checks would only repeat them
    }
    issues.push(...safeDefaultIssues(input));
    const declared = services.map((s) => `${s.port}/${s.protocol} ${s.name}${s.targetPort !== undefined && s.targetPort !== s.port ? ` (pod port ${s.targetPort})` : ""}`).join(", ");
    const extras = input.settings.extraRules.map((r, i) => extraRule(r, i, services));
    extras.forEach((r, i) => {
        const raw = input.settings.extraRules[i];
        if (r.direction !== "ingress") {
            return;
        }
        const undeclared: number[] = [];
        for (let p = r.port; p <= r.toPort && undeclared.length < 4; p++) {
            if (servedSides(r.protocol, p, services).length === 0) {
                undeclared.push(p);
            }
        }
        if (undeclared.length > 0) {
            const what = r.port === r.toPort ? `port ${portText(r)}` : `range ${portText(r)} includes ${undeclared.join(", ")}${undeclared.length === 4 ? ", ..." : ""}, which`;
            issues.push({
                path: [...(r.path ?? []), "port"],
                message: `${what} is not served by any service of this stack (declared: ${declared}): opening it would expose nothing or something unmanaged. Remove the rule or fix the port`,
            });
            return;
        }
        if (r.sides.length === 0) {
            issues.push({
                path: [...(r.path ?? []), raw.namespaceSelector ? "namespaceSelector" : "podSelector"],
                message: `in-cluster selectors apply only on Kubernetes, but ${portText(r)} is served only on the server: use cidrs`,
            });
        }
    });
    const all = [...builtinRules(input), ...extras];
    all.forEach((a, i) =>
        all.slice(i + 1).forEach((b) => {
            if (b.path && !a.path && contradiction(a, b)) {
                issues.push({ path: [...b.path, "priority"], message: contradictionMessage(b, a) });
            }
        }),
    );
    return issues;
}

/** True for a CIDR matching every address of its family (0.0.0.0/0, ::/0). */
function isEverywhere(cidr: string): boolean {
    return parseCidr(cidr)?.prefix === 0;
}

/**
 * The safe-default rules (docs/HARDENING.md): the server's SSH sources must be listed (no silent
 * 0.0.0.0/0), prod never opens SSH to everyone, an extra rule may not open the SSH port wider than
 * sshCidrs, and with the gateway in front nothing but the gateway reaches Triton's pods.
 */
export function safeDefaultIssues(input: SecurityPolicyInput): SecurityGroupIssue[] {
    const s = input.settings;
    const issues: SecurityGroupIssue[] = [];
    if (input.server) {
        if (s.sshCidrs.length === 0) {
            issues.push({
                path: ["securityGroup", "sshCidrs"],
                message:
                    "the server's SSH port needs the addresses allowed to administer it: set securityGroup.sshCidrs to your operators' and CI's CIDRs (e.g. [198.51.100.0/24]). There is no default: 0.0.0.0/0 would open SSH to the internet",
            });
        }
        if ((input.environment ?? "dev") === "prod") {
            s.sshCidrs.forEach((c, i) => {
                if (isEverywhere(c)) {
                    issues.push({ path: ["securityGroup", "sshCidrs", i], message: `prod refuses SSH from ${c} (the whole internet): list the operators' and CI's CIDRs` });
                }
            });
        }
        const sshPort = input.server.sshPort;
        const allowed = s.sshCidrs.map((c) => block(c));
        s.extraRules.forEach((r, i) => {
            if (r.direction !== "ingress" || r.action !== "allow" || r.protocol !== "tcp" || sshPort < r.port || sshPort > (r.toPort ?? r.port)) {
                return;
            }
            if ((r.namespaceSelector || r.podSelector) && r.cidrs.length === 0) {
                return; // in-cluster peers: never the server
            }
            const sources = r.cidrs.length === 0 ? ANYWHERE : r.cidrs;
            const wider = sources.filter((c) => !allowed.some((a) => contains(a, block(c))));
            if (wider.length > 0) {
                issues.push({
                    path: ["securityGroup", "extraRules", i, "cidrs"],
                    message: `opens the SSH port ${sshPort} to ${wider.join(", ")}, wider than securityGroup.sshCidrs (${s.sshCidrs.join(", ") || "none"}): SSH sources belong in sshCidrs, or narrow the rule`,
                });
            }
        });
    }
    if (input.gatewayFronted) {
        if (s.serviceNamespaces.length > 0) {
            issues.push({
                path: ["securityGroup", "serviceNamespaces"],
                message:
                    "with the gateway enabled only the gateway reaches the model service: list the ingress controller's namespace in gateway.ingressNamespaces instead, or disable the gateway",
            });
        }
        s.extraRules.forEach((r, i) => {
            if (r.direction !== "ingress" || r.action !== "allow") {
                return;
            }
            const served: Side[] = [];
            for (let p = r.port; p <= (r.toPort ?? r.port) && p <= 65535; p++) {
                if (servedSides(r.protocol, p, servicePorts(input)).includes("cluster")) {
                    served.push("cluster");
                    break;
                }
            }
            if (served.length > 0) {
                issues.push({
                    path: ["securityGroup", "extraRules", i],
                    message:
                        "with the gateway enabled only the gateway (and the monitoring namespace, for metrics) may reach Triton's pods: this rule would open them directly, past the token checks. Add a gateway route instead, or disable the gateway",
                });
            }
        });
    }
    return issues;
}

/**
 * Builds the security group from the definition. Throws a SecurityGroupError listing every problem, so
 * an invalid rule never reaches a NetworkPolicy or a firewall.
 */
export function buildSecurityPolicy(input: SecurityPolicyInput): SecurityPolicy {
    const issues = securityGroupIssues(input);
    if (issues.length > 0) {
        throw new SecurityGroupError(issues);
    }
    const services = servicePorts(input);
    const rules = [...builtinRules(input), ...input.settings.extraRules.map((r, i) => extraRule(r, i, services))]
        .map((r, order) => ({ r, order }))
        .sort((x, y) => x.r.priority - y.r.priority || x.order - y.order)
        .map(({ r }) => r);
    return {
        services,
        rules,
        serverEgress: input.settings.serverEgress,
        monitoringNamespace: input.settings.monitoringNamespace,
        sshPort: input.server?.sshPort,
    };
}

/** The policy inputs from a stack definition (the fields the security group reads). */
export function securityPolicyInput(def: {
    securityGroup: SecurityGroupSettings;
    modelService: { servicePort: number; ports: { http: number; grpc: number; metrics: number } };
    objectStorage: { endpoint: string };
    server?: { sshPort: number };
    environment?: string;
    cluster?: { mode: string };
    gateway?: { enabled: boolean };
}): SecurityPolicyInput {
    return {
        settings: def.securityGroup,
        servicePort: def.modelService.servicePort,
        tritonPorts: def.modelService.ports,
        objectStorageEndpoint: def.objectStorage.endpoint,
        server: def.server ? { sshPort: def.server.sshPort } : undefined,
        environment: def.environment,
        gatewayFronted: def.gateway !== undefined && def.gateway.enabled && def.cluster?.mode !== "none",
    };
}
