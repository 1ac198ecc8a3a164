// R16: switching activeSlot must change only the traffic-routing resource, so the preview an on-call
// engineer reads before a switchover shows exactly one update.
import { beforeAll, describe, expect, it } from "vitest";
import { loadDefinition, readSecrets } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { one, PROJECT, RunResult, runMocked, stackFileConfig } from "../support/harness";

const program = () => deployPlatform(loadDefinition(), readSecrets());
const ROUTING = "kubernetes:core/v1:Service::triton";

for (const stack of ["dev", "prod"]) {
    describe(`blue-green switch on the ${stack} definition`, () => {
        let blue: RunResult;
        let green: RunResult;
        beforeAll(async () => {
            const config = stackFileConfig(stack);
            blue = await runMocked(program, { stack, config: { ...config, [`${PROJECT}:activeSlot`]: "blue" } });
            green = await runMocked(program, { stack, config: { ...config, [`${PROJECT}:activeSlot`]: "green" } });
        });

        it("declares the same resources in both runs", () => {
            const names = (r: RunResult) => r.resources.map((x) => `${x.type}::${x.name}`).sort();
            expect(names(green)).toEqual(names(blue));
        });

        it("changes no input of any resource but the routing Service", () => {
            const inputs = (r: RunResult) =>
                new Map(r.resources.map((x) => [`${x.type}::${x.name}`, JSON.stringify(x.inputs)] as const));
            const b = inputs(blue);
            const g = inputs(green);
            const changed = [...b.keys()].filter((k) => b.get(k) !== g.get(k));
            expect(changed).toEqual([ROUTING]);
        });

        it("moves the routing Service's selector from blue to green", () => {
            const selector = (r: RunResult) => one(r, "kubernetes:core/v1:Service", "triton").inputs.spec.selector["triton-platform/slot"];
            expect(selector(blue)).toBe("blue");
            expect(selector(green)).toBe("green");
        });

        it("reports the active slot, both images and the endpoint as stack outputs", () => {
            expect(green.outputs.activeSlot).toBe("green");
            expect(Object.keys(green.outputs.images).sort()).toEqual(["blue", "green"]);
            expect(green.outputs.servicePort).toBe(18789);
            expect(green.outputs.troubleshooting.portForward).toMatch(/port-forward svc\/triton-mock 18789:18789$/);
            expect(green.outputs.troubleshooting.rollout).toContain("deploy/triton-green-mock");
        });

        it("puts the model service in its own namespace enforcing the restricted Pod Security profile", () => {
            const ns = one(blue, "kubernetes:core/v1:Namespace", "namespace").inputs.metadata;
            expect(ns.name).not.toBe("default");
            expect(ns.labels).toMatchObject({
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            });
            expect(one(blue, "kubernetes:apps/v1:Deployment", "triton-blue").inputs.metadata.namespace).toBe(ns.name);
        });

        it("rolls the Triton pods when the keys rotate (they read the admin key only at start)", () => {
            const annotations = one(blue, "kubernetes:apps/v1:Deployment", "triton-blue").inputs.spec.template.metadata.annotations;
            expect(annotations["triton-platform/key-rotation"]).toEqual(expect.any(String));
            expect(annotations["triton-platform/key-rotation"].length).toBeGreaterThan(0);
        });
    });
}

describe("key rotation reaches Triton", () => {
    it("changes the pod template's key-rotation annotation when a new rotation period starts", async () => {
        const annotationAt = async (now: string) => {
            process.env.TRITON_PLATFORM_NOW = now;
            try {
                const run = await runMocked(program, { stack: "dev", config: stackFileConfig("dev") });
                return one(run, "kubernetes:apps/v1:Deployment", "triton-blue").inputs.spec.template.metadata.annotations["triton-platform/key-rotation"];
            } finally {
                delete process.env.TRITON_PLATFORM_NOW;
            }
        };
        const first = await annotationAt("2026-01-10T00:00:00Z");
        expect(await annotationAt("2026-01-11T00:00:00Z")).toBe(first);
        expect(await annotationAt("2026-06-10T00:00:00Z")).not.toBe(first);
    });
});
