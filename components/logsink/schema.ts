// Settings of the log sink (config key `logSink`): R13 conversation and server logs shipped to the
// S3-compatible object storage of `objectStorage` (endpoint, region, path-style, workload identity).
import { z } from "zod";
import { bool, cidr, int, pinnedImage, quantity, quantityValue } from "../../kit/schema";

/**
 * The log shipper: the OpenTelemetry Collector contrib distribution. The version must match the one
 * `scripts/install-logsink-tools.sh` builds, because the tests validate the generated configuration
 * with that build.
 */
export const DEFAULT_SHIPPER_IMAGE = "docker.io/otel/opentelemetry-collector-contrib:0.130.0";

/** Image of the one-shot Job that applies the retention rule (has the aws CLI). */
export const DEFAULT_RETENTION_IMAGE = "docker.io/amazon/aws-cli:2.17.0";

/** Smallest disk buffer accepted: below it, a short outage of the store fills the buffer. */
export const MIN_BUFFER_BYTES = 64 * 2 ** 20;

/** An S3 bucket name (DNS-compatible: lower case, digits, '.', '-', 3-63 characters). */
const bucketName = z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
        error: "expected an S3 bucket name: 3-63 lower-case letters, digits, '.' or '-'",
    })
    .refine((b) => !b.includes("..") && !/^\d+\.\d+\.\d+\.\d+$/.test(b), {
        error: "a bucket name must not contain '..' or look like an IP address",
    });

export const logSinkSchema = z
    .strictObject({
        /** Ship logs at all. */
        enabled: bool.default(true),
        /** Bucket on the `objectStorage` endpoint. It must exist; the program does not create it. */
        bucket: bucketName.default("conversation-logs"),
        /**
         * Key prefix inside the bucket, without leading or trailing '/'. Objects land under
         * `<prefix>/date=YYYY-MM-DD/` (UTC date of the upload).
         */
        prefix: z
            .string()
            .regex(/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/, {
                error: "expected a key prefix such as triton or logs/triton: no leading or trailing '/', no spaces",
            })
            .default("triton"),
        /** Days an object is kept before the store deletes it (an expiration lifecycle rule). */
        retentionDays: int(1, 3650).default(30),
        /**
         * How retention is applied. `lifecycle`: a Job merges an expiration rule for the prefix into the
         * bucket's lifecycle configuration (the credentials need s3:GetLifecycleConfiguration and
         * s3:PutLifecycleConfiguration). `manual`: nothing is applied; docs/OBSERVABILITY.md gives the rule
         * to apply by hand, for stores or credentials that cannot.
         */
        retentionMode: z.enum(["lifecycle", "manual"]).default("lifecycle"),
        /**
         * Bound of the on-disk buffer (per node) kept while the object store is unreachable. When it is
         * full the shipper stops reading: older lines then wait in the container runtime's own log files
         * until their rotation. The buffer lives in an emptyDir sized from it (twice this plus 64Mi): it
         * survives container restarts and store outages, not the deletion of the pod.
         */
        bufferSize: quantity
            .refine((q) => quantityValue(q) >= MIN_BUFFER_BYTES, { error: "bufferSize must be at least 64Mi" })
            .default("2Gi"),
        /** Longest time lines wait before they are uploaded as one object (seconds). */
        flushIntervalSeconds: int(1, 3600).default(60),
        /** Pinned log shipper image. */
        image: pinnedImage.default(DEFAULT_SHIPPER_IMAGE),
        /** Pinned image of the retention Job. */
        retentionJobImage: pinnedImage.default(DEFAULT_RETENTION_IMAGE),
        /**
         * PEM bundle of the certificate authority of a private object store (TLS with a private CA). Unset:
         * the system roots. It is public data, kept in a ConfigMap.
         */
        caBundle: z
            .string()
            .refine((s) => s.includes("-----BEGIN CERTIFICATE-----"), { error: "expected a PEM certificate bundle" })
            .optional(),
        /** Requests and limits of the shipper container. */
        resources: z
            .strictObject({
                cpuRequest: quantity.default("100m"),
                memoryRequest: quantity.default("256Mi"),
                memoryLimit: quantity.default("512Mi"),
            })
            .prefault({}),
        /**
         * CIDRs of the Kubernetes API server endpoints (`kubectl get endpoints kubernetes`), which the shipper
         * reaches on 443 and 6443 to read pod and node metadata. Empty: those ports at any address.
         */
        apiServerCidrs: z.array(cidr).default([]),
    })
    .prefault({});
export type LogSinkSettings = z.infer<typeof logSinkSchema>;

/**
 * Cross-field checks of the log sink, for the definition's cross rules (keys: environment, objectStorage,
 * logSink): conversation logs must not leave a production cluster unencrypted. Pure; returns
 * [config path, message] pairs.
 */
export function logSinkIssues(d: {
    environment: string;
    objectStorage: { endpoint: string };
    logSink: LogSinkSettings;
}): [(string | number)[], string][] {
    const issues: [(string | number)[], string][] = [];
    if (d.environment === "prod" && d.logSink.enabled && d.objectStorage.endpoint.startsWith("http:")) {
        issues.push([
            ["objectStorage", "endpoint"],
            "prod ships conversation logs to this endpoint: use https (set logSink.caBundle for a private CA)",
        ]);
    }
    return issues;
}
