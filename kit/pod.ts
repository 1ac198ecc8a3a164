// Pod-spec pieces every workload of the platform shares, so the hardening and the zone placement the
// policy pack checks are written once.
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

type PodSpec = k8s.types.input.core.v1.PodSpec;

/** The restricted Pod Security profile for one container: non-root, read-only, no capabilities. */
export const hardenedContainer: k8s.types.input.core.v1.SecurityContext = {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    privileged: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
};

/**
 * Multi-AZ placement (R13): pods only in the declared zones, spread evenly across them (maxSkew 1,
 * DoNotSchedule: never pile up in one zone), and softly across nodes so one node loss takes at most
 * one replica where the cluster has room.
 */
export function zonePlacement(zones: string[], selector: Record<string, string>): Pick<PodSpec, "affinity" | "topologySpreadConstraints"> {
    return {
        affinity: {
            nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                    nodeSelectorTerms: [{ matchExpressions: [{ key: "topology.kubernetes.io/zone", operator: "In", values: zones }] }],
                },
            },
        },
        // matchLabelKeys pod-template-hash: each revision spreads on its own. Counting the old
        // revision's pods too let a rollout with a zone unavailable (cordoned, full) place two new pods in
        // one zone while the old pod of the lost zone was retired: DoNotSchedule held at every step,
        // and the rollout still ended with a zone empty and another doubled (seen on a real scheduler,
        // test/e2e/cluster.test.ts). Now the rollout waits with a Pending pod instead.
        topologySpreadConstraints: [
            {
                maxSkew: 1,
                topologyKey: "topology.kubernetes.io/zone",
                whenUnsatisfiable: "DoNotSchedule",
                labelSelector: { matchLabels: selector },
                matchLabelKeys: ["pod-template-hash"],
            },
            {
                maxSkew: 1,
                topologyKey: "kubernetes.io/hostname",
                whenUnsatisfiable: "ScheduleAnyway",
                labelSelector: { matchLabels: selector },
                matchLabelKeys: ["pod-template-hash"],
            },
        ],
    };
}

/**
 * The Deployment spec of a stateless, replicated service (the gateway, the dialogue service): rolling
 * updates that never take a serving pod away first (maxUnavailable 0, one surge pod), the last three
 * ReplicaSets kept for rollback (R16), and a pod template whose annotations roll the pods when a
 * mounted configuration changes.
 */
export function statelessDeploymentSpec(a: {
    replicas: number;
    selector: Record<string, string>;
    podLabels: Record<string, string>;
    podAnnotations: Record<string, pulumi.Input<string>>;
    podSpec: PodSpec;
}): k8s.types.input.apps.v1.DeploymentSpec {
    return {
        replicas: a.replicas,
        revisionHistoryLimit: 3,
        selector: { matchLabels: a.selector },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: { metadata: { labels: a.podLabels, annotations: a.podAnnotations }, spec: a.podSpec },
    };
}
