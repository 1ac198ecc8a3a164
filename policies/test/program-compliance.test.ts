// The product obeys its own rules: the program's dev and prod definitions (and the single-server
// one), run under mocks, pass every mandatory policy of the pack with the reviewed policy config.
//
// Resource policies see each resource's inputs as the mocks recorded them; stack policies see
// outputs, which under the harness's mocks are the inputs echoed back with Kubernetes objects'
// metadata.name defaulted to `<name>-mock` (what test/support/harness.ts returns as state).
import * as fs from "fs";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadDefinition, readSecrets } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { RunResult, runMocked, stackFileConfig } from "../../test/support/harness";
import { policies } from "../catalog";
import { effectiveLevels, PolicyConfigFile } from "../report";
import { Outcome, PackConfig, Res, isStackPolicy, runResourcePolicy, runStackPolicy } from "./kit";

const ROOT = path.resolve(__dirname, "../..");
const config = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "policy-config.example.json"), "utf8")) as PolicyConfigFile;
const levels = effectiveLevels(config);

/** Secrets the stacks read (plain values under mocks; the canary must never reach a message). */
const SECRETS = {
    objectStorageAccessKeyId: "AKIACANARY0000000000",
    objectStorageSecretAccessKey: "CANARY-object-store-secret-0123456789",
    serverPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nCANARY\n-----END OPENSSH PRIVATE KEY-----\n",
};

function asInputs(run: RunResult): Res[] {
    return run.resources.map((r) => ({ type: r.type, name: r.name, props: r.inputs, parent: r.parent }));
}

function asOutputs(run: RunResult): Res[] {
    return run.resources.map((r) => {
        const props = r.custom ? { ...r.inputs } : {};
        if (r.type.startsWith("kubernetes:") && props.metadata) {
            props.metadata = { name: `${r.name}-mock`, ...props.metadata };
        }
        return { type: r.type, name: r.name, props, parent: r.parent };
    });
}

/** Policies that must apply (not be skipped as not applicable) to a stack of this shape. */
function mustApply(stack: string): string[] {
    const cfg = stackFileConfig(stack);
    const names: string[] = [];
    if (!String(cfg["triton-platform:cluster"] ?? "").includes('"none"')) {
        names.push("blue-green-slots", "service-selects-one-slot", "alert-rules-r14", "model-service-log-sink", "network-policy-covers-pods", "pdb-selects-every-workload", "workload-min-replicas");
    }
    if (cfg["triton-platform:server"] !== undefined) {
        names.push("server-firewall-default-drop", "server-firewall-declared-ports", "server-ssh-no-root-login", "server-ssh-no-password-login", "model-service-log-sink");
    }
    return names;
}

const stacks = ["dev", "prod", "server"].filter((s) => fs.existsSync(path.join(ROOT, `Pulumi.${s}.yaml`)));

for (const stack of stacks) {
    describe(`the ${stack} stack against the policy pack`, () => {
        const outcomes = new Map<string, Outcome>();
        beforeAll(async () => {
            const run = await runMocked(() => deployPlatform(loadDefinition(), readSecrets()), { stack, config: stackFileConfig(stack), secrets: SECRETS });
            const inputs = asInputs(run);
            const outputs = asOutputs(run);
            for (const p of policies) {
                outcomes.set(p.name, isStackPolicy(p) ? await runStackPolicy(p, outputs, config as PackConfig) : await runResourcePolicy(p, inputs, config as PackConfig));
            }
        }, 120_000);

        it("violates no mandatory policy", () => {
            const mandatory = policies
                .filter((p) => levels.get(p.name) === "mandatory")
                .flatMap((p) => outcomes.get(p.name)!.violations.map((v) => `${p.name}: ${v.message}`));
            expect(mandatory).toEqual([]);
            // A policy that could not run would hide its violations.
            expect(policies.flatMap((p) => outcomes.get(p.name)!.cannotRun)).toEqual([]);
        });

        it("is checked by the policies its shape calls for, not skipped as not applicable", () => {
            const skipped = mustApply(stack).filter((n) => outcomes.get(n)!.notApplicable.length > 0);
            expect(skipped).toEqual([]);
        });

        it("never puts a secret value into a violation message", () => {
            const all = policies.flatMap((p) => outcomes.get(p.name)!.violations.map((v) => v.full));
            expect(all.filter((m) => m.includes("CANARY"))).toEqual([]);
        });
    });
}
