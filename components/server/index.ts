// The lightweight server (single-VM path, R1-R4, R7, R15): the host alone. Preflight, packages and
// Docker, the host firewall, sshd hardening and the entry point's key files as remote commands over SSH,
// then the server's own Docker engine. What runs on it (the model service, the gateway, the log shipper,
// the dialogue service) is declared by each concern's server.ts through `host` (host.ts), and composed
// by stack/server.ts.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { KeyClaims } from "../keys/claims";
import { remoteStepFailureMessage } from "./failures";
import type { RemoteStep, ServerHost, StdinFile } from "./host";
import type { ServerSettings } from "./schema";
import { envFileContent, firewallScript, installScript, preflightScript, remoteCommand, SECRETS_DIR, SERVER_ROOT, sshdScript, StdinFileOptions, stdinFileScript } from "./scripts";
import { DEFAULT_LOCAL_SSH_DIRECTORY, dockerHost, dockerSshOptions, holdKeyForRun, knownHostsPattern, localSshFiles } from "./ssh";

export * from "./container";
export * from "./failures";
export * from "./host";
export * from "./scripts";
export * from "./ssh";
export { serverSchema } from "./schema";
export type { ServerSettings } from "./schema";

/** The keys the host's own files hold (a Keys component satisfies it). All but `claims` are secret. */
export interface ServerKeys {
    apiKey: pulumi.Output<string>;
    apiKeySecret: pulumi.Output<string>;
    jwtSecret: pulumi.Output<string>;
    hmacKey: pulumi.Output<string>;
    claims: pulumi.Output<KeyClaims>;
}

/** Arguments of a LightweightServer. */
export interface LightweightServerArgs {
    /** The definition's `server` settings: host, port, user, sudo, minimums, paths. */
    settings: ServerSettings;
    /** SSH private key (secret config `serverPrivateKey`). Unset: the operator's ssh-agent. */
    privateKey?: pulumi.Input<string>;
    /** The generated keys of the entry point's files; they reach the server on stdin only, as root-only files. */
    keys: ServerKeys;
    /** The host firewall: renderNftables() and renderSshCheckTable() of the security group. */
    firewall: { ruleset: string; sshCheck: string; table: string; checkTable: string };
    /** app.kubernetes.io/instance of the stack (container labels). */
    instance: string;
    /**
     * Where the run's ssh-agent (holding `privateKey` for the Docker provider's ssh) listens on the
     * operator's machine: `<directory>/<name>.agent`, a private folder that exists only during a run.
     * `~` and ssh's `%i` (local user id) are allowed and kept as such in the state.
     * @default directory /tmp/triton-platform-ssh-%i, name = the component name
     */
    localSsh?: { directory?: string; name?: string };
}

/**
 * A single server over SSH: preflight (R1), install (R2, R4), host firewall (R3, R6), sshd hardening (R3),
 * the entry point's key files (R5, R7) and the Docker engine. Each remote step is idempotent and re-runs
 * only when its script or input changes. `host` is what the concerns running on it declare through.
 */
export class LightweightServer extends pulumi.ComponentResource {
    /** The server for the concerns that run on it (components/<concern>/server.ts). */
    public readonly host: ServerHost;

    constructor(name: string, args: LightweightServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("triton-platform:server:LightweightServer", name, {}, opts);
        const s = args.settings;
        if (!s.hostKey) {
            pulumi.log.warn(
                `server.hostKey is unset: neither the remote commands nor Docker's ssh verify ${s.host}'s identity. Set it from \`ssh-keyscan -p ${s.sshPort} ${s.host}\`.`,
                this,
            );
        }
        const { connection, step } = this.remoteSteps(name, s, args.privateKey);
        const { install, firewall, sshd } = this.bootstrap(s, args.firewall, step);
        // Files: the content travels on stdin (not part of the command line), is secret in the state when
        // it is a key, and is not logged.
        const file: StdinFile = (role: string, o: StdinFileOptions, content: pulumi.Output<string>, secret: boolean) =>
            step(role, stdinFileScript(o), s.sudo, [install], { stdin: secret ? pulumi.secret(content) : content, logging: "none" }, secret);
        this.declareKeyFiles(args.keys, file);
        const engine = this.dockerEngine(name, s, args, [install, firewall, sshd]);
        this.host = { name, parent: this, settings: s, instance: args.instance, connection, step, file, engine, install, firewall };
        this.registerOutputs({});
    }

    /**
     * The SSH connection and the factory of remote steps: each step is a command.remote.Command under this
     * component, and a failed one is reported with the step, the server and, for connection failures, what
     * to check.
     */
    private remoteSteps(name: string, s: ServerSettings, privateKey: pulumi.Input<string> | undefined): { connection: command.types.input.remote.ConnectionArgs; step: RemoteStep } {
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
        step: RemoteStep,
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
     * The entry point's key files (R5, R7): the API key, JWT secret and HMAC key, the API key's secret
     * apart from them, and the claims the entry point checks beside them. (Triton's admin key is the model
     * service's own file: components/model-service/server.ts.)
     */
    private declareKeyFiles(k: ServerKeys, file: StdinFile): void {
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
}

/**
 * Whether a real Pulumi engine runs this program. Under Pulumi's mocks (the unit tests) nothing connects to
 * a server and the monitor cannot call the program back, so the run's ssh-agent and the error hook are left
 * out there.
 */
function onRealEngine(): boolean {
    return pulumi.runtime.getMonitor()?.constructor.name !== "MockMonitor";
}
