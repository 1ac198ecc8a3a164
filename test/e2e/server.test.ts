// The lightweight-server path for real: `pulumi up` of the server stack (real CLI, @pulumi/command over SSH,
// @pulumi/docker over ssh://) bootstraps a test host (a network namespace with Debian's sshd and dockerd, see
// support/server-host.sh), and the result is checked from OUTSIDE the host, as a client or an attacker sees
// it: the entry point answers on 18789 and 80 (401 without a token, Triton's readiness with one), Triton's
// own port is not reachable, a port that listens but is not declared is dropped by the firewall, root and
// password logins are refused; a second `up` changes nothing.
// Needs root (CI runs as root); without it the suite fails with a message, it does not skip.
import { Stack, UpResult } from "@pulumi/pulumi/automation";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintToken } from "../../components/keys/jwt";
import { secretsFromExport } from "../../scripts/token";
import { cli, makeSandbox, openStack, REPO_ROOT, repoStackFile, Sandbox } from "./support/project";
import { HOST_SIDE_IP, hostPrerequisiteProblems, rootProblem, ServerHost, SERVER_IP, SERVER_USER } from "./support/server-host";

const STACK = "server-e2e";
/** Stand-ins for the registry images (support/server-host.sh builds them; no registry is reachable here). */
const TRITON_IMAGE = "localhost/triton-stand-in:e2e-1";
const GATEWAY_IMAGE = "localhost/haproxy-stand-in:e2e-1";
/** The entry point's public ports on the server (R7 service port, R8 HTTP) and Triton's own HTTP port. */
const SERVICE_PORT = 18789;
const HTTP_PORT = 80;
const TRITON_HTTP_PORT = 8000;
/** Container names of components/server. */
const TRITON_CONTAINER = "triton-model-server";
const GATEWAY_CONTAINER = "triton-gateway";
/** A port the security group does not declare, with a service listening on it (a stray database). */
const UNDECLARED_PORT = 3306;
/** The node exporter the bootstrap installs listens on 9100; no rule opens it in this stack. */
const NODE_EXPORTER_PORT = 9100;
/** Where the program writes the Docker provider's key and known_hosts for this stack (components/server/ssh.ts). */
const LOCAL_SSH_FILES = ["key", "known_hosts"].map((ext) => path.join(os.homedir(), ".cache/triton-platform/ssh", `triton-platform-${STACK}.${ext}`));

/**
 * The repository's server stack pointed at the test host. Everything else (ports, routes, security group,
 * egress restriction, minimums, keys) is the repository's own file:
 * - host, user, pinned host key, the stand-in images;
 * - readyTimeoutSeconds 120 instead of 600: the stand-in is ready at once, and a failing wait must stay
 *   well inside the suite's time budget;
 * - SSH from this machine's side of the veth only (the repository's 198.51.100.0/24 is a documentation
 *   range: the firewall step would refuse to lock out the connected test);
 * - no log shipper: its collector image cannot be pulled here (see docs/SERVER.md, "End-to-end test").
 */
function serverStackFile(hostKey: string): string {
    const doc = yaml.load(repoStackFile("server")) as { config: Record<string, any> };
    const c = doc.config;
    const merge = (key: string, values: Record<string, unknown>) => (c[`triton-platform:${key}`] = { ...(c[`triton-platform:${key}`] ?? {}), ...values });
    merge("server", { host: SERVER_IP, user: SERVER_USER, hostKey, image: TRITON_IMAGE, readyTimeoutSeconds: 120 });
    merge("gateway", { image: GATEWAY_IMAGE });
    merge("securityGroup", { sshCidrs: [`${HOST_SIDE_IP}/32`] });
    merge("logSink", { enabled: false });
    return yaml.dump(doc);
}

/** Providers the server stack loads, at the versions package.json pins, that the offline toolchain has not installed. */
function missingPlugins(env: Record<string, string>): string[] {
    const home = env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
    return ["command", "docker", "random"].flatMap((name) => {
        const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "node_modules/@pulumi", name, "package.json"), "utf8")).version as string;
        const binary = path.join(home, "plugins", `resource-${name}-v${version}`, `pulumi-resource-${name}`);
        return fs.existsSync(binary) ? [] : [`the ${name} provider plugin ${version} is not installed (${binary}): run \`bash scripts/toolchain.sh --only ${name}\``];
    });
}

/** `pulumi config set --secret` with the value on stdin: never on a command line (ps, shell history, CI logs). */
function setSecretFromStdin(sandbox: Sandbox, key: string, value: string): void {
    execFileSync("pulumi", ["config", "set", "--secret", "--stack", STACK, key, "--non-interactive"], {
        cwd: sandbox.dir,
        env: { ...process.env, ...sandbox.env },
        input: value,
        stdio: ["pipe", "pipe", "pipe"],
        timeout: 60_000,
    });
}

const changesOf = (r: UpResult) => Object.entries(r.summary.resourceChanges ?? {}).filter(([op, n]) => op !== "same" && (n ?? 0) > 0);

const notRoot = rootProblem();

if (notRoot) {
    describe("lightweight server on a real SSH server and Docker engine", () => {
        // Not a skip: a suite that did not run must not count as passing.
        it("needs root", () => {
            throw new Error(notRoot);
        });
    });
} else {
    describe("lightweight server on a real SSH server and Docker engine", () => {
        let host: ServerHost;
        let sandbox: Sandbox;
        let stack: Stack;
        const imageIds: Record<string, string> = {};
        let firstUp: UpResult | undefined;

        /** Id, image id and status of a container on the server. */
        const container = (name: string) => host.exec(["docker", "inspect", "--format", "{{.Id}} {{.Image}} {{.State.Status}}", name]).stdout.trim().split(" ");
        /** An R10 token as a platform admin mints it (`npm run token`): from the stack's state. */
        const token = async (scope: string[]) => {
            const exported = cli(sandbox, ["stack", "export", "--show-secrets", "--stack", STACK]);
            expect(exported.code, exported.stderr).toBe(0);
            const { jwtSecret, claims } = secretsFromExport(JSON.parse(exported.stdout));
            return mintToken(jwtSecret, claims, { scope });
        };
        const needsBootstrap = () => expect(firstUp?.summary.result, "needs a successful `pulumi up` (see the bootstrap test)").toBe("succeeded");

        beforeAll(async () => {
            const problems = hostPrerequisiteProblems();
            if (problems.length > 0) {
                throw new Error(`the test host cannot be built on this machine:\n- ${problems.join("\n- ")}`);
            }
            sandbox = makeSandbox({});
            const plugins = missingPlugins(sandbox.env);
            if (plugins.length > 0) {
                throw new Error(`the server stack cannot run on the real engine:\n- ${plugins.join("\n- ")}`);
            }
            host = ServerHost.start();
            imageIds[TRITON_CONTAINER] = host.loadStandInImage("triton", TRITON_IMAGE);
            imageIds[GATEWAY_CONTAINER] = host.loadStandInImage("gateway", GATEWAY_IMAGE);
            // A service the security group does not declare, listening on every address of the host.
            host.startListener(UNDECLARED_PORT, "stray service\n");
            fs.writeFileSync(path.join(sandbox.dir, `Pulumi.${STACK}.yaml`), serverStackFile(host.hostKey));
            stack = await openStack(sandbox, STACK);
            setSecretFromStdin(sandbox, "serverPrivateKey", host.privateKey);
        });

        afterAll(() => {
            host?.stop();
            sandbox?.cleanup();
            for (const f of LOCAL_SSH_FILES) {
                fs.rmSync(f, { force: true });
            }
        });

        it("starts permissive: root and password logins work and a listening port answers from outside", async () => {
            // The baseline that makes the later refusals the bootstrap's doing, not the test host's.
            expect(host.ssh("root", "key").code, "root login with a key").toBe(0);
            expect(host.ssh("root", "password").code, "root login with a password").toBe(0);
            expect(host.ssh(SERVER_USER, "password").code, "password login").toBe(0);
            expect(await host.probe(UNDECLARED_PORT)).toBe("open");
            expect(host.exec(["nft", "list", "tables"]).stdout).not.toMatch(/triton_platform/);
        });

        it("keeps the private key out of the stack file", () => {
            const stackFile = fs.readFileSync(path.join(sandbox.dir, `Pulumi.${STACK}.yaml`), "utf8");
            expect(stackFile).toMatch(/serverPrivateKey:\s+secure:/);
            const keyLine = host.privateKey.split("\n")[1];
            expect(keyLine.length).toBeGreaterThan(20);
            expect(stackFile).not.toContain(keyLine);
        });

        it("bootstraps the server with `pulumi up`", async () => {
            let log = "";
            try {
                firstUp = await stack.up({ onOutput: (o) => (log += o) });
            } catch (e) {
                throw new Error(`pulumi up failed: ${(e as Error).message}\n${host.logTail("systemctl")}\n${host.logTail("docker", 15)}`);
            }
            expect(firstUp.summary.result).toBe("succeeded");
            expect(firstUp.outputs.serverEndpoint?.value).toBe(`http://${SERVER_IP}:${SERVICE_PORT}`);
            // Triton and the entry point run the pinned (stand-in) images, started by the Docker the bootstrap started.
            for (const name of [TRITON_CONTAINER, GATEWAY_CONTAINER]) {
                const [, image, status] = container(name);
                expect({ name, image, status }).toEqual({ name, image: imageIds[name], status: "running" });
            }
            const calls = host.systemctlLog().join("\n");
            expect(calls).toMatch(/systemctl restart docker/); // daemon.json written, Docker (re)started
            expect(calls).toMatch(/systemctl reload ssh/); // the hardening reached the running sshd
            // Neither the run's output nor the state at rest holds the key in plain text.
            const keyLine = host.privateKey.split("\n")[1];
            expect(log).not.toContain(keyLine);
            const exported = cli(sandbox, ["stack", "export", "--stack", STACK]);
            expect(exported.code, exported.stderr).toBe(0);
            expect(exported.stdout).not.toContain(keyLine);
        });

        it.each([SERVICE_PORT, HTTP_PORT])("answers on %i through the entry point: 401 without a token, Triton's readiness with one", async (port) => {
            needsBootstrap();
            expect((await host.get(port, "/v2/health/ready")).status).toBe(401);
            const bearer = await token(["chat:write"]);
            expect(await host.get(port, "/v2/health/ready", { authorization: `Bearer ${bearer}` })).toEqual({ status: 200, body: "ready\n" });
        });

        it("keeps Triton's own port off the network: clients reach it through the entry point only", async () => {
            needsBootstrap();
            expect(host.exec(["curl", "-fsS", "--max-time", "5", `http://127.0.0.1:${TRITON_HTTP_PORT}/v2/health/ready`]).stdout, "Triton answers inside").toBe("ready\n");
            expect(await host.probe(TRITON_HTTP_PORT)).not.toBe("open");
        });

        it("drops connections to listening ports the security group does not declare", async () => {
            needsBootstrap();
            // Still listening inside: it is the firewall that stops the outside client.
            expect(host.exec(["curl", "-fsS", "--max-time", "5", `http://127.0.0.1:${UNDECLARED_PORT}/`]).stdout).toBe("stray service\n");
            expect(await host.probe(UNDECLARED_PORT)).not.toBe("open");
            expect(host.exec(["curl", "-fsS", "-o", "/dev/null", "--max-time", "5", `http://127.0.0.1:${NODE_EXPORTER_PORT}/metrics`]).code, "node exporter runs").toBe(0);
            expect(await host.probe(NODE_EXPORTER_PORT)).not.toBe("open");
        });

        it("refuses root logins, with a key or a password", () => {
            needsBootstrap();
            for (const auth of ["key", "password"] as const) {
                const r = host.ssh("root", auth);
                expect(r.code, `root login with a ${auth}: ${r.stdout}`).toBe(255);
                expect(r.stderr).toMatch(/Permission denied/);
            }
        });

        it("refuses password logins and still lets the operator in with the key", () => {
            needsBootstrap();
            const password = host.ssh(SERVER_USER, "password");
            expect(password.code).toBe(255);
            // Only public keys are offered any more.
            expect(password.stderr).toMatch(/Permission denied \(publickey\)/);
            const key = host.ssh(SERVER_USER, "key", "sudo -n true && id -nG");
            expect(key.code, key.stderr).toBe(0);
            expect(key.stdout.split(/\s+/)).toContain("docker");
        });

        it("changes nothing on a second `up`", async () => {
            needsBootstrap();
            const callsBefore = host.systemctlLog();
            const before = [TRITON_CONTAINER, GATEWAY_CONTAINER].map((name) => container(name)[0]);
            const second = await stack.up();
            expect(second.summary.result).toBe("succeeded");
            expect(changesOf(second)).toEqual([]);
            // No remote step ran again and no container was recreated.
            expect(host.systemctlLog()).toEqual(callsBefore);
            expect([TRITON_CONTAINER, GATEWAY_CONTAINER].map((name) => container(name)[0])).toEqual(before);
        });
    });
}
