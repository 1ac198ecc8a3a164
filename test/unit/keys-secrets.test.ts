// Secrets end to end (R5): the whole platform runs under mocks whose random resources return known values;
// every resource registration the program sends (inputs) and every registered output is searched for
// those values. A value may only appear inside Pulumi's secret envelope, which the engine encrypts with
// the stack's secrets provider; in plain form anywhere (a ConfigMap, an env `value`, a command line, a
// component's inputs, a stack output, a log line) the test fails and says where.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_ROLES, Keys } from "../../components/keys";
import { loadDefinition, readSecrets } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { PROJECT, runMocked, RunResult, stackFileConfig } from "../support/harness";

/** Pulumi's secret envelope: `{ [SIG_KEY]: SECRET_SIG, value }` on the wire between program and engine. */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const RANDOM = "random:index/randomPassword:RandomPassword";

/** What the random mocks return, by resource name: distinctive, so a substring hit is never a coincidence. */
// Every generated key, the JWT secret's second rotation slot included (components/keys/rotation.ts).
const GENERATED: Record<string, string> = Object.fromEntries(
    [...Object.values(KEY_ROLES), "jwt-secret-b"].map((role, i) => [`keys-${role}`, `GenKey${role.replace(/-/g, "")}Q${i}x7Zr2Vb9Lm4Tc8Wd1Ys6Hp3Nf5`]),
);
const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUPrivKeyMaterialForTests\n-----END OPENSSH PRIVATE KEY-----";
const STORE_SECRET = "StoreSecretAccessKeyForTests0123456789";
const SECRET_VALUES = [...Object.values(GENERATED), "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUPrivKeyMaterialForTests", STORE_SECRET];

interface Sent {
    kind: "inputs" | "outputs";
    type: string;
    name: string;
    value: unknown;
}

/**
 * Instruments the mock monitor of the current run: random resources return GENERATED values, and every
 * registration and registered output is recorded in its wire form (secrets still in their envelope).
 */
function instrument(sent: Sent[]): void {
    const monitor = pulumi.runtime.getMonitor() as any;
    const mocks = monitor.mocks;
    monitor.mocks = {
        call: (args: pulumi.runtime.MockCallArgs) => mocks.call(args),
        newResource: async (args: pulumi.runtime.MockResourceArgs) => {
            const result = await mocks.newResource(args);
            if (args.type === RANDOM) {
                result.state = { ...result.state, result: GENERATED[args.name] ?? `unexpected-${args.name}` };
            }
            return result;
        },
    };
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, cb: any) => {
        sent.push({ kind: "inputs", type: req.getType(), name: req.getName(), value: req.getObject()?.toJavaScript() ?? {} });
        return register(req, cb);
    };
    const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
    monitor.registerResourceOutputs = (req: any, cb: any) => {
        const urn: string = req.getUrn();
        sent.push({ kind: "outputs", type: urn.split("::")[2], name: urn.split("::")[3], value: req.getOutputs()?.toJavaScript() ?? {} });
        return registerOutputs(req, cb);
    };
}

/** Paths where a secret value appears outside the secret envelope. */
function plainLeaks(value: unknown, where: string, out: string[] = []): string[] {
    if (typeof value === "string") {
        SECRET_VALUES.filter((s) => value.includes(s)).forEach(() => out.push(where));
    } else if (Array.isArray(value)) {
        value.forEach((v, i) => plainLeaks(v, `${where}[${i}]`, out));
    } else if (value !== null && typeof value === "object") {
        if ((value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG) {
            return out; // encrypted by the engine before it is stored
        }
        for (const [k, v] of Object.entries(value)) {
            plainLeaks(v, `${where}.${k}`, out);
        }
    }
    return out;
}

/** Paths where a secret value appears inside the envelope (proves the values did flow). */
function wrapped(value: unknown, where: string, out: string[] = []): string[] {
    if (value !== null && typeof value === "object") {
        if ((value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG) {
            if (SECRET_VALUES.some((s) => JSON.stringify(value).includes(s))) out.push(where);
            return out;
        }
        for (const [k, v] of Object.entries(value)) wrapped(v, `${where}.${k}`, out);
    }
    return out;
}

const home = fs.mkdtempSync(path.join(os.tmpdir(), "keys-secrets-home-"));
const realHome = process.env.HOME;
beforeAll(() => {
    // The server component writes the SSH key for Docker's ssh under ~/.cache: keep it out of the real home.
    process.env.HOME = home;
});
afterAll(() => {
    process.env.HOME = realHome;
    fs.rmSync(home, { recursive: true, force: true });
});

async function platformRun(stack: string, secrets: Record<string, string>): Promise<{ run: RunResult; sent: Sent[] }> {
    const sent: Sent[] = [];
    const run = await runMocked(
        () => {
            instrument(sent);
            return deployPlatform(loadDefinition(), readSecrets());
        },
        { stack, config: stackFileConfig(stack), secrets },
    );
    return { run, sent };
}

const stacks: { stack: string; secrets: Record<string, string> }[] = [
    { stack: "server", secrets: { serverPrivateKey: PRIVATE_KEY } },
    { stack: "dev", secrets: { objectStorageAccessKeyId: "AKIAFORTESTS", objectStorageSecretAccessKey: STORE_SECRET } },
];

describe.each(stacks)("the $stack stack keeps every secret in Pulumi's secret envelope", ({ stack, secrets }) => {
    let run: RunResult;
    let sent: Sent[];
    beforeAll(async () => {
        ({ run, sent } = await platformRun(stack, secrets));
    });

    it("registers the generated keys (five roles, the JWT secret in two rotation slots)", () => {
        expect(sent.filter((s) => s.kind === "inputs" && s.type === RANDOM).map((s) => s.name).sort()).toEqual(Object.keys(GENERATED).sort());
    });

    it("no generated value (nor the SSH key or store secret) appears in plain form in any registered input", () => {
        const leaks = sent.filter((s) => s.kind === "inputs").flatMap((s) => plainLeaks(s.value, `${s.type}::${s.name}`));
        expect(leaks).toEqual([]);
    });

    it("no secret value appears in plain form in any registered output, stack outputs included", () => {
        const leaks = sent.filter((s) => s.kind === "outputs").flatMap((s) => plainLeaks(s.value, `${s.type}::${s.name} (outputs)`));
        expect(leaks).toEqual([]);
        expect(plainLeaks(run.outputs, "stack outputs")).toEqual([]);
    });

    it("no secret value appears in an info, warning or error log line", () => {
        expect(plainLeaks(run.logs.filter((l) => !l.startsWith("debug:")), "logs")).toEqual([]);
    });

    it("the values do flow to their consumers, inside the envelope (the search above is not vacuous)", () => {
        const carriers = sent.filter((s) => s.kind === "inputs" && s.type !== RANDOM).flatMap((s) => wrapped(s.value, `${s.type}::${s.name}`));
        expect(carriers.length).toBeGreaterThan(0);
    });

    it("stores no inputs on any component resource", () => {
        const components = sent.filter((s) => s.kind === "inputs" && s.type.startsWith(`${PROJECT}:`));
        expect(components.length).toBeGreaterThan(0);
        for (const c of components) {
            expect(c.value, `${c.type}::${c.name}`).toEqual({});
        }
    });

    it("exports the key expiry and the JWT claims in the clear, and no key", () => {
        const stackOutputs = sent.find((s) => s.kind === "outputs" && s.type === "pulumi:pulumi:Stack")!.value as Record<string, unknown>;
        expect(typeof stackOutputs.keysExpireAt).toBe("string");
        expect(stackOutputs.jwtClaims).toMatchObject({ algorithm: "HS256", iss: "model-service", aud: "collaboration-platform", scope: ["chat:write", "metrics:read"] });
        expect(Object.keys(stackOutputs).filter((k) => /secret|apiKey|hmac|adminKey/i.test(k))).toEqual([]);
    });
});

describe("the search finds a leak (negative control)", () => {
    it("reports a key put into a ConfigMap and into a command line", async () => {
        const k8s = await import("@pulumi/kubernetes");
        const command = await import("@pulumi/command");
        const sent: Sent[] = [];
        await runMocked(() => {
            instrument(sent);
            const keys = new Keys("keys", { settings: { rotationDays: 90, generation: 0, length: 48, permissions: {}, jwt: { issuer: "i", audience: "a", scopes: ["s"], lifetimeSeconds: 60, previousKeyOverlapSeconds: 3600 } } });
            const provider = new k8s.Provider("p", { renderYamlToDirectory: "out/leak-test" });
            new k8s.core.v1.ConfigMap("leaky", { data: { key: pulumi.unsecret(keys.apiKey) } }, { provider });
            new command.remote.Command("leaky-cmd", { connection: { host: "h" }, create: pulumi.unsecret(keys.hmacKey).apply((k) => `echo ${k}`) });
        });
        const leaks = sent.filter((s) => s.kind === "inputs").flatMap((s) => plainLeaks(s.value, `${s.type}::${s.name}`));
        expect(leaks.sort()).toEqual(["command:remote:Command::leaky-cmd.create", "kubernetes:core/v1:ConfigMap::leaky.data.key"]);
    });
});
