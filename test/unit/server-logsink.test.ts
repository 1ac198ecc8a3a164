// The server's log shipper (R13) under mocks, composed from the server stack (Pulumi.server.yaml) by
// deployPlatform: the shipper container (pinned image, read-only, no capabilities, loopback-only ports,
// the config serverLogShipper() renders), the config and credentials files (stdin only, credentials
// secret and root-only), Triton's logs labelled for shipping, the readiness check, the object store in
// the server's egress rules, and no secret value in plain text in any registered input or output.
// Plus the pure functions that turn serverLogShipper()'s spec into docker.Container arguments.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverLogShipper, SERVER_COMPONENT_LABEL } from "../../components/logsink";
import {
    awsCredentialsContent,
    containerPathOf,
    SHIPPER_CREDENTIALS_FILE,
    shipperContainerArgs,
    sourceContainerArgs,
} from "../../components/logsink";
import { familiarImageReference } from "../../kit/image-ref";
import { loadDefinition, parseDefinition, readSecrets, StackDefinition } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { one, ofType, PROJECT, Registered, RunResult, runMocked, stackFileConfig } from "../support/harness";

const SECRETS = {
    objectStorageAccessKeyId: "AKIAFAKEFAKE00000001",
    objectStorageSecretAccessKey: "FakeSecretAccessKey/0000+0000000000000002",
    serverPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAFAKEFAKEFAKE3\n-----END OPENSSH PRIVATE KEY-----\n",
};
const SHIPPER_IMAGE = "docker.io/otel/opentelemetry-collector-contrib:0.130.0";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const isSecret = (v: unknown) => v !== null && typeof v === "object" && SECRET_SIG in (v as object);
const reveal = (v: any) => (isSecret(v) ? v.value : v);
/** A value with every secret replaced by a marker: what the state would hold in plain text. */
function plainParts(v: unknown): unknown {
    if (isSecret(v)) return "[secret]";
    if (Array.isArray(v)) return v.map(plainParts);
    if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainParts(x)]));
    return v;
}
/** A value with every secret unwrapped. */
function revealAll(v: unknown): unknown {
    if (isSecret(v)) return revealAll((v as { value: unknown }).value);
    if (Array.isArray(v)) return v.map(revealAll);
    if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revealAll(x)]));
    return v;
}
const dependsOnNames = (r: Registered) => ((r.opts.dependsOn ?? []) as unknown as { __name: string }[]).map((d) => d.__name);

const home = fs.mkdtempSync(path.join(os.tmpdir(), "server-logsink-"));
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

/** Runs the program with the server stack's config (plus overrides, as JSON per top-level key). */
async function serverStack(overrides: Record<string, unknown> = {}, secrets: Partial<typeof SECRETS> = SECRETS): Promise<RunResult> {
    const config = stackFileConfig("server");
    for (const [k, v] of Object.entries(overrides)) {
        config[`${PROJECT}:${k}`] = JSON.stringify(v);
    }
    const previous = process.env.HOME;
    process.env.HOME = home; // the SSH key file lands under ~/.cache
    try {
        return await runMocked(() => deployPlatform(loadDefinition(), readSecrets()), { stack: "server", config, secrets });
    } finally {
        process.env.HOME = previous;
    }
}

/** The server stack's definition, as the program sees it. */
function serverDefinition(): StackDefinition {
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(stackFileConfig("server"))) {
        raw[k.slice(PROJECT.length + 1)] = /^[[{]/.test(v) ? JSON.parse(v) : v;
    }
    const parsed = parseDefinition(raw, { project: PROJECT, stack: "server" });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    return parsed.definition;
}

const command = (run: RunResult, role: string) => one(run, "command:remote:Command", `server-${role}`);
const container = (run: RunResult, role: string) => one(run, "docker:index/container:Container", `server-${role}`);

describe("the server stack's log shipper (static object-store keys)", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await serverStack();
    });

    it("runs the pinned shipper image through the server's Docker engine, kept for rollback", () => {
        const image = one(run, "docker:index/remoteImage:RemoteImage", "server-log-shipper-image");
        expect(image.inputs).toMatchObject({ name: SHIPPER_IMAGE, keepLocally: true });
        expect(image.provider).toMatch(/::server-docker::/);
        expect(container(run, "log-shipper").provider).toMatch(/::server-docker::/);
        expect(container(run, "log-shipper").parent).toBe("triton-platform:server:LightweightServer::server");
    });

    it("hardens the shipper container: read-only, every capability dropped, no new privileges, ports on 127.0.0.1 only", () => {
        const i = container(run, "log-shipper").inputs;
        expect(i.name).toBe("triton-platform-server-log-shipper");
        expect(i.readOnly).toBe(true);
        expect(i.capabilities).toEqual({ drops: ["ALL"] });
        expect(i.securityOpts).toEqual(["no-new-privileges:true"]);
        expect(i.user).toBe("0:0");
        expect(i.ports).toEqual([
            { internal: 13133, external: 13133, ip: "127.0.0.1" },
            { internal: 8888, external: 8888, ip: "127.0.0.1" },
        ]);
        expect(i.restart).toBe("unless-stopped");
        // GOMEMLIMIT (80% of the limit) only helps with a limit to be 80% of.
        expect(i.memory).toBe(512);
        expect(i.envs).toContain(`GOMEMLIMIT=${Math.floor(512 * 2 ** 20 * 0.8)}`);
    });

    it("reads Docker's container logs read-only; the disk buffer is its only writable mount", () => {
        const i = container(run, "log-shipper").inputs;
        expect(i.command).toEqual(["--config=/etc/otelcol-logsink/config.yaml"]);
        expect(i.volumes).toEqual([
            { hostPath: "/var/lib/docker/containers", containerPath: "/var/lib/docker/containers", readOnly: true },
            { hostPath: "/var/lib/triton-platform/logsink", containerPath: "/var/lib/otelcol-logsink", readOnly: false },
            { hostPath: "/etc/triton-platform/logsink", containerPath: "/etc/otelcol-logsink", readOnly: true },
        ]);
    });

    it("writes the config serverLogShipper() renders for this stack to /etc/triton-platform/logsink/config.yaml", () => {
        const def = serverDefinition();
        const expected = serverLogShipper({ definition: def, hostName: "203.0.113.10", staticKeys: true });
        const step = command(run, "logsink-config");
        expect(isSecret(step.inputs.stdin)).toBe(false);
        expect(step.inputs.stdin).toBe(expected.config);
        expect(step.inputs.create).toContain("/etc/triton-platform/logsink/config.yaml");
        expect(step.inputs.create).toContain("chmod 0644");
        const config = JSON.parse(step.inputs.stdin);
        expect(config.exporters.awss3.s3uploader).toMatchObject({ s3_bucket: def.logSink.bucket, s3_prefix: def.logSink.prefix, endpoint: def.objectStorage.endpoint });
        expect(config.processors.resource.attributes).toContainEqual({ key: "host.name", value: "203.0.113.10", action: "upsert" });
    });

    it("sends the object-store keys on stdin only, as a secret, unlogged, into a root-only 0600 file", () => {
        const step = command(run, "logsink-credentials");
        expect(isSecret(step.inputs.stdin)).toBe(true);
        expect(reveal(step.inputs.stdin)).toBe(
            awsCredentialsContent({ AWS_ACCESS_KEY_ID: SECRETS.objectStorageAccessKeyId, AWS_SECRET_ACCESS_KEY: SECRETS.objectStorageSecretAccessKey }),
        );
        expect(step.inputs.logging).toBe("none");
        expect(step.opts.additionalSecretOutputs).toContain("stdin");
        expect(step.inputs.create).toMatch(/^sudo -n bash -c '/);
        expect(step.inputs.create).toContain(SHIPPER_CREDENTIALS_FILE);
        expect(step.inputs.create).toContain("chmod 0600");
        expect(step.inputs.create).toContain("install -d -m 0700");
    });

    it("gives the container only the credentials file's path, in its read-only config mount", () => {
        const envs: string[] = container(run, "log-shipper").inputs.envs;
        expect(envs).toContain("AWS_SHARED_CREDENTIALS_FILE=/etc/otelcol-logsink/aws-credentials");
        expect(envs).toEqual(expect.arrayContaining(["AWS_REGION=us-east-1", "TZ=UTC"]));
        expect(envs.filter((e) => /^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)=/.test(e))).toEqual([]);
    });

    it("carries the object-store keys in no registered input but the credentials step's secret stdin, and in no output", () => {
        // Secrets revealed: an encrypted input still reaches the provider (a container's env or hostname
        // shows in `docker inspect`), so the only allowed place is the stdin of the credentials step.
        const keys = [SECRETS.objectStorageAccessKeyId, SECRETS.objectStorageSecretAccessKey];
        const holders = run.resources.flatMap((r) => {
            const inputs = { ...r.inputs };
            if (r.name === "server-logsink-credentials") {
                expect(isSecret(inputs.stdin)).toBe(true);
                delete inputs.stdin;
            }
            const text = JSON.stringify(revealAll(inputs));
            return keys.filter((k) => text.includes(k)).map(() => `${r.type} ${r.name}`);
        });
        expect(holders).toEqual([]);
        expect(JSON.stringify(run.outputs)).not.toMatch(/AKIAFAKE|FakeSecretAccessKey/);
    });

    it("puts no secret value in plain text into any registered input", () => {
        const values = Object.values(SECRETS).flatMap((v) => [v, v.trim().split("\n")[1]]);
        for (const r of run.resources) {
            const text = JSON.stringify(plainParts(r.inputs));
            for (const v of values) {
                expect(text.includes(v), `${r.type} ${r.name} holds a secret in plain text`).toBe(false);
            }
        }
    });

    it("creates the disk buffer and config folders before the container starts, and recreates it when a file changes", () => {
        const folders = command(run, "logsink-folders");
        expect(folders.inputs.create).toContain("ensure_folder '\\''/var/lib/triton-platform/logsink'\\'' 0700");
        expect(folders.inputs.create).toContain("ensure_folder '\\''/etc/triton-platform/logsink'\\'' 0700");
        const shipper = container(run, "log-shipper");
        expect(dependsOnNames(shipper)).toEqual(["server-logsink-folders", "server-logsink-config", "server-logsink-credentials", "server-firewall"]);
        expect(shipper.opts.deleteBeforeReplace).toBe(true);
        const revisions = (shipper.inputs.labels as { label: string; value: string }[]).filter((l) => l.label.endsWith("-file-revision"));
        expect(revisions).toEqual([
            { label: "triton-platform/config-file-revision", value: "server-logsink-config-id" },
            { label: "triton-platform/credentials-file-revision", value: "server-logsink-credentials-id" },
        ]);
        expect(shipper.inputs.labels).toContainEqual({ label: "app.kubernetes.io/component", value: "log-shipper" });
        expect(shipper.inputs.labels).toContainEqual({ label: "app.kubernetes.io/version", value: "0.130.0" });
        // The shipper's own logs are not shipped: it does not carry the source label.
        expect((shipper.inputs.labels as { label: string }[]).map((l) => l.label)).not.toContain(SERVER_COMPONENT_LABEL);
    });

    it("starts Triton with the source label in its json-file log lines, so the shipper picks its logs", () => {
        const triton = container(run, "model-server-blue").inputs;
        expect(triton.labels).toContainEqual({ label: SERVER_COMPONENT_LABEL, value: "model-server" });
        expect(triton.logDriver).toBe("json-file");
        expect(triton.logOpts).toEqual({ labels: SERVER_COMPONENT_LABEL, "max-size": "50m", "max-file": "5" });
    });

    it("checks, after each new shipper container, that it runs the pinned image and answers its health endpoint", () => {
        const ready = command(run, "logsink-ready");
        expect(dependsOnNames(ready)).toEqual(["server-log-shipper"]);
        expect(ready.inputs.triggers).toHaveLength(1);
        expect(ready.inputs.create).toMatch(/^sudo -n bash -c '/);
        expect(ready.inputs.create).toContain("expected_ref='\\''otel/opentelemetry-collector-contrib:0.130.0'\\''");
        expect(ready.inputs.create).toContain("health_url='\\''http://127.0.0.1:13133/'\\''");
    });

    it("exports where the logs land and how to look at the shipper", () => {
        expect(run.outputs.serverLogDestination).toBe("s3://conversation-logs/triton/");
        expect(run.outputs.serverTroubleshooting.logShipperLogs).toBe("ssh -p 22 ubuntu@203.0.113.10 docker logs --tail 200 triton-platform-server-log-shipper");
    });

    it("lets the server reach the object store through its restricted egress (host and containers)", () => {
        const firewall = command(run, "firewall").inputs.create as string;
        expect(firewall).toMatch(/meta nfproto ipv4 meta l4proto tcp ct original proto-dst 443 accept comment "\[100\] object storage s3\.us-east-1\.amazonaws\.com/);
    });
});

describe("the server's log shipper in other configurations", () => {
    it("opens the object store's own port when the endpoint is not on 80/443", async () => {
        const run = await serverStack({ objectStorage: { endpoint: "http://198.51.100.50:9000", region: "eu-west-1", forcePathStyle: true } });
        const firewall = command(run, "firewall").inputs.create as string;
        expect(firewall).toContain("ip daddr { 198.51.100.50/32 } meta l4proto tcp ct original proto-dst 9000 accept");
        const config = JSON.parse(command(run, "logsink-config").inputs.stdin);
        expect(config.exporters.awss3.s3uploader).toMatchObject({ endpoint: "http://198.51.100.50:9000", s3_force_path_style: true, disable_ssl: true });
    });

    it("records the server's zone on every shipped line when server.zone is set, and no zone otherwise", async () => {
        const server = JSON.parse(stackFileConfig("server")[`${PROJECT}:server`]);
        const zoned = await serverStack({ server: { ...server, zone: "cn-shanghai-b" } });
        const attributes = (run: RunResult) => JSON.parse(command(run, "logsink-config").inputs.stdin).processors.resource.attributes;
        expect(attributes(zoned)).toContainEqual({ key: "cloud.availability_zone", value: "cn-shanghai-b", action: "upsert" });
        expect(attributes(await serverStack()).map((a: { key: string }) => a.key)).not.toContain("cloud.availability_zone");
    });

    it("writes no credentials file without static keys, and says the SDK's default chain is used", async () => {
        const run = await serverStack({}, { serverPrivateKey: SECRETS.serverPrivateKey });
        expect(ofType(run, "command:remote:Command").map((c) => c.name)).not.toContain("server-logsink-credentials");
        const shipper = container(run, "log-shipper");
        expect((shipper.inputs.envs as string[]).some((e) => e.startsWith("AWS_SHARED_CREDENTIALS_FILE="))).toBe(false);
        expect(dependsOnNames(shipper)).toEqual(["server-logsink-folders", "server-logsink-config", "server-firewall"]);
        expect(run.logs).toContainEqual(expect.stringMatching(/info: the server's log shipper has no static object-store keys/));
    });

    it("writes a private CA bundle beside the config and points the AWS SDK at it", async () => {
        const caBundle = "-----BEGIN CERTIFICATE-----\nMIIBfakefake\n-----END CERTIFICATE-----\n";
        const run = await serverStack({ logSink: { caBundle } });
        const ca = command(run, "logsink-ca");
        expect(ca.inputs.stdin).toBe(caBundle);
        expect(ca.inputs.create).toContain("/etc/triton-platform/logsink/ca.crt");
        expect(container(run, "log-shipper").inputs.envs).toContain("AWS_CA_BUNDLE=/etc/otelcol-logsink/ca.crt");
        expect(dependsOnNames(container(run, "log-shipper"))).toContain("server-logsink-ca");
    });

    it("runs no shipper, and leaves Triton's and the gateway's logging alone, when logSink.enabled is false", async () => {
        const run = await serverStack({ logSink: { enabled: false } });
        expect(ofType(run, "docker:index/container:Container").map((c) => c.name).sort()).toEqual(["server-gateway", "server-model-server-blue", "server-model-server-green"]);
        expect(ofType(run, "command:remote:Command").filter((c) => c.name.includes("logsink"))).toEqual([]);
        for (const role of ["model-server-blue", "model-server-green", "gateway"]) {
            const c = container(run, role).inputs;
            expect((c.labels as { label: string }[]).map((l) => l.label)).not.toContain(SERVER_COMPONENT_LABEL);
            expect(c.logOpts).toEqual({ "max-size": "50m", "max-file": "5" });
        }
        expect(run.outputs.serverLogDestination).toBeUndefined();
    });
});

describe("serverLogShipper()'s spec as docker.Container arguments", () => {
    const def = serverDefinition();
    const shipper = serverLogShipper({ definition: def, hostName: "203.0.113.10", staticKeys: true });

    it("turns the source container options into json-file logging with the label copied into each line", () => {
        const args = sourceContainerArgs(shipper.sourceContainerOptions("entry-point"), { maxSize: "100m", maxFiles: 3 });
        expect(args).toEqual({
            logDriver: "json-file",
            // The server's own rotation setting wins over the sizes in the options.
            logOpts: { labels: SERVER_COMPONENT_LABEL, "max-size": "100m", "max-file": "3" },
            labels: [{ label: SERVER_COMPONENT_LABEL, value: "entry-point" }],
        });
    });

    it("refuses source options it does not know, or a log driver the shipper cannot read", () => {
        const rotation = { maxSize: "50m", maxFiles: 5 };
        expect(() => sourceContainerArgs(["--log-driver=json-file", "--network=host"], rotation)).toThrow(/unsupported docker run option.*--network=host/);
        expect(() => sourceContainerArgs(["--log-driver=journald"], rotation)).toThrow(/json-file logs, but the source options ask for the log driver journald/);
        expect(() => sourceContainerArgs(["--log-driver=json-file", "--label=novalue"], rotation)).toThrow(/expected --label=<key>=<value>/);
    });

    it("writes the credentials as the [default] profile of an AWS shared-credentials file", () => {
        expect(awsCredentialsContent({ AWS_ACCESS_KEY_ID: "AKIA1", AWS_SECRET_ACCESS_KEY: "s/e+c=" })).toBe(
            "# Object-store credentials of the log shipper (AWS shared-credentials format). Generated by Pulumi.\n[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s/e+c=\n",
        );
    });

    it("refuses a credential value the file cannot carry, without showing it, and an unknown name", () => {
        let message = "";
        try {
            awsCredentialsContent({ AWS_SECRET_ACCESS_KEY: "abc #def" });
        } catch (e) {
            message = (e as Error).message;
        }
        expect(message).toMatch(/the value of AWS_SECRET_ACCESS_KEY is empty or has characters/);
        expect(message).not.toContain("abc");
        expect(() => awsCredentialsContent({ AWS_ACCESS_KEY_ID: "" })).toThrow(/AWS_ACCESS_KEY_ID is empty/);
        expect(() => awsCredentialsContent({ MINIO_ROOT_USER: "x" })).toThrow(/MINIO_ROOT_USER, which the AWS shared-credentials file has no key for/);
    });

    it("maps a host file to its path inside the container, and refuses one outside every mount", () => {
        expect(containerPathOf(SHIPPER_CREDENTIALS_FILE, shipper.container.mounts)).toBe("/etc/otelcol-logsink/aws-credentials");
        expect(() => containerPathOf("/etc/triton-platform/secrets/x", shipper.container.mounts)).toThrow(/in none of the container's mounts/);
        // A sibling folder whose name merely starts like a mount's is not inside it.
        expect(() => containerPathOf("/etc/triton-platform/logsink-old/x", shipper.container.mounts)).toThrow(/in none/);
    });

    it("names an image the way docker image inspect lists it", () => {
        expect(familiarImageReference(SHIPPER_IMAGE)).toBe("otel/opentelemetry-collector-contrib:0.130.0");
        expect(familiarImageReference("docker.io/library/busybox:1.36")).toBe("busybox:1.36");
        expect(familiarImageReference("nvcr.io/nvidia/tritonserver:23.12-py3")).toBe("nvcr.io/nvidia/tritonserver:23.12-py3");
        const digest = `sha256:${"a".repeat(64)}`;
        expect(familiarImageReference(`docker.io/otel/opentelemetry-collector-contrib:0.130.0@${digest}`)).toBe(`otel/opentelemetry-collector-contrib@${digest}`);
    });

    it("takes the container's arguments from the spec and adds only the credentials file's path", () => {
        const args = shipperContainerArgs(shipper, { credentialsFile: SHIPPER_CREDENTIALS_FILE, memoryLimit: "1Gi", logRotation: { maxSize: "10m", maxFiles: 2 } });
        expect(args.name).toBe(shipper.container.name);
        expect(args.command).toEqual(shipper.container.args);
        expect(args.envs).toEqual([...Object.entries(shipper.container.env).map(([k, v]) => `${k}=${v}`), "AWS_SHARED_CREDENTIALS_FILE=/etc/otelcol-logsink/aws-credentials"]);
        expect(args.memory).toBe(1024);
        expect(args.logOpts).toEqual({ "max-size": "10m", "max-file": "2" });
        expect(shipperContainerArgs(shipper, { memoryLimit: "512Mi", logRotation: { maxSize: "10m", maxFiles: 2 } }).envs.join(" ")).not.toContain("AWS_SHARED_CREDENTIALS_FILE");
    });
});
