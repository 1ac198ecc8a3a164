// The kit must behave like the @pulumi/policy runtime, or every policy test proves less than it
// claims. These tests run the same policies through the runtime's own Analyze/AnalyzeStack handlers
// (server.js, fed protobuf requests as the engine sends them) and through the kit, and compare.
import * as k8s from "@pulumi/kubernetes";
import { ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import * as random from "@pulumi/random";
import { describe, expect, it } from "vitest";
import { policies } from "../catalog";
import { PackPolicy, PackResourcePolicy, PackStackPolicy, resourcePolicy, stackPolicy } from "../lib/policy";
import { cases } from "./cases";
import { clusterStack, deployment, serverStack } from "./fixtures";
import { Res, UNKNOWN, isStackPolicy, runPolicy, urnOf } from "./kit";

/* eslint-disable @typescript-eslint/no-require-imports */
const server = require("@pulumi/policy/server");
const analyzerpb = require("@pulumi/pulumi/proto/analyzer_pb");
const structpb = require("google-protobuf/google/protobuf/struct_pb");
/* eslint-enable @typescript-eslint/no-require-imports */

const LEVELS: Record<number, string> = Object.fromEntries(Object.entries(analyzerpb.EnforcementLevel as Record<string, number>).map(([k, v]) => [v, k.toLowerCase()]));

interface RuntimeOutcome {
    messages: { message: string; level: string; urn: string }[];
    notApplicable: string[];
}

function struct(props: Record<string, any> | undefined) {
    return structpb.Struct.fromJavaScript(JSON.parse(JSON.stringify(props ?? {})));
}

function call(fn: any, request: unknown): Promise<any> {
    return new Promise((resolve, reject) => fn({ request }, (err: unknown, resp: unknown) => (err ? reject(err) : resolve(resp))));
}

function outcome(resp: any): RuntimeOutcome {
    return {
        messages: resp.getDiagnosticsList().map((d: any) => ({ message: d.getMessage(), level: LEVELS[d.getEnforcementlevel()], urn: d.getUrn() })),
        notApplicable: resp.getNotApplicableList().map((n: any) => n.getReason()),
    };
}

/** Runs a policy through the runtime's handlers, one Analyze call per resource or one AnalyzeStack call. */
async function runtime(policy: PackPolicy, resources: Res[]): Promise<RuntimeOutcome> {
    if (isStackPolicy(policy)) {
        const req = new analyzerpb.AnalyzeStackRequest();
        req.setResourcesList(
            resources.map((r) => {
                const a = new analyzerpb.AnalyzerResource();
                a.setType(r.type);
                a.setName(r.name);
                a.setUrn(urnOf(r, resources));
                a.setProperties(struct(r.props));
                a.setOptions(new analyzerpb.AnalyzerResourceOptions());
                const parent = resources.find((x) => `${x.type}::${x.name}` === r.parent);
                if (parent) a.setParent(urnOf(parent, resources));
                return a;
            }),
        );
        return outcome(await call(server.makeAnalyzeStackRpcFun("triton-platform", "0.1.0", "advisory", [policy]), req));
    }
    const all: RuntimeOutcome = { messages: [], notApplicable: [] };
    for (const r of resources) {
        const req = new analyzerpb.AnalyzeRequest();
        req.setType(r.type);
        req.setName(r.name);
        req.setUrn(urnOf(r, resources));
        req.setProperties(struct(r.props));
        req.setOptions(new analyzerpb.AnalyzerResourceOptions());
        const o = outcome(await call(server.makeAnalyzeRpcFun("triton-platform", "0.1.0", "advisory", [policy]), req));
        all.messages.push(...o.messages);
        all.notApplicable.push(...o.notApplicable);
    }
    return all;
}

/** The kit's outcome in the runtime's terms. */
async function kit(policy: PackPolicy, resources: Res[]): Promise<RuntimeOutcome> {
    const o = await runPolicy(policy, resources);
    return {
        messages: [
            ...o.violations.map((v) => ({ message: v.full, level: v.level, urn: v.urn ?? "" })),
            ...o.cannotRun.map((m) => ({ message: m, level: "advisory", urn: "" })),
        ],
        notApplicable: o.notApplicable,
    };
}

const sortMessages = (o: RuntimeOutcome) => ({ ...o, messages: [...o.messages].sort((a, b) => a.message.localeCompare(b.message)) });

describe("the kit against the @pulumi/policy runtime", () => {
    for (const policy of policies) {
        const table = cases[policy.name];
        const all = [...(table?.violating ?? []), ...(table?.compliant ?? [])].filter((c) => c.config === undefined);
        it(`${policy.name}: same violations and not-applicable reasons for ${all.length} cases`, async () => {
            for (const c of all) {
                expect(sortMessages(await kit(policy, c.resources)), c.name).toEqual(sortMessages(await runtime(policy, c.resources)));
            }
        });
    }

    it("reports a value unknown during preview as an advisory can't-run, in both", async () => {
        const p = policies.find((x) => x.name === "image-tag-pinned")!;
        const resources = clusterStack().map((r) =>
            r.name === "triton-blue" && r.type === "kubernetes:apps/v1:Deployment"
                ? { ...r, props: { ...r.props, spec: { ...r.props!.spec, template: { ...r.props!.spec.template, spec: { ...r.props!.spec.template.spec, containers: [{ name: "triton", image: UNKNOWN }] } } } } }
                : r,
        );
        const k = await kit(p, resources);
        expect(k).toEqual(await runtime(p, resources));
        expect(k.messages).toEqual([expect.objectContaining({ level: "advisory", message: expect.stringContaining("can't be known during preview") })]);
    });

    it("keeps a stack policy's findings when another resource is unknown, and marks it not fully run", async () => {
        const p = policies.find((x) => x.name === "pdb-selects-every-workload")! as PackStackPolicy;
        const resources = clusterStack()
            .filter((r) => !(r.type === "kubernetes:policy/v1:PodDisruptionBudget" && r.name === "triton-green"))
            .map((r) => (r.type === "kubernetes:autoscaling/v2:HorizontalPodAutoscaler" && r.name === "triton-blue" ? { ...r, props: { ...r.props, spec: UNKNOWN } } : r));
        const k = await kit(p, resources);
        expect(k).toEqual(await runtime(p, resources));
        expect(k.messages.map((m) => m.message)).toEqual([expect.stringContaining('Deployment "triton-green": no PodDisruptionBudget'), expect.stringContaining("can't run policy")]);
    });
});

describe("isType, asType and notApplicable", () => {
    const seen: Record<string, boolean[]> = {};
    const probe: PackResourcePolicy = resourcePolicy({
        name: "probe-types",
        description: "Records isType results.",
        area: "workloads",
        source: "test",
        details: "test",
        enforcementLevel: "advisory",
        remediation: "none",
        types: "*",
        validate: (ctx) => {
            const a: ResourceValidationArgs = ctx.args;
            seen[ctx.name] = [a.isType(k8s.apps.v1.Deployment), a.isType(k8s.core.v1.Service), a.isType(random.RandomPassword), a.asType(k8s.apps.v1.Deployment) !== undefined];
            if (ctx.type.startsWith("random:")) {
                a.notApplicable("keys are not workloads");
            }
            ctx.report("recorded", "none");
        },
    });

    it("match the runtime for Kubernetes and random classes", async () => {
        const resources: Res[] = [deployment("blue"), { type: "random:index/randomPassword:RandomPassword", name: "key", props: { length: 48 } }];
        const fromKit = await kit(probe, resources);
        const kitSeen = { ...seen };
        const fromRuntime = await runtime(probe, resources);
        expect(fromKit).toEqual(fromRuntime);
        expect(kitSeen).toEqual(seen);
        expect(seen["triton-blue"]).toEqual([true, false, false, true]);
        expect(seen.key).toEqual([false, false, true, false]);
        // notApplicable threw: the report after it never happened, for the key only.
        expect(fromKit.messages).toHaveLength(1);
        expect(fromKit.notApplicable).toEqual(["keys are not workloads"]);
    });

    it("links stack resources to their parents like the runtime", async () => {
        const parents: string[] = [];
        const p = stackPolicy({
            name: "probe-parents",
            description: "Records parents.",
            area: "operations",
            source: "test",
            details: "test",
            enforcementLevel: "advisory",
            remediation: "none",
            validate: (ctx) => {
                const args: StackValidationArgs = ctx.args;
                for (const r of args.resources.filter((x) => x.type === "command:remote:Command")) {
                    parents.push(`${r.name}<${r.parent?.type}`);
                }
            },
        });
        await kit(p, serverStack());
        const fromKit = [...parents];
        parents.length = 0;
        await runtime(p, serverStack());
        expect(fromKit).toEqual(parents);
        expect(parents).toContain("server-firewall<triton-platform:server:LightweightServer");
    });

    it("skips a single-type validation for other types without calling it (the runtime's fast path)", async () => {
        const p = policies.find((x) => x.name === "pdb-has-policy")! as PackResourcePolicy;
        const fn = p.validateResource as unknown as { __pulumiType?: string };
        expect(fn.__pulumiType).toBe("kubernetes:policy/v1:PodDisruptionBudget");
        const o = await kit(p, [deployment("blue")]);
        expect(o.notApplicable).toEqual(["Policy only applies to resources of type 'kubernetes:policy/v1:PodDisruptionBudget'"]);
    });
});
