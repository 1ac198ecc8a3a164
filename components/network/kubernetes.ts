// Renders the security group as Kubernetes NetworkPolicies: default deny both ways in the namespace, then
// one allow policy per direction. NetworkPolicies can only allow, so deny rules are applied by
// subtraction: a higher-precedence deny CIDR becomes an `ipBlock.except` of (or removes) the allowed
// blocks on the ports it covers.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { recommendedLabels } from "../../kit/labels";
import { Block, block, contains } from "./cidr";
import { isCidrPeer, MODEL_SERVER_SELECTOR, Peer, Protocol, SecurityPolicy, SecurityRule } from "./rules";
import { renderNftables } from "./server";

/** The parts of a NetworkPolicy spec this program writes (structurally a k8s NetworkPolicySpec input). */
export interface NetworkPolicyPeerSpec {
    ipBlock?: { cidr: string; except?: string[] };
    namespaceSelector?: { matchLabels: Record<string, string> };
    podSelector?: { matchLabels: Record<string, string> };
}
export interface NetworkPolicyPortSpec {
    protocol: "TCP" | "UDP";
    port: number;
    endPort?: number;
}
export interface NetworkPolicyRuleSpec {
    ports: NetworkPolicyPortSpec[];
    from?: NetworkPolicyPeerSpec[];
    to?: NetworkPolicyPeerSpec[];
}
export interface NetworkPolicySpecDoc {
    podSelector: { matchLabels?: Record<string, string> };
    policyTypes: ("Ingress" | "Egress")[];
    ingress?: NetworkPolicyRuleSpec[];
    egress?: NetworkPolicyRuleSpec[];
}
/** One NetworkPolicy to declare: `role` names it (`${name}-${role}`). */
export interface NetworkPolicyDoc {
    role: string;
    spec: NetworkPolicySpecDoc;
}

interface CidrPeer {
    block: Block;
    except: Block[];
}
interface Segment {
    from: number;
    to: number;
    cidrs: CidrPeer[];
    selectors: Exclude<Peer, { cidr: string }>[];
}

/** Removes the addresses of `deny` from a CIDR peer: gone when covered, an `except` when inside. */
function subtract(peers: CidrPeer[], deny: Block): CidrPeer[] {
    const out: CidrPeer[] = [];
    for (const p of peers) {
        if (contains(deny, p.block)) {
            continue;
        }
        if (contains(p.block, deny) && !p.except.some((e) => contains(e, deny))) {
            out.push({ block: p.block, except: [...p.except.filter((e) => !contains(deny, e)), deny] });
        } else {
            out.push(p);
        }
    }
    return out;
}

/** The allow rule's port segments after every deny rule that takes precedence over it. */
function applyDenies(allow: SecurityRule, denies: SecurityRule[]): Segment[] {
    let segments: Segment[] = [
        {
            from: allow.port,
            to: allow.toPort,
            cidrs: allow.peers.filter(isCidrPeer).map((p) => ({ block: block(p.cidr), except: [] })),
            selectors: allow.peers.filter((p): p is Exclude<Peer, { cidr: string }> => !isCidrPeer(p)),
        },
    ];
    for (const d of denies) {
        if (d.priority >= allow.priority || d.protocol !== allow.protocol || d.direction !== allow.direction) {
            continue;
        }
        const denyBlocks = d.peers.filter(isCidrPeer).map((p) => block(p.cidr));
        const next: Segment[] = [];
        for (const s of segments) {
            const lo = Math.max(s.from, d.port);
            const hi = Math.min(s.to, d.toPort);
            if (lo > hi) {
                next.push(s);
                continue;
            }
            if (s.from < lo) next.push({ ...s, to: lo - 1 });
            next.push({ ...s, from: lo, to: hi, cidrs: denyBlocks.reduce(subtract, s.cidrs) });
            if (hi < s.to) next.push({ ...s, from: hi + 1 });
        }
        segments = next;
    }
    return segments.filter((s) => s.cidrs.length > 0 || s.selectors.length > 0);
}

function peerSpec(p: Exclude<Peer, { cidr: string }>): NetworkPolicyPeerSpec {
    return {
        ...(p.namespaceSelector ? { namespaceSelector: { matchLabels: p.namespaceSelector } } : {}),
        ...(p.podSelector ? { podSelector: { matchLabels: p.podSelector } } : {}),
    };
}

function protocolSpec(p: Protocol): "TCP" | "UDP" {
    return p === "tcp" ? "TCP" : "UDP";
}

/** The NetworkPolicy rules of one direction, denies applied, service target ports added. */
export function renderRules(policy: SecurityPolicy, direction: "ingress" | "egress"): NetworkPolicyRuleSpec[] {
    const rules = policy.rules.filter((r) => r.direction === direction && r.sides.includes("cluster"));
    const denies = rules.filter((r) => r.action === "deny");
    const out: NetworkPolicyRuleSpec[] = [];
    for (const allow of rules.filter((r) => r.action === "allow")) {
        for (const seg of applyDenies(allow, denies)) {
            const ports: NetworkPolicyPortSpec[] = [{ protocol: protocolSpec(allow.protocol), port: seg.from, ...(seg.to > seg.from ? { endPort: seg.to } : {}) }];
            if (direction === "ingress") {
                // A Service port reaches the pod on its target port: NetworkPolicies see the pod port.
                for (const svc of policy.services) {
                    const target = svc.targetPort;
                    if (target !== undefined && svc.sides.includes("cluster") && svc.protocol === allow.protocol && svc.port >= seg.from && svc.port <= seg.to && (target < seg.from || target > seg.to)) {
                        if (!ports.some((p) => p.port === target)) ports.push({ protocol: protocolSpec(svc.protocol), port: target });
                    }
                }
            }
            const peers: NetworkPolicyPeerSpec[] = [
                ...seg.cidrs.map((c) => ({ ipBlock: { cidr: c.block.text, ...(c.except.length > 0 ? { except: c.except.map((e) => e.text) } : {}) } })),
                ...seg.selectors.map(peerSpec),
            ];
            out.push(direction === "ingress" ? { ports, from: peers } : { ports, to: peers });
        }
    }
    return out;
}

/**
 * The NetworkPolicies of the namespace: default deny for ingress and egress, the model service's
 * ingress (18789 from the declared sources, metrics only from the monitoring namespace, declared extras),
 * and the namespace's egress (DNS, the object store, declared extras).
 */
export function renderNetworkPolicies(policy: SecurityPolicy): NetworkPolicyDoc[] {
    return [
        { role: "default-deny", spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
        {
            role: "model-server-ingress",
            spec: { podSelector: { matchLabels: { ...MODEL_SERVER_SELECTOR } }, policyTypes: ["Ingress"], ingress: renderRules(policy, "ingress") },
        },
        { role: "egress", spec: { podSelector: {}, policyTypes: ["Egress"], egress: renderRules(policy, "egress") } },
    ];
}

/** Arguments of a SecurityGroup. */
export interface SecurityGroupArgs {
    /** Namespace the NetworkPolicies are declared in (the stack's namespace). */
    namespace: pulumi.Input<string>;
    /** The stack's explicit Kubernetes provider. */
    provider: k8s.Provider;
    /** app.kubernetes.io/instance of the stack, e.g. `triton-platform-prod`. */
    instance: string;
    /** User labels from the definition, added after the recommended ones. */
    labels?: Record<string, string>;
    /** The validated security group, from buildSecurityPolicy(securityPolicyInput(def)). */
    policy: SecurityPolicy;
}

/**
 * The platform's security group on Kubernetes: default deny for ingress and egress in the namespace,
 * the model service reachable on 18789 from the declared sources, metrics only from the monitoring
 * namespace, egress only to DNS, the object store and declared destinations. `nftables` is the same rule
 * set as the server's host firewall.
 */
export class SecurityGroup extends pulumi.ComponentResource {
    /** Names of the NetworkPolicies (auto-named). */
    public readonly policyNames: pulumi.Output<string[]>;
    /** The same rules as an nftables ruleset for the lightweight server. */
    public readonly nftables: pulumi.Output<string>;

    constructor(name: string, args: SecurityGroupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("triton-platform:network:SecurityGroup", name, {}, opts);
        const labels = recommendedLabels({ name: "triton", instance: args.instance, component: "security-group", extra: args.labels });
        const policies = renderNetworkPolicies(args.policy).map(
            (doc) =>
                new k8s.networking.v1.NetworkPolicy(
                    `${name}-${doc.role}`,
                    { metadata: { namespace: args.namespace, labels }, spec: doc.spec },
                    { parent: this, provider: args.provider },
                ),
        );
        this.policyNames = pulumi.all(policies.map((p) => p.metadata.name));
        this.nftables = pulumi.output(renderNftables(args.policy));
        this.registerOutputs({ policyNames: this.policyNames, nftables: this.nftables });
    }
}
