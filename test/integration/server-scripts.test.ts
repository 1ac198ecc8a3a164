// Every script the server component sends: `bash -n` and shellcheck, then behaviour under bash with fake
// commands (free, df, sshd, systemctl, ss, curl) and redirected paths: preflight messages, sshd -t before
// reload, key files from stdin, the bounded readiness wait, and the firewall in a throw-away network
// namespace with the real nft.
import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { renderHaproxyConfig } from "../../components/gateway/haproxy";
import { DEFAULT_ROUTES, gatewaySchema, routeSchema } from "../../components/gateway/schema";
import { gatewayProbe, gatewayReadyScript, serverGateway } from "../../components/gateway/server-plan";
import { logShipperReadyScript } from "../../components/logsink/server-plan";
import { healthcheckScript, modelKeyFileOptions, tritonStartScript, waitReadyScript } from "../../components/model-service/server-plan";
import { buildClaims } from "../../components/keys/claims";
import { mintToken } from "../../components/keys/jwt";
import { keysSchema } from "../../components/keys/schema";
import { NFT_CHECK_TABLE, NFT_TABLE, renderNftables, renderSshCheckTable } from "../../components/network/server";
import { buildSecurityPolicy } from "../../components/network/rules";
import { securityGroupSchema } from "../../components/network/schema";
import {
    dockerDaemonConfig,
    envFileContent,
    firewallScript,
    firewallUnit,
    foldersScript,
    installScript,
    preflightScript,
    remoteCommand,
    removeFileScript,
    sshdScript,
    stdinFileScript,
} from "../../components/server/scripts";
import { requireNetns } from "../support/netns";
import { freePort } from "../support/ports";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "server-scripts-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
let seq = 0;
const tmpdir = (label: string) => fs.mkdtempSync(path.join(scratch, `${label}-${seq++}-`));

const policy = buildSecurityPolicy({
    settings: securityGroupSchema.parse({ sshCidrs: ["198.51.100.0/24", "2001:db8::/32"] }),
    servicePort: 18789,
    tritonPorts: { http: 8000, grpc: 8001, metrics: 8002 },
    objectStorageEndpoint: "https://s3.us-east-1.amazonaws.com",
    server: { sshPort: 22 },
});
const firewall = firewallScript({ ruleset: renderNftables(policy), sshCheck: renderSshCheckTable(policy), sshPort: 22, table: NFT_TABLE, checkTable: NFT_CHECK_TABLE });

const JWT = { issuer: "model-service", audience: "collaboration-platform", lifetimeSeconds: 3600 };
const serverGw = serverGateway({ settings: gatewaySchema.parse({}), jwt: JWT });
const gatewayReady = gatewayReadyScript({
    containerName: "triton-gateway",
    healthUrl: "http://127.0.0.1:8405/healthz",
    listenerUrls: ["http://127.0.0.1:80", "http://127.0.0.1:18789"],
    probe: { method: "GET", path: "/v2/health/ready", expectStatus: 401 },
    timeoutSeconds: 60,
});

/** Every script the component sends, with the shell it runs under. */
const scripts: { name: string; text: string; shell: "bash" | "sh" }[] = [
    { name: "preflight", text: preflightScript({ minMemoryMiB: 2048, minDiskGB: 20, requireSudo: true }), shell: "bash" },
    { name: "install", text: installScript({ user: "ubuntu", modelRepository: "/var/lib/triton-platform/models", logRotation: { maxSize: "50m", maxFiles: 5 } }), shell: "bash" },
    { name: "firewall", text: firewall, shell: "bash" },
    { name: "sshd", text: sshdScript(), shell: "bash" },
    { name: "key file", text: stdinFileScript({ path: "/etc/triton-platform/secrets/model-server/model-server.env", mode: "0600", dirMode: "0700" }), shell: "bash" },
    { name: "key file (non-root container user)", text: stdinFileScript(modelKeyFileOptions("1000:1000")), shell: "bash" },
    { name: "claims file", text: stdinFileScript({ path: "/etc/triton-platform/claims.json", mode: "0644", dirMode: "0755" }), shell: "bash" },
    { name: "wait ready", text: waitReadyScript({ url: "http://127.0.0.1:18789/v2/health/ready", timeoutSeconds: 300, containerName: "triton-model-server" }), shell: "bash" },
    { name: "triton start (in the container)", text: tritonStartScript({ envFile: "/run/secrets/triton/model-server.env", ports: { http: 8000, grpc: 8001, metrics: 8002 }, exitTimeoutSeconds: 30 }), shell: "sh" },
    { name: "container healthcheck", text: `#!/usr/bin/env bash\n${healthcheckScript(8000)}\n`, shell: "bash" },
    { name: "log shipper folders", text: foldersScript([{ path: "/var/lib/triton-platform/logsink", mode: "0700" }, { path: "/etc/triton-platform/logsink", mode: "0700" }]), shell: "bash" },
    { name: "gateway config file", text: stdinFileScript({ path: "/etc/triton-platform/gateway/haproxy.cfg", mode: "0644", dirMode: "0755" }), shell: "bash" },
    { name: "gateway JWT secret file", text: stdinFileScript({ path: "/etc/triton-platform/secrets/gateway/jwt-secret", mode: "0400", dirMode: "0700" }), shell: "bash" },
    { name: "gateway ready", text: gatewayReady, shell: "bash" },
    { name: "remove a file (the previous JWT secret after its overlap)", text: removeFileScript("/etc/triton-platform/secrets/gateway/jwt-secret-previous"), shell: "bash" },
    {
        name: "gateway start with a previous JWT secret (in the container)",
        text: `#!/bin/sh\n${String((serverGateway({ settings: gatewaySchema.parse({}), jwt: { ...JWT, previousKeyValidUntil: 1_773_100_800 } }).container.entrypoints as string[])[2])}\n`,
        shell: "sh",
    },
    {
        name: "gateway ready (POST probe)",
        text: gatewayReadyScript({ containerName: "g", healthUrl: "http://127.0.0.1:8405/healthz", listenerUrls: ["http://127.0.0.1:80"], probe: { method: "POST", path: "/hooks/x", expectStatus: 401 }, timeoutSeconds: 5 }),
        shell: "bash",
    },
    { name: "gateway start (in the container)", text: `#!/bin/sh\n${String((serverGw.container.entrypoints as string[])[2])}\n`, shell: "sh" },
    { name: "log shipper config file", text: stdinFileScript({ path: "/etc/triton-platform/logsink/config.yaml", mode: "0644", dirMode: "0700" }), shell: "bash" },
    { name: "log shipper credentials file", text: stdinFileScript({ path: "/etc/triton-platform/logsink/aws-credentials", mode: "0600", dirMode: "0700" }), shell: "bash" },
    {
        name: "log shipper ready",
        text: logShipperReadyScript({
            containerName: "triton-platform-server-log-shipper",
            image: "docker.io/otel/opentelemetry-collector-contrib:0.130.0",
            expectedReference: "otel/opentelemetry-collector-contrib:0.130.0",
            healthUrl: "http://127.0.0.1:13133/",
            timeoutSeconds: 120,
        }),
        shell: "bash",
    },
];

function lint(text: string, shell: "bash" | "sh"): { syntax: SpawnSyncReturns<string>; shellcheck: SpawnSyncReturns<string> } {
    const file = path.join(tmpdir("lint"), "script");
    fs.writeFileSync(file, text);
    return {
        syntax: spawnSync(shell === "sh" ? "sh" : "bash", ["-n", file], { encoding: "utf8" }),
        shellcheck: spawnSync("shellcheck", ["--shell", shell, "--severity", "style", file], { encoding: "utf8" }),
    };
}

describe("every script the program sends is valid and clean", () => {
    it("shellcheck is installed (scripts/apt-packages.txt)", () => {
        expect(spawnSync("shellcheck", ["--version"]).status).toBe(0);
    });

    it.each(scripts)("$name: bash -n and shellcheck pass", ({ text, shell }) => {
        const { syntax, shellcheck } = lint(text, shell);
        expect(syntax.stderr).toBe("");
        expect(syntax.status).toBe(0);
        expect(shellcheck.stdout).toBe("");
        expect(shellcheck.status).toBe(0);
    });

    it.each(scripts.filter((s) => s.shell === "bash"))("$name: the remote command line wrapping it parses under sh and bash, with and without sudo", ({ text }) => {
        for (const sudo of [true, false]) {
            const line = remoteCommand(text, { sudo });
            const { syntax: bash, shellcheck } = lint(`#!/bin/sh\n${line}\n`, "sh");
            expect(bash.status).toBe(0);
            expect(spawnSync("bash", ["-n", "-c", line]).status).toBe(0);
            expect(shellcheck.stdout).toBe("");
        }
    });

    it("the remote command line carries the script intact, quotes included", () => {
        const script = `#!/usr/bin/env bash\nset -euo pipefail\nx='it'"'"'s'; echo "$x \${HOME:+home} $((1 + 2))"\n`;
        const res = spawnSync("sh", ["-c", remoteCommand(script, { sudo: false })], { encoding: "utf8", env: { PATH: process.env.PATH, HOME: "/h" } });
        expect(res.stdout).toBe("it's home 3\n");
    });
});

/** A folder of fake commands: name -> bash body. */
function fakes(bin: Record<string, string>): string {
    const dir = tmpdir("bin");
    for (const [name, body] of Object.entries(bin)) {
        fs.writeFileSync(path.join(dir, name), `#!/usr/bin/env bash\n${body}\n`, { mode: 0o755 });
    }
    return dir;
}

function run(script: string, env: Record<string, string>, input?: string): SpawnSyncReturns<string> {
    const file = path.join(tmpdir("run"), "script.sh");
    fs.writeFileSync(file, script);
    return spawnSync("bash", [file], { encoding: "utf8", input, env: { PATH: `${env.FAKE_BIN}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: scratch, ...env } });
}

describe("preflight (R1, R2): stops below the minimum with a message that names the shortfall", () => {
    const GiB = 1024 ** 3;
    const osRelease = (id: string, like: string, pretty: string) => {
        const file = path.join(tmpdir("os"), "os-release");
        fs.writeFileSync(file, `PRETTY_NAME="${pretty}"\nNAME="x"\nID=${id}\n${like ? `ID_LIKE=${like}\n` : ""}`);
        return file;
    };
    const ubuntu = osRelease("ubuntu", "debian", "Ubuntu 22.04.4 LTS");
    const machine = (memBytes: number, freeBytes: number, sudoOk = true) =>
        fakes({
            free: `echo "               total        used        free      shared  buff/cache   available"\necho "Mem:      ${memBytes}   100   200   0   0   300"\necho "Swap: 0 0 0"`,
            df: `echo "Filesystem 1-blocks Used Available Capacity Mounted on"\necho "/dev/vda1 100000000000 1 ${freeBytes} 1% /"`,
            "apt-get": "exit 0",
            systemctl: "exit 0",
            sudo: sudoOk ? "exit 0" : "echo 'sudo: a password is required' >&2; exit 1",
            hostname: "echo test-server",
        });
    const preflight = (o: { mem: number; disk: number; os?: string; sudo?: boolean; requireSudo?: boolean }) =>
        run(preflightScript({ minMemoryMiB: 2048, minDiskGB: 20, requireSudo: o.requireSudo ?? false }), {
            FAKE_BIN: machine(o.mem, o.disk, o.sudo ?? true),
            TRITON_PREFLIGHT_OS_RELEASE: o.os ?? ubuntu,
        });

    it("passes a server at the minimum", () => {
        const res = preflight({ mem: 4 * GiB, disk: 40e9 });
        expect(res.stderr).toBe("");
        expect(res.status).toBe(0);
        expect(res.stdout).toMatch(/^preflight passed: 4096 MiB RAM, 40 GB free on \/var\/lib, Ubuntu 22\.04\.4 LTS/);
    });

    it("passes a nominal 2 GiB server that reports a little less (kernel reservations)", () => {
        expect(preflight({ mem: Math.floor(1.9 * GiB), disk: 25e9 }).status).toBe(0);
    });

    it("names the RAM shortfall", () => {
        const res = preflight({ mem: 1 * GiB, disk: 40e9 });
        expect(res.status).toBe(1);
        expect(res.stderr).toContain("preflight failed on test-server: the server is below the minimum, nothing was installed:");
        expect(res.stderr).toContain("  - RAM: 1024 MiB is below the minimum of 2048 MiB (R1;");
        expect(res.stderr).not.toMatch(/disk:|OS:/);
    });

    it("names the disk shortfall", () => {
        const res = preflight({ mem: 4 * GiB, disk: 12e9 });
        expect(res.status).toBe(1);
        expect(res.stderr).toContain("  - disk: 12 GB free on /var/lib is below the minimum of 20 GB (R1)");
    });

    it("names a non-Debian OS", () => {
        const res = preflight({ mem: 4 * GiB, disk: 40e9, os: osRelease("fedora", "", "Fedora Linux 39") });
        expect(res.status).toBe(1);
        expect(res.stderr).toContain("  - OS: Fedora Linux 39 is not Debian-family (R2 expects Ubuntu 22.04 LTS or Debian)");
    });

    it("accepts Debian itself", () => {
        expect(preflight({ mem: 4 * GiB, disk: 40e9, os: osRelease("debian", "", "Debian GNU/Linux 12") }).status).toBe(0);
    });

    it("reports every shortfall at once", () => {
        const res = preflight({ mem: 512 * 1024 ** 2, disk: 5e9, os: osRelease("alpine", "", "Alpine Linux") });
        expect(res.status).toBe(1);
        expect(res.stderr.split("\n").filter((l) => l.startsWith("  - "))).toHaveLength(3);
    });

    it("says when sudo would prompt for a password", () => {
        const res = preflight({ mem: 4 * GiB, disk: 40e9, sudo: false, requireSudo: true });
        expect(res.status).toBe(1);
        expect(res.stderr).toMatch(/sudo: user \S+ cannot run 'sudo -n': grant password-less sudo/);
    });
});

describe("sshd hardening (R3): validated with sshd -t before any reload", () => {
    const setup = (o: { tFails?: boolean; effectiveRoot?: "no" | "yes"; previous?: string }) => {
        const dir = tmpdir("sshd");
        const log = path.join(dir, "calls.log");
        const confDir = path.join(dir, "sshd_config.d");
        if (o.previous !== undefined) {
            fs.mkdirSync(confDir, { recursive: true });
            fs.writeFileSync(path.join(confDir, "00-triton-platform.conf"), o.previous);
        }
        const bin = fakes({
            sshd: `echo "sshd $*" >> ${log}
if [[ "$1" == "-t" ]]; then ${o.tFails ? 'echo "/etc/ssh/sshd_config.d/00-triton-platform.conf line 3: Bad configuration option" >&2; exit 255' : "exit 0"}; fi
if [[ "$1" == "-T" ]]; then printf 'port 22\\nPermitRootLogin ${o.effectiveRoot ?? "no"}\\npasswordauthentication no\\n'; fi`,
            systemctl: `echo "systemctl $*" >> ${log}`,
        });
        const env = { FAKE_BIN: bin, TRITON_SSHD_CONFIG_DIR: confDir, TRITON_SSHD_RUN_DIR: path.join(dir, "run") };
        return {
            run: () => run(sshdScript(), env),
            calls: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []),
            dropin: () => (fs.existsSync(path.join(confDir, "00-triton-platform.conf")) ? fs.readFileSync(path.join(confDir, "00-triton-platform.conf"), "utf8") : undefined),
        };
    };

    it("writes PermitRootLogin no / PasswordAuthentication no, runs sshd -t, then reloads", () => {
        const t = setup({});
        const res = t.run();
        expect(res.stderr).toBe("");
        expect(res.status).toBe(0);
        expect(res.stdout).toContain("sshd hardened: validated with sshd -t and reloaded");
        expect(t.dropin()).toMatch(/^PermitRootLogin no$/m);
        expect(t.dropin()).toMatch(/^PasswordAuthentication no$/m);
        const calls = t.calls();
        expect(calls.indexOf("sshd -t")).toBeGreaterThanOrEqual(0);
        expect(calls.indexOf("sshd -t")).toBeLessThan(calls.indexOf("systemctl reload ssh"));
    });

    it("changes nothing and does not reload on a second run", () => {
        const t = setup({});
        t.run();
        const before = t.calls().length;
        const res = t.run();
        expect(res.status).toBe(0);
        expect(res.stdout).toContain("sshd hardening unchanged");
        expect(t.calls().slice(before)).not.toContainEqual(expect.stringMatching(/reload/));
    });

    it("restores the previous file and never reloads when sshd -t rejects the configuration", () => {
        const t = setup({ tFails: true, previous: "PermitRootLogin prohibit-password\n" });
        const res = t.run();
        expect(res.status).toBe(1);
        expect(res.stderr).toContain("'sshd -t' rejected the configuration; the previous configuration was restored and sshd was NOT reloaded");
        expect(res.stderr).toContain("Bad configuration option");
        expect(t.dropin()).toBe("PermitRootLogin prohibit-password\n");
        expect(t.calls()).not.toContainEqual(expect.stringMatching(/systemctl reload/));
    });

    it("removes its new file when sshd -t rejects it and there was none before", () => {
        const t = setup({ tFails: true });
        expect(t.run().status).toBe(1);
        expect(t.dropin()).toBeUndefined();
    });

    it("refuses to report success when sshd -T shows the settings are not in effect", () => {
        const t = setup({ effectiveRoot: "yes" });
        const res = t.run();
        expect(res.status).toBe(1);
        expect(res.stderr).toContain("sshd -T does not report 'permitrootlogin no'");
        expect(t.calls()).not.toContainEqual(expect.stringMatching(/systemctl reload/));
    });
});

describe("key files travel on stdin and land root-only", () => {
    const script = stdinFileScript({ path: "/etc/triton-platform/secrets/model-server/model-server.env", mode: "0600", dirMode: "0700" });
    const content = envFileContent({ TRITON_ADMIN_KEY: "Zk3secretValue9Q" });

    it("writes stdin to the file with mode 0600 in a 0700 folder, and never echoes it", () => {
        const root = tmpdir("files");
        const res = run(script, { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root }, content);
        expect(res.status).toBe(0);
        const file = path.join(root, "etc/triton-platform/secrets/model-server/model-server.env");
        expect(fs.readFileSync(file, "utf8")).toBe("TRITON_ADMIN_KEY=Zk3secretValue9Q\n");
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
        expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
        expect(res.stdout + res.stderr).not.toContain("Zk3secretValue9Q");
        expect(script).not.toContain("Zk3secretValue9Q");
        // Idempotent: the same content changes nothing.
        expect(run(script, { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root }, content).stdout).toMatch(/unchanged/);
    });

    it("gives the model server's key file to the container's user only (uid 1000, 0400 in a 0500 folder), and re-owns an existing root file", () => {
        const root = tmpdir("files");
        const file = path.join(root, "etc/triton-platform/secrets/model-server/model-server.env");
        // As written before the container ran as a user: the same content, root-only.
        expect(run(script, { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root }, content).status).toBe(0);
        const owned = stdinFileScript(modelKeyFileOptions("1000:1000"));
        const res = run(owned, { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root }, content);
        expect(res.status, res.stderr).toBe(0);
        // Same content, new owner: rewritten, not "unchanged".
        expect(res.stdout).toMatch(/written/);
        const st = fs.statSync(file);
        expect({ uid: st.uid, gid: st.gid, mode: (st.mode & 0o777).toString(8) }).toEqual({ uid: 1000, gid: 1000, mode: "400" });
        const dir = fs.statSync(path.dirname(file));
        expect({ uid: dir.uid, gid: dir.gid, mode: (dir.mode & 0o777).toString(8) }).toEqual({ uid: 1000, gid: 1000, mode: "500" });
        // As the container sees it (the folder is the mount, so no ancestor is searched): uid 1000 reads
        // it, another non-root uid does not.
        const readAs = (ids: string) =>
            spawnSync("setpriv", [`--reuid=${ids.split(":")[0]}`, `--regid=${ids.split(":")[1]}`, "--clear-groups", "cat", "model-server.env"], { cwd: path.dirname(file), encoding: "utf8" });
        expect(readAs("1000:1000").stdout).toBe(content);
        expect(readAs("1001:1000").status).not.toBe(0);
        expect(readAs("1001:1000").stderr).toMatch(/Permission denied/);
        expect(run(owned, { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root }, content).stdout).toMatch(/unchanged/);
        // Back to root (server.modelContainerUser 0:0): root-only again.
        expect(run(stdinFileScript(modelKeyFileOptions("0:0")), { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root }, content).stdout).toMatch(/written/);
        expect(fs.statSync(file).uid).toBe(0);
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    });

    it("refuses an empty stdin instead of wiping the key", () => {
        const root = tmpdir("files");
        const res = run(script, { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root }, "");
        expect(res.status).toBe(1);
        expect(res.stderr).toMatch(/refusing to install an empty/);
    });

    it("env file content: KEY=value lines; a value needing quotes is refused without being shown", () => {
        expect(envFileContent({ API_KEY: "abc123", JWT_SECRET: "XyZ" })).toBe("API_KEY=abc123\nJWT_SECRET=XyZ\n");
        expect(() => envFileContent({ API_KEY: "has space$(id)" })).toThrow(/value of API_KEY has characters/);
        try {
            envFileContent({ API_KEY: "has space$(id)" });
        } catch (e) {
            expect((e as Error).message).not.toContain("has space");
        }
        expect(() => envFileContent({ "bad-key": "x" })).toThrow(/not an upper-case shell identifier/);
    });
});

describe("readiness wait: bounded, with a clear timeout message", () => {
    it("fails after the timeout, saying what timed out and where to look", () => {
        const bin = fakes({ curl: "exit 7", docker: 'echo "E1201 model load failed"', sleep: "exit 0" });
        const res = run(waitReadyScript({ url: "http://127.0.0.1:18789/v2/health/ready", timeoutSeconds: 0, intervalSeconds: 0, containerName: "triton-model-server" }), { FAKE_BIN: bin });
        expect(res.status).toBe(1);
        expect(res.stderr).toContain("timed out after 0s (server.readyTimeoutSeconds) waiting for Triton to answer http://127.0.0.1:18789/v2/health/ready (1 attempts)");
        expect(res.stderr).toContain("docker logs --tail 100 triton-model-server");
        expect(res.stderr).toContain("E1201 model load failed");
    });

    it("returns as soon as /v2/health/ready answers", () => {
        const dir = tmpdir("wait");
        const bin = fakes({ curl: `n=$(cat ${dir}/n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${dir}/n; [[ $n -ge 3 ]]`, sleep: "exit 0" });
        const res = run(waitReadyScript({ url: "http://127.0.0.1:18789/v2/health/ready", timeoutSeconds: 600, intervalSeconds: 0, containerName: "c" }), { FAKE_BIN: bin });
        expect(res.status).toBe(0);
        expect(res.stdout).toMatch(/Triton ready after \d+s \(3 attempts\)/);
    });
});

describe("log shipper folders (R13): root-only, created once", () => {
    const script = foldersScript([
        { path: "/var/lib/triton-platform/logsink", mode: "0700" },
        { path: "/etc/triton-platform/logsink", mode: "0700" },
    ]);

    it("creates the disk buffer and config folders with mode 0700, then changes nothing", () => {
        const root = tmpdir("folders");
        const first = run(script, { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root });
        expect(first.stderr).toBe("");
        expect(first.status).toBe(0);
        for (const dir of ["var/lib/triton-platform/logsink", "etc/triton-platform/logsink"]) {
            expect(fs.statSync(path.join(root, dir)).mode & 0o777).toBe(0o700);
        }
        expect(first.stdout).toContain("folder created or mode fixed: /var/lib/triton-platform/logsink (0700)");
        expect(run(script, { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root }).stdout).toBe("folders unchanged\n");
    });

    it("tightens a folder that exists with a wider mode", () => {
        const root = tmpdir("folders");
        fs.mkdirSync(path.join(root, "var/lib/triton-platform/logsink"), { recursive: true, mode: 0o755 });
        fs.chmodSync(path.join(root, "var/lib/triton-platform/logsink"), 0o755);
        const res = run(script, { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root });
        expect(res.status).toBe(0);
        expect(fs.statSync(path.join(root, "var/lib/triton-platform/logsink")).mode & 0o777).toBe(0o700);
    });

    it("refuses a path it could not quote safely", () => {
        expect(() => foldersScript([{ path: "relative/dir", mode: "0700" }])).toThrow(/absolute path/);
    });
});

describe("log shipper readiness (R13): the pinned image, then a bounded health wait from inside the container", () => {
    const options = {
        containerName: "triton-platform-server-log-shipper",
        image: "docker.io/otel/opentelemetry-collector-contrib:0.130.0",
        expectedReference: "otel/opentelemetry-collector-contrib:0.130.0",
        healthUrl: "http://127.0.0.1:13133/",
        timeoutSeconds: 0,
        intervalSeconds: 0,
    };
    /** A fake docker: the container's image id and pid, the image's references, its logs. */
    const docker = (refs: string) => `case "$1 $2" in
  "inspect --format") case "$3" in *State.Pid*) echo 4242 ;; *Image*) echo sha256:0123 ;; *) echo "running restarts=3" ;; esac ;;
  "image inspect") printf '%s\n' ${refs} ;;
  "logs --tail") echo "Error: failed to get config: cannot unmarshal the configuration" ;;
  *) echo "unexpected docker $*" >&2; exit 2 ;;
esac`;
    const pinned = "'otel/opentelemetry-collector-contrib:0.130.0' 'otel/opentelemetry-collector-contrib@sha256:abcd'";

    it("asks the health endpoint inside the container's network namespace and returns once it answers", () => {
        const dir = tmpdir("shipper");
        const bin = fakes({
            docker: docker(pinned),
            nsenter: `echo "$*" >> ${dir}/nsenter; shift 3; exec "$@"`,
            curl: `n=$(cat ${dir}/n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${dir}/n; [[ $n -ge 2 ]]`,
            sleep: "exit 0",
        });
        const res = run(logShipperReadyScript({ ...options, timeoutSeconds: 600 }), { FAKE_BIN: bin });
        expect(res.stderr).toBe("");
        expect(res.status).toBe(0);
        expect(res.stdout).toMatch(/log shipper ready after \d+s \(2 attempts\): triton-platform-server-log-shipper runs docker\.io\/otel\/opentelemetry-collector-contrib:0\.130\.0/);
        expect(fs.readFileSync(path.join(dir, "nsenter"), "utf8").split("\n")[0]).toBe("--target 4242 --net curl -fsS -o /dev/null --max-time 5 http://127.0.0.1:13133/");
    });

    it("accepts the image listed by its full reference too", () => {
        const bin = fakes({ docker: docker("'docker.io/otel/opentelemetry-collector-contrib:0.130.0'"), nsenter: 'shift 3; exec "$@"', curl: "exit 0", sleep: "exit 0" });
        const res = run(logShipperReadyScript(options), { FAKE_BIN: bin });
        expect(res.stderr).toBe("");
        expect(res.status).toBe(0);
    });

    it("fails when the container runs another image than the pinned one", () => {
        const bin = fakes({ docker: docker("'otel/opentelemetry-collector-contrib:0.129.0'"), nsenter: "exit 0", curl: "exit 0" });
        const res = run(logShipperReadyScript(options), { FAKE_BIN: bin });
        expect(res.status).toBe(1);
        expect(res.stderr).toContain("does not run the pinned image docker.io/otel/opentelemetry-collector-contrib:0.130.0");
        expect(res.stderr).toContain("otel/opentelemetry-collector-contrib:0.129.0");
    });

    it("fails after the timeout with the collector's last log lines", () => {
        const bin = fakes({ docker: docker(pinned), nsenter: 'shift 3; exec "$@"', curl: "exit 7", sleep: "exit 0" });
        const res = run(logShipperReadyScript(options), { FAKE_BIN: bin });
        expect(res.status).toBe(1);
        expect(res.stderr).toContain("timed out after 0s waiting for the log shipper triton-platform-server-log-shipper to answer http://127.0.0.1:13133/ (1 attempts)");
        expect(res.stderr).toContain("cannot unmarshal the configuration");
    });
});

describe("install (R2, R4)", () => {
    const script = installScript({ user: "ubuntu", modelRepository: "/var/lib/triton-platform/models", logRotation: { maxSize: "50m", maxFiles: 5 } });

    it("installs Docker, clock sync and the node exporter from the distribution, and checks Docker >= 20.10", () => {
        expect(script).toContain("apt_install docker.io");
        expect(script).toContain("apt_install chrony");
        expect(script).toContain("timedatectl set-ntp true");
        expect(script).toContain("apt_install prometheus-node-exporter");
        expect(script).toMatch(/docker_major < 20 \|\| \(docker_major == 20 && docker_minor < 10\)/);
        expect(script).toContain('usermod -aG docker "$user"');
    });

    it("configures container log rotation and live restore", () => {
        expect(JSON.parse(dockerDaemonConfig({ maxSize: "50m", maxFiles: 5 }))).toEqual({ "log-driver": "json-file", "log-opts": { "max-size": "50m", "max-file": "5" }, "live-restore": true });
    });

    it("installs only missing packages, so a second run changes nothing", () => {
        // The helper queries dpkg first; run it with fakes: everything installed -> apt-get never runs.
        const helper = script.slice(script.indexOf("apt_install() {"), script.indexOf("# Writes stdin"));
        const log = path.join(tmpdir("apt"), "apt.log");
        const bin = fakes({ "dpkg-query": "echo 'install ok installed'", "apt-get": `echo "apt-get $*" >> ${log}` });
        const res = run(`#!/usr/bin/env bash\nset -euo pipefail\nchanged=()\napt_updated=0\n${helper}\napt_install docker.io chrony\necho "changed=\${#changed[@]}"\n`, { FAKE_BIN: bin });
        expect(res.stdout.trim()).toBe("changed=0");
        expect(fs.existsSync(log)).toBe(false);
    });
});

describe("firewall script (R3, R6)", () => {
    it("installs a boot unit that loads the ruleset before the network and Docker", () => {
        const unit = firewallUnit("/etc/triton-platform/firewall.nft");
        expect(unit).toMatch(/Before=network-pre\.target docker\.service/);
        expect(unit).toMatch(/ExecStart=\/usr\/sbin\/nft -f \/etc\/triton-platform\/firewall\.nft/);
    });

    it("checks the ruleset with nft -c before applying it, and never flushes the whole ruleset", () => {
        expect(firewall.indexOf('nft -c -f "$work/firewall.nft"')).toBeLessThan(firewall.indexOf('nft -f "$ruleset"'));
        expect(firewall).not.toMatch(/^\s*nft flush ruleset/m);
    });

    /** Runs the firewall script (twice when asked) inside one throw-away network namespace with the real nft. */
    const inNamespace = (peers: string[], runs = 1) => {
        const dir = tmpdir("fw");
        const log = path.join(dir, "systemctl.log");
        const bin = fakes({
            ss: `printf '0 0 10.0.0.2:22 %s\\n' ${peers.map((p) => `'${p}'`).join(" ")}`,
            systemctl: `echo "systemctl $*" >> ${log}; [[ "$1" != is-enabled ]]`,
        });
        const script = path.join(dir, "firewall.sh");
        fs.writeFileSync(script, firewall);
        const body = [...Array(runs)].map(() => `bash ${script}; echo "exit=$?"`).join("; ") + `; nft list tables`;
        const res = spawnSync("unshare", ["-rn", "bash", "--norc", "-c", body], {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
            env: { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, TRITON_FIREWALL_DIR: path.join(dir, "etc"), TRITON_SYSTEMD_DIR: path.join(dir, "systemd") },
        });
        return { ...res, ruleset: path.join(dir, "etc", "firewall.nft"), log };
    };

    it("applies the ruleset when the connected SSH peers stay allowed, then is idempotent", () => {
        requireNetns();
        const res = inNamespace(["198.51.100.7:51514", "[2001:db8::5]:40022"], 2);
        expect(res.stderr).toBe("");
        expect(res.stdout).toMatch(/firewall applied: table inet triton_platform\nexit=0\nfirewall unchanged: table inet triton_platform\nexit=0/);
        expect(res.stdout).toContain("table inet triton_platform");
        expect(res.stdout).not.toContain(NFT_CHECK_TABLE);
        expect(fs.readFileSync(res.ruleset, "utf8")).toBe(renderNftables(policy));
        expect(fs.readFileSync(res.log, "utf8")).toContain("systemctl enable triton-platform-firewall.service");
    });

    it("refuses a ruleset that would lock out a connected SSH peer, and changes nothing", () => {
        requireNetns();
        const res = inNamespace(["198.51.100.7:51514", "192.0.2.9:40000"]);
        expect(res.stderr).toContain("firewall not applied: it would lock out the SSH peer(s) 192.0.2.9 connected to port 22: add them to securityGroup.sshCidrs");
        expect(res.stdout).toContain("exit=1");
        expect(res.stdout).not.toContain("table inet triton_platform");
        expect(fs.existsSync(res.ruleset)).toBe(false);
    });
});


describe("gateway readiness: every listener refuses a request without a token, bounded", () => {
    /** A fake curl answering by URL: `url code` lines in a file; unknown URLs get 000 (no answer). */
    const fakeCurl = (dir: string, codes: Record<string, string>) => {
        fs.writeFileSync(path.join(dir, "codes"), Object.entries(codes).map(([u, c]) => `${u} ${c}`).join("\n") + "\n");
        return `echo "$*" >> ${dir}/calls; url="\${!#}"; code="$(awk -v u="$url" '$1 == u {print $2}' ${dir}/codes)"; printf '%s' "\${code:-000}"; [[ -n "$code" ]]`;
    };
    const options = (timeoutSeconds: number) => ({
        containerName: "triton-gateway",
        healthUrl: "http://127.0.0.1:8405/healthz",
        listenerUrls: ["http://127.0.0.1:80", "http://127.0.0.1:18789"],
        probe: { method: "GET" as const, path: "/v2/health/ready", expectStatus: 401 },
        timeoutSeconds,
        intervalSeconds: 0,
    });

    it("returns once the health endpoint answers and both listeners answer 401", () => {
        const dir = tmpdir("gw");
        const codes = { "http://127.0.0.1:8405/healthz": "200", "http://127.0.0.1:80/v2/health/ready": "401", "http://127.0.0.1:18789/v2/health/ready": "401" };
        const res = run(gatewayReadyScript(options(600)), { FAKE_BIN: fakes({ curl: fakeCurl(dir, codes), sleep: "exit 0" }) });
        expect(res.stderr).toBe("");
        expect(res.status).toBe(0);
        expect(res.stdout).toMatch(/^gateway ready after \d+s \(1 attempts\): triton-gateway answers http:\/\/127\.0\.0\.1:8405\/healthz and refuses requests without a token \(401\) on http:\/\/127\.0\.0\.1:80\/v2\/health\/ready http:\/\/127\.0\.0\.1:18789\/v2\/health\/ready/);
        // No Authorization header: the request must be refused.
        expect(fs.readFileSync(path.join(dir, "calls"), "utf8")).not.toMatch(/authorization/i);
    });

    it("stops at once when a listener answers 2xx without a token (e.g. Triton still published there)", () => {
        const dir = tmpdir("gw");
        const codes = { "http://127.0.0.1:8405/healthz": "200", "http://127.0.0.1:80/v2/health/ready": "401", "http://127.0.0.1:18789/v2/health/ready": "200" };
        const res = run(gatewayReadyScript(options(600)), { FAKE_BIN: fakes({ curl: fakeCurl(dir, codes), sleep: "exit 0", docker: "exit 0" }) });
        expect(res.status).toBe(1);
        expect(res.stderr).toContain("http://127.0.0.1:18789/v2/health/ready answered 200 to a request carrying no token, so something other than the gateway triton-gateway answers on this port");
    });

    it("times out naming each listener's problem (503: the secret; 000: nothing listens) with the gateway's last log lines", () => {
        const dir = tmpdir("gw");
        const codes = { "http://127.0.0.1:8405/healthz": "200", "http://127.0.0.1:80/v2/health/ready": "503" };
        const res = run(gatewayReadyScript(options(0)), { FAKE_BIN: fakes({ curl: fakeCurl(dir, codes), sleep: "exit 0", docker: 'echo "[ALERT] config: parsing error"' }) });
        expect(res.status).toBe(1);
        expect(res.stderr).toContain("timed out after 0s waiting for the gateway triton-gateway (1 attempts):");
        expect(res.stderr).toContain("  http://127.0.0.1:8405/healthz: 200, as expected");
        expect(res.stderr).toContain("  http://127.0.0.1:80/v2/health/ready: 503 gateway_misconfigured: the JWT secret file is empty or shorter than 32 bytes");
        expect(res.stderr).toContain("  http://127.0.0.1:18789/v2/health/ready: no answer: haproxy does not listen there");
        expect(res.stderr).toContain("[ALERT] config: parsing error");
    });

    it("sends a POST probe with an empty body when the probed route takes POST only", () => {
        const dir = tmpdir("gw");
        const codes = { "http://127.0.0.1:8405/healthz": "200", "http://127.0.0.1:80/hooks/gateway-probe": "401" };
        const script = gatewayReadyScript({ ...options(5), listenerUrls: ["http://127.0.0.1:80"], probe: { method: "POST", path: "/hooks/gateway-probe", expectStatus: 401 } });
        const res = run(script, { FAKE_BIN: fakes({ curl: fakeCurl(dir, codes), sleep: "exit 0" }) });
        expect(res.status).toBe(0);
        expect(fs.readFileSync(path.join(dir, "calls"), "utf8")).toContain("-X POST --data-binary  http://127.0.0.1:80/hooks/gateway-probe");
    });
});

describe("the gateway's secret file and start command, with the real haproxy", () => {
    const SECRET = "GatewaySecretFromStdin0123456789abcdefXYZ";

    /**
     * Writes the secret with the server's stdin file step, a config from the production generator with
     * loopback listeners on free ports (the server's 80/18789 may be taken here), and runs the gateway's
     * own start command (container paths pointed at the test folders) until haproxy's probe answers.
     */
    async function startGateway(
        secret: string,
        previous?: { secret?: string; until: number; root?: string },
    ): Promise<{ proc: ChildProcess; ports: number[]; stats: number; stderr: () => string; secretFile: string; root: string }> {
        const root = previous?.root ?? tmpdir("gw-real");
        const jwt = previous ? { ...JWT, previousKeyValidUntil: previous.until } : JWT;
        const gw = serverGateway({ settings: gatewaySchema.parse({}), jwt });
        const secretFile = path.join(root, gw.secretFile.path);
        const write = run(stdinFileScript({ path: gw.secretFile.path, mode: "0400", dirMode: "0700" }), { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root }, secret);
        expect(write.status).toBe(0);
        if (previous?.secret !== undefined) {
            // The server component's step for the previous secret: the same stdin file script.
            const prev = run(stdinFileScript({ path: gw.previousSecretFile.path, mode: "0400", dirMode: "0700" }), { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: root }, previous.secret);
            expect(prev.status, prev.stderr).toBe(0);
        }
        const [a, b, stats] = [await freePort(), await freePort(), await freePort()];
        const configDir = path.join(root, "etc/triton-platform/gateway");
        fs.mkdirSync(configDir, { recursive: true });
        const config = renderHaproxyConfig({
            settings: gatewaySchema.parse({}),
            jwt,
            listeners: [a, b].map((port) => ({ name: `port-${port}`, address: "127.0.0.1", port })),
            statsListener: { address: "127.0.0.1", port: stats },
            upstreams: { triton: { host: "127.0.0.1", port: 9 }, "triton-metrics": { host: "127.0.0.1", port: 9 } },
        });
        fs.writeFileSync(path.join(configDir, "haproxy.cfg"), config);
        const start = String((gw.container.entrypoints as string[])[2])
            .split("/run/secrets/gateway")
            .join(path.dirname(secretFile))
            .split("/usr/local/etc/haproxy")
            .join(configDir);
        let err = "";
        const proc = spawn("sh", ["-c", start], { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }, stdio: ["ignore", "ignore", "pipe"] });
        proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
        for (let i = 0; i < 100; i++) {
            if (proc.exitCode !== null) {
                throw new Error(`haproxy exited (${proc.exitCode}): ${err}`);
            }
            const up = await fetch(`http://127.0.0.1:${stats}/healthz`).then(
                (r) => r.status === 200,
                () => false,
            );
            if (up) {
                break;
            }
            await new Promise((r) => setTimeout(r, 100));
        }
        return { proc, ports: [a, b], stats, stderr: () => err, secretFile, root };
    }

    const started: ChildProcess[] = [];
    afterAll(() => {
        for (const p of started) {
            if (p.exitCode === null && p.signalCode === null) {
                p.kill("SIGKILL");
            }
        }
    });

    const readyOptions = (g: { ports: number[]; stats: number }, timeoutSeconds: number) => ({
        containerName: "triton-gateway",
        healthUrl: `http://127.0.0.1:${g.stats}/healthz`,
        listenerUrls: g.ports.map((p) => `http://127.0.0.1:${p}`),
        probe: gatewayProbe(DEFAULT_ROUTES.map((r) => routeSchema.parse(r))),
        timeoutSeconds,
        intervalSeconds: 0,
    });

    it("haproxy reads the secret from the 0400 file written from stdin, and the readiness check passes on 401", async () => {
        expect(spawnSync("haproxy", ["-v"]).status).toBe(0);
        const g = await startGateway(SECRET);
        started.push(g.proc);
        expect(fs.statSync(g.secretFile).mode & 0o777).toBe(0o400);
        expect(fs.readFileSync(g.secretFile, "utf8")).toBe(SECRET);
        const res = run(gatewayReadyScript(readyOptions(g, 30)), { FAKE_BIN: fakes({ docker: "exit 0" }) });
        expect(res.stderr).toBe("");
        expect(res.status).toBe(0);
        expect(res.stdout).toContain("refuses requests without a token (401)");
        g.proc.kill("SIGTERM");
    });

    it("key rotation: a token signed with the previous secret passes while its file is there and the overlap runs; refused after the overlap or once the file is removed", async () => {
        const OLD = "PreviousGatewaySecretFromStdin0123456789ab";
        const claims = buildClaims(keysSchema.parse({}));
        const oldToken = await mintToken(OLD, claims, { scope: ["chat:write"] });
        const newToken = await mintToken(SECRET, claims, { scope: ["chat:write"] });
        const ask = async (g: { ports: number[] }, token: string) => {
            const r = await fetch(`http://127.0.0.1:${g.ports[0]}/v2/health/ready`, { headers: { authorization: `Bearer ${token}` } });
            return { status: r.status, body: await r.text() };
        };
        const now = Math.floor(Date.now() / 1000);
        // During the overlap: both pass the token check (the upstream here is closed: 503, not 401).
        const during = await startGateway(SECRET, { secret: OLD, until: now + 3600 });
        started.push(during.proc);
        expect(fs.statSync(path.join(during.root, "etc/triton-platform/secrets/gateway/jwt-secret-previous")).mode & 0o777).toBe(0o400);
        expect((await ask(during, newToken)).status).toBe(503);
        expect((await ask(during, oldToken)).status).toBe(503);
        during.proc.kill("SIGTERM");
        // After the overlap's end, with the file still there (no `up` since): refused as a rotated key.
        const ended = await startGateway(SECRET, { secret: OLD, until: now - 1 });
        started.push(ended.proc);
        expect(await ask(ended, oldToken)).toMatchObject({ status: 401, body: expect.stringContaining("rotated_key") });
        expect((await ask(ended, newToken)).status).toBe(503);
        ended.proc.kill("SIGTERM");
        // The next `up` after the overlap removes the file; the restarted gateway knows the old secret no more.
        const removed = run(removeFileScript(serverGw.previousSecretFile.path), { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: during.root });
        expect(removed.stdout).toMatch(/jwt-secret-previous removed/);
        expect(run(removeFileScript(serverGw.previousSecretFile.path), { FAKE_BIN: fakes({}), TRITON_FILES_ROOT: during.root }).stdout).toMatch(/absent/);
        const after = await startGateway(SECRET, { until: now + 3600, root: during.root });
        started.push(after.proc);
        expect(await ask(after, oldToken)).toMatchObject({ status: 401, body: expect.stringContaining("bad_signature") });
        expect((await ask(after, newToken)).status).toBe(503);
        after.proc.kill("SIGTERM");
    });

    it("with a short secret haproxy answers 503, and the readiness check says the secret is the problem", async () => {
        const g = await startGateway("too-short");
        started.push(g.proc);
        const res = run(gatewayReadyScript(readyOptions(g, 0)), { FAKE_BIN: fakes({ docker: "exit 0" }) });
        expect(res.status).toBe(1);
        expect(res.stderr).toContain(`http://127.0.0.1:${g.ports[0]}/v2/health/ready: 503 gateway_misconfigured: the JWT secret file is empty or shorter than 32 bytes`);
        g.proc.kill("SIGTERM");
    });
});
