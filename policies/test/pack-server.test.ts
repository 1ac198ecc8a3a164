// Loads the pack the way `pulumi preview --policy-pack policies` does: the Node.js language host runs
// @pulumi/pulumi's cmd/run-policy-pack in policies/, which loads package.json's `main` (main.js: the
// pack's TypeScript through tools/ts-loader.js, not the runner's type-checking ts-node),
// `new PolicyPack` starts the analyzer's gRPC server and prints its port. The test then talks to it
// like the engine: GetAnalyzerInfo, Configure (with the reviewed config), Analyze, AnalyzeStack.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { policies } from "../catalog";
import { PolicyConfigFile, effectiveLevels } from "../report";
import { clusterStack, deployment, edit } from "./fixtures";
import { engineConfig, urnOf } from "./kit";

/* eslint-disable @typescript-eslint/no-require-imports */
const grpc = require("@grpc/grpc-js");
const analyzerpb = require("@pulumi/pulumi/proto/analyzer_pb");
const analyzerrpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const structpb = require("google-protobuf/google/protobuf/struct_pb");
const emptypb = require("google-protobuf/google/protobuf/empty_pb");
/* eslint-enable @typescript-eslint/no-require-imports */

const PACK_DIR = path.resolve(__dirname, "..");
const RUNNER = require.resolve("@pulumi/pulumi/cmd/run-policy-pack");
const example = JSON.parse(fs.readFileSync(path.join(PACK_DIR, "policy-config.example.json"), "utf8")) as PolicyConfigFile;
const LEVEL = analyzerpb.EnforcementLevel as Record<string, number>;

let child: ChildProcess | undefined;
let client: any;

function rpc<T>(method: string, request: unknown): Promise<T> {
    return new Promise((resolve, reject) => client[method](request, (err: unknown, resp: T) => (err ? reject(err) : resolve(resp))));
}

beforeAll(async () => {
    child = spawn(process.execPath, [RUNNER, "127.0.0.1:1", PACK_DIR], { cwd: PACK_DIR, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += String(d)));
    const port = await new Promise<number>((resolve, reject) => {
        let out = "";
        child!.stdout!.on("data", (d) => {
            out += String(d);
            const m = /^(\d+)\s*$/m.exec(out);
            if (m) resolve(Number(m[1]));
        });
        child!.on("exit", (code) => reject(new Error(`the policy pack exited with ${code} before serving:\n${stderr}`)));
    });
    client = new analyzerrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 180_000);

afterAll(() => {
    client?.close();
    if (child?.pid !== undefined && child.exitCode === null) {
        child.kill("SIGTERM");
    }
});

describe("the pack served by the Pulumi policy runtime", () => {
    it("describes itself: name, version and every policy with its default level and config schema", async () => {
        const info: any = await rpc("getAnalyzerInfo", new emptypb.Empty());
        expect(info.getName()).toBe("triton-platform");
        expect(info.getVersion()).toBe("0.1.0");
        const served = info.getPoliciesList().map((p: any) => ({ name: p.getName(), level: p.getEnforcementlevel(), config: p.getConfigschema()?.getProperties()?.toJavaScript() }));
        expect(served.map((p: any) => p.name)).toEqual(policies.map((p) => p.name));
        for (const p of policies) {
            const s = served.find((x: any) => x.name === p.name);
            expect(s.level, p.name).toBe(LEVEL[p.enforcementLevel.toUpperCase()]);
            expect(Object.keys(s.config ?? {}).sort(), p.name).toEqual(Object.keys(p.configSchema?.properties ?? {}).sort());
        }
    });

    it("accepts the reviewed config and reports a mandatory violation of a resource", async () => {
        const levels = effectiveLevels(example);
        const req = new analyzerpb.ConfigureAnalyzerRequest();
        const map = req.getPolicyconfigMap();
        for (const p of policies) {
            const c = new analyzerpb.PolicyConfig();
            c.setEnforcementlevel(LEVEL[levels.get(p.name)!.toUpperCase()]);
            c.setProperties(structpb.Struct.fromJavaScript(engineConfig(p, example as never)));
            map.set(p.name, c);
        }
        await rpc("configure", req);

        const analyze = async (r: ReturnType<typeof deployment>) => {
            const a = new analyzerpb.AnalyzeRequest();
            a.setType(r.type);
            a.setName(r.name);
            a.setUrn(urnOf(r, [r]));
            a.setProperties(structpb.Struct.fromJavaScript(JSON.parse(JSON.stringify(r.props))));
            a.setOptions(new analyzerpb.AnalyzerResourceOptions());
            const resp: any = await rpc("analyze", a);
            return resp.getDiagnosticsList().map((d: any) => ({ policy: d.getPolicyname(), level: d.getEnforcementlevel(), message: d.getMessage() }));
        };
        expect(await analyze(deployment("blue"))).toEqual([]);
        const bad = edit(deployment("blue"), (p) => (p.spec.template.spec.containers[0].ports[0].hostPort = 18789));
        expect(await analyze(bad)).toEqual([
            { policy: "no-host-port", level: LEVEL.MANDATORY, message: expect.stringContaining('Deployment "triton-blue": container "triton" binds a hostPort') },
        ]);
    });

    it("analyzes a compliant stack without a diagnostic", async () => {
        const resources = clusterStack();
        const req = new analyzerpb.AnalyzeStackRequest();
        req.setResourcesList(
            resources.map((r) => {
                const a = new analyzerpb.AnalyzerResource();
                a.setType(r.type);
                a.setName(r.name);
                a.setUrn(urnOf(r, resources));
                a.setProperties(structpb.Struct.fromJavaScript(JSON.parse(JSON.stringify(r.props ?? {}))));
                a.setOptions(new analyzerpb.AnalyzerResourceOptions());
                return a;
            }),
        );
        const resp: any = await rpc("analyzeStack", req);
        expect(resp.getDiagnosticsList().map((d: any) => d.getMessage())).toEqual([]);
    });
});
