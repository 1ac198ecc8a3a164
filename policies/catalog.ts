// Every policy of the pack, in documentation order, and the pack's identity. Kept apart from
// index.ts (whose `new PolicyPack` starts the analyzer server) so tests, the PR report and the docs
// generator can import the policies.
import { PackPolicy } from "./lib/policy";
import { networkPolicies } from "./network";
import { operationsPolicies } from "./operations";
import { podSecurityPolicies } from "./pod-security";
import { secretPolicies } from "./secrets";
import { serverPolicies } from "./server";
import { workloadPolicies } from "./workloads";

/** The pack's name: the `policyPackName` of every violation it reports. */
export const PACK_NAME = "triton-platform";

export const PACK_DESCRIPTION =
    "Review policies of the triton-platform program: the deployment guide's requirements (R3, R5, R6, R13, R14, R16) and the best public Kubernetes checks.";

/** Every policy, in documentation order. */
export const policies: PackPolicy[] = [
    ...workloadPolicies,
    ...podSecurityPolicies,
    ...networkPolicies,
    ...secretPolicies,
    ...serverPolicies,
    ...operationsPolicies,
];
