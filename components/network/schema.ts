// Settings of the security group (config key `securityGroup`): R3, R6. One rule model rendered twice:
// Kubernetes NetworkPolicies and the server's nftables ruleset (components/network/rules.ts).
import { z } from "zod";
import { cidr, dnsLabel, int, labelMap } from "../../kit/schema";
import { parseCidr } from "./cidr";
import { ruleIssues } from "./rules";

/** A rule port: 1-65535. Port 0 is reserved and cannot be opened or matched meaningfully. */
const rulePort = z.preprocess(
    (v) => (typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v),
    z
        .number({ error: "expected a port number" })
        .int({ error: "expected a whole port number" })
        .min(1, { error: "port 0 is reserved and cannot be opened: use a port from 1 to 65535" })
        .max(65535, { error: "ports end at 65535" }),
);

/** A CIDR block whose address has no bits beyond the prefix (10.0.0.0/8, not 10.0.0.1/8). */
const ruleCidr = cidr.superRefine((value, ctx) => {
    const parsed = parseCidr(value);
    if (parsed?.hostBits) {
        ctx.addIssue({ code: "custom", message: `${value} has host bits set beyond /${parsed.prefix}: did you mean ${parsed.text}?` });
    }
});

/** matchLabels of a NetworkPolicy peer: valid label keys and values, or the API server refuses the policy at deploy time. */
const labelSelector = labelMap;

export const ruleSchema = z.strictObject({
    direction: z.enum(["ingress", "egress"]),
    /** allow or deny. A deny wins over allows with a larger priority number (R6 security-group semantics). */
    action: z.enum(["allow", "deny"]).default("allow"),
    protocol: z.enum(["tcp", "udp"]).default("tcp"),
    /** A single port, or the first port of a range ending at `toPort`. Ingress ports must be served by a service. */
    port: rulePort,
    /** Last port of a range (inclusive). */
    toPort: rulePort.optional(),
    /** CIDR peers (sources for ingress, destinations for egress). Empty with no selectors: anywhere. */
    cidrs: z.array(ruleCidr).default([]),
    /** In-cluster peers (Kubernetes only): pods in namespaces matching these labels. */
    namespaceSelector: labelSelector.optional(),
    /** In-cluster peers (Kubernetes only): pods matching these labels (in the stack's namespace unless namespaceSelector is set). */
    podSelector: labelSelector.optional(),
    /** Lower numbers are evaluated first. R6: the service rules sit at 100. @default 100 */
    priority: int(1, 4096).default(100),
    description: z.string().min(1, { error: "describe what the rule is for" }),
});
export type Rule = z.infer<typeof ruleSchema>;

export const securityGroupSchema = z
    .strictObject({
        /**
         * Administration SSH (R3, R6): CIDRs allowed to reach the server's SSH port. Required on the server
         * path (no default: the whole internet is never assumed); prod refuses 0.0.0.0/0 and ::/0.
         */
        sshCidrs: z.array(ruleCidr).default([]),
        /** Who may reach the service ports 80 and 18789. */
        serviceCidrs: z.array(ruleCidr).default(["0.0.0.0/0"]),
        /** Namespaces whose pods may reach the model service on 18789 (Kubernetes only), e.g. the ingress controller's. */
        serviceNamespaces: z.array(dnsLabel).default([]),
        /** Extra rules beyond the guide's 22/80/18789. */
        extraRules: z.array(ruleSchema).default([]),
        /** Namespace of the monitoring stack allowed to scrape metrics. */
        monitoringNamespace: dnsLabel.default("monitoring"),
        /** Cluster DNS the workloads may query (egress 53/udp and 53/tcp). */
        dns: z
            .strictObject({
                namespace: dnsLabel.default("kube-system"),
                podSelector: labelSelector.default({ "k8s-app": "kube-dns" }),
                /** Extra DNS server addresses, e.g. NodeLocal DNSCache's 169.254.20.10/32. */
                cidrs: z.array(ruleCidr).default([]),
            })
            .prefault({}),
        /**
         * Where the object-storage endpoint lives. NetworkPolicies match addresses, not host names: a host-name
         * endpoint (S3) is reached on its port at these CIDRs (anywhere when empty); an IP endpoint at that IP.
         */
        objectStorageCidrs: z.array(ruleCidr).default([]),
        /**
         * In-cluster object store (e.g. MinIO): the namespace it runs in; replaces the CIDR peers. Derived
         * from an endpoint such as http://minio.storage.svc.cluster.local:9000 when unset.
         */
        objectStorageNamespace: dnsLabel.optional(),
        /**
         * Server egress (R6 "outbound restricted"): `restricted` lets the host and its containers open only DNS,
         * NTP, HTTP(S) (packages, image registry) and declared egress rules; `open` adds no egress filter.
         */
        serverEgress: z.enum(["restricted", "open"]).default("restricted"),
    })
    .superRefine((sg, ctx) => {
        // Rule-local problems are reported here, with their config key; problems that need the service ports
        // (undeclared ports, overlaps with the service rules) are checked by securityGroupIssues().
        for (const issue of ruleIssues(sg.extraRules)) {
            ctx.addIssue({ code: "custom", path: ["extraRules", ...issue.path], message: issue.message });
        }
    })
    .prefault({});
export type SecurityGroupSettings = z.infer<typeof securityGroupSchema>;
