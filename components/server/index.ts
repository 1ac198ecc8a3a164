// The lightweight server (single-VM path, R1-R4, R7, R8, R15): bootstrap steps as remote commands, then
// the model container through the server's own Docker engine over SSH.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { recommendedLabels } from "../common/labels";
import type { KeyClaims } from "../keys/claims";
import { MODEL_SERVER_ENV_FILE, MODEL_SERVER_SECRETS_DIR, modelContainerSpec, serverEndpoint, TritonSettings, troubleshootingCommands } from "./container";
import type { ServerSettings } from "./schema";
import {
    CONTAINER_NAME,
    envFileContent,
    firewallScript,
    installScript,
    preflightScript,
    remoteCommand,
    SECRETS_DIR,
    SERVER_ROOT,
    sshdScript,
    StdinFileOptions,
    stdinFileScript,
    waitReadyScript,
} from "./scripts";
import { DEFAULT_LOCAL_SSH_DIRECTORY, dockerHost, dockerSshOptions, knownHostsPattern, localSshFiles, writeKnownHosts, writeLocalKey } from "./ssh";

export * from "./container";
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
    /**
     * Where the Docker provider's ssh finds the key and known_hosts on the operator's machine.
     * @default directory ~/.cache/triton-platform/ssh, name = the component name
     */
    localSsh?: { directory?: string; name?: string };
}

/**
 * A single server running Triton in Docker: preflight (R1), install (R2, R4), host firewall (R3, R6),
 * sshd hardening (R3), key files (R5, R7), the model container (R7) and a bounded readiness wait. Each
 * remote step is idempotent and re-runs only when its script or input changes.
 */
export class LightweightServer extends pulumi.ComponentResource {
    /** Where collaboration platforms reach the model service (R8: the domain when set). Resolves once Triton is ready. */
    public readonly endpoint: pulumi.Output<string>;
    /** R15 troubleshooting commands, by symptom. */
    public readonly troubleshooting: pulumi.Output<Record<string, string>>;
    /** Name of the model container on the server. */
    public readonly containerName: pulumi.Output<string>;

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
        const image = new docker.RemoteImage(`${name}-image`, { name: s.image, keepLocally: true }, { parent: this, provider: engine });
        const tag = s.image.split("@")[0].split("/").pop()?.split(":")[1];
        const labels = recommendedLabels({ name: "triton", instance: args.instance, component: "model-server", version: tag });
        const container = new docker.Container(
            `${name}-model-server`,
            {
                ...modelContainerSpec(s, args.triton),
                image: image.imageId,
                labels: [
                    ...Object.entries(labels).map(([label, value]) => ({ label, value })),
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
        this.troubleshooting = pulumi.output(troubleshootingCommands(s, args.triton.servicePort));
        this.containerName = container.name;
        this.registerOutputs({ endpoint: this.endpoint, troubleshooting: this.troubleshooting, containerName: this.containerName });
    }
}
