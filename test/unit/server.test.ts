// The server platform (stack/server.ts: the LightweightServer host and the model service on it) under mocks: the remote steps and their order, key files on stdin
// (never in a command line), the Docker engine over SSH without the key in any input, the model container
// (pinned image, 18789 published, key from the mounted file, restart policy, healthcheck, log rotation)
// and the bounded readiness wait. These runs pass no gateway (Triton on 18789 itself); the gateway in
// front of a loopback-only Triton is test/unit/server-gateway.test.ts.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildClaims } from "../../components/keys/claims";
import { keysSchema } from "../../components/keys/schema";
import { RepositoryFile, repositoryFiles, repositoryPayload } from "../../components/model-service/server-repository";
import { serverSchema } from "../../components/server/schema";
import { loadDefinition, parseDefinition, readSecrets } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { deployServer } from "../../stack/server";
import { stackDefinition, stackFileRaw } from "../support/definitions";
import { one, ofType, PROJECT, Registered, RunResult, runMocked, stackFileConfig } from "../support/harness";

const KEYS = {
    apiKey: "ApiKeyValue0000000000000000000000000000000001",
    apiKeySecret: "ApiKeySecretValue000000000000000000000000002",
    jwtSecret: "JwtSecretValue00000000000000000000000000003",
    hmacKey: "HmacKeyValue0000000000000000000000000000004",
    tritonAdminKey: "TritonAdminKeyValue00000000000000000000005",
};
const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAFAKEFAKEFAKE\n-----END OPENSSH PRIVATE KEY-----";

const sshDir = fs.mkdtempSync(path.join(os.tmpdir(), "server-ssh-"));
afterAll(() => fs.rmSync(sshDir, { recursive: true, force: true }));

function serverProgram(settings: Record<string, unknown>, modelFiles?: RepositoryFile[], releases?: string[]) {
    return async () => {
        const claims = buildClaims(keysSchema.parse({}));
        const server = deployServer("server", {
            settings: serverSchema.parse(settings),
            privateKey: pulumi.secret(PRIVATE_KEY),
            keys: {
                apiKey: pulumi.secret(KEYS.apiKey),
                apiKeySecret: pulumi.secret(KEYS.apiKeySecret),
                jwtSecret: pulumi.secret(KEYS.jwtSecret),
                hmacKey: pulumi.secret(KEYS.hmacKey),
                tritonAdminKey: pulumi.secret(KEYS.tritonAdminKey),
                claims: pulumi.output(claims),
            },
            firewall: { ruleset: "table inet triton_platform {\n}\n", sshCheck: "table inet triton_platform_ssh_check {\n}\n", table: "triton_platform", checkTable: "triton_platform_ssh_check" },
            triton: { servicePort: 18789, ports: { http: 8000, grpc: 8001, metrics: 8002 }, exitTimeoutSeconds: 30 },
            instance: "triton-platform-server",
            localSsh: { directory: sshDir, name: "triton-platform-server" },
            ...(modelFiles ? { modelFiles } : {}),
            ...(releases ? { releases } : {}),
        });
        return { endpoint: server.endpoint, troubleshooting: server.troubleshooting };
    };
}

const commandNamed = (run: RunResult, role: string) => one(run, "command:remote:Command", `server-${role}`);
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
/** True when the engine received the value as a secret. */
const isSecret = (v: unknown) => v !== null && typeof v === "object" && SECRET_SIG in (v as object);
/** The value inside a secret the mock monitor received (secrets arrive wrapped). */
const reveal = (v: any) => (isSecret(v) ? v.value : v);
const dependsOnNames = (r: Registered) => ((r.opts.dependsOn ?? []) as pulumi.Resource[]).map((d) => (d as unknown as { __name: string }).__name);

describe("LightweightServer", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runMocked(serverProgram({ host: "203.0.113.10", user: "ubuntu", readyTimeoutSeconds: 420 }), { stack: "server" });
    });

    it("stores no inputs on the component (secrets would land in the state)", () => {
        expect(one(run, "triton-platform:server:LightweightServer").inputs).toEqual({});
    });

    it("runs preflight, install, firewall and sshd hardening in that order, each a child of the component", () => {
        expect(dependsOnNames(commandNamed(run, "install"))).toEqual(["server-preflight"]);
        expect(dependsOnNames(commandNamed(run, "firewall"))).toEqual(["server-install"]);
        expect(dependsOnNames(commandNamed(run, "sshd"))).toEqual(["server-firewall"]);
        for (const c of ofType(run, "command:remote:Command")) {
            expect(c.parent).toBe("triton-platform:server:LightweightServer::server");
        }
    });

    it("runs the preflight without sudo and every privileged step through sudo -n", () => {
        expect(commandNamed(run, "preflight").inputs.create).toMatch(/^bash -c '#!\/usr\/bin\/env bash/);
        for (const role of ["install", "firewall", "sshd", "model-server-env", "wait-ready"]) {
            expect(commandNamed(run, role).inputs.create).toMatch(/^sudo -n bash -c '/);
        }
        expect(commandNamed(run, "preflight").inputs.create).toContain("min_mem_mib=2048");
        expect(commandNamed(run, "sshd").inputs.create).toContain("PermitRootLogin no");
    });

    it("connects with the configured host, port, user and the secret key", () => {
        // The command provider marks the whole connection secret: the key never travels in plain form.
        expect(isSecret(commandNamed(run, "install").inputs.connection)).toBe(true);
        const connection = reveal(commandNamed(run, "install").inputs.connection);
        expect(connection).toMatchObject({ host: "203.0.113.10", port: 22, user: "ubuntu", privateKey: PRIVATE_KEY });
        expect(connection.hostKey).toBeUndefined();
    });

    it("sends the key files on stdin, not logged, and never in a command line", () => {
        const files: Record<string, string> = {
            "model-server-env": `TRITON_ADMIN_KEY=${KEYS.tritonAdminKey}\n`,
            "entrypoint-env": `API_KEY=${KEYS.apiKey}\nJWT_SECRET=${KEYS.jwtSecret}\nHMAC_SIGNING_KEY=${KEYS.hmacKey}\n`,
            "api-key-secret-env": `API_KEY_SECRET=${KEYS.apiKeySecret}\n`,
        };
        for (const [role, content] of Object.entries(files)) {
            const c = commandNamed(run, role);
            expect(isSecret(c.inputs.stdin)).toBe(true);
            expect(reveal(c.inputs.stdin)).toBe(content);
            expect(c.inputs.logging).toBe("none");
            expect(c.opts.additionalSecretOutputs).toContain("stdin");
        }
        expect(commandNamed(run, "model-server-env").inputs.create).toContain("/etc/triton-platform/secrets/model-server/model-server.env");
        expect(commandNamed(run, "api-key-secret-env").inputs.create).toContain("/etc/triton-platform/secrets/entrypoint/api-key-secret.env");
        for (const c of ofType(run, "command:remote:Command")) {
            for (const value of Object.values(KEYS)) {
                expect(c.inputs.create).not.toContain(value);
            }
        }
    });

    it("writes the claims beside the keys, readable (not secret)", () => {
        const claims = commandNamed(run, "claims");
        expect(isSecret(claims.inputs.stdin)).toBe(false);
        expect(JSON.parse(claims.inputs.stdin)).toMatchObject({ algorithm: "HS256", iss: "model-service", aud: "collaboration-platform", permissions: { "model-inference": ["predict", "healthcheck"] } });
        expect(claims.inputs.create).toContain("chmod 0644");
    });

    it("reaches Docker over ssh:// through the run's ssh-agent: the provider gets only the socket path, no file is written", () => {
        const provider = one(run, "pulumi:providers:docker", "server-docker");
        expect(provider.inputs.host).toBe("ssh://ubuntu@203.0.113.10:22");
        const opts: string[] = JSON.parse(provider.inputs.sshOpts);
        expect(opts).toEqual(expect.arrayContaining([`IdentityAgent=${sshDir}/triton-platform-server.agent`, "UserKnownHostsFile=/dev/null", "StrictHostKeyChecking=no", "BatchMode=yes"]));
        expect(JSON.stringify(provider.inputs)).not.toContain("PRIVATE KEY");
        // Neither a key nor a known_hosts file: the key lives in the agent of a real run only.
        expect(fs.readdirSync(sshDir)).toEqual([]);
        expect(run.logs).toContainEqual(expect.stringMatching(/warn: server\.hostKey is unset/));
    });

    it("pulls the pinned image and keeps it for rollback", () => {
        const image = one(run, "docker:index/remoteImage:RemoteImage");
        expect(image.inputs).toMatchObject({ name: "nvcr.io/nvidia/tritonserver:23.12-py3", keepLocally: true });
        expect(image.provider).toMatch(/::server-docker::/);
    });

    it("runs the model container: 18789 published, key from the mounted file, restart, healthcheck, log rotation", () => {
        const c = one(run, "docker:index/container:Container");
        expect(c.provider).toMatch(/::server-docker::/);
        expect(c.opts.deleteBeforeReplace).toBe(true);
        const i = c.inputs;
        expect(i.name).toBe("triton-model-server");
        expect(i.ports).toEqual([
            { internal: 8000, external: 18789 },
            { internal: 8002, external: 8002, ip: "127.0.0.1" },
        ]);
        // The release that serves (the image's tag), and nothing secret.
        expect(i.envs).toEqual(["TRITON_PLATFORM_RELEASE=23.12-py3"]);
        expect(JSON.stringify(i.envs)).not.toContain(KEYS.tritonAdminKey);
        expect(i.volumes).toContainEqual({ hostPath: "/etc/triton-platform/secrets/model-server", containerPath: "/run/secrets/triton", readOnly: true });
        expect(i.volumes).toContainEqual({ hostPath: "/var/lib/triton-platform/models", containerPath: "/models", readOnly: true });
        // Not the image's root: NVIDIA's triton-server user, the owner of the key file it reads.
        expect(i.user).toBe("1000:1000");
        const start: string = i.entrypoints[2];
        expect(start).toContain(". '/run/secrets/triton/model-server.env'");
        expect(start).toContain('triton-admin-key=${TRITON_ADMIN_KEY}"');
        expect(start).toContain("--http-port=8000");
        expect(i.restart).toBe("unless-stopped");
        expect(i.healthcheck).toMatchObject({ interval: "10s", retries: 3, startPeriod: "7m0s" });
        expect(i.healthcheck.tests.join(" ")).toContain("/v2/health/ready");
        expect(i.logDriver).toBe("json-file");
        expect(i.logOpts).toEqual({ "max-size": "50m", "max-file": "5" });
        expect(i.capabilities).toEqual({ drops: ["ALL"] });
        expect(i.securityOpts).toEqual(["no-new-privileges:true"]);
        expect(JSON.stringify(i)).not.toContain(KEYS.tritonAdminKey);
        // A rewritten key file recreates the container (the label carries the key-file step's id, which
        // the harness's mocks leave empty).
        expect(i.labels.map((l: { label: string }) => l.label)).toContain("triton-platform/key-file-revision");
        expect(i.labels).toContainEqual({ label: "app.kubernetes.io/version", value: "23.12-py3" });
    });

    it("waits, bounded, for /v2/health/ready after each new container", () => {
        const wait = commandNamed(run, "wait-ready");
        expect(dependsOnNames(wait)).toEqual(["server-model-server"]);
        expect(wait.inputs.triggers).toHaveLength(1); // the container's id (empty under the harness's mocks)
        expect(wait.inputs.create).toContain("http://127.0.0.1:18789/v2/health/ready");
        expect(wait.inputs.create).toContain("timeout=420");
    });

    it("exports the endpoint and the R15 troubleshooting commands", () => {
        expect(run.outputs.endpoint).toBe("http://203.0.113.10:18789");
        const t = run.outputs.troubleshooting;
        expect(t.portReachability).toMatch(/nc -vz 203\.0\.113\.10 18789.*telnet 203\.0\.113\.10 18789/);
        expect(t.clockSync).toMatch(/timedatectl/);
        expect(t.containerLogs).toBe("ssh -p 22 ubuntu@203.0.113.10 docker logs --tail 200 triton-model-server");
        expect(t.systemLogs).toMatch(/journalctl/);
        expect(t.containerStats).toMatch(/docker stats/);
        expect(t.gpu).toMatch(/nvidia-smi/);
        expect(t.jwtCheck).toMatch(/token -- --verify/);
    });
});

describe("LightweightServer with a pinned host key, a domain and another SSH port", () => {
    const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTests";

    it("verifies the host strictly in both transports and uses the domain for the endpoint", async () => {
        const run = await runMocked(serverProgram({ host: "203.0.113.10", sshPort: 2222, hostKey, domain: "models.example.com" }), { stack: "server" });
        expect(reveal(commandNamed(run, "install").inputs.connection)).toMatchObject({ port: 2222, hostKey });
        const opts: string[] = JSON.parse(one(run, "pulumi:providers:docker").inputs.sshOpts);
        expect(opts).toContain("StrictHostKeyChecking=yes");
        // The pinned key alone is trusted, printed by ssh's KnownHostsCommand: no known_hosts file.
        expect(opts).toContain(`KnownHostsCommand=/bin/echo [203.0.113.10]:2222 ${hostKey}`);
        expect(fs.readdirSync(sshDir)).toEqual([]);
        expect(one(run, "pulumi:providers:docker").inputs.host).toBe("ssh://ubuntu@203.0.113.10:2222");
        expect(run.outputs.endpoint).toBe("http://models.example.com:18789");
        expect(run.logs.filter((l) => l.startsWith("warn:"))).toEqual([]);
    });
});

describe("the releases kept on the server (R16)", () => {
    const releases = ["nvcr.io/nvidia/tritonserver:24.08-py3", "nvcr.io/nvidia/tritonserver:23.12-py3"];

    it("removes older images only once the current one serves, and again after each new container", async () => {
        const run = await runMocked(serverProgram({ host: "203.0.113.10" }, undefined, releases), { stack: "server" });
        const step = commandNamed(run, "image-retention");
        expect(dependsOnNames(step)).toEqual(["server-wait-ready"]);
        expect(step.inputs.triggers).toHaveLength(1);
        expect(step.inputs.create).toContain("keep=(");
        for (const r of releases) {
            expect(step.inputs.create).toContain(r);
        }
    });

    it("removes nothing without recorded releases", async () => {
        const run = await runMocked(serverProgram({ host: "203.0.113.10" }), { stack: "server" });
        expect(ofType(run, "command:remote:Command").map((c) => c.name)).not.toContain("server-image-retention");
    });

    it("refuses releases that do not hold the images of the server's slots", () => {
        const parsed = parseDefinition({ ...stackFileRaw("server"), releases: ["nvcr.io/nvidia/tritonserver:24.08-py3"] }, { project: PROJECT, stack: "server" });
        expect(parsed.ok).toBe(false);
        for (const slot of ["blue", "green"]) {
            expect(parsed.ok ? [] : parsed.issues.map((i) => `${i.key}: ${i.message}`)).toContainEqual(
                expect.stringMatching(new RegExp(`slots\\.${slot}\\.image: image "nvcr\\.io/nvidia/tritonserver:23\\.12-py3" is not among the recorded releases`)),
            );
        }
        expect(parseDefinition({ ...stackFileRaw("server"), releases: ["nvcr.io/nvidia/tritonserver:23.12-py3"] }, { project: PROJECT, stack: "server" }).ok).toBe(true);
    });
});

describe("the server's blue-green slots in the definition (R16)", () => {
    const parse = (raw: Record<string, unknown>) => parseDefinition(raw, { project: PROJECT, stack: "server" });
    const issues = (r: ReturnType<typeof parse>) => (r.ok ? [] : r.issues.map((i) => `${i.key}: ${i.message}`));
    const withoutSlots = Object.fromEntries(Object.entries(stackFileRaw("server") as Record<string, unknown>).filter(([k]) => k !== "slots" && k !== "activeSlot"));
    const server = withoutSlots.server as Record<string, unknown>;

    it("stops the idle slot by default (one model in memory on a 2-4 GiB server) and accepts warm", () => {
        expect(serverSchema.parse({ host: "h" }).idleSlot).toBe("stopped");
        expect(serverSchema.parse({ host: "h", idleSlot: "warm" }).idleSlot).toBe("warm");
        expect(serverSchema.safeParse({ host: "h", idleSlot: "scaledToZero" }).success).toBe(false);
    });

    it("runs a stack's former server.image in the active slot, the other slot empty, when it sets no slots", () => {
        const image = "nvcr.io/nvidia/tritonserver:24.08-py3";
        const blue = parse({ ...withoutSlots, server: { ...server, image } });
        expect(issues(blue)).toEqual([]);
        expect(blue.ok && blue.definition.slots).toEqual({ blue: { image }, green: {} });
        const green = parse({ ...withoutSlots, activeSlot: "green", server: { ...server, image } });
        expect(green.ok && green.definition.slots).toEqual({ blue: {}, green: { image } });
    });

    it("refuses a server.image that is not the active slot's, and an active slot without an image", () => {
        const slots = { blue: { image: "nvcr.io/nvidia/tritonserver:23.12-py3" }, green: { image: "nvcr.io/nvidia/tritonserver:24.08-py3" } };
        expect(issues(parse({ ...withoutSlots, slots, server: { ...server, image: "nvcr.io/nvidia/tritonserver:24.08-py3" } }))).toContainEqual(
            expect.stringMatching(/server\.image: the server runs slots\.blue\.image \("nvcr\.io\/nvidia\/tritonserver:23\.12-py3"\), not server\.image/),
        );
        expect(issues(parse({ ...withoutSlots, slots, activeSlot: "green", server: { ...server, image: "nvcr.io/nvidia/tritonserver:24.08-py3" } }))).toEqual([]);
        expect(issues(parse({ ...withoutSlots, slots: { blue: {}, green: slots.green } }))).toContainEqual(expect.stringMatching(/slots\.blue\.image: the active slot "blue" has no image/));
    });

    it("refuses Triton ports whose slots' loopback ports would collide, naming modelService.ports", () => {
        const r = parse({ ...stackFileRaw("server"), modelService: { ports: { http: 8000, grpc: 8001, metrics: 8100 } } });
        expect(issues(r)).toContainEqual(expect.stringMatching(/modelService\.ports: the blue slot's http port 8100 \(modelService\.ports\.http \+ 100\) is already taken by the slot router/));
    });
});

describe("the model repository (server.modelSource)", () => {
    it("ships no model repository unless given one (server.modelSource unset)", async () => {
        const run = await runMocked(serverProgram({ host: "203.0.113.10" }), { stack: "server" });
        expect(ofType(run, "command:remote:Command").map((c) => c.name)).not.toContain("server-model-repository");
    });

    it("ships the model repository on stdin before Triton starts, and restarts Triton when it changes", async () => {
        const files = repositoryFiles(stackDefinition("server").models, path.resolve(__dirname, "../../models"));
        const shipped = await runMocked(serverProgram({ host: "203.0.113.10" }, files), { stack: "server" });
        const step = commandNamed(shipped, "model-repository");
        expect(step.inputs.create).toMatch(/^sudo -n bash -c /);
        expect(step.inputs.create).toContain("/var/lib/triton-platform/models");
        expect(step.inputs.stdin).toBe(repositoryPayload(files));
        expect(dependsOnNames(step)).toEqual(["server-install"]);
        const c = one(shipped, "docker:index/container:Container");
        expect(dependsOnNames(c)).toContain("server-model-repository");
        expect(c.inputs.labels).toContainEqual({ label: "triton-platform/model-repository-revision", value: expect.any(String) });
    });
});

describe("the model container's user (not the image's root)", () => {
    const keyStep = (run: RunResult) => reveal(commandNamed(run, "model-server-env").inputs.create) as string;

    it("runs Triton as 1000:1000 by default and gives the admin-key file to that user only", async () => {
        const run = await runMocked(serverProgram({ host: "203.0.113.10" }), { stack: "server" });
        expect(one(run, "docker:index/container:Container").inputs.user).toBe("1000:1000");
        expect(keyStep(run)).toContain("chown 1000:1000 \"$tmp\"");
        expect(keyStep(run)).toContain("chmod 0400 \"$tmp\"");
        expect(keyStep(run)).toContain("install -d -m 0500 \"$dir\"");
    });

    it("follows server.modelContainerUser, and keeps the file root-only when it is 0:0", async () => {
        const other = await runMocked(serverProgram({ host: "203.0.113.10", modelContainerUser: "2000:3000" }), { stack: "server" });
        expect(one(other, "docker:index/container:Container").inputs.user).toBe("2000:3000");
        expect(keyStep(other)).toContain("chown 2000:3000 \"$tmp\"");
        const asRoot = await runMocked(serverProgram({ host: "203.0.113.10", modelContainerUser: "0:0" }), { stack: "server" });
        expect(one(asRoot, "docker:index/container:Container").inputs.user).toBe("0:0");
        expect(keyStep(asRoot)).toContain("chown 0:0 \"$tmp\"");
        expect(keyStep(asRoot)).toContain("chmod 0600 \"$tmp\"");
    });

    it("refuses a user that is not `uid:gid` in numbers", () => {
        for (const user of ["triton-server", "1000", "1000:", "-1:0", "1000:1000:1", "4294967295:0"]) {
            const r = serverSchema.safeParse({ host: "h", modelContainerUser: user });
            expect(r.success, user).toBe(false);
        }
        expect(serverSchema.parse({ host: "h" }).modelContainerUser).toBe("1000:1000");
    });
});

describe("server settings", () => {
    it("refuses root as the SSH user (R3 disables root login)", () => {
        const r = serverSchema.safeParse({ host: "203.0.113.10", user: "root" });
        expect(r.success).toBe(false);
        expect(r.error!.issues[0].message).toMatch(/R3 disables root login over SSH/);
    });

    it("refuses an unpinned image and a malformed host key", () => {
        expect(serverSchema.safeParse({ host: "h", image: "nvcr.io/nvidia/tritonserver:latest" }).success).toBe(false);
        expect(serverSchema.safeParse({ host: "h", hostKey: "not a key" }).success).toBe(false);
    });
});

describe("the server stack (Pulumi.server.yaml)", () => {
    it("is a valid definition: no cluster, a server, valid rules", () => {
        const raw: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(stackFileConfig("server"))) {
            raw[k.slice(PROJECT.length + 1)] = /^[[{]/.test(v) ? JSON.parse(v) : v;
        }
        const result = parseDefinition(raw, { project: PROJECT, stack: "server" });
        expect(result.ok ? [] : result.issues).toEqual([]);
        expect(result.ok && result.definition.cluster.mode).toBe("none");
    });

    it("composes Keys and the LightweightServer from the definition, with no Kubernetes object", async () => {
        const home = process.env.HOME;
        process.env.HOME = sshDir; // the default key folder is under ~/.cache
        try {
            const run = await runMocked(() => deployPlatform(loadDefinition(), readSecrets()), {
                stack: "server",
                config: stackFileConfig("server"),
                secrets: { serverPrivateKey: PRIVATE_KEY },
            });
            expect(run.resources.filter((r) => r.type.startsWith("kubernetes:"))).toEqual([]);
            expect(ofType(run, "triton-platform:keys:Keys")).toHaveLength(1);
            const firewall = reveal(one(run, "command:remote:Command", "server-firewall").inputs.create) as string;
            // The firewall carries the stack's rules: SSH only from the declared CIDR.
            expect(firewall).toContain("ip saddr { 198.51.100.0/24 } meta l4proto tcp ct original proto-dst 22 accept");
            expect(firewall).not.toContain("proto-dst 9100");
            expect(one(run, "pulumi:providers:docker").inputs.sshOpts).toContain("IdentityAgent=/tmp/triton-platform-ssh-%i/triton-platform-server.agent");
            expect(fs.existsSync(path.join(sshDir, ".cache"))).toBe(false);
            expect(Object.keys(run.outputs)).toEqual(expect.arrayContaining(["keysExpireAt", "jwtClaims", "serverEndpoint", "serverTroubleshooting"]));
            expect(run.outputs.serverEndpoint).toBe("http://203.0.113.10:18789");
        } finally {
            process.env.HOME = home;
        }
    });
});
