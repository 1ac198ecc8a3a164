// The scheduling priority of the per-node agents (log shipper, node exporter). A DaemonSet pod is
// created for a node whether or not the node has room; at the default priority 0 it then waits behind
// the node's other pods, and a full node runs without its log shipper (R13: logs lost) or its node
// exporter (R14: the disk alert blind exactly when the disk fills). A PriorityClass above the workloads
// lets the scheduler preempt a workload pod for the agent instead. Pure: components declare the object.
import type * as k8s from "@pulumi/kubernetes";
import { recommendedLabels } from "./labels";

/**
 * Priority of the node agents: above every workload (0 unless a class says otherwise) and far below the
 * system classes (system-cluster-critical is 2000000000), which only cluster components may use.
 */
export const NODE_AGENT_PRIORITY = 1_000_000;

/** Arguments of a scheduling.k8s.io/v1 PriorityClass for a node agent (auto-named: it is referenced by output). */
export function nodeAgentPriorityClass(args: { instance: string; component: string; labels?: Record<string, string> }): k8s.scheduling.v1.PriorityClassArgs {
    return {
        metadata: { labels: recommendedLabels({ name: "triton", instance: args.instance, component: args.component, extra: args.labels }) },
        value: NODE_AGENT_PRIORITY,
        globalDefault: false,
        preemptionPolicy: "PreemptLowerPriority",
        description: `Node agent (${args.component}) of ${args.instance}: runs on every node, even a full one (preempts workload pods).`,
    };
}
