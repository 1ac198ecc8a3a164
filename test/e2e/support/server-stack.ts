// Pieces of the server-path end-to-end tests that are not the test host itself (support/server-host.ts):
// where the host is, for a run started with other addresses; what the server stack needs from the
// toolchain; secrets set from stdin; the change summary of an update; the keys a platform admin reads from
// the stack's state (`npm run token`); and a stand-in Redis image for the host's Docker.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import type { KeyClaims } from "../../../components/keys";
import { hmacKeyFromExport, secretsFromExport } from "../../../scripts/token";
import { cli, REPO_ROOT, Sandbox } from "./project";
import type { ServerHost } from "./server-host";

/** The test host's addresses, as server-host.sh reads them from its environment. */
export interface HostAddresses {
    /** This machine's end of the veth (the SSH CIDR's address). */
    hostSide: string;
    /** The server. */
    server: string;
    /** A second client on this machine's side, outside the SSH CIDR. */
    client: string;
}

/**
 * The addresses server-host.sh builds the host with: E2E_HOST_IP, E2E_NS_IP and E2E_CLIENT_IP, defaults
 * 10.203.0.1, .2 and .3 (the constants of server-host.ts). A run beside another test host sets all three,
 * with E2E_NETNS and E2E_VETH, so both hosts coexist on one machine.
 */
export function hostAddresses(env: NodeJS.ProcessEnv = process.env): HostAddresses {
    return { hostSide: env.E2E_HOST_IP ?? "10.203.0.1", server: env.E2E_NS_IP ?? "10.203.0.2", client: env.E2E_CLIENT_IP ?? "10.203.0.3" };
}

/** Providers the server stack loads, at the versions of the installed SDKs, that are not in the plugin cache. */
export function missingPlugins(env: Record<string, string>): string[] {
    const home = env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
    return ["command", "docker", "random"].flatMap((name) => {
        const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "node_modules/@pulumi", name, "package.json"), "utf8")).version as string;
        const binary = path.join(home, "plugins", `resource-${name}-v${version}`, `pulumi-resource-${name}`);
        return fs.existsSync(binary) ? [] : [`the ${name} provider plugin ${version} is not installed (${binary}): run \`bash scripts/toolchain.sh\``];
    });
}

/** `pulumi config set --secret` with the value on stdin: never on a command line (ps, shell history, CI logs). */
export function setSecretFromStdin(sandbox: Sandbox, stack: string, key: string, value: string): void {
    execFileSync("pulumi", ["config", "set", "--secret", "--stack", stack, key, "--non-interactive"], {
        cwd: sandbox.dir,
        env: { ...process.env, ...sandbox.env },
        input: value,
        stdio: ["pipe", "pipe", "pipe"],
        timeout: 60_000,
    });
}

/** The operations of an update other than `same`, with their counts (empty: nothing changed). */
export const changesOf = (r: { summary: { resourceChanges?: Record<string, number> } }) =>
    Object.entries(r.summary.resourceChanges ?? {}).filter(([op, n]) => op !== "same" && (n ?? 0) > 0);

/** The JWT secret, claims and R11 HMAC key of a stack, read from its state as `npm run token` reads them. */
export function stackKeys(sandbox: Sandbox, stack: string): { jwtSecret: string; claims: KeyClaims; hmacKey: string } {
    const exported = cli(sandbox, ["stack", "export", "--show-secrets", "--stack", stack]);
    if (exported.code !== 0) {
        throw new Error(`pulumi stack export failed: ${exported.stderr}`);
    }
    const doc = JSON.parse(exported.stdout);
    return { ...secretsFromExport(doc), hmacKey: hmacKeyFromExport(doc) };
}

/**
 * Loads a stand-in for the server path's Redis image (`dialogue.store.image`; the host reaches no registry)
 * into the host's Docker and returns its id: this machine's Debian redis-server and the libraries it links,
 * alone on an otherwise empty root file system (no shell), with the official image's `redis` user (999).
 * Docker is started for the import and stopped again if it was not running, as server-host.sh does.
 */
export function loadRedisImage(host: ServerHost, tag: string): string {
    const binary = fs.realpathSync("/usr/bin/redis-server");
    const root = path.join(host.workdir, "image-redis");
    fs.rmSync(root, { recursive: true, force: true });
    for (const dir of ["usr/local/bin", "data", "etc", "tmp"]) {
        fs.mkdirSync(path.join(root, dir), { recursive: true });
    }
    // Redis picks its mode from its program name: the Debian binary is installed as redis-check-rdb.
    fs.copyFileSync(binary, path.join(root, "usr/local/bin/redis-server"));
    fs.chmodSync(path.join(root, "usr/local/bin/redis-server"), 0o755);
    for (const lib of execFileSync("ldd", [binary], { encoding: "utf8" }).match(/\/\S+/g) ?? []) {
        fs.mkdirSync(path.join(root, path.dirname(lib)), { recursive: true });
        fs.copyFileSync(fs.realpathSync(lib), path.join(root, lib));
    }
    fs.writeFileSync(path.join(root, "etc/passwd"), "root:x:0:0:root:/:/bin/false\nredis:x:999:999:redis:/data:/bin/false\n");
    fs.writeFileSync(path.join(root, "etc/group"), "root:x:0:\nredis:x:999:\n");
    fs.chmodSync(path.join(root, "tmp"), 0o1777);
    const script = [
        "set -euo pipefail",
        'root=$1 tag=$2 started=false',
        "if ! systemctl is-active --quiet docker; then systemctl start docker; started=true; fi",
        `tar -C "$root" -c . | docker import --change 'CMD ["redis-server"]' --change 'USER 999:999' - "$tag" >/dev/null`,
        "docker image inspect --format '{{.Id}}' \"$tag\"",
        "if $started; then systemctl stop docker; fi",
    ].join("\n");
    const r = host.exec(["bash", "-c", script, "load-redis-image", root, tag], 180_000);
    if (r.code !== 0) {
        throw new Error(`loading the Redis stand-in image ${tag} failed (exit ${r.code}):\n${r.stderr}\n${host.logTail("docker")}`);
    }
    return r.stdout.trim();
}

/** An HTTP answer. */
export interface HttpAnswer {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
    /** Milliseconds from sending the request to the end of the answer. */
    ms: number;
}

/** An HTTP request from this machine (`from`) to the server, on a fresh connection. Rejects on a network error or after `timeoutMs`. */
export function request(
    a: { server: string; from: string },
    method: string,
    port: number,
    urlPath: string,
    o: { headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
    const timeoutMs = o.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
        const t0 = performance.now();
        const req = http.request({ method, host: a.server, port, path: urlPath, headers: o.headers ?? {}, localAddress: a.from, agent: false, timeout: timeoutMs }, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, ms: performance.now() - t0 }));
        });
        req.on("timeout", () => req.destroy(new Error(`${method} http://${a.server}:${port}${urlPath}: no answer within ${timeoutMs} ms`)));
        req.on("error", reject);
        req.end(o.body);
    });
}

/** A TCP connect from this machine (`from`) to the server: a firewall drop shows as a timeout, a closed port as refused. */
export function probe(a: { server: string; from: string }, port: number, timeoutMs = 3_000): Promise<"open" | "refused" | "timeout"> {
    return new Promise((resolve) => {
        const socket = net.createConnection({ host: a.server, port, localAddress: a.from });
        const done = (result: "open" | "refused" | "timeout") => {
            socket.destroy();
            resolve(result);
        };
        socket.setTimeout(timeoutMs, () => done("timeout"));
        socket.once("connect", () => done("open"));
        socket.once("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNREFUSED" ? "refused" : "timeout"));
    });
}
