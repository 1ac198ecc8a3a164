import * as pulumi from "@pulumi/pulumi";
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { clusterProvider } from "../../components/cluster/provider";
import {
    gatewayApiGatewaySpec,
    gatewayNetworkPolicies,
    gatewayServiceSpec,
    httpRouteSpec,
    DEFAULT_GATEWAY_IMAGE,
    Gateway,
    gatewayIssues,
    gatewaySchema,
    GatewaySettings,
    kubernetesGatewayConfig,
    renderHaproxyConfig,
    resolveRoutes,
    routeDeadlineMs,
    serverGateway,
} from "../../components/gateway";
import { keysSchema } from "../../components/keys/schema";
import { ofType, one, RunResult, runMocked } from "../support/harness";

const JWT = { issuer: "model-service", audience: "collaboration-platform", lifetimeSeconds: 3600 };
const SECRET = "jwt-secret-value-that-must-stay-secret-0123456789";
const defaults = gatewaySchema.parse(undefined);
const local = { host: "127.0.0.1", port: 9000 };
const render = (settings: GatewaySettings = defaults, extra: Partial<Parameters<typeof renderHaproxyConfig>[0]> = {}) =>
    renderHaproxyConfig({
        settings,
        jwt: JWT,
        listeners: [{ name: "http", address: "", port: 8080 }],
        statsListener: { address: "", port: 8405 },
        upstreams: { triton: local, "triton-metrics": { host: "127.0.0.1", port: 8002 } },
        ...extra,
    });
/** The lines of one section (`backend route_chat`, `frontend platform`). */
const section = (cfg: string, header: string): string[] => {
    const lines = cfg.split("\n");
    const start = lines.indexOf(header);
    if (start < 0) {
        throw new Error(`no section ${header}`);
    }
    const end = lines.findIndex((l, i) => i > start && /^\S/.test(l));
    return lines.slice(start + 1, end < 0 ? undefined : end).map((l) => l.trim()).filter(Boolean);
};

describe("gateway settings (config key `gateway`)", () => {
    it("defaults to the guide: R9 budgets, x5 deadlines, R10 scopes per route, a pinned haproxy with jwt_verify", () => {
        expect(defaults.budgetsMs).toEqual({ webhook: 200, rest: 500, websocket: 100 });
        expect(defaults.deadlineFactor).toBe(5);
        expect(defaults.image).toBe(DEFAULT_GATEWAY_IMAGE);
        expect(DEFAULT_GATEWAY_IMAGE).toMatch(/haproxy:2\.(8|9)\.\d+-alpine$/);
        expect(defaults.routes.map((r) => [r.name, r.access, r.scope])).toEqual([
            ["chat", "websocket", "chat:write"],
            ["messages", "rest", "chat:write"],
            ["message-result", "rest", "chat:write"],
            ["infer", "rest", "chat:write"],
            ["health", "rest", "chat:write"],
            ["webhook", "webhook", "chat:write"],
            ["metrics", "rest", "metrics:read"],
        ]);
        expect(defaults.exposure).toMatchObject({ kind: "ingress", className: "nginx" });
    });

    it("takes numbers and booleans as strings (pulumi config set) and reports bad values with their path", () => {
        expect(gatewaySchema.parse({ replicas: "5", http2: "false" })).toMatchObject({ replicas: 5, http2: false });
        const bad = gatewaySchema.safeParse({
            host: "Not A Host",
            image: "docker.io/library/haproxy:latest",
            routes: [
                { name: "a", access: "rest", path: "/x", scope: "chat:write" },
                { name: "a", access: "rest", path: "/y", scope: "chat write" },
                { name: "r", access: "rest", match: "regex", path: "^/v2/('x)$", scope: "chat:write" },
                { name: "s", access: "rest", match: "regex", path: "^/v2/([$", scope: "chat:write" },
                { name: "t", access: "rest", path: "no-slash", scope: "chat:write" },
            ],
            exposure: { kind: "gatewayApi" },
        });
        expect(bad.success).toBe(false);
        const paths = bad.error!.issues.map((i) => i.path.join("."));
        expect(paths).toEqual(
            expect.arrayContaining(["host", "image", "routes.1.name", "routes.1.scope", "routes.2.path", "routes.3.path", "routes.4.path", "exposure.gatewayClassName"]),
        );
    });
});

describe("routeDeadlineMs and resolveRoutes: R9 budgets to timeouts", () => {
    it("gives each access mode budget x deadlineFactor, unless the route sets its own deadline", () => {
        expect(routeDeadlineMs({ access: "webhook" }, defaults)).toBe(1000);
        expect(routeDeadlineMs({ access: "rest" }, defaults)).toBe(2500);
        expect(routeDeadlineMs({ access: "websocket" }, defaults)).toBe(500);
        expect(routeDeadlineMs({ access: "rest", deadlineMs: 42 }, defaults)).toBe(42);
        expect(routeDeadlineMs({ access: "webhook" }, gatewaySchema.parse({ deadlineFactor: 2, budgetsMs: { webhook: 150 } }))).toBe(300);
    });

    it("fills methods, ?token= and body limits by access mode, and resolves named upstreams", () => {
        const routes = resolveRoutes(defaults, { triton: local, "triton-metrics": { host: "m", port: 1 } });
        const chat = routes.find((r) => r.name === "chat")!;
        expect(chat).toMatchObject({ methods: ["GET"], queryToken: true, upstream: local, maxBodyBytes: 1 << 20 });
        expect(routes.find((r) => r.name === "webhook")).toMatchObject({ methods: ["POST"], queryToken: false });
        expect(routes.find((r) => r.name === "metrics")!.upstream).toEqual({ host: "m", port: 1 });
    });

    it("sends the chat, webhook and async REST message routes to the dialogue service, and the rest to Triton", () => {
        const dialogue = { host: "dialogue", port: 8080 };
        const routes = resolveRoutes(defaults, { triton: local, "triton-metrics": { host: "m", port: 1 }, dialogue });
        const to = (name: string) => routes.find((r) => r.name === name)!.upstream;
        expect(["chat", "webhook", "messages", "message-result"].map(to)).toEqual([dialogue, dialogue, dialogue, dialogue]);
        expect(["infer", "health"].map(to)).toEqual([local, local]);
        expect(routes.find((r) => r.name === "messages")!.methods).toEqual(["POST"]);
        expect(routes.find((r) => r.name === "message-result")!.methods).toEqual(["GET"]);
        // A stack without the dialogue service: those routes reach Triton, as before the service existed.
        const without = resolveRoutes(defaults, { triton: local, "triton-metrics": { host: "m", port: 1 } });
        expect(without.find((r) => r.name === "chat")!.upstream).toEqual(local);
    });
});

describe("renderHaproxyConfig", () => {
    const cfg = render();

    it("keeps the secret out of the file: haproxy reads JWT_SECRET into a variable, and refuses to start without it", () => {
        expect(cfg).toContain("set-var proc.jwt_key env(JWT_SECRET)");
        expect(cfg).toContain("jwt_verify(HS256,proc.jwt_key)");
        expect(cfg).not.toMatch(/\$\{?JWT_SECRET/);
        expect(cfg).toMatch(/^\.if !defined\(JWT_SECRET\)\n\s+\.alert /m);
        // An empty or short secret would let anyone sign tokens: every request gets 503 instead.
        expect(cfg).toContain("return status 503 content-type application/json lf-string '{\"error\":\"gateway_misconfigured\"}' unless { var(proc.jwt_key),length ge 32 }");
    });

    it("fixes the algorithm to HS256 and checks iss, aud, exp (with skew) and the lifetime", () => {
        const front = section(cfg, "frontend platform").join("\n");
        expect(front).toContain("str(unsupported_alg) if !{ var(txn.auth_error) -m found } !{ var(txn.jwt_alg) -m str HS256 }");
        expect(front).toContain("!{ var(txn.jwt_iss) -m str model-service }");
        expect(front).toContain("acl aud_ok var(txn.jwt_aud) -m str collaboration-platform");
        expect(front).toContain("var(txn.jwt_exp),add(30),sub(txn.now)");
        expect(front).toContain("str(lifetime_too_long) if !{ var(txn.auth_error) -m found } { var(txn.exp_left) -m int gt 3660 }");
    });

    it("gives each route its own backend with the timeouts of its access mode", () => {
        expect(section(cfg, "backend route_webhook")).toEqual(expect.arrayContaining(["timeout server 1000ms", "timeout queue 200ms", "server upstream 127.0.0.1:9000"]));
        expect(section(cfg, "backend route_infer")).toContain("timeout server 2500ms");
        expect(section(cfg, "backend route_chat")).toContain("timeout server 500ms");
        expect(section(cfg, "backend route_metrics")).toContain("server upstream 127.0.0.1:8002");
        expect(section(cfg, "defaults")).toEqual(expect.arrayContaining(["timeout tunnel 600s", "timeout connect 100ms", "timeout http-request 5s"]));
    });

    it("requires each route's scope and sends 403 otherwise", () => {
        const front = section(cfg, "frontend platform");
        expect(front.filter((l) => l.startsWith("http-request return status 403")).map((l) => /-m str (\S+) } !(\S+)$/.exec(l)!.slice(1))).toEqual([
            ["chat", "has_scope_0"],
            ["messages", "has_scope_0"],
            ["message-result", "has_scope_0"],
            ["infer", "has_scope_0"],
            ["health", "has_scope_0"],
            ["webhook", "has_scope_0"],
            ["metrics", "has_scope_1"],
        ]);
        expect(front).toContain("acl has_scope_1 var(txn.jwt_scope) -m reg '(^| )metrics:read( |$)'");
    });

    it("accepts ?token= only on WebSocket routes and never logs query strings", () => {
        expect(cfg).toContain("http-request set-var(txn.jwt) url_param(token) if !{ var(txn.jwt) -m found } { var(txn.route) -m str chat }");
        const logFormat = section(cfg, "defaults").find((l) => l.startsWith("log-format"))!;
        expect(logFormat).toContain("%HPO");
        expect(logFormat).not.toMatch(/%(r|HU|HQ|hr|hrl)\b/);
    });

    it("rate-limits per token hash with the configured rate", () => {
        const c = render(gatewaySchema.parse({ rateLimit: { requests: 7, periodSeconds: 20 } }));
        expect(c).toContain("http-request track-sc0 var(txn.token_key) table rate_per_token");
        expect(c).toContain("hdr retry-after 20 if { sc_http_req_rate(0) gt 7 }");
        expect(section(c, "backend rate_per_token")).toEqual(["stick-table type binary len 32 size 100k expire 60s store http_req_rate(20s)"]);
    });

    it("turns implicit HTTP/2 off when http2 is false (R8: optional)", () => {
        expect(cfg).not.toContain("disable-h2-upgrade");
        expect(render(gatewaySchema.parse({ http2: false }))).toContain("    option disable-h2-upgrade");
    });

    it("re-resolves upstream names only when asked, and never for IP addresses", () => {
        expect(cfg).not.toContain("resolvers");
        const dns = render(defaults, { dns: true, upstreams: { triton: { host: "triton.ns.svc.cluster.local", port: 18789 }, "triton-metrics": local } });
        expect(dns).toContain("resolvers cluster\n    parse-resolv-conf");
        expect(section(dns, "backend route_chat")).toContain("server upstream triton.ns.svc.cluster.local:18789 resolvers cluster resolve-prefer ipv4 init-addr last,libc,none");
        expect(section(dns, "backend route_metrics")).toContain("server upstream 127.0.0.1:9000");
    });

    it("refuses claim values that would change how haproxy reads the line", () => {
        expect(() => renderHaproxyConfig({ ...baseInput(), jwt: { ...JWT, issuer: "model service" } })).toThrow(/JWT issuer/);
        expect(() => renderHaproxyConfig({ ...baseInput(), jwt: { ...JWT, audience: 'a" b' } })).toThrow(/audience/);
    });

    it("is deterministic (the Deployment hashes it to roll pods)", () => {
        expect(render()).toBe(cfg);
    });
});

function baseInput() {
    return {
        settings: defaults,
        jwt: JWT,
        listeners: [{ name: "http", address: "", port: 8080 }],
        statsListener: { address: "", port: 8405 },
        upstreams: { triton: local, "triton-metrics": local },
    };
}

describe("gatewayIssues (cross-key rules for stack/definition.ts)", () => {
    const keys = keysSchema.parse({});
    const base = { environment: "dev", cluster: { mode: "render" }, zones: ["a", "b", "c"], gateway: defaults, keys };

    it("finds nothing wrong with the defaults of a dev stack", () => {
        expect(gatewayIssues(base)).toEqual([]);
    });

    it("flags a route scope no token can carry, a placeholder host and too few replicas in prod", () => {
        const gateway = gatewaySchema.parse({ replicas: 1, routes: [{ name: "x", access: "rest", path: "/x", scope: "admin:all" }] });
        const issues = gatewayIssues({ ...base, environment: "prod", cluster: { mode: "kubeconfig" }, gateway });
        expect(issues.map((i) => i.path.join("."))).toEqual(["gateway.routes.0.scope", "gateway.host", "gateway.replicas"]);
        expect(issues[0].message).toContain("chat:write, metrics:read");
    });

    it("flags JWT claim values the gateway cannot match", () => {
        const odd = keysSchema.parse({ jwt: { issuer: "model service" } });
        expect(gatewayIssues({ ...base, keys: odd }).map((i) => i.path.join("."))).toEqual(["keys.jwt.issuer"]);
    });

    it("says nothing else when the gateway is disabled outside prod", () => {
        expect(gatewayIssues({ ...base, environment: "staging", gateway: gatewaySchema.parse({ enabled: false, replicas: 1 }) })).toEqual([]);
    });

    it("refuses prod without the gateway unless otherEntryPoint names what checks tokens instead", () => {
        const off = gatewayIssues({ ...base, environment: "prod", gateway: gatewaySchema.parse({ enabled: false, replicas: 1 }) });
        expect(off).toEqual([{ path: ["gateway", "enabled"], message: expect.stringMatching(/nothing checking tokens in front of Triton.*gateway.otherEntryPoint/) }]);
        const elsewhere = gatewaySchema.parse({ enabled: false, otherEntryPoint: "api.corp.example: Kong jwt plugin" });
        expect(gatewayIssues({ ...base, environment: "prod", gateway: elsewhere })).toEqual([]);
        const both = gatewaySchema.parse({ otherEntryPoint: "api.corp.example: Kong jwt plugin" });
        expect(gatewayIssues({ ...base, gateway: both }).map((i) => i.path.join("."))).toContain("gateway.otherEntryPoint");
    });
});

describe("serverGateway with the key rotation overlap", () => {
    it("exports the previous secret from its file when it is there, and starts with one secret when it is not", () => {
        const gw = serverGateway({ settings: gatewaySchema.parse({}), jwt: { ...JWT, previousKeyValidUntil: 1_773_100_800 } });
        expect(gw.previousSecretFile).toEqual({ path: "/etc/triton-platform/secrets/gateway/jwt-secret-previous", mode: "0400" });
        expect(gw.config).toContain("!{ date lt 1773100800 }");
        const script = gw.container.entrypoints as string[];
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gw-start-"));
        try {
            // A stand-in haproxy prints the environment it was started with; the secrets folder is a temp dir.
            fs.mkdirSync(path.join(dir, "bin"));
            fs.writeFileSync(path.join(dir, "bin", "haproxy"), '#!/bin/sh\necho "current=$JWT_SECRET previous=${JWT_SECRET_PREVIOUS-unset}"\n', { mode: 0o755 });
            const run = () =>
                spawnSync(script[0], [script[1], script[2].replace(/\/run\/secrets\/gateway/g, dir)], { encoding: "utf8", env: { PATH: `${dir}/bin:/usr/bin:/bin` } }).stdout.trim();
            fs.writeFileSync(path.join(dir, "jwt-secret"), "new-secret");
            expect(run()).toBe("current=new-secret previous=unset");
            fs.writeFileSync(path.join(dir, "jwt-secret-previous"), "old-secret");
            expect(run()).toBe("current=new-secret previous=old-secret");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        // Without an overlap the container reads one secret, as before.
        expect((serverGateway({ settings: gatewaySchema.parse({}), jwt: JWT }).container.entrypoints as string[])[2]).not.toContain("JWT_SECRET_PREVIOUS");
    });
});

describe("serverGateway (the lightweight server)", () => {
    const server = serverGateway({ settings: defaults, jwt: JWT });

    it("listens on 80 and 18789 and sends to Triton on loopback only", () => {
        expect(server.listenPorts).toEqual([80, 18789]);
        expect(section(server.config, "frontend platform").slice(0, 2)).toEqual([":80 name port-80", ":18789 name port-18789"].map((b) => `bind ${b}`));
        expect(server.triton).toEqual({ bindAddress: "127.0.0.1", httpPort: 8000, metricsPort: 8002 });
        expect(section(server.config, "backend route_infer")).toContain("server upstream 127.0.0.1:8000");
        expect(section(server.config, "backend route_metrics")).toContain("server upstream 127.0.0.1:8002");
        expect(section(server.config, "frontend probes")[0]).toBe("bind 127.0.0.1:8405");
    });

    it("runs haproxy as uid 99 after binding, with only the capabilities it needs, and the secret from a root-only file", () => {
        expect(section(server.config, "global")).toEqual(expect.arrayContaining(["uid 99", "gid 99"]));
        expect(server.container).toMatchObject({
            networkMode: "host",
            readOnly: true,
            capabilities: { drops: ["ALL"], adds: ["NET_BIND_SERVICE", "SETUID", "SETGID"] },
            stopSignal: "SIGUSR1",
        });
        expect(server.secretFile).toEqual({ path: "/etc/triton-platform/secrets/gateway/jwt-secret", mode: "0400" });
        expect(server.container.entrypoints).toEqual(["/bin/sh", "-c", expect.stringContaining('JWT_SECRET="$(cat /run/secrets/gateway/jwt-secret)" && export JWT_SECRET && exec haproxy')]);
        expect(server.container.envs).toBeUndefined();
    });

    it("changes its fingerprint with the config or the image, and refuses port clashes with the gateway", () => {
        expect(serverGateway({ settings: defaults, jwt: JWT }).fingerprint).toBe(server.fingerprint);
        expect(serverGateway({ settings: gatewaySchema.parse({ rateLimit: { requests: 1 } }), jwt: JWT }).fingerprint).not.toBe(server.fingerprint);
        expect(() => serverGateway({ settings: defaults, jwt: JWT, tritonHttpPort: 18789 })).toThrow(/gateway's/);
    });
});

function gatewayProgram(settings: GatewaySettings) {
    return () => {
        const provider = clusterProvider("cluster", { mode: "render", directory: "out/manifests/<stack>" }, "test");
        const gw = new Gateway("gateway", {
            namespace: "triton",
            instance: "triton-platform-test",
            labels: { team: "ml" },
            zones: ["zone-a", "zone-b", "zone-c"],
            settings,
            jwt: JWT,
            jwtSecret: pulumi.secret(SECRET),
            upstream: { serviceName: pulumi.output("triton-1a2b3c"), namespace: "triton", httpPort: 18789, metricsPort: 8002 },
            network: {
                monitoringNamespace: "monitoring",
                modelServerSelector: { "app.kubernetes.io/component": "model-server" },
                modelServerPorts: { http: 8000, metrics: 8002 },
            },
            provider,
        });
        return { url: gw.url, chatUrl: gw.chatUrl, serviceName: gw.serviceName };
    };
}

describe("Gateway on Kubernetes (under mocks)", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runMocked(gatewayProgram(gatewaySchema.parse({ host: "bot.acme.io", tls: { issuer: { name: "letsencrypt" } } })));
    });
    const deployment = () => one(run, "kubernetes:apps/v1:Deployment", "gateway");
    const pod = () => deployment().inputs.spec.template.spec;

    it("declares Secret, ConfigMap, ServiceAccount, Deployment, PDB, Service, Ingress and its NetworkPolicies under one component", () => {
        const children = run.resources.filter((r) => r.parent === "triton-platform:gateway:Gateway::gateway");
        expect(children.map((r) => `${r.type} ${r.name}`).sort()).toEqual([
            "kubernetes:apps/v1:Deployment gateway",
            "kubernetes:core/v1:ConfigMap gateway-config",
            "kubernetes:core/v1:Secret gateway-jwt",
            "kubernetes:core/v1:Service gateway",
            "kubernetes:core/v1:ServiceAccount gateway",
            "kubernetes:networking.k8s.io/v1:Ingress gateway",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy gateway",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy gateway-to-model-server",
            "kubernetes:policy/v1:PodDisruptionBudget gateway",
        ]);
        expect(children.every((r) => r.provider?.includes("pulumi:providers:kubernetes::cluster"))).toBe(true);
    });

    it("keeps the JWT secret in the Secret alone: not in the ConfigMap, the pod spec or the outputs", () => {
        const holders = run.resources.filter((r) => JSON.stringify(r.inputs).includes(SECRET));
        expect(holders.map((r) => `${r.type} ${r.name}`)).toEqual(["kubernetes:core/v1:Secret gateway-jwt"]);
        expect(JSON.stringify(run.outputs)).not.toContain(SECRET);
        const secret = one(run, "kubernetes:core/v1:Secret", "gateway-jwt");
        expect(secret.inputs.immutable).toBe(true);
        const env = pod().containers[0].env;
        expect(env).toEqual([{ name: "JWT_SECRET", valueFrom: { secretKeyRef: { name: "gateway-jwt-mock", key: "jwt-secret" } } }]);
    });

    it("generates the config for the model service's Service and rolls pods when it changes", () => {
        const cfg = one(run, "kubernetes:core/v1:ConfigMap", "gateway-config").inputs.data["haproxy.cfg"];
        expect(cfg).toBe(kubernetesGatewayConfig({ settings: gatewaySchema.parse({ host: "bot.acme.io", tls: { issuer: { name: "letsencrypt" } } }), jwt: JWT, serviceName: "triton-1a2b3c", namespace: "triton", httpPort: 18789, metricsPort: 8002 }));
        expect(cfg).toContain("server upstream triton-1a2b3c.triton.svc.cluster.local:18789 resolvers cluster");
        expect(cfg).toContain("server upstream triton-1a2b3c.triton.svc.cluster.local:8002 resolvers cluster");
        expect(cfg).toContain("bind :8080 name http");
        expect(deployment().inputs.spec.template.metadata.annotations["triton-platform/gateway-config-sha256"]).toBe(createHash("sha256").update(cfg).digest("hex"));
    });

    it("runs haproxy hardened: non-root, read-only root, no capabilities, RuntimeDefault seccomp, no API token", () => {
        const p = pod();
        expect(p.automountServiceAccountToken).toBe(false);
        expect(p.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 99, seccompProfile: { type: "RuntimeDefault" } });
        const c = p.containers[0];
        expect(c.image).toBe(DEFAULT_GATEWAY_IMAGE);
        expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
        expect(c.resources).toEqual({ requests: { cpu: "250m", memory: "128Mi" }, limits: { memory: "256Mi" } });
        expect(c.readinessProbe.httpGet).toEqual({ path: "/healthz", port: "stats" });
        expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "stats" });
        expect(c.startupProbe).toMatchObject({ httpGet: { path: "/healthz", port: "stats" }, periodSeconds: 1, failureThreshold: 30 });
        expect(c.volumeMounts).toEqual([{ name: "config", mountPath: "/usr/local/etc/haproxy", readOnly: true }]);
        expect(p.terminationGracePeriodSeconds).toBeGreaterThan(defaults.drainSeconds);
    });

    it("spreads replicas across zones and keeps all but one through disruptions", () => {
        const d = deployment();
        expect(d.inputs.spec.replicas).toBe(3);
        const zone = pod().topologySpreadConstraints.find((c: any) => c.topologyKey === "topology.kubernetes.io/zone");
        expect(zone).toMatchObject({ maxSkew: 1, whenUnsatisfiable: "DoNotSchedule", labelSelector: { matchLabels: d.inputs.spec.selector.matchLabels } });
        const pdb = one(run, "kubernetes:policy/v1:PodDisruptionBudget", "gateway");
        expect(pdb.inputs.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: d.inputs.spec.selector.matchLabels } });
        expect(d.inputs.spec.selector.matchLabels).toEqual({
            "app.kubernetes.io/name": "triton",
            "app.kubernetes.io/instance": "triton-platform-test",
            "app.kubernetes.io/component": "gateway",
        });
        expect(d.inputs.metadata.labels.team).toBe("ml");
    });

    it("exposes port 80 through an Ingress with TLS for the R8 host, cert-manager and WebSocket-friendly timeouts", () => {
        const svc = one(run, "kubernetes:core/v1:Service", "gateway");
        expect(svc.inputs.spec.ports[0]).toEqual({ name: "http", port: 80, targetPort: "http", protocol: "TCP" });
        const ing = one(run, "kubernetes:networking.k8s.io/v1:Ingress", "gateway");
        expect(ing.inputs.spec.tls).toEqual([{ hosts: ["bot.acme.io"], secretName: "triton-gateway-tls" }]);
        expect(ing.inputs.spec.rules[0]).toMatchObject({ host: "bot.acme.io" });
        expect(ing.inputs.spec.rules[0].http.paths[0].backend.service).toEqual({ name: "gateway-mock", port: { name: "http" } });
        expect(ing.inputs.metadata.annotations).toMatchObject({
            "cert-manager.io/cluster-issuer": "letsencrypt",
            "nginx.ingress.kubernetes.io/proxy-read-timeout": "600",
            "nginx.ingress.kubernetes.io/proxy-body-size": String(1 << 20),
        });
        expect(run.outputs).toEqual({ url: "https://bot.acme.io", chatUrl: "wss://bot.acme.io/chat", serviceName: "gateway-mock" });
    });
});

describe("Gateway exposed through the Gateway API (under mocks)", () => {
    it("declares a Gateway with an HTTPS listener for the host and an HTTPRoute to the gateway Service", async () => {
        const run = await runMocked(gatewayProgram(gatewaySchema.parse({ host: "bot.acme.io", exposure: { kind: "gatewayApi", gatewayClassName: "envoy" } })));
        expect(ofType(run, "kubernetes:networking.k8s.io/v1:Ingress")).toEqual([]);
        const gw = one(run, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "gateway");
        expect(gw.inputs.spec).toEqual({
            gatewayClassName: "envoy",
            listeners: [
                {
                    name: "https",
                    protocol: "HTTPS",
                    port: 443,
                    hostname: "bot.acme.io",
                    tls: { mode: "Terminate", certificateRefs: [{ kind: "Secret", name: "triton-gateway-tls" }] },
                    allowedRoutes: { namespaces: { from: "Same" } },
                },
            ],
        });
        const route = one(run, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "gateway");
        expect(route.inputs.spec).toEqual({
            parentRefs: [{ name: "gateway-mock", sectionName: "https" }],
            hostnames: ["bot.acme.io"],
            rules: [{ matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: [{ name: "gateway-mock", port: 80 }] }],
        });
    });

    it("attaches to an existing Gateway when parentRef is set", async () => {
        const run = await runMocked(
            gatewayProgram(gatewaySchema.parse({ exposure: { kind: "gatewayApi", parentRef: { name: "shared", namespace: "edge", sectionName: "https" } } })),
        );
        expect(ofType(run, "kubernetes:gateway.networking.k8s.io/v1:Gateway")).toEqual([]);
        expect(one(run, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "gateway").inputs.spec.parentRefs).toEqual([{ name: "shared", namespace: "edge", sectionName: "https" }]);
    });
});

describe("gateway NetworkPolicies", () => {
    const policies = gatewayNetworkPolicies({
        gatewaySelector: { "app.kubernetes.io/component": "gateway" },
        settings: gatewaySchema.parse({ ingressNamespaces: ["ingress-nginx", "envoy-gateway-system"] }),
        network: { monitoringNamespace: "monitoring", modelServerSelector: { "app.kubernetes.io/component": "model-server" }, modelServerPorts: { http: 8000, metrics: 8002 } },
    });
    const nsName = (peer: any) => peer.namespaceSelector.matchLabels["kubernetes.io/metadata.name"];

    it("admits HTTP only from the ingress controllers' namespaces and stats only from monitoring", () => {
        const [http, stats] = policies.gateway.ingress as any[];
        expect(http.from.map(nsName)).toEqual(["ingress-nginx", "envoy-gateway-system"]);
        expect(http.ports).toEqual([{ protocol: "TCP", port: 8080 }]);
        expect(stats.from.map(nsName)).toEqual(["monitoring"]);
        expect(stats.ports).toEqual([{ protocol: "TCP", port: 8405 }]);
    });

    it("lets the gateway reach Triton's HTTP and metrics ports, and Triton accept them from the gateway only", () => {
        expect(policies.gateway.policyTypes).toEqual(["Ingress", "Egress"]);
        const egress = (policies.gateway.egress as any[])[0];
        expect(egress.to).toEqual([{ podSelector: { matchLabels: { "app.kubernetes.io/component": "model-server" } } }]);
        expect(egress.ports.map((p: any) => p.port)).toEqual([8000, 8002]);
        const from = (policies.modelServer.ingress as any[])[0];
        expect(policies.modelServer.podSelector).toEqual({ matchLabels: { "app.kubernetes.io/component": "model-server" } });
        expect(from.from).toEqual([{ podSelector: { matchLabels: { "app.kubernetes.io/component": "gateway" } } }]);
    });
});

describe("exposure builders (pure)", () => {
    it("sends every path of the host to the gateway Service's port 80 under the given parent", () => {
        const s = gatewaySchema.parse({ host: "bot.acme.io", exposure: { kind: "gatewayApi", gatewayClassName: "envoy" } });
        expect(httpRouteSpec(s, { name: "edge", sectionName: "https" }, "gw-svc")).toEqual({
            parentRefs: [{ name: "edge", sectionName: "https" }],
            hostnames: ["bot.acme.io"],
            rules: [{ matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: [{ name: "gw-svc", port: 80 }] }],
        });
        const listener = (gatewayApiGatewaySpec(s) as { listeners: Array<Record<string, unknown>> }).listeners[0];
        expect(listener).toMatchObject({ protocol: "HTTPS", port: 443, hostname: "bot.acme.io", tls: { mode: "Terminate", certificateRefs: [{ kind: "Secret", name: s.tls.secretName }] } });
    });

    it("refuses to build a Gateway API Gateway for an Ingress exposure", () => {
        expect(() => gatewayApiGatewaySpec(gatewaySchema.parse({}))).toThrow(/exposure.kind gatewayApi/);
    });

    it("publishes HTTP on 80 and the stats port, and nothing else", () => {
        const s = gatewaySchema.parse({});
        expect(gatewayServiceSpec({ app: "gw" }, s).ports).toEqual([
            { name: "http", port: 80, targetPort: "http", protocol: "TCP" },
            { name: "stats", port: s.statsPort, targetPort: "stats", protocol: "TCP" },
        ]);
    });
});
