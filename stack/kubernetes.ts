// Composes the platform onto Kubernetes, as stack/server.ts composes it onto the lightweight server: the
// explicit provider and the namespace, then each concern's component (its kubernetes.ts) with that
// provider: the model service, the dialogue service, the gateway in front of them, the security group's
// NetworkPolicies, the log sink and the monitoring. Adds the cluster's stack outputs to `outputs`.
import * as k8s from "@pulumi/kubernetes";
import { clusterProvider } from "../components/cluster/provider";
import { clusterReached } from "../components/cluster/reachability";
import { DialogueService } from "../components/dialogue";
import { Gateway } from "../components/gateway";
import { LogSink, loggingNamespaceName } from "../components/logsink";
import { ModelService } from "../components/model-service";
import { SecurityGroup } from "../components/network";
import { Monitoring } from "../components/observability";
import { podSecurityLabels, recommendedLabels, selectorLabels } from "../kit/labels";
import type { PlatformInputs, PlatformOutputs } from "./program";
import { clusterTroubleshootingCommands } from "./troubleshooting";

/** Declares the platform on the stack's cluster (cluster.mode kubeconfig or render). */
export function deployCluster(c: PlatformInputs, outputs: PlatformOutputs): void {
    const { def, secrets, keys, securityPolicy, staticKeys, instance } = c;
    const cluster = def.cluster;
    if (cluster.mode === "none") {
        throw new Error("deployCluster: the stack has no cluster (cluster.mode none)");
    }
    const provider = clusterProvider("cluster", cluster, def.stack);
    if (cluster.mode === "kubeconfig") {
        // A preview that cannot reach the cluster says so instead of showing a plan that looks like a diff.
        outputs.clusterReached = clusterReached(cluster);
    }
    // The namespace keeps its configured name (no auto-naming): NetworkPolicies, alert rules and the
    // operators' kubectl commands refer to it by name.
    const namespace = new k8s.core.v1.Namespace(
        "namespace",
        {
            metadata: {
                name: def.namespace,
                labels: {
                    ...recommendedLabels({ name: "triton", instance, component: "namespace", extra: def.labels }),
                    // Pod Security Admission: the model service and the gateway meet the restricted profile.
                    ...podSecurityLabels("restricted"),
                },
            },
        },
        { provider },
    );
    outputs.namespace = namespace.metadata.name;

    // --- model service (components/model-service) ---
    const modelService = new ModelService(
        "triton",
        {
            namespace: namespace.metadata.name,
            instance,
            labels: def.labels,
            zones: def.zones,
            slots: def.slots,
            activeSlot: def.activeSlot,
            models: def.models,
            settings: def.modelService,
            objectStorage: def.objectStorage,
            objectStorageCredentials: staticKeys,
            // From the keys block above: Triton's restricted-API key (secret).
            adminKey: keys.tritonAdminKey,
            keyRotationId: keys.rotationId,
            provider,
        },
        { dependsOn: [namespace] },
    );
    outputs.activeSlot = modelService.activeSlot;
    outputs.images = modelService.images;
    outputs.serviceName = modelService.serviceName;
    outputs.servicePort = modelService.servicePort;
    outputs.troubleshooting = clusterTroubleshootingCommands({
        namespace: def.namespace,
        serviceName: modelService.serviceName,
        port: modelService.servicePort,
        activeDeployment: modelService.slots[def.activeSlot]!.deployment.metadata.name,
        gpu: def.modelService.gpu.count > 0,
    });
    // --- end model service ---

    // --- dialogue service (components/dialogue) ---
    // R9 access modes and R11 messages between the gateway and Triton's routing Service (the active slot).
    const dialogue =
        def.dialogue.enabled && def.gateway.enabled
            ? new DialogueService(
                  "dialogue",
                  {
                      namespace: namespace.metadata.name,
                      instance,
                      labels: def.labels,
                      zones: def.zones,
                      settings: def.dialogue,
                      triton: { serviceName: modelService.serviceName, port: def.modelService.servicePort },
                      // From the keys block above: the R11 HMAC key (secret); the reply URLs are secret config.
                      hmacKey: keys.hmacKey,
                      replyUrls: secrets.dialogueReplyUrls,
                      redisPassword: secrets.dialogueRedisPassword,
                      network: {
                          gatewaySelector: selectorLabels({ name: "triton", instance, component: "gateway" }),
                          modelServerSelector: modelService.podSelector,
                          modelServerHttpPort: def.modelService.ports.http,
                          monitoringNamespace: def.securityGroup.monitoringNamespace,
                      },
                      monitoring: { errorRatePercent: def.monitoring.thresholds.errorRatePercent, prometheusOperator: def.monitoring.prometheusOperator },
                      clusterDomain: def.gateway.clusterDomain,
                      provider,
                  },
                  { dependsOn: [namespace] },
              )
            : undefined;
    if (dialogue) {
        outputs.dialogueService = dialogue.serviceName;
    }
    // --- end dialogue service ---

    // --- gateway (components/gateway) ---
    // R8-R10: the collaboration-platform entry point (haproxy checking HS256 JWTs) in front of the
    // model service's routing Service.
    if (def.gateway.enabled) {
        const gateway = new Gateway(
            "gateway",
            {
                namespace: namespace.metadata.name,
                instance,
                labels: def.labels,
                zones: def.zones,
                settings: def.gateway,
                jwt: def.keys.jwt,
                // From the keys block above: the HS256 secret (secret Output, lands in a Secret only).
                jwtSecret: keys.jwtSecret,
                // Rotation without an outage: the previous period's secret, accepted during the overlap.
                previousJwt: { secret: keys.jwtPreviousSecret, acceptedUntilEpoch: keys.jwtRotation.apply((r) => r.previousAcceptedUntilEpoch) },
                upstream: {
                    serviceName: modelService.serviceName,
                    namespace: namespace.metadata.name,
                    httpPort: modelService.servicePort,
                    metricsPort: def.modelService.ports.metrics,
                    // Chat, webhooks and async REST messages go to the dialogue service.
                    dialogue: dialogue && { serviceName: dialogue.serviceName, port: dialogue.port },
                },
                network: {
                    monitoringNamespace: def.securityGroup.monitoringNamespace,
                    modelServerSelector: modelService.podSelector,
                    modelServerPorts: { http: def.modelService.ports.http, metrics: def.modelService.ports.metrics },
                    dialogue: dialogue && { selector: dialogue.podSelector, port: dialogue.port },
                },
                provider,
            },
            { dependsOn: [namespace] },
        );
        outputs.gatewayUrl = gateway.url;
        outputs.chatUrl = gateway.chatUrl;
    }
    // --- end gateway ---

    // --- security group, Kubernetes side (components/network) ---
    const securityGroup = new SecurityGroup(
        "security-group",
        { namespace: namespace.metadata.name, provider, instance, labels: def.labels, policy: securityPolicy },
        { dependsOn: [namespace] },
    );
    outputs.networkPolicies = securityGroup.policyNames;
    // --- end security group ---

    // --- log sink (components/logsink) ---
    // R13: the namespace's logs (Triton, entry point) to object storage. Static keys when both secrets
    // are set, otherwise workload identity through objectStorage.serviceAccountAnnotations.
    const logSink = def.logSink.enabled
        ? new LogSink(
              "logsink",
              {
                  definition: def,
                  accessKeyId: secrets.objectStorageAccessKeyId,
                  secretAccessKey: secrets.objectStorageSecretAccessKey,
                  provider,
                  sourceNamespace: namespace.metadata.name,
              },
              { dependsOn: [namespace] },
          )
        : undefined;
    if (logSink) {
        outputs.logDestination = logSink.destination;
    }
    // --- end log sink ---

    // --- monitoring (components/observability) ---
    // R14: PodMonitors (or plain scrape configs), alert rules at the definition's thresholds, node
    // exporter, dashboard. Nothing here depends on activeSlot.
    const monitoring = new Monitoring(
        "monitoring",
        {
            definition: def,
            provider,
            namespace: namespace.metadata.name,
            logShipper: logSink && {
                namespace: logSink.namespace,
                namespaceName: loggingNamespaceName(def.namespace),
                podSelector: logSink.podSelector,
                metricsPortName: logSink.metricsPortName,
            },
            // Alert receivers' webhook URLs (secret); they land in Secrets only.
            alertWebhookUrls: secrets.alertWebhookUrls,
        },
        { dependsOn: [namespace] },
    );
    outputs.alerts = monitoring.ruleGroups.apply((groups) => groups.flatMap((g) => g.rules.map((r) => r.alert)));
    if (monitoring.alertmanagerConfig) {
        outputs.alertmanagerConfig = monitoring.alertmanagerConfig;
    }
    // --- end monitoring ---
}
