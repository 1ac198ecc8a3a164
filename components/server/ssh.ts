// How the Docker provider reaches the server's engine over SSH without the private key entering the state.
//
// @pulumi/docker (terraform-provider-docker) connects to `ssh://user@host:port` by running the operator's
// `ssh` binary with `docker system dial-stdio`; `sshOpts` are extra ssh arguments. ssh takes a key only
// from a file, an agent or ssh_config, never as a value: so the secret key is written to a 0600 file in a
// 0700 folder of the operator's home, and only its *path* is a provider input (and thus in the state).
// The path uses `~`, which ssh expands itself: the state holds the same value on every machine.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Default folder of the materialised key and known_hosts file. */
export const DEFAULT_LOCAL_SSH_DIRECTORY = "~/.cache/triton-platform/ssh";

/** Expands a leading `~` the way ssh does, for the files the program writes itself. */
export function expandHome(p: string, home: string = os.homedir()): string {
    return p === "~" ? home : p.startsWith("~/") ? path.join(home, p.slice(2)) : p;
}

/** `host` or `[host]:port`, as known_hosts and ssh write it. */
export function knownHostsPattern(host: string, port: number): string {
    return port === 22 ? host : `[${host}]:${port}`;
}

/** The ssh://user@host:port address of the Docker engine (IPv6 in brackets). */
export function dockerHost(user: string, host: string, port: number): string {
    return `ssh://${user}@${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Paths of the local files of one stack's server connection, as given to ssh (may start with `~`). */
export interface LocalSshFiles {
    keyPath: string;
    knownHostsPath: string;
}

/** The local file paths for a connection name (e.g. `triton-platform-prod`). */
export function localSshFiles(directory: string, name: string): LocalSshFiles {
    const dir = directory.replace(/\/+$/, "");
    return { keyPath: `${dir}/${name}.key`, knownHostsPath: `${dir}/${name}.known_hosts` };
}

/**
 * ssh options for the Docker provider. With a host key, ssh verifies it strictly against our own
 * known_hosts file; without one, the first key seen is recorded and then enforced (accept-new).
 * BatchMode: never prompt, fail instead.
 */
export function dockerSshOptions(o: { files: LocalSshFiles; withKey: boolean; hostKeyPinned: boolean }): string[] {
    return [
        ...(o.withKey ? ["-i", o.files.keyPath, "-o", "IdentitiesOnly=yes"] : []),
        "-o",
        `UserKnownHostsFile=${o.files.knownHostsPath}`,
        "-o",
        `StrictHostKeyChecking=${o.hostKeyPinned ? "yes" : "accept-new"}`,
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=15",
    ];
}

function privateDirectory(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.statSync(dir);
    if (typeof process.getuid === "function" && st.uid !== process.getuid()) {
        throw new Error(`${dir} belongs to another user: refusing to write an SSH key there`);
    }
    fs.chmodSync(dir, 0o700);
}

/**
 * Writes the private key (mode 0600) for ssh to read, returning its path as given. Runs on the operator's
 * machine while the program runs; the key value goes to the file only.
 */
export function writeLocalKey(files: LocalSshFiles, privateKey: string, home?: string): string {
    const file = expandHome(files.keyPath, home);
    privateDirectory(path.dirname(file));
    // OpenSSH rejects a key file without its final newline ("invalid format").
    const content = privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`;
    fs.writeFileSync(file, content, { mode: 0o600 });
    fs.chmodSync(file, 0o600);
    return files.keyPath;
}

/** Writes the pinned host key as the connection's own known_hosts file; returns its path as given. */
export function writeKnownHosts(files: LocalSshFiles, pattern: string, hostKey: string, home?: string): string {
    const file = expandHome(files.knownHostsPath, home);
    privateDirectory(path.dirname(file));
    fs.writeFileSync(file, `${pattern} ${hostKey}\n`, { mode: 0o600 });
    return files.knownHostsPath;
}
