// The lightweight server (single-VM path, R1-R4, R7, R8, R15): bootstrap steps as remote commands, then
// the model container through the server's own Docker engine over SSH.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { recommendedLabels } from "../common/labels";
import type { KeyClaims } from "../keys/claims";
import { LogSinkDefinition, SERVER_PATHS, ServerLogShipper, serverLogShipper, SHIPPER, usesStaticKeys } from "../logsink";
import { MODEL_SERVER_ENV_FILE, MODEL_SERVER_SECRETS_DIR, modelContainerSpec, serverEndpoint, TritonSettings, troubleshootingCommands } from "./container";
import type { ServerSettings } from "./schema";
import {
    CONTAINER_NAME,
    envFileContent,
    firewallScript,
    foldersScript,
    installScript,
    logShipperReadyScript,
    preflightScript,
    remoteCommand,
    SECRETS_DIR,
    SERVER_ROOT,
    sshdScript,
    StdinFileOptions,
    stdinFileScript,
    waitReadyScript,
} from "./scripts";
import {
    awsCredentialsContent,
    familiarImageReference,
    imageTag,
    SHIPPER_CREDENTIALS_FILE,
    SHIPPER_READY_TIMEOUT_SECONDS,
    shipperContainerArgs,
    sourceContainerArgs,
} from "./logsink";
import { DEFAULT_LOCAL_SSH_DIRECTORY, dockerHost, dockerSshOptions, knownHostsPattern, localSshFiles, writeKnownHosts, writeLocalKey } from "./ssh";

export * from "./container";
export * from "./logsink";
export * from "./scripts";
export * from "./ssh";
export { serverSchema } from "./schema";
export type { ServerSettings } from "./schema";

/** The keys the server needs (a Keys component satisfies it). All but `claims` are secret. */
export interface ServerKeys {
    apiKey: pulumi.Output<string>;
    apiKeySecret: pulumi.Output<string>;
    jwtSecret: pulumi.Output<string>;
    hmacKey: pulumi.Output<string>;
    tritonAdminKey: pulumi.Output<string>;
    claims: pulumi.Output<KeyClaims>;
}

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

/** Arguments of a LightweightServer. */
export interface LightweightServerArgs {
    /** The definition's `server` settings: host, port, user, sudo, image, minimums. */
    settings: ServerSettings;
    /** SSH private key (secret config `serverPrivateKey`). Unset: the operator's ssh-agent. */
    privateKey?: pulumi.Input<string>;
    /** The generated keys; they reach the server on stdin only, as root-only files. */
    keys: ServerKeys;
    /** The host firewall: renderNftables() and renderSshCheckTable() of the security group. */
    firewall: { ruleset: string; sshCheck: string; table: string; checkTable: string };
    /** Triton's ports and drain time, from the definition. */
    triton: TritonSettings;
    /** app.kubernetes.io/instance of the stack (container labels). */
    instance: string;
    /** R13: run the log shipper next to Triton. Unset (logSink.enabled false): no shipper. */
    logSink?: ServerLogSinkArgs;
    /**
     * Where the Docker provider's ssh finds the key and known_hosts on the operator's machine.
     * @default directory ~/.cache/triton-platform/ssh, name = the component name
     */
    localSsh?: { directory?: string; name?: string };
}

/**
 * A single server running Triton in Docker: preflight (R1), install (R2, R4), host firewall (R3, R6),
 * sshd hardening (R3), key files (R5, R7), the model container (R7), a bounded readiness wait, and the
 * log shipper that sends Triton's logs to object storage (R13). Each remote step is idempotent and
 * re-runs only when its script or input changes.
 */
export class LightweightServer extends pulumi.ComponentResource {
    /** Where collaboration platforms reach the model service (R8: the domain when set). Resolves once Triton is ready. */
    public readonly endpoint: pulumi.Output<string>;
    /** R15 troubleshooting commands, by symptom. */
    public readonly troubleshooting: pulumi.Output<Record<string, string>>;
    /** Name of the model container on the server. */
    public readonly containerName: pulumi.Output<string>;
    /** `s3://bucket/prefix/` the server's logs land under; undefined without a log sink. */
    public readonly logDestination: pulumi.Output<string | undefined>;

    constructor(name: string, args: LightweightServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("triton-platform:server:LightweightServer", name, {}, opts);
        const s = args.settings;
        if (!s.hostKey) {
            pulumi.log.warn(
                `server.hostKey is unset: remote commands do not verify ${s.host}'s identity and Docker's ssh trusts the first key it sees. Set it from \`ssh-keyscan -p ${s.sshPort} ${s.host}\`.`,
                this,
            );
        }
        const connection: command.types.input.remote.ConnectionArgs = {
            host: s.host,
            port: s.sshPort,
            user: s.user,
            ...(args.privateKey !== undefined ? { privateKey: args.privateKey } : {}),
            ...(s.hostKey ? { hostKey: s.hostKey } : {}),
            dialErrorLimit: 10,
            perDialTimeout: 15,
        };
        const step = (role: string, script: string, sudo: boolean, dependsOn: pulumi.Resource[], extra: Partial<command.remote.CommandArgs> = {}, secretStdin = false) =>
            new command.remote.Command(
                `${name}-${role}`,
                { connection, create: remoteCommand(script, { sudo }), ...extra },
                { parent: this, dependsOn, ...(secretStdin ? { additionalSecretOutputs: ["stdin"] } : {}) },
            );

        // Bootstrap, in order; the preflight needs no root and stops everything below the minimum.
        const preflight = step("preflight", preflightScript({ minMemoryMiB: s.minMemoryMiB, minDiskGB: s.minDiskGB, requireSudo: s.sudo }), false, []);
        const install = step("install", installScript({ user: s.user, modelRepository: s.modelRepository, logRotation: s.logRotation }), s.sudo, [preflight]);
        const firewall = step(
            "firewall",
            firewallScript({ ruleset: args.firewall.ruleset, sshCheck: args.firewall.sshCheck, sshPort: s.sshPort, table: args.firewall.table, checkTable: args.firewall.checkTable }),
            s.sudo,
            [install],
        );
        const sshd = step("sshd", sshdScript(), s.sudo, [firewall]);

        // Key files: the content travels on stdin (not part of the command line), is secret in the state,
        // and is not logged. One file per consumer; the API key's secret apart from the key (R5).
        const file = (role: string, o: StdinFileOptions, content: pulumi.Output<string>, secret: boolean) =>
            step(role, stdinFileScript(o), s.sudo, [install], { stdin: secret ? pulumi.secret(content) : content, logging: "none" }, secret);
        const k = args.keys;
        const modelEnv = file(
            "model-server-env",
            { path: `${MODEL_SERVER_SECRETS_DIR}/${MODEL_SERVER_ENV_FILE}`, mode: "0600", dirMode: "0700" },
            k.tritonAdminKey.apply((key) => envFileContent({ TRITON_ADMIN_KEY: key })),
            true,
        );
        file(
            "entrypoint-env",
            { path: `${SECRETS_DIR}/entrypoint/entrypoint.env`, mode: "0600", dirMode: "0700" },
            pulumi.all([k.apiKey, k.jwtSecret, k.hmacKey]).apply(([apiKey, jwt, hmac]) => envFileContent({ API_KEY: apiKey, JWT_SECRET: jwt, HMAC_SIGNING_KEY: hmac })),
            true,
        );
        file(
            "api-key-secret-env",
            { path: `${SECRETS_DIR}/entrypoint/api-key-secret.env`, mode: "0600", dirMode: "0700" },
            k.apiKeySecret.apply((secret) => envFileContent({ API_KEY_SECRET: secret })),
            true,
        );
        // What the entry point checks (R5 permissions, R10 claims): not secret, beside the keys.
        file("claims", { path: `${SERVER_ROOT}/claims.json`, mode: "0644", dirMode: "0755" }, k.claims.apply((c) => `${JSON.stringify(c, null, 2)}\n`), false);

        // The Docker engine over SSH. Its address resolves only after the bootstrap, so a first preview does
        // not try to reach a Docker that is not installed yet.
        const files = localSshFiles(args.localSsh?.directory ?? DEFAULT_LOCAL_SSH_DIRECTORY, args.localSsh?.name ?? name);
        const keyWritten =
            args.privateKey !== undefined ? pulumi.unsecret(pulumi.output(args.privateKey).apply((key) => writeLocalKey(files, key))) : pulumi.output("");
        if (s.hostKey) {
            writeKnownHosts(files, knownHostsPattern(s.host, s.sshPort), s.hostKey);
        }
        const engine = new docker.Provider(
            `${name}-docker`,
            {
                host: pulumi.all([install.stdout, firewall.stdout, sshd.stdout, keyWritten]).apply(() => dockerHost(s.user, s.host, s.sshPort)),
                sshOpts: dockerSshOptions({ files, withKey: args.privateKey !== undefined, hostKeyPinned: s.hostKey !== undefined }),
            },
            { parent: this },
        );
        // R13: the log shipper next to Triton; Triton's container carries the shipper's source options.
        const shipper = args.logSink && this.declareLogShipper(name, args.logSink, { s, step, file, install, firewall, engine, instance: args.instance });

        const image = new docker.RemoteImage(`${name}-image`, { name: s.image, keepLocally: true }, { parent: this, provider: engine });
        const labels = recommendedLabels({ name: "triton", instance: args.instance, component: "model-server", version: imageTag(s.image) });
        // The shipper picks exactly the containers that carry its component label in their log lines.
        const source = shipper && sourceContainerArgs(shipper.sourceContainerOptions("model-server"), s.logRotation);
        const container = new docker.Container(
            `${name}-model-server`,
            {
                ...modelContainerSpec(s, args.triton),
                ...(source ? { logDriver: source.logDriver, logOpts: source.logOpts } : {}),
                image: image.imageId,
                labels: [
                    ...Object.entries(labels).map(([label, value]) => ({ label, value })),
                    ...(source?.labels ?? []),
                    // A rewritten key file gets a new id: the container is recreated and reads the new key.
                    { label: "triton-platform/key-file-revision", value: modelEnv.id },
                ],
            },
            // One host port, one container: the old one must go before the new one can publish 18789.
            { parent: this, provider: engine, dependsOn: [modelEnv, firewall], deleteBeforeReplace: true },
        );
        const ready = step(
            "wait-ready",
            waitReadyScript({ url: `http://127.0.0.1:${args.triton.servicePort}/v2/health/ready`, timeoutSeconds: s.readyTimeoutSeconds, containerName: CONTAINER_NAME }),
            s.sudo,
            [container],
            { triggers: [container.id] },
        );

        this.endpoint = ready.stdout.apply(() => serverEndpoint(s, args.triton.servicePort));
        this.troubleshooting = pulumi.output(troubleshootingCommands(s, args.triton.servicePort, shipper?.container.name));
        this.containerName = container.name;
        this.logDestination = pulumi.output(args.logSink ? `s3://${args.logSink.definition.logSink.bucket}/${args.logSink.definition.logSink.prefix}/` : undefined);
        this.registerOutputs({ endpoint: this.endpoint, troubleshooting: this.troubleshooting, containerName: this.containerName, logDestination: this.logDestination });
    }

    /**
     * The log shipper (R13) from serverLogShipper(): its folders, config file, credentials file (static
     * keys only, over stdin), its container (read-only, no capabilities, health and metrics on the loopback
     * only) and a bounded check that it runs the pinned image and answers its health endpoint.
     */
    private declareLogShipper(
        name: string,
        sink: ServerLogSinkArgs,
        ctx: {
            s: ServerSettings;
            step: (role: string, script: string, sudo: boolean, dependsOn: pulumi.Resource[], extra?: Partial<command.remote.CommandArgs>, secretStdin?: boolean) => command.remote.Command;
            file: (role: string, o: StdinFileOptions, content: pulumi.Output<string>, secret: boolean) => command.remote.Command;
            install: command.remote.Command;
            firewall: command.remote.Command;
            engine: docker.Provider;
            instance: string;
        },
    ): ServerLogShipper {
        const { s, step, file } = ctx;
        const def = sink.definition;
        const staticKeys = usesStaticKeys({ accessKeyId: sink.credentials?.accessKeyId, secretAccessKey: sink.credentials?.secretAccessKey });
        const shipper = serverLogShipper({ definition: def, zone: sink.zone, hostName: s.domain ?? s.host, staticKeys });
        if (!staticKeys) {
            pulumi.log.info(
                "the server's log shipper has no static object-store keys (objectStorageAccessKeyId / objectStorageSecretAccessKey): it uses the AWS SDK's default chain on the server, e.g. an instance profile",
                this,
            );
        }

        const folders = step(
            "logsink-folders",
            foldersScript(shipper.container.createHostDirs.map((path) => ({ path, mode: "0700" as const }))),
            s.sudo,
            [ctx.install],
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

        const image = new docker.RemoteImage(`${name}-log-shipper-image`, { name: shipper.container.image, keepLocally: true }, { parent: this, provider: ctx.engine });
        const labels = recommendedLabels({ name: "log-shipper", instance: ctx.instance, component: "log-shipper", version: imageTag(shipper.container.image) });
        const container = new docker.Container(
            `${name}-log-shipper`,
            {
                ...shipperContainerArgs(shipper, {
                    credentialsFile: staticKeys ? SHIPPER_CREDENTIALS_FILE : undefined,
                    memoryLimit: def.logSink.resources.memoryLimit,
                    logRotation: s.logRotation,
                }),
                image: image.imageId,
                labels: [
                    ...Object.entries(labels).map(([label, value]) => ({ label, value })),
                    // The collector reads its files at start only: a rewritten file (new step id) recreates it.
                    ...Object.entries(written).map(([what, w]) => ({ label: `triton-platform/${what}-file-revision`, value: w.id })),
                ],
            },
            // Fixed name and loopback ports: the old container must go before the new one starts.
            { parent: this, provider: ctx.engine, dependsOn: [folders, ...Object.values(written), ctx.firewall], deleteBeforeReplace: true },
        );
        step(
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
        return shipper;
    }
}
