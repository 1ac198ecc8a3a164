// Triton on the lightweight server (R7, R16), as pure builders: the model container's docker.Container
// arguments (one per blue-green slot behind the gateway, or the one container on the service port without
// it), its start script and healthcheck, the readiness wait, and where its admin-key file lives. The same
// restricted APIs, admin-key header and model configuration as on Kubernetes. server.ts declares them.
import { ADMIN_KEY_HEADER, RESTRICTED_APIS, TRITON_READY_PATH } from "./workload";
import { dockerCapabilities, goDuration, parseContainerUser } from "../server/container";
import type { ServerSettings } from "../server/schema";
import { HEADER, SECRETS_DIR, shq, StdinFileOptions } from "../server/scripts";

/** Name of the model container (R15 commands refer to it; a slot's is `<name>-<slot>`). */
export const CONTAINER_NAME = "triton-model-server";

/** Folder of the model container's env file on the server (the container user's only, mounted read-only). */
export const MODEL_SERVER_SECRETS_DIR = `${SECRETS_DIR}/model-server`;
/** Where that folder appears inside the container. */
export const CONTAINER_SECRETS_DIR = "/run/secrets/triton";
/** Env file name of the model container. */
export const MODEL_SERVER_ENV_FILE = "model-server.env";

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

/** One blue-green slot's container behind the gateway (server-slots.ts). */
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

/** Settings of the readiness wait. */
export interface WaitReadyOptions {
    /** URL of Triton's readiness endpoint as seen from the server. */
    url: string;
    /** Upper bound of the wait. */
    timeoutSeconds: number;
    /** Pause between attempts. @default 5 */
    intervalSeconds?: number;
    /** Container to show logs of when the wait times out. */
    containerName: string;
}

/** A bounded wait until Triton answers /v2/health/ready, failing with a message that says what to look at. */
export function waitReadyScript(o: WaitReadyOptions): string {
    return `${HEADER("Wait until Triton is ready (bounded).")}
url=${shq(o.url)}
timeout=${o.timeoutSeconds}
interval=${o.intervalSeconds ?? 5}
container=${shq(o.containerName)}
SECONDS=0
attempts=0
while true; do
  attempts=$(( attempts + 1 ))
  if curl -fsS -o /dev/null --max-time 5 "$url" 2>/dev/null; then
    echo "Triton ready after \${SECONDS}s ($attempts attempts): $url"
    exit 0
  fi
  if (( SECONDS >= timeout )); then
    break
  fi
  sleep "$interval"
done
{
  echo "timed out after \${timeout}s (server.readyTimeoutSeconds) waiting for Triton to answer $url ($attempts attempts)."
  echo "Look at: docker logs --tail 100 $container; docker inspect --format '{{json .State.Health}}' $container."
  echo "Models may need longer to load: raise server.readyTimeoutSeconds. Last log lines:"
  docker logs --tail 20 "$container" 2>&1 || true
} >&2
exit 1
`;
}

/** Settings of the model container's start script. */
export interface TritonStartOptions {
    /** Env file (inside the container) holding TRITON_ADMIN_KEY. */
    envFile: string;
    ports: { http: number; grpc: number; metrics: number };
    exitTimeoutSeconds: number;
}

/**
 * The model container's entry point (POSIX sh, runs inside the image). It reads the admin key from the
 * root-only env file mounted read-only, so the key is in no Docker setting, state or `docker inspect`.
 * Triton takes the restricted-API key only as a command-line flag: it is visible in the tritonserver
 * process's arguments inside the container and to root on the host, and nowhere else.
 */
export function tritonStartScript(o: TritonStartOptions): string {
    return `#!/bin/sh
# Start Triton with the restricted-API key from the mounted env file. Generated by Pulumi (triton-platform).
set -eu
# shellcheck disable=SC1091
. ${shq(o.envFile)}
if [ -z "\${TRITON_ADMIN_KEY:-}" ]; then
  echo "TRITON_ADMIN_KEY is missing from ${o.envFile}" >&2
  exit 1
fi
exec tritonserver \\
  --model-repository=/models \\
  --model-control-mode=none \\
  --http-port=${o.ports.http} \\
  --grpc-port=${o.ports.grpc} \\
  --metrics-port=${o.ports.metrics} \\
  --exit-timeout-secs=${o.exitTimeoutSeconds} \\
  --log-format=ISO8601 \\
  --metrics-config=summary_latencies=true \\
  --http-restricted-api="${RESTRICTED_APIS.join(",")}:${ADMIN_KEY_HEADER}=\${TRITON_ADMIN_KEY}" \\
  --grpc-restricted-protocol="${RESTRICTED_APIS.join(",")}:${ADMIN_KEY_HEADER}=\${TRITON_ADMIN_KEY}"
`;
}

/** The container's healthcheck (bash only: the image need not ship curl). */
export function healthcheckScript(httpPort: number): string {
    return `exec 3<>/dev/tcp/127.0.0.1/${httpPort} && printf 'GET ${TRITON_READY_PATH} HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '`;
}
