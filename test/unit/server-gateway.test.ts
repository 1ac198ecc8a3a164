// The entry point on the lightweight server ("the gateway listens on 80 and 18789 and Triton
// binds to loopback only"), under mocks: the gateway container runs the generated haproxy.cfg, Triton is
// published on 127.0.0.1 only, the JWT secret reaches the server on stdin as a root-only file and
// nowhere else, the readiness checks go to Triton on the loopback and to every gateway listener, the
// firewall opens 80 and 18789 and nothing behind them, and the outputs point at the gateway. Also the
// pure helpers behind it, and the behaviour with the gateway disabled.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_ROUTES, gatewaySchema, routeSchema } from "../../components/gateway/schema";
import { SERVER_GATEWAY_CONTAINER, serverGateway } from "../../components/gateway/server-plan";
import { jwtRotation, KEY_ROLES, resolveNow } from "../../components/keys";
import { buildClaims } from "../../components/keys/claims";
import { keysSchema } from "../../components/keys/schema";
import { checkGatewayServicePort, envelopePath, gatewayContainerArgs, gatewayProbe } from "../../components/gateway/server-plan";
import { ServerGatewayOptions } from "../../components/gateway/server";
import { serverSchema } from "../../components/server/schema";
import { loadDefinition, readSecrets } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { deployServer } from "../../stack/server";
import { one, ofType, Registered, RunResult, runMocked, stackFileConfig } from "../support/harness";

const KEYS = {
    apiKey: "ApiKeyValueGw00000000000000000000000000000001",
    apiKeySecret: "ApiKeySecretValueGw0000000000000000000000002",
    jwtSecret: "JwtSecretValueGw000000000000000000000000003",
    hmacKey: "HmacKeyValueGw00000000000000000000000000004",
    tritonAdminKey: "TritonAdminKeyValueGw000000000000000000005",
};
const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAGATEWAYFAKE\n-----END OPENSSH PRIVATE KEY-----";
const JWT = keysSchema.parse({}).jwt;
const CONTAINER = "docker:index/container:Container";
const COMMAND = "command:remote:Command";

/** Pulumi's secret envelope on the wire (the harness's mocks receive secrets wrapped in it). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const isSecret = (v: unknown) => v !== null && typeof v === "object" && (v as Record<string, unknown>)[SIG_KEY] !== undefined;
const reveal = (v: any) => (isSecret(v) ? v.value : v);
const dependsOnNames = (r: Registered) => ((r.opts.dependsOn ?? []) as pulumi.Resource[]).map((d) => (d as unknown as { __name: string }).__name);
/** The script a remote command line carries (`[sudo -n ]bash -c '<script>'`, quotes undone). */
const scriptOf = (create: string) => create.replace(/^(sudo -n )?bash -c '/, "").replace(/'$/, "").split(`'\\''`).join("'");
const labelsOf = (c: Registered) => Object.fromEntries((c.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "server-gateway-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function serverProgram(gateway: ServerGatewayOptions | undefined, servicePort = 18789, now?: Date) {
    return async () => {
        const server = deployServer("server", {
            settings: serverSchema.parse({ host: "203.0.113.10", user: "ubuntu" }),
            privateKey: pulumi.secret(PRIVATE_KEY),
            keys: {
                apiKey: pulumi.secret(KEYS.apiKey),
                apiKeySecret: pulumi.secret(KEYS.apiKeySecret),
                jwtSecret: pulumi.secret(KEYS.jwtSecret),
                hmacKey: pulumi.secret(KEYS.hmacKey),
                tritonAdminKey: pulumi.secret(KEYS.tritonAdminKey),
                claims: pulumi.output(buildClaims(keysSchema.parse({}))),
            },
            firewall: { ruleset: "table inet triton_platform {\n}\n", sshCheck: "table inet triton_platform_ssh_check {\n}\n", table: "triton_platform", checkTable: "triton_platform_ssh_check" },
            triton: { servicePort, ports: { http: 8000, grpc: 8001, metrics: 8002 }, exitTimeoutSeconds: 30 },
            gateway,
            instance: "triton-platform-server",
            localSsh: { directory: scratch, name: "triton-platform-server" },
            now,
        });
        return { endpoint: server.endpoint, troubleshooting: server.troubleshooting, gatewayContainerName: server.gatewayContainerName };
    };
}

/** Paths in a value where one of the secret values appears outside Pulumi's secret envelope. */
function plainLeaks(value: unknown, where: string, secrets: string[], out: string[] = []): string[] {
    if (typeof value === "string") {
        secrets.filter((s) => value.includes(s)).forEach(() => out.push(where));
    } else if (Array.isArray(value)) {
        value.forEach((v, i) => plainLeaks(v, `${where}[${i}]`, secrets, out));
    } else if (value !== null && typeof value === "object") {
        if ((value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG) {
            return out;
        }
        for (const [k, v] of Object.entries(value)) {
            plainLeaks(v, `${where}.${k}`, secrets, out);
        }
    }
    return out;
}

describe("LightweightServer with the gateway", () => {
    const settings = gatewaySchema.parse({});
    const expected = serverGateway({
        settings,
        jwt: JWT,
        tritonHttpPort: 8000,
        tritonMetricsPort: 8002,
        slotRouting: { fileName: "slots.cfg", adminDir: "/var/lib/triton-platform/gateway-admin", socketName: "admin.sock" },
    });
    let run: RunResult;
    beforeAll(async () => {
        run = await runMocked(serverProgram({ settings, jwt: JWT }), { stack: "server" });
    });
    const gateway = () => one(run, CONTAINER, "server-gateway");
    const triton = () => one(run, CONTAINER, "server-model-server-blue");
    const cmd = (role: string) => one(run, COMMAND, `server-${role}`);

    it("publishes Triton's HTTP and metrics ports on 127.0.0.1 only: nothing on 18789, nothing on every address", () => {
        // The active slot's own loopback ports; 8000/8002 are the gateway's slot router in front of them.
        expect(triton().inputs.ports).toEqual([
            { internal: 8000, external: 8100, ip: "127.0.0.1" },
            { internal: 8002, external: 8102, ip: "127.0.0.1" },
        ]);
        const router = cmd("slot-switch").inputs.stdin as string;
        expect(router).toMatch(/^ {4}bind 127\.0\.0\.1:8000$/m);
        expect(router).toMatch(/^ {4}bind 127\.0\.0\.1:8002$/m);
        expect(router).not.toMatch(/bind (:|0\.0\.0\.0:)/);
    });

    it("runs the gateway container with the generated haproxy.cfg, on the host network, from the pinned image", () => {
        const c = gateway();
        expect(c.parent).toBe("triton-platform:server:LightweightServer::server");
        expect(c.provider).toMatch(/::server-docker::/);
        expect(c.inputs).toMatchObject({ name: SERVER_GATEWAY_CONTAINER, networkMode: "host", readOnly: true, restart: "unless-stopped", mustRun: true, stopSignal: "SIGUSR1" });
        expect(c.inputs.volumes).toEqual([
            { hostPath: "/etc/triton-platform/gateway", containerPath: "/usr/local/etc/haproxy", readOnly: true },
            { hostPath: "/etc/triton-platform/secrets/gateway", containerPath: "/run/secrets/gateway", readOnly: true },
            // The admin socket's root-only folder: the only writable mount (the switch step talks to haproxy there).
            { hostPath: "/var/lib/triton-platform/gateway-admin", containerPath: "/run/haproxy-admin", readOnly: false },
        ]);
        expect(c.inputs.entrypoints).toEqual(expected.container.entrypoints);
        // haproxy.cfg, then the slot router the switch step writes (R16 blue-green).
        expect(c.inputs.entrypoints[2]).toMatch(/exec haproxy -W -db -f \/usr\/local\/etc\/haproxy\/haproxy\.cfg -f \/usr\/local\/etc\/haproxy\/slots\.cfg$/);
        // The config the container reads is exactly the generated one, written from stdin (no secret in it).
        const config = cmd("gateway-config");
        expect(config.inputs.stdin).toBe(expected.config);
        expect(config.inputs.stdin).toMatch(/^ {4}bind :18789 name port-18789$/m);
        expect(config.inputs.stdin).toMatch(/^ {4}bind :80 name port-80$/m);
        expect(config.inputs.stdin).toContain("server upstream 127.0.0.1:8000");
        expect(config.inputs.create).toContain("/etc/triton-platform/gateway/haproxy.cfg");
        expect(config.inputs.create).toContain("chmod 0644");
        expect(labelsOf(c)["triton-platform/config-sha256"]).toBe(expected.fingerprint);
        // A rewritten config or secret file recreates the container (haproxy reads them at start only).
        expect(Object.keys(labelsOf(c))).toEqual(expect.arrayContaining(["triton-platform/config-file-revision", "triton-platform/key-file-revision"]));
        const image = one(run, "docker:index/remoteImage:RemoteImage", "server-gateway-image");
        expect(image.inputs).toEqual({ name: "docker.io/library/haproxy:2.8.14-alpine", keepLocally: true });
        expect(labelsOf(c)).toMatchObject({ "app.kubernetes.io/component": "entry-point", "app.kubernetes.io/version": "2.8.14-alpine" });
    });

    it("hardens the gateway container: read-only, every capability dropped but the three haproxy needs, no env, memory limit, healthcheck, log rotation", () => {
        const i = gateway().inputs;
        expect(i.capabilities).toEqual({ drops: ["ALL"], adds: ["CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID"] });
        expect(i.securityOpts).toEqual(["no-new-privileges:true"]);
        expect(i.envs).toBeUndefined();
        expect(i.ports).toBeUndefined();
        expect(i.memory).toBe(256);
        expect(i.healthcheck.tests).toEqual(["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8405/healthz"]);
        expect(i.logDriver).toBe("json-file");
        expect(i.logOpts).toEqual({ "max-size": "50m", "max-file": "5" });
    });

    it("starts the gateway after Triton's container (which held 18789 before) and after its files, and replaces it delete-first", () => {
        expect(dependsOnNames(gateway())).toEqual(expect.arrayContaining(["server-gateway-config", "server-gateway-jwt-secret", "server-model-server-blue", "server-slot-switch", "server-firewall"]));
        expect(gateway().opts.deleteBeforeReplace).toBe(true);
    });

    it("writes the JWT secret alone on stdin into a root-only file, not logged; it is in no command line and no container setting", () => {
        const secret = cmd("gateway-jwt-secret");
        expect(isSecret(secret.inputs.stdin)).toBe(true);
        expect(reveal(secret.inputs.stdin)).toBe(KEYS.jwtSecret);
        expect(secret.inputs.logging).toBe("none");
        expect(secret.opts.additionalSecretOutputs).toContain("stdin");
        expect(secret.inputs.create).toMatch(/^sudo -n bash -c '/);
        expect(secret.inputs.create).toContain("/etc/triton-platform/secrets/gateway/jwt-secret");
        expect(secret.inputs.create).toContain("install -d -m 0700");
        expect(secret.inputs.create).toContain(`chmod ${expected.secretFile.mode} "$tmp"`);
        for (const c of ofType(run, COMMAND)) {
            expect(JSON.stringify(c.inputs.create)).not.toContain(KEYS.jwtSecret);
        }
        expect(JSON.stringify(gateway().inputs)).not.toContain(KEYS.jwtSecret);
    });

    it("no secret value appears in plain form in any registered input", () => {
        const values = [...Object.values(KEYS), "b3BlbnNzaC1rZXktdjEAAAAAGATEWAYFAKE"];
        const leaks = run.resources.flatMap((r) => plainLeaks(r.inputs, `${r.type}::${r.name}`, values));
        expect(leaks).toEqual([]);
        // Not vacuous: the search does see values (inside the envelope it skips).
        expect(plainLeaks(reveal(cmd("gateway-jwt-secret").inputs.stdin), "revealed", values)).toEqual(["revealed"]);
    });

    it("waits for Triton on the loopback (through the gateway it would need a token), then for every gateway listener to refuse a request without a token", () => {
        // The active slot's own port (the router in the gateway is not up before the first switch).
        const wait = cmd("slot-switch");
        expect(scriptOf(wait.inputs.create)).toContain("ready_url='http://127.0.0.1:8100/v2/health/ready'");
        expect(wait.inputs.create).not.toContain("18789");
        const gw = cmd("gateway-ready");
        expect(dependsOnNames(gw)).toEqual(["server-gateway", "server-slot-switch"]);
        expect(gw.inputs.triggers).toHaveLength(1);
        expect(gw.inputs.create).toMatch(/^sudo -n bash -c '/);
        const script = scriptOf(gw.inputs.create);
        expect(script).toContain("urls=('http://127.0.0.1:80/v2/health/ready' 'http://127.0.0.1:18789/v2/health/ready')");
        expect(script).toContain("expected=401");
        expect(script).toContain("method=GET");
        expect(script).toContain("health_url='http://127.0.0.1:8405/healthz'");
        expect(script).toContain("timeout=60");
    });

    it("exports the gateway's endpoint and troubleshooting commands for it", () => {
        expect(run.outputs.endpoint).toBe("http://203.0.113.10:18789");
        expect(run.outputs.gatewayContainerName).toBe("triton-gateway");
        const t = run.outputs.troubleshooting;
        expect(t.readiness).toBe('curl -sS -H "Authorization: Bearer $(npm run -s token -- --scope chat:write)" http://203.0.113.10:18789/v2/health/ready; echo');
        expect(t.gatewayLogs).toBe("ssh -p 22 ubuntu@203.0.113.10 docker logs --tail 200 triton-gateway");
        expect(t.gatewayAuthFailures).toContain("grep -E 'auth=[a-z]'");
        expect(t.gatewayHealth).toContain("docker inspect --format '{{json .State.Health}}' triton-gateway");
        expect(t.tritonDirect).toBe("ssh -p 22 ubuntu@203.0.113.10 curl -fsS http://127.0.0.1:8000/v2/health/ready && echo ready");
        expect(t.sendEnvelope).toBe("npm run -s token -- --send http://203.0.113.10:18789/webhook/<platform> --platform <platform>  # <platform>: a key of dialogueReplyUrls");
        expect(t.portReachability).toMatch(/nc -vz 203\.0\.113\.10 18789/);
        expect(t.containerLogs).toBe("ssh -p 22 ubuntu@203.0.113.10 docker logs --tail 200 triton-model-server-blue");
        expect(t.slots).toContain("--unix-socket /var/lib/triton-platform/gateway-admin/admin.sock");
    });
});

describe("LightweightServer with a previous JWT secret (key rotation without an outage)", () => {
    const settings = gatewaySchema.parse({});
    const PREVIOUS = "PreviousJwtSecretValueGw00000000000000000006";
    const END = Date.parse("2026-03-10T00:00:00Z") / 1000; // the overlap's end (window start + 2 days)
    const rotating = (now: string) =>
        runMocked(
            serverProgram(
                { settings, jwt: JWT, previousJwt: { secret: pulumi.secret(PREVIOUS), acceptedUntilEpoch: pulumi.output(END) } },
                18789,
                new Date(now),
            ),
            { stack: "server" },
        );
    let during: RunResult;
    let after: RunResult;
    beforeAll(async () => {
        during = await rotating("2026-03-08T01:00:00Z");
        after = await rotating("2026-03-10T00:00:00Z");
    });
    const step = (run: RunResult) => one(run, COMMAND, "server-gateway-jwt-previous-secret");
    const config = (run: RunResult) => one(run, COMMAND, "server-gateway-config").inputs.stdin as string;

    it("during the overlap, writes the previous secret on stdin into jwt-secret-previous (root, 0400), exactly as the current one", () => {
        const prev = step(during);
        expect(isSecret(prev.inputs.stdin)).toBe(true);
        expect(reveal(prev.inputs.stdin)).toBe(PREVIOUS);
        expect(prev.inputs.logging).toBe("none");
        expect(prev.opts.additionalSecretOutputs).toContain("stdin");
        const script = scriptOf(prev.inputs.create);
        expect(prev.inputs.create).toMatch(/^sudo -n bash -c '/);
        expect(script).toContain("path=\"$root\"'/etc/triton-platform/secrets/gateway/jwt-secret-previous'");
        expect(script).toContain('chmod 0400 "$tmp"');
        expect(script).toContain("chown 0:0");
        // Never on a command line, in a container setting or in the config.
        for (const c of ofType(during, COMMAND)) {
            expect(JSON.stringify(c.inputs.create)).not.toContain(PREVIOUS);
        }
        expect(JSON.stringify(one(during, CONTAINER, "server-gateway").inputs)).not.toContain(PREVIOUS);
        expect(config(during)).not.toContain(PREVIOUS);
    });

    it("passes the overlap's end: haproxy.cfg refuses the previous secret after it, and the container reads the file into JWT_SECRET_PREVIOUS", () => {
        for (const run of [during, after]) {
            expect(config(run)).toContain(`!{ date lt ${END} }`);
            expect(config(run)).toContain("set-var proc.jwt_key_prev env(JWT_SECRET_PREVIOUS)");
            expect(String(one(run, CONTAINER, "server-gateway").inputs.entrypoints[2])).toContain('JWT_SECRET_PREVIOUS="$(cat /run/secrets/gateway/jwt-secret-previous)"');
        }
        // Without a previous secret, the config has neither.
        expect(serverGateway({ settings, jwt: JWT }).config).not.toContain("jwt_key_prev");
    });

    it("recreates the gateway when the file changes: its step is a dependency and its id a label of the container", () => {
        const c = one(during, CONTAINER, "server-gateway");
        expect(dependsOnNames(c)).toContain("server-gateway-jwt-previous-secret");
        expect(Object.keys(labelsOf(c))).toContain("triton-platform/previous-key-file-revision");
        expect(labelsOf(c)["triton-platform/config-sha256"]).toBe(
            serverGateway({ settings, jwt: { ...JWT, previousKeyValidUntil: END }, tritonHttpPort: 8000, tritonMetricsPort: 8002 }).fingerprint,
        );
    });

    it("after the overlap, removes the file and sends no secret", () => {
        const prev = step(after);
        const script = scriptOf(prev.inputs.create);
        expect(script).toContain("rm -f \"$path\"");
        expect(script).toContain("/etc/triton-platform/secrets/gateway/jwt-secret-previous");
        expect(script).not.toContain("cat > ");
        expect(reveal(prev.inputs.stdin)).toBe("");
        expect(JSON.stringify(after.resources.map((r) => r.inputs))).not.toContain(PREVIOUS);
        // The script differs from the overlap's, so the step is replaced and the gateway restarts without it.
        expect(prev.inputs.create).not.toBe(step(during).inputs.create);
    });

    it("without a previous secret there is no such step", async () => {
        const run = await runMocked(serverProgram({ settings, jwt: JWT }), { stack: "server" });
        expect(ofType(run, COMMAND).map((c) => c.name)).not.toContain("server-gateway-jwt-previous-secret");
    });
});

describe("LightweightServer with the gateway disabled keeps Triton on 18789", () => {
    it.each([
        ["gateway.enabled false", { settings: gatewaySchema.parse({ enabled: false }), jwt: JWT }],
        ["no gateway", undefined],
    ])("%s: Triton published on 18789, readiness on 18789, no gateway resources", async (_, gateway) => {
        const run = await runMocked(serverProgram(gateway), { stack: "server" });
        expect(one(run, CONTAINER).inputs.ports).toEqual([
            { internal: 8000, external: 18789 },
            { internal: 8002, external: 8002, ip: "127.0.0.1" },
        ]);
        expect(one(run, COMMAND, "server-wait-ready").inputs.create).toContain("http://127.0.0.1:18789/v2/health/ready");
        expect(run.resources.filter((r) => /gateway/.test(r.name))).toEqual([]);
        expect(run.outputs.endpoint).toBe("http://203.0.113.10:18789");
        expect(run.outputs.gatewayContainerName).toBeUndefined();
        expect(run.outputs.troubleshooting.readiness).toBe("curl -fsS http://203.0.113.10:18789/v2/health/ready && echo ready");
        expect(run.outputs.troubleshooting.gatewayLogs).toBeUndefined();
    });

    it("refuses a service port the gateway does not listen on, naming the settings to change", async () => {
        await expect(runMocked(serverProgram({ settings: gatewaySchema.parse({}), jwt: JWT }, 9000), { stack: "server" })).rejects.toThrow(
            /modelService\.servicePort is 9000, but the server's gateway listens on 80 and 18789.*gateway\.enabled to false/,
        );
    });
});

describe("the server stack (Pulumi.server.yaml) with the gateway", () => {
    /** What the random mocks return (as keys-secrets.test.ts does): known values to search for. */
    // Every generated key, the JWT secret's second rotation slot included (components/keys/rotation.ts).
    const GENERATED: Record<string, string> = Object.fromEntries(
        [...Object.values(KEY_ROLES), "jwt-secret-b"].map((role, i) => [`keys-${role}`, `SrvGw${role.replace(/-/g, "")}R${i}q8Kd3Lw7Pz2Xn5Vb`]),
    );
    interface Sent {
        type: string;
        name: string;
        value: unknown;
    }
    let run: RunResult;
    const sent: Sent[] = [];
    beforeAll(async () => {
        const home = process.env.HOME;
        process.env.HOME = scratch; // the default key folder is under ~/.cache
        try {
            run = await runMocked(
                () => {
                    // Random resources return GENERATED; every registration is recorded in its wire form.
                    const monitor = pulumi.runtime.getMonitor() as any;
                    const mocks = monitor.mocks;
                    monitor.mocks = {
                        call: (args: pulumi.runtime.MockCallArgs) => mocks.call(args),
                        newResource: async (args: pulumi.runtime.MockResourceArgs) => {
                            const result = await mocks.newResource(args);
                            if (args.type === "random:index/randomPassword:RandomPassword") {
                                result.state = { ...result.state, result: GENERATED[args.name] ?? `unexpected-${args.name}` };
                            }
                            return result;
                        },
                    };
                    const register = monitor.registerResource.bind(monitor);
                    monitor.registerResource = (req: any, cb: any) => {
                        sent.push({ type: req.getType(), name: req.getName(), value: req.getObject()?.toJavaScript() ?? {} });
                        return register(req, cb);
                    };
                    return deployPlatform(loadDefinition(), readSecrets());
                },
                { stack: "server", config: stackFileConfig("server"), secrets: { serverPrivateKey: PRIVATE_KEY } },
            );
        } finally {
            process.env.HOME = home;
        }
    });

    it("declares the gateway in front of a loopback-only Triton", () => {
        expect(one(run, CONTAINER, "server-gateway").inputs.name).toBe("triton-gateway");
        for (const p of one(run, CONTAINER, "server-model-server-blue").inputs.ports) {
            expect(p.ip).toBe("127.0.0.1");
        }
        expect(run.outputs.serverEndpoint).toBe("http://203.0.113.10:18789");
        expect(run.outputs.serverTroubleshooting.gatewayLogs).toMatch(/docker logs --tail 200 triton-gateway$/);
    });

    it("the generated JWT secret travels only inside the secret envelope, to the gateway's secret file", () => {
        const values = Object.values(GENERATED);
        const leaks = sent.flatMap((s) => plainLeaks(s.value, `${s.type}::${s.name}`, values));
        expect(leaks).toEqual([]);
        const file = sent.find((s) => s.name === "server-gateway-jwt-secret")!.value as Record<string, any>;
        expect(file.stdin[SIG_KEY]).toBe(SECRET_SIG);
        // The secret of the slot that signs in the current rotation period.
        const signing = jwtRotation(resolveNow(), keysSchema.parse({})).signing === "a" ? "keys-jwt-secret" : "keys-jwt-secret-b";
        expect(file.stdin.value).toBe(GENERATED[signing]);
    });

    it("the previous period's JWT secret travels only inside the secret envelope, to jwt-secret-previous (or the file is removed after the overlap)", () => {
        const rotation = jwtRotation(resolveNow(), keysSchema.parse({}));
        const file = sent.find((s) => s.name === "server-gateway-jwt-previous-secret")!.value as Record<string, any>;
        expect(file.stdin[SIG_KEY]).toBe(SECRET_SIG);
        const overlap = resolveNow().getTime() < rotation.previousAcceptedUntilEpoch * 1000;
        expect(file.stdin.value).toBe(overlap ? GENERATED[rotation.previous === "a" ? "keys-jwt-secret" : "keys-jwt-secret-b"] : "");
        expect(one(run, COMMAND, "server-gateway-config").inputs.stdin).toContain(`!{ date lt ${rotation.previousAcceptedUntilEpoch} }`);
    });

    it("ships the gateway's access log: the log shipper's source label for the entry point", () => {
        const c = one(run, CONTAINER, "server-gateway");
        expect(labelsOf(c)["triton-platform.component"]).toBe("entry-point");
        expect(c.inputs.logDriver).toBe("json-file");
        expect(c.inputs.logOpts).toMatchObject({ labels: "triton-platform.component", "max-size": "50m", "max-file": "5" });
    });

    it("the firewall opens 80 and 18789 (now haproxy's, on the host) and nothing behind them: 8000, 8002 and 8405 stay closed", () => {
        const ruleset = one(run, COMMAND, "server-firewall").inputs.create as string;
        expect(ruleset).toContain("meta nfproto ipv4 meta l4proto tcp ct original proto-dst 80 accept");
        expect(ruleset).toContain("meta nfproto ipv4 meta l4proto tcp ct original proto-dst 18789 accept");
        for (const port of [8000, 8001, 8002, 8405]) {
            expect(ruleset).not.toMatch(new RegExp(`proto-dst ${port}\\b`));
        }
        // Inbound default drop, and DNATed connections (a published port) judged by the same rules.
        expect(ruleset).toContain("type filter hook input priority filter; policy drop;");
        expect(ruleset).toContain("ct status dnat drop");
    });
});

describe("the pure helpers behind it", () => {
    const routes = (rs: unknown[]) => rs.map((r) => routeSchema.parse(r));
    const defaults = routes(DEFAULT_ROUTES);

    it("probes Triton's readiness path (the default health route): 401 without a token", () => {
        expect(gatewayProbe(defaults)).toEqual({ method: "GET", path: "/v2/health/ready", expectStatus: 401 });
    });

    it("probes another token-checked route when readiness is not routed, with the method it allows", () => {
        const webhookOnly = routes([
            { name: "chat", access: "websocket", path: "/chat", scope: "chat:write" },
            { name: "hook", access: "webhook", match: "prefix", path: "/hooks/", scope: "chat:write" },
        ]);
        expect(gatewayProbe(webhookOnly)).toEqual({ method: "POST", path: "/hooks/gateway-probe", expectStatus: 401 });
        expect(envelopePath(webhookOnly)).toBe("/hooks/test");
    });

    it("falls back to proving haproxy answers when only WebSocket routes exist", () => {
        expect(gatewayProbe(routes([{ name: "chat", access: "websocket", path: "/chat", scope: "chat:write" }]))).toEqual({ method: "GET", path: "/triton-platform-gateway-probe", expectStatus: 404 });
        expect(gatewayProbe(routes([{ name: "all", access: "websocket", match: "prefix", path: "/", scope: "chat:write" }]))).toMatchObject({ expectStatus: 426 });
    });

    it("respects route order: a path taken first by a WebSocket route is not probed as REST", () => {
        const shadowed = routes([
            { name: "ws", access: "websocket", match: "prefix", path: "/v2/", scope: "chat:write" },
            { name: "hook", access: "webhook", match: "exact", path: "/hook", scope: "chat:write" },
        ]);
        expect(gatewayProbe(shadowed)).toEqual({ method: "POST", path: "/hook", expectStatus: 401 });
    });

    it("the envelope path is the default webhook route's", () => {
        expect(envelopePath(defaults)).toBe("/webhook/test");
        expect(envelopePath(routes([{ name: "chat", access: "websocket", path: "/chat", scope: "chat:write" }]))).toBeUndefined();
    });

    it("the service port must be one the gateway listens on", () => {
        expect(() => checkGatewayServicePort(18789, [80, 18789])).not.toThrow();
        expect(() => checkGatewayServicePort(8080, [80, 18789])).toThrow(/modelService\.servicePort is 8080/);
    });

    it("container arguments: the shipper's logging when it runs, the rotation otherwise, and the memory limit in MiB", () => {
        const gw = serverGateway({ settings: gatewaySchema.parse({ resources: { memoryLimit: "512Mi" } }), jwt: JWT });
        const plain = gatewayContainerArgs(gw, { logRotation: { maxSize: "10m", maxFiles: 2 }, memoryLimit: "512Mi" });
        expect(plain).toMatchObject({ memory: 512, logDriver: "json-file", logOpts: { "max-size": "10m", "max-file": "2" }, networkMode: "host" });
        const shipped = gatewayContainerArgs(gw, {
            source: { logDriver: "json-file", logOpts: { labels: "triton-platform.component", "max-size": "10m", "max-file": "2" }, labels: [] },
            logRotation: { maxSize: "10m", maxFiles: 2 },
            memoryLimit: "512Mi",
        });
        expect(shipped.logOpts).toEqual({ labels: "triton-platform.component", "max-size": "10m", "max-file": "2" });
    });
});
