// Pure generators of the log shipper's configuration (OpenTelemetry Collector) for Kubernetes and for the
// lightweight server, and of the retention rule. No Pulumi here: tests call these directly and the real
// collector validates and runs their output.
//
// Why two pipelines joined by a loopback: the awss3 exporter (contrib 0.130) has no retry of its own
// beyond the AWS SDK's few attempts, and a persistent queue deletes an item whose export failed. So the
// collect pipeline ends in an OTLP exporter, which retries forever out of a bytes-bounded queue on disk,
// and sends to the upload pipeline in the same process (127.0.0.1), whose awss3 exporter uploads
// synchronously: a failed upload travels back as a retryable error, and the batch stays on disk.
import { quantityValue } from "../../kit/schema";
import { LogSinkSettings } from "./schema";

/** The settings of `objectStorage` the shipper needs. */
export interface ObjectStorageTarget {
    /** http(s) URL of the S3 API. */
    endpoint: string;
    region: string;
    forcePathStyle: boolean;
}

/** Attributes every shipped record carries, naming where it came from. */
export interface ShipperIdentity {
    /** Pulumi stack name. */
    stack: string;
    /** `<project>-<stack>`, the app.kubernetes.io/instance of the stack's objects. */
    instance: string;
}

/** Ports and paths the generated configuration and the container spec agree on. */
export const SHIPPER = {
    /** health_check extension: liveness and readiness. */
    healthPort: 13133,
    /** The collector's own metrics (Prometheus format). */
    metricsPort: 8888,
    /** Loopback OTLP port between the collect and upload pipelines (bound to 127.0.0.1 only). */
    loopbackPort: 14317,
    /** Where the configuration file is mounted. */
    configDir: "/etc/otelcol-logsink",
    configFile: "config.yaml",
    /** Where the CA bundle is mounted when the store uses a private CA. */
    caDir: "/etc/otelcol-logsink/ca",
    caFile: "ca.crt",
    /** Disk buffer (persistent queue) and read offsets inside the container. */
    storageDir: "/var/lib/otelcol-logsink",
    /** Upload time partition: objects land under <prefix>/date=YYYY-MM-DD/. */
    partitionFormat: "date=%Y-%m-%d",
} as const;

/** Resource attribute names the shipper adds (stack, slot, zone; pod metadata uses k8s.* names). */
export const ATTRIBUTES = {
    stack: "triton_platform.stack",
    instance: "triton_platform.instance",
    slot: "triton_platform.slot",
    component: "triton_platform.component",
    /** OpenTelemetry semantic convention for the zone. */
    zone: "cloud.availability_zone",
} as const;

/** The pod label that names a model-server pod's blue-green slot. */
export const SLOT_LABEL = "triton-platform/slot";
/** The node label that names a node's availability zone. */
export const ZONE_LABEL = "topology.kubernetes.io/zone";

/**
 * Triton's `--log-format=ISO8601` line: `2024-05-01T12:00:00Z I 1 server.cc:123] message` (level E, W,
 * I; verbose lines print as I). Fractional seconds are accepted in case a later release adds them.
 * No backslashes: the same text is embedded in an expr string, where they would need escaping twice.
 */
export const TRITON_ISO8601_PREFIX = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?Z [EWIV] ";
const TRITON_LINE =
    "^(?P<triton_time>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.][0-9]+)?Z) (?P<triton_level>[EWIV]) (?P<triton_pid>[0-9]+) (?P<triton_source>[^ \\]]+)\\] ";

type Yaml = Record<string, unknown>;

/** The disk queue bound in bytes. */
export function bufferBytes(sink: LogSinkSettings): number {
    return Math.floor(quantityValue(sink.bufferSize));
}

/** Room for the file storage's own files beside the queue: read offsets, bbolt metadata. */
const STORAGE_OVERHEAD_BYTES = 64 * 2 ** 20;

/**
 * sizeLimit of the emptyDir holding the disk queue and the read offsets, as a quantity: twice the
 * queue bound plus 64Mi. The file storage (bbolt) does not shrink its file as items leave, and its
 * compaction writes a fresh copy next to the old one; a volume that outgrows its sizeLimit gets the pod
 * evicted, and the eviction deletes the buffer, so the limit must hold a full queue with room to spare.
 */
export function bufferVolumeSizeLimit(sink: LogSinkSettings): string {
    return `${Math.ceil((2 * bufferBytes(sink) + STORAGE_OVERHEAD_BYTES) / 2 ** 20)}Mi`;
}

/**
 * Operators shared by both targets, applied after the record's body is the application's line: Triton's
 * ISO8601 lines get time, severity, pid and source; JSON lines (the entry point) are parsed; anything
 * else ships as it is.
 */
function lineOperators(): Yaml[] {
    return [
        {
            type: "router",
            id: "format",
            routes: [
                { expr: `body matches "${TRITON_ISO8601_PREFIX}"`, output: "triton" },
                { expr: 'body startsWith "{"', output: "json" },
            ],
            default: "parsed",
        },
        {
            type: "regex_parser",
            id: "triton",
            regex: TRITON_LINE,
            parse_to: "attributes",
            timestamp: { parse_from: "attributes.triton_time", layout_type: "gotime", layout: "2006-01-02T15:04:05Z07:00" },
            severity: { parse_from: "attributes.triton_level", mapping: { error: "E", warn: "W", info: "I", debug: "V" } },
            on_error: "send_quiet",
            output: "parsed",
        },
        { type: "json_parser", id: "json", parse_to: "attributes", on_error: "send_quiet", output: "parsed" },
        { type: "noop", id: "parsed" },
    ];
}

/** Extensions: health for probes, file storage for the disk queue and the read offsets. */
function extensions(healthHost: string): Yaml {
    return {
        health_check: { endpoint: `${healthHost}:${SHIPPER.healthPort}` },
        file_storage: {
            directory: SHIPPER.storageDir,
            create_directory: true,
            timeout: "10s",
            // A crash must not lose acknowledged writes.
            fsync: true,
            compaction: { on_start: true, on_rebound: true, directory: SHIPPER.storageDir },
        },
    };
}

/** The collect side's exporter: a bytes-bounded disk queue that retries forever into the loopback. */
function loopbackExporter(sink: LogSinkSettings): Yaml {
    const flush = `${sink.flushIntervalSeconds}s`;
    return {
        endpoint: `127.0.0.1:${SHIPPER.loopbackPort}`,
        tls: { insecure: true },
        compression: "none",
        timeout: "120s",
        retry_on_failure: { enabled: true, initial_interval: "5s", max_interval: "60s", max_elapsed_time: "0s" },
        sending_queue: {
            enabled: true,
            storage: "file_storage",
            sizer: "bytes",
            queue_size: bufferBytes(sink),
            // Full buffer: stop reading (the runtime's log files hold the rest) instead of dropping.
            block_on_overflow: true,
            num_consumers: 2,
            // One object per flush interval or per 4 MiB, whichever comes first.
            batch: { flush_timeout: flush, sizer: "bytes", min_size: 4 * 2 ** 20, max_size: 8 * 2 ** 20 },
        },
    };
}

/** The upload side: OTLP in on 127.0.0.1, awss3 out, synchronously (no queue, errors go back). */
function uploadParts(sink: LogSinkSettings, store: ObjectStorageTarget, filePrefix: string): { receiver: Yaml; exporter: Yaml } {
    const url = new URL(store.endpoint);
    return {
        receiver: { protocols: { grpc: { endpoint: `127.0.0.1:${SHIPPER.loopbackPort}`, max_recv_msg_size_mib: 32 } } },
        exporter: {
            s3uploader: {
                region: store.region,
                s3_bucket: sink.bucket,
                s3_prefix: sink.prefix,
                s3_partition_format: SHIPPER.partitionFormat,
                file_prefix: filePrefix,
                endpoint: store.endpoint,
                s3_force_path_style: store.forcePathStyle,
                disable_ssl: url.protocol === "http:",
                compression: "gzip",
                retry_mode: "standard",
                retry_max_attempts: 3,
            },
            // OTLP JSON keeps the resource attributes (stack, slot, zone, pod) with every batch.
            marshaler: "otlp_json",
            timeout: "60s",
            sending_queue: { enabled: false },
        },
    };
}

/** The collector's own telemetry: JSON logs, Prometheus metrics on the metrics port. */
function telemetry(metricsHost: string): Yaml {
    return {
        logs: { level: "info", encoding: "json" },
        metrics: {
            level: "normal",
            // Classic names (otelcol_exporter_queue_size, ..._total) without unit suffixes or scope
            // labels: the alert rules select these.
            readers: [
                {
                    pull: {
                        exporter: {
                            prometheus: { host: metricsHost, port: SHIPPER.metricsPort, without_units: true, without_scope_info: true },
                        },
                    },
                },
            ],
        },
    };
}

/** Inputs of the Kubernetes (DaemonSet) configuration. */
export interface KubernetesShipperArgs {
    sink: LogSinkSettings;
    store: ObjectStorageTarget;
    identity: ShipperIdentity;
    /** Namespace whose pods' logs are shipped (the model service and its entry point). */
    namespace: string;
}

/**
 * Collector configuration for the DaemonSet: reads `/var/log/pods/<namespace>_*` (CRI or Docker
 * format), takes namespace/pod/container from the path, asks the API for the pod's slot label, its
 * Deployment and image, and the node's zone label, and adds the stack. Environment variables the pod
 * must set: POD_IP and K8S_NODE_NAME (downward API).
 */
export function kubernetesShipperConfig(args: KubernetesShipperArgs): Yaml {
    const { sink, store, identity, namespace } = args;
    const upload = uploadParts(sink, store, `${identity.instance}_`);
    return {
        extensions: extensions("${env:POD_IP}"),
        receivers: {
            filelog: {
                include: [`/var/log/pods/${namespace}_*/*/*.log`],
                start_at: "beginning",
                include_file_path: true,
                include_file_name: false,
                storage: "file_storage",
                // Downstream refusal (memory limit) slows reading instead of dropping lines.
                retry_on_failure: { enabled: true, initial_interval: "1s", max_interval: "30s", max_elapsed_time: "0s" },
                operators: [{ type: "container", id: "container", add_metadata_from_filepath: true }, ...lineOperators()],
            },
            otlp: upload.receiver,
        },
        processors: {
            memory_limiter: { check_interval: "1s", limit_percentage: 80, spike_limit_percentage: 20 },
            k8sattributes: {
                auth_type: "serviceAccount",
                passthrough: false,
                // Only this node's pods of this namespace: the Role grants no more.
                filter: { node_from_env_var: "K8S_NODE_NAME", namespace },
                pod_association: [{ sources: [{ from: "resource_attribute", name: "k8s.pod.uid" }] }],
                extract: {
                    metadata: [
                        "k8s.pod.name",
                        "k8s.pod.uid",
                        "k8s.deployment.name",
                        "k8s.node.name",
                        "container.image.name",
                        "container.image.tag",
                    ],
                    labels: [
                        { tag_name: ATTRIBUTES.slot, key: SLOT_LABEL, from: "pod" },
                        { tag_name: ATTRIBUTES.zone, key: ZONE_LABEL, from: "node" },
                    ],
                },
            },
            resource: {
                attributes: [
                    { key: ATTRIBUTES.stack, value: identity.stack, action: "upsert" },
                    { key: ATTRIBUTES.instance, value: identity.instance, action: "upsert" },
                ],
            },
        },
        exporters: { "otlp/loopback": loopbackExporter(sink), awss3: upload.exporter },
        service: {
            extensions: ["health_check", "file_storage"],
            telemetry: telemetry("${env:POD_IP}"),
            pipelines: {
                "logs/collect": {
                    receivers: ["filelog"],
                    processors: ["memory_limiter", "k8sattributes", "resource"],
                    exporters: ["otlp/loopback"],
                },
                "logs/upload": { receivers: ["otlp"], processors: [], exporters: ["awss3"] },
            },
        },
    };
}

/** The Docker label (and json-file log attribute) that marks a server container's logs for shipping. */
export const SERVER_COMPONENT_LABEL = "triton-platform.component";

/** Host paths on the lightweight server, mounted at the same paths in the shipper container. */
export const SERVER_PATHS = {
    /** Docker's json-file logs. */
    dockerContainers: "/var/lib/docker/containers",
    /** Disk buffer and read offsets of the shipper (host side). */
    storage: "/var/lib/triton-platform/logsink",
    /** Configuration folder (host side). */
    config: "/etc/triton-platform/logsink",
    /** Environment file with the object-store credentials (host side, mode 0600, root). */
    credentialsEnvFile: "/etc/triton-platform/logsink/credentials.env",
} as const;

/** Inputs of the lightweight-server configuration. */
export interface ServerShipperArgs {
    sink: LogSinkSettings;
    store: ObjectStorageTarget;
    identity: ShipperIdentity;
    /** The server's availability zone, when known. */
    zone?: string;
    /** The server's host name (host.name on every record), when known. */
    hostName?: string;
    /** Folder of Docker's container logs as the shipper sees it. @default /var/lib/docker/containers */
    dockerContainersDir?: string;
    /** Folder of the disk buffer as the shipper sees it. @default /var/lib/otelcol-logsink */
    storageDir?: string;
}

/**
 * Collector configuration for the lightweight server: reads Docker's json-file logs, keeps only the
 * containers labelled `triton-platform.component` (run with `--log-opt labels=triton-platform.component`,
 * so each line carries the label), and adds stack, component, and zone and host name when given.
 */
export function serverShipperConfig(args: ServerShipperArgs): Yaml {
    const { sink, store, identity } = args;
    const upload = uploadParts(sink, store, `${identity.instance}_server_`);
    const ext = extensions("0.0.0.0");
    (ext.file_storage as Yaml).directory = args.storageDir ?? SHIPPER.storageDir;
    ((ext.file_storage as Yaml).compaction as Yaml).directory = args.storageDir ?? SHIPPER.storageDir;
    const resourceAttributes: Yaml[] = [
        { key: ATTRIBUTES.stack, value: identity.stack, action: "upsert" },
        { key: ATTRIBUTES.instance, value: identity.instance, action: "upsert" },
    ];
    if (args.hostName) {
        resourceAttributes.push({ key: "host.name", value: args.hostName, action: "upsert" });
    }
    if (args.zone) {
        resourceAttributes.push({ key: ATTRIBUTES.zone, value: args.zone, action: "upsert" });
    }
    const component = `attributes.attrs["${SERVER_COMPONENT_LABEL}"]`;
    return {
        extensions: ext,
        receivers: {
            filelog: {
                include: [`${args.dockerContainersDir ?? SERVER_PATHS.dockerContainers}/*/*-json.log`],
                start_at: "beginning",
                include_file_path: false,
                include_file_name: false,
                storage: "file_storage",
                retry_on_failure: { enabled: true, initial_interval: "1s", max_interval: "30s", max_elapsed_time: "0s" },
                operators: [
                    {
                        type: "json_parser",
                        id: "docker",
                        timestamp: { parse_from: "attributes.time", layout_type: "gotime", layout: "2006-01-02T15:04:05.999999999Z07:00" },
                    },
                    // Containers not labelled for shipping (the shipper itself included) are dropped here.
                    { type: "filter", id: "labelled", expr: `attributes.attrs == nil or ${component} == nil` },
                    { type: "move", id: "component", from: component, to: `resource["${ATTRIBUTES.component}"]` },
                    { type: "move", id: "stream", from: "attributes.stream", to: 'attributes["log.iostream"]' },
                    { type: "remove", id: "attrs", field: "attributes.attrs" },
                    { type: "remove", id: "time", field: "attributes.time" },
                    // The body becomes the application's line, without the newline Docker keeps.
                    { type: "add", id: "line", field: "body", value: 'EXPR(trimSuffix(attributes.log, "\\n"))' },
                    { type: "remove", id: "log", field: "attributes.log" },
                    ...lineOperators(),
                ],
            },
            otlp: upload.receiver,
        },
        processors: {
            memory_limiter: { check_interval: "1s", limit_percentage: 80, spike_limit_percentage: 20 },
            resource: { attributes: resourceAttributes },
        },
        exporters: { "otlp/loopback": loopbackExporter(sink), awss3: upload.exporter },
        service: {
            extensions: ["health_check", "file_storage"],
            telemetry: telemetry("0.0.0.0"),
            pipelines: {
                "logs/collect": { receivers: ["filelog"], processors: ["memory_limiter", "resource"], exporters: ["otlp/loopback"] },
                "logs/upload": { receivers: ["otlp"], processors: [], exporters: ["awss3"] },
            },
        },
    };
}

/** Serialises a configuration. JSON is YAML, so the collector reads it as its YAML config file. */
export function renderConfig(config: Yaml): string {
    return `${JSON.stringify(config, null, 2)}\n`;
}

/** The expiration rule the retention Job merges into the bucket's lifecycle configuration. */
export interface LifecycleRule {
    ID: string;
    Filter: { Prefix: string };
    Status: "Enabled";
    Expiration: { Days: number };
}

/** The lifecycle rule for the sink's prefix; its ID is stable per stack instance, so re-runs replace it. */
export function lifecycleRule(sink: LogSinkSettings, instance: string): LifecycleRule {
    return {
        ID: `${instance}-logs-retention`.slice(0, 255),
        Filter: { Prefix: `${sink.prefix}/` },
        Status: "Enabled",
        Expiration: { Days: sink.retentionDays },
    };
}
