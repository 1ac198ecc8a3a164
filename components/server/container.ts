// The model container on the server (R7): pure settings for docker.Container, and the R15 commands.
import { CONTAINER_NAME, healthcheckScript, SECRETS_DIR, StdinFileOptions, tritonStartScript } from "./scripts";
import type { ServerSettings } from "./schema";

/** Folder of the model container's env file on the server (the container user's only, mounted read-only). */
export const MODEL_SERVER_SECRETS_DIR = `${SECRETS_DIR}/model-server`;
/** Where that folder appears inside the container. */
export const CONTAINER_SECRETS_DIR = "/run/secrets/triton";
/** Env file name of the model container. */
export const MODEL_SERVER_ENV_FILE = "model-server.env";

/** A `uid:gid` pair (`server.modelContainerUser`) as numbers. */
export function parseContainerUser(user: string): { uid: number; gid: number } {
    const m = /^(\d+):(\d+)$/.exec(user);
    if (!m) {
        throw new Error(`container user "${user}" is not \`uid:gid\` in numbers`);
    }
    return { uid: Number(m[1]), gid: Number(m[2]) };
}

/**
 * Where and how the model server's env file (Triton's restricted-API key) is written: readable by the
 * model container's user only. Owned by that uid:gid, file 0400 and folder 0500, so a non-root Triton
 * reads it through its read-only mount and nobody else in the container can; on the server it stays
 * behind SECRETS_DIR (root, 0700), so no host user but root reaches it, whatever the uid. As root (`0:0`):
 * root-only, 0600 in a 0700 folder, as before.
 */
export function modelKeyFileOptions(user: string): StdinFileOptions {
    const owner = parseContainerUser(user);
    const path = `${MODEL_SERVER_SECRETS_DIR}/${MODEL_SERVER_ENV_FILE}`;
    return owner.uid === 0 ? { path, mode: "0600", dirMode: "0700" } : { path, mode: "0400", dirMode: "0500", owner };
}

/**
 * A duration as Docker reports it back (Go's time.Duration): 45 s is `45s`, 120 s is `2m0s`, an hour
 * `1h0m0s`. Written the way Docker reads it back, a healthcheck's durations show no drift on refresh.
 */
export function goDuration(seconds: number): string {
    if (!Number.isInteger(seconds) || seconds < 0) {
        throw new Error(`expected a whole number of seconds, got ${seconds}`);
    }
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

/**
 * Capabilities as Docker stores them (since 20.10 it adds the `CAP_` prefix; `ALL` stays as it is), so a
 * refresh reads back what was declared.
 */
export function dockerCapabilities(c: { drops?: readonly string[]; adds?: readonly string[] }): { drops?: string[]; adds?: string[] } {
    const canonical = (cap: string) => (cap === "ALL" || cap.startsWith("CAP_") ? cap : `CAP_${cap}`);
    return {
        ...(c.drops ? { drops: c.drops.map(canonical) } : {}),
        ...(c.adds ? { adds: c.adds.map(canonical) } : {}),
    };
}

/**
 * Memory limit of a container in MiB, with swap off: `memorySwap` equal to `memory` (Docker's default
 * would let the container swap as much again, and reports that as a value the program never set).
 */
export function memoryLimitMiB(mib: number): { memory: number; memorySwap: number } {
    return { memory: mib, memorySwap: mib };
}

/** Triton settings the container needs from the definition. */
export interface TritonSettings {
    /** Port published on the server (R7: 18789). */
    servicePort: number;
    /** Triton's ports inside the container. */
    ports: { http: number; grpc: number; metrics: number };
    exitTimeoutSeconds: number;
}

/**
 * Where Triton publishes when the gateway fronts it: its HTTP and metrics ports on 127.0.0.1 only (the
 * gateway holds the service port, and nothing reaches Triton from outside without a token).
 */
export interface LoopbackPorts {
    httpPort: number;
    metricsPort: number;
}

/**
 * The docker.Container arguments of the model container, except the image and labels. Without
 * `behindGateway`, Triton's HTTP port is published on the service port on every address (R7, no
 * gateway); with it, HTTP and metrics are published on 127.0.0.1 only.
 */
export function modelContainerSpec(settings: ServerSettings, triton: TritonSettings, behindGateway?: LoopbackPorts) {
    return {
        name: CONTAINER_NAME,
        // Not the image's root: NVIDIA's triton-server user (1000:1000) by default; the key
        // file belongs to this user (modelKeyFileOptions), the model repository is mounted read-only.
        user: settings.modelContainerUser,
        // The key stays in the mounted file: no `envs`, so nothing secret in the provider's state or in
        // `docker inspect`. Docker's --env-file is a client-side CLI feature the Docker API (and thus the
        // provider) does not have; the start script reads the file instead.
        entrypoints: ["/bin/sh", "-c", tritonStartScript({ envFile: `${CONTAINER_SECRETS_DIR}/${MODEL_SERVER_ENV_FILE}`, ports: triton.ports, exitTimeoutSeconds: triton.exitTimeoutSeconds })],
        ports: behindGateway
            ? [
                  // The gateway (host network) reaches Triton on the loopback; nothing else is published.
                  { internal: triton.ports.http, external: behindGateway.httpPort, ip: "127.0.0.1" },
                  { internal: triton.ports.metrics, external: behindGateway.metricsPort, ip: "127.0.0.1" },
              ]
            : [
                  // R7: the service port, open to the security group's sources (nftables judges published ports).
                  { internal: triton.ports.http, external: triton.servicePort },
                  // Metrics for a local scraper only.
                  { internal: triton.ports.metrics, external: triton.ports.metrics, ip: "127.0.0.1" },
              ],
        volumes: [
            { hostPath: settings.modelRepository, containerPath: "/models", readOnly: true },
            { hostPath: MODEL_SERVER_SECRETS_DIR, containerPath: CONTAINER_SECRETS_DIR, readOnly: true },
        ],
        restart: "unless-stopped",
        mustRun: true,
        // Triton drains for --exit-timeout-secs after SIGTERM: give it that long before SIGKILL.
        stopTimeout: triton.exitTimeoutSeconds + 5,
        destroyGraceSeconds: triton.exitTimeoutSeconds + 5,
        healthcheck: {
            tests: ["CMD", "bash", "-c", healthcheckScript(triton.ports.http)],
            interval: "10s",
            timeout: "5s",
            retries: 3,
            startPeriod: goDuration(settings.readyTimeoutSeconds),
        },
        logDriver: "json-file",
        logOpts: { "max-size": settings.logRotation.maxSize, "max-file": String(settings.logRotation.maxFiles) },
        shmSize: settings.shmSizeMiB,
        // NVIDIA's recommended limits for Triton.
        ulimits: [
            { name: "memlock", soft: -1, hard: -1 },
            { name: "stack", soft: 67108864, hard: 67108864 },
        ],
        capabilities: dockerCapabilities({ drops: ["ALL"] }),
        securityOpts: ["no-new-privileges:true"],
    };
}

/** One blue-green slot's container behind the gateway (components/server/slots.ts). */
export interface SlotContainerOptions {
    slot: "blue" | "green";
    /** Its loopback ports (slotPorts()). */
    ports: { http: number; metrics: number };
    /** Whether Docker starts it when it is created (an idle slot under idleSlot: stopped is not). */
    start: boolean;
}

/**
 * The docker.Container arguments of a slot's Triton: the model container's, named after the slot, published
 * on the slot's own loopback ports, and allowed not to run (`mustRun: false`: the switch step stops an idle
 * slot under `server.idleSlot: stopped`; a refresh must not take that for a lost container).
 */
export function slotContainerSpec(settings: ServerSettings, triton: TritonSettings, o: SlotContainerOptions) {
    return {
        ...modelContainerSpec(settings, triton, { httpPort: o.ports.http, metricsPort: o.ports.metrics }),
        name: `${CONTAINER_NAME}-${o.slot}`,
        mustRun: false,
        start: o.start,
    };
}

/** The endpoint collaboration platforms use (R8: the domain when set). */
export function serverEndpoint(settings: Pick<ServerSettings, "host" | "domain">, servicePort: number): string {
    const host = settings.domain ?? settings.host;
    return `http://${host.includes(":") ? `[${host}]` : host}:${servicePort}`;
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

/** R15 troubleshooting commands for this server, by symptom (the gateway's and log shipper's when it runs them). */
export function troubleshootingCommands(
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
