// The log shipper on the lightweight server: its config file and the container to run next to Triton
// (serverLogShipper(), as data), then that spec as docker.Container arguments, the credentials file the
// shipper's AWS SDK reads, the Docker logging options of the containers whose logs it ships, and the
// script that checks it runs. Pure; server.ts writes the files and runs the containers on the host.
//
// Credentials. serverLogShipper() asks for a `credentials.env` passed with `docker run --env-file`. That
// option is the Docker CLI's: the Docker API (and so @pulumi/docker) has none, and `envs` would put the
// keys into the provider's state and `docker inspect`. Triton's key file is read by a start script, but
// the collector image has no shell. What the collector does have is the AWS SDK (aws-sdk-go-v2, through
// the awss3 exporter's config.LoadDefaultConfig), which reads a shared-credentials file itself when
// AWS_SHARED_CREDENTIALS_FILE names it. So the server writes that file (root, 0600) beside the config,
// in the folder already mounted read-only, and the container gets only its path.
import { quantityValue } from "../../kit/schema";
import { dockerCapabilities, memoryLimitMiB } from "../server/container";
import { HEADER, shq } from "../server/scripts";
import { renderConfig, SERVER_COMPONENT_LABEL, SERVER_PATHS, serverShipperConfig, SHIPPER } from "./config";
import { goMemLimit, LogSinkDefinition } from "./shared";

/** A bind mount of the server shipper container. */
export interface ServerMount {
    hostPath: string;
    containerPath: string;
    readOnly: boolean;
}

/** What the lightweight server needs to run the shipper: its config file and its container. */
export interface ServerLogShipper {
    /** Contents of the config file to write to `configHostPath` (no secrets in it). */
    config: string;
    /** Host path of the config file. */
    configHostPath: string;
    /** Host path of the credentials env file (0600 root) when static keys are used; the server writes it. */
    credentialsEnvFile: string;
    /** Names the credentials env file must define (values from the stack's secrets). */
    credentialsEnvNames: readonly string[];
    container: {
        /** Container name. */
        name: string;
        /** Pinned image. */
        image: string;
        /** Arguments after the image. */
        args: string[];
        /** Plain environment (no secrets). */
        env: Record<string, string>;
        mounts: ServerMount[];
        /** Host folders to create before start (root, 0700). */
        createHostDirs: string[];
        /** Runs as root: Docker writes container logs root-owned, mode 0640. */
        user: string;
        readOnlyRootFilesystem: true;
        capDrop: ["ALL"];
        securityOpt: string[];
        /** Health endpoint, published on the loopback interface only (R3 keeps the firewall closed). */
        healthCheck: { hostPort: number; containerPort: number; bindAddress: "127.0.0.1"; path: string };
        /** Metrics endpoint for a local scraper, loopback only. */
        metrics: { hostPort: number; containerPort: number; bindAddress: "127.0.0.1" };
        restartPolicy: "unless-stopped";
    };
    /**
     * `docker run` options the server must add to the Triton container (and the entry point, with its
     * own component name) so the shipper picks their logs up.
     */
    sourceContainerOptions: (component: string) => string[];
}

/**
 * The shipper for the lightweight server, as data: the config file and the container to run next to
 * Triton. Pure; server.ts writes the files and runs the container.
 */
export function serverLogShipper(args: {
    definition: LogSinkDefinition;
    /** The server's availability zone, when known. */
    zone?: string;
    /** The server's host name (def.server.domain or host), recorded on every line. */
    hostName?: string;
    /** Whether static keys are used (then the credentials env file must exist). */
    staticKeys: boolean;
}): ServerLogShipper {
    const def = args.definition;
    const sink = def.logSink;
    const instance = `${def.project}-${def.stack}`;
    const config = renderConfig(
        serverShipperConfig({ sink, store: def.objectStorage, identity: { stack: def.stack, instance }, zone: args.zone, hostName: args.hostName }),
    );
    const env: Record<string, string> = { AWS_REGION: def.objectStorage.region, TZ: "UTC", GOMEMLIMIT: goMemLimit(sink.resources.memoryLimit) };
    const mounts: ServerMount[] = [
        { hostPath: SERVER_PATHS.dockerContainers, containerPath: SERVER_PATHS.dockerContainers, readOnly: true },
        { hostPath: SERVER_PATHS.storage, containerPath: SHIPPER.storageDir, readOnly: false },
        { hostPath: SERVER_PATHS.config, containerPath: SHIPPER.configDir, readOnly: true },
    ];
    if (sink.caBundle) {
        env.AWS_CA_BUNDLE = `${SHIPPER.configDir}/${SHIPPER.caFile}`;
    }
    return {
        config,
        configHostPath: `${SERVER_PATHS.config}/${SHIPPER.configFile}`,
        credentialsEnvFile: SERVER_PATHS.credentialsEnvFile,
        credentialsEnvNames: args.staticKeys ? ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] : [],
        container: {
            name: `${instance}-log-shipper`,
            image: sink.image,
            args: [`--config=${SHIPPER.configDir}/${SHIPPER.configFile}`],
            env,
            mounts,
            createHostDirs: [SERVER_PATHS.storage, SERVER_PATHS.config],
            user: "0:0",
            readOnlyRootFilesystem: true,
            capDrop: ["ALL"],
            securityOpt: ["no-new-privileges:true"],
            healthCheck: { hostPort: SHIPPER.healthPort, containerPort: SHIPPER.healthPort, bindAddress: "127.0.0.1", path: "/" },
            metrics: { hostPort: SHIPPER.metricsPort, containerPort: SHIPPER.metricsPort, bindAddress: "127.0.0.1" },
            restartPolicy: "unless-stopped",
        },
        sourceContainerOptions: (component: string) => [
            "--log-driver=json-file",
            "--log-opt=max-size=50m",
            "--log-opt=max-file=5",
            `--label=${SERVER_COMPONENT_LABEL}=${component}`,
            `--log-opt=labels=${SERVER_COMPONENT_LABEL}`,
        ],
    };
}

/** Host path of the shipper's object-store credentials (AWS shared-credentials format, root, 0600). */
export const SHIPPER_CREDENTIALS_FILE = "/etc/triton-platform/logsink/aws-credentials";

/** Seconds the shipper gets after SIGTERM to hand its in-flight batch to the disk queue. */
export const SHIPPER_STOP_SECONDS = 60;

/** Upper bound of the wait for the shipper's health endpoint after a new container. */
export const SHIPPER_READY_TIMEOUT_SECONDS = 120;

/** Variables the credentials file may carry, and their keys in the AWS shared-credentials format. */
const AWS_CREDENTIAL_KEYS: Record<string, string> = {
    AWS_ACCESS_KEY_ID: "aws_access_key_id",
    AWS_SECRET_ACCESS_KEY: "aws_secret_access_key",
    AWS_SESSION_TOKEN: "aws_session_token",
};

/** Values the file carries as they are: no spaces, quotes, comment or line characters. */
const CREDENTIAL_VALUE = /^[A-Za-z0-9._~+/=-]+$/;

/**
 * The `[default]` profile of an AWS shared-credentials file holding the variables the spec names
 * (`credentialsEnvNames`). Throws, naming the variable and never its value, when a name is unknown or a
 * value has characters the file cannot carry.
 */
export function awsCredentialsContent(vars: Record<string, string>): string {
    const lines = ["# Object-store credentials of the log shipper (AWS shared-credentials format). Generated by Pulumi.", "[default]"];
    for (const [name, value] of Object.entries(vars)) {
        const key = AWS_CREDENTIAL_KEYS[name];
        if (!key) {
            throw new Error(`the log shipper's credentials name ${name}, which the AWS shared-credentials file has no key for`);
        }
        if (!CREDENTIAL_VALUE.test(value)) {
            throw new Error(`the value of ${name} is empty or has characters the credentials file cannot carry (spaces, quotes, '#', ';', line breaks)`);
        }
        lines.push(`${key} = ${value}`);
    }
    return `${lines.join("\n")}\n`;
}

/** Where a host file appears inside a container, through the container's bind mounts. */
export function containerPathOf(hostFile: string, mounts: readonly { hostPath: string; containerPath: string }[]): string {
    for (const m of mounts) {
        const base = m.hostPath.replace(/\/+$/, "");
        if (hostFile.startsWith(`${base}/`)) {
            return `${m.containerPath.replace(/\/+$/, "")}${hostFile.slice(base.length)}`;
        }
    }
    throw new Error(`${hostFile} is in none of the container's mounts`);
}

/** Docker logging and labels of a container whose logs the shipper picks up. */
export interface SourceContainerArgs {
    logDriver: string;
    logOpts: Record<string, string>;
    labels: { label: string; value: string }[];
}

/**
 * Turns the `docker run` options of `sourceContainerOptions()` into docker.Container arguments. The
 * server's own log rotation (`server.logRotation`) wins over the sizes in the options: it is the setting
 * operators change. Throws on an option it does not know, so a new requirement of the shipper is not
 * silently dropped.
 */
export function sourceContainerArgs(options: readonly string[], logRotation: { maxSize: string; maxFiles: number }): SourceContainerArgs {
    let logDriver: string | undefined;
    const logOpts: Record<string, string> = {};
    const labels: { label: string; value: string }[] = [];
    for (const option of options) {
        const m = /^--(log-driver|log-opt|label)=(.+)$/.exec(option);
        if (!m) {
            throw new Error(`unsupported docker run option for a log source container: ${option}`);
        }
        const [, flag, value] = m;
        if (flag === "log-driver") {
            logDriver = value;
            continue;
        }
        const eq = value.indexOf("=");
        if (eq <= 0) {
            throw new Error(`expected --${flag}=<key>=<value>, got ${option}`);
        }
        if (flag === "log-opt") {
            logOpts[value.slice(0, eq)] = value.slice(eq + 1);
        } else {
            labels.push({ label: value.slice(0, eq), value: value.slice(eq + 1) });
        }
    }
    if (logDriver !== "json-file") {
        throw new Error(`the log shipper reads Docker's json-file logs, but the source options ask for the log driver ${logDriver ?? "(none)"}`);
    }
    return { logDriver, logOpts: { ...logOpts, "max-size": logRotation.maxSize, "max-file": String(logRotation.maxFiles) }, labels };
}

/** What the shipper container needs besides its spec. */
export interface ShipperContainerOptions {
    /** Host path of the credentials file, when static keys are used (it must be inside a mount). */
    credentialsFile?: string;
    /** Memory limit of the container (the shipper's GOMEMLIMIT is 80% of it), as a quantity. */
    memoryLimit: string;
    /** json-file rotation of the shipper's own logs (they are not shipped: the container has no source label). */
    logRotation: { maxSize: string; maxFiles: number };
}

/** The docker.Container arguments of the shipper, except the image and labels. Nothing secret. */
export function shipperContainerArgs(shipper: ServerLogShipper, o: ShipperContainerOptions) {
    const c = shipper.container;
    const env: Record<string, string> = { ...c.env };
    if (o.credentialsFile) {
        env.AWS_SHARED_CREDENTIALS_FILE = containerPathOf(o.credentialsFile, c.mounts);
    }
    return {
        name: c.name,
        // The image's entry point is the collector; these replace its default arguments.
        command: c.args,
        envs: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        volumes: c.mounts.map((m) => ({ hostPath: m.hostPath, containerPath: m.containerPath, readOnly: m.readOnly })),
        user: c.user,
        readOnly: c.readOnlyRootFilesystem,
        capabilities: dockerCapabilities({ drops: c.capDrop }),
        securityOpts: [...c.securityOpt],
        // Loopback only: the host firewall (R3) stays closed to them.
        ports: [
            { internal: c.healthCheck.containerPort, external: c.healthCheck.hostPort, ip: c.healthCheck.bindAddress },
            { internal: c.metrics.containerPort, external: c.metrics.hostPort, ip: c.metrics.bindAddress },
        ],
        restart: c.restartPolicy,
        mustRun: true,
        ...memoryLimitMiB(Math.floor(quantityValue(o.memoryLimit) / 2 ** 20)),
        stopTimeout: SHIPPER_STOP_SECONDS,
        destroyGraceSeconds: SHIPPER_STOP_SECONDS,
        logDriver: "json-file",
        logOpts: { "max-size": o.logRotation.maxSize, "max-file": String(o.logRotation.maxFiles) },
    };
}

/** Settings of the log shipper's readiness check. */
export interface LogShipperReadyOptions {
    /** Name of the shipper container. */
    containerName: string;
    /** The pinned image reference from the definition (for messages). */
    image: string;
    /** How `docker image inspect` lists that reference (familiarImageReference). */
    expectedReference: string;
    /** Health endpoint as seen inside the container, e.g. http://127.0.0.1:13133/. */
    healthUrl: string;
    /** Upper bound of the wait. */
    timeoutSeconds: number;
    /** Pause between attempts. @default 5 */
    intervalSeconds?: number;
}

/**
 * Checks that the log shipper container runs the pinned image, then waits (bounded) until its health
 * endpoint answers. The endpoint is asked from inside the container's network namespace (`nsenter
 * --net` with the host's curl): the image has no shell or curl, and a host whose egress is restricted
 * does not let the host itself open connections into the Docker bridge.
 */
export function logShipperReadyScript(o: LogShipperReadyOptions): string {
    return `${HEADER("Log shipper (R13): pinned image, then a bounded wait for its health endpoint.")}
container=${shq(o.containerName)}
image=${shq(o.image)}
expected_ref=${shq(o.expectedReference)}
health_url=${shq(o.healthUrl)}
timeout=${o.timeoutSeconds}
interval=${o.intervalSeconds ?? 5}

# The container runs the image the definition pins (one started by hand in its place does not).
if ! image_id="$(docker inspect --format '{{.Image}}' "$container" 2>&1)"; then
  echo "log shipper container $container not found: $image_id" >&2
  exit 1
fi
refs="$(docker image inspect --format '{{range .RepoTags}}{{println .}}{{end}}{{range .RepoDigests}}{{println .}}{{end}}' "$image_id")"
# Docker lists Docker Hub images by their short name; a containerd image store may list the full one.
if ! grep -qxF -e "$expected_ref" -e "$image" <<<"$refs"; then
  echo "log shipper container $container does not run the pinned image $image (its image is known as: $(tr '\\n' ' ' <<<"$refs")): run pulumi up again to recreate it" >&2
  exit 1
fi

SECONDS=0
attempts=0
while true; do
  attempts=$(( attempts + 1 ))
  pid="$(docker inspect --format '{{.State.Pid}}' "$container" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[1-9][0-9]*$ ]] && nsenter --target "$pid" --net curl -fsS -o /dev/null --max-time 5 "$health_url" 2>/dev/null; then
    echo "log shipper ready after \${SECONDS}s ($attempts attempts): $container runs $image"
    exit 0
  fi
  if (( SECONDS >= timeout )); then
    break
  fi
  sleep "$interval"
done
{
  echo "timed out after \${timeout}s waiting for the log shipper $container to answer $health_url ($attempts attempts)."
  echo "A rejected configuration or unreadable credentials stop the collector at start: it then restarts in a loop."
  echo "Look at: docker logs --tail 100 $container; docker inspect --format '{{.State.Status}} restarts={{.RestartCount}}' $container. Last log lines:"
  docker logs --tail 20 "$container" 2>&1 || true
} >&2
exit 1
`;
}
