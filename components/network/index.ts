// The security group (R3, R6): one rule set, rendered as Kubernetes NetworkPolicies (declared here) and as
// the server's nftables ruleset (text the LightweightServer installs).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { recommendedLabels } from "../common/labels";
import { renderNetworkPolicies } from "./networkpolicy";
import { renderNftables } from "./nftables";
import { SecurityPolicy } from "./rules";

export * from "./cidr";
export * from "./networkpolicy";
export * from "./nftables";
export * from "./rules";
export { ruleSchema, securityGroupSchema } from "./schema";
export type { Rule, SecurityGroupSettings } from "./schema";

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
