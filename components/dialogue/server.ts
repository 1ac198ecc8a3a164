// The dialogue service on the lightweight server: pure builders of its files (configuration, secret
// files), the two containers on the host (Redis and the service, host network, loopback only,
// read-only, no capabilities) and the image load, with the same runtime configuration builder as on
// Kubernetes (config.ts) and loopback addresses; then declareServerDialogue(), which declares them on the
// host (components/server/host.ts).
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash, createHmac } from "crypto";
import { recommendedLabels } from "../../kit/labels";
import { quantityValue } from "../../kit/schema";
import { hostContainer, type ServerHost } from "../server/host";
import { dockerCapabilities, memoryLimitMiB } from "../server/container";
import { shq, type StdinFileOptions } from "../server/scripts";
import { DIALOGUE_UID, dialogueRuntimeConfig, REDIS_UID, redisConfig, SECRET_FILES, SECRETS_DIR } from "./config";
import { DialogueSettings } from "./schema";

/** Loopback ports on the server (host network): the gateway holds 80/18789 and its stats 8405. */
export const SERVER_DIALOGUE_PORTS = { http: 8080, admin: 8406, redis: 6379 } as const;
/** Container names (R15 commands refer to them). */
export const SERVER_DIALOGUE_CONTAINER = "triton-dialogue";
export const SERVER_REDIS_CONTAINER = "triton-dialogue-redis";
/** Server folders: configuration (root 0755) and secret files (readable by the service's uid only). */
export const SERVER_DIALOGUE_CONFIG_DIR = "/etc/triton-platform/dialogue";
export const SERVER_DIALOGUE_SECRETS_DIR = "/etc/triton-platform/secrets/dialogue";

/** A file written on the server (content over stdin), with its owner. */
export type DialogueServerFile = StdinFileOptions;

/** Everything the server writes and runs for the dialogue service. Holds no secret. */
export interface ServerDialogue {
    configFile: DialogueServerFile;
    config: string;
    /** Secret files (content from the Keys component and secret config), owned by the service's user. */
    secretFiles: { hmacKey: DialogueServerFile; replyUrls: DialogueServerFile; redisPassword: DialogueServerFile };
    /** redis.conf with the password (redisConfig()), as the Redis container's user reads it. Secret. */
    redisConfigFile: DialogueServerFile;
    /** docker.Container arguments (add `image`). */
    redisContainer: Omit<docker.ContainerArgs, "image">;
    serviceContainer: Omit<docker.ContainerArgs, "image">;
    /** Where the gateway forwards the dialogue routes. */
    upstream: { host: "127.0.0.1"; port: number };
    healthUrl: string;
    /** SHA-256 of the configuration: re-create the service container when it changes. */
    fingerprint: string;
}

/** The dialogue service of the lightweight server. Pure. */
export function serverDialogue(s: DialogueSettings, o: { tritonHttpPort: number; replyUrls: boolean }): ServerDialogue {
    const p = SERVER_DIALOGUE_PORTS;
    const containerSecrets = SECRETS_DIR;
    const config = `${JSON.stringify(
        dialogueRuntimeConfig(
            { ...s, port: p.http, adminPort: p.admin },
            {
                tritonUrl: `http://127.0.0.1:${o.tritonHttpPort}`,
                redis: s.store.kind === "redis" ? { host: "127.0.0.1", port: p.redis, password: true } : undefined,
                listenHost: "127.0.0.1",
                secretsDir: containerSecrets,
                replyUrls: o.replyUrls,
            },
        ),
        null,
        2,
    )}\n`;
    const owner = { uid: DIALOGUE_UID, gid: DIALOGUE_UID };
    // Secret files: 0400 of the service's user, in a 0500 folder of its own behind the root-only secrets folder.
    const secret = (name: string): DialogueServerFile => ({ path: `${SERVER_DIALOGUE_SECRETS_DIR}/${name}`, mode: "0400", dirMode: "0500", owner });
    const hardening = {
        networkMode: "host",
        readOnly: true,
        capabilities: dockerCapabilities({ drops: ["ALL"] }),
        securityOpts: ["no-new-privileges:true"],
        restart: "unless-stopped",
        mustRun: true,
        logDriver: "json-file",
        logOpts: { "max-size": "10m", "max-file": "3" },
    };
    const redisDir = `${SERVER_DIALOGUE_SECRETS_DIR}-redis`;
    return {
        configFile: { path: `${SERVER_DIALOGUE_CONFIG_DIR}/config.json`, mode: "0644", dirMode: "0755" },
        config,
        secretFiles: { hmacKey: secret(SECRET_FILES.hmacKey), replyUrls: secret(SECRET_FILES.replyUrls), redisPassword: secret(SECRET_FILES.redisPassword) },
        redisConfigFile: { path: `${redisDir}/redis.conf`, mode: "0400", dirMode: "0500", owner: { uid: REDIS_UID, gid: REDIS_UID } },
        redisContainer: {
            ...hardening,
            name: SERVER_REDIS_CONTAINER,
            user: `${REDIS_UID}:${REDIS_UID}`,
            // Loopback only: the firewall drops 6379 from outside as well, but Redis never listens there.
            command: ["redis-server", "/run/secrets/redis/redis.conf"],
            volumes: [{ hostPath: redisDir, containerPath: "/run/secrets/redis", readOnly: true }],
            tmpfs: { "/data": "size=64m,uid=999,gid=999" },
            ...memoryLimitMiB(s.store.maxMemoryMb * 2),
        },
        serviceContainer: {
            ...hardening,
            name: SERVER_DIALOGUE_CONTAINER,
            user: `${DIALOGUE_UID}:${DIALOGUE_UID}`,
            envs: [`DIALOGUE_CONFIG=/etc/dialogue/config.json`],
            volumes: [
                { hostPath: SERVER_DIALOGUE_CONFIG_DIR, containerPath: "/etc/dialogue", readOnly: true },
                { hostPath: SERVER_DIALOGUE_SECRETS_DIR, containerPath: containerSecrets, readOnly: true },
            ],
            stopSignal: "SIGTERM",
            stopTimeout: 20,
            destroyGraceSeconds: 20,
            healthcheck: {
                tests: ["CMD", "/usr/bin/node", "-e", `fetch("http://127.0.0.1:${p.admin}/readyz").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
                interval: "10s",
                timeout: "3s",
                retries: 3,
            },
            ...memoryLimitMiB(Math.floor(quantityValue(s.resources.memoryLimit) / 2 ** 20)),
        },
        upstream: { host: "127.0.0.1", port: p.http },
        healthUrl: `http://127.0.0.1:${p.admin}/readyz`,
        fingerprint: createHash("sha256").update(config).update("\0").update(s.image).digest("hex"),
    };
}

/** Where the archive is copied before `docker load` (the SSH user's, not root's: removed after the load). */
export const SERVER_IMAGE_UPLOAD = "/tmp/triton-platform-dialogue.oci.tar";

/**
 * The Redis password of the server path, derived from the HMAC key (HMAC-SHA256 of a fixed label, hex):
 * it rotates with the stack's keys and needs no key resource of its own. Redis sits on the loopback.
 */
export function serverRedisPassword(hmacKey: string): string {
    return createHmac("sha256", hmacKey).update("triton-platform dialogue redis password").digest("hex");
}

/** The script that loads the copied archive and checks the expected image is there. */
export function loadImageScript(imageId: string): string {
    if (!/^sha256:[0-9a-f]{64}$/.test(imageId)) {
        throw new Error(`image id ${imageId} is not sha256:<64 hex digits>`);
    }
    return [
        "set -eu",
        `docker load -i ${SERVER_IMAGE_UPLOAD} >/dev/null`,
        `docker image inspect ${imageId} >/dev/null || { echo "the loaded archive is not image ${imageId}: rebuild it and set dialogue.server.imageId" >&2; exit 1; }`,
        `rm -f ${SERVER_IMAGE_UPLOAD}`,
        "",
    ].join("\n");
}

/** Upper bound of the wait for the service to answer its readiness probe after its container (re)starts. */
export const DIALOGUE_READY_TIMEOUT_SECONDS = 120;

/**
 * The script that waits (bounded) until the service answers `/readyz` (it then listens and reaches Redis):
 * the container's `mustRun` only says the process started, and a service that exits at once (an unreadable
 * secret file, a bad configuration) would restart in a loop behind a successful `pulumi up`. On timeout it
 * prints the last answer and both containers' state and log lines. Pure; holds no secret.
 */
export function dialogueReadyScript(o: { healthUrl: string; timeoutSeconds: number; intervalSeconds?: number }): string {
    const containers = [SERVER_DIALOGUE_CONTAINER, SERVER_REDIS_CONTAINER];
    return [
        "set -eu",
        `url=${shq(o.healthUrl)}`,
        `timeout=${o.timeoutSeconds}`,
        `interval=${o.intervalSeconds ?? 1}`,
        "SECONDS=0",
        "attempts=0",
        "last=''",
        "while true; do",
        "  attempts=$((attempts + 1))",
        '  if last="$(curl -fsS --max-time 5 "$url" 2>&1)"; then',
        `    echo "dialogue service ready after \${SECONDS}s ($attempts attempts): $url"`,
        "    exit 0",
        "  fi",
        '  if [ "$SECONDS" -ge "$timeout" ]; then break; fi',
        '  sleep "$interval"',
        "done",
        "{",
        `  echo "timed out after \${timeout}s waiting for the dialogue service to answer $url ($attempts attempts); last answer: \${last:-none}"`,
        `  for c in ${containers.join(" ")}; do`,
        `    echo "--- $c: $(docker inspect --format '{{.State.Status}} restarts={{.RestartCount}} exit={{.State.ExitCode}}' "$c" 2>&1)"`,
        '    docker logs --tail 20 "$c" 2>&1 || true',
        "  done",
        "} >&2",
        "exit 1",
        "",
    ].join("\n");
}

/** Inputs of {@link declareServerDialogue}. */
export interface ServerDialogueServiceArgs {
    settings: DialogueSettings;
    /** Where Triton's HTTP API listens on the host's loopback. */
    tritonHttpPort: number;
    /** The R11 HMAC key (secret Output of the Keys component). */
    hmacKey: pulumi.Output<string>;
    /** JSON {platform: reply URL} (secret config `dialogueReplyUrls`). */
    replyUrls?: pulumi.Output<string>;
    /** The step after which Triton serves (behind the gateway: the gateway's readiness). */
    tritonReady: command.remote.Command;
}

/**
 * Declares the dialogue service on the server (components/server/host.ts): files over stdin (secrets never
 * on a command line), the image archive copied and loaded, Redis and the service as containers on the
 * host network bound to 127.0.0.1, after Triton is ready.
 */
export function declareServerDialogue(h: ServerHost, a: ServerDialogueServiceArgs): void {
    const s = a.settings;
    const image = s.server;
    if (!image) {
        throw new Error("dialogue.server is unset: the image archive and id are needed to run the service on the server");
    }
    const plan = serverDialogue(s, { tritonHttpPort: a.tritonHttpPort, replyUrls: a.replyUrls !== undefined });
    // (Under the test mocks the generated key has no value: nothing is derived from it then.)
    const password = a.hmacKey.apply((k) => (typeof k === "string" ? serverRedisPassword(k) : k));
    const config = h.file("dialogue-config", plan.configFile, pulumi.output(plan.config), false);
    const hmac = h.file("dialogue-hmac-key", plan.secretFiles.hmacKey, a.hmacKey, true);
    const urls = a.replyUrls && h.file("dialogue-reply-urls", plan.secretFiles.replyUrls, a.replyUrls, true);
    const redisPassword = h.file("dialogue-redis-password", plan.secretFiles.redisPassword, password, true);
    const redisConf = h.file("dialogue-redis-config", plan.redisConfigFile, password.apply((p) => (typeof p === "string" ? redisConfig(s, SERVER_DIALOGUE_PORTS.redis, p) : p)), true);
    const upload = new command.remote.CopyToRemote(
        `${h.name}-dialogue-image-archive`,
        { connection: h.connection, source: new pulumi.asset.FileAsset(image.imageArchive), remotePath: SERVER_IMAGE_UPLOAD, triggers: [image.imageId] },
        { parent: h.parent, dependsOn: [h.firewall] },
    );
    const sudo = h.settings.sudo;
    const load = h.step("dialogue-image-load", loadImageScript(image.imageId), sudo, [upload], { triggers: [image.imageId] });
    const labels = (component: string) => recommendedLabels({ name: "triton", instance: h.instance, component });
    const redis = hostContainer(
        h,
        "dialogue-redis",
        {
            image: { pull: s.store.image, role: "dialogue-redis-image" },
            args: plan.redisContainer,
            labels: labels("dialogue-store"),
            revisions: [{ label: "triton-platform/config-file-revision", value: redisConf.id }],
        },
        { dependsOn: [redisConf, h.firewall], deleteBeforeReplace: true },
    );
    const service = hostContainer(
        h,
        "dialogue",
        {
            // The image the load step put there, by id (no registry).
            image: { id: image.imageId },
            args: plan.serviceContainer,
            labels: labels("dialogue"),
            revisions: [
                // The service reads its files at start only: new files recreate the container.
                { label: "triton-platform/config-sha256", value: plan.fingerprint },
                { label: "triton-platform/config-file-revision", value: config.id },
                { label: "triton-platform/key-file-revision", value: hmac.id },
                ...(urls ? [{ label: "triton-platform/reply-urls-revision", value: urls.id }] : []),
            ],
        },
        { dependsOn: [load, config, hmac, redisPassword, redis, a.tritonReady, ...(urls ? [urls] : [])], deleteBeforeReplace: true },
    );
    // `up` succeeds only once the service answers (it listens and reaches Redis); again after each new container.
    h.step("dialogue-ready", dialogueReadyScript({ healthUrl: plan.healthUrl, timeoutSeconds: DIALOGUE_READY_TIMEOUT_SECONDS }), sudo, [service, redis], {
        triggers: [service.id, redis.id],
    });
}
