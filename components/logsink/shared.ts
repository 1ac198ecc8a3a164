// What the log sink's targets share: the definition it reads, the shipper's names, and small pure helpers.
import type * as k8s from "@pulumi/kubernetes";
import type { ObjectStorageSettings } from "../../kit/object-storage";
import type { StackScope } from "../../kit/scope";
import type { ModelServiceSettings } from "../model-service/schema";
import type { SecurityGroupSettings } from "../network/schema";
import type { ServerSettings } from "../server/schema";
import type { LogSinkSettings } from "./schema";
import { quantityValue } from "../../kit/schema";

/** The parts of the stack definition the log sink reads. */
export type LogSinkDefinition = StackScope & { logSink: LogSinkSettings; objectStorage: ObjectStorageSettings };

/**
 * What the Kubernetes LogSink reads besides: the security group (DNS, object-store egress and the
 * monitoring namespace of its NetworkPolicies) and what the security group is computed from.
 */
export type LogSinkClusterDefinition = LogSinkDefinition & { securityGroup: SecurityGroupSettings; modelService: ModelServiceSettings; server?: ServerSettings };

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
