// Composes every component of the platform from one StackDefinition. index.ts only calls this; tests
// call it under mocks with the dev and prod definitions.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { clusterProvider } from "../components/cluster/provider";
import { recommendedLabels } from "../components/common/labels";
import { StackDefinition, StackSecrets } from "./definition";

/** Stack outputs of the platform (all non-secret). */
export type PlatformOutputs = Record<string, pulumi.Input<unknown>>;

/** Declares the platform for one stack. */
export function deployPlatform(def: StackDefinition, secrets: StackSecrets): PlatformOutputs {
    const instance = `${def.project}-${def.stack}`;
    const outputs: PlatformOutputs = { environment: def.environment };

    // --- keys (components/keys) ---
    // --- end keys ---

    if (def.cluster.mode !== "none") {
        const provider = clusterProvider("cluster", def.cluster, def.stack);
        // The namespace keeps its configured name (no auto-naming): NetworkPolicies, alert rules and the
        // operators' kubectl commands refer to it by name.
        const namespace = new k8s.core.v1.Namespace(
            "namespace",
            {
                metadata: {
                    name: def.namespace,
                    labels: {
                        ...recommendedLabels({ name: "triton", instance, component: "namespace", extra: def.labels }),
                        // Pod Security Admission: the model service meets the restricted profile.
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/enforce-version": "latest",
                    },
                },
            },
            { provider },
        );
        outputs.namespace = namespace.metadata.name;

        // --- model service (components/model-service) ---
        // --- end model service ---

        // --- security group, Kubernetes side (components/network) ---
        // --- end security group ---

        // --- log sink (components/logsink) ---
        // --- end log sink ---

        // --- monitoring (components/observability) ---
        // --- end monitoring ---
    }

    // --- lightweight server (components/server) ---
    // --- end lightweight server ---

    void secrets;
    return outputs;
}
