// The log shipper on the lightweight server (R13), from serverLogShipper() (server-plan.ts): its folders,
// config file, credentials file (static keys only, over stdin), its container (read-only, no capabilities,
// health and metrics on the loopback only) and a bounded check that it runs the pinned image and answers
// its health endpoint. Declared on the host (components/server/host.ts).
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { familiarImageReference, imageVersion } from "../../kit/image-ref";
import { recommendedLabels } from "../../kit/labels";
import { ContainerLogSource, hostContainer, ServerHost } from "../server/host";
import { foldersScript } from "../server/scripts";
import { SERVER_PATHS, SHIPPER } from "./config";
import {
    awsCredentialsContent,
    logShipperReadyScript,
    ServerLogShipper,
    serverLogShipper,
    SHIPPER_CREDENTIALS_FILE,
    SHIPPER_READY_TIMEOUT_SECONDS,
    shipperContainerArgs,
    sourceContainerArgs,
} from "./server-plan";
import { LogSinkDefinition, usesStaticKeys } from "./shared";

/** What the server needs to ship its containers' logs to object storage (R13). */
export interface ServerLogSinkArgs {
    /** The definition's log sink, object storage, project and stack (serverLogShipper() reads them). */
    definition: LogSinkDefinition;
    /**
     * Static object-store keys (secrets `objectStorageAccessKeyId` / `objectStorageSecretAccessKey`). They
     * reach the server on stdin only, as a root-only file. Unset: the AWS SDK's default chain on the server
     * (e.g. an instance profile).
     */
    credentials?: { accessKeyId: pulumi.Input<string>; secretAccessKey: pulumi.Input<string> };
    /** The server's availability zone, recorded on every shipped line, when known. */
    zone?: string;
}

/** The shipper on the server: its container's name, and the logging options of the containers it reads. */
export interface ServerLogShipperOnHost {
    containerName: string;
    /** `s3://bucket/prefix/` the logs land under. */
    destination: string;
    /** Docker logging and labels that make the shipper pick up a container's logs, under its component name. */
    logSource: (component: string) => ContainerLogSource;
    ready: command.remote.Command;
}

/** Declares the log shipper on the server. */
export function declareServerLogShipper(host: ServerHost, sink: ServerLogSinkArgs): ServerLogShipperOnHost {
    const { settings: s, step, file } = host;
    const def = sink.definition;
    const staticKeys = usesStaticKeys({ accessKeyId: sink.credentials?.accessKeyId, secretAccessKey: sink.credentials?.secretAccessKey });
    const shipper: ServerLogShipper = serverLogShipper({ definition: def, zone: sink.zone, hostName: s.domain ?? s.host, staticKeys });
    if (!staticKeys) {
        pulumi.log.info(
            "the server's log shipper has no static object-store keys (objectStorageAccessKeyId / objectStorageSecretAccessKey): it uses the AWS SDK's default chain on the server, e.g. an instance profile",
            host.parent,
        );
    }

    const folders = step(
        "logsink-folders",
        foldersScript(shipper.container.createHostDirs.map((path) => ({ path, mode: "0700" as const }))),
        s.sudo,
        [host.install],
    );
    // The config folder is mounted into the container: root-only, like the credentials in it.
    const inFolder = (path: string, mode: "0600" | "0644") => ({ path, mode, dirMode: "0700" as const });
    const written: Record<string, command.remote.Command> = {
        config: file("logsink-config", inFolder(shipper.configHostPath, "0644"), pulumi.output(shipper.config), false),
    };
    if (def.logSink.caBundle) {
        written.ca = file("logsink-ca", inFolder(`${SERVER_PATHS.config}/${SHIPPER.caFile}`, "0644"), pulumi.output(def.logSink.caBundle), false);
    }
    if (staticKeys && sink.credentials) {
        const names = shipper.credentialsEnvNames;
        const credentials = pulumi.all([sink.credentials.accessKeyId, sink.credentials.secretAccessKey]).apply(([id, key]) => {
            const values: Record<string, string> = { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: key };
            return awsCredentialsContent(Object.fromEntries(names.map((n) => [n, values[n] ?? ""])));
        });
        written.credentials = file("logsink-credentials", inFolder(SHIPPER_CREDENTIALS_FILE, "0600"), credentials, true);
    }

    const container = hostContainer(
        host,
        "log-shipper",
        {
            image: { pull: shipper.container.image, role: "log-shipper-image" },
            args: shipperContainerArgs(shipper, {
                credentialsFile: staticKeys ? SHIPPER_CREDENTIALS_FILE : undefined,
                memoryLimit: def.logSink.resources.memoryLimit,
                logRotation: s.logRotation,
            }),
            labels: recommendedLabels({ name: "log-shipper", instance: host.instance, component: "log-shipper", version: imageVersion(shipper.container.image) }),
            // The collector reads its files at start only: a rewritten file (new step id) recreates it.
            revisions: Object.entries(written).map(([what, w]) => ({ label: `triton-platform/${what}-file-revision`, value: w.id })),
        },
        // Fixed name and loopback ports: the old container must go before the new one starts.
        { dependsOn: [folders, ...Object.values(written), host.firewall], deleteBeforeReplace: true },
    );
    const ready = step(
        "logsink-ready",
        logShipperReadyScript({
            containerName: shipper.container.name,
            image: shipper.container.image,
            expectedReference: familiarImageReference(shipper.container.image),
            healthUrl: `http://127.0.0.1:${shipper.container.healthCheck.containerPort}${shipper.container.healthCheck.path}`,
            timeoutSeconds: SHIPPER_READY_TIMEOUT_SECONDS,
        }),
        s.sudo,
        [container],
        { triggers: [container.id] },
    );
    return {
        containerName: shipper.container.name,
        destination: `s3://${def.logSink.bucket}/${def.logSink.prefix}/`,
        logSource: (component) => sourceContainerArgs(shipper.sourceContainerOptions(component), s.logRotation),
        ready,
    };
}
