// The reviewers' and operators' guard rails on the real engine: the policy pack runs under the CLI
// (`pulumi preview --policy-pack policies`) and passes the program's own stacks while failing a change
// that breaks mandatory policies; a bad config fails the CLI run with the definition's message and
// creates nothing.
import * as fs from "fs";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, makeSandbox, repoStackFile, Sandbox } from "./support/project";

/** Prod's stack file with the KMS secrets provider swapped for the sandbox's passphrase. */
const prodWithoutKms = () => repoStackFile("prod", (t) => t.replace(/^secretsprovider:.*$/m, ""));

function initStack(sandbox: Sandbox, stack: string): void {
    const init = cli(sandbox, ["stack", "init", stack, "--secrets-provider", "passphrase", "--non-interactive"]);
    expect(init.code, init.stderr).toBe(0);
}

describe("policy pack under the real CLI", () => {
    let sandbox: Sandbox;
    beforeAll(() => {
        sandbox = makeSandbox({ dev: repoStackFile("dev"), rogue: repoStackFile("dev") });
        initStack(sandbox, "dev");
        initStack(sandbox, "rogue");
    });
    afterAll(() => sandbox?.cleanup());

    it("passes the dev stack's preview", () => {
        const run = cli(sandbox, ["preview", "--stack", "dev", "--non-interactive", "--policy-pack", "policies"]);
        expect(run.code, run.stdout + run.stderr).toBe(0);
        expect(run.stdout).toMatch(/Policies:[\s\S]*triton-platform@/);
        expect(run.stdout).not.toMatch(/mandatory/);
    });

    it("fails a change that adds a workload breaking mandatory policies, naming each policy", () => {
        // A pull request that bypasses the typed definition and adds a raw Deployment: one replica, a
        // `latest` image, MySQL's port. The definition cannot see it; the pack must.
        const index = path.join(sandbox.dir, "index.ts");
        const original = fs.readFileSync(index, "utf8");
        fs.writeFileSync(
            index,
            original.replace(
                "export = outputs;",
                `import * as k8s from "@pulumi/kubernetes";
const rogueProvider = new k8s.Provider("rogue", { renderYamlToDirectory: "out/rogue" });
new k8s.apps.v1.Deployment("rogue", {
    metadata: { namespace: "triton-dev" },
    spec: {
        replicas: 1,
        selector: { matchLabels: { app: "rogue" } },
        template: {
            metadata: { labels: { app: "rogue" } },
            spec: { containers: [{ name: "db", image: "docker.io/library/mysql:latest", ports: [{ containerPort: 3306 }] }] },
        },
    },
}, { provider: rogueProvider });
export = outputs;`,
            ),
        );
        try {
            const run = cli(sandbox, ["preview", "--stack", "rogue", "--non-interactive", "--policy-pack", "policies"]);
            const output = run.stdout + run.stderr;
            expect(run.code).not.toBe(0);
            expect(output).toMatch(/mandatory/);
            for (const policy of ["image-tag-pinned", "workload-min-replicas", "declared-ports-only"]) {
                expect(output, policy).toContain(policy);
            }
        } finally {
            fs.writeFileSync(index, original);
        }
    });
});

describe("a bad config on the real CLI", () => {
    let sandbox: Sandbox;
    beforeAll(() => {
        const bad = repoStackFile("dev")
            .replace("triton-platform:activeSlot: blue", "triton-platform:activeSlot: purple")
            .replace("minReplicas: 3", "minReplicas: 1");
        sandbox = makeSandbox({ dev: bad });
        initStack(sandbox, "dev");
    });
    afterAll(() => sandbox?.cleanup());

    it("fails `pulumi up` with every bad key and the fix, and creates nothing", () => {
        const run = cli(sandbox, ["up", "--stack", "dev", "--yes", "--non-interactive", "--skip-preview"]);
        const output = run.stdout + run.stderr;
        expect(run.code).not.toBe(0);
        expect(output).toContain("triton-platform:activeSlot: expected one of \"blue\", \"green\"");
        expect(output).toContain("triton-platform:modelService.hpa.minReplicas");
        expect(output).toContain("no resource was created");
        const state = cli(sandbox, ["stack", "export", "--stack", "dev"]);
        const resources = (JSON.parse(state.stdout).deployment?.resources ?? []).filter(
            (r: { type: string }) => r.type !== "pulumi:pulumi:Stack",
        );
        expect(resources).toEqual([]);
        expect(fs.existsSync(path.join(sandbox.dir, "out/manifests/dev"))).toBe(false);
    });
});

describe("the prod definition under the real CLI", () => {
    let sandbox: Sandbox;
    beforeAll(() => {
        sandbox = makeSandbox({ prod: prodWithoutKms() });
        initStack(sandbox, "prod");
    });
    afterAll(() => sandbox?.cleanup());

    it("previews with the policy pack and no mandatory violation, and says no cluster was reached", () => {
        // No cluster here: an unreachable kubeconfig makes the provider preview without a server.
        const kubeconfig = path.join(sandbox.dir, "kubeconfig");
        fs.writeFileSync(
            kubeconfig,
            [
                "apiVersion: v1",
                "kind: Config",
                "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]",
                "users: [{name: u, user: {token: e2e}}]",
                "contexts: [{name: c, context: {cluster: c, user: u}}]",
                "current-context: c",
            ].join("\n"),
        );
        const run = cli(sandbox, ["preview", "--stack", "prod", "--non-interactive", "--policy-pack", "policies"], { KUBECONFIG: kubeconfig });
        const output = run.stdout + run.stderr;
        // The pack really ran over the prod resources: the summary names it, and the Deployments were planned.
        expect(output).toMatch(/Policies:[\s\S]*triton-platform@/);
        expect(output).toContain("kubernetes:apps/v1:Deployment triton-blue");
        expect(output).not.toMatch(/mandatory/);
        expect(run.code, output).toBe(0);
        // ... and it says plainly that no cluster was reached, instead of a plan that looks like a diff.
        expect(output).toContain("NOTHING WAS REACHED: the API server https://127.0.0.1:1");
        expect(output).toMatch(/clusterReached\s*:\s*false/);
    });
});
