// The log sink on Kubernetes: an OpenTelemetry Collector DaemonSet in its own namespace, its RBAC, the
// retention Job and the NetworkPolicies. The specs come from the pure builders below, which the tests
// call directly; the LogSink component only wires them to resources.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { imageVersion } from "../../kit/image-ref";
import { podSecurityLabels, recommendedLabels, selectorLabels } from "../../kit/labels";
import { nodeAgentPriorityClass } from "../../kit/priority";
import { buildSecurityPolicy, securityPolicyInput } from "../network";
import { bufferVolumeSizeLimit, kubernetesShipperConfig, lifecycleRule, renderConfig, SHIPPER } from "./config";
import { logSinkNetworkPolicies } from "./network-policy";
import { retentionEnv, retentionScript } from "./retention";
import { LogSinkSettings } from "./schema";
import {
    goMemLimit,
    LogSinkClusterDefinition,
    LogSinkDefinition,
    loggingNamespaceName,
    RETENTION_COMPONENT,
    SHIPPER_APP,
    SHIPPER_COMPONENT,
    SHIPPER_CONTAINER_SECURITY,
    usesStaticKeys,
} from "./shared";

type EnvVar = k8s.types.input.core.v1.EnvVar;
type Volume = k8s.types.input.core.v1.Volume;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;

/** Name of the shipper pods' metrics port (its PodMonitor selects it). */
export const SHIPPER_METRICS_PORT_NAME = "metrics";

/** Zone labels live on nodes (cluster-scoped); the shipper watches only its own node. */
export const NODE_READER_RULES = [{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] }];
/** Pods (slot label, image) and ReplicaSets (Deployment name) of the model service's namespace only. */
export const POD_READER_RULES = [
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
    { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["get", "list", "watch"] },
];

/** AWS SDK environment: region, CA bundle, and the keys from the Secret when static keys are used. */
export function awsEnvironment(store: LogSinkDefinition["objectStorage"], secretName: pulumi.Input<string> | undefined, sink: LogSinkSettings): EnvVar[] {
    const env: EnvVar[] = [
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

/** The CA bundle from the shipper's ConfigMap, when the definition gives one. */
function caVolume(sink: LogSinkSettings, configMapName: pulumi.Input<string>): { volumes: Volume[]; mounts: VolumeMount[] } {
    if (!sink.caBundle) {
        return { volumes: [], mounts: [] };
    }
    return {
        volumes: [{ name: "ca", configMap: { name: configMapName, items: [{ key: SHIPPER.caFile, path: SHIPPER.caFile }] } }],
        mounts: [{ name: "ca", mountPath: SHIPPER.caDir, readOnly: true }],
    };
}

/** The shipper DaemonSet's spec. */
export function shipperDaemonSetSpec(args: {
    sink: LogSinkSettings;
    podSelector: Record<string, string>;
    labels: Record<string, string>;
    serviceAccountName: pulumi.Input<string>;
    priorityClassName: pulumi.Input<string>;
    configMapName: pulumi.Input<string>;
    awsEnv: EnvVar[];
}): k8s.types.input.apps.v1.DaemonSetSpec {
    const { sink } = args;
    const ca = caVolume(sink, args.configMapName);
    const volumes: Volume[] = [
        { name: "varlogpods", hostPath: { path: "/var/log/pods", type: "Directory" } },
        // Disk queue and read offsets. An emptyDir, not a hostPath: nothing of the pod stays writable on the
        // node. It survives container restarts (crash, OOM kill) and store outages; deleting the pod
        // (update, drain, eviction) loses the queued batches and the offsets (docs/OBSERVABILITY.md).
        { name: "buffer", emptyDir: { sizeLimit: bufferVolumeSizeLimit(sink) } },
        { name: "config", configMap: { name: args.configMapName, items: [{ key: SHIPPER.configFile, path: SHIPPER.configFile }] } },
        ...ca.volumes,
    ];
    const mounts: VolumeMount[] = [
        { name: "varlogpods", mountPath: "/var/log/pods", readOnly: true },
        { name: "buffer", mountPath: SHIPPER.storageDir },
        { name: "config", mountPath: SHIPPER.configDir, readOnly: true },
        ...ca.mounts,
    ];
    return {
        selector: { matchLabels: args.podSelector },
        updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
        template: {
            metadata: { labels: args.labels },
            spec: {
                serviceAccountName: args.serviceAccountName,
                automountServiceAccountToken: true,
                priorityClassName: args.priorityClassName,
                // Every node, GPU nodes with their taints included: a node without a shipper loses its
                // pods' logs.
                tolerations: [{ operator: "Exists" }],
                // Time to hand the in-flight batch to the disk queue on shutdown.
                terminationGracePeriodSeconds: 60,
                securityContext: {
                    // Root, because the runtime writes pod logs root-owned with mode 0640; with every
                    // capability dropped, root reads only what it owns. The policy pack allows root for this
                    // component only so confined (run-as-non-root, exemptComponents): no escalation,
                    // read-only root and hostPath, no capabilities.
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
                            ...args.awsEnv,
                        ],
                        ports: [
                            { name: SHIPPER_METRICS_PORT_NAME, containerPort: SHIPPER.metricsPort, protocol: "TCP" },
                            { name: "health", containerPort: SHIPPER.healthPort, protocol: "TCP" },
                        ],
                        // Start-up compacts the file storage (compaction.on_start), which takes longer the
                        // fuller the buffer: up to 5 minutes before liveness takes over.
                        startupProbe: { httpGet: { path: "/", port: "health" }, periodSeconds: 5, failureThreshold: 60 },
                        livenessProbe: { httpGet: { path: "/", port: "health" }, periodSeconds: 30, failureThreshold: 3 },
                        readinessProbe: { httpGet: { path: "/", port: "health" }, periodSeconds: 10 },
                        resources: {
                            requests: {
                                cpu: sink.resources.cpuRequest,
                                memory: sink.resources.memoryRequest,
                                // The buffer's room is reserved on the node: under disk pressure the kubelet
                                // evicts pods using more than they requested first.
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
    };
}

/** The retention Job's spec: a one-shot merge of the retention rule into the bucket's lifecycle. */
export function retentionJobSpec(args: {
    definition: LogSinkDefinition;
    labels: Record<string, string>;
    serviceAccountName: pulumi.Input<string>;
    scriptConfigMapName: pulumi.Input<string>;
    /** The shipper's ConfigMap, which holds the CA bundle when there is one. */
    caConfigMapName: pulumi.Input<string>;
    awsEnv: EnvVar[];
}): k8s.types.input.batch.v1.JobSpec {
    const def = args.definition;
    const sink = def.logSink;
    const env = retentionEnv({
        bucket: sink.bucket,
        endpoint: def.objectStorage.endpoint,
        region: def.objectStorage.region,
        forcePathStyle: def.objectStorage.forcePathStyle,
        rule: lifecycleRule(sink, `${def.project}-${def.stack}`),
    });
    const ca = caVolume(sink, args.caConfigMapName);
    return {
        backoffLimit: 6,
        template: {
            metadata: { labels: args.labels },
            spec: {
                restartPolicy: "OnFailure",
                serviceAccountName: args.serviceAccountName,
                automountServiceAccountToken: false,
                securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } },
                containers: [
                    {
                        name: "retention",
                        image: sink.retentionJobImage,
                        command: ["/bin/sh", "/opt/retention/retention.sh"],
                        env: [
                            ...Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
                            { name: "TMPDIR", value: "/tmp" },
                            ...args.awsEnv.filter((e) => e.name !== "AWS_REGION"),
                        ],
                        resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "256Mi" } },
                        securityContext: SHIPPER_CONTAINER_SECURITY,
                        volumeMounts: [
                            { name: "script", mountPath: "/opt/retention", readOnly: true },
                            { name: "tmp", mountPath: "/tmp" },
                            ...ca.mounts,
                        ],
                    },
                ],
                volumes: [
                    { name: "script", configMap: { name: args.scriptConfigMapName, defaultMode: 0o555 } },
                    { name: "tmp", emptyDir: { sizeLimit: "16Mi" } },
                    ...ca.volumes,
                ],
            },
        },
    };
}

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
    public readonly metricsPortName = SHIPPER_METRICS_PORT_NAME;
    /** `s3://bucket/prefix/` the logs land under. */
    public readonly destination: pulumi.Output<string>;

    constructor(name: string, args: LogSinkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("triton-platform:logsink:LogSink", name, {}, opts);
        const def = args.definition;
        const sink = def.logSink;
        const instance = `${def.project}-${def.stack}`;
        const child = { parent: this, provider: args.provider };
        const named = (component: string, version?: string) => recommendedLabels({ name: SHIPPER_APP, instance, component, version, extra: def.labels });
        const labels = named(SHIPPER_COMPONENT, imageVersion(sink.image));
        this.podSelector = selectorLabels({ name: SHIPPER_APP, instance, component: SHIPPER_COMPONENT });
        const staticKeys = usesStaticKeys(args);

        // Fixed name: the Pod Security level is a property of the namespace, and operators look for it.
        // hostPath (/var/log/pods) is allowed only at the privileged level; the pod itself still meets
        // everything else of baseline and most of restricted.
        const ns = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            { metadata: { name: loggingNamespaceName(def.namespace), labels: { ...named("namespace"), ...podSecurityLabels("privileged", "baseline") } } },
            child,
        );
        const nsName = ns.metadata.name;
        this.namespace = nsName;
        const identityAnnotations = staticKeys ? {} : def.objectStorage.serviceAccountAnnotations;

        // The token is needed: the shipper reads pod and node metadata from the API.
        const account = new k8s.core.v1.ServiceAccount(
            `${name}-shipper`,
            { metadata: { namespace: nsName, labels, annotations: identityAnnotations }, automountServiceAccountToken: true },
            child,
        );
        this.declareReaders(name, account, nsName, args.sourceNamespace, labels, child);

        const credentials = staticKeys
            ? new k8s.core.v1.Secret(
                  `${name}-credentials`,
                  {
                      metadata: { namespace: nsName, labels },
                      type: "Opaque",
                      stringData: { AWS_ACCESS_KEY_ID: pulumi.secret(args.accessKeyId!), AWS_SECRET_ACCESS_KEY: pulumi.secret(args.secretAccessKey!) },
                  },
                  child,
              )
            : undefined;
        const awsEnv = awsEnvironment(def.objectStorage, credentials?.metadata.name, sink);

        const configText = pulumi
            .output(args.sourceNamespace)
            .apply((namespace) => renderConfig(kubernetesShipperConfig({ sink, store: def.objectStorage, identity: { stack: def.stack, instance }, namespace })));
        const config = new k8s.core.v1.ConfigMap(
            `${name}-config`,
            { metadata: { namespace: nsName, labels }, data: { [SHIPPER.configFile]: configText, ...(sink.caBundle ? { [SHIPPER.caFile]: sink.caBundle } : {}) } },
            child,
        );

        // A full node still runs its shipper (kit/priority.ts).
        const priorityClass = new k8s.scheduling.v1.PriorityClass(`${name}-node-agent`, nodeAgentPriorityClass({ instance, component: "log-shipper", labels: def.labels }), child);
        const spec = shipperDaemonSetSpec({
            sink,
            podSelector: this.podSelector,
            labels,
            serviceAccountName: account.metadata.name,
            priorityClassName: priorityClass.metadata.name,
            configMapName: config.metadata.name,
            awsEnv,
        });
        const daemonSet = new k8s.apps.v1.DaemonSet(`${name}-shipper`, { metadata: { namespace: nsName, labels }, spec }, child);

        const retention = sink.retentionMode === "lifecycle";
        if (retention) {
            this.declareRetention(name, def, { nsName, labels: named(RETENTION_COMPONENT), identityAnnotations, configMapName: config.metadata.name, awsEnv }, child);
        }

        // Default deny in the namespace, then only what the shipper and the retention Job need. The same
        // DNS and object-store rules as the model namespace's (components/network).
        const netpols = logSinkNetworkPolicies({
            policy: buildSecurityPolicy(securityPolicyInput(def)),
            shipperSelector: this.podSelector,
            retentionSelector: retention ? selectorLabels({ name: SHIPPER_APP, instance, component: RETENTION_COMPONENT }) : undefined,
            apiServerCidrs: sink.apiServerCidrs,
        });
        for (const doc of netpols) {
            new k8s.networking.v1.NetworkPolicy(`${name}-${doc.role}`, { metadata: { namespace: nsName, labels: named("network-policy") }, spec: doc.spec }, child);
        }

        this.destination = pulumi.output(`s3://${sink.bucket}/${sink.prefix}/`);
        this.registerOutputs({ namespace: this.namespace, destination: this.destination, daemonSet: daemonSet.metadata.name });
    }
    /** What the shipper may read of the API: node metadata (cluster-wide) and pods of the source namespace. */
    private declareReaders(
        name: string,
        account: k8s.core.v1.ServiceAccount,
        nsName: pulumi.Output<string>,
        sourceNamespace: pulumi.Input<string>,
        labels: Record<string, string>,
        child: pulumi.CustomResourceOptions,
    ): void {
        const subjects = [{ kind: "ServiceAccount", name: account.metadata.name, namespace: nsName }];
        const nodeReader = new k8s.rbac.v1.ClusterRole(`${name}-node-reader`, { metadata: { labels }, rules: NODE_READER_RULES }, child);
        new k8s.rbac.v1.ClusterRoleBinding(
            `${name}-node-reader`,
            { metadata: { labels }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: nodeReader.metadata.name }, subjects },
            child,
        );
        const inSource = { namespace: sourceNamespace, labels };
        const podReader = new k8s.rbac.v1.Role(`${name}-pod-reader`, { metadata: inSource, rules: POD_READER_RULES }, child);
        new k8s.rbac.v1.RoleBinding(
            `${name}-pod-reader`,
            { metadata: inSource, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: podReader.metadata.name }, subjects },
            child,
        );
    }

    /** The retention Job (retentionMode lifecycle): sets the bucket's lifecycle rule once, with its own account and script. */
    private declareRetention(
        name: string,
        def: LogSinkClusterDefinition,
        r: { nsName: pulumi.Output<string>; labels: Record<string, string>; identityAnnotations: Record<string, string>; configMapName: pulumi.Output<string>; awsEnv: EnvVar[] },
        child: pulumi.CustomResourceOptions,
    ): void {
        const { nsName, identityAnnotations, awsEnv } = r;
        const retentionLabels = r.labels;
        const inLogging = { namespace: nsName, labels: retentionLabels };
        // No Kubernetes API access needed (workload-identity webhooks project their own token).
        const retentionAccount = new k8s.core.v1.ServiceAccount(
            `${name}-retention`,
            { metadata: { ...inLogging, annotations: identityAnnotations }, automountServiceAccountToken: false },
            child,
        );
        const script = new k8s.core.v1.ConfigMap(`${name}-retention`, { metadata: inLogging, data: { "retention.sh": retentionScript() } }, child);
        // skipAwait: `pulumi up` does not wait on the store; the Job retries on its own and its failure
        // shows in `kubectl get jobs`; the sink itself does not depend on it.
        new k8s.batch.v1.Job(
            `${name}-retention`,
            {
                metadata: { ...inLogging, annotations: { "pulumi.com/skipAwait": "true" } },
                spec: retentionJobSpec({
                    definition: def,
                    labels: retentionLabels,
                    serviceAccountName: retentionAccount.metadata.name,
                    scriptConfigMapName: script.metadata.name,
                    caConfigMapName: r.configMapName,
                    awsEnv,
                }),
            },
            child,
        );
    }
}
