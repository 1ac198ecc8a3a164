// R15 troubleshooting commands for the deployed endpoint, on Kubernetes and on the lightweight server,
// exported as stack outputs (`troubleshooting`, `serverTroubleshooting`) so on-call engineers copy them
// instead of reconstructing them. They span concerns (model service, gateway, log shipper), so the
// composition keeps them.
import * as pulumi from "@pulumi/pulumi";
import { CONTAINER_NAME } from "../components/model-service/server-plan";
import { serverEndpoint } from "../components/server/container";
import type { ServerSettings } from "../components/server/schema";

/** The exact kubectl commands for port reachability, auth, resources and logs of the model service on a cluster (the lightweight server's are below). */
export function clusterTroubleshootingCommands(args: {
    namespace: string;
    serviceName: pulumi.Input<string>;
    port: number;
    /** The active slot's Deployment, for exec-based checks. */
    activeDeployment: pulumi.Input<string>;
    gpu: boolean;
}): pulumi.Output<Record<string, string>> {
    const { namespace, port, gpu } = args;
    return pulumi.all([args.serviceName, args.activeDeployment]).apply(([svc, deployment]) => {
        const host = `${svc}.${namespace}.svc.cluster.local`;
        const commands: Record<string, string> = {
            // Port reachability (R15: telnet 18789), from inside the cluster and through a port-forward.
            portFromCluster: `kubectl -n ${namespace} run triton-probe --rm -i --restart=Never --image=busybox:1.36 -- telnet ${host} ${port}`,
            portForward: `kubectl -n ${namespace} port-forward svc/${svc} ${port}:${port}`,
            ready: `curl -fsS http://127.0.0.1:${port}/v2/health/ready && echo ready`,
            live: `curl -fsS http://127.0.0.1:${port}/v2/health/live && echo live`,
            // Auth failures: a token's claims and the clock (JWT exp/nbf need NTP-synced clocks).
            verifyToken: "npm run token -- --verify <token>",
            clock: `kubectl -n ${namespace} get nodes -o wide && date -u`,
            // Resources (R15: top, docker stats, nvidia-smi).
            rollout: `kubectl -n ${namespace} rollout status deploy/${deployment}`,
            top: `kubectl -n ${namespace} top pods -l app.kubernetes.io/component=model-server`,
            endpoints: `kubectl -n ${namespace} get endpointslices -l kubernetes.io/service-name=${svc} -o wide`,
            // Logs (R15: journalctl, docker logs).
            logs: `kubectl -n ${namespace} logs -l app.kubernetes.io/component=model-server -c triton --tail=200 --prefix`,
            events: `kubectl -n ${namespace} get events --sort-by=.lastTimestamp`,
        };
        if (gpu) {
            commands.gpu = `kubectl -n ${namespace} exec deploy/${deployment} -c triton -- nvidia-smi`;
        }
        return commands;
    });
}

/** The gateway in front of Triton, as the troubleshooting commands need it. */
export interface TroubleshootingGateway {
    /** Name of the gateway container. */
    containerName: string;
    /** Triton's HTTP port on the server's loopback (behind the gateway). */
    tritonHttpPort: number;
    /** A path the gateway routes to Triton's readiness (needs a `chat:write` token). */
    readinessPath: string;
    /** A path that takes R11 envelopes (a webhook route), when the routes have one. */
    envelopePath?: string;
}

/** What else runs on the server besides Triton. */
export interface TroubleshootingExtras {
    /** The model container that serves (the active slot's). @default CONTAINER_NAME */
    modelContainer?: string;
    /** The gateway's admin socket on the server, with blue-green slots: the slots' state in haproxy. */
    slotAdminSocket?: string;
    /** The log shipper's container, when the server runs one. */
    logShipperContainer?: string;
    /** The gateway, when it fronts Triton. */
    gateway?: TroubleshootingGateway;
}

/** R15 troubleshooting commands for the lightweight server, by symptom (the gateway's and log shipper's when it runs them). */
export function serverTroubleshootingCommands(
    settings: Pick<ServerSettings, "host" | "sshPort" | "user" | "domain">,
    servicePort: number,
    extras: TroubleshootingExtras = {},
): Record<string, string> {
    const ssh = `ssh -p ${settings.sshPort} ${settings.user}@${settings.host}`;
    const endpoint = serverEndpoint(settings, servicePort);
    const target = settings.domain ?? settings.host;
    const gw = extras.gateway;
    const model = extras.modelContainer ?? CONTAINER_NAME;
    return {
        portReachability: `nc -vz ${target} ${servicePort}  # or: telnet ${target} ${servicePort}`,
        readiness: gw
            ? // Through the gateway: a token with chat:write (R10); 401/403 bodies say why a token is refused.
              `curl -sS -H "Authorization: Bearer $(npm run -s token -- --scope chat:write)" ${endpoint}${gw.readinessPath}; echo`
            : `curl -fsS ${endpoint}/v2/health/ready && echo ready`,
        firewall: `${ssh} sudo nft list table inet triton_platform`,
        keyValidity: "pulumi stack output keysExpireAt  # keys rotate on the first `pulumi up` after this date",
        jwtCheck: "npm run -s token -- --verify <token>  # checks HS256, iss, aud, exp, scope against this stack",
        clockSync: `${ssh} 'timedatectl show -p NTPSynchronized --value; chronyc tracking 2>/dev/null || timedatectl timesync-status'`,
        resources: `${ssh} -t top`,
        containerStats: `${ssh} docker stats --no-stream ${model}${gw ? ` ${gw.containerName}` : ""}`,
        gpu: `${ssh} nvidia-smi`,
        containerLogs: `${ssh} docker logs --tail 200 ${model}`,
        // One argument for ssh: the remote shell would split a Go template that ssh joined back with spaces.
        containerHealth: `${ssh} "docker inspect --format '{{json .State.Health}}' ${model}"`,
        systemLogs: `${ssh} sudo journalctl -u docker -u ssh -u triton-platform-firewall --since -1h`,
        ...(gw
            ? {
                  // Triton itself, past the gateway: it listens on the server's loopback only.
                  tritonDirect: `${ssh} curl -fsS http://127.0.0.1:${gw.tritonHttpPort}/v2/health/ready && echo ready`,
                  // The access log names the route and, for a refusal, the reason (auth=bad_signature, expired, ...).
                  gatewayLogs: `${ssh} docker logs --tail 200 ${gw.containerName}`,
                  gatewayAuthFailures: `${ssh} "docker logs --since 1h ${gw.containerName} 2>&1 | grep -E 'auth=[a-z]' || echo 'no refused token in the last hour'"`,
                  gatewayHealth: `${ssh} "docker inspect --format '{{json .State.Health}}' ${gw.containerName}"`,
                  // R11: a signed envelope through a webhook route, with a fresh token.
                  // The dialogue service answers a webhook only for a platform of dialogueReplyUrls whose name is
                  // both the path's last segment and the envelope's header.platform.
                  ...(gw.envelopePath
                      ? {
                            sendEnvelope: `npm run -s token -- --send ${endpoint}${gw.envelopePath.replace(/\/test$/, "/<platform>")} --platform <platform>  # <platform>: a key of dialogueReplyUrls`,
                        }
                      : {}),
              }
            : {}),
        ...(extras.slotAdminSocket
            ? {
                  // R16: which slot the gateway routes to (the other in MAINT) and whether each slot's container runs.
                  slots: `${ssh} "sudo curl -sS --unix-socket ${extras.slotAdminSocket} 'http://gateway/;csv' | grep '^slot_http,' | grep -v ',BACKEND,' | cut -d, -f2,18 | tr , ' '; docker ps -a --filter name=${CONTAINER_NAME}- --format '{{.Names}} {{.Status}} {{.Image}}'"`,
              }
            : {}),
        ...(extras.logShipperContainer
            ? {
                  // R13: upload errors and the disk queue show in the collector's own log.
                  logShipperLogs: `${ssh} docker logs --tail 200 ${extras.logShipperContainer}`,
                  logShipperState: `${ssh} "docker inspect --format '{{.State.Status}} restarts={{.RestartCount}}' ${extras.logShipperContainer}"`,
              }
            : {}),
    };
}
