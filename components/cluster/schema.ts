// Which Kubernetes cluster the program talks to (config key `cluster`).
import { z } from "zod";

export const clusterSchema = z.discriminatedUnion("mode", [
    z.strictObject({
        /**
         * Render manifests to a folder instead of calling a cluster (no kubeconfig needed). Secrets are
         * written there in plain text: the folder must stay out of version control.
         */
        mode: z.literal("render"),
        /** Folder, relative to the project; `<stack>` is replaced by the stack name. */
        directory: z.string().min(1).default("out/manifests/<stack>"),
    }),
    z.strictObject({
        /** Talk to a real cluster. kubeconfig and context fall back to KUBECONFIG and the current context. */
        mode: z.literal("kubeconfig"),
        /** Path to a kubeconfig file, or its contents. Unset: the environment's (KUBECONFIG, ~/.kube/config). */
        kubeconfig: z.string().optional(),
        context: z.string().optional(),
    }),
    z.strictObject({
        /** No Kubernetes at all (the lightweight-server-only stack). */
        mode: z.literal("none"),
    }),
]);
export type ClusterSettings = z.infer<typeof clusterSchema>;
