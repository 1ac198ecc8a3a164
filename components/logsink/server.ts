// The log shipper on the lightweight server, as data: its config file and the container to run next to
// Triton. Pure; the server component writes the files and runs the container.
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
 * The shipper for the lightweight server, as data for the server component: the config file and the
 * container to run next to Triton. Pure; the server component writes the files and runs the container.
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
