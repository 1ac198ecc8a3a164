// Composes the platform from one StackDefinition: the generated keys and the security group's rule set,
// shared by both targets, then the platform on Kubernetes (stack/kubernetes.ts) and on the lightweight
// server (stack/server.ts), as the definition asks. index.ts only calls this; tests call it under mocks
// with the dev, prod, cluster and server definitions.
import * as pulumi from "@pulumi/pulumi";
import { Keys } from "../components/keys";
import { buildSecurityPolicy, SecurityPolicy, securityPolicyInput } from "../components/network";
import { StackDefinition, StackSecrets } from "./definition";
import { deployCluster } from "./kubernetes";
import { deployServerTarget } from "./server";

/** Stack outputs of the platform (all non-secret). */
export type PlatformOutputs = Record<string, pulumi.Input<unknown>>;

/** What both targets' compositions share: the definition, the secrets, the keys and the rule set. */
export interface PlatformInputs {
    def: StackDefinition;
    secrets: StackSecrets;
    keys: Keys;
    securityPolicy: SecurityPolicy;
    /** Static object-store keys when both secrets are set; otherwise workload identity or the host's chain. */
    staticKeys?: { accessKeyId: pulumi.Output<string>; secretAccessKey: pulumi.Output<string> };
    /** app.kubernetes.io/instance of the stack. */
    instance: string;
}

/** Declares the platform for one stack. */
export function deployPlatform(def: StackDefinition, secrets: StackSecrets): PlatformOutputs {
    const instance = `${def.project}-${def.stack}`;
    const outputs: PlatformOutputs = { environment: def.environment };
    // Static object-store keys when both secrets are set; otherwise workload identity (Kubernetes) or none.
    const staticKeys =
        secrets.objectStorageAccessKeyId && secrets.objectStorageSecretAccessKey
            ? { accessKeyId: secrets.objectStorageAccessKeyId, secretAccessKey: secrets.objectStorageSecretAccessKey }
            : undefined;

    // --- keys (components/keys) ---
    // One rule set (components/network), already checked with the definition; the cluster and server
    // blocks render it as NetworkPolicies and nftables.
    const securityPolicy = buildSecurityPolicy(securityPolicyInput(def));
    // Generated keys (R5, R10, R11), all secret Outputs; each consumer writes its own Secret or file.
    const keys = new Keys("keys", { settings: def.keys });
    outputs.keysExpireAt = keys.expiresAt;
    // The JWT rotation plan (which key signs, until when the previous one is accepted): a rotation shows
    // in a preview as a change of this output, besides the replaced key resources.
    outputs.keyRotation = keys.jwtRotation;
    outputs.jwtClaims = keys.claims;
    // --- end keys ---

    const inputs: PlatformInputs = { def, secrets, keys, securityPolicy, staticKeys, instance };
    if (def.cluster.mode !== "none") {
        // Kubernetes (stack/kubernetes.ts): the provider, the namespace and every concern's component.
        deployCluster(inputs, outputs);
    }

    if (def.server) {
        // The lightweight server (stack/server.ts): the host and every concern on it.
        deployServerTarget(inputs, def.server, outputs);
    }

    return outputs;
}
