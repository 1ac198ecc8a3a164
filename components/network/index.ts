// The security group (R3, R6): one rule set (rules.ts, from the definition's schema.ts), rendered for
// each target: Kubernetes NetworkPolicies declared by the SecurityGroup component (kubernetes.ts) and the
// lightweight server's nftables ruleset (server.ts, text the LightweightServer installs).
export * from "./cidr";
export * from "./kubernetes";
export * from "./rules";
export { ruleSchema, securityGroupSchema } from "./schema";
export type { Rule, SecurityGroupSettings } from "./schema";
export * from "./server";
