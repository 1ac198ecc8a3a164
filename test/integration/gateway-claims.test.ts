// The gateway's claim checks, in the integration tier (vitest project integration): the generated
// haproxy.cfg runs in Debian's haproxy (as promtool and otelcol run in this tier) in front of a
// stand-in upstream, and each R10 check is shown to refuse what it must. A generator that lost its
// audience or expiry check fails here, not only in the end-to-end suite. The full attack matrix is
// test/e2e/gateway.test.ts.
import { ChildProcess, spawn } from "child_process";
import { createHmac } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewaySchema, renderHaproxyConfig } from "../../components/gateway";
import { freePort } from "../support/ports";

const SECRET = "unit-claims-secret-0123456789abcdef-0123456789";
const JWT = { issuer: "model-service", audience: "collaboration-platform", lifetimeSeconds: 3600 };

function sign(payload: Record<string, unknown>, key = SECRET): string {
    const input = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
    return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`;
}

function get(port: number, token: string): Promise<{ status: number; reason?: string }> {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, path: "/v2/health/ready", headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, reason: res.statusCode === 200 ? undefined : JSON.parse(body).error_description }));
        });
        req.on("error", reject);
        req.end();
    });
}

describe("the gateway's R10 claim checks in haproxy", () => {
    let dir: string;
    let haproxy: ChildProcess | undefined;
    let upstream: http.Server;
    let port: number;
    let stderr = "";

    beforeAll(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-claims-"));
        const [statsPort, upstreamPort] = [await freePort(), await freePort()];
        port = await freePort();
        upstream = http.createServer((_req, res) => res.end("{}"));
        await new Promise<void>((r) => upstream.listen(upstreamPort, "127.0.0.1", r));
        const cfg = renderHaproxyConfig({
            settings: gatewaySchema.parse({}),
            jwt: JWT,
            listeners: [{ name: "http", address: "127.0.0.1", port }],
            statsListener: { address: "127.0.0.1", port: statsPort },
            upstreams: { triton: { host: "127.0.0.1", port: upstreamPort }, "triton-metrics": { host: "127.0.0.1", port: upstreamPort } },
            process: { pidfile: path.join(dir, "haproxy.pid") },
        });
        fs.writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
        haproxy = spawn("haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", JWT_SECRET: SECRET }, stdio: ["ignore", "ignore", "pipe"] });
        haproxy.stderr!.on("data", (d) => (stderr += d));
        for (let i = 0; i < 100; i++) {
            if (haproxy.exitCode !== null) {
                throw new Error(`haproxy exited: ${stderr}`);
            }
            const up = await new Promise<boolean>((resolve) => {
                const req = http.get({ host: "127.0.0.1", port: statsPort, path: "/healthz", agent: false }, (res) => {
                    res.resume();
                    resolve(res.statusCode === 200);
                });
                req.on("error", () => resolve(false));
            });
            if (up) {
                return;
            }
            await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`haproxy did not come up: ${stderr}`);
    });

    afterAll(async () => {
        if (haproxy && haproxy.exitCode === null) {
            const exited = new Promise((r) => haproxy!.once("exit", r));
            haproxy.kill("SIGTERM");
            await exited;
        }
        await new Promise((r) => upstream?.close(r));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    const now = () => Math.floor(Date.now() / 1000);
    const claims = (extra: Record<string, unknown> = {}) => ({ iss: JWT.issuer, aud: JWT.audience, scope: ["chat:write"], iat: now(), exp: now() + 600, ...extra });

    it("accepts a valid token (the control the refusals below are measured against)", async () => {
        expect(await get(port, sign(claims()))).toEqual({ status: 200 });
        expect(await get(port, sign(claims({ aud: ["other", JWT.audience] })))).toEqual({ status: 200 });
    });

    it("checks the audience: another audience, or none, is refused", async () => {
        expect(await get(port, sign(claims({ aud: "someone-else" })))).toEqual({ status: 401, reason: "bad_audience" });
        expect(await get(port, sign(claims({ aud: ["a", "b"] })))).toEqual({ status: 401, reason: "bad_audience" });
        expect(await get(port, sign(claims({ aud: undefined })))).toEqual({ status: 401, reason: "bad_audience" });
    });

    it("checks expiry: expired, missing or unreadable exp is refused; within the skew passes", async () => {
        expect(await get(port, sign(claims({ iat: now() - 7200, exp: now() - 120 })))).toEqual({ status: 401, reason: "expired" });
        expect(await get(port, sign(claims({ exp: undefined })))).toEqual({ status: 401, reason: "missing_exp" });
        expect(await get(port, sign(claims({ exp: String(now() + 600) })))).toEqual({ status: 401, reason: "bad_exp" });
        expect(await get(port, sign(claims({ exp: now() + 86_400 })))).toEqual({ status: 401, reason: "lifetime_too_long" });
        expect(await get(port, sign(claims({ iat: now() - 3600, exp: now() - 5 })))).toEqual({ status: 200 });
    });

    it("checks issuer, signature, nbf and iat", async () => {
        expect(await get(port, sign(claims({ iss: "someone-else" })))).toEqual({ status: 401, reason: "bad_issuer" });
        expect(await get(port, sign(claims(), "another-secret-0123456789abcdef-0123456789"))).toEqual({ status: 401, reason: "bad_signature" });
        expect(await get(port, sign(claims({ nbf: now() + 600 })))).toEqual({ status: 401, reason: "not_yet_valid" });
        expect(await get(port, sign(claims({ nbf: 1e30 })))).toEqual({ status: 401, reason: "bad_nbf" });
        expect(await get(port, sign(claims({ iat: now() + 600, exp: now() + 900 })))).toEqual({ status: 401, reason: "issued_in_future" });
    });
});
