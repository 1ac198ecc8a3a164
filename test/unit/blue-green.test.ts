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
            // Two whole programs under mocks: beyond the 10 s default hook timeout on a busy machine.
        }, 60_000);

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

// The lightweight server reads the same `slots` and `activeSlot`: a switch there is the slot-switch step
// (the slot router's file and the running haproxy), and nothing else the engine would change.
describe("blue-green switch on the server definition (Pulumi.server.yaml)", () => {
    let blue: RunResult;
    let green: RunResult;
    const SWITCH = "command:remote:Command::server-slot-switch";
    beforeAll(async () => {
        const config = stackFileConfig("server");
        blue = await runMocked(program, { stack: "server", config: { ...config, [`${PROJECT}:activeSlot`]: "blue" } });
        green = await runMocked(program, { stack: "server", config: { ...config, [`${PROJECT}:activeSlot`]: "green" } });
    }, 60_000);

    it("declares the same resources in both runs, a Triton container per slot", () => {
        const names = (r: RunResult) => r.resources.map((x) => `${x.type}::${x.name}`).sort();
        expect(names(green)).toEqual(names(blue));
        expect(names(blue).filter((n) => n.startsWith("docker:index/container:Container::server-model-server"))).toEqual([
            "docker:index/container:Container::server-model-server-blue",
            "docker:index/container:Container::server-model-server-green",
        ]);
    });

    it("changes only the switch step, apart from a container input the engine ignores after creation", () => {
        const inputs = (r: RunResult) => new Map(r.resources.map((x) => [`${x.type}::${x.name}`, x] as const));
        const b = inputs(blue);
        const g = inputs(green);
        const changed = [...b.keys()].filter((k) => JSON.stringify(b.get(k)!.inputs) !== JSON.stringify(g.get(k)!.inputs));
        expect(changed.filter((k) => k !== SWITCH)).toEqual(["docker:index/container:Container::server-model-server-blue", "docker:index/container:Container::server-model-server-green"]);
        expect(changed).toContain(SWITCH);
        // The containers differ in `start` alone (whether Docker starts a slot when it is created: an idle slot
        // under idleSlot: stopped is not), which they declare ignored after creation: no diff in a preview.
        for (const k of changed.filter((x) => x !== SWITCH)) {
            const { start: startBlue, ...restBlue } = b.get(k)!.inputs;
            const { start: startGreen, ...restGreen } = g.get(k)!.inputs;
            expect(restGreen).toEqual(restBlue);
            expect(startBlue).not.toBe(startGreen);
            expect(b.get(k)!.opts.ignoreChanges).toEqual(["start"]);
        }
    });

    it("writes the slot router with the active slot in service and the other in maintenance", () => {
        const router = (r: RunResult) => one(r, "command:remote:Command", "server-slot-switch").inputs.stdin as string;
        expect(router(blue)).toMatch(/^ {4}server blue 127\.0\.0\.1:8100$/m);
        expect(router(blue)).toMatch(/^ {4}server green 127\.0\.0\.1:8200 disabled$/m);
        expect(router(green)).toMatch(/^ {4}server blue 127\.0\.0\.1:8100 disabled$/m);
        expect(router(green)).toMatch(/^ {4}server green 127\.0\.0\.1:8200$/m);
        expect(blue.outputs.activeSlot).toBe("blue");
        expect(green.outputs.activeSlot).toBe("green");
    });
});
