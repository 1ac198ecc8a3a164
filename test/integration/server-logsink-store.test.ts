// The server's way of handing the object-store keys to the shipper, for real: the credentials file is
// written by the same stdin step the server runs, and the collector (the pinned version, built by
// scripts/install-logsink-tools.sh) gets only the environment the container gets, with the file's path
// and no key. It must authenticate against a real S3 server (MinIO) and upload a labelled Docker log line.
// This is what replaces `--env-file`, which the Docker API behind @pulumi/docker does not have.
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderConfig, SERVER_COMPONENT_LABEL, serverLogShipper, serverShipperConfig } from "../../components/logsink";
import { awsCredentialsContent, SHIPPER_CREDENTIALS_FILE, shipperContainerArgs } from "../../components/logsink";
import { stdinFileScript } from "../../components/server/scripts";
import { parseDefinition, StackDefinition } from "../../stack/definition";
import { freePort } from "../support/ports";
import { s3Request, S3Response } from "../support/s3";
import { until as waitUntil } from "../support/wait";

const BUCKET = "conversation-logs";
const REGION = "eu-west-1";
const ACCESS_KEY = `AKIA${crypto.randomBytes(8).toString("hex").toUpperCase()}`;
const SECRET_KEY = crypto.randomBytes(24).toString("base64");

const work = fs.mkdtempSync(path.join(os.tmpdir(), "server-logsink-store-"));
const started: ChildProcess[] = [];

afterAll(async () => {
    for (const p of started) {
        if (p.exitCode === null && p.signalCode === null) {
            const exited = new Promise<void>((r) => p.once("exit", () => r()));
            p.kill("SIGTERM");
            const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
            await exited;
            clearTimeout(timer);
        }
    }
    fs.rmSync(work, { recursive: true, force: true });
});

/** A binary built by scripts/install-logsink-tools.sh (cached per version). */
function tool(prefix: string): string {
    const cache = process.env.TOOLCHAIN_CACHE ?? path.join(os.homedir(), ".cache", "triton-platform");
    const dir = path.join(cache, "logsink", "bin");
    const script = fs.readFileSync(path.resolve(__dirname, "../../scripts/install-logsink-tools.sh"), "utf8");
    const version = prefix === "otelcol-logsink" ? /^OTELCOL_VERSION="([^"]+)"/m.exec(script)?.[1] : /^MINIO_VERSION="([^"]+)"/m.exec(script)?.[1];
    const bin = path.join(dir, `${prefix}-${version}`);
    if (!fs.existsSync(bin)) {
        throw new Error(`${bin} is missing: run scripts/install-logsink-tools.sh all`);
    }
    return bin;
}


function start(name: string, cmd: string, args: string[], env: Record<string, string>): string {
    const log = path.join(work, `${name}.log`);
    const out = fs.openSync(log, "a");
    // Only the given environment: no AWS_* variable of the test runner reaches the collector.
    started.push(spawn(cmd, args, { env, stdio: ["ignore", out, out] }));
    fs.closeSync(out);
    return log;
}

/** Waits for `probe`; on failure, the tail of `log` goes into the error. */
function until<T>(what: string, probe: () => Promise<T | undefined>, seconds: number, log?: string): Promise<T> {
    return waitUntil(what, probe, seconds, log ? () => fs.readFileSync(log, "utf8").slice(-3000) : undefined);
}

/** A SigV4-signed request to the store, as the test's own client (path style). */
function s3(port: number, method: string, key: string, query: Record<string, string> = {}): Promise<S3Response> {
    return s3Request({ port, region: REGION, accessKey: ACCESS_KEY, secretKey: SECRET_KEY }, method, key, query);
}

function definition(endpoint: string): StackDefinition {
    const parsed = parseDefinition(
        {
            cluster: { mode: "none" },
            server: { host: "203.0.113.10" },
            // A server stack names its SSH sources (it has no default).
            securityGroup: { sshCidrs: ["198.51.100.0/24"] },
            objectStorage: { endpoint, region: REGION, forcePathStyle: true },
            logSink: { bucket: BUCKET, prefix: "triton", flushIntervalSeconds: 1, bufferSize: "64Mi" },
        },
        { project: "triton-platform", stack: "server" },
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    return parsed.definition;
}

describe("the shipper authenticates with the credentials file the server writes (no key in its environment)", () => {
    let s3Port: number;
    let collectorLog: string;
    let credentialsFile: string;
    const containers = path.join(work, "containers");

    beforeAll(async () => {
        const minio = tool("minio");
        const otelcol = tool("otelcol-logsink");
        s3Port = await freePort();
        const minioLog = start("minio", minio, ["server", "--quiet", "--address", `127.0.0.1:${s3Port}`, "--console-address", `127.0.0.1:${await freePort()}`, path.join(work, "data")], {
            PATH: process.env.PATH ?? "",
            HOME: work,
            MINIO_ROOT_USER: ACCESS_KEY,
            MINIO_ROOT_PASSWORD: SECRET_KEY,
            MINIO_BROWSER: "off",
        });
        await until("MinIO to answer", async () => ((await s3(s3Port, "GET", "")).status === 200 ? true : undefined), 60, minioLog);
        expect((await s3(s3Port, "PUT", BUCKET)).status).toBe(200);

        // The credentials file, written exactly as the server's `logsink-credentials` step writes it.
        const root = path.join(work, "root");
        const script = path.join(work, "credentials-step.sh");
        fs.writeFileSync(script, stdinFileScript({ path: SHIPPER_CREDENTIALS_FILE, mode: "0600", dirMode: "0700" }));
        const wrote = spawnSync("bash", [script], {
            encoding: "utf8",
            input: awsCredentialsContent({ AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: SECRET_KEY }),
            env: { PATH: process.env.PATH ?? "", TRITON_FILES_ROOT: root },
        });
        expect(wrote.stderr).toBe("");
        credentialsFile = path.join(root, SHIPPER_CREDENTIALS_FILE);
        expect(fs.statSync(credentialsFile).mode & 0o777).toBe(0o600);

        // The config and environment of the container, with what only a test changes: local folders and
        // ports, and the credentials file's host path in place of its path inside the container.
        const def = definition(`http://127.0.0.1:${s3Port}`);
        const shipper = serverLogShipper({ definition: def, hostName: "203.0.113.10", staticKeys: true });
        const ports = { health: await freePort(), metrics: await freePort(), loopback: await freePort() };
        const config = serverShipperConfig({
            sink: def.logSink,
            store: def.objectStorage,
            identity: { stack: "server", instance: "triton-platform-server" },
            hostName: "203.0.113.10",
            dockerContainersDir: containers,
            storageDir: path.join(work, "buffer"),
        }) as Record<string, any>;
        config.extensions.health_check.endpoint = `127.0.0.1:${ports.health}`;
        config.service.telemetry.metrics.readers[0].pull.exporter.prometheus.host = "127.0.0.1";
        config.service.telemetry.metrics.readers[0].pull.exporter.prometheus.port = ports.metrics;
        config.exporters["otlp/loopback"].endpoint = `127.0.0.1:${ports.loopback}`;
        config.receivers.otlp.protocols.grpc.endpoint = `127.0.0.1:${ports.loopback}`;
        const configFile = path.join(work, "config.yaml");
        fs.writeFileSync(configFile, renderConfig(config));

        const { envs } = shipperContainerArgs(shipper, { credentialsFile: SHIPPER_CREDENTIALS_FILE, memoryLimit: "512Mi", logRotation: { maxSize: "50m", maxFiles: 5 } });
        const env: Record<string, string> = Object.fromEntries(envs.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
        expect(Object.keys(env).filter((k) => /ACCESS_KEY|SECRET/.test(k))).toEqual([]);
        expect(env.AWS_SHARED_CREDENTIALS_FILE).toBe("/etc/otelcol-logsink/aws-credentials");
        env.AWS_SHARED_CREDENTIALS_FILE = credentialsFile;
        const home = path.join(work, "home"); // empty: no ~/.aws to fall back on
        fs.mkdirSync(home);
        collectorLog = start("otelcol", otelcol, [`--config=${configFile}`], { ...env, PATH: process.env.PATH ?? "", HOME: home });
        await until(
            "the shipper's health endpoint",
            () =>
                new Promise<true | undefined>((resolve) =>
                    http.get({ host: "127.0.0.1", port: ports.health, path: "/" }, (res) => (res.resume(), resolve(res.statusCode === 200 ? true : undefined))).on("error", () => resolve(undefined)),
                ),
            60,
            collectorLog,
        );
    }, 120_000);

    it("uploads a model-server line to the bucket", async () => {
        const id = crypto.randomBytes(6).toString("hex");
        const dir = path.join(containers, "c0ffee");
        fs.mkdirSync(dir, { recursive: true });
        const line = { log: `2024-05-01T12:00:00Z I 1 server.cc:1] request ${id}\n`, stream: "stderr", attrs: { [SERVER_COMPONENT_LABEL]: "model-server" }, time: new Date().toISOString() };
        fs.appendFileSync(path.join(dir, "c0ffee-json.log"), `${JSON.stringify(line)}\n`);
        const body = await until(
            "the line in the bucket",
            async () => {
                const list = await s3(s3Port, "GET", BUCKET, { "list-type": "2", prefix: "triton/" });
                for (const key of [...list.body.toString().matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1])) {
                    const text = zlib.gunzipSync((await s3(s3Port, "GET", `${BUCKET}/${key}`)).body).toString();
                    if (text.includes(id)) return text;
                }
                return undefined;
            },
            60,
            collectorLog,
        );
        expect(body).toContain("model-server");
        expect(fs.readFileSync(collectorLog, "utf8")).not.toMatch(/InvalidAccessKeyId|SignatureDoesNotMatch|NoCredentialProviders|failed to refresh cached credentials/);
    }, 90_000);
});
