// Key rotation without an outage: the JWT secret alternates between two slots, so a rotation
// replaces only the slot that signs next; the previous secret is accepted by the gateway for a stated
// overlap; the plan shows in every preview. The real-haproxy half (a token minted before the rotation
// works during the overlap and fails after it) is in test/e2e/gateway.test.ts.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { clusterProvider } from "../../components/cluster/provider";
import { Gateway, gatewaySchema } from "../../components/gateway";
import { jwtRotation, Keys, keysSchema } from "../../components/keys";
import { loadDefinition, parseDefinition, readSecrets } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { ofType, PROJECT, runMocked, stackFileConfig } from "../support/harness";

const RANDOM = "random:index/randomPassword:RandomPassword";
const settings = keysSchema.parse({});

/** keepers by resource name, and the component's rotation output, at `now`. */
async function keysAt(now: string) {
    const run = await runMocked(() => {
        const keys = new Keys("keys", { settings, now: new Date(now) });
        return { jwtRotation: keys.jwtRotation };
    });
    const keepers = Object.fromEntries(ofType(run, RANDOM).map((r) => [r.name, JSON.stringify(r.inputs.keepers)]));
    return { keepers, rotation: run.outputs.jwtRotation, logs: run.logs };
}

describe("jwtRotation (pure)", () => {
    it("lets the slot of the period's parity sign and keeps the other slot on the previous period, accepted for the overlap", () => {
        // 2026-03-08 starts period 228 (90-day windows from 1970-01-01).
        const r = jwtRotation(new Date("2026-03-08T06:00:00Z"), settings);
        expect(r.signing).toBe("a");
        expect(r.previous).toBe("b");
        expect(r.keepers.a.rotationPeriod).toBe("228");
        expect(r.keepers.b.rotationPeriod).toBe("227");
        expect(r.previousAcceptedUntil).toBe("2026-03-10T00:00:00.000Z"); // window start + 2 days (the default overlap)
        expect(r.previousAcceptedUntilEpoch).toBe(Date.parse("2026-03-10T00:00:00Z") / 1000);
    });

    it("refuses an overlap shorter than a token's lifetime, or as long as the window, naming the key", () => {
        const short = parseDefinition({ keys: { jwt: { lifetimeSeconds: 3600, previousKeyOverlapSeconds: 600 } } }, { project: PROJECT, stack: "t" });
        expect(short.ok ? [] : short.issues.map((i) => i.key)).toContain(`${PROJECT}:keys.jwt.previousKeyOverlapSeconds`);
        const long = parseDefinition({ keys: { rotationDays: 1, jwt: { previousKeyOverlapSeconds: 86_400 } } }, { project: PROJECT, stack: "t" });
        expect(long.ok ? [] : long.issues.map((i) => i.key)).toContain(`${PROJECT}:keys.jwt.previousKeyOverlapSeconds`);
    });
});

describe("Keys across a rotation boundary (under mocks)", () => {
    it("replaces the slot that signs next, keeps the one that signed (now the previous secret), and rotates the other keys", async () => {
        const before = await keysAt("2026-03-07T23:00:00Z"); // period 227: slot b signs
        const after = await keysAt("2026-03-08T01:00:00Z"); // period 228: slot a signs
        expect(before.rotation.signingKey).toBe("keys-jwt-secret-b");
        expect(after.rotation.signingKey).toBe("keys-jwt-secret");
        // What signed before the rotation is what the gateway still accepts after it, unchanged (not replaced).
        expect(after.rotation.previousKey).toBe(before.rotation.signingKey);
        expect(after.keepers["keys-jwt-secret-b"]).toEqual(before.keepers["keys-jwt-secret-b"]);
        expect(after.keepers["keys-jwt-secret"]).not.toEqual(before.keepers["keys-jwt-secret"]);
        expect(after.keepers["keys-triton-admin-key"]).not.toEqual(before.keepers["keys-triton-admin-key"]);
        expect(after.rotation.previousAcceptedUntil).toBe("2026-03-10T00:00:00.000Z");
    });

    it("states the rotation plan in every preview, as a warning while the overlap runs", async () => {
        const during = await keysAt("2026-03-08T01:00:00Z");
        expect(during.logs.join("\n")).toMatch(/^warn: rotation overlap in progress: keys: rotation period 228 .*signed with keys-jwt-secret; tokens signed with keys-jwt-secret-b .* accepted until 2026-03-10T00:00:00.000Z/m);
        const later = await keysAt("2026-04-01T00:00:00Z");
        expect(later.logs.join("\n")).toMatch(/^info: keys: rotation period 228 .*rotates on the first `pulumi up` from 2026-06-06T00:00:00.000Z/m);
    });
});

describe("the Gateway component with a previous secret", () => {
    it("keeps both secrets in its immutable Secret, and nowhere else", async () => {
        const [NEW, OLD] = ["current-secret-for-the-rotation-test-0123456789", "previous-secret-for-the-rotation-test-0123456789"];
        const run = await runMocked(() => {
            const provider = clusterProvider("cluster", { mode: "render", directory: "out/manifests/<stack>" }, "test");
            new Gateway("gateway", {
                namespace: "triton",
                instance: "triton-platform-test",
                zones: ["zone-a", "zone-b", "zone-c"],
                settings: gatewaySchema.parse({}),
                jwt: { issuer: "model-service", audience: "collaboration-platform", lifetimeSeconds: 3600 },
                jwtSecret: pulumi.secret(NEW),
                previousJwt: { secret: pulumi.secret(OLD), acceptedUntilEpoch: pulumi.output(1_773_100_800) },
                upstream: { serviceName: pulumi.output("triton-1a2b3c"), namespace: "triton", httpPort: 18789, metricsPort: 8002 },
                network: { monitoringNamespace: "monitoring", modelServerSelector: { "app.kubernetes.io/component": "model-server" }, modelServerPorts: { http: 8000, metrics: 8002 } },
                provider,
            });
        });
        const secret = ofType(run, "kubernetes:core/v1:Secret").find((x) => x.name === "gateway-jwt")!;
        expect(secret.inputs.immutable).toBe(true);
        // stringData is secret as a whole: the recorded input is Pulumi's secret envelope around it.
        expect(secret.inputs.stringData.value).toEqual({ "jwt-secret": NEW, "jwt-secret-previous": OLD });
        const elsewhere = JSON.stringify(run.resources.filter((r) => r !== secret).map((r) => r.inputs));
        expect(elsewhere).not.toContain(NEW);
        expect(elsewhere).not.toContain(OLD);
        const cfg = ofType(run, "kubernetes:core/v1:ConfigMap")[0].inputs.data["haproxy.cfg"] as string;
        expect(cfg).toContain("!{ date lt 1773100800 }");
    });
});

describe("the dev program: the gateway holds both secrets and the overlap's end", () => {
    it("puts the previous secret in the gateway's Secret and env, the overlap's end in haproxy.cfg, and the plan in the stack outputs", async () => {
        const run = await runMocked(() => deployPlatform(loadDefinition(), readSecrets()), { stack: "dev", config: stackFileConfig("dev") });
        const rotation = run.outputs.keyRotation;
        expect(rotation).toMatchObject({ signingKey: expect.stringMatching(/^keys-jwt-secret(-b)?$/), previousAcceptedUntil: expect.any(String) });
        const deployment = ofType(run, "kubernetes:apps/v1:Deployment").find((d) => d.name === "gateway")!;
        const env = deployment.inputs.spec.template.spec.containers[0].env;
        expect(env.map((e: { name: string }) => e.name)).toEqual(["JWT_SECRET", "JWT_SECRET_PREVIOUS"]);
        expect(env[1].valueFrom.secretKeyRef.key).toBe("jwt-secret-previous");
        const cfg = ofType(run, "kubernetes:core/v1:ConfigMap").find((c) => c.name === "gateway-config")!.inputs.data["haproxy.cfg"] as string;
        expect(cfg).toContain(`!{ date lt ${rotation.previousAcceptedUntilEpoch} }`);
        expect(cfg).toContain("set-var proc.jwt_key_prev env(JWT_SECRET_PREVIOUS)");
        // Neither secret is in the config or the outputs in plain form: only the Secret holds them.
        expect(run.secretOutputs).not.toContain("keyRotation");
    });
});

describe("the server program: the gateway on the server gets the previous secret and the overlap's end", () => {
    const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAROTATIONFAKE\n-----END OPENSSH PRIVATE KEY-----";
    const COMMAND = "command:remote:Command";
    /** The server stack at `now`; each random key's result is `value-of-<resource name>`. */
    async function serverAt(now: string) {
        const home = process.env.HOME;
        const previousNow = process.env.TRITON_PLATFORM_NOW;
        process.env.HOME = fs.mkdtempSync(path.join(os.tmpdir(), "key-rotation-server-"));
        process.env.TRITON_PLATFORM_NOW = now;
        try {
            return await runMocked(
                () => {
                    const monitor = pulumi.runtime.getMonitor() as any;
                    const mocks = monitor.mocks;
                    monitor.mocks = {
                        call: (args: pulumi.runtime.MockCallArgs) => mocks.call(args),
                        newResource: async (args: pulumi.runtime.MockResourceArgs) => {
                            const result = await mocks.newResource(args);
                            return args.type === RANDOM ? { ...result, state: { ...result.state, result: `value-of-${args.name}` } } : result;
                        },
                    };
                    return deployPlatform(loadDefinition(), readSecrets());
                },
                { stack: "server", config: stackFileConfig("server"), secrets: { serverPrivateKey: PRIVATE_KEY } },
            );
        } finally {
            fs.rmSync(process.env.HOME!, { recursive: true, force: true });
            process.env.HOME = home;
            if (previousNow === undefined) {
                delete process.env.TRITON_PLATFORM_NOW;
            } else {
                process.env.TRITON_PLATFORM_NOW = previousNow;
            }
        }
    }
    const stdinOf = (run: Awaited<ReturnType<typeof serverAt>>, name: string) => {
        const stdin = ofType(run, COMMAND).find((c) => c.name === name)!.inputs.stdin;
        return stdin !== null && typeof stdin === "object" && "value" in stdin ? { secret: true, value: stdin.value } : { secret: false, value: stdin };
    };

    it("across a rotation: the new secret signs, the one that signed before is written beside it until the overlap ends, then removed", async () => {
        const before = await serverAt("2026-03-07T23:00:00Z"); // period 227: slot b signs, no overlap running
        const during = await serverAt("2026-03-08T01:00:00Z"); // period 228: slot a signs, b accepted until 2026-03-10
        const later = await serverAt("2026-03-10T00:00:00Z"); // the overlap is over
        expect(stdinOf(before, "server-gateway-jwt-secret").value).toBe("value-of-keys-jwt-secret-b");
        expect(stdinOf(during, "server-gateway-jwt-secret").value).toBe("value-of-keys-jwt-secret");
        // What signed the tokens minted before the rotation is what the server's gateway accepts during the overlap.
        expect(stdinOf(during, "server-gateway-jwt-previous-secret")).toEqual({ secret: true, value: "value-of-keys-jwt-secret-b" });
        const configOf = (run: Awaited<ReturnType<typeof serverAt>>) => stdinOf(run, "server-gateway-config").value as string;
        expect(configOf(during)).toContain(`!{ date lt ${Date.parse("2026-03-10T00:00:00Z") / 1000} }`);
        for (const run of [before, later]) {
            const create = ofType(run, COMMAND).find((c) => c.name === "server-gateway-jwt-previous-secret")!.inputs.create as string;
            expect(create).toContain("rm -f");
            expect(stdinOf(run, "server-gateway-jwt-previous-secret").value).toBe("");
        }
        // Nowhere else in plain form.
        const plain = JSON.stringify(during.resources.map((r) => ({ ...r.inputs, stdin: undefined, connection: undefined })));
        expect(plain).not.toContain("value-of-keys-jwt-secret");
    });
});
