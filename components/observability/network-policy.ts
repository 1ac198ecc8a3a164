// NetworkPolicies of the node exporter's namespace, as pure data: default deny both ways, then its
// metrics port from the monitoring namespace only. The node exporter reads the node's files and opens
// no connection, so it gets no egress at all (not even DNS).
import { NAMESPACE_NAME_LABEL, NetworkPolicyDoc } from "../network";

/** Inputs of {@link nodeExporterNetworkPolicies}. */
export interface NodeExporterNetworkPolicyArgs {
    /** Labels selecting the node exporter's pods. */
    podSelector: Record<string, string>;
    /** The node exporter's metrics port. */
    port: number;
    /** Namespace of the Prometheus that scrapes it (securityGroup.monitoringNamespace). */
    monitoringNamespace: string;
}

/** Default deny in the namespace, and ingress to the metrics port from the monitoring namespace. */
export function nodeExporterNetworkPolicies(args: NodeExporterNetworkPolicyArgs): NetworkPolicyDoc[] {
    return [
        { role: "default-deny", spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
        {
            role: "node-exporter",
            spec: {
                podSelector: { matchLabels: { ...args.podSelector } },
                // Egress listed with no rule: nothing out, even if the default deny is removed.
                policyTypes: ["Ingress", "Egress"],
                ingress: [
                    {
                        ports: [{ protocol: "TCP", port: args.port }],
                        from: [{ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: args.monitoringNamespace } } }],
                    },
                ],
                egress: [],
            },
        },
    ];
}
