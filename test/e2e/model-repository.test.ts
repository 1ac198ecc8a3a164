// The example model repository (models/) on a real Triton 2.51 (CPU, from PyPI's nvidia-pytriton:
// scripts/install-triton.sh), on the loopback: its config.pbtxt is the one the program generates from
// Pulumi.server.yaml's `models` entry, Triton reports every one of those settings back, and the model
// answers the fixed interface the dialogue service codes against (QUERY, HISTORY -> REPLY).
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { modelConfigPbtxt } from "../../components/model-service/model-config";
import type { ModelSettings } from "../../components/model-service/schema";
import { stackDefinition } from "../support/definitions";
import { freePort } from "../support/ports";

const ROOT = path.resolve(__dirname, "../..");
const RELEASE = "release-under-test";

let work: string;
let triton: ChildProcess | undefined;
let base: string;
let model: ModelSettings;

interface InferResponse {
    outputs?: { name: string; datatype: string; shape: number[]; data: string[] }[];
    error?: string;
}

async function infer(rows: { query: string; history: string }[]): Promise<{ status: number; body: InferResponse }> {
    const res = await fetch(`${base}/v2/models/dialogue/infer`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
            inputs: [
                { name: "QUERY", datatype: "BYTES", shape: [rows.length, 1], data: rows.map((r) => r.query) },
                { name: "HISTORY", datatype: "BYTES", shape: [rows.length, 1], data: rows.map((r) => r.history) },
            ],
        }),
    });
    return { status: res.status, body: (await res.json()) as InferResponse };
}

beforeAll(async () => {
    model = stackDefinition("server").models.find((m) => m.name === "dialogue")!;
    const install = spawnSync("bash", [path.join(ROOT, "scripts/install-triton.sh"), "--print-path"], { encoding: "utf8", timeout: 15 * 60_000 });
    if (install.status !== 0) {
        throw new Error(`scripts/install-triton.sh failed (exit ${install.status}):\n${install.stderr}`);
    }
    const bin = install.stdout.trim();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "model-repository-"));
    const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
    base = `http://127.0.0.1:${http}`;
    const log = fs.openSync(path.join(work, "triton.log"), "a");
    triton = spawn(
        bin,
        [
            `--model-repository=${path.join(ROOT, "models")}`,
            `--backend-directory=${path.join(path.dirname(bin), "..", "backends")}`,
            "--model-control-mode=none",
            "--strict-readiness=true",
            "--http-address=127.0.0.1",
            `--http-port=${http}`,
            `--grpc-port=${grpc}`,
            "--grpc-address=127.0.0.1",
            `--metrics-port=${metrics}`,
            "--metrics-address=127.0.0.1",
        ],
        { env: { PATH: "/usr/bin:/bin", HOME: work, TRITON_PLATFORM_RELEASE: RELEASE }, stdio: ["ignore", log, log] },
    );
    fs.closeSync(log);
    const deadline = Date.now() + 120_000;
    for (;;) {
        if (triton.exitCode !== null) {
            throw new Error(`tritonserver exited ${triton.exitCode}:\n${fs.readFileSync(path.join(work, "triton.log"), "utf8").slice(-3000)}`);
        }
        const ready = await fetch(`${base}/v2/health/ready`).then((r) => r.status, () => 0);
        if (ready === 200) {
            break;
        }
        if (Date.now() > deadline) {
            throw new Error(`tritonserver not ready after 120 s:\n${fs.readFileSync(path.join(work, "triton.log"), "utf8").slice(-3000)}`);
        }
        await new Promise((r) => setTimeout(r, 500));
    }
}, 20 * 60_000);

afterAll(async () => {
    if (triton && triton.exitCode === null) {
        const exited = new Promise((r) => triton!.once("exit", r));
        triton.kill("SIGTERM");
        const timer = setTimeout(() => triton!.kill("SIGKILL"), 30_000);
        await exited;
        clearTimeout(timer);
    }
    if (work) {
        fs.rmSync(work, { recursive: true, force: true });
    }
});

describe("the example model repository", () => {
    it("holds the config.pbtxt the program generates from Pulumi.server.yaml's models entry", () => {
        expect(fs.readFileSync(path.join(ROOT, "models/dialogue/config.pbtxt"), "utf8")).toBe(modelConfigPbtxt(model, { gpu: false }));
    });

    it("declares the interface the dialogue service uses: python on CPU, batches of 32, QUERY and HISTORY in, REPLY out", () => {
        expect(model).toMatchObject({ platform: "python", maxBatchSize: 32, dynamicBatching: { enabled: true } });
        const tensors = (ts: ModelSettings["inputs"]) => ts.map((t) => [t.name, t.dataType, t.dims]);
        expect(tensors(model.inputs)).toEqual([
            ["QUERY", "TYPE_STRING", [1]],
            ["HISTORY", "TYPE_STRING", [1]],
        ]);
        expect(tensors(model.outputs)).toEqual([["REPLY", "TYPE_STRING", [1]]]);
    });
});

describe("a real Triton serving models/", () => {
    it("reports every generated setting back (/v2/models/dialogue/config)", async () => {
        const res = await fetch(`${base}/v2/models/dialogue/config`);
        expect(res.status).toBe(200);
        const config = (await res.json()) as Record<string, unknown>;
        const io = (list: unknown) => (list as { name: string; data_type: string; dims: number[] }[]).map((t) => [t.name, t.data_type, t.dims]);
        expect(config.name).toBe(model.name);
        expect(config.backend).toBe("python");
        expect(config.max_batch_size).toBe(model.maxBatchSize);
        expect(io(config.input)).toEqual(model.inputs.map((t) => [t.name, t.dataType, t.dims]));
        expect(io(config.output)).toEqual(model.outputs.map((t) => [t.name, t.dataType, t.dims]));
        expect(config.dynamic_batching).toMatchObject({
            preferred_batch_size: model.dynamicBatching.preferredBatchSizes,
            max_queue_delay_microseconds: model.dynamicBatching.maxQueueDelayMicroseconds,
        });
        expect(config.instance_group).toEqual([expect.objectContaining({ kind: "KIND_CPU", count: model.instanceCount })]);
        expect(config.parameters).toEqual({ triton_platform_precision: { string_value: model.precision } });
    });

    it("answers QUERY with the release, the turn (1 + user turns in HISTORY) and the query", async () => {
        const history = JSON.stringify([
            { role: "user", content: "hi" },
            { role: "assistant", content: "[x] turn 1: you said \"hi\"" },
            { role: "user", content: "and then?" },
            { role: "assistant", content: "..." },
        ]);
        const { status, body } = await infer([
            { query: "hello", history: "[]" },
            { query: "  what now? ", history },
        ]);
        expect(status, JSON.stringify(body)).toBe(200);
        expect(body.outputs).toEqual([
            { name: "REPLY", datatype: "BYTES", shape: [2, 1], data: [`[${RELEASE}] turn 1: you said "hello"`, `[${RELEASE}] turn 3: you said "what now?"`] },
        ]);
    });

    it("refuses a HISTORY that is not a JSON array of turns, saying so", async () => {
        const bad = await infer([{ query: "hello", history: '{"role":"user"}' }]);
        expect(bad.status).toBe(400);
        expect(bad.body.error).toMatch(/HISTORY must be a JSON array/);
        const badTurn = await infer([{ query: "hello", history: '[{"role":"user"}]' }]);
        expect(badTurn.status).toBe(400);
        expect(badTurn.body.error).toMatch(/HISTORY\[0\] must be an object with string fields role and content/);
    });
});
