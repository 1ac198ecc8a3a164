// `npm run token` (R10): HS256 tokens minted and verified with jose, the secret read from a stack export
// in memory, and messages that help an admin find what is wrong (R15) without ever printing the secret.
import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { buildClaims, KeyClaims } from "../../components/keys";
import { mintToken, TokenError, verifyToken } from "../../components/keys/jwt";
import { keysSchema } from "../../components/keys/schema";
import { main, parseArgs, secretsFromExport, TokenIO } from "../../scripts/token";

const SECRET = "JwtSecretForTokenTests0123456789abcdefABCDEF";
const claims: KeyClaims = buildClaims(keysSchema.parse({}));
const now = new Date("2026-02-01T10:00:00Z");
const later = (seconds: number) => new Date(now.getTime() + seconds * 1000);
const key = new TextEncoder().encode(SECRET);

async function rejection(p: Promise<unknown>): Promise<Error> {
    try {
        await p;
    } catch (e) {
        return e as Error;
    }
    throw new Error("expected a rejection");
}

describe("mint", () => {
    it("signs HS256 with iss, aud, scope and a one-hour lifetime", async () => {
        const token = await mintToken(SECRET, claims, { now, jti: "11111111-2222-4333-8444-555555555555" });
        expect(decodeProtectedHeader(token)).toEqual({ alg: "HS256", typ: "JWT" });
        expect(decodeJwt(token)).toEqual({
            iss: "model-service",
            aud: "collaboration-platform",
            sub: "platform-admin",
            scope: ["chat:write", "metrics:read"],
            jti: "11111111-2222-4333-8444-555555555555",
            iat: now.getTime() / 1000,
            exp: now.getTime() / 1000 + 3600,
        });
    });

    it("mints a subset of the scopes, and refuses one that is not configured", async () => {
        expect(decodeJwt(await mintToken(SECRET, claims, { now, scope: ["metrics:read"] })).scope).toEqual(["metrics:read"]);
        expect((await rejection(mintToken(SECRET, claims, { now, scope: ["admin:all"] }))).message).toMatch(/scope admin:all is not configured\. configured scopes: chat:write, metrics:read/);
    });

    it("refuses a secret too short for HS256", async () => {
        expect((await rejection(mintToken("short", claims))).message).toMatch(/shorter than 32 characters/);
    });
});

describe("verify", () => {
    it("accepts a fresh token and returns its claims", async () => {
        const token = await mintToken(SECRET, claims, { now });
        await expect(verifyToken(token, SECRET, claims, { now: later(60) })).resolves.toMatchObject({ iss: "model-service", scope: ["chat:write", "metrics:read"] });
    });

    it("rejects a token signed with another secret (rotated keys, another stack)", async () => {
        const token = await mintToken(`${SECRET}-other`, claims, { now });
        const e = await rejection(verifyToken(token, SECRET, claims, { now }));
        expect(e).toBeInstanceOf(TokenError);
        expect(e.message).toMatch(/the signature does not verify\. the token was signed with another secret/);
    });

    it("rejects an expired token and points at the clocks (R15)", async () => {
        const token = await mintToken(SECRET, claims, { now });
        const e = await rejection(verifyToken(token, SECRET, claims, { now: later(3600 + 31) }));
        expect(e.message).toMatch(/the token expired/);
        expect(e.message).toMatch(/NTP-synchronised/);
    });

    it("tolerates 30 s of clock difference, no more", async () => {
        const token = await mintToken(SECRET, claims, { now });
        await expect(verifyToken(token, SECRET, claims, { now: later(3600 + 29) })).resolves.toBeDefined();
    });

    it("rejects another audience or issuer", async () => {
        const token = await mintToken(SECRET, claims, { now });
        expect((await rejection(verifyToken(token, SECRET, { ...claims, aud: "someone-else" }, { now }))).message).toMatch(/claim "aud" is invalid/);
        expect((await rejection(verifyToken(token, SECRET, { ...claims, iss: "other" }, { now }))).message).toMatch(/claim "iss" is invalid/);
    });

    it("rejects any algorithm but HS256, and unsigned tokens", async () => {
        const base = { iss: claims.iss, aud: claims.aud, scope: claims.scope, iat: now.getTime() / 1000, exp: now.getTime() / 1000 + 60 };
        const hs512 = await new SignJWT(base).setProtectedHeader({ alg: "HS512" }).sign(key);
        expect((await rejection(verifyToken(hs512, SECRET, claims, { now }))).message).toMatch(/not signed with HS256/);
        const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
        const unsigned = `${b64({ alg: "none", typ: "JWT" })}.${b64(base)}.`;
        expect(await rejection(verifyToken(unsigned, SECRET, claims, { now }))).toBeInstanceOf(TokenError);
    });

    it("rejects a token that lives longer than the configured lifetime, or carries unknown scopes", async () => {
        const iat = now.getTime() / 1000;
        const long = await new SignJWT({ scope: claims.scope }).setProtectedHeader({ alg: "HS256" }).setIssuer(claims.iss).setAudience(claims.aud).setIssuedAt(iat).setExpirationTime(iat + 86400).sign(key);
        expect((await rejection(verifyToken(long, SECRET, claims, { now }))).message).toMatch(/lives 86400s, longer than the configured 3600s/);
        const wide = await new SignJWT({ scope: ["chat:write", "admin:all"] }).setProtectedHeader({ alg: "HS256" }).setIssuer(claims.iss).setAudience(claims.aud).setIssuedAt(iat).setExpirationTime(iat + 60).sign(key);
        expect((await rejection(verifyToken(wide, SECRET, claims, { now }))).message).toMatch(/not a non-empty subset of the configured scopes/);
    });

    it("explains a malformed token", async () => {
        expect((await rejection(verifyToken("not-a-jwt", SECRET, claims, { now }))).message).toMatch(/not a valid JWT/);
    });
});

/** A `pulumi stack export --show-secrets` document as the CLI writes it. */
function stackExport(secret: unknown, withClaims = true) {
    return {
        version: 3,
        deployment: {
            resources: [
                { urn: "urn:pulumi:dev::triton-platform::pulumi:pulumi:Stack::triton-platform-dev", type: "pulumi:pulumi:Stack", outputs: withClaims ? { jwtClaims: claims } : {} },
                { urn: "urn:pulumi:dev::triton-platform::triton-platform:keys:Keys::keys", type: "triton-platform:keys:Keys", outputs: withClaims ? { claims } : {} },
                {
                    urn: "urn:pulumi:dev::triton-platform::triton-platform:keys:Keys$random:index/randomPassword:RandomPassword::keys-jwt-secret",
                    type: "random:index/randomPassword:RandomPassword",
                    outputs: { length: 48, result: secret },
                },
            ],
        },
    };
}
const shown = (v: string) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: JSON.stringify(v) });

describe("reading the stack's secret", () => {
    it("finds the JWT secret and the claims in a --show-secrets export", () => {
        expect(secretsFromExport(stackExport(shown(SECRET)))).toEqual({ jwtSecret: SECRET, claims });
    });

    it("signs with the rotation slot the Keys component names (jwtRotation.signingKey), not the other one", () => {
        const doc = stackExport(shown("PreviousSlotSecret0123456789abcdefABCDEF"));
        const resources = doc.deployment.resources as { urn: string; type: string; outputs: Record<string, unknown> }[];
        resources[1].outputs.jwtRotation = { signingKey: "keys-jwt-secret-b", previousKey: "keys-jwt-secret" };
        resources.push({
            urn: "urn:pulumi:dev::triton-platform::triton-platform:keys:Keys$random:index/randomPassword:RandomPassword::keys-jwt-secret-b",
            type: "random:index/randomPassword:RandomPassword",
            outputs: { length: 48, result: shown(SECRET) },
        });
        expect(secretsFromExport(doc).jwtSecret).toBe(SECRET);
    });

    it("says to use --show-secrets when the export is encrypted", () => {
        const enc = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: "v1:abc" };
        expect(() => secretsFromExport(stackExport(enc))).toThrow(/encrypted in the export: run `pulumi stack export --show-secrets`/);
    });

    it("says what is missing, without quoting the secret", () => {
        expect(() => secretsFromExport({ deployment: { resources: [] } })).toThrow(/has `pulumi up` run for this stack/);
        expect(() => secretsFromExport(stackExport(shown(SECRET), false))).toThrow(/no JWT claims in the export/);
        try {
            secretsFromExport(stackExport(shown(SECRET), false));
        } catch (e) {
            expect((e as Error).message).not.toContain(SECRET);
        }
    });
});

describe("npm run token", () => {
    const io = (exportDoc: unknown) => {
        const out: string[] = [];
        const err: string[] = [];
        const t: TokenIO = { readExport: async () => (typeof exportDoc === "string" ? exportDoc : JSON.stringify(exportDoc)), out: (l) => out.push(l), err: (l) => err.push(l), now };
        return { t, out, err };
    };

    it("mints a token that verifies, and prints only the token", async () => {
        const { t, out, err } = io(stackExport(shown(SECRET)));
        expect(await main(["--stack", "dev", "--subject", "teams-bot"], t)).toBe(0);
        expect(err).toEqual([]);
        expect(out).toHaveLength(1);
        expect(out[0]).not.toContain(SECRET);
        await expect(verifyToken(out[0], SECRET, claims, { now })).resolves.toMatchObject({ sub: "teams-bot" });
    });

    it("--verify reports a valid token, and an invalid one with exit code 1 and no secret in the message", async () => {
        const token = await mintToken(SECRET, claims, { now });
        const ok = io(stackExport(shown(SECRET)));
        expect(await main(["--verify", token], ok.t)).toBe(0);
        expect(ok.out[0]).toMatch(/^valid: alg HS256, iss model-service, aud collaboration-platform, sub platform-admin, scope \["chat:write","metrics:read"\], expires 2026-02-01T11:00:00.000Z/);
        const bad = io(stackExport(shown(`${SECRET}-rotated`)));
        expect(await main(["--verify", token], bad.t)).toBe(1);
        expect(bad.err.join("\n")).toMatch(/^token: invalid token: the signature does not verify/);
        expect(bad.err.join("\n")).not.toContain(SECRET);
    });

    it("does not echo a malformed export (it holds every secret of the stack)", async () => {
        const { t, err } = io(`{"secret": "${SECRET}"`);
        expect(await main([], t)).toBe(1);
        expect(err.join("\n")).toMatch(/the stack export is not JSON/);
        expect(err.join("\n")).not.toContain(SECRET);
    });

    it("explains bad options with exit code 2", async () => {
        const { t, err } = io({});
        expect(await main(["--frobnicate"], t)).toBe(2);
        expect(err[0]).toMatch(/unknown option --frobnicate\nusage: npm run -s token/);
        expect(() => parseArgs(["--verify"])).toThrow(/--verify needs a value/);
        expect(parseArgs(["--scope", "chat:write, metrics:read", "--export", "-"])).toEqual({ keysName: "keys", scope: ["chat:write", "metrics:read"], exportFile: "-" });
    });
});
