// Pod security policies: the Pod Security Standards "restricted" profile (Kyverno pod-security),
// plus host paths and service-account tokens. The namespace enforces `restricted` at admission;
// these policies catch the same problems at review time, before anything is applied.
import { COMPONENT_LABEL, WORKLOAD_TYPES, containersOf, podTemplate } from "./lib/k8s";
import { PackPolicy, ResourceContext, ident, resourcePolicy } from "./lib/policy";

const workloadTypes = WORKLOAD_TYPES as readonly string[];

function template(ctx: ResourceContext<unknown>): { metadata?: any; spec?: any } {
    return podTemplate(ctx.type, ctx.props) ?? {};
}

/** The component label of a workload's pods (falls back to the object's own labels). */
function componentOf(ctx: ResourceContext<unknown>): string | undefined {
    return template(ctx).metadata?.labels?.[COMPONENT_LABEL] ?? ctx.props.metadata?.labels?.[COMPONENT_LABEL];
}

export const noPrivileged = resourcePolicy({
    name: "no-privileged-containers",
    description: "No container runs privileged.",
    area: "pod-security",
    source: "Pod Security Standards (baseline); Kyverno disallow-privileged-containers",
    details: "`securityContext.privileged` must not be true on any container or init container.",
    enforcementLevel: "mandatory",
    remediation: "Remove securityContext.privileged; grant a specific capability only if one is truly needed.",
    types: workloadTypes,
    validate: (ctx) => {
        for (const { c, where } of containersOf(template(ctx).spec)) {
            if (c.securityContext?.privileged === true) {
                ctx.report(`${where} runs privileged`, "remove securityContext.privileged");
            }
        }
    },
});

export const noPrivilegeEscalation = resourcePolicy({
    name: "no-privilege-escalation",
    description: "Every container sets allowPrivilegeEscalation to false.",
    area: "pod-security",
    source: "Pod Security Standards (restricted); Kyverno disallow-privilege-escalation",
    details: "`securityContext.allowPrivilegeEscalation` must be explicitly false on every container and init container (Kubernetes defaults it to true).",
    enforcementLevel: "mandatory",
    remediation: "Set securityContext.allowPrivilegeEscalation: false.",
    types: workloadTypes,
    validate: (ctx) => {
        for (const { c, where } of containersOf(template(ctx).spec)) {
            if (c.securityContext?.allowPrivilegeEscalation !== false) {
                ctx.report(`${where} does not set allowPrivilegeEscalation to false`, "set securityContext.allowPrivilegeEscalation: false");
            }
        }
    },
});

/**
 * Why a container of an `exemptComponents` workload may not run as root after all: the conditions under
 * which root is confined (no escalation, no capabilities, nothing writable on the node or in the image).
 * Empty when every condition holds.
 */
export function rootExemptionFailures(c: any, podSpec: any): string[] {
    const sc = c.securityContext ?? {};
    const caps = sc.capabilities ?? {};
    const drop: string[] = [...(caps.drop ?? [])].map((x: unknown) => String(x).toUpperCase());
    const add: unknown[] = [...(caps.add ?? [])];
    const failed: string[] = [];
    if (sc.privileged === true) {
        failed.push("it is privileged");
    }
    if (sc.allowPrivilegeEscalation !== false) {
        failed.push("allowPrivilegeEscalation is not false");
    }
    if (sc.readOnlyRootFilesystem !== true) {
        failed.push("readOnlyRootFilesystem is not true");
    }
    if (!drop.includes("ALL")) {
        failed.push("capabilities.drop does not contain ALL");
    }
    if (add.length > 0) {
        failed.push("it adds capabilities");
    }
    const hostVolumes = new Set([...(podSpec?.volumes ?? [])].filter((v: any) => v.hostPath !== undefined).map((v: any) => v.name));
    const writable = [...(c.volumeMounts ?? [])].filter((m: any) => hostVolumes.has(m.name) && m.readOnly !== true).map((m: any) => ident(m.name));
    if (writable.length > 0) {
        failed.push(`it mounts hostPath volume ${writable.join(", ")} writable`);
    }
    return failed;
}

export const runAsNonRoot = resourcePolicy<{ exemptComponents: string[] }>({
    name: "run-as-non-root",
    description: "Every container runs as a non-root user, except confined root for the components listed in exemptComponents.",
    area: "pod-security",
    source: "Pod Security Standards (restricted); Kyverno require-run-as-nonroot",
    details:
        "The effective `runAsNonRoot` (container, else pod securityContext) must be true and the effective `runAsUser` must not be 0. " +
        "A workload whose pods' `app.kubernetes.io/component` is in `exemptComponents` may run as root only if each such container is not privileged, sets `allowPrivilegeEscalation: false` and `readOnlyRootFilesystem: true`, drops ALL capabilities and adds none, and mounts hostPath volumes read-only; otherwise the message names the condition that failed.",
    enforcementLevel: "mandatory",
    remediation:
        "Set securityContext.runAsNonRoot: true and a non-zero runAsUser (Triton images run as uid 1000); a component that must read root-owned node files (the log shipper) is listed in exemptComponents and confined instead.",
    config: {
        exemptComponents: {
            type: "array",
            items: { type: "string" },
            description:
                "app.kubernetes.io/component values whose pods may run as root when confined (no escalation, read-only root, ALL capabilities dropped, none added, hostPath read-only). log-shipper: node log files are root-owned 0640.",
            default: ["log-shipper"],
        },
    },
    types: workloadTypes,
    validate: (ctx) => {
        const spec = template(ctx).spec;
        const pod = spec?.securityContext ?? {};
        const component = componentOf(ctx);
        const exempt = component !== undefined && ctx.config.exemptComponents.includes(component);
        for (const { c, where } of containersOf(spec)) {
            const sc = c.securityContext ?? {};
            const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
            const user = sc.runAsUser ?? pod.runAsUser;
            if (user !== 0 && nonRoot === true) {
                continue;
            }
            if (exempt) {
                const failed = rootExemptionFailures(c, spec);
                if (failed.length > 0) {
                    ctx.report(
                        `${where} may run as root, which its component ${ident(component)} is allowed only when confined, but ${failed.join("; ")}`,
                        "set allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]} without add, and readOnly: true on its hostPath mounts (or run it as a non-zero uid)",
                    );
                }
            } else if (user === 0) {
                ctx.report(`${where} runs as uid 0`, "set runAsUser to a non-zero uid");
            } else {
                ctx.report(`${where} is not required to run as non-root`, "set securityContext.runAsNonRoot: true (pod or container)");
            }
        }
    },
});

export const readOnlyRootFilesystem = resourcePolicy({
    name: "read-only-root-filesystem",
    description: "Every container mounts its root filesystem read-only.",
    area: "pod-security",
    source: "kube-score container-security-context-readonlyrootfilesystem, Polaris",
    details: "`securityContext.readOnlyRootFilesystem` must be true on every container and init container; writable paths come from sized emptyDir volumes.",
    enforcementLevel: "mandatory",
    remediation: "Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir (with sizeLimit) where the process writes.",
    types: workloadTypes,
    validate: (ctx) => {
        for (const { c, where } of containersOf(template(ctx).spec)) {
            if (c.securityContext?.readOnlyRootFilesystem !== true) {
                ctx.report(`${where} has a writable root filesystem`, "set securityContext.readOnlyRootFilesystem: true");
            }
        }
    },
});

export const dropAllCapabilities = resourcePolicy({
    name: "drop-all-capabilities",
    description: "Every container drops all Linux capabilities and adds back at most NET_BIND_SERVICE.",
    area: "pod-security",
    source: "Pod Security Standards (restricted); Kyverno require-drop-all",
    details: "`securityContext.capabilities.drop` must contain ALL and `capabilities.add` may only contain NET_BIND_SERVICE.",
    enforcementLevel: "mandatory",
    remediation: "Set securityContext.capabilities: {drop: [ALL]}.",
    types: workloadTypes,
    validate: (ctx) => {
        for (const { c, where } of containersOf(template(ctx).spec)) {
            const caps = c.securityContext?.capabilities ?? {};
            const drop: string[] = [...(caps.drop ?? [])].map((x: string) => String(x).toUpperCase());
            const add: string[] = [...(caps.add ?? [])].map((x: string) => String(x).toUpperCase().replace(/^CAP_/, ""));
            if (!drop.includes("ALL")) {
                ctx.report(`${where} does not drop ALL capabilities`, "set securityContext.capabilities.drop: [ALL]");
            }
            const extra = add.filter((a) => a !== "NET_BIND_SERVICE");
            if (extra.length > 0) {
                ctx.report(`${where} adds capabilities beyond NET_BIND_SERVICE`, "remove capabilities.add entries other than NET_BIND_SERVICE");
            }
        }
    },
});

export const seccompRuntimeDefault = resourcePolicy({
    name: "seccomp-runtime-default",
    description: "Every container runs under the RuntimeDefault (or a Localhost) seccomp profile.",
    area: "pod-security",
    source: "Pod Security Standards (restricted); Kyverno restrict-seccomp-strict",
    details: "The effective `seccompProfile.type` (container, else pod securityContext) must be RuntimeDefault or Localhost.",
    enforcementLevel: "mandatory",
    remediation: "Set spec.securityContext.seccompProfile: {type: RuntimeDefault} on the pod.",
    types: workloadTypes,
    validate: (ctx) => {
        const podType = template(ctx).spec?.securityContext?.seccompProfile?.type;
        for (const { c, where } of containersOf(template(ctx).spec)) {
            const type = c.securityContext?.seccompProfile?.type ?? podType;
            if (type !== "RuntimeDefault" && type !== "Localhost") {
                ctx.report(`${where} runs without the RuntimeDefault seccomp profile`, "set securityContext.seccompProfile.type: RuntimeDefault on the pod");
            }
        }
    },
});

export const noHostNamespaces = resourcePolicy({
    name: "no-host-namespaces",
    description: "Pods share neither the host network nor the host PID or IPC namespace.",
    area: "pod-security",
    source: "Pod Security Standards (baseline); Kyverno disallow-host-namespaces",
    details: "`hostNetwork`, `hostPID` and `hostIPC` of the pod spec must not be true.",
    enforcementLevel: "mandatory",
    remediation: "Remove hostNetwork/hostPID/hostIPC; expose ports through a Service instead.",
    types: workloadTypes,
    validate: (ctx) => {
        const spec = template(ctx).spec ?? {};
        const shared = ["hostNetwork", "hostPID", "hostIPC"].filter((k) => spec[k] === true);
        if (shared.length > 0) {
            ctx.report(`shares host namespaces (${shared.join(", ")})`, `remove ${shared.join(", ")} from the pod spec`);
        }
    },
});

export const noHostPath = resourcePolicy<{ allowedHostPaths: Record<string, string[]> }>({
    name: "no-host-path",
    description: "Pods mount no hostPath volume, except read-only paths reviewed per component (log shipper, node exporter).",
    area: "pod-security",
    source: "Pod Security Standards (baseline); Kyverno disallow-host-path, R13 log shipping",
    details:
        "Every hostPath volume is a violation unless `allowedHostPaths` lists the pods' `app.kubernetes.io/component` with a prefix the path lies under (path-segment boundary, no `..`), and every mount of the volume is `readOnly: true`.",
    enforcementLevel: "mandatory",
    remediation: "Use an emptyDir or a PersistentVolumeClaim; a log shipper mounts /var/log read-only, a node exporter /proc, /sys and / read-only.",
    config: {
        allowedHostPaths: {
            type: "object",
            additionalProperties: { type: "array", items: { type: "string" } },
            description: "app.kubernetes.io/component -> host path prefixes its pods may mount read-only.",
            default: {
                // components/logsink: the shipper tails /var/log/pods.
                "log-shipper": ["/var/log"],
                // components/observability: node and disk metrics (the R14 disk alert) read /proc, /sys
                // and the root file system (which, as a prefix, covers every path: read-only is what
                // keeps it safe).
                "node-exporter": ["/proc", "/sys", "/"],
            },
        },
    },
    types: workloadTypes,
    validate: (ctx) => {
        const spec = template(ctx).spec ?? {};
        const component = componentOf(ctx);
        const prefixes = component !== undefined ? (ctx.config.allowedHostPaths[component] ?? []) : [];
        const mounts = containersOf(spec).flatMap(({ c }) => [...(c.volumeMounts ?? [])]);
        for (const v of spec.volumes ?? []) {
            if (v.hostPath === undefined) {
                continue;
            }
            const path: string = String(v.hostPath?.path ?? "");
            const underPrefix =
                !path.split("/").includes("..") &&
                prefixes.some((p) => {
                    const prefix = p === "/" ? "" : p.replace(/\/+$/, "");
                    return path === prefix || path === p || path.startsWith(`${prefix}/`);
                });
            const readOnly = mounts.filter((m: any) => m.name === v.name).every((m: any) => m.readOnly === true);
            if (prefixes.length === 0) {
                ctx.report(`mounts hostPath volume ${ident(v.name)} but its component is not allowed host paths`, "use an emptyDir or a PersistentVolumeClaim");
            } else if (!underPrefix) {
                ctx.report(`mounts hostPath volume ${ident(v.name)} outside the prefixes allowed to its component (${prefixes.join(", ")})`, "mount only the allowed directories");
            } else if (!readOnly) {
                ctx.report(`mounts hostPath volume ${ident(v.name)} writable`, "set readOnly: true on every volumeMount of it");
            }
        }
    },
});

export const noHostPort = resourcePolicy({
    name: "no-host-port",
    description: "No container binds a port on the node (hostPort).",
    area: "pod-security",
    source: "Pod Security Standards (baseline); Kyverno disallow-host-ports",
    details: "`ports[].hostPort` must be unset or 0 on every container and init container.",
    enforcementLevel: "mandatory",
    remediation: "Remove hostPort and expose the port through a Service.",
    types: workloadTypes,
    validate: (ctx) => {
        for (const { c, where } of containersOf(template(ctx).spec)) {
            if ((c.ports ?? []).some((p: any) => p.hostPort !== undefined && p.hostPort !== 0)) {
                ctx.report(`${where} binds a hostPort`, "remove ports[].hostPort");
            }
        }
    },
});

export const noServiceAccountToken = resourcePolicy<{ apiAccessComponents: string[] }>({
    name: "no-service-account-token",
    description: "Pods that do not call the Kubernetes API do not mount a service-account token.",
    area: "pod-security",
    source: "Polaris automountServiceAccountToken, CIS 5.1.6",
    details: "The pod spec must set `automountServiceAccountToken: false` unless its `app.kubernetes.io/component` is listed in `apiAccessComponents`.",
    enforcementLevel: "mandatory",
    remediation: "Set spec.automountServiceAccountToken: false on the pod template (or list the component in apiAccessComponents if it needs the API).",
    config: {
        apiAccessComponents: {
            type: "array",
            items: { type: "string" },
            description: "app.kubernetes.io/component values whose pods call the Kubernetes API.",
            // log-shipper (components/logsink): its k8sattributes processor reads pods, ReplicaSets and
            // nodes (slot, Deployment, zone) through the API, with a Role/ClusterRole limited to that.
            default: ["log-shipper"],
        },
    },
    types: workloadTypes,
    validate: (ctx) => {
        const component = componentOf(ctx);
        if (component !== undefined && ctx.config.apiAccessComponents.includes(component)) {
            return;
        }
        if (template(ctx).spec?.automountServiceAccountToken !== false) {
            ctx.report("mounts a service-account token although it needs no API access", "set spec.automountServiceAccountToken: false on the pod template");
        }
    },
});

export const podSecurityPolicies: PackPolicy[] = [
    noPrivileged,
    noPrivilegeEscalation,
    runAsNonRoot,
    readOnlyRootFilesystem,
    dropAllCapabilities,
    seccompRuntimeDefault,
    noHostNamespaces,
    noHostPath,
    noHostPort,
    noServiceAccountToken,
];
