// The one labels helper: Kubernetes recommended labels first, user labels last (they may add, not
// replace: a user label named like a recommended one is ignored so selectors stay stable).

/** Recommended-label inputs for one object. */
export interface LabelArgs {
    /** app.kubernetes.io/name: the application, e.g. `triton`. */
    name: string;
    /** app.kubernetes.io/instance: the stack's instance, e.g. `triton-platform-prod`. */
    instance: string;
    /** app.kubernetes.io/component: the role, e.g. `model-server`, `log-shipper`. */
    component: string;
    /** app.kubernetes.io/version, when the object runs a versioned image. */
    version?: string;
    /** User labels from the definition. */
    extra?: Record<string, string>;
}

/** Value of app.kubernetes.io/part-of for everything this program declares. */
export const PART_OF = "triton-platform";
/** Value of app.kubernetes.io/managed-by. */
export const MANAGED_BY = "pulumi";

/** Recommended labels for an object, with user labels after them. */
export function recommendedLabels(args: LabelArgs): Record<string, string> {
    const labels: Record<string, string> = {
        "app.kubernetes.io/name": args.name,
        "app.kubernetes.io/instance": args.instance,
        "app.kubernetes.io/component": args.component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    };
    if (args.version) {
        labels["app.kubernetes.io/version"] = labelValue(args.version);
    }
    for (const [k, v] of Object.entries(args.extra ?? {})) {
        if (!(k in labels)) {
            labels[k] = v;
        }
    }
    return labels;
}

/** The labels that select pods of one component of one instance (a stable subset of the above). */
export function selectorLabels(args: Pick<LabelArgs, "name" | "instance" | "component">): Record<string, string> {
    return {
        "app.kubernetes.io/name": args.name,
        "app.kubernetes.io/instance": args.instance,
        "app.kubernetes.io/component": args.component,
    };
}

/** Makes a string a valid label value (<= 63 chars of [A-Za-z0-9._-], alphanumeric at both ends). */
export function labelValue(s: string): string {
    return s
        .replace(/[^A-Za-z0-9._-]/g, "_")
        .slice(0, 63)
        .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}

/** A Pod Security Admission level. */
export type PodSecurityLevel = "privileged" | "baseline" | "restricted";

/**
 * Pod Security Admission labels for a namespace: what it enforces, and (when looser than restricted)
 * a warning level, so `kubectl apply` shows what would break under the stricter profile.
 */
export function podSecurityLabels(enforce: PodSecurityLevel, warn?: PodSecurityLevel): Record<string, string> {
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": "latest",
        ...(warn ? { "pod-security.kubernetes.io/warn": warn, "pod-security.kubernetes.io/warn-version": "latest" } : {}),
    };
}
