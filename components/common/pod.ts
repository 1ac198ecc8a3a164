// Pod-spec pieces every workload of the platform shares, so the hardening and the zone placement the
// policy pack checks are written once.
import * as k8s from "@pulumi/kubernetes";

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
        topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule", labelSelector: { matchLabels: selector } },
            { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: selector } },
        ],
    };
}
