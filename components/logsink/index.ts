// LogSink (R13): conversation and server logs to S3-compatible object storage, by an OpenTelemetry
// Collector DaemonSet on Kubernetes; `serverLogShipper` gives the lightweight server's equivalent.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackDefinition } from "../../stack/definition";
import { quantityValue } from "../../stack/schema-kit";
import { podSecurityLabels, recommendedLabels, selectorLabels } from "../common/labels";
import { nodeAgentPriorityClass } from "../common/priority";
import { buildSecurityPolicy, securityPolicyInput } from "../network";
import {
    bufferVolumeSizeLimit,
    kubernetesShipperConfig,
    lifecycleRule,
    ObjectStorageTarget,
    renderConfig,
    SERVER_COMPONENT_LABEL,
    SERVER_PATHS,
    serverShipperConfig,
    SHIPPER,
} from "./config";
import { logSinkNetworkPolicies } from "./network-policy";
import { retentionEnv, retentionScript } from "./retention";
import { LogSinkSettings } from "./schema";

export * from "./config";
export * from "./network-policy";
export * from "./retention";
export * from "./schema";

/** The parts of the stack definition the log sink reads. */
export type LogSinkDefinition = Pick<StackDefinition, "project" | "stack" | "namespace" | "labels" | "logSink" | "objectStorage">;

/**
 * What the Kubernetes LogSink reads besides: the security group (DNS, object-store egress and the
 * monitoring namespace of its NetworkPolicies) and what the security group is computed from.
 */
export type LogSinkClusterDefinition = LogSinkDefinition & Pick<StackDefinition, "securityGroup" | "modelService" | "server">;

/** app.kubernetes.io/name of the shipper's objects. */
export const SHIPPER_APP = "log-shipper";
/**
 * app.kubernetes.io/component of the shipper's pods. The policy pack keys its reviewed exceptions for
 * the shipper on it (run-as-non-root exemptComponents, no-host-path allowedHostPaths,
 * no-service-account-token apiAccessComponents).
 */
export const SHIPPER_COMPONENT = "log-shipper";
/** app.kubernetes.io/component of the retention Job's pods. */
export const RETENTION_COMPONENT = "log-retention";

/** Name of the namespace the shipper runs in, next to the model service's. */
export function loggingNamespaceName(namespace: string): string {
    return `${namespace}-logging`.slice(0, 63);
}

/** Whether static keys are used; otherwise the service account's workload identity. */
export function usesStaticKeys(secrets: { accessKeyId?: unknown; secretAccessKey?: unknown }): boolean {
    return secrets.accessKeyId !== undefined && secrets.secretAccessKey !== undefined;
}

/** GOMEMLIMIT for a memory limit: 80% of it, so Go collects garbage before the kernel kills the pod. */
export function goMemLimit(memoryLimit: string): string {
    return String(Math.floor(quantityValue(memoryLimit) * 0.8));
}

/** The security context of the shipper container: read-only, no capabilities, no escalation. */
export const SHIPPER_CONTAINER_SECURITY: k8s.types.input.core.v1.SecurityContext = {
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
};

/** Arguments of {@link LogSink}. */
export interface LogSinkArgs {
    /**
     * The stack definition; the sink reads logSink, objectStorage, namespace, labels, project and stack,
     * and the security group (with what it is computed from) for its NetworkPolicies.
     */
    definition: LogSinkClusterDefinition;
    /**
     * Object-store access key id (secret). Unset together with `secretAccessKey`: the shipper uses the
     * workload identity granted through objectStorage.serviceAccountAnnotations.
     */
    accessKeyId?: pulumi.Input<string>;
    /** Object-store secret access key (secret). */
    secretAccessKey?: pulumi.Input<string>;
    /** The explicit Kubernetes provider every child uses. */
    provider: k8s.Provider;
    /**
     * The model service's namespace (an Output of its Namespace, so the Role placed there waits for it).
     * Its pods' logs are shipped.
     */
    sourceNamespace: pulumi.Input<string>;
}

/**
 * Ships the logs of the model service's namespace (Triton's ISO8601 lines and the entry point's) to
 * `<bucket>/<prefix>/date=YYYY-MM-DD/` as gzip objects, with stack, slot, zone and pod metadata, through a
 * size-bounded disk buffer (a sized emptyDir) that survives object-store outages and container restarts,
 * not the deletion of the pod.
 *
 * The shipper runs in its own namespace with the `privileged` Pod Security level, because it mounts
 * `/var/log/pods` from the node (hostPath is forbidden by `baseline` and `restricted`); everything else
 * about the pod is hardened, and NetworkPolicies deny everything the shipper and the retention Job do
 * not need. See docs/OBSERVABILITY.md.
 */
export class LogSink extends pulumi.ComponentResource {
    /** Namespace of the shipper. */
    public readonly namespace: pulumi.Output<string>;
    /** Labels that select the shipper's pods (for its PodMonitor). */
    public readonly podSelector: Record<string, string>;
    /** Name of the shipper pods' metrics port. */
    public readonly metricsPortName: string;
    /** `s3://bucket/prefix/` the logs land under. */
    public readonly destination: pulumi.Output<string>;

    constructor(name: string, args: LogSinkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("triton-platform:logsink:LogSink", name, {}, opts);
        const def = args.definition;
        const sink = def.logSink;
        const instance = `${def.project}-${def.stack}`;
        const provider = args.provider;
        const child = { parent: this, provider };
        const labels = recommendedLabels({ name: SHIPPER_APP, instance, component: SHIPPER_COMPONENT, version: imageVersion(sink.image), extra: def.labels });
        this.podSelector = selectorLabels({ name: SHIPPER_APP, instance, component: SHIPPER_COMPONENT });
        this.metricsPortName = "metrics";
        const staticKeys = usesStaticKeys(args);

        // Fixed name: the Pod Security level is a property of the namespace, and operators look for it.
        const ns = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            {
                metadata: {
                    name: loggingNamespaceName(def.namespace),
                    labels: {
                        ...recommendedLabels({ name: SHIPPER_APP, instance, component: "namespace", extra: def.labels }),
                        // hostPath (/var/log/pods) is allowed only at the privileged level; the pod itself
                        // still meets everything else of baseline and most of restricted.
                        ...podSecurityLabels("privileged", "baseline"),
                    },
                },
            },
            child,
        );
        const nsName = ns.metadata.name;
        this.namespace = nsName;

        const serviceAccount = new k8s.core.v1.ServiceAccount(
            `${name}-shipper`,
            {
                metadata: {
                    namespace: nsName,
                    labels,
                    annotations: staticKeys ? {} : def.objectStorage.serviceAccountAnnotations,
                },
                // The token is needed: the shipper reads pod and node metadata from the API.
                automountServiceAccountToken: true,
            },
            child,
        );
        const subject = [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace: nsName }];

        // Zone labels live on nodes (cluster-scoped); the shipper watches only its own node.
        const nodeReader = new k8s.rbac.v1.ClusterRole(
            `${name}-node-reader`,
            { metadata: { labels }, rules: [{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] }] },
            child,
        );
        new k8s.rbac.v1.ClusterRoleBinding(
            `${name}-node-reader`,
            {
                metadata: { labels },
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: nodeReader.metadata.name },
                subjects: subject,
            },
            child,
        );
        // Pods (slot label, image) and ReplicaSets (Deployment name) of the model service's namespace only.
        const podReader = new k8s.rbac.v1.Role(
            `${name}-pod-reader`,
            {
                metadata: { namespace: args.sourceNamespace, labels },
                rules: [
                    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
                    { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["get", "list", "watch"] },
                ],
            },
            child,
        );
        new k8s.rbac.v1.RoleBinding(
            `${name}-pod-reader`,
            {
                metadata: { namespace: args.sourceNamespace, labels },
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: podReader.metadata.name },
                subjects: subject,
            },
            child,
        );

        const credentials = staticKeys
            ? new k8s.core.v1.Secret(
                  `${name}-credentials`,
                  {
                      metadata: { namespace: nsName, labels },
                      type: "Opaque",
                      stringData: {
                          AWS_ACCESS_KEY_ID: pulumi.secret(args.accessKeyId!),
                          AWS_SECRET_ACCESS_KEY: pulumi.secret(args.secretAccessKey!),
                      },
                  },
                  child,
              )
            : undefined;
        const awsEnv = awsEnvironment(def.objectStorage, credentials?.metadata.name, sink);

        const store: ObjectStorageTarget = def.objectStorage;
        const configText = pulumi.output(args.sourceNamespace).apply((namespace) =>
            renderConfig(kubernetesShipperConfig({ sink, store, identity: { stack: def.stack, instance }, namespace })),
        );
        const config = new k8s.core.v1.ConfigMap(
            `${name}-config`,
            {
                metadata: { namespace: nsName, labels },
                data: {
                    [SHIPPER.configFile]: configText,
                    ...(sink.caBundle ? { [SHIPPER.caFile]: sink.caBundle } : {}),
                },
            },
            child,
        );

        const volumes: k8s.types.input.core.v1.Volume[] = [
            { name: "varlogpods", hostPath: { path: "/var/log/pods", type: "Directory" } },
            // Disk queue and read offsets. An emptyDir, not a hostPath: nothing of the pod stays writable on the
            // node. It survives container restarts (crash, OOM kill) and store outages; deleting the pod
            // (update, drain, eviction) loses the queued batches and the offsets (docs/OBSERVABILITY.md).
            { name: "buffer", emptyDir: { sizeLimit: bufferVolumeSizeLimit(sink) } },
            { name: "config", configMap: { name: config.metadata.name, items: [{ key: SHIPPER.configFile, path: SHIPPER.configFile }] } },
        ];
        const mounts: k8s.types.input.core.v1.VolumeMount[] = [
            { name: "varlogpods", mountPath: "/var/log/pods", readOnly: true },
            { name: "buffer", mountPath: SHIPPER.storageDir },
            { name: "config", mountPath: SHIPPER.configDir, readOnly: true },
        ];
        if (sink.caBundle) {
            volumes.push({ name: "ca", configMap: { name: config.metadata.name, items: [{ key: SHIPPER.caFile, path: SHIPPER.caFile }] } });
            mounts.push({ name: "ca", mountPath: SHIPPER.caDir, readOnly: true });
        }

        // A full node still runs its shipper (components/common/priority.ts).
        const priorityClass = new k8s.scheduling.v1.PriorityClass(
            `${name}-node-agent`,
            nodeAgentPriorityClass({ instance, component: "log-shipper", labels: def.labels }),
            child,
        );
        const daemonSet = new k8s.apps.v1.DaemonSet(
            `${name}-shipper`,
            {
                metadata: { namespace: nsName, labels },
                spec: {
                    selector: { matchLabels: this.podSelector },
                    updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
                    template: {
                        metadata: { labels },
                        spec: {
                            serviceAccountName: serviceAccount.metadata.name,
                            automountServiceAccountToken: true,
                            priorityClassName: priorityClass.metadata.name,
                            // Every node, GPU nodes with their taints included: a node without a shipper
                            // loses its pods' logs.
                            tolerations: [{ operator: "Exists" }],
                            // Time to hand the in-flight batch to the disk queue on shutdown.
                            terminationGracePeriodSeconds: 60,
                            securityContext: {
                                // Root, because the runtime writes pod logs root-owned with mode 0640; with
                                // every capability dropped, root reads only what it owns. The policy pack
                                // allows root for this component only so confined (run-as-non-root,
                                // exemptComponents): no escalation, read-only root and hostPath, no capabilities.
                                runAsUser: 0,
                                runAsGroup: 0,
                                runAsNonRoot: false,
                                seccompProfile: { type: "RuntimeDefault" },
                            },
                            containers: [
                                {
                                    name: "shipper",
                                    image: sink.image,
                                    args: [`--config=${SHIPPER.configDir}/${SHIPPER.configFile}`],
                                    env: [
                                        { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                                        { name: "K8S_NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                                        { name: "GOMEMLIMIT", value: goMemLimit(sink.resources.memoryLimit) },
                                        ...awsEnv,
                                    ],
                                    ports: [
                                        { name: this.metricsPortName, containerPort: SHIPPER.metricsPort, protocol: "TCP" },
                                        { name: "health", containerPort: SHIPPER.healthPort, protocol: "TCP" },
                                    ],
                                    // Start-up compacts the file storage (compaction.on_start), which takes longer
                                    // the fuller the buffer: up to 5 minutes before liveness takes over.
                                    startupProbe: { httpGet: { path: "/", port: "health" }, periodSeconds: 5, failureThreshold: 60 },
                                    livenessProbe: { httpGet: { path: "/", port: "health" }, periodSeconds: 30, failureThreshold: 3 },
                                    readinessProbe: { httpGet: { path: "/", port: "health" }, periodSeconds: 10 },
                                    resources: {
                                        requests: {
                                            cpu: sink.resources.cpuRequest,
                                            memory: sink.resources.memoryRequest,
                                            // The buffer's room is reserved on the node: under disk pressure the
                                            // kubelet evicts pods using more than they requested first.
                                            "ephemeral-storage": bufferVolumeSizeLimit(sink),
                                        },
                                        limits: { memory: sink.resources.memoryLimit },
                                    },
                                    securityContext: SHIPPER_CONTAINER_SECURITY,
                                    volumeMounts: mounts,
                                },
                            ],
                            volumes,
                        },
                    },
                },
            },
            child,
        );

        const retention = sink.retentionMode === "lifecycle";
        if (retention) {
            this.declareRetentionJob(name, def, child, { nsName, labels, awsEnv, caMount: sink.caBundle ? config : undefined, staticKeys });
        }

        // Default deny in the namespace, then only what the shipper and the retention Job need. The same
        // DNS and object-store rules as the model namespace's (components/network).
        const netpolLabels = recommendedLabels({ name: SHIPPER_APP, instance, component: "network-policy", extra: def.labels });
        const netpols = logSinkNetworkPolicies({
            policy: buildSecurityPolicy(securityPolicyInput(def)),
            shipperSelector: this.podSelector,
            retentionSelector: retention ? selectorLabels({ name: SHIPPER_APP, instance, component: RETENTION_COMPONENT }) : undefined,
            apiServerCidrs: sink.apiServerCidrs,
        });
        for (const doc of netpols) {
            new k8s.networking.v1.NetworkPolicy(`${name}-${doc.role}`, { metadata: { namespace: nsName, labels: netpolLabels }, spec: doc.spec }, child);
        }

        this.destination = pulumi.output(`s3://${sink.bucket}/${sink.prefix}/`);
        this.registerOutputs({ namespace: this.namespace, destination: this.destination, daemonSet: daemonSet.metadata.name });
    }

    /** A one-shot Job that merges the retention rule into the bucket's lifecycle configuration. */
    private declareRetentionJob(
        name: string,
        def: LogSinkDefinition,
        child: pulumi.CustomResourceOptions,
        parts: {
            nsName: pulumi.Output<string>;
            labels: Record<string, string>;
            awsEnv: k8s.types.input.core.v1.EnvVar[];
            caMount?: k8s.core.v1.ConfigMap;
            staticKeys: boolean;
        },
    ): void {
        const sink = def.logSink;
        const instance = `${def.project}-${def.stack}`;
        const labels = recommendedLabels({ name: SHIPPER_APP, instance, component: RETENTION_COMPONENT, extra: def.labels });
        const account = new k8s.core.v1.ServiceAccount(
            `${name}-retention`,
            {
                metadata: {
                    namespace: parts.nsName,
                    labels,
                    annotations: parts.staticKeys ? {} : def.objectStorage.serviceAccountAnnotations,
                },
                // No Kubernetes API access needed (workload-identity webhooks project their own token).
                automountServiceAccountToken: false,
            },
            child,
        );
        const script = new k8s.core.v1.ConfigMap(
            `${name}-retention`,
            { metadata: { namespace: parts.nsName, labels }, data: { "retention.sh": retentionScript() } },
            child,
        );
        const env = retentionEnv({
            bucket: sink.bucket,
            endpoint: def.objectStorage.endpoint,
            region: def.objectStorage.region,
            forcePathStyle: def.objectStorage.forcePathStyle,
            rule: lifecycleRule(sink, instance),
        });
        const volumes: k8s.types.input.core.v1.Volume[] = [
            { name: "script", configMap: { name: script.metadata.name, defaultMode: 0o555 } },
            { name: "tmp", emptyDir: { sizeLimit: "16Mi" } },
        ];
        const mounts: k8s.types.input.core.v1.VolumeMount[] = [
            { name: "script", mountPath: "/opt/retention", readOnly: true },
            { name: "tmp", mountPath: "/tmp" },
        ];
        if (parts.caMount) {
            volumes.push({ name: "ca", configMap: { name: parts.caMount.metadata.name, items: [{ key: SHIPPER.caFile, path: SHIPPER.caFile }] } });
            mounts.push({ name: "ca", mountPath: SHIPPER.caDir, readOnly: true });
        }
        new k8s.batch.v1.Job(
            `${name}-retention`,
            {
                metadata: {
                    namespace: parts.nsName,
                    labels,
                    // Do not hold `pulumi up` on the store: the Job retries on its own and its failure
                    // shows in `kubectl get jobs`; the sink itself does not depend on it.
                    annotations: { "pulumi.com/skipAwait": "true" },
                },
                spec: {
                    backoffLimit: 6,
                    template: {
                        metadata: { labels },
                        spec: {
                            restartPolicy: "OnFailure",
                            serviceAccountName: account.metadata.name,
                            automountServiceAccountToken: false,
                            securityContext: {
                                runAsNonRoot: true,
                                runAsUser: 65534,
                                runAsGroup: 65534,
                                seccompProfile: { type: "RuntimeDefault" },
                            },
                            containers: [
                                {
                                    name: "retention",
                                    image: sink.retentionJobImage,
                                    command: ["/bin/sh", "/opt/retention/retention.sh"],
                                    env: [
                                        ...Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
                                        { name: "TMPDIR", value: "/tmp" },
                                        ...parts.awsEnv.filter((e) => e.name !== "AWS_REGION"),
                                    ],
                                    resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "256Mi" } },
                                    securityContext: SHIPPER_CONTAINER_SECURITY,
                                    volumeMounts: mounts,
                                },
                            ],
                            volumes,
                        },
                    },
                },
            },
            child,
        );
    }
}

/** AWS SDK environment: region, CA bundle, and the keys from the Secret when static keys are used. */
function awsEnvironment(
    store: LogSinkDefinition["objectStorage"],
    secretName: pulumi.Output<string> | undefined,
    sink: LogSinkSettings,
): k8s.types.input.core.v1.EnvVar[] {
    const env: k8s.types.input.core.v1.EnvVar[] = [
        { name: "AWS_REGION", value: store.region },
        // Upload partitions (date=YYYY-MM-DD) are computed in the process's time zone.
        { name: "TZ", value: "UTC" },
    ];
    if (secretName) {
        for (const key of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) {
            env.push({ name: key, valueFrom: { secretKeyRef: { name: secretName, key } } });
        }
    }
    if (sink.caBundle) {
        env.push({ name: "AWS_CA_BUNDLE", value: `${SHIPPER.caDir}/${SHIPPER.caFile}` });
    }
    return env;
}

/** The version part of an image reference, for app.kubernetes.io/version. */
function imageVersion(image: string): string | undefined {
    const at = image.indexOf("@");
    const ref = at >= 0 ? image.slice(0, at) : image;
    const colon = ref.lastIndexOf(":");
    return colon > ref.lastIndexOf("/") ? ref.slice(colon + 1) : undefined;
}

/** A bind mount of the server shipper container. */
export interface ServerMount {
    hostPath: string;
    containerPath: string;
    readOnly: boolean;
}

/** What the lightweight server needs to run the shipper: its config file and its container. */
export interface ServerLogShipper {
    /** Contents of the config file to write to `configHostPath` (no secrets in it). */
    config: string;
    /** Host path of the config file. */
    configHostPath: string;
    /** Host path of the credentials env file (0600 root) when static keys are used; the server writes it. */
    credentialsEnvFile: string;
    /** Names the credentials env file must define (values from the stack's secrets). */
    credentialsEnvNames: readonly string[];
    container: {
        /** Container name. */
        name: string;
        /** Pinned image. */
        image: string;
        /** Arguments after the image. */
        args: string[];
        /** Plain environment (no secrets). */
        env: Record<string, string>;
        mounts: ServerMount[];
        /** Host folders to create before start (root, 0700). */
        createHostDirs: string[];
        /** Runs as root: Docker writes container logs root-owned, mode 0640. */
        user: string;
        readOnlyRootFilesystem: true;
        capDrop: ["ALL"];
        securityOpt: string[];
        /** Health endpoint, published on the loopback interface only (R3 keeps the firewall closed). */
        healthCheck: { hostPort: number; containerPort: number; bindAddress: "127.0.0.1"; path: string };
        /** Metrics endpoint for a local scraper, loopback only. */
        metrics: { hostPort: number; containerPort: number; bindAddress: "127.0.0.1" };
        restartPolicy: "unless-stopped";
    };
    /**
     * `docker run` options the server must add to the Triton container (and the entry point, with its
     * own component name) so the shipper picks their logs up.
     */
    sourceContainerOptions: (component: string) => string[];
}

/**
 * The shipper for the lightweight server, as data for the server component: the config file and the
 * container to run next to Triton. Pure; the server component writes the files and runs the container.
 */
export function serverLogShipper(args: {
    definition: LogSinkDefinition;
    /** The server's availability zone, when known. */
    zone?: string;
    /** The server's host name (def.server.domain or host), recorded on every line. */
    hostName?: string;
    /** Whether static keys are used (then the credentials env file must exist). */
    staticKeys: boolean;
}): ServerLogShipper {
    const def = args.definition;
    const sink = def.logSink;
    const instance = `${def.project}-${def.stack}`;
    const config = renderConfig(
        serverShipperConfig({ sink, store: def.objectStorage, identity: { stack: def.stack, instance }, zone: args.zone, hostName: args.hostName }),
    );
    const env: Record<string, string> = { AWS_REGION: def.objectStorage.region, TZ: "UTC", GOMEMLIMIT: goMemLimit(sink.resources.memoryLimit) };
    const mounts: ServerMount[] = [
        { hostPath: SERVER_PATHS.dockerContainers, containerPath: SERVER_PATHS.dockerContainers, readOnly: true },
        { hostPath: SERVER_PATHS.storage, containerPath: SHIPPER.storageDir, readOnly: false },
        { hostPath: SERVER_PATHS.config, containerPath: SHIPPER.configDir, readOnly: true },
    ];
    if (sink.caBundle) {
        env.AWS_CA_BUNDLE = `${SHIPPER.configDir}/${SHIPPER.caFile}`;
    }
    return {
        config,
        configHostPath: `${SERVER_PATHS.config}/${SHIPPER.configFile}`,
        credentialsEnvFile: SERVER_PATHS.credentialsEnvFile,
        credentialsEnvNames: args.staticKeys ? ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] : [],
        container: {
            name: `${instance}-log-shipper`,
            image: sink.image,
            args: [`--config=${SHIPPER.configDir}/${SHIPPER.configFile}`],
            env,
            mounts,
            createHostDirs: [SERVER_PATHS.storage, SERVER_PATHS.config],
            user: "0:0",
            readOnlyRootFilesystem: true,
            capDrop: ["ALL"],
            securityOpt: ["no-new-privileges:true"],
            healthCheck: { hostPort: SHIPPER.healthPort, containerPort: SHIPPER.healthPort, bindAddress: "127.0.0.1", path: "/" },
            metrics: { hostPort: SHIPPER.metricsPort, containerPort: SHIPPER.metricsPort, bindAddress: "127.0.0.1" },
            restartPolicy: "unless-stopped",
        },
        sourceContainerOptions: (component: string) => [
            "--log-driver=json-file",
            "--log-opt=max-size=50m",
            "--log-opt=max-file=5",
            `--label=${SERVER_COMPONENT_LABEL}=${component}`,
            `--log-opt=labels=${SERVER_COMPONENT_LABEL}`,
        ],
    };
}
