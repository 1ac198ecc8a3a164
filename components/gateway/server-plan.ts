// What the lightweight server needs to run the entry point: the same generated
// haproxy.cfg, listening on 80 and 18789 (R3, R6, R7), in front of a Triton that binds to loopback only
// (serverGateway(), as data); then that description as docker.Container arguments, the request that proves
// the gateway checks tokens (and the script that waits for it), and the paths the troubleshooting commands
// use. Pure; server.ts writes the files and runs the container on the host.
import type * as docker from "@pulumi/docker";
import { createHash } from "crypto";
import { quantityValue } from "../../kit/schema";
import type { SourceContainerArgs } from "../logsink/server-plan";
import { ADMIN_KEY_HEADER, TRITON_READY_PATH } from "../model-service/workload";
import { dockerCapabilities, memoryLimitMiB } from "../server/container";
import { HEADER, shq } from "../server/scripts";
import { JWT_PREVIOUS_SECRET_ENV, JWT_SECRET_ENV, JwtPolicy, renderHaproxyConfig } from "./haproxy";
import { GatewaySettings, RouteSettings } from "./schema";

/** Ports the gateway listens on, on every address of the server (R3: HTTP 80, model service 18789). */
export const SERVER_GATEWAY_PORTS = [80, 18789] as const;
/** uid/gid of the `haproxy` user of the official image; haproxy drops to it once its ports are bound. */
export const HAPROXY_IMAGE_UID = 99;
/** Name of the gateway container on the server. */
export const SERVER_GATEWAY_CONTAINER = "triton-gateway";
/** Where the config and secret folders appear inside the container. */
const CONTAINER_CONFIG_DIR = "/usr/local/etc/haproxy";
const CONTAINER_SECRETS_DIR = "/run/secrets/gateway";
/** Where the admin socket's folder appears inside the container (writable: haproxy creates the socket). */
const CONTAINER_ADMIN_DIR = "/run/haproxy-admin";
/** File name of the JWT secret in the secrets folder. */
export const SERVER_JWT_SECRET_FILE = "jwt-secret";
/** File name of the previous rotation period's JWT secret, beside it (key rotation overlap). */
export const SERVER_JWT_PREVIOUS_SECRET_FILE = "jwt-secret-previous";

/** Inputs of {@link serverGateway}. */
export interface ServerGatewayArgs {
    settings: GatewaySettings;
    jwt: JwtPolicy;
    /** Triton's HTTP port on 127.0.0.1 (not 18789: the gateway holds that one). @default 8000 */
    tritonHttpPort?: number;
    /** Triton's metrics port on 127.0.0.1. @default 8002 */
    tritonMetricsPort?: number;
    /** The dialogue service's port on 127.0.0.1 (routes with upstream `dialogue`); unset: they go to Triton. */
    dialoguePort?: number;
    /** Port of the probe and Prometheus endpoint, on 127.0.0.1 only. @default settings.statsPort */
    statsPort?: number;
    /** Server folder of haproxy.cfg (0755, root). @default /etc/triton-platform/gateway */
    configDir?: string;
    /** Server folder of the JWT secret file (0700, root). @default /etc/triton-platform/secrets/gateway */
    secretsDir?: string;
    /**
     * Blue-green on the server (components/model-service/server-slots.ts): a second config file in the config folder,
     * loaded after haproxy.cfg (the slot router, rewritten by each switch), and a host folder (root-only)
     * mounted writable for the admin socket that file declares. Unset: haproxy.cfg alone.
     */
    slotRouting?: { fileName: string; adminDir: string; socketName: string };
}

/** A file written on the server. */
export interface ServerFile {
    path: string;
    /** File mode, octal. */
    mode: string;
}

/** Everything the server writes and runs for the gateway. Holds no secret. */
export interface ServerGateway {
    /** haproxy.cfg: write `config` there (no secret in it). */
    configFile: ServerFile;
    config: string;
    /**
     * The file to hold the JWT secret alone (Keys.jwtSecret, no newline needed): server.ts
     * uploads it (never on a command line); the container reads it at start into JWT_SECRET.
     */
    secretFile: ServerFile;
    /**
     * Key rotation without an outage: where the previous period's JWT secret (Keys.jwtPreviousSecret)
     * goes, read at start only when `jwt.previousKeyValidUntil` is set; accepted until that time.
     */
    previousSecretFile: ServerFile;
    /** Ports the firewall opens for the gateway (R3, R6). */
    listenPorts: number[];
    /** Where Triton must listen: publish its ports on 127.0.0.1 only (`-p 127.0.0.1:8000:8000`), not on 18789. */
    triton: { bindAddress: "127.0.0.1"; httpPort: number; metricsPort: number };
    /** Local health endpoint (200 while haproxy runs). */
    healthUrl: string;
    /**
     * Arguments of a docker.Container (add `image` and labels). Host network: the gateway must reach
     * Triton on 127.0.0.1. haproxy starts as root only to bind 80, then runs as uid 99 (`uid`/`gid` in
     * the config); every capability but the three it needs is dropped and the root filesystem is read-only.
     */
    container: Omit<docker.ContainerArgs, "image">;
    /** SHA-256 of config and image: re-create the container when it changes. Not a secret. */
    fingerprint: string;
    /**
     * With `slotRouting`: the slot router's file on the server (written by the switch, not part of the
     * fingerprint: a switch changes haproxy's state at run time and never recreates the container) and the
     * admin socket, as the server and as haproxy inside the container see it.
     */
    slotRouting?: { file: ServerFile; adminSocketHostPath: string; adminSocketContainerPath: string };
}

/** The gateway of the lightweight server: config, files and container. Pure. */
export function serverGateway(args: ServerGatewayArgs): ServerGateway {
    const s = args.settings;
    const httpPort = args.tritonHttpPort ?? 8000;
    const metricsPort = args.tritonMetricsPort ?? 8002;
    const statsPort = args.statsPort ?? s.statsPort;
    for (const p of [httpPort, metricsPort, statsPort]) {
        if ((SERVER_GATEWAY_PORTS as readonly number[]).includes(p)) {
            throw new Error(`port ${p} is the gateway's on the server: Triton and the stats endpoint need other ports`);
        }
    }
    const configDir = args.configDir ?? "/etc/triton-platform/gateway";
    const secretsDir = args.secretsDir ?? "/etc/triton-platform/secrets/gateway";
    const config = renderHaproxyConfig({
        settings: s,
        jwt: args.jwt,
        listeners: SERVER_GATEWAY_PORTS.map((port) => ({ name: `port-${port}`, address: "", port })),
        statsListener: { address: "127.0.0.1", port: statsPort },
        upstreams: {
            triton: { host: "127.0.0.1", port: httpPort },
            "triton-metrics": { host: "127.0.0.1", port: metricsPort },
            ...(args.dialoguePort !== undefined ? { dialogue: { host: "127.0.0.1", port: args.dialoguePort } } : {}),
        },
        process: { dropPrivilegesTo: { uid: HAPROXY_IMAGE_UID, gid: HAPROXY_IMAGE_UID } },
        stripHeaders: [ADMIN_KEY_HEADER],
        // A route upstream named by host name is resolved through the host's resolver and may start
        // unresolved (init-addr none): without this haproxy resolves it once at start-up and refuses to
        // start when it does not resolve yet (found by the property test).
        dns: s.routes.some((r) => typeof r.upstream === "object" && !/^[0-9.]+$/.test(r.upstream.host) && !r.upstream.host.includes(":")),
    });
    // The secret goes from a root-only file into haproxy's environment inside the container: never in
    // `docker inspect`, the provider's state or a command line. The file holds only the value, so any
    // character is safe.
    const previousFile = `${CONTAINER_SECRETS_DIR}/${SERVER_JWT_PREVIOUS_SECRET_FILE}`;
    const start = [
        `${JWT_SECRET_ENV}="$(cat ${CONTAINER_SECRETS_DIR}/${SERVER_JWT_SECRET_FILE})"`,
        `export ${JWT_SECRET_ENV}`,
        // Key rotation without an outage: the previous period's secret, when server.ts wrote it
        // (accepted until jwt.previousKeyValidUntil, written into the config). Absent: one secret only.
        ...(args.jwt.previousKeyValidUntil !== undefined
            ? [`{ if [ -r ${previousFile} ]; then ${JWT_PREVIOUS_SECRET_ENV}="$(cat ${previousFile})"; export ${JWT_PREVIOUS_SECRET_ENV}; fi; }`]
            : []),
        `exec haproxy -W -db -f ${CONTAINER_CONFIG_DIR}/haproxy.cfg${args.slotRouting ? ` -f ${CONTAINER_CONFIG_DIR}/${args.slotRouting.fileName}` : ""}`,
    ].join(" && ");
    const routing = args.slotRouting;
    return {
        configFile: { path: `${configDir}/haproxy.cfg`, mode: "0644" },
        config,
        secretFile: { path: `${secretsDir}/${SERVER_JWT_SECRET_FILE}`, mode: "0400" },
        previousSecretFile: { path: `${secretsDir}/${SERVER_JWT_PREVIOUS_SECRET_FILE}`, mode: "0400" },
        listenPorts: [...SERVER_GATEWAY_PORTS],
        triton: { bindAddress: "127.0.0.1", httpPort, metricsPort },
        healthUrl: `http://127.0.0.1:${statsPort}/healthz`,
        container: {
            name: SERVER_GATEWAY_CONTAINER,
            entrypoints: ["/bin/sh", "-c", start],
            networkMode: "host",
            user: "0:0",
            readOnly: true,
            capabilities: { drops: ["ALL"], adds: ["NET_BIND_SERVICE", "SETUID", "SETGID"] },
            securityOpts: ["no-new-privileges:true"],
            volumes: [
                { hostPath: configDir, containerPath: CONTAINER_CONFIG_DIR, readOnly: true },
                { hostPath: secretsDir, containerPath: CONTAINER_SECRETS_DIR, readOnly: true },
                ...(routing ? [{ hostPath: routing.adminDir, containerPath: CONTAINER_ADMIN_DIR, readOnly: false }] : []),
            ],
            restart: "unless-stopped",
            mustRun: true,
            // SIGUSR1: haproxy stops accepting and drains open requests and WebSockets (hard-stop-after).
            stopSignal: "SIGUSR1",
            stopTimeout: s.drainSeconds + 5,
            destroyGraceSeconds: s.drainSeconds + 5,
            healthcheck: {
                // busybox wget is in the alpine image; the probe endpoint is on loopback only.
                tests: ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${statsPort}/healthz`],
                interval: "10s",
                timeout: "3s",
                retries: 3,
            },
        },
        fingerprint: createHash("sha256").update(config).update("\0").update(s.image).digest("hex"),
        ...(routing
            ? {
                  slotRouting: {
                      file: { path: `${configDir}/${routing.fileName}`, mode: "0644" },
                      adminSocketHostPath: `${routing.adminDir}/${routing.socketName}`,
                      adminSocketContainerPath: `${CONTAINER_ADMIN_DIR}/${routing.socketName}`,
                  },
              }
            : {}),
    };
}

/** Upper bound of the wait for the gateway after a new container: haproxy starts in about a second. */
export const GATEWAY_READY_TIMEOUT_SECONDS = 60;

/** The path collaboration platforms and operators use for Triton's readiness (the default `health` route). */
export const READINESS_PATH = TRITON_READY_PATH;

/** The first route haproxy picks for a path (first match wins, as in the generated config). */
export function routeFor(routes: readonly RouteSettings[], path: string): RouteSettings | undefined {
    return routes.find((r) => {
        switch (r.match) {
            case "exact":
                return r.path === path;
            case "prefix":
                return path.startsWith(r.path);
            case "regex":
                return new RegExp(r.path).test(path);
        }
    });
}

/** Methods a route accepts (the gateway's defaults per access mode when unset). */
function methodsOf(r: RouteSettings): string[] {
    return r.methods ?? (r.access === "websocket" ? ["GET"] : r.access === "webhook" ? ["POST"] : ["GET", "POST"]);
}

/** A literal path a route matches, when one can be written down (not for regex routes). */
function literalPath(r: RouteSettings, leaf: string): string | undefined {
    if (r.match === "exact") {
        return r.path;
    }
    if (r.match === "prefix") {
        return `${r.path}${r.path.endsWith("/") ? "" : "/"}${leaf}`;
    }
    return undefined;
}

/**
 * The request every public listener must refuse without a token: Triton's readiness path when a
 * non-WebSocket route takes it (the default `health` route), else a literal path of another such route.
 * Refused with 401, it proves haproxy runs, loaded the routes and holds a JWT secret of at least 32
 * bytes (503 otherwise). When every route is a WebSocket or a regex that cannot be probed, the request
 * falls back to a path no route takes and only proves haproxy answers (404).
 */
export function gatewayProbe(routes: readonly RouteSettings[]): GatewayProbe {
    const candidates = [READINESS_PATH, ...routes.filter((r) => r.access !== "websocket").flatMap((r) => literalPath(r, "gateway-probe") ?? [])];
    for (const path of candidates) {
        const route = routeFor(routes, path);
        if (!route || route.access === "websocket") {
            continue;
        }
        const methods = methodsOf(route);
        const method = methods.includes("GET") ? "GET" : methods.includes("POST") ? "POST" : undefined;
        if (method) {
            return { method, path, expectStatus: 401 };
        }
    }
    const fallback = "/triton-platform-gateway-probe";
    // A WebSocket route taking it answers 426 (no Upgrade header) before any token check.
    return { method: "GET", path: fallback, expectStatus: routeFor(routes, fallback) ? 426 : 404 };
}

/** The path of a webhook route that takes R11 envelopes (POST), when the routes have one. */
export function envelopePath(routes: readonly RouteSettings[]): string | undefined {
    for (const r of routes.filter((x) => x.access === "webhook" && methodsOf(x).includes("POST"))) {
        const path = literalPath(r, "test");
        if (path && routeFor(routes, path) === r) {
            return path;
        }
    }
    return undefined;
}

/**
 * Refuses a service port the gateway does not listen on: the firewall opens `modelService.servicePort`
 * (and 80), and the gateway holds 80 and 18789, so they must agree or nothing reaches the gateway.
 */
export function checkGatewayServicePort(servicePort: number, listenPorts: readonly number[]): void {
    if (!listenPorts.includes(servicePort)) {
        throw new Error(
            `modelService.servicePort is ${servicePort}, but the server's gateway listens on ${listenPorts.join(" and ")} (R3, R7): set modelService.servicePort to 18789, or gateway.enabled to false to publish Triton on ${servicePort} itself`,
        );
    }
}

/**
 * Whether the previous rotation period's JWT secret goes onto the server: while its overlap runs
 * (`now` before `acceptedUntilEpoch`, Unix seconds) it is written beside the current one; after it the
 * file is removed, so a secret the gateway no longer accepts does not stay on the disk. The gateway also
 * refuses it after that instant by itself (`date lt <end>` in haproxy.cfg), whether or not an `up` ran.
 */
export function previousJwtFileAction(nowEpochSeconds: number, acceptedUntilEpoch: number): "write" | "remove" {
    return nowEpochSeconds < acceptedUntilEpoch ? "write" : "remove";
}

/** What the gateway container needs besides serverGateway()'s description. */
export interface GatewayContainerOptions {
    /** The log shipper's source options for `entry-point` (its lines are then shipped, R13). */
    source?: SourceContainerArgs;
    /** json-file rotation (`server.logRotation`), when there is no shipper. */
    logRotation: { maxSize: string; maxFiles: number };
    /** `gateway.resources.memoryLimit`, as a quantity. */
    memoryLimit: string;
}

/**
 * The docker.Container arguments of the gateway, except the image and labels: serverGateway()'s container
 * (host network, read-only root, every capability dropped but the three haproxy needs, the secret read
 * from the mounted root-only file, healthcheck, restart policy) with a memory limit and Docker logging
 * the log shipper picks up. Nothing secret: the container has no `envs`.
 */
export function gatewayContainerArgs(gw: ServerGateway, o: GatewayContainerOptions) {
    return {
        ...gw.container,
        // serverGateway() gives plain lists (typed as the provider's Input); Docker's own spelling avoids refresh drift.
        capabilities: dockerCapabilities((gw.container.capabilities ?? {}) as { drops?: string[]; adds?: string[] }),
        ...memoryLimitMiB(Math.floor(quantityValue(o.memoryLimit) / 2 ** 20)),
        logDriver: "json-file",
        logOpts: o.source ? o.source.logOpts : { "max-size": o.logRotation.maxSize, "max-file": String(o.logRotation.maxFiles) },
    };
}

/** A request that must be refused for want of a token: it proves haproxy runs and checks tokens. */
export interface GatewayProbe {
    method: "GET" | "POST";
    /** Path (no query string) that matches a token-checked route. */
    path: string;
    /** Status the gateway answers without a token: 401, or 404 when no route could be probed. */
    expectStatus: number;
}

/** Settings of the gateway's readiness check. */
export interface GatewayReadyOptions {
    /** Name of the gateway container (for messages and its last log lines). */
    containerName: string;
    /** haproxy's probe endpoint on the loopback (200 while it runs). */
    healthUrl: string;
    /** Base URLs of the public listeners as seen from the server, e.g. http://127.0.0.1:18789. */
    listenerUrls: string[];
    /** The request every listener must refuse without a token. */
    probe: GatewayProbe;
    /** Upper bound of the wait. */
    timeoutSeconds: number;
    /** Pause between attempts. @default 2 */
    intervalSeconds?: number;
}

/**
 * A bounded wait until the gateway answers on its health endpoint and refuses a request without a token
 * on every public listener (R10: 401 proves haproxy runs, loaded its routes and holds a JWT secret of
 * the right length; a missing or short secret is a 503). A 2xx without a token stops the wait at once:
 * something other than the gateway answers on that port (e.g. a Triton still published there).
 */
export function gatewayReadyScript(o: GatewayReadyOptions): string {
    const urls = o.listenerUrls.map((u) => `${u.replace(/\/+$/, "")}${o.probe.path}`);
    return `${HEADER("Wait until the gateway runs and refuses requests without a token on every listener (bounded).")}
container=${shq(o.containerName)}
health_url=${shq(o.healthUrl)}
urls=(${urls.map(shq).join(" ")})
method=${o.probe.method}
expected=${o.probe.expectStatus}
timeout=${o.timeoutSeconds}
interval=${o.intervalSeconds ?? 2}

# HTTP status of a request without a token (000: no answer).
status() {
  local args=(-s -o /dev/null -w '%{http_code}' --max-time 5 -X "$1")
  [[ "$1" == POST ]] && args+=(--data-binary '')
  curl "\${args[@]}" "$2" 2>/dev/null || true
}

declare -A last=()
SECONDS=0
attempts=0
while true; do
  attempts=$(( attempts + 1 ))
  pending=0
  code="$(status GET "$health_url")"
  last["$health_url"]="\${code:-000}"
  [[ "$code" == 200 ]] || pending=1
  for url in "\${urls[@]}"; do
    code="$(status "$method" "$url")"
    last["$url"]="\${code:-000}"
    if [[ "$code" == 2?? ]]; then
      echo "$url answered $code to a request carrying no token, so something other than the gateway $container answers on this port (look at: docker ps; ss -ltnp). Refusing to report the gateway ready." >&2
      exit 1
    fi
    [[ "$code" == "$expected" ]] || pending=1
  done
  if (( pending == 0 )); then
    echo "gateway ready after \${SECONDS}s ($attempts attempts): $container answers $health_url and refuses requests without a token ($expected) on \${urls[*]}"
    exit 0
  fi
  if (( SECONDS >= timeout )); then
    break
  fi
  sleep "$interval"
done
{
  echo "timed out after \${timeout}s waiting for the gateway $container ($attempts attempts):"
  for url in "$health_url" "\${urls[@]}"; do
    code="\${last[$url]:-000}"
    want="$expected"
    [[ "$url" != "$health_url" ]] || want=200
    case "$code" in
      000) why="no answer: haproxy does not listen there (container stopped or restarting? port taken by another process: ss -ltnp)" ;;
      503) why="503 gateway_misconfigured: the JWT secret file is empty or shorter than 32 bytes" ;;
      "$want") why="$code, as expected" ;;
      *) why="$code instead of the expected $want" ;;
    esac
    echo "  $url: $why"
  done
  echo "Look at: docker logs --tail 100 $container; docker inspect --format '{{json .State.Health}}' $container. Last log lines:"
  docker logs --tail 20 "$container" 2>&1 || true
} >&2
exit 1
`;
}
