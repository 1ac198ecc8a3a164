// The object store of the server end-to-end test: MinIO (built from its Go module by
// scripts/install-logsink-tools.sh, as the log-sink tests use it) on this machine's loopback, with a bucket,
// and a plain TCP relay on one address of the test network (HOST_SIDE_IP) so the log shipper inside the test
// host reaches it. The relay copies bytes only: the shipper's SigV4 signature (over the Host header it
// sends) reaches MinIO unchanged. Also returns the collector binary the same script builds, from which the
// test makes the shipper's image.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { freePort } from "../../support/ports";
import { s3Request, S3Target } from "../../support/s3";
import { until } from "../../support/wait";
import { REPO_ROOT } from "./project";

/** A running store. stop() ends MinIO and the relay and removes the data folder. */
export interface LogStore {
    /** The port, the same on the loopback (MinIO) and on `listenOn` (the relay). */
    port: number;
    /** For the test's own requests (127.0.0.1). */
    target: S3Target;
    /** The collector binary scripts/install-logsink-tools.sh built. */
    otelcol: string;
    logTail(lines?: number): string;
    stop(): Promise<void>;
}

/** Builds (or finds in the cache) the collector and MinIO: their paths, or an error naming the script. */
export function logSinkTools(): { otelcol: string; minio: string } {
    const script = path.join(REPO_ROOT, "scripts/install-logsink-tools.sh");
    let out: string;
    try {
        out = execFileSync("bash", [script, "all"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60 * 60_000, maxBuffer: 64 * 1024 * 1024 });
    } catch (e) {
        throw new Error(`scripts/install-logsink-tools.sh all failed (it builds the collector and MinIO from Go modules): ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
    }
    const [otelcol, minio] = out.trim().split("\n");
    return { otelcol, minio };
}

/** Starts MinIO with a fresh bucket and the relay on `listenOn`. Every wait is bounded. */
export async function startLogStore(o: { listenOn: string; bucket: string; region: string }): Promise<LogStore> {
    const tools = logSinkTools();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "server-e2e-store-"));
    const port = await freePort();
    const consolePort = await freePort();
    const target: S3Target = { port, region: o.region, accessKey: "server-e2e", secretKey: crypto.randomBytes(18).toString("hex") };
    const logFile = path.join(work, "minio.log");
    const out = fs.openSync(logFile, "a");
    const minio: ChildProcess = spawn(tools.minio, ["server", "--quiet", "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${consolePort}`, path.join(work, "data")], {
        env: { PATH: process.env.PATH ?? "", HOME: work, MINIO_ROOT_USER: target.accessKey, MINIO_ROOT_PASSWORD: target.secretKey, MINIO_BROWSER: "off" },
        stdio: ["ignore", out, out],
    });
    fs.closeSync(out);
    const sockets = new Set<net.Socket>();
    const relay = net.createServer((client) => {
        const upstream = net.connect({ host: "127.0.0.1", port });
        for (const s of [client, upstream]) {
            sockets.add(s);
            s.on("close", () => sockets.delete(s));
            s.on("error", () => s.destroy());
        }
        client.pipe(upstream);
        upstream.pipe(client);
    });
    const logTail = (lines = 20) => `--- minio.log ---\n${fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8").split("\n").slice(-lines).join("\n") : "(none)"}`;
    const stop = async () => {
        for (const s of sockets) {
            s.destroy();
        }
        await new Promise<void>((r) => relay.close(() => r()));
        if (minio.exitCode === null && minio.signalCode === null) {
            const exited = new Promise<void>((r) => minio.once("exit", () => r()));
            minio.kill("SIGTERM");
            const timer = setTimeout(() => minio.kill("SIGKILL"), 20_000);
            await exited;
            clearTimeout(timer);
        }
        fs.rmSync(work, { recursive: true, force: true });
    };
    try {
        await new Promise<void>((resolve, reject) => {
            relay.once("error", reject);
            relay.listen(port, o.listenOn, () => resolve());
        });
        await until("MinIO to answer", async () => ((await s3Request(target, "GET", o.bucket, { "list-type": "2", "max-keys": "1" })).status < 500 ? true : undefined), 60, logTail);
        const made = await s3Request(target, "PUT", o.bucket);
        if (made.status !== 200) {
            throw new Error(`creating the bucket ${o.bucket}: ${made.status} ${made.body.toString()}`);
        }
    } catch (e) {
        await stop();
        throw e;
    }
    return { port, target, otelcol: tools.otelcol, logTail, stop };
}
