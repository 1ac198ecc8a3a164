// Monitoring (R14): Triton metrics scraped by Prometheus, R14 alerts, node exporter, Grafana dashboard.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackScope } from "../../kit/scope";
import type { ModelServiceSettings } from "../model-service/schema";
import type { SecurityGroupSettings } from "../network/schema";
import { imageVersion } from "../../kit/image-ref";
import { podSecurityLabels, recommendedLabels, selectorLabels } from "../../kit/labels";
import { nodeAgentPriorityClass } from "../../kit/priority";
import { alertmanagerConfig, alertmanagerConfigSpec, webhookSecretKey } from "./alertmanager";
import { grafanaDashboard } from "./dashboard";
import { nodeExporterNetworkPolicies } from "./network-policy";
import { alertRuleGroups, JOBS, RuleGroup } from "./rules";
import { MonitoringSettings } from "./schema";
import { podMonitorSpec, ScrapeTarget, scrapeConfig, tritonTarget } from "./scrape";

export * from "./alertmanager";
export * from "./dashboard";
export * from "./network-policy";
export * from "./rules";
export * from "./schema";
export * from "./scrape";

/**
 * The parts of the stack definition monitoring reads (securityGroup: the monitoring namespace allowed
 * to scrape the node exporter).
 */
export type MonitoringDefinition = StackScope & { monitoring: MonitoringSettings; modelService: ModelServiceSettings; securityGroup: SecurityGroupSettings };

/** app.kubernetes.io/name of the node exporter. */
export const NODE_EXPORTER_APP = "node-exporter";
/**
 * app.kubernetes.io/component of the node exporter's pods. The policy pack keys the host paths it may
 * mount on it (no-host-path allowedHostPaths: /proc, /sys and /, read-only).
 */
export const NODE_EXPORTER_COMPONENT = "node-exporter";
/** Port of the node exporter. */
export const NODE_EXPORTER_PORT = 9100;

/** Name of the namespace of the node exporter. */
export function monitoringNamespaceName(namespace: string): string {
    return `${namespace}-monitoring`.slice(0, 63);
}

/** The log shipper to watch, as the LogSink exposes it. */
export interface WatchedLogShipper {
    /** The shipper's namespace (an Output, for ordering). */
    namespace: pulumi.Input<string>;
    /** The same name as a plain value, for the alert rules. */
    namespaceName: string;
    /** Labels selecting the shipper pods. */
    podSelector: Record<string, string>;
    /** Name of their metrics port. */
    metricsPortName: string;
}

/** The alert rule groups for a definition (the PrometheusRule's spec.groups). Pure. */
export function monitoringRuleGroups(def: MonitoringDefinition, shipperNamespace?: string): RuleGroup[] {
    return alertRuleGroups({
        namespace: def.namespace,
        shipperNamespace,
        thresholds: def.monitoring.thresholds,
        alertFor: def.monitoring.alertFor,
        modelLoadSeconds: def.modelService.expectedModelLoadSeconds,
        runbookBaseUrl: def.monitoring.runbookBaseUrl,
    });
}

/** The scrape targets of a definition: Triton pods, the log shipper, the node exporter. Pure. */
export function scrapeTargets(def: MonitoringDefinition, shipper?: Omit<WatchedLogShipper, "namespace">): ScrapeTarget[] {
    const instance = `${def.project}-${def.stack}`;
    const targets = [tritonTarget(def.namespace, instance)];
    if (shipper) {
        targets.push({ job: JOBS.shipper, namespace: shipper.namespaceName, podLabels: shipper.podSelector, port: shipper.metricsPortName });
    }
    if (def.monitoring.nodeExporter.enabled) {
        targets.push({
            job: JOBS.nodeExporter,
            namespace: monitoringNamespaceName(def.namespace),
            podLabels: selectorLabels({ name: NODE_EXPORTER_APP, instance, component: NODE_EXPORTER_COMPONENT }),
            port: "metrics",
            instanceFromNode: true,
        });
    }
    return targets;
}

/** Arguments of {@link Monitoring}. */
export interface MonitoringArgs {
    /** The stack definition; monitoring reads monitoring, modelService, namespace, labels, project, stack. */
    definition: MonitoringDefinition;
    /** The explicit Kubernetes provider every child uses. */
    provider: k8s.Provider;
    /** The model service's namespace (an Output of its Namespace, so objects placed there wait for it). */
    namespace: pulumi.Input<string>;
    /** The log shipper to scrape and alert on; unset when the log sink is disabled. */
    logShipper?: WatchedLogShipper;
    /**
     * Webhook URLs of the alert receivers, by secret config key (StackSecrets.alertWebhookUrls); each
     * `monitoring.alertRoute.receivers[].urlSecret` must be here. They go into Secrets only.
     */
    alertWebhookUrls?: Record<string, pulumi.Input<string>>;
}

/** The URL Secret's data: one key per receiver ({@link webhookSecretKey}), each a secret Output. Throws for a missing URL. */
export function webhookSecretData(def: MonitoringDefinition, urls: Record<string, pulumi.Input<string>> | undefined): Record<string, pulumi.Output<string>> {
    const data: Record<string, pulumi.Output<string>> = {};
    for (const r of def.monitoring.alertRoute?.receivers ?? []) {
        const url = urls?.[r.urlSecret];
        if (url === undefined) {
            throw new Error(`monitoring.alertRoute: receiver ${r.name} needs the secret ${r.urlSecret} (pulumi config set --secret ${r.urlSecret} <URL>)`);
        }
        data[webhookSecretKey(r.name)] = pulumi.secret(url);
    }
    return data;
}

/**
 * Scrapes Triton (both slots, port `metrics`), the log shipper and the node exporter, and alerts at the
 * R14 thresholds of the definition. With the Prometheus Operator: PodMonitors and a PrometheusRule;
 * without: one ConfigMap holding the rule file and the scrape configs for a plain Prometheus.
 */
export class Monitoring extends pulumi.ComponentResource {
    /** The alert rule groups declared (plain data, for docs and tests). */
    public readonly ruleGroups: pulumi.Output<RuleGroup[]>;
    /**
     * The plain Alertmanager configuration (JSON, which is YAML) of monitoring.alertRoute when the
     * cluster has no Prometheus Operator; undefined otherwise. It holds no URL (`url_file`).
     */
    public readonly alertmanagerConfig?: pulumi.Output<string>;

    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("triton-platform:observability:Monitoring", name, {}, opts);
        const def = args.definition;
        const settings = def.monitoring;
        const instance = `${def.project}-${def.stack}`;
        const child = { parent: this, provider: args.provider };
        const labels = {
            ...recommendedLabels({ name: "triton", instance, component: "monitoring", extra: def.labels }),
            ...settings.selectorLabels,
        };

        let nodeExporterNs: pulumi.Output<string> | undefined;
        if (settings.nodeExporter.enabled) {
            nodeExporterNs = this.declareNodeExporter(name, def, child);
        }

        const groups = monitoringRuleGroups(def, args.logShipper?.namespaceName);
        const targets = scrapeTargets(def, args.logShipper);
        const namespaceOf = (t: ScrapeTarget): pulumi.Input<string> =>
            t.job === JOBS.shipper ? args.logShipper!.namespace : t.job === JOBS.nodeExporter ? nodeExporterNs! : args.namespace;

        this.declareRulesAndScrapes(name, args, { groups, targets, namespaceOf, labels }, child);
        if (settings.alertRoute) {
            this.alertmanagerConfig = this.declareAlertRoute(name, args, settings.alertRoute, { nodeExporterNs, labels }, child);
        }

        if (settings.grafana.dashboard) {
            new k8s.core.v1.ConfigMap(
                `${name}-dashboard`,
                {
                    metadata: { namespace: args.namespace, labels: { ...labels, [settings.grafana.sidecarLabel]: "1" } },
                    data: {
                        "triton-model-service.json": JSON.stringify(
                            grafanaDashboard({ namespace: def.namespace, instance, thresholds: settings.thresholds }),
                        ),
                    },
                },
                child,
            );
        }

        this.ruleGroups = pulumi.output(groups);
        this.registerOutputs({ ruleGroups: this.ruleGroups, alertmanagerConfig: this.alertmanagerConfig });
    }

    /** PodMonitors and a PrometheusRule with the Prometheus Operator; otherwise one ConfigMap of rule and scrape files for a plain Prometheus. */
    private declareRulesAndScrapes(
        name: string,
        args: MonitoringArgs,
        r: { groups: RuleGroup[]; targets: ScrapeTarget[]; namespaceOf: (t: ScrapeTarget) => pulumi.Input<string>; labels: Record<string, string> },
        child: pulumi.CustomResourceOptions,
    ): void {
        const settings = args.definition.monitoring;
        const { groups, targets, namespaceOf, labels } = r;
        if (settings.prometheusOperator) {
            for (const target of targets) {
                new k8s.apiextensions.CustomResource(
                    `${name}-${target.job}`,
                    {
                        apiVersion: "monitoring.coreos.com/v1",
                        kind: "PodMonitor",
                        metadata: { namespace: namespaceOf(target), labels },
                        spec: podMonitorSpec(target, settings.scrapeInterval),
                    },
                    child,
                );
            }
            new k8s.apiextensions.CustomResource(
                `${name}-alerts`,
                {
                    apiVersion: "monitoring.coreos.com/v1",
                    kind: "PrometheusRule",
                    metadata: { namespace: args.namespace, labels },
                    spec: { groups },
                },
                child,
            );
        } else {
            // JSON is YAML: Prometheus reads both files as they are.
            new k8s.core.v1.ConfigMap(
                `${name}-prometheus`,
                {
                    metadata: { namespace: args.namespace, labels },
                    data: {
                        "triton-platform.rules.yaml": JSON.stringify({ groups }, null, 2),
                        "triton-platform.scrape.yaml": JSON.stringify(
                            { scrape_configs: targets.map((t) => scrapeConfig(t, settings.scrapeInterval)) },
                            null,
                            2,
                        ),
                    },
                },
                child,
            );
        }
    }

    /** Where alerts go (monitoring.alertRoute): AlertmanagerConfigs per alerting namespace with the operator, else an alertmanager.yaml ConfigMap; the webhook URLs only in Secrets. */
    private declareAlertRoute(
        name: string,
        args: MonitoringArgs,
        route: NonNullable<MonitoringSettings["alertRoute"]>,
        r: { nodeExporterNs?: pulumi.Output<string>; labels: Record<string, string> },
        child: pulumi.CustomResourceOptions,
    ): pulumi.Output<string> | undefined {
        const def = args.definition;
        const settings = def.monitoring;
        const instance = `${def.project}-${def.stack}`;
        const { nodeExporterNs, labels } = r;
        const data = webhookSecretData(def, args.alertWebhookUrls);
        const secretLabels = recommendedLabels({ name: "triton", instance, component: "alert-webhooks", extra: def.labels });
        if (settings.prometheusOperator) {
            // The operator limits an AlertmanagerConfig to alerts labelled with its own namespace, and
            // the alerts come from three: the model service's, the node exporter's (disk) and the log
            // shipper's. One route per namespace, each with its own copy of the URL Secret (an
            // AlertmanagerConfig reads Secrets of its namespace only).
            const namespaces: { role: string; ns: pulumi.Input<string> }[] = [{ role: "", ns: args.namespace }];
            if (nodeExporterNs) {
                namespaces.push({ role: "-monitoring", ns: nodeExporterNs });
            }
            if (args.logShipper) {
                namespaces.push({ role: "-logging", ns: args.logShipper.namespace });
            }
            for (const { role, ns } of namespaces) {
                const secret = new k8s.core.v1.Secret(
                    `${name}-alert-webhooks${role}`,
                    { metadata: { namespace: ns, labels: secretLabels }, type: "Opaque", stringData: data },
                    child,
                );
                new k8s.apiextensions.CustomResource(
                    `${name}-alert-route${role}`,
                    {
                        apiVersion: "monitoring.coreos.com/v1alpha1",
                        kind: "AlertmanagerConfig",
                        metadata: { namespace: ns, labels },
                        spec: secret.metadata.name.apply((secretName) => alertmanagerConfigSpec(route, secretName)),
                    },
                    child,
                );
            }
        } else {
            // Mount the Secret at monitoring.alertRoute.urlFileDirectory of the Alertmanager pod and
            // give it the ConfigMap's alertmanager.yaml.
            new k8s.core.v1.Secret(`${name}-alert-webhooks`, { metadata: { namespace: args.namespace, labels: secretLabels }, type: "Opaque", stringData: data }, child);
            const text = JSON.stringify(alertmanagerConfig(route), null, 2);
            new k8s.core.v1.ConfigMap(`${name}-alertmanager`, { metadata: { namespace: args.namespace, labels }, data: { "alertmanager.yaml": text } }, child);
            return pulumi.output(text);
        }
        return undefined;
    }

    /**
     * Node exporter DaemonSet for disk and node metrics. Its own namespace at the `privileged` Pod
     * Security level, because it mounts /proc, /sys and / from the node (hostPath); the pod runs as
     * nobody, read-only, without capabilities, host network or host PID. NetworkPolicies deny
     * everything but the scrape from the monitoring namespace.
     */
    private declareNodeExporter(name: string, def: MonitoringDefinition, child: pulumi.CustomResourceOptions): pulumi.Output<string> {
        const instance = `${def.project}-${def.stack}`;
        const image = def.monitoring.nodeExporter.image;
        const labels = recommendedLabels({ name: NODE_EXPORTER_APP, instance, component: NODE_EXPORTER_COMPONENT, version: imageVersion(image), extra: def.labels });
        const podSelector = selectorLabels({ name: NODE_EXPORTER_APP, instance, component: NODE_EXPORTER_COMPONENT });
        // Fixed name: the Pod Security level is a property of the namespace, and operators look for it.
        const ns = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            {
                metadata: {
                    name: monitoringNamespaceName(def.namespace),
                    labels: {
                        ...recommendedLabels({ name: NODE_EXPORTER_APP, instance, component: "namespace", extra: def.labels }),
                        ...podSecurityLabels("privileged", "baseline"),
                    },
                },
            },
            child,
        );
        const hostMounts = [
            { name: "proc", host: "/proc", at: "/host/proc" },
            { name: "sys", host: "/sys", at: "/host/sys" },
            { name: "root", host: "/", at: "/host/root" },
        ];
        // A full node still runs its exporter, so the disk alert is not blind when the disk fills
        // (kit/priority.ts).
        const priorityClass = new k8s.scheduling.v1.PriorityClass(
            `${name}-node-agent`,
            nodeAgentPriorityClass({ instance, component: NODE_EXPORTER_COMPONENT, labels: def.labels }),
            child,
        );
        new k8s.apps.v1.DaemonSet(
            `${name}-node-exporter`,
            {
                metadata: { namespace: ns.metadata.name, labels },
                spec: {
                    selector: { matchLabels: podSelector },
                    updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
                    template: {
                        metadata: { labels },
                        spec: {
                            automountServiceAccountToken: false,
                            priorityClassName: priorityClass.metadata.name,
                            tolerations: [{ operator: "Exists" }],
                            securityContext: {
                                runAsNonRoot: true,
                                runAsUser: 65534,
                                runAsGroup: 65534,
                                seccompProfile: { type: "RuntimeDefault" },
                            },
                            containers: [
                                {
                                    name: "node-exporter",
                                    image,
                                    args: [
                                        "--path.procfs=/host/proc",
                                        "--path.sysfs=/host/sys",
                                        "--path.rootfs=/host/root",
                                        `--web.listen-address=:${NODE_EXPORTER_PORT}`,
                                        "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run|var/lib/(docker|containerd|kubelet)/.+)($|/)",
                                    ],
                                    ports: [{ name: "metrics", containerPort: NODE_EXPORTER_PORT, protocol: "TCP" }],
                                    // It answers within seconds; up to 1 minute of slow start (a busy node)
                                    // before liveness takes over.
                                    startupProbe: { httpGet: { path: "/", port: "metrics" }, periodSeconds: 2, failureThreshold: 30 },
                                    livenessProbe: { httpGet: { path: "/", port: "metrics" }, periodSeconds: 30 },
                                    readinessProbe: { httpGet: { path: "/", port: "metrics" }, periodSeconds: 10 },
                                    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "128Mi" } },
                                    securityContext: {
                                        allowPrivilegeEscalation: false,
                                        privileged: false,
                                        readOnlyRootFilesystem: true,
                                        capabilities: { drop: ["ALL"] },
                                    },
                                    volumeMounts: hostMounts.map((m) => ({
                                        name: m.name,
                                        mountPath: m.at,
                                        readOnly: true,
                                        ...(m.name === "root" ? { mountPropagation: "HostToContainer" } : {}),
                                    })),
                                },
                            ],
                            volumes: hostMounts.map((m) => ({ name: m.name, hostPath: { path: m.host, type: "Directory" } })),
                        },
                    },
                },
            },
            child,
        );
        const netpolLabels = recommendedLabels({ name: NODE_EXPORTER_APP, instance, component: "network-policy", extra: def.labels });
        for (const doc of nodeExporterNetworkPolicies({ podSelector, port: NODE_EXPORTER_PORT, monitoringNamespace: def.securityGroup.monitoringNamespace })) {
            new k8s.networking.v1.NetworkPolicy(`${name}-${doc.role}`, { metadata: { namespace: ns.metadata.name, labels: netpolLabels }, spec: doc.spec }, child);
        }
        return ns.metadata.name;
    }
}
