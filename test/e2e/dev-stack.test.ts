// The main job for real: `pulumi up` of the dev stack renders manifests, a second `up` changes nothing,
// a blue-green switch previews as one routing update, secrets stay encrypted in the state, `destroy`
// removes everything. Real CLI, language host and kubernetes/random providers; no mocks.
import { Stack } from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, listFiles, makeSandbox, openStack, repoStackFile, Sandbox } from "./support/project";

interface Manifest {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    spec?: any;
    data?: Record<string, string>;
    stringData?: Record<string, string>;
}

function readManifests(dir: string): Manifest[] {
    return listFiles(dir)
        .filter((f) => f.endsWith(".yaml"))
        .flatMap((f) => yaml.loadAll(fs.readFileSync(path.join(dir, f), "utf8")) as Manifest[])
        .filter(Boolean);
}

describe("dev stack on the real engine", () => {
    let sandbox: Sandbox;
    let stack: Stack;
    let manifestsDir: string;

    beforeAll(async () => {
        sandbox = makeSandbox({ dev: repoStackFile("dev") });
        stack = await openStack(sandbox, "dev");
        manifestsDir = path.join(sandbox.dir, "out/manifests/dev");
    });
    afterAll(() => sandbox?.cleanup());

    it("renders the platform's manifests on `up`", async () => {
        const result = await stack.up();
        expect(result.summary.result).toBe("succeeded");
        const manifests = readManifests(manifestsDir);
        const kinds = manifests.map((m) => m.kind);
        const ofComponent = (kind: string, component: string) =>
            manifests.filter((m) => m.kind === kind && m.metadata.labels?.["app.kubernetes.io/component"] === component);
        expect(ofComponent("Deployment", "model-server")).toHaveLength(2);
        expect(ofComponent("HorizontalPodAutoscaler", "model-server")).toHaveLength(2);
        expect(ofComponent("PodDisruptionBudget", "model-server")).toHaveLength(2);
        expect(ofComponent("Deployment", "gateway")).toHaveLength(1);
        expect(kinds).toContain("Ingress");
        expect(kinds).toContain("PrometheusRule");
        expect(kinds).toContain("DaemonSet");
        expect(kinds).toContain("Namespace");
        expect(kinds).toContain("NetworkPolicy");
        for (const m of manifests) {
            if (m.kind !== "Namespace") {
                expect(m.metadata.namespace, `${m.kind} ${m.metadata.name}`).not.toBe("default");
            }
        }
        const deployments = manifests.filter((m) => m.kind === "Deployment" && m.metadata.labels?.["app.kubernetes.io/component"] === "model-server");
        expect(deployments).toHaveLength(2);
        for (const d of deployments) {
            const pod = d.spec.template.spec;
            const triton = pod.containers.find((c: any) => c.name === "triton");
            expect(triton.livenessProbe).toMatchObject({ httpGet: { path: "/v2/health/live" }, initialDelaySeconds: 30, periodSeconds: 10 });
            expect(triton.readinessProbe.httpGet.path).toBe("/v2/health/ready");
            expect(triton.startupProbe).toBeDefined();
            expect(pod.topologySpreadConstraints.map((c: any) => c.topologyKey)).toContain("topology.kubernetes.io/zone");
            expect(d.spec.replicas).toBeUndefined();
        }
        const text = listFiles(manifestsDir).map((f) => fs.readFileSync(path.join(manifestsDir, f), "utf8")).join("\n");
        expect(text).not.toMatch(/image: \S+:latest\b/);
    });

    it("reports no changes on a second `up`", async () => {
        const result = await stack.up();
        const changes = Object.entries(result.summary.resourceChanges ?? {}).filter(([op]) => op !== "same");
        expect(changes).toEqual([]);
    });

    it("keeps generated keys out of the state in plain text", async () => {
        const plain = cli(sandbox, ["stack", "export", "--stack", "dev", "--show-secrets"]);
        expect(plain.code).toBe(0);
        const revealed = JSON.parse(plain.stdout);
        const randoms = revealed.deployment.resources.filter((r: any) => r.type.startsWith("random:"));
        expect(randoms.length).toBeGreaterThanOrEqual(5);
        // `--show-secrets` keeps the secret envelope and puts the JSON-encoded value in `plaintext`.
        const reveal = (v: any): unknown => (v && typeof v === "object" && "plaintext" in v ? JSON.parse(v.plaintext) : v);
        const values: string[] = randoms
            .map((r: any) => reveal(r.outputs.result ?? r.outputs.hex ?? r.outputs.base64))
            .filter((v: unknown): v is string => typeof v === "string" && v.length >= 32);
        expect(values.length).toBe(randoms.length);
        // The state at rest: every file the backend wrote (checkpoint, history, backups), and the CLI's
        // export without --show-secrets (the Automation API's exportStack() reveals secrets).
        const atRest = listFiles(sandbox.backend).map((f) => fs.readFileSync(path.join(sandbox.backend, f), "utf8"));
        expect(atRest.length).toBeGreaterThan(0);
        const exported = cli(sandbox, ["stack", "export", "--stack", "dev"]);
        expect(exported.code).toBe(0);
        for (const v of values) {
            expect(atRest.some((text) => text.includes(v))).toBe(false);
            expect(exported.stdout.includes(v)).toBe(false);
        }
        // Render mode, by contrast, writes Secrets in plain text (documented; out/ is git-ignored).
        const secretValues = readManifests(manifestsDir)
            .filter((m) => m.kind === "Secret")
            .flatMap((m) => [
                ...Object.values(m.stringData ?? {}),
                ...Object.values(m.data ?? {}).map((b64) => Buffer.from(b64, "base64").toString("utf8")),
            ]);
        expect(values.some((v) => secretValues.includes(v))).toBe(true);
    });

    it("previews a blue-green switch as routing updates only, then switches and rolls back", async () => {
        await stack.setConfig("activeSlot", { value: "green" });
        const ops: { op: string; urn: string }[] = [];
        const preview = await stack.preview({
            onEvent: (e) => {
                if (e.resourcePreEvent) {
                    ops.push({ op: e.resourcePreEvent.metadata.op, urn: e.resourcePreEvent.metadata.urn });
                }
            },
        });
        const changed = ops.filter((o) => o.op !== "same");
        expect(changed.map((o) => o.op)).toEqual(changed.map(() => "update"));
        expect(changed.map((o) => o.urn.split("::").pop())).toEqual(["triton"]);
        expect(preview.changeSummary.replace ?? 0).toBe(0);
        expect(preview.changeSummary.delete ?? 0).toBe(0);

        await stack.up();
        const routing = () =>
            readManifests(manifestsDir).find((m) => m.kind === "Service" && m.metadata.annotations?.["triton-platform/active-slot"]);
        expect(routing()?.spec.selector["triton-platform/slot"]).toBe("green");

        await stack.setConfig("activeSlot", { value: "blue" });
        await stack.up();
        expect(routing()?.spec.selector["triton-platform/slot"]).toBe("blue");
    });

    it("removes the rendered manifests on `destroy`", async () => {
        const result = await stack.destroy();
        expect(result.summary.result).toBe("succeeded");
        expect(listFiles(manifestsDir).filter((f) => f.endsWith(".yaml"))).toEqual([]);
    });
});
