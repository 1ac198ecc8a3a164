// Settings of the security group (config key `securityGroup`): R3, R6.
import { z } from "zod";
import { cidr, int, port } from "../../stack/schema-kit";

export const ruleSchema = z.strictObject({
    direction: z.enum(["ingress", "egress"]),
    protocol: z.enum(["tcp", "udp"]).default("tcp"),
    /** A single port, or the first port of a range ending at `toPort`. */
    port: port,
    toPort: port.optional(),
    /** CIDR peers; empty with no selectors means anywhere. */
    cidrs: z.array(cidr).default([]),
    /** In-cluster peers (Kubernetes only): namespace and pod label selectors. */
    namespaceSelector: z.record(z.string(), z.string()).optional(),
    podSelector: z.record(z.string(), z.string()).optional(),
    /** R6: service rules at 100, above the defaults. Lower numbers win. */
    priority: int(1, 4096).default(100),
    description: z.string().min(1),
});
export type Rule = z.infer<typeof ruleSchema>;

export const securityGroupSchema = z
    .strictObject({
        /** Administration SSH (R3, R6): CIDRs allowed to reach 22. */
        sshCidrs: z.array(cidr).default(["0.0.0.0/0"]),
        /** Who may reach the service ports 80 and 18789. */
        serviceCidrs: z.array(cidr).default(["0.0.0.0/0"]),
        /** Extra rules beyond the guide's 22/80/18789. */
        extraRules: z.array(ruleSchema).default([]),
        /** Namespace of the monitoring stack allowed to scrape metrics. */
        monitoringNamespace: z.string().default("monitoring"),
    })
    .prefault({});
export type SecurityGroupSettings = z.infer<typeof securityGroupSchema>;
