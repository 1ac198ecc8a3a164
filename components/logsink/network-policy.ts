// NetworkPolicies of the logging namespace, as pure data: default deny both ways, then what the
// shipper and the retention Job need and nothing else.
//
// DNS and object-storage egress are not derived again here: they are the security group's own rules
// (components/network builtinRules: DNS from securityGroup.dns, the store's port and peers from
// objectStorage.endpoint, securityGroup.objectStorageNamespace and securityGroup.objectStorageCidrs),
// with the security group's deny rules still applied (renderRules). The model namespace and the logging
// namespace therefore always reach the same store the same way.
import { ANYWHERE, NAMESPACE_NAME_LABEL, NetworkPolicyDoc, NetworkPolicyRuleSpec, renderRules, SecurityPolicy, SecurityRule } from "../network";
import { SHIPPER } from "./config";

/** Ports of the Kubernetes API: the `kubernetes` Service (443) and the API server endpoints behind it (6443 on most clusters). */
export const KUBERNETES_API_PORTS = [443, 6443] as const;

/** Origins (components/network/rules.ts builtinRules) of the egress every pod of the sink needs. */
function isDnsOrObjectStore(r: SecurityRule): boolean {
    return r.origin.startsWith("baseline dns/") || r.origin === "baseline object storage";
}

/**
 * The security group's egress rules to DNS and to the object store, rendered as NetworkPolicy egress
 * rules (deny rules of the security group applied; its other extra allow rules are the model service's,
 * not the sink's).
 */
export function dnsAndObjectStoreEgress(policy: SecurityPolicy): NetworkPolicyRuleSpec[] {
    const rules = policy.rules.filter((r) => r.direction === "egress" && r.sides.includes("cluster") && (r.action === "deny" || isDnsOrObjectStore(r)));
    return renderRules({ ...policy, rules }, "egress");
}

/** Inputs of {@link logSinkNetworkPolicies}. */
export interface LogSinkNetworkPolicyArgs {
    /** The stack's security group (buildSecurityPolicy(securityPolicyInput(def))). */
    policy: SecurityPolicy;
    /** Labels selecting the shipper's pods. */
    shipperSelector: Record<string, string>;
    /** Labels selecting the retention Job's pods; unset when no Job is declared (retentionMode manual). */
    retentionSelector?: Record<string, string>;
    /** CIDRs of the Kubernetes API server endpoints (logSink.apiServerCidrs); empty: any address. */
    apiServerCidrs: readonly string[];
}

/**
 * The logging namespace's NetworkPolicies: default deny for ingress and egress; the shipper reachable
 * on its metrics and health ports only from the monitoring namespace, and reaching only DNS, the
 * Kubernetes API (its k8sattributes processor) and the object store; the retention Job reaching only
 * DNS and the object store.
 */
export function logSinkNetworkPolicies(args: LogSinkNetworkPolicyArgs): NetworkPolicyDoc[] {
    const storeAndDns = dnsAndObjectStoreEgress(args.policy);
    const apiPeers = (args.apiServerCidrs.length > 0 ? args.apiServerCidrs : ANYWHERE).map((cidr) => ({ ipBlock: { cidr } }));
    const docs: NetworkPolicyDoc[] = [
        { role: "default-deny", spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
        {
            role: "shipper",
            spec: {
                podSelector: { matchLabels: { ...args.shipperSelector } },
                policyTypes: ["Ingress", "Egress"],
                ingress: [
                    {
                        ports: [SHIPPER.metricsPort, SHIPPER.healthPort].map((port) => ({ protocol: "TCP" as const, port })),
                        from: [{ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: args.policy.monitoringNamespace } } }],
                    },
                ],
                egress: [...storeAndDns, { ports: KUBERNETES_API_PORTS.map((port) => ({ protocol: "TCP" as const, port })), to: apiPeers }],
            },
        },
    ];
    if (args.retentionSelector) {
        docs.push({
            role: "retention",
            spec: { podSelector: { matchLabels: { ...args.retentionSelector } }, policyTypes: ["Egress"], egress: storeAndDns },
        });
    }
    return docs;
}
