// The model container on the server (R7): pure settings for docker.Container, and the R15 commands.
import { CONTAINER_NAME, healthcheckScript, SECRETS_DIR, tritonStartScript } from "./scripts";
import type { ServerSettings } from "./schema";

/** Folder of the model container's env file on the server (root-only, mounted read-only). */
export const MODEL_SERVER_SECRETS_DIR = `${SECRETS_DIR}/model-server`;
/** Where that folder appears inside the container. */
export const CONTAINER_SECRETS_DIR = "/run/secrets/triton";
/** Env file name of the model container. */
export const MODEL_SERVER_ENV_FILE = "model-server.env";

/** Triton settings the container needs from the definition. */
export interface TritonSettings {
    /** Port published on the server (R7: 18789). */
    servicePort: number;
    /** Triton's ports inside the container. */
    ports: { http: number; grpc: number; metrics: number };
    exitTimeoutSeconds: number;
}

/** The docker.Container arguments of the model container, except the image and labels. */
export function modelContainerSpec(settings: ServerSettings, triton: TritonSettings) {
    return {
        name: CONTAINER_NAME,
        // The key stays in the mounted file: no `envs`, so nothing secret in the provider's state or in
        // `docker inspect`. Docker's --env-file is a client-side CLI feature the Docker API (and thus the
        // provider) does not have; the start script reads the file instead.
        entrypoints: ["/bin/sh", "-c", tritonStartScript({ envFile: `${CONTAINER_SECRETS_DIR}/${MODEL_SERVER_ENV_FILE}`, ports: triton.ports, exitTimeoutSeconds: triton.exitTimeoutSeconds })],
        ports: [
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
            startPeriod: `${settings.readyTimeoutSeconds}s`,
        },
        logDriver: "json-file",
        logOpts: { "max-size": settings.logRotation.maxSize, "max-file": String(settings.logRotation.maxFiles) },
        shmSize: settings.shmSizeMiB,
        // NVIDIA's recommended limits for Triton.
        ulimits: [
            { name: "memlock", soft: -1, hard: -1 },
            { name: "stack", soft: 67108864, hard: 67108864 },
        ],
        capabilities: { drops: ["ALL"] },
        securityOpts: ["no-new-privileges:true"],
    };
}

/** The endpoint collaboration platforms use (R8: the domain when set). */
export function serverEndpoint(settings: Pick<ServerSettings, "host" | "domain">, servicePort: number): string {
    const host = settings.domain ?? settings.host;
    return `http://${host.includes(":") ? `[${host}]` : host}:${servicePort}`;
}

/** R15 troubleshooting commands for this server, by symptom (the log shipper's when it runs one). */
export function troubleshootingCommands(
    settings: Pick<ServerSettings, "host" | "sshPort" | "user" | "domain">,
    servicePort: number,
    logShipperContainer?: string,
): Record<string, string> {
    const ssh = `ssh -p ${settings.sshPort} ${settings.user}@${settings.host}`;
    const endpoint = serverEndpoint(settings, servicePort);
    const target = settings.domain ?? settings.host;
    return {
        portReachability: `nc -vz ${target} ${servicePort}  # or: telnet ${target} ${servicePort}`,
        readiness: `curl -fsS ${endpoint}/v2/health/ready && echo ready`,
        firewall: `${ssh} sudo nft list table inet triton_platform`,
        keyValidity: "pulumi stack output keysExpireAt  # keys rotate on the first `pulumi up` after this date",
        jwtCheck: "npm run -s token -- --verify <token>  # checks HS256, iss, aud, exp, scope against this stack",
        clockSync: `${ssh} 'timedatectl show -p NTPSynchronized --value; chronyc tracking 2>/dev/null || timedatectl timesync-status'`,
        resources: `${ssh} -t top`,
        containerStats: `${ssh} docker stats --no-stream ${CONTAINER_NAME}`,
        gpu: `${ssh} nvidia-smi`,
        containerLogs: `${ssh} docker logs --tail 200 ${CONTAINER_NAME}`,
        containerHealth: `${ssh} docker inspect --format '{{json .State.Health}}' ${CONTAINER_NAME}`,
        systemLogs: `${ssh} sudo journalctl -u docker -u ssh -u triton-platform-firewall --since -1h`,
        ...(logShipperContainer
            ? {
                  // R13: upload errors and the disk queue show in the collector's own log.
                  logShipperLogs: `${ssh} docker logs --tail 200 ${logShipperContainer}`,
                  logShipperState: `${ssh} docker inspect --format '{{.State.Status}} restarts={{.RestartCount}}' ${logShipperContainer}`,
              }
            : {}),
    };
}
