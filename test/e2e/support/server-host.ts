// The lightweight server of the end-to-end test: a network namespace with Debian's sshd and dockerd, reached
// from this machine over a veth pair (see server-host.sh for how it is built and torn down). Everything here
// is seen from OUTSIDE the host, as an operator or a client would see it: TCP connects, HTTP requests and
// ssh logins to its address. `exec` (inside) is for setting the scene and for diagnostics only.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { describe, it } from "vitest";

const SCRIPT = path.join(__dirname, "server-host.sh");

/**
 * Addresses of the test host: a private /29 that exists only on this machine. The same environment
 * variables as server-host.sh (E2E_HOST_IP, E2E_NS_IP, E2E_CLIENT_IP; E2E_NETNS and E2E_VETH name the
 * namespace and veth there) let two runs on one machine use two hosts.
 */
export const HOST_SIDE_IP = process.env.E2E_HOST_IP || "10.203.0.1";
export const SERVER_IP = process.env.E2E_NS_IP || "10.203.0.2";
/** A second client on this machine's side of the veth: outside the SSH CIDR the test configures. */
export const CLIENT_IP = process.env.E2E_CLIENT_IP || "10.203.0.3";
/** An address of the test network that nobody answers (ARP fails: "no route to host"): .4 of the host's /29. */
export const UNREACHABLE_IP = process.env.E2E_UNREACHABLE_IP || SERVER_IP.replace(/\.\d+$/, ".4");
/** The sudo-capable, non-root SSH user the bootstrap connects as. */
export const SERVER_USER = "tritonops";

/** Upper bounds of the host's own operations (every wait is bounded). */
const UP_TIMEOUT_MS = 120_000;
const DOWN_TIMEOUT_MS = 120_000;
const IMAGE_TIMEOUT_MS = 180_000;
const EXEC_TIMEOUT_MS = 60_000;
const SSH_TIMEOUT_MS = 30_000;

/** Output of a command, never thrown: tests assert on it. */
export interface CommandResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** What a TCP connect from outside the host ends with. */
export type ProbeResult = "open" | "refused" | "timeout";

/** How an ssh login authenticates. */
export type SshAuth = "key" | "password";

function run(file: string, args: string[], opts: { timeoutMs: number; input?: string; env?: NodeJS.ProcessEnv }): CommandResult {
    const r = spawnSync(file, args, {
        encoding: "utf8",
        timeout: opts.timeoutMs,
        input: opts.input,
        env: opts.env ?? process.env,
        stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        maxBuffer: 16 * 1024 * 1024,
    });
    if (r.error && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT") {
        return { code: 124, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}\n${file} ${args.join(" ")}: timed out after ${opts.timeoutMs} ms` };
    }
    if (r.error) {
        return { code: 127, stdout: "", stderr: `${file}: ${r.error.message}` };
    }
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/** Why this process cannot build the test host for lack of privileges, or undefined when it runs as root. */
export function rootProblem(): string | undefined {
    return typeof process.getuid === "function" && process.getuid() === 0
        ? undefined
        : "needs root: run as root or via .ci/run (the test host is a network namespace with its own mounts, sshd and dockerd)";
}

/**
 * A suite on the test host, which needs root. Without root it is one failing test that says why, not a
 * skip: a suite that did not run must not count as passing.
 */
export function describeAsRoot(title: string, body: () => void): void {
    const notRoot = rootProblem();
    describe(
        title,
        notRoot
            ? () => {
                  it("needs root", () => {
                      throw new Error(notRoot);
                  });
              }
            : body,
    );
}

/** Why the test host cannot be started on this machine (empty: it can). */
export function hostPrerequisiteProblems(): string[] {
    const problems: string[] = [];
    const root = rootProblem();
    if (root) {
        return [root];
    }
    const tools: Record<string, string> = {
        ip: "iproute2",
        nsenter: "util-linux",
        unshare: "util-linux",
        ssh: "openssh-client",
        "ssh-keygen": "openssh-client",
        sshd: "openssh-server",
        dockerd: "docker.io",
        runc: "runc (with docker.io)",
        busybox: "busybox-static",
        nft: "nftables",
        chronyd: "chrony",
        "prometheus-node-exporter": "prometheus-node-exporter",
        sudo: "sudo",
        haproxy: "haproxy (the stand-in gateway image is built from it)",
        "iptables-save": "iptables (with docker.io)",
        "ssh-agent": "openssh-client (the program holds the SSH key in an agent for the Docker provider)",
        "ssh-add": "openssh-client",
        ps: "procps",
        free: "procps (the preflight reads the memory with free -b)",
        ss: "iproute2 (the firewall step and the test list the host's listening ports)",
        go: "golang (Go 1.22+: scripts/install-logsink-tools.sh builds the collector and MinIO)",
    };
    for (const [tool, pkg] of Object.entries(tools)) {
        if (run("bash", ["-c", `PATH="$PATH:/usr/sbin:/sbin" command -v ${tool}`], { timeoutMs: 5_000 }).code !== 0) {
            problems.push(`${tool} is missing: apt-get install ${pkg} (listed in scripts/apt-packages.txt)`);
        }
    }
    return problems;
}

/** A running test host. Call stop() in afterAll: it removes everything, also after a failure. */
export class ServerHost {
    /** The host's private key of the SSH user (and of root, before the hardening), PEM. */
    public readonly privateKey: string;
    /** The host's SSH host key, `ssh-ed25519 AAAA...` (what `server.hostKey` pins). */
    public readonly hostKey: string;
    private stopped = false;

    private constructor(public readonly workdir: string) {
        this.privateKey = fs.readFileSync(path.join(workdir, "keys/client"), "utf8");
        this.hostKey = fs.readFileSync(path.join(workdir, "keys/host.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
        fs.writeFileSync(this.knownHosts, `${SERVER_IP} ${this.hostKey}\n`, { mode: 0o600 });
    }

    /** Starts sshd in a fresh namespace (Docker stays stopped until the bootstrap starts it). */
    static start(): ServerHost {
        const workdir = fs.mkdtempSync(path.join(os.tmpdir(), "triton-e2e-host-"));
        const r = run("bash", [SCRIPT, "up", workdir], { timeoutMs: UP_TIMEOUT_MS });
        if (r.code !== 0) {
            run("bash", [SCRIPT, "down", workdir], { timeoutMs: DOWN_TIMEOUT_MS });
            throw new Error(`the test host did not start (server-host.sh up, exit ${r.code}):\n${r.stderr}`);
        }
        const host = new ServerHost(workdir);
        // Belt and braces: a test process that exits without its afterAll still removes the namespace.
        process.once("exit", () => host.stop());
        return host;
    }

    private get knownHosts(): string {
        return path.join(this.workdir, "known_hosts");
    }

    /**
     * Builds an image from local files and loads it into the host's Docker; returns its id. `triton`: the
     * real Triton image of scripts/build-triton-image.sh; `gateway`: a stand-in with Debian's haproxy; `otelcol`: the
     * collector `binary` the project builds (scripts/install-logsink-tools.sh otelcol) as the entry point.
     */
    loadImage(kind: "triton" | "gateway" | "otelcol", tag: string, binary?: string): string {
        const r = run("bash", [SCRIPT, "image", this.workdir, kind, tag, ...(binary ? [binary] : [])], { timeoutMs: IMAGE_TIMEOUT_MS });
        if (r.code !== 0) {
            throw new Error(`building the ${kind} image ${tag} failed (exit ${r.code}):\n${r.stderr}\n${this.logTail("docker")}`);
        }
        return r.stdout.trim();
    }

    /** Runs a command inside the host (its network and mount namespaces), as root. */
    exec(args: string[], timeoutMs = EXEC_TIMEOUT_MS): CommandResult {
        return run("bash", [SCRIPT, "exec", this.workdir, ...args], { timeoutMs });
    }

    /** Runs a command inside the host with `input` on its stdin: a secret stays off every command line. */
    execInput(args: string[], input: string, timeoutMs = EXEC_TIMEOUT_MS): CommandResult {
        return run("bash", [SCRIPT, "exec", this.workdir, ...args], { timeoutMs, input });
    }

    /**
     * Starts a plain HTTP listener inside the host on all its addresses (busybox httpd, answering GET / with
     * `body`): a service the security group does or does not declare. Fails unless it answers inside.
     */
    startListener(port: number, body: string): void {
        const root = path.join(this.workdir, `www-${port}`);
        fs.mkdirSync(root, { recursive: true });
        fs.writeFileSync(path.join(root, "index.html"), body);
        const r = this.exec(["setsid", "busybox", "httpd", "-p", `0.0.0.0:${port}`, "-h", root]);
        if (r.code !== 0) {
            throw new Error(`could not start a listener on ${port} inside the test host: ${r.stderr}`);
        }
        const check = this.exec(["curl", "-fsS", "--max-time", "5", "--retry", "5", "--retry-connrefused", "--retry-delay", "1", `http://127.0.0.1:${port}/`]);
        if (check.stdout !== body) {
            throw new Error(`the listener on ${port} does not answer inside the test host: ${check.stderr}`);
        }
    }

    /**
     * TCP connect from outside (this machine's side of the veth, from `from`: the SSH CIDR's address by
     * default). A firewall drop shows as a timeout, a closed port as refused.
     */
    probe(port: number, o: { from?: string; timeoutMs?: number } = {}): Promise<ProbeResult> {
        const timeoutMs = o.timeoutMs ?? 3_000;
        return new Promise((resolve) => {
            const socket = net.createConnection({ host: SERVER_IP, port, localAddress: o.from ?? HOST_SIDE_IP });
            const done = (result: ProbeResult) => {
                socket.destroy();
                resolve(result);
            };
            socket.setTimeout(timeoutMs, () => done("timeout"));
            socket.once("connect", () => done("open"));
            socket.once("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNREFUSED" ? "refused" : "timeout"));
        });
    }

    /** HTTP GET from outside (from `from`, default this machine's first address). Rejects on a network error or after `timeoutMs`. */
    get(port: number, urlPath: string, headers: Record<string, string> = {}, o: { from?: string; timeoutMs?: number } = {}): Promise<{ status: number; body: string }> {
        return this.request("GET", port, urlPath, headers, undefined, o);
    }

    /** An HTTP request from outside with a method and an optional body (see get). */
    request(
        method: string,
        port: number,
        urlPath: string,
        headers: Record<string, string> = {},
        body?: string,
        o: { from?: string; timeoutMs?: number } = {},
    ): Promise<{ status: number; body: string }> {
        const timeoutMs = o.timeoutMs ?? 5_000;
        return new Promise((resolve, reject) => {
            const req = http.request({ method, host: SERVER_IP, port, path: urlPath, headers, localAddress: o.from ?? HOST_SIDE_IP, agent: false, timeout: timeoutMs }, (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (c) => (text += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
            });
            req.on("timeout", () => req.destroy(new Error(`${method} http://${SERVER_IP}:${port}${urlPath}: no answer within ${timeoutMs} ms`)));
            req.on("error", reject);
            req.end(body);
        });
    }

    /**
     * One ssh login from outside, running `command`. `key`: the test's key only (no agent, no other
     * identities). `password`: password and keyboard-interactive only, the password fed by SSH_ASKPASS.
     * The host key is checked against the pinned one. `from`: the source address (default this machine's
     * first address, the one in securityGroup.sshCidrs).
     */
    ssh(user: string, auth: SshAuth, command = "true", from = HOST_SIDE_IP): CommandResult {
        const common = [
            "-F", "/dev/null",
            "-b", from,
            "-o", `UserKnownHostsFile=${this.knownHosts}`,
            "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentityAgent=none",
            "-o", "ConnectTimeout=10",
            "-o", "NumberOfPasswordPrompts=1",
            "-o", "LogLevel=ERROR",
        ];
        if (auth === "key") {
            return run("ssh", [...common, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", path.join(this.workdir, "keys/client"), `${user}@${SERVER_IP}`, command], {
                timeoutMs: SSH_TIMEOUT_MS,
            });
        }
        const passwordFile = path.join(this.workdir, "keys", user === "root" ? "root.password" : "user.password");
        const askpass = path.join(this.workdir, `askpass-${user}`);
        fs.writeFileSync(askpass, `#!/bin/sh\ncat '${passwordFile}'\n`, { mode: 0o700 });
        return run(
            "ssh",
            [...common, "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive", `${user}@${SERVER_IP}`, command],
            { timeoutMs: SSH_TIMEOUT_MS, env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: "" } },
        );
    }

    /** A fresh ed25519 public key in `ssh-ed25519 AAAA...` form: a host key that is not this host's. */
    otherHostKey(): string {
        const file = path.join(this.workdir, "keys", `other-${Date.now()}`);
        const r = run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "not-this-host", "-f", file], { timeoutMs: 10_000 });
        if (r.code !== 0) {
            throw new Error(`ssh-keygen failed: ${r.stderr}`);
        }
        return fs.readFileSync(`${file}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    }

    /** The host's total memory in MiB, as the preflight's `free -b` sees it. */
    memoryMiB(): number {
        const r = this.exec(["free", "-b"]);
        const m = /^Mem:\s+(\d+)/m.exec(r.stdout);
        if (!m) {
            throw new Error(`free -b inside the test host: ${r.stdout} ${r.stderr}`);
        }
        return Math.floor(Number(m[1]) / 2 ** 20);
    }

    /** Writes a file inside the host (its own /etc overlay), or removes it when `content` is undefined. */
    writeFile(file: string, content: string | undefined): void {
        const r = content === undefined ? this.exec(["rm", "-f", file]) : run("bash", [SCRIPT, "exec", this.workdir, "tee", file], { timeoutMs: EXEC_TIMEOUT_MS, input: content });
        if (r.code !== 0) {
            throw new Error(`could not ${content === undefined ? "remove" : "write"} ${file} inside the test host: ${r.stderr}`);
        }
    }

    /** Every `systemctl`/`timedatectl` call the host saw (its systemd stand-in logs them). */
    systemctlLog(): string[] {
        const file = path.join(this.workdir, "log/systemctl.log");
        return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
    }

    /** The last lines of one of the host's logs (init, ssh, docker, chrony, ...), for failure messages. */
    logTail(name: string, lines = 30): string {
        const file = path.join(this.workdir, "log", `${name}.log`);
        if (!fs.existsSync(file)) {
            return `(no ${name}.log)`;
        }
        return `--- ${name}.log (last ${lines} lines) ---\n${fs.readFileSync(file, "utf8").split("\n").slice(-lines - 1).join("\n")}`;
    }

    /** Stops every process of the host, deletes the namespace, the veth and the work folder. Idempotent. */
    stop(): void {
        if (this.stopped) {
            return;
        }
        this.stopped = true;
        try {
            execFileSync("bash", [SCRIPT, "down", this.workdir], { stdio: ["ignore", "ignore", "pipe"], timeout: DOWN_TIMEOUT_MS });
        } catch (e) {
            // Reported, not thrown: a cleanup error must not hide the test's own failure.
            process.stderr.write(`server-host: cleanup failed: ${(e as Error).message}\n`);
        }
    }
}
