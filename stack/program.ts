// Composes every component of the platform from one StackDefinition. index.ts only calls this; tests
// call it under mocks with the dev and prod definitions.
import * as path from "path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { clusterProvider } from "../components/cluster/provider";
import { clusterReached } from "../components/cluster/reachability";
import { podSecurityLabels, recommendedLabels, selectorLabels } from "../kit/labels";
import { DialogueService, SERVER_DIALOGUE_PORTS, serverDialogueService } from "../components/dialogue";
import { Gateway } from "../components/gateway";
import { Keys } from "../components/keys";
import { LogSink, loggingNamespaceName } from "../components/logsink";
import { ModelService } from "../components/model-service";
import { alertmanagerConfig, Monitoring } from "../components/observability";
import { buildSecurityPolicy, NFT_CHECK_TABLE, NFT_TABLE, renderNftables, renderSshCheckTable, SecurityGroup, securityPolicyInput } from "../components/network";
import { LightweightServer, repositoryFiles } from "../components/server";
import { StackDefinition, StackSecrets } from "./definition";
import { clusterTroubleshootingCommands } from "./troubleshooting";

/** Stack outputs of the platform (all non-secret). */
export type PlatformOutputs = Record<string, pulumi.Input<unknown>>;

/** Declares the platform for one stack. */
export function deployPlatform(def: StackDefinition, secrets: StackSecrets): PlatformOutputs {
    const instance = `${def.project}-${def.stack}`;
    const outputs: PlatformOutputs = { environment: def.environment };
    // Static object-store keys when both secrets are set; otherwise workload identity (Kubernetes) or none.
    const staticKeys =
        secrets.objectStorageAccessKeyId && secrets.objectStorageSecretAccessKey
            ? { accessKeyId: secrets.objectStorageAccessKeyId, secretAccessKey: secrets.objectStorageSecretAccessKey }
            : undefined;

    // --- keys (components/keys) ---
    // One rule set (components/network), already checked with the definition; the cluster and server
    // blocks render it as NetworkPolicies and nftables.
    const securityPolicy = buildSecurityPolicy(securityPolicyInput(def));
    // Generated keys (R5, R10, R11), all secret Outputs; each consumer writes its own Secret or file.
    const keys = new Keys("keys", { settings: def.keys });
    outputs.keysExpireAt = keys.expiresAt;
    // The JWT rotation plan (which key signs, until when the previous one is accepted): a rotation shows
    // in a preview as a change of this output, besides the replaced key resources.
    outputs.keyRotation = keys.jwtRotation;
    outputs.jwtClaims = keys.claims;
    // --- end keys ---

    if (def.cluster.mode !== "none") {
        const provider = clusterProvider("cluster", def.cluster, def.stack);
        if (def.cluster.mode === "kubeconfig") {
            // A preview that cannot reach the cluster says so instead of showing a plan that looks like a diff.
            outputs.clusterReached = clusterReached(def.cluster);
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

    // --- lightweight server (components/server) ---
    if (def.server) {
        // The same rules as the cluster's NetworkPolicies, rendered for the host.
        // The dialogue service beside Triton (components/dialogue/server.ts) once its image is given
        // (dialogue.server: the archive and id scripts/build-dialogue-image.sh printed); until then the
        // server gateway's dialogue routes reach Triton.
        const dialogueOnServer = def.dialogue.enabled && def.gateway.enabled && def.dialogue.server !== undefined;
        const server = new LightweightServer("server", {
            settings: def.server,
            // R16: the same blue-green slots as on Kubernetes; the server's gateway routes to the active one.
            slots: { active: def.activeSlot, images: { blue: def.slots.blue.image, green: def.slots.green.image } },
            privateKey: secrets.serverPrivateKey,
            keys,
            firewall: { ruleset: renderNftables(securityPolicy), sshCheck: renderSshCheckTable(securityPolicy), table: NFT_TABLE, checkTable: NFT_CHECK_TABLE },
            triton: { servicePort: def.modelService.servicePort, ports: def.modelService.ports, exitTimeoutSeconds: def.modelService.exitTimeoutSeconds },
            // The models of the definition, with config.pbtxt generated as on Kubernetes, when the stack
            // names the folder of their files (server.modelSource, relative to the project).
            modelFiles: def.server.modelSource ? repositoryFiles(def.models, path.resolve(def.server.modelSource)) : undefined,
            // R16: the recorded releases stay on the server for a rollback, older model-server images go.
            releases: def.releases.length > 0 ? def.releases : undefined,
            // R8-R10: haproxy on 80 and 18789 verifying HS256 JWTs, Triton on 127.0.0.1 behind it; with
            // gateway.enabled false, Triton on 18789 itself. The JWT secret comes from `keys` above, and
            // (rotation without an outage, as the Kubernetes gateway) the previous period's secret with the
            // end of its overlap.
            gateway: {
                settings: def.gateway,
                jwt: def.keys.jwt,
                previousJwt: { secret: keys.jwtPreviousSecret, acceptedUntilEpoch: keys.jwtRotation.apply((r) => r.previousAcceptedUntilEpoch) },
                dialoguePort: dialogueOnServer ? SERVER_DIALOGUE_PORTS.http : undefined,
            },
            instance,
            localSsh: { name: instance },
            hostServices: dialogueOnServer
                ? [serverDialogueService({ settings: def.dialogue, tritonHttpPort: def.modelService.ports.http, hmacKey: keys.hmacKey, replyUrls: secrets.dialogueReplyUrls, instance })]
                : undefined,
            // R13: Triton's logs to object storage; static keys when both secrets are set.
            logSink: def.logSink.enabled
                ? {
                      definition: def,
                      credentials: staticKeys,
                      zone: def.server.zone,
                  }
                : undefined,
        });
        outputs.serverEndpoint = server.endpoint;
        // R16, named as on Kubernetes: the slot that serves and each slot's image.
        outputs.activeSlot ??= def.activeSlot;
        outputs.images ??= Object.fromEntries(Object.entries(def.slots).flatMap(([slot, v]) => (v.image ? [[slot, v.image]] : [])));
        // The operator's Alertmanager configuration for this server's alerts (monitoring.alertRoute); it
        // reads each webhook URL from <urlFileDirectory>/<receiver>.url, written there by the operator.
        if (def.monitoring.alertRoute && outputs.alertmanagerConfig === undefined) {
            outputs.alertmanagerConfig = JSON.stringify(alertmanagerConfig(def.monitoring.alertRoute), null, 2);
        }
        outputs.serverTroubleshooting = server.troubleshooting;
        if (def.logSink.enabled) {
            outputs.serverLogDestination = server.logDestination;
        }
    }
    // --- end lightweight server ---

    return outputs;
}
