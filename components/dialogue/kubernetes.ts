// The dialogue service on Kubernetes: Deployment (spread across the zones), Service, PDB, ConfigMap
// (configuration, no secret), Secret (HMAC key, reply URLs, Redis password), NetworkPolicies, a
// PodMonitor and its error-rate alert. Redis is the cluster's (dialogue.store.host): a single Redis
// pod of the stack's own would be the one unreplicated, unspread workload of the namespace.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { imageVersion } from "../../kit/image-ref";
import { recommendedLabels, selectorLabels } from "../../kit/labels";
import { statelessDeploymentSpec } from "../../kit/pod";
import {
    CONFIG_FILE,
    dialogueAlertGroup,
    dialogueNetworkPolicies,
    dialoguePodSpec,
    dialogueRuntimeConfig,
    dialogueServiceSpec,
    SECRET_FILES,
} from "./config";
import { DialogueSettings } from "./schema";

/** Arguments of {@link DialogueService}. */
export interface DialogueServiceArgs {
    namespace: pulumi.Input<string>;
    /** app.kubernetes.io/instance value. */
    instance: string;
    labels?: Record<string, string>;
    zones: string[];
    settings: DialogueSettings;
    /** The routing Service of the model service (the active slot) and its HTTP port. */
    triton: { serviceName: pulumi.Input<string>; port: number };
    /** The R11 HMAC key (secret Output of the Keys component). */
    hmacKey: pulumi.Input<string>;
    /** JSON {platform: reply URL} (secret config `dialogueReplyUrls`); unset: no webhook platform. */
    replyUrls?: pulumi.Input<string>;
    /** Password of the Redis (secret config `dialogueRedisPassword`), when `store.auth`. */
    redisPassword?: pulumi.Input<string>;
    /** The gateway's and the model server's pods, for the NetworkPolicies. */
    network: { gatewaySelector: Record<string, string>; modelServerSelector: Record<string, string>; modelServerHttpPort: number; monitoringNamespace: string };
    /** The R14 error-rate threshold (percent) and whether the Prometheus Operator's CRDs are used. */
    monitoring: { errorRatePercent: number; prometheusOperator: boolean };
    clusterDomain: string;
    provider: k8s.Provider;
}

/** The dialogue service (R9 access modes, R11 messages) between the gateway and Triton. */
export class DialogueService extends pulumi.ComponentResource {
    /** The Service the gateway forwards to. */
    public readonly serviceName: pulumi.Output<string>;
    public readonly port: number;
    /** Labels selecting the service's pods. */
    public readonly podSelector: Record<string, string>;

    constructor(name: string, args: DialogueServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("triton-platform:dialogue:DialogueService", name, {}, opts);
        const s = args.settings;
        const child = { parent: this, provider: args.provider };
        const base = { name: "triton", instance: args.instance, component: "dialogue" };
        const selector = selectorLabels(base);
        const labels = recommendedLabels({ ...base, version: imageVersion(s.image), extra: args.labels });
        const metadata = () => ({ namespace: args.namespace, labels });

        const redisPassword = s.store.kind === "redis" && s.store.auth ? args.redisPassword : undefined;
        if (s.store.kind === "redis" && s.store.auth && !args.redisPassword) {
            throw new Error("dialogue.store.auth is set but the secret dialogueRedisPassword is not: pulumi config set --secret dialogueRedisPassword ...");
        }
        const secret = new k8s.core.v1.Secret(
            `${name}`,
            {
                metadata: metadata(),
                type: "Opaque",
                // Immutable: a new key or URL list is a new Secret, so the pod template changes and pods roll.
                immutable: true,
                stringData: {
                    [SECRET_FILES.hmacKey]: args.hmacKey,
                    ...(args.replyUrls ? { [SECRET_FILES.replyUrls]: args.replyUrls } : {}),
                    ...(redisPassword ? { [SECRET_FILES.redisPassword]: redisPassword } : {}),
                },
            },
            child,
        );

        const config = pulumi.all([args.triton.serviceName, args.namespace]).apply(([tritonService, namespace]) =>
            JSON.stringify(
                dialogueRuntimeConfig(s, {
                    tritonUrl: `http://${tritonService}.${namespace}.svc.${args.clusterDomain}:${args.triton.port}`,
                    redis: s.store.kind === "redis" ? { host: s.store.host, port: s.store.port, password: redisPassword !== undefined } : undefined,
                    replyUrls: args.replyUrls !== undefined,
                }),
                null,
                2,
            ),
        );
        const configMap = new k8s.core.v1.ConfigMap(`${name}`, { metadata: metadata(), data: { [CONFIG_FILE]: config } }, child);
        const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}`, { metadata: metadata(), automountServiceAccountToken: false }, child);

        const deployment = statelessDeploymentSpec({
            replicas: s.replicas,
            selector,
            podLabels: labels,
            podAnnotations: {
                "triton-platform/dialogue-config-sha256": config.apply((c) => createHash("sha256").update(c).digest("hex")),
                "kubectl.kubernetes.io/default-container": "dialogue",
            },
            podSpec: dialoguePodSpec({
                settings: s,
                zones: args.zones,
                selector,
                serviceAccountName: serviceAccount.metadata.name,
                configMapName: configMap.metadata.name,
                secretName: secret.metadata.name,
            }),
        });
        new k8s.apps.v1.Deployment(`${name}`, { metadata: metadata(), spec: deployment }, child);
        new k8s.policy.v1.PodDisruptionBudget(`${name}`, { metadata: metadata(), spec: { maxUnavailable: 1, selector: { matchLabels: selector } } }, child);
        const service = new k8s.core.v1.Service(`${name}`, { metadata: metadata(), spec: dialogueServiceSpec(selector, s) }, child);

        const policies = dialogueNetworkPolicies(s, {
            dialogueSelector: selector,
            gatewaySelector: args.network.gatewaySelector,
            modelServerSelector: args.network.modelServerSelector,
            modelServerHttpPort: args.network.modelServerHttpPort,
            monitoringNamespace: args.network.monitoringNamespace,
        });
        new k8s.networking.v1.NetworkPolicy(`${name}`, { metadata: metadata(), spec: policies.dialogue }, child);
        new k8s.networking.v1.NetworkPolicy(`${name}-to-model-server`, { metadata: metadata(), spec: policies.toModelServer }, child);

        this.declareMonitoring(name, args, selector, metadata, child);

        this.serviceName = service.metadata.name;
        this.port = s.port;
        this.podSelector = selector;
        this.registerOutputs({ serviceName: this.serviceName });
    }

    /** Scraping of the admin port and the error-rate alert: a PodMonitor and a PrometheusRule with the operator, else a rules ConfigMap. */
    private declareMonitoring(
        name: string,
        args: DialogueServiceArgs,
        selector: Record<string, string>,
        metadata: () => { namespace: pulumi.Input<string>; labels: Record<string, string> },
        child: pulumi.CustomResourceOptions,
    ): void {
    const group = pulumi.output(args.namespace).apply((ns) => dialogueAlertGroup(args.monitoring.errorRatePercent, ns));
    if (args.monitoring.prometheusOperator) {
        new k8s.apiextensions.CustomResource(
            `${name}`,
            {
                apiVersion: "monitoring.coreos.com/v1",
                kind: "PodMonitor",
                metadata: metadata(),
                spec: { selector: { matchLabels: selector }, podMetricsEndpoints: [{ port: "admin", path: "/metrics" }] },
            },
            child,
        );
        new k8s.apiextensions.CustomResource(
            `${name}-alerts`,
            { apiVersion: "monitoring.coreos.com/v1", kind: "PrometheusRule", metadata: metadata(), spec: { groups: [group] } },
            child,
        );
    } else {
        new k8s.core.v1.ConfigMap(
            `${name}-alerts`,
            { metadata: metadata(), data: { "triton-platform-dialogue.rules.yaml": group.apply((g) => JSON.stringify({ groups: [g] }, null, 2)) } },
            child,
        );
    }
    }
}
