// How the Docker provider reaches the server's engine over SSH without the private key entering the state
// or touching the operator's disk.
//
// @pulumi/docker (terraform-provider-docker) connects to `ssh://user@host:port` by running the operator's
// `ssh` binary with `docker system dial-stdio`; `sshOpts` are extra ssh arguments. ssh takes a key only
// from a file, an agent or ssh_config, never as a value. So, for the duration of one Pulumi run, the
// program holds the secret key in an ssh-agent of its own (memory only), listening on a socket in a private
// temporary folder (0700, checked to be the user's own and not a link), and the provider gets only
// `-o IdentityAgent=<socket>`. When the Pulumi CLI that started the run exits, a small watchdog stops the
// agent and removes the socket (and the folder when it is empty). The pinned host key needs no file either:
// `KnownHostsCommand` prints it (it is public), with no known_hosts file read or written.
//
// The socket path is a provider input and thus in the state, so it must be the same on every run and every
// machine: it uses ssh's own `%i` (the local user id) instead of the resolved value.
import { execFileSync, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Default folder of the run's agent socket (`%i`: ssh's token for the local user id). */
export const DEFAULT_LOCAL_SSH_DIRECTORY = "/tmp/triton-platform-ssh-%i";

/** Longest Unix socket path every platform accepts (sun_path is 104 bytes on macOS, 108 on Linux). */
const MAX_SOCKET_PATH = 100;

/** Expands what ssh expands in IdentityAgent: a leading `~`, `%d` (home), `%i` (uid), `%u` (user), `%%`. */
export function expandLocalPath(p: string, o: { home?: string; uid?: number; user?: string } = {}): string {
    const home = o.home ?? os.homedir();
    const uid = o.uid ?? (typeof process.getuid === "function" ? process.getuid() : 0);
    const withHome = p === "~" ? home : p.startsWith("~/") ? path.join(home, p.slice(2)) : p;
    return withHome.replace(/%([%diu])/g, (_, t: string) => (t === "%" ? "%" : t === "d" ? home : t === "i" ? String(uid) : (o.user ?? os.userInfo().username)));
}

/** `host` or `[host]:port`, as known_hosts and ssh write it. */
export function knownHostsPattern(host: string, port: number): string {
    return port === 22 ? host : `[${host}]:${port}`;
}

/** The ssh://user@host:port address of the Docker engine (IPv6 in brackets). */
export function dockerHost(user: string, host: string, port: number): string {
    return `ssh://${user}@${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Where one stack's agent listens on the operator's machine, as given to ssh (may hold `~` and `%i`). */
export interface LocalSshFiles {
    agentSocket: string;
}

/**
 * The agent socket of a connection name (e.g. `triton-platform-prod`). A name that would make the path
 * too long for a Unix socket is replaced by a hash of it.
 */
export function localSshFiles(directory: string, name: string): LocalSshFiles {
    const dir = directory.replace(/\/+$/, "");
    const plain = `${dir}/${name}.agent`;
    // Measured with a long uid and home, so that the expanded path fits too.
    const worstCase = expandLocalPath(plain, { uid: 4294967294, home: "/home/a-rather-long-user-name" });
    if (worstCase.length <= MAX_SOCKET_PATH) {
        return { agentSocket: plain };
    }
    return { agentSocket: `${dir}/${crypto.createHash("sha256").update(name).digest("hex").slice(0, 16)}.agent` };
}

/** The pinned host key, for ssh's KnownHostsCommand. */
export interface PinnedHostKey {
    /** `host` or `[host]:port` (knownHostsPattern). */
    pattern: string;
    /** `ssh-ed25519 AAAA...`. */
    key: string;
}

/**
 * ssh options for the Docker provider. With a held key, ssh asks the run's agent only (not the operator's).
 * With a pinned host key, ssh trusts that key alone (KnownHostsCommand prints it; no known_hosts file is
 * read or written) and refuses any other; without one it checks nothing, like the remote commands (the
 * program warns). BatchMode: never prompt, fail instead.
 */
export function dockerSshOptions(o: { files: LocalSshFiles; withKey: boolean; hostKey?: PinnedHostKey }): string[] {
    if (o.hostKey && !/^[A-Za-z0-9.:[\]-]+ [a-z0-9-]+ [A-Za-z0-9+/]+=*$/.test(`${o.hostKey.pattern} ${o.hostKey.key}`)) {
        throw new Error(`the pinned host key of ${o.hostKey.pattern} is not of the form "<type> <base64>"`);
    }
    return [
        ...(o.withKey ? ["-o", `IdentityAgent=${o.files.agentSocket}`] : []),
        "-o",
        "UserKnownHostsFile=/dev/null",
        ...(o.hostKey
            ? ["-o", "GlobalKnownHostsFile=/dev/null", "-o", `KnownHostsCommand=/bin/echo ${o.hostKey.pattern} ${o.hostKey.key}`, "-o", "StrictHostKeyChecking=yes"]
            : ["-o", "StrictHostKeyChecking=no"]),
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=15",
    ];
}

/** Creates (or checks) a folder only this user can enter: a real folder, not a link, owned by us, 0700. */
export function privateDirectory(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) {
        throw new Error(`${dir} is not a folder (a link or a file is in its place): refusing to put an SSH agent socket there`);
    }
    if (typeof process.getuid === "function" && st.uid !== process.getuid()) {
        throw new Error(`${dir} belongs to another user (uid ${st.uid}): refusing to put an SSH agent socket there; remove it or set another folder`);
    }
    if ((st.mode & 0o777) !== 0o700) {
        fs.chmodSync(dir, 0o700);
    }
}

/** Whether an agent answers on the socket (`ssh-add -l` exits 0 or 1 then; 2 when it cannot connect). */
function agentAnswers(socket: string): boolean {
    if (!fs.existsSync(socket)) {
        return false;
    }
    const r = spawnSync("ssh-add", ["-l"], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: "ignore", timeout: 10_000 });
    return r.status === 0 || r.status === 1;
}

/**
 * The process whose end ends the run: the Pulumi CLI above this program (language host, then CLI), found by
 * name among the first ancestors; the parent when none is called `pulumi`.
 */
export function runOwnerPid(): number {
    let pid = process.ppid;
    for (let depth = 0; depth < 6 && pid > 1; depth++) {
        const r = spawnSync("ps", ["-o", "ppid=,comm=", "-p", String(pid)], { encoding: "utf8", timeout: 5_000 });
        const m = /^\s*(\d+)\s+(.+?)\s*$/.exec(r.stdout ?? "");
        if (!m) {
            break;
        }
        if (path.basename(m[2]) === "pulumi") {
            return pid;
        }
        pid = Number(m[1]);
    }
    return process.ppid;
}

/** The watchdog's script: wait for the run's owner to end, then stop the agent and remove its traces. */
export const WATCHDOG_SCRIPT = `while kill -0 "$1" 2>/dev/null; do sleep 1; done
kill "$2" 2>/dev/null
rm -f "$3"
rmdir "$4" 2>/dev/null
exit 0`;

const held = new Map<string, true>();

/**
 * Holds the private key for this run in an ssh-agent of the program's own, on the socket `files` names,
 * and returns the socket path as given. Nothing is written but the socket; the key goes to the agent on
 * stdin. The agent and its socket are removed when `owner` (the Pulumi CLI running this program) exits,
 * so the provider can still connect for the deletions that follow the program's end. Idempotent within a
 * run; a socket whose agent still answers (another run of the same stack) is reused.
 */
export function holdKeyForRun(files: LocalSshFiles, privateKey: string, o: { owner?: number; home?: string } = {}): string {
    const socket = expandLocalPath(files.agentSocket, { home: o.home });
    if (held.has(socket)) {
        return files.agentSocket;
    }
    const dir = path.dirname(socket);
    privateDirectory(dir);
    const env = { ...process.env, SSH_AUTH_SOCK: socket };
    let agentPid: number | undefined;
    if (!agentAnswers(socket)) {
        fs.rmSync(socket, { force: true });
        let out: string;
        try {
            out = execFileSync("ssh-agent", ["-s", "-a", socket], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
        } catch (e) {
            throw new Error(`could not start ssh-agent on ${socket} (the Docker provider's ssh:// transport needs OpenSSH's ssh-agent on this machine): ${(e as Error).message}`);
        }
        agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)?.[1] ?? NaN);
        if (!Number.isInteger(agentPid)) {
            throw new Error(`ssh-agent on ${socket} did not report its process id`);
        }
        // Stops the agent when the run ends, also after a failure; detached so the program's exit does not wait.
        spawn("sh", ["-c", WATCHDOG_SCRIPT, "triton-platform-ssh-watchdog", String(o.owner ?? runOwnerPid()), String(agentPid), socket, dir], {
            detached: true,
            stdio: "ignore",
        }).unref();
    }
    const r = spawnSync("ssh-add", ["-q", "-"], { input: privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, env, encoding: "utf8", timeout: 10_000 });
    if (r.status !== 0) {
        // ssh-add names the problem (e.g. "invalid format"); the key itself is never in its output.
        throw new Error(`the SSH private key (serverPrivateKey) could not be loaded into the run's ssh-agent: ${(r.stderr || r.error?.message || "").trim()}`);
    }
    held.set(socket, true);
    return files.agentSocket;
}
