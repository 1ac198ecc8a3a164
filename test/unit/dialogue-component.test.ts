// The dialogue service's deployment: its settings and cross-setting rules, the pure builders
// (runtime configuration, pod spec, NetworkPolicies, alert), and the dev program under mocks (what the
// component declares on Kubernetes, and the gateway routing chat, webhooks and async REST to it).
import { beforeAll, describe, expect, it } from "vitest";
import {
    DEFAULT_DIALOGUE_IMAGE,
    dialogueAlertGroup,
    dialogueIssues,
    dialogueNetworkPolicies,
    dialoguePodSpec,
    dialogueRuntimeConfig,
    dialogueSchema,
    SECRET_FILES,
} from "../../components/dialogue";
import { parseRuntimeConfig } from "../../services/dialogue/config";
import { loadDefinition, readSecrets } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { definitionFrom } from "../support/definitions";
import { one, ofType, RunResult, runMocked, stackFileConfig } from "../support/harness";

const defaults = dialogueSchema.parse(undefined);
/** Pulumi's secret envelope on the wire between program and engine. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";
const URLS_CANARY = '{"dingtalk":"https://oapi.example.com/robot/send?access_token=CANARY-TOKEN"}';

describe("dialogue settings and builders", () => {
    it("defaults to three replicas on Redis with bounded messages and deadlines inside the R9 budgets x5", () => {
        expect(defaults).toMatchObject({ enabled: true, replicas: 3, port: 8080, adminPort: 8405, model: "dialogue", image: DEFAULT_DIALOGUE_IMAGE });
        expect(defaults.store).toMatchObject({ kind: "redis", host: "dialogue-redis", port: 6379 });
        expect(defaults.limits).toMatchObject({ maxMessageBytes: 65536, maxHistoryTurns: 32 });
        expect(defaults.deadlinesMs.websocket).toBeLessThanOrEqual(100 * 5);
    });

    it("refuses a memory store shared by replicas, an unpinned image outside dev, answers kept shorter than the replay window", () => {
        const paths = (raw: unknown, env: string) => dialogueIssues(dialogueSchema.parse(raw), env, true).map((i) => i.path.join("."));
        expect(paths({ store: { kind: "memory" } }, "dev")).toEqual(["store.kind"]);
        expect(paths({ store: { kind: "memory" }, replicas: 1 }, "dev")).toEqual([]);
        expect(paths({}, "prod")).toEqual(["image"]);
        expect(paths({ image: `registry.example.com/d@sha256:${"a".repeat(64)}` }, "prod")).toEqual([]);
        expect(paths({ ttlSeconds: { result: 60 } }, "dev")).toEqual(["ttlSeconds.result"]);
        // Not deployed (no gateway in front): nothing to check.
        expect(dialogueIssues(dialogueSchema.parse({}), "prod", false)).toEqual([]);
        // Through the whole definition, with the config key named.
        expect(() => definitionFrom({ environment: "dev", dialogue: { store: { kind: "memory" } } })).toThrow(/triton-platform:dialogue\.store\.kind/);
    });

    it("generates a runtime configuration the service accepts, naming secret files and holding no secret", () => {
        const cfg = dialogueRuntimeConfig(defaults, { tritonUrl: "http://triton.triton.svc.cluster.local:18789", redis: { host: "r", port: 6379, password: true }, replyUrls: true });
        const parsed = parseRuntimeConfig(JSON.parse(JSON.stringify(cfg)));
        expect(parsed.store).toEqual({ kind: "redis", host: "r", port: 6379, passwordFile: `/run/secrets/dialogue/${SECRET_FILES.redisPassword}`, keyPrefix: "dialogue:" });
        expect(parsed.hmacKeyFile).toBe(`/run/secrets/dialogue/${SECRET_FILES.hmacKey}`);
        expect(parsed.replyUrlsFile).toBe(`/run/secrets/dialogue/${SECRET_FILES.replyUrls}`);
        expect(parsed.limits).toEqual(defaults.limits);
        const memory = dialogueRuntimeConfig(dialogueSchema.parse({ store: { kind: "memory" } }), { tritonUrl: "http://t:1", replyUrls: false });
        expect(memory.store).toEqual({ kind: "memory" });
        expect(memory.replyUrlsFile).toBeUndefined();
    });

    it("builds a hardened pod: non-root, read-only root, no capabilities, probes on the admin port, zone spread", () => {
        const spec = dialoguePodSpec({ settings: defaults, zones: ["a", "b", "c"], selector: { app: "d" }, serviceAccountName: "sa", configMapName: "cm", secretName: "s" });
        const c = (spec.containers as any[])[0];
        expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
        expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
        expect([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path, c.startupProbe.httpGet.port]).toEqual(["/readyz", "/healthz", "admin"]);
        expect((spec.topologySpreadConstraints as any[]).map((t) => t.topologyKey)).toContain("topology.kubernetes.io/zone");
        expect(spec.automountServiceAccountToken).toBe(false);
        // The secret files come from a Secret volume, never from env literals.
        expect(c.env).toEqual([{ name: "DIALOGUE_CONFIG", value: "/etc/dialogue/config.json" }]);
    });

    it("opens only gateway -> service, service -> Triton (HTTP) and Redis, monitoring -> admin, and public 443/80 for replies", () => {
        const p = dialogueNetworkPolicies(defaults, {
            dialogueSelector: { c: "dialogue" },
            gatewaySelector: { c: "gateway" },
            modelServerSelector: { c: "model-server" },
            modelServerHttpPort: 8000,
            monitoringNamespace: "monitoring",
        });
        expect(p.dialogue.ingress).toEqual([
            { from: [{ podSelector: { matchLabels: { c: "gateway" } } }], ports: [{ protocol: "TCP", port: 8080 }] },
            { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }], ports: [{ protocol: "TCP", port: 8405 }] },
        ]);
        const egress = p.dialogue.egress as any[];
        expect(egress[0]).toEqual({ to: [{ podSelector: { matchLabels: { c: "model-server" } } }], ports: [{ protocol: "TCP", port: 8000 }] });
        expect(egress[1].ports).toEqual([{ protocol: "TCP", port: 6379 }]);
        // Replies go out to public addresses only: private ranges and link-local (metadata) excluded.
        expect(egress[2].to[0].ipBlock.except).toEqual(expect.arrayContaining(["10.0.0.0/8", "169.254.0.0/16", "192.168.0.0/16"]));
        expect(p.toModelServer.ingress).toEqual([{ from: [{ podSelector: { matchLabels: { c: "dialogue" } } }], ports: [{ protocol: "TCP", port: 8000 }] }]);
    });

    it("alerts on the share of server-side errors per route at the R14 threshold", () => {
        const rule = dialogueAlertGroup(2, "triton").rules[0];
        expect(rule.alert).toBe("DialogueErrorRateHigh");
        expect(rule.expr).toContain('code=~"model_timeout|model_error|model_unavailable|store_unavailable|overloaded"');
        expect(rule.expr).toMatch(/\* 100 > 2$/);
        expect(rule.expr).not.toContain("bad_signature");
    });
});

describe("the dev program with the dialogue service, under mocks", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runMocked(() => deployPlatform(loadDefinition(), readSecrets()), {
            stack: "dev",
            config: stackFileConfig("dev"),
            secrets: { dialogueReplyUrls: URLS_CANARY },
        });
    });

    it("declares the Deployment, Service, PDB, ConfigMap, Secret, NetworkPolicies, PodMonitor and alert, under the component", () => {
        const dep = one(run, "kubernetes:apps/v1:Deployment", "dialogue");
        expect(dep.parent).toBe("triton-platform:dialogue:DialogueService::dialogue");
        expect(dep.inputs.spec.replicas).toBe(3);
        expect(dep.inputs.spec.template.spec.containers[0].image).toBe(DEFAULT_DIALOGUE_IMAGE);
        expect(one(run, "kubernetes:policy/v1:PodDisruptionBudget", "dialogue").inputs.spec).toMatchObject({ maxUnavailable: 1 });
        expect(one(run, "kubernetes:core/v1:Service", "dialogue").inputs.spec.ports.map((p: any) => p.port)).toEqual([8080, 8405]);
        expect(ofType(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy").map((p) => p.name)).toEqual(expect.arrayContaining(["dialogue", "dialogue-to-model-server"]));
        const kinds = ofType(run, "kubernetes:monitoring.coreos.com/v1:PrometheusRule").concat(ofType(run, "kubernetes:core/v1:ConfigMap")).map((r) => r.name);
        expect(kinds).toEqual(expect.arrayContaining(["dialogue-alerts"]));
    });

    it("keeps the HMAC key and reply URLs in the Secret only, never in the ConfigMap or the pod spec", () => {
        const secret = one(run, "kubernetes:core/v1:Secret", "dialogue");
        // The engine receives the data as a secret value (Pulumi's secret envelope), not in plain text.
        const envelope = secret.inputs.stringData as Record<string, unknown>;
        expect(envelope[SECRET_SIG]).toBe(SECRET_SIG_VALUE);
        const data = envelope.value as Record<string, string>;
        // (The HMAC key is the Keys component's random value: unknown under mocks, so not in the data here.)
        expect(Object.keys(data)).toContain(SECRET_FILES.replyUrls);
        expect(data[SECRET_FILES.replyUrls]).toBe(URLS_CANARY);
        const cm = JSON.stringify(one(run, "kubernetes:core/v1:ConfigMap", "dialogue").inputs);
        const dep = JSON.stringify(one(run, "kubernetes:apps/v1:Deployment", "dialogue").inputs);
        for (const text of [cm, dep]) {
            expect(text).not.toContain("CANARY-TOKEN");
        }
        const cfg = JSON.parse(one(run, "kubernetes:core/v1:ConfigMap", "dialogue").inputs.data["config.json"]);
        expect(cfg.tritonUrl).toMatch(/^http:\/\/triton-[a-z0-9-]+\.triton-dev\.svc\.cluster\.local:18789$/);
        expect(cfg.store).toMatchObject({ kind: "redis", host: "dialogue-redis" });
    });

    it("routes /chat, /webhook/... and /v1/messages at the gateway to the dialogue Service, inference and health still to Triton", () => {
        const cfg: string = one(run, "kubernetes:core/v1:ConfigMap", "gateway-config").inputs.data["haproxy.cfg"];
        const server = (backend: string) => new RegExp(`backend route_${backend}\\n(?:    .*\\n)*?    server upstream (\\S+)`).exec(cfg)?.[1];
        for (const r of ["chat", "webhook", "messages", "message-result"]) {
            expect(server(r), r).toMatch(/^dialogue-mock\.triton-dev\.svc\.cluster\.local:8080/);
        }
        expect(server("infer")).toMatch(/^triton-[a-z0-9-]+\.triton-dev\.svc\.cluster\.local:18789/);
        // The gateway may reach the dialogue pods on their port.
        const gw = one(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "gateway").inputs.spec;
        expect(gw.egress.some((e: any) => e.to[0].podSelector.matchLabels["app.kubernetes.io/component"] === "dialogue" && e.ports[0].port === 8080)).toBe(true);
    });
});
