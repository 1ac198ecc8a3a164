// The log sink for real (R13): the collector built from the pinned version (scripts/install-logsink-tools.sh)
// runs the configuration the program generates, against a real S3 server (MinIO built from its Go
// module). Lines written to container log files must arrive as gzip objects under
// bucket/prefix/date=YYYY-MM-DD/ with their metadata; while the store is down (and the shipper restarts),
// lines wait in the disk buffer; when the store is back, every line arrives: nothing is lost.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubernetesShipperConfig, renderConfig, SERVER_COMPONENT_LABEL, serverShipperConfig } from "../../components/logsink";
import { parseDefinition, StackDefinition } from "../../stack/definition";
import { freePort } from "../support/ports";
import { s3Request, S3Response } from "../support/s3";
import { until } from "../support/wait";

const ROOT = path.resolve(__dirname, "../..");
const PROJECT = "triton-platform";
const INSTANCE = `${PROJECT}-e2e`;
const BUCKET = "conversation-logs";
const ACCESS_KEY = "logsink-e2e";
const SECRET_KEY = crypto.randomBytes(18).toString("hex");
const REGION = "us-east-1";

type Yaml = Record<string, any>;

// ---------- processes -------------------------------------------------------------------------------

const work = fs.mkdtempSync(path.join(os.tmpdir(), "logsink-e2e-"));
const started: ChildProcess[] = [];


function startProcess(name: string, cmd: string, args: string[], env: Record<string, string>): { proc: ChildProcess; log: string } {
    const log = path.join(work, `${name}.log`);
    const out = fs.openSync(log, "a");
    const proc = spawn(cmd, args, { env: { PATH: process.env.PATH ?? "", HOME: work, ...env }, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    started.push(proc);
    return { proc, log };
}

async function stopProcess(proc: ChildProcess): Promise<void> {
    if (proc.exitCode !== null || proc.signalCode !== null) {
        return;
    }
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
}

afterAll(async () => {
    for (const p of started) {
        await stopProcess(p);
    }
    fs.rmSync(work, { recursive: true, force: true });
});

function s3(port: number, method: string, key: string, query: Record<string, string> = {}, body = Buffer.alloc(0)): Promise<S3Response> {
    return s3Request({ port, region: REGION, accessKey: ACCESS_KEY, secretKey: SECRET_KEY }, method, key, query, body);
}

/** Every object under a prefix: key, raw (stored) bytes, Content-Encoding. */
async function objects(port: number, prefix: string): Promise<{ key: string; raw: Buffer; encoding?: string }[]> {
    const list = await s3(port, "GET", BUCKET, { "list-type": "2", prefix });
    if (list.status !== 200) {
        throw new Error(`list: ${list.status} ${list.body.toString()}`);
    }
    const keys = [...list.body.toString().matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1].replace(/&amp;/g, "&"));
    const out = [];
    for (const key of keys) {
        const got = await s3(port, "GET", `${BUCKET}/${key}`);
        out.push({ key, raw: got.body, encoding: got.headers["content-encoding"] as string | undefined });
    }
    return out;
}

interface Shipped {
    resource: Record<string, string>;
    body: string;
    severity?: string;
    time?: string;
    attributes: Record<string, string>;
}
const attrs = (list: { key: string; value: Record<string, string> }[] = []) =>
    Object.fromEntries(list.map((a) => [a.key, a.value.stringValue ?? a.value.intValue ?? JSON.stringify(a.value)]));

/** The log records of an OTLP JSON object. */
function records(json: Yaml): Shipped[] {
    return (json.resourceLogs ?? []).flatMap((rl: Yaml) =>
        (rl.scopeLogs ?? []).flatMap((sl: Yaml) =>
            (sl.logRecords ?? []).map((r: Yaml) => ({
                resource: attrs(rl.resource?.attributes),
                body: r.body?.stringValue ?? "",
                severity: r.severityText,
                time: r.timeUnixNano,
                attributes: attrs(r.attributes),
            })),
        ),
    );
}

// ---------- tools -------------------------------------------------------------------------------------

function tools(): { otelcol: string; minio: string } {
    // Builds on the first run (minutes), then answers from the cache.
    const out = execFileSync(path.join(ROOT, "scripts/install-logsink-tools.sh"), ["all"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
        .trim()
        .split("\n");
    return { otelcol: out[0], minio: out[1] };
}

function definition(endpoint: string): StackDefinition {
    const parsed = parseDefinition(
        {
            objectStorage: { endpoint, region: REGION, forcePathStyle: true },
            logSink: { bucket: BUCKET, prefix: "triton", flushIntervalSeconds: 1, bufferSize: "64Mi" },
        },
        { project: PROJECT, stack: "e2e" },
    );
    if (!parsed.ok) {
        throw new Error(JSON.stringify(parsed.issues));
    }
    return parsed.definition;
}

/**
 * The generated configuration with what only a test changes: local ports (several collectors may run on
 * one machine) and, for the Kubernetes configuration, the log folder and the API-backed processor.
 */
function localised(config: Yaml, ports: { health: number; metrics: number; loopback: number }): Yaml {
    const c = structuredClone(config);
    c.extensions.health_check.endpoint = `127.0.0.1:${ports.health}`;
    c.service.telemetry.metrics.readers[0].pull.exporter.prometheus.host = "127.0.0.1";
    c.service.telemetry.metrics.readers[0].pull.exporter.prometheus.port = ports.metrics;
    c.exporters["otlp/loopback"].endpoint = `127.0.0.1:${ports.loopback}`;
    c.receivers.otlp.protocols.grpc.endpoint = `127.0.0.1:${ports.loopback}`;
    // Retry sooner than production so the test does not wait a minute after the store comes back.
    c.exporters["otlp/loopback"].retry_on_failure.max_interval = "5s";
    c.exporters["otlp/loopback"].retry_on_failure.initial_interval = "1s";
    return c;
}

/** Whether a shipped record carries a written line's id (ids like x-1 and x-10 must not be confused). */
const carries = (r: Shipped, id: string) => r.body.endsWith(` ${id}`) || r.body.includes(`"${id}"`);

function healthy(port: number): Promise<true | undefined> {
    return new Promise((resolve) =>
        http
            .get({ host: "127.0.0.1", port, path: "/" }, (res) => {
                res.resume();
                resolve(res.statusCode === 200 ? true : undefined);
            })
            .on("error", () => resolve(undefined)),
    );
}

async function metric(port: number, name: string, labels: string): Promise<number | undefined> {
    const text = await new Promise<string>((resolve, reject) =>
        http.get({ host: "127.0.0.1", port, path: "/metrics" }, (res) => {
            let s = "";
            res.on("data", (d) => (s += d));
            res.on("end", () => resolve(s));
        }).on("error", reject),
    );
    const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line ? Number(line.split(" ").pop()) : undefined;
}

// ---------- the test ----------------------------------------------------------------------------------

describe("log sink pipeline against a real S3 server", () => {
    let bin: { otelcol: string; minio: string };
    let s3Port: number;
    let minio: ChildProcess | undefined;
    const dataDir = path.join(work, "minio-data");

    async function startStore(): Promise<void> {
        const consolePort = await freePort();
        minio = startProcess("minio", bin.minio, ["server", "--quiet", "--address", `127.0.0.1:${s3Port}`, "--console-address", `127.0.0.1:${consolePort}`, dataDir], {
            MINIO_ROOT_USER: ACCESS_KEY,
            MINIO_ROOT_PASSWORD: SECRET_KEY,
            MINIO_BROWSER: "off",
        }).proc;
        await until("MinIO to answer", async () => ((await s3(s3Port, "GET", BUCKET, { "list-type": "2", "max-keys": "1" })).status < 500 ? true : undefined), 60);
    }

    beforeAll(async () => {
        bin = tools();
        s3Port = await freePort();
        fs.mkdirSync(dataDir);
        await startStore();
        const made = await s3(s3Port, "PUT", BUCKET);
        expect(made.status, made.body.toString()).toBe(200);
    });

    describe("the lightweight server's configuration (Docker json-file logs)", () => {
        const docker = path.join(work, "docker");
        const storage = path.join(work, "server-storage");
        const logFile = path.join(docker, "c0ffee", "c0ffee-json.log");
        let ports: { health: number; metrics: number; loopback: number };
        let configFile: string;
        let collector: { proc: ChildProcess; log: string } | undefined;
        const written: string[] = [];

        const write = (n: number, tag: string) => {
            const lines: string[] = [];
            for (let i = 0; i < n; i++) {
                const id = `${tag}-${i}`;
                written.push(id);
                const triton = i % 2 === 0;
                const log = triton ? `2024-05-01T12:00:${String(i % 60).padStart(2, "0")}Z W 1 infer_handler.cc:42] slow request ${id}\n` : `${JSON.stringify({ msg: "chat", id })}\n`;
                const component = triton ? "model-server" : "entry-point";
                lines.push(JSON.stringify({ log, stream: "stderr", attrs: { [SERVER_COMPONENT_LABEL]: component }, time: new Date().toISOString() }));
            }
            // A container not labelled for shipping (e.g. the shipper itself) is left out.
            lines.push(JSON.stringify({ log: `not-shipped-${tag}\n`, stream: "stdout", time: new Date().toISOString() }));
            fs.appendFileSync(logFile, `${lines.join("\n")}\n`);
        };
        const startCollector = () => {
            collector = startProcess("otelcol-server", bin.otelcol, [`--config=${configFile}`], {
                AWS_ACCESS_KEY_ID: ACCESS_KEY,
                AWS_SECRET_ACCESS_KEY: SECRET_KEY,
                AWS_REGION: REGION,
                TZ: "UTC",
            });
        };
        const shipped = async () => {
            const all = await objects(s3Port, "triton/");
            return { all, records: all.filter((o) => o.key.includes("_server_")).flatMap((o) => records(JSON.parse(zlib.gunzipSync(o.raw).toString()))) };
        };
        const diagnostics = () => (collector ? fs.readFileSync(collector.log, "utf8").slice(-4000) : "");

        beforeAll(async () => {
            fs.mkdirSync(path.dirname(logFile), { recursive: true });
            ports = { health: await freePort(), metrics: await freePort(), loopback: await freePort() };
            const def = definition(`http://127.0.0.1:${s3Port}`);
            const config = serverShipperConfig({
                sink: def.logSink,
                store: def.objectStorage,
                identity: { stack: "e2e", instance: INSTANCE },
                zone: "zone-a",
                hostName: "models.example.com",
                dockerContainersDir: docker,
                storageDir: storage,
            });
            configFile = path.join(work, "server-config.yaml");
            fs.writeFileSync(configFile, renderConfig(localised(config, ports)));
            startCollector();
            await until("the shipper's health endpoint", () => healthy(ports.health), 60, diagnostics);
        });

        it("uploads gzip objects under bucket/prefix/date=YYYY-MM-DD/ with stack, component, zone and parsed Triton fields", async () => {
            write(20, "first");
            const got = await until(
                "the first lines in the bucket",
                async () => {
                    const s = await shipped();
                    return written.every((id) => s.records.some((r) => carries(r, id))) ? s : undefined;
                },
                120,
                diagnostics,
            );
            const today = new Date().toISOString().slice(0, 10);
            for (const o of got.all) {
                expect(o.key).toMatch(new RegExp(`^triton/date=${today}/${INSTANCE}_server_logs_\\d+\\.json\\.gz$`));
                expect(o.raw.subarray(0, 2).toString("hex")).toBe("1f8b");
                expect(o.encoding).toBe("gzip");
            }
            const triton = got.records.find((r) => carries(r, "first-0"))!;
            expect(triton.resource).toMatchObject({
                "triton_platform.stack": "e2e",
                "triton_platform.instance": INSTANCE,
                "triton_platform.component": "model-server",
                "cloud.availability_zone": "zone-a",
                "host.name": "models.example.com",
            });
            expect(triton.body).toBe("2024-05-01T12:00:00Z W 1 infer_handler.cc:42] slow request first-0");
            expect(triton.severity).toBe("W");
            expect(triton.attributes).toMatchObject({ triton_source: "infer_handler.cc:42", "log.iostream": "stderr" });
            expect(triton.time).toBe(String(Date.parse("2024-05-01T12:00:00Z") * 1e6));
            const entry = got.records.find((r) => carries(r, "first-1"))!;
            expect(entry.resource["triton_platform.component"]).toBe("entry-point");
            expect(entry.attributes).toMatchObject({ msg: "chat", id: "first-1" });
            expect(got.records.some((r) => r.body.includes("not-shipped"))).toBe(false);
        });

        it("loses nothing across an object-store outage and a shipper restart during it", async () => {
            await stopProcess(minio!);
            write(30, "outage");
            // The uploads fail and the lines wait in the disk queue.
            await until(
                "failed uploads while the store is down",
                async () => ((await metric(ports.metrics, "otelcol_exporter_send_failed_log_records_total", 'exporter="awss3"')) ?? 0) > 0 || undefined,
                120,
                diagnostics,
            );
            const queued = await until(
                "the disk queue to hold the lines",
                async () => {
                    const size = await metric(ports.metrics, "otelcol_exporter_queue_size", 'exporter="otlp/loopback"');
                    return size !== undefined && size > 0 ? size : undefined;
                },
                60,
                diagnostics,
            );
            expect(queued).toBeGreaterThan(0);
            // The shipper restarts mid-outage; lines written while it is down are read from the file later.
            await stopProcess(collector!.proc);
            write(10, "shipper-down");
            startCollector();
            write(10, "after-restart");
            await startStore();
            const got = await until(
                "every line in the bucket after the outage",
                async () => {
                    const s = await shipped();
                    const missing = written.filter((id) => !s.records.some((r) => carries(r, id)));
                    return missing.length === 0 ? s : undefined;
                },
                240,
                diagnostics,
            );
            // Every line written before, during and after the outage (and while the shipper was down) arrived.
            const counts = written.map((id) => got.records.filter((r) => carries(r, id)).length);
            expect(counts.filter((n) => n === 0)).toEqual([]);
            expect(written.length).toBe(70);
        });

        afterAll(async () => {
            if (collector) {
                await stopProcess(collector.proc);
            }
        });
    });

    describe("the Kubernetes configuration (CRI logs under /var/log/pods)", () => {
        it("takes namespace, pod and container from the path and parses Triton lines", async () => {
            if (!minio || minio.exitCode !== null || minio.signalCode !== null) {
                await startStore(); // a failed outage test may have left the store stopped
            }
            const pods = path.join(work, "pods");
            const podDir = path.join(pods, "triton_triton-blue-7d9f-abcde_0b1c2d3e-aaaa-bbbb-cccc-123456789012", "triton");
            fs.mkdirSync(podDir, { recursive: true });
            const ports = { health: await freePort(), metrics: await freePort(), loopback: await freePort() };
            const def = definition(`http://127.0.0.1:${s3Port}`);
            const config = localised(
                kubernetesShipperConfig({ sink: def.logSink, store: def.objectStorage, identity: { stack: "e2e", instance: INSTANCE }, namespace: "triton" }),
                ports,
            );
            // No API server here: the k8sattributes processor (slot, zone) is the one part left out.
            config.service.pipelines["logs/collect"].processors = ["memory_limiter", "resource"];
            config.receivers.filelog.include = [String(config.receivers.filelog.include[0]).replace("/var/log/pods", pods)];
            config.extensions.file_storage.directory = path.join(work, "k8s-storage");
            config.extensions.file_storage.compaction.directory = path.join(work, "k8s-storage");
            delete config.processors.k8sattributes;
            const file = path.join(work, "k8s-config.yaml");
            fs.writeFileSync(file, renderConfig(config));
            fs.writeFileSync(
                path.join(podDir, "0.log"),
                [
                    "2024-05-01T12:00:00.000000001Z stderr F 2024-05-01T12:00:00Z I 1 grpc_server.cc:2495] Started GRPCInferenceService k8s-line-1",
                    '2024-05-01T12:00:01.000000001Z stdout F {"msg":"chat","id":"k8s-line-2"}',
                ].join("\n") + "\n",
            );
            const c = startProcess("otelcol-k8s", bin.otelcol, [`--config=${file}`], {
                AWS_ACCESS_KEY_ID: ACCESS_KEY,
                AWS_SECRET_ACCESS_KEY: SECRET_KEY,
                AWS_REGION: REGION,
                TZ: "UTC",
                POD_IP: "127.0.0.1",
                K8S_NODE_NAME: "node-a",
            });
            try {
                const got = await until(
                    "the pod's lines in the bucket",
                    async () => {
                        const all = await objects(s3Port, "triton/");
                        const recs = all.filter((o) => !o.key.includes("_server_")).flatMap((o) => records(JSON.parse(zlib.gunzipSync(o.raw).toString())));
                        return recs.length >= 2 ? recs : undefined;
                    },
                    120,
                    () => fs.readFileSync(c.log, "utf8").slice(-4000),
                );
                const triton = got.find((r) => r.body.includes("k8s-line-1"))!;
                expect(triton.resource).toMatchObject({
                    "k8s.namespace.name": "triton",
                    "k8s.pod.name": "triton-blue-7d9f-abcde",
                    "k8s.pod.uid": "0b1c2d3e-aaaa-bbbb-cccc-123456789012",
                    "k8s.container.name": "triton",
                    "triton_platform.stack": "e2e",
                    "triton_platform.instance": INSTANCE,
                });
                expect(triton.severity).toBe("I");
                expect(triton.attributes.triton_source).toBe("grpc_server.cc:2495");
                const entry = got.find((r) => r.body.includes("k8s-line-2"))!;
                expect(entry.attributes).toMatchObject({ msg: "chat", id: "k8s-line-2" });
            } finally {
                await stopProcess(c.proc);
            }
        });
    });
});
