// Keys (R5, R10, R11): five separate random resources, secret results, rotation tied to a deterministic
// period (a new period or generation yields new values on the next `pulumi up`), non-secret expiry and
// claims.
import { describe, expect, it } from "vitest";
import { buildClaims, Keys, KEY_ROLES, NOW_ENV, resolveNow, rotationWindow } from "../../components/keys";
import { keysSchema } from "../../components/keys/schema";
import { ofType, one, Registered, runMocked } from "../support/harness";

const settings = keysSchema.parse({});
const RANDOM = "random:index/randomPassword:RandomPassword";

describe("rotation window", () => {
    it("cuts time into fixed windows of rotationDays counted from the epoch", () => {
        const w = rotationWindow(new Date("2026-01-15T12:00:00Z"), settings);
        expect(w).toEqual({
            period: 227,
            startsAt: "2025-12-08T00:00:00.000Z",
            expiresAt: "2026-03-08T00:00:00.000Z",
            keepers: { rotationDays: "90", rotationPeriod: "227", generation: "0" },
        });
    });

    it("keeps the same keepers within a window and changes them at its end", () => {
        const a = rotationWindow(new Date("2025-12-08T00:00:00Z"), settings);
        const b = rotationWindow(new Date("2026-03-07T23:59:59Z"), settings);
        const c = rotationWindow(new Date("2026-03-08T00:00:00Z"), settings);
        expect(b.keepers).toEqual(a.keepers);
        expect(c.keepers.rotationPeriod).not.toBe(a.keepers.rotationPeriod);
        expect(c.startsAt).toBe(a.expiresAt);
    });

    it("changes the keepers when the generation is bumped (forced rotation)", () => {
        const now = new Date("2026-01-15T00:00:00Z");
        expect(rotationWindow(now, { rotationDays: 90, generation: 1 }).keepers).not.toEqual(rotationWindow(now, settings).keepers);
    });

    it("follows rotationDays", () => {
        const w = rotationWindow(new Date("2026-01-15T00:00:00Z"), { rotationDays: 30, generation: 0 });
        expect(Date.parse(w.expiresAt) - Date.parse(w.startsAt)).toBe(30 * 86_400_000);
    });
});

describe("the clock", () => {
    it("uses an explicit date first, then TRITON_PLATFORM_NOW", () => {
        const explicit = new Date("2030-01-01T00:00:00Z");
        expect(resolveNow(explicit, { [NOW_ENV]: "2020-01-01T00:00:00Z" })).toBe(explicit);
        expect(resolveNow(undefined, { [NOW_ENV]: "2020-01-01T00:00:00Z" }).toISOString()).toBe("2020-01-01T00:00:00.000Z");
    });

    it("refuses a malformed TRITON_PLATFORM_NOW with a clear message", () => {
        expect(() => resolveNow(undefined, { [NOW_ENV]: "next tuesday" })).toThrow(/TRITON_PLATFORM_NOW="next tuesday" is not a date: use ISO 8601/);
    });

    it("falls back to the system clock", () => {
        expect(Number.isNaN(resolveNow(undefined, {}).getTime())).toBe(false);
    });
});

describe("claims (R5, R10)", () => {
    it("carry HS256, iss, aud, scope, lifetime and the R5 permissions", () => {
        expect(buildClaims(settings)).toEqual({
            algorithm: "HS256",
            iss: "model-service",
            aud: "collaboration-platform",
            scope: ["chat:write", "metrics:read"],
            lifetimeSeconds: 3600,
            permissions: { "model-inference": ["predict", "healthcheck"], "system-metrics": ["read"] },
        });
    });
});

/** Whether each returned Output is secret (read from the Outputs: the harness's secretOutputs stays empty). */
let secrecy: Record<string, boolean> = {};

async function keysRun(now: string, overrides: Record<string, unknown> = {}) {
    secrecy = {};
    return runMocked(async () => {
        const keys = new Keys("keys", { settings: keysSchema.parse(overrides), now: new Date(now) });
        const outs = {
            apiKey: keys.apiKey,
            apiKeySecret: keys.apiKeySecret,
            jwtSecret: keys.jwtSecret,
            hmacKey: keys.hmacKey,
            tritonAdminKey: keys.tritonAdminKey,
            expiresAt: keys.expiresAt,
            claims: keys.claims,
            rotationId: keys.rotationId,
        };
        for (const [k, v] of Object.entries(outs)) {
            secrecy[k] = await (v as unknown as { isSecret: Promise<boolean> }).isSecret;
        }
        return outs;
    });
}

const keepersOf = (rs: Registered[]) => Object.fromEntries(rs.map((r) => [r.name, r.inputs.keepers]));

describe("Keys component", () => {
    it("generates five separate keys as children (the JWT secret in two rotation slots), letters and digits only, with the rotation keepers", async () => {
        const run = await keysRun("2026-01-15T00:00:00Z");
        const randoms = ofType(run, RANDOM);
        expect(randoms.map((r) => r.name).sort()).toEqual([...Object.values(KEY_ROLES).map((r) => `keys-${r}`), "keys-jwt-secret-b"].sort());
        for (const r of randoms) {
            expect(r.parent).toBe("triton-platform:keys:Keys::keys");
            // Period 227 is odd: slot b signs (227); slot a keeps the previous period's secret (226).
            const period = r.name === "keys-jwt-secret" ? "226" : "227";
            expect(r.inputs).toMatchObject({ length: 48, special: false, keepers: { rotationDays: "90", rotationPeriod: period, generation: "0" } });
        }
    });

    it("exposes the keys as secrets and the expiry, claims and rotation id in the clear", async () => {
        const run = await keysRun("2026-01-15T00:00:00Z");
        expect(secrecy).toEqual({ apiKey: true, apiKeySecret: true, jwtSecret: true, hmacKey: true, tritonAdminKey: true, expiresAt: false, claims: false, rotationId: false });
        expect(run.outputs.expiresAt).toBe("2026-03-08T00:00:00.000Z");
        expect(run.outputs.claims).toMatchObject({ iss: "model-service", algorithm: "HS256" });
        expect(run.outputs.rotationId).toBe("227-0");
    });

    it("stores no inputs on the component and creates no Kubernetes object", async () => {
        const run = await keysRun("2026-01-15T00:00:00Z");
        expect(one(run, "triton-platform:keys:Keys").inputs).toEqual({});
        expect(run.resources.filter((r) => r.type.startsWith("kubernetes:"))).toEqual([]);
    });

    it("rotates every key in a new period except the JWT secret that signed until then, and none within the same period", async () => {
        const a = keepersOf(ofType(await keysRun("2026-01-15T00:00:00Z"), RANDOM));
        const b = keepersOf(ofType(await keysRun("2026-03-07T00:00:00Z"), RANDOM));
        const c = keepersOf(ofType(await keysRun("2026-03-08T00:00:00Z"), RANDOM));
        expect(b).toEqual(a);
        // Period 227 -> 228: slot b signed in 227 and stays (the previous secret, accepted for the
        // overlap); slot a (226's) is replaced by 228's signing secret; every other key rotates.
        for (const name of Object.keys(a)) {
            if (name === "keys-jwt-secret-b") {
                expect(c[name], name).toEqual(a[name]);
            } else {
                expect(c[name], name).not.toEqual(a[name]);
            }
        }
    });

    it("rotates every key when the generation is bumped", async () => {
        const a = keepersOf(ofType(await keysRun("2026-01-15T00:00:00Z"), RANDOM));
        const b = keepersOf(ofType(await keysRun("2026-01-15T00:00:00Z", { generation: 1 }), RANDOM));
        for (const name of Object.keys(a)) {
            expect(b[name]).not.toEqual(a[name]);
        }
    });

    it("reads TRITON_PLATFORM_NOW when no date is given (end-to-end runs)", async () => {
        process.env[NOW_ENV] = "2026-03-08T00:00:00Z";
        try {
            const run = await runMocked(() => ({ expiresAt: new Keys("keys", { settings }).expiresAt }));
            expect(run.outputs.expiresAt).toBe("2026-06-06T00:00:00.000Z");
        } finally {
            delete process.env[NOW_ENV];
        }
    });
});
