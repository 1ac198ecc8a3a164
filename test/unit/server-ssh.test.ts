// The pure parts of the server's SSH plumbing: the Docker provider's ssh options (an agent socket, a pinned
// host key without a known_hosts file), the socket path kept stable in the state, the private folder check,
// and the message of a failed remote step (the step, the server, what to check). The agent itself runs in
// the end-to-end test (test/e2e/server.test.ts), where a real run starts and removes it.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { dockerSshOptions, expandLocalPath, localSshFiles, privateDirectory, remoteStepFailureMessage } from "../../components/server";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "server-ssh-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe("the Docker provider's ssh options", () => {
    const files = localSshFiles("/tmp/triton-platform-ssh-%i", "triton-platform-prod");

    it("name the run's agent by a path with ssh's own %i, the same on every machine", () => {
        expect(files).toEqual({ agentSocket: "/tmp/triton-platform-ssh-%i/triton-platform-prod.agent" });
        expect(expandLocalPath(files.agentSocket, { uid: 1000 })).toBe("/tmp/triton-platform-ssh-1000/triton-platform-prod.agent");
        expect(expandLocalPath("~/x/%d/%%", { home: "/home/op", uid: 1 })).toBe("/home/op/x//home/op/%");
    });

    it("shorten a name that would not fit a Unix socket path, deterministically", () => {
        const long = localSshFiles("/tmp/triton-platform-ssh-%i", `triton-platform-${"a".repeat(120)}`);
        expect(long.agentSocket).toMatch(/^\/tmp\/triton-platform-ssh-%i\/[0-9a-f]{16}\.agent$/);
        expect(localSshFiles("/tmp/triton-platform-ssh-%i", `triton-platform-${"a".repeat(120)}`)).toEqual(long);
    });

    it("trust only the pinned host key, printed by KnownHostsCommand: no known_hosts file is read or written", () => {
        const opts = dockerSshOptions({ files, withKey: true, hostKey: { pattern: "[203.0.113.10]:2222", key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake" } });
        expect(opts).toEqual([
            "-o",
            "IdentityAgent=/tmp/triton-platform-ssh-%i/triton-platform-prod.agent",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "KnownHostsCommand=/bin/echo [203.0.113.10]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=15",
        ]);
    });

    it("use the operator's own agent when no key is given, and refuse a host key that is not one", () => {
        const opts = dockerSshOptions({ files, withKey: false });
        expect(opts.join(" ")).not.toMatch(/IdentityAgent/);
        expect(opts).toContain("StrictHostKeyChecking=no");
        expect(() => dockerSshOptions({ files, withKey: true, hostKey: { pattern: "h", key: "ssh-ed25519 AAAA; rm -rf /" } })).toThrow(/not of the form/);
    });
});

describe("the agent's private folder", () => {
    it("is created 0700, and a folder with a looser mode is tightened", () => {
        const dir = path.join(scratch, "agent");
        privateDirectory(dir);
        expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
        fs.chmodSync(dir, 0o755);
        privateDirectory(dir);
        expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    });

    it("is refused when a link or a file stands in its place", () => {
        const target = path.join(scratch, "elsewhere");
        fs.mkdirSync(target);
        const link = path.join(scratch, "link");
        fs.symlinkSync(target, link);
        expect(() => privateDirectory(link)).toThrow(/not a folder/);
        const file = path.join(scratch, "file");
        fs.writeFileSync(file, "");
        expect(() => privateDirectory(file)).toThrow();
    });
});

describe("the message of a failed remote step", () => {
    const target = { user: "ubuntu", host: "203.0.113.10", port: 22, hostKeyPinned: true };

    it("names the host and says what to check when the server cannot be reached", () => {
        const m = remoteStepFailureMessage("preflight", target, ["after 9 failed attempts: dial tcp 203.0.113.10:22: connect: no route to host"]);
        expect(m).toMatch(/^step "preflight" did not run: ubuntu@203\.0\.113\.10:22 cannot be reached over SSH \(no route to host\)/);
        expect(m).toMatch(/server\.host and server\.sshPort/);
        expect(m).toMatch(/Nothing was changed on the server/);
    });

    it("names the host a wrong pinned key came from, and how to pin a rebuilt server's key", () => {
        const m = remoteStepFailureMessage("preflight", target, ["after 9 failed attempts: ssh: handshake failed: ssh: host key mismatch"]);
        expect(m).toMatch(/203\.0\.113\.10:22 presented an SSH host key other than the pinned server\.hostKey/);
        expect(m).toMatch(/ssh-keyscan -t ed25519 -p 22 203\.0\.113\.10/);
    });

    it("names the user whose key was refused", () => {
        const m = remoteStepFailureMessage("install", target, ["ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain"]);
        expect(m).toMatch(/ubuntu@203\.0\.113\.10:22 refused the SSH key \(serverPrivateKey\) for user ubuntu/);
    });

    it("points at the script's own message when the step ran and failed, and says what is in place", () => {
        const m = remoteStepFailureMessage("sshd", { ...target, hostKeyPinned: false }, ["Process exited with status 1: sshd hardening not applied: 'sshd -t' rejected the configuration"]);
        expect(m).toBe(
            'step "sshd" failed on ubuntu@203.0.113.10:22 (host key not verified: server.hostKey is unset); its own message above says why. ' +
                "The steps before it are in place, no step after it ran, and the next `pulumi up` runs it again.",
        );
    });
});
