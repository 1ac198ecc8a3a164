import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { ClusterSettings } from "./schema";

/** The folder render mode writes to for a stack, relative to the project. */
export function renderDirectory(settings: Extract<ClusterSettings, { mode: "render" }>, stack: string): string {
    // Relative to the project: an absolute path would differ per machine and replace the provider.
    return path.normalize(settings.directory.replace(/<stack>/g, stack));
}

/**
 * The explicit Kubernetes provider every Kubernetes resource of the stack uses (never the ambient
 * default provider, which would silently follow whatever kubeconfig context the operator has).
 * Render mode writes manifests to a folder and needs no cluster; kubeconfig mode talks to one.
 */
export function clusterProvider(
    name: string,
    settings: Exclude<ClusterSettings, { mode: "none" }>,
    stack: string,
    opts?: pulumi.CustomResourceOptions,
): k8s.Provider {
    if (settings.mode === "render") {
        return new k8s.Provider(name, { renderYamlToDirectory: renderDirectory(settings, stack) }, opts);
    }
    return new k8s.Provider(
        name,
        {
            kubeconfig: settings.kubeconfig,
            context: settings.context,
            // Fail a preview against a cluster we cannot reach instead of silently showing no diff.
            enableServerSideApply: true,
        },
        opts,
    );
}
