// The lightweight server (single-VM path, R1-R4, R7, R8, R15): bootstrap steps as remote commands, then
// the model container through the server's own Docker engine over SSH.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { recommendedLabels } from "../../kit/labels";
import type { JwtPolicy } from "../gateway/haproxy";
import type { GatewaySettings } from "../gateway/schema";
import {
    checkGatewayServicePort,
    envelopePath,
    GATEWAY_READY_TIMEOUT_SECONDS,
    gatewayContainerArgs,
    gatewayProbe,
    previousJwtFileAction,
    READINESS_PATH,
    SERVER_GATEWAY_CONTAINER,
    ServerGateway,
    serverGateway,
} from "../gateway/server";
import type { KeyClaims } from "../keys/claims";
import { resolveNow } from "../keys/rotation";
import {
    awsCredentialsContent,
    LogSinkDefinition,
    SERVER_PATHS,
    ServerLogShipper,
    serverLogShipper,
    SHIPPER,
    SHIPPER_CREDENTIALS_FILE,
    SHIPPER_READY_TIMEOUT_SECONDS,
    shipperContainerArgs,
    sourceContainerArgs,
    usesStaticKeys,
} from "../logsink";
import { modelContainerSpec, modelKeyFileOptions, slotContainerSpec, serverEndpoint, TritonSettings, troubleshootingCommands } from "./container";
import type { ServerSettings } from "./schema";
import {
    CONTAINER_NAME,
    envFileContent,
    firewallScript,
    foldersScript,
    gatewayReadyScript,
    installScript,
    logShipperReadyScript,
    preflightScript,
    remoteCommand,
    removeFileScript,
    SECRETS_DIR,
    SERVER_ROOT,
    sshdScript,
    StdinFileOptions,
    stdinFileScript,
    waitReadyScript,
} from "./scripts";
import { familiarImageReference, imageTag } from "../../kit/image-ref";
import { remoteStepFailureMessage } from "./failures";
import { modelRepositoryScript, RELEASE_ENV, RepositoryFile, repositoryPayload } from "./models";
import { imageRetentionScript } from "./releases";
import { checkSlotPorts, GATEWAY_ADMIN_DIR, GATEWAY_ADMIN_SOCKET, SLOT_ROUTING_FILE, slotContainerName, slotPorts, slotRoutingConfig, slotSwitchScript } from "./slots";
import { DEFAULT_TRITON_IMAGE, SLOT_NAMES, SlotName } from "../../kit/slots";
import { DEFAULT_LOCAL_SSH_DIRECTORY, dockerHost, dockerSshOptions, holdKeyForRun, knownHostsPattern, localSshFiles } from "./ssh";

export * from "./container";
export * from "./failures";
export * from "./models";
export * from "./releases";
export * from "./scripts";
export * from "./slots";
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

/** The collaboration-platform entry point on the server (components/gateway). */
export interface ServerGatewayOptions {
    /**
     * The definition's `gateway` settings. With `enabled` (the default) haproxy listens on 80 and 18789
     * and Triton is published on 127.0.0.1 only; with `enabled: false` Triton is published on the
     * service port itself, as without a gateway.
     */
    settings: GatewaySettings;
    /** The R10 claims the gateway checks (the definition's `keys.jwt`). */
    jwt: JwtPolicy;
    /** The dialogue service's port on 127.0.0.1 (a host service): the gateway's `dialogue` routes go there. */
    dialoguePort?: number;
    /**
     * Key rotation without an outage (Keys.jwtPreviousSecret and jwtRotation), as the Kubernetes gateway
     * takes it: the previous period's JWT secret, accepted until `acceptedUntilEpoch` (Unix seconds).
     * While that overlap runs it is written to `jwt-secret-previous` beside the current secret (stdin,
     * root, 0400); after it the file is removed. Unset: the current secret only.
     */
    previousJwt?: { secret: pulumi.Input<string>; acceptedUntilEpoch: pulumi.Input<number> };
}

/**
 * What a service running beside Triton on the host (the dialogue service, components/dialogue/server.ts)
 * gets to declare itself with: this server's remote steps, key-file writer, Docker engine and ordering.
 */
export interface ServerHost {
    /** The component's name (prefix of child names) and the component itself (their parent). */
    name: string;
    parent: pulumi.Resource;
    sudo: boolean;
    connection: command.types.input.remote.ConnectionArgs;
    step: (role: string, script: string, sudo: boolean, dependsOn: pulumi.Resource[], extra?: Partial<command.remote.CommandArgs>, secretStdin?: boolean) => command.remote.Command;
    /** Writes a file from stdin (secret: kept secret in the state, not logged). */
    file: (role: string, o: StdinFileOptions, content: pulumi.Output<string>, secret: boolean) => command.remote.Command;
    engine: docker.Provider;
    firewall: command.remote.Command;
    tritonReady: command.remote.Command;
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
    /**
     * The model repository to ship (repositoryFiles(): config.pbtxt from the definition and the files of
     * `server.modelSource`). Unset: the repository on the server is the operator's.
     */
    modelFiles?: RepositoryFile[];
    /**
     * R16: the recorded releases of the model server's image, newest first (at most 3; `server.image`
     * among them). Once the current image serves, older images of those repositories are removed from
     * the server and these stay for a rollback. Unset or empty: no image is removed.
     */
    releases?: string[];
    /**
     * R16 blue-green: the definition's `activeSlot` and each slot's image (`slots.<slot>.image`; a slot
     * without one has no container). Behind the gateway each slot runs its own Triton on loopback ports
     * (slotPorts()) and the gateway routes to the active one; without the gateway only the active slot
     * runs, on the service port. `server.idleSlot` says whether the other slot keeps running.
     * @default blue, with `server.image` (or the default Triton image)
     */
    slots?: { active: SlotName; images: Partial<Record<SlotName, string>> };
    /** app.kubernetes.io/instance of the stack (container labels). */
    instance: string;
    /**
     * R8-R10: the entry point in front of Triton, verifying HS256 JWTs. Unset or disabled: Triton is
     * published on the service port (18789) for everyone the firewall lets in, with no token check.
     */
    gateway?: ServerGatewayOptions;
    /** R13: run the log shipper next to Triton. Unset (logSink.enabled false): no shipper. */
    logSink?: ServerLogSinkArgs;
    /** Services beside Triton on the host (the dialogue service), declared after Triton is ready. */
    hostServices?: ((host: ServerHost) => void)[];
    /**
     * Where the run's ssh-agent (holding `privateKey` for the Docker provider's ssh) listens on the
     * operator's machine: `<directory>/<name>.agent`, a private folder that exists only during a run.
     * `~` and ssh's `%i` (local user id) are allowed and kept as such in the state.
     * @default directory /tmp/triton-platform-ssh-%i, name = the component name
     */
    localSsh?: { directory?: string; name?: string };
    /**
     * The clock deciding whether the JWT overlap still runs (gateway.previousJwt).
     * @default TRITON_PLATFORM_NOW when set, else the current time (the Keys component's clock)
     */
    now?: Date;
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
    /** Name of the gateway container on the server; undefined without a gateway. */
    public readonly gatewayContainerName: pulumi.Output<string | undefined>;
    /** `s3://bucket/prefix/` the server's logs land under; undefined without a log sink. */
    public readonly logDestination: pulumi.Output<string | undefined>;

    constructor(name: string, args: LightweightServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("triton-platform:server:LightweightServer", name, {}, opts);
        const s = args.settings;
        // The gateway's plan is pure and comes first: it decides where Triton publishes.
        const gatewayArgs = args.gateway?.settings.enabled ? args.gateway : undefined;
        const gatewayFor = (a: ServerGatewayOptions, previousKeyValidUntil?: number) =>
            serverGateway({
                settings: a.settings,
                jwt: previousKeyValidUntil === undefined ? a.jwt : { ...a.jwt, previousKeyValidUntil },
                tritonHttpPort: args.triton.ports.http,
                tritonMetricsPort: args.triton.ports.metrics,
                dialoguePort: a.dialoguePort,
                // R16: the slot router beside haproxy.cfg and the admin socket the switch step uses.
                slotRouting: { fileName: SLOT_ROUTING_FILE, adminDir: GATEWAY_ADMIN_DIR, socketName: GATEWAY_ADMIN_SOCKET },
            });
        // With a previous JWT secret, the overlap's end is an Output: only haproxy.cfg (and its fingerprint)
        // depend on its value, resolved in declareGateway; ports, files and the container do not.
        const gw = gatewayArgs ? gatewayFor(gatewayArgs, gatewayArgs.previousJwt ? 0 : undefined) : undefined;
        if (gw) {
            checkGatewayServicePort(args.triton.servicePort, gw.listenPorts);
        }
        if (!s.hostKey) {
            pulumi.log.warn(
                `server.hostKey is unset: neither the remote commands nor Docker's ssh verify ${s.host}'s identity. Set it from \`ssh-keyscan -p ${s.sshPort} ${s.host}\`.`,
                this,
            );
        }
        const { connection, step } = this.remoteSteps(name, s, args.privateKey);

        const { install, firewall, sshd } = this.bootstrap(s, args.firewall, step);

        // Key files: the content travels on stdin (not part of the command line), is secret in the state,
        // and is not logged.
        const file = (role: string, o: StdinFileOptions, content: pulumi.Output<string>, secret: boolean) =>
            step(role, stdinFileScript(o), s.sudo, [install], { stdin: secret ? pulumi.secret(content) : content, logging: "none" }, secret);
        const k = args.keys;
        const modelEnv = this.declareKeyFiles(s, k, file);

        const engine = this.dockerEngine(name, s, args, [install, firewall, sshd]);

        // R13: the log shipper next to Triton; Triton's container carries the shipper's source options.
        const shipper = args.logSink && this.declareLogShipper(name, args.logSink, { s, step, file, install, firewall, engine, instance: args.instance });

        const { ready, container } = this.declareModelServer(name, args, gw, { s, step, install, firewall, engine, modelEnv, shipper });

        const gateway =
            gw &&
            gatewayArgs &&
            this.declareGateway(name, gw, gatewayArgs.settings, {
                s,
                step,
                file,
                jwtSecret: k.jwtSecret,
                previousJwt: gatewayArgs.previousJwt && {
                    secret: pulumi.output(gatewayArgs.previousJwt.secret),
                    acceptedUntilEpoch: pulumi.output(gatewayArgs.previousJwt.acceptedUntilEpoch),
                    plan: (until: number) => gatewayFor(gatewayArgs, until),
                    nowEpochSeconds: Math.floor(resolveNow(args.now).getTime() / 1000),
                },
                engine,
                instance: args.instance,
                shipper,
                triton: container,
                tritonReady: ready,
                firewall,
            });

        for (const declare of args.hostServices ?? []) {
            // Triton is reached through the slot router in the gateway: ready once both are.
            declare({ name, parent: this, sudo: s.sudo, connection, step, file, engine, firewall, tritonReady: gateway ? gateway.ready : ready });
        }

        this.endpoint = pulumi.all([ready.stdout, gateway?.ready.stdout]).apply(() => serverEndpoint(s, args.triton.servicePort));
        this.troubleshooting = pulumi.output(
            troubleshootingCommands(s, args.triton.servicePort, {
                logShipperContainer: shipper?.container.name,
                modelContainer: gw ? slotContainerName(args.slots?.active ?? "blue") : CONTAINER_NAME,
                slotAdminSocket: gw?.slotRouting?.adminSocketHostPath,
                gateway: gw && gatewayArgs && {
                    containerName: SERVER_GATEWAY_CONTAINER,
                    tritonHttpPort: gw.triton.httpPort,
                    readinessPath: READINESS_PATH,
                    envelopePath: envelopePath(gatewayArgs.settings.routes),
                },
            }),
        );
        this.containerName = container.name;
        this.gatewayContainerName = gateway ? gateway.container.name : pulumi.output(undefined);
        this.logDestination = pulumi.output(args.logSink ? `s3://${args.logSink.definition.logSink.bucket}/${args.logSink.definition.logSink.prefix}/` : undefined);
        this.registerOutputs({
            endpoint: this.endpoint,
            troubleshooting: this.troubleshooting,
            containerName: this.containerName,
            gatewayContainerName: this.gatewayContainerName,
            logDestination: this.logDestination,
        });
    }

    /**
     * The SSH connection and the factory of remote steps: each step is a command.remote.Command under this
     * component, and a failed one is reported with the step, the server and, for connection failures, what
     * to check.
     */
    private remoteSteps(name: string, s: ServerSettings, privateKey: pulumi.Input<string> | undefined): { connection: command.types.input.remote.ConnectionArgs; step: ServerHost["step"] } {
        const connection: command.types.input.remote.ConnectionArgs = {
            host: s.host,
            port: s.sshPort,
            user: s.user,
            ...(privateKey !== undefined ? { privateKey: privateKey } : {}),
            ...(s.hostKey ? { hostKey: s.hostKey } : {}),
            dialErrorLimit: 10,
            perDialTimeout: 15,
        };
        // A failed step is reported with the step, the server and, for connection failures, what to check.
        // Error hooks call back into this program, which only a real engine does (Pulumi's mocks cannot).
        const target = { user: s.user, host: s.host, port: s.sshPort, hostKeyPinned: s.hostKey !== undefined };
        const failed = onRealEngine()
            ? new pulumi.ErrorHook(`${name}-remote-step-failed`, (a) => {
                  pulumi.log.error(remoteStepFailureMessage(a.name.startsWith(`${name}-`) ? a.name.slice(name.length + 1) : a.name, target, a.errors), this);
                  return false;
              })
            : undefined;
        const step = (role: string, script: string, sudo: boolean, dependsOn: pulumi.Resource[], extra: Partial<command.remote.CommandArgs> = {}, secretStdin = false) =>
            new command.remote.Command(
                `${name}-${role}`,
                { connection, create: remoteCommand(script, { sudo }), ...extra },
                { parent: this, dependsOn, ...(secretStdin ? { additionalSecretOutputs: ["stdin"] } : {}), ...(failed ? { hooks: { onError: [failed] } } : {}) },
            );
        return { connection, step };
    }

    /** The bootstrap, in order: preflight (R1, no root), packages and Docker (R2, R4), the host firewall (R3, R6), sshd hardening (R3). */
    private bootstrap(
        s: ServerSettings,
        fw: LightweightServerArgs["firewall"],
        step: ServerHost["step"],
    ): { install: command.remote.Command; firewall: command.remote.Command; sshd: command.remote.Command } {
        // Bootstrap, in order; the preflight needs no root and stops everything below the minimum.
        const preflight = step("preflight", preflightScript({ minMemoryMiB: s.minMemoryMiB, minDiskGB: s.minDiskGB, requireSudo: s.sudo }), false, []);
        const install = step("install", installScript({ user: s.user, modelRepository: s.modelRepository, logRotation: s.logRotation }), s.sudo, [preflight]);
        const firewall = step(
            "firewall",
            firewallScript({ ruleset: fw.ruleset, sshCheck: fw.sshCheck, sshPort: s.sshPort, table: fw.table, checkTable: fw.checkTable }),
            s.sudo,
            [install],
        );
        const sshd = step("sshd", sshdScript(), s.sudo, [firewall]);
        return { install, firewall, sshd };
    }

    /**
     * The key files (R5, R7): one file per consumer, the API key's secret apart from the key, and the
     * claims the entry point checks beside them. Returns Triton's admin-key file (its revision recreates
     * the model containers).
     */
    private declareKeyFiles(s: ServerSettings, k: ServerKeys, file: ServerHost["file"]): command.remote.Command {
        // Triton's admin key: readable by the model container's user only (server.modelContainerUser).
        const modelEnv = file(
            "model-server-env",
            modelKeyFileOptions(s.modelContainerUser),
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
        return modelEnv;
    }

    /**
     * The Docker engine over SSH. Its address resolves only after the bootstrap (`after`), so a first
     * preview does not try to reach a Docker that is not installed yet. The key is held by an ssh-agent of
     * this run (ssh.ts): nothing is written to the operator's disk but the agent's socket, in a private
     * temporary folder, gone when the run ends. It starts only when the provider will connect (the
     * address is known), and never under mocks (no provider connects there).
     */
    private dockerEngine(name: string, s: ServerSettings, args: Pick<LightweightServerArgs, "privateKey" | "localSsh">, after: command.remote.Command[]): docker.Provider {
        const { privateKey, localSsh } = args;
        const files = localSshFiles(localSsh?.directory ?? DEFAULT_LOCAL_SSH_DIRECTORY, localSsh?.name ?? name);
        const bootstrapped = pulumi.all(after.map((c) => c.stdout));
        const keyHeld =
            privateKey !== undefined
                ? pulumi.unsecret(pulumi.all([bootstrapped, privateKey]).apply(([, key]) => (onRealEngine() ? holdKeyForRun(files, key) : files.agentSocket)))
                : pulumi.output("");
        return new docker.Provider(
            `${name}-docker`,
            {
                host: pulumi.all([bootstrapped, keyHeld]).apply(() => dockerHost(s.user, s.host, s.sshPort)),
                sshOpts: dockerSshOptions({
                    files,
                    withKey: privateKey !== undefined,
                    hostKey: s.hostKey ? { pattern: knownHostsPattern(s.host, s.sshPort), key: s.hostKey } : undefined,
                }),
            },
            { parent: this },
        );
    }

    /**
     * The model server (R7, R16): the shipped model repository, a Triton container per blue-green slot
     * behind the gateway's slot router and the switch step (or, without the gateway, the active slot's
     * image as the one container on the service port and a readiness wait), then the image retention of
     * the last releases. Returns the step after which Triton serves, and the serving container.
     */
    private declareModelServer(
        name: string,
        args: LightweightServerArgs,
        gw: ServerGateway | undefined,
        ctx: {
            s: ServerSettings;
            step: ServerHost["step"];
            install: command.remote.Command;
            firewall: command.remote.Command;
            engine: docker.Provider;
            modelEnv: command.remote.Command;
            shipper: ServerLogShipper | undefined;
        },
    ): { ready: command.remote.Command; container: docker.Container } {
        const { s, step, install, firewall, engine, modelEnv, shipper } = ctx;
        // The model repository (mounted read-only): Triton reads it at start only (--model-control-mode=none),
        // so a changed repository (a new step id) recreates the container.
        const repository =
            args.modelFiles &&
            step("model-repository", modelRepositoryScript(s.modelRepository), s.sudo, [install], { stdin: repositoryPayload(args.modelFiles), logging: "stderr" });
        // The shipper picks exactly the containers that carry its component label in their log lines.
        const source = shipper && sourceContainerArgs(shipper.sourceContainerOptions("model-server"), s.logRotation);
        const slots = args.slots ?? { active: "blue" as SlotName, images: { blue: s.image ?? DEFAULT_TRITON_IMAGE } };
        const activeImage = slots.images[slots.active];
        if (!activeImage) {
            throw new Error(`the active slot "${slots.active}" has no image: set slots.${slots.active}.image`);
        }
        const modelContainer = (role: string, imageRole: string, image: string, spec: ReturnType<typeof modelContainerSpec>, o: pulumi.CustomResourceOptions) => {
            const pulled = new docker.RemoteImage(`${name}-${imageRole}`, { name: image, keepLocally: true }, { parent: this, provider: engine });
            const labels = recommendedLabels({ name: "triton", instance: args.instance, component: "model-server", version: imageTag(image) });
            return new docker.Container(
                `${name}-${role}`,
                {
                    ...spec,
                    ...(source ? { logDriver: source.logDriver, logOpts: source.logOpts } : {}),
                    // Not a secret: the release that serves, for the model's replies (the example model names it).
                    envs: [`${RELEASE_ENV}=${imageTag(image) ?? image}`],
                    image: pulled.imageId,
                    labels: [
                        ...Object.entries(labels).map(([label, value]) => ({ label, value })),
                        ...(source?.labels ?? []),
                        // A rewritten key file gets a new id: the container is recreated and reads the new key.
                        { label: "triton-platform/key-file-revision", value: modelEnv.id },
                        ...(repository ? [{ label: "triton-platform/model-repository-revision", value: repository.id }] : []),
                    ],
                },
                { parent: this, provider: engine, dependsOn: [modelEnv, firewall, ...(repository ? [repository] : [])], ...o },
            );
        };
        let ready: command.remote.Command;
        let servingContainer: docker.Container;
        const slotContainers: docker.Container[] = [];
        if (gw?.slotRouting) {
            // R16 blue-green behind the gateway: a container per slot with an image, each on its own loopback
            // ports; the switch step makes the active one serve. Nothing here depends on activeSlot but that
            // step (and, at creation only, whether a stopped-idle slot starts), so a switch previews as that
            // step alone.
            checkSlotPorts(args.triton.ports, { "the gateway's statistics port (gateway.statsPort)": args.gateway!.settings.statsPort });
            const deployed = SLOT_NAMES.filter((slot) => slots.images[slot] !== undefined);
            for (const slot of deployed) {
                const ports = slotPorts(slot, args.triton.ports);
                const start = slot === slots.active || s.idleSlot === "warm";
                const c = modelContainer(`model-server-${slot}`, `image-${slot}`, slots.images[slot]!, slotContainerSpec(s, args.triton, { slot, ports, start }), {
                    // Its own name and ports: replacing one slot never touches the other (the old slot serves
                    // meanwhile); a slot's own replacement must free its ports first.
                    deleteBeforeReplace: true,
                    // The single model container of earlier versions becomes the active slot (one replacement).
                    aliases: slot === slots.active ? [{ name: `${name}-model-server` }] : [],
                    // `start` decides only at creation: an idle slot is created stopped under idleSlot: stopped.
                    // Later it is the switch step that starts and stops slots.
                    ignoreChanges: ["start"],
                });
                slotContainers.push(c);
                if (slot === slots.active) {
                    servingContainer = c;
                }
            }
            const routing = gw.slotRouting;
            const routingConfig = slotRoutingConfig({ active: slots.active, deployed, router: args.triton.ports, triton: args.triton.ports, adminSocket: routing.adminSocketContainerPath });
            ready = step(
                "slot-switch",
                slotSwitchScript({
                    active: slots.active,
                    deployed,
                    idle: s.idleSlot,
                    triton: args.triton.ports,
                    routingFile: routing.file.path,
                    adminDir: GATEWAY_ADMIN_DIR,
                    adminSocket: routing.adminSocketHostPath,
                    timeoutSeconds: s.readyTimeoutSeconds,
                    stopSeconds: args.triton.exitTimeoutSeconds + 5,
                }),
                s.sudo,
                slotContainers,
                { stdin: routingConfig, triggers: slotContainers.map((c) => c.id) },
            );
        } else {
            // Without the gateway nothing can switch between slots: the active slot's image runs as the one
            // model container, published on the service port (R7), and a new image replaces it.
            servingContainer = modelContainer("model-server", "image", activeImage, modelContainerSpec(s, args.triton, undefined), {
                // Fixed host ports, one container: the old one must go before the new one can publish them.
                deleteBeforeReplace: true,
            });
            slotContainers.push(servingContainer);
            const tritonUrl = `http://127.0.0.1:${args.triton.servicePort}${READINESS_PATH}`;
            ready = step("wait-ready", waitReadyScript({ url: tritonUrl, timeoutSeconds: s.readyTimeoutSeconds, containerName: CONTAINER_NAME }), s.sudo, [servingContainer], {
                triggers: [servingContainer.id],
            });
        }
        const container = servingContainer!;
        // R16: the last releases stay for a rollback; older images go, only once the current one serves.
        if (args.releases && args.releases.length > 0) {
            step("image-retention", imageRetentionScript(args.releases), s.sudo, [ready], { triggers: slotContainers.map((c) => c.id) });
        }
        return { ready, container };
    }

    /**
     * The entry point (R8-R10) from serverGateway(): haproxy.cfg (no secret) and the JWT secret (stdin,
     * root-only, never on a command line or in a Docker setting) as files, the pinned image, the container
     * (host network, listening on 80 and 18789, Triton on the loopback behind it) and a bounded check that
     * every listener refuses a request without a token.
     */
    private declareGateway(
        name: string,
        gw: ServerGateway,
        settings: GatewaySettings,
        ctx: {
            s: ServerSettings;
            step: (role: string, script: string, sudo: boolean, dependsOn: pulumi.Resource[], extra?: Partial<command.remote.CommandArgs>, secretStdin?: boolean) => command.remote.Command;
            file: (role: string, o: StdinFileOptions, content: pulumi.Output<string>, secret: boolean) => command.remote.Command;
            jwtSecret: pulumi.Output<string>;
            /** The previous JWT secret, the overlap's end, the gateway's plan for that end, and now. */
            previousJwt?: { secret: pulumi.Output<string>; acceptedUntilEpoch: pulumi.Output<number>; plan: (until: number) => ServerGateway; nowEpochSeconds: number };
            engine: docker.Provider;
            instance: string;
            shipper?: ServerLogShipper;
            triton: docker.Container;
            tritonReady: command.remote.Command;
            firewall: command.remote.Command;
        },
    ): { container: docker.Container; ready: command.remote.Command } {
        const { s, step, file } = ctx;
        const prev = ctx.previousJwt;
        // With a previous secret, haproxy.cfg carries the overlap's end (`date lt <end>`): it refuses that
        // secret afterwards by itself.
        const plan = prev ? prev.acceptedUntilEpoch.apply((until) => prev.plan(until)) : pulumi.output(gw);
        const config = file("gateway-config", { path: gw.configFile.path, mode: "0644", dirMode: "0755" }, plan.config, false);
        // The secret alone in its file (no newline needed: the container reads it with `$(cat ...)`).
        const secret = file("gateway-jwt-secret", { path: gw.secretFile.path, mode: secretFileMode(gw.secretFile.mode), dirMode: "0700" }, ctx.jwtSecret, true);
        // Rotation without an outage: the previous period's secret beside it, exactly as the current one
        // (stdin, secret in the state, not logged, root 0400) while the overlap runs; removed after it. The
        // script differs (write or remove), so the step's id, a label of the container, changes with it.
        const previous =
            prev &&
            (() => {
                const action = prev.acceptedUntilEpoch.apply((until) => previousJwtFileAction(prev.nowEpochSeconds, until));
                const path = gw.previousSecretFile.path;
                const script = action.apply((a) =>
                    a === "write" ? stdinFileScript({ path, mode: secretFileMode(gw.previousSecretFile.mode), dirMode: "0700" }) : removeFileScript(path),
                );
                return step("gateway-jwt-previous-secret", "", s.sudo, [ctx.firewall], {
                    create: script.apply((sc) => remoteCommand(sc, { sudo: s.sudo })),
                    stdin: pulumi.secret(pulumi.all([action, prev.secret]).apply(([a, value]) => (a === "write" ? value : ""))),
                    logging: "none",
                }, true);
            })();

        const image = new docker.RemoteImage(`${name}-gateway-image`, { name: settings.image, keepLocally: true }, { parent: this, provider: ctx.engine });
        const labels = recommendedLabels({ name: "gateway", instance: ctx.instance, component: "entry-point", version: imageTag(settings.image) });
        // The shipper picks up the entry point's access log (route and refusal reason; never a token).
        const source = ctx.shipper && sourceContainerArgs(ctx.shipper.sourceContainerOptions("entry-point"), s.logRotation);
        const container = new docker.Container(
            `${name}-gateway`,
            {
                ...gatewayContainerArgs(gw, { source, logRotation: s.logRotation, memoryLimit: settings.resources.memoryLimit }),
                image: image.imageId,
                labels: [
                    ...Object.entries(labels).map(([label, value]) => ({ label, value })),
                    ...(source?.labels ?? []),
                    // haproxy reads its files at start only: a new config or secret recreates the container.
                    { label: "triton-platform/config-sha256", value: plan.fingerprint },
                    { label: "triton-platform/config-file-revision", value: config.id },
                    { label: "triton-platform/key-file-revision", value: secret.id },
                    ...(previous ? [{ label: "triton-platform/previous-key-file-revision", value: previous.id }] : []),
                ],
            },
            // Host ports 80 and 18789: after Triton's container (which may have held 18789 before the
            // gateway existed) and before a replacement binds them again.
            // And after the slot switch step, which writes the slot router's file haproxy reads at start.
            { parent: this, provider: ctx.engine, dependsOn: [config, secret, ...(previous ? [previous] : []), ctx.triton, ctx.tritonReady, ctx.firewall], deleteBeforeReplace: true },
        );
        const ready = step(
            "gateway-ready",
            gatewayReadyScript({
                containerName: SERVER_GATEWAY_CONTAINER,
                healthUrl: gw.healthUrl,
                listenerUrls: gw.listenPorts.map((p) => `http://127.0.0.1:${p}`),
                probe: gatewayProbe(settings.routes),
                timeoutSeconds: GATEWAY_READY_TIMEOUT_SECONDS,
            }),
            s.sudo,
            [container, ctx.tritonReady],
            { triggers: [container.id] },
        );
        return { container, ready };
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

/**
 * Whether a real Pulumi engine runs this program. Under Pulumi's mocks (the unit tests) nothing connects to
 * a server and the monitor cannot call the program back, so the run's ssh-agent and the error hook are left
 * out there.
 */
function onRealEngine(): boolean {
    return pulumi.runtime.getMonitor()?.constructor.name !== "MockMonitor";
}

/** The JWT secret file's mode from serverGateway(), checked to be one the file step writes. */
function secretFileMode(mode: string): StdinFileOptions["mode"] {
    if (mode !== "0400" && mode !== "0600") {
        throw new Error(`the gateway's JWT secret file must be root-only (0400 or 0600), not ${mode}`);
    }
    return mode;
}
