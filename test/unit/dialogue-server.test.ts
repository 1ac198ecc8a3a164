// The dialogue service on the lightweight server: the pure plan (loopback ports clear of the gateway
// and Triton, files, hardened containers, Redis configured from a secret file) and the server stack
// under mocks with `dialogue.server` set (the gateway's dialogue routes to the service on 127.0.0.1,
// secrets on stdin only, the image loaded from the archive, containers after Triton is ready).
import { beforeAll, describe, expect, it } from "vitest";
import { dialogueReadyScript, dialogueSchema, loadImageScript, redisConfig, SERVER_DIALOGUE_PORTS, serverDialogue, serverRedisPassword } from "../../components/dialogue";
import { SERVER_GATEWAY_PORTS } from "../../components/gateway/server-plan";
import { parseRuntimeConfig } from "../../services/dialogue/config";
import { loadDefinition, readSecrets } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { one, ofType, RunResult, runMocked, stackFileConfig } from "../support/harness";

const IMAGE_ID = `sha256:${"4".repeat(64)}`;
const URLS = '{"dingtalk":"https://oapi.example.com/robot/send?access_token=SERVER-CANARY"}';
const settings = dialogueSchema.parse({ server: { imageArchive: "out/images/dialogue.oci.tar", imageId: IMAGE_ID } });

describe("the dialogue service's plan for the server", () => {
    const plan = serverDialogue(settings, { tritonHttpPort: 8000, replyUrls: true });

    it("listens on loopback ports clear of the gateway's (80, 18789, stats 8405) and Triton's", () => {
        const used = [...SERVER_GATEWAY_PORTS, 8405, 8000, 8001, 8002];
        for (const p of Object.values(SERVER_DIALOGUE_PORTS)) {
            expect(used).not.toContain(p);
        }
        const cfg = parseRuntimeConfig(JSON.parse(plan.config));
        expect([cfg.listen.host, cfg.admin.host, cfg.tritonUrl]).toEqual(["127.0.0.1", "127.0.0.1", "http://127.0.0.1:8000"]);
        expect(cfg.store).toMatchObject({ kind: "redis", host: "127.0.0.1", port: 6379 });
        expect(plan.upstream).toEqual({ host: "127.0.0.1", port: 8080 });
    });

    it("runs both containers read-only, without capabilities, as their own non-root users, on the host network", () => {
        for (const c of [plan.redisContainer, plan.serviceContainer]) {
            expect(c).toMatchObject({ networkMode: "host", readOnly: true, capabilities: { drops: ["ALL"] }, securityOpts: ["no-new-privileges:true"] });
        }
        expect([plan.serviceContainer.user, plan.redisContainer.user]).toEqual(["10001:10001", "999:999"]);
        // Redis reads its password from its config file: nothing secret on a command line.
        expect(plan.redisContainer.command).toEqual(["redis-server", "/run/secrets/redis/redis.conf"]);
        expect(JSON.stringify(plan.serviceContainer)).not.toMatch(/password|hmac/i);
    });

    it("writes Redis's config with loopback only, no persistence and the password; refuses passwords that would break it", () => {
        const pw = serverRedisPassword("some-hmac-key-0123456789abcdef0123456789");
        expect(pw).toMatch(/^[0-9a-f]{64}$/);
        const conf = redisConfig(settings, 6379, pw);
        expect(conf).toContain("bind 127.0.0.1\n");
        expect(conf).toContain('save ""\n');
        expect(conf).toContain(`requirepass ${pw}\n`);
        expect(() => redisConfig(settings, 6379, "a b\nport 1")).toThrow(/letters and digits/);
    });

    it("waits for the service's readiness probe, bounded, and names both containers when it times out", () => {
        const script = dialogueReadyScript({ healthUrl: plan.healthUrl, timeoutSeconds: 120 });
        expect(script).toContain(`url='http://127.0.0.1:${SERVER_DIALOGUE_PORTS.admin}/readyz'`);
        expect(script).toContain("timeout=120");
        expect(script).toMatch(/for c in triton-dialogue triton-dialogue-redis; do/);
        expect(script).toMatch(/^exit 1$/m);
    });

    it("loads the image archive and checks the id it expects", () => {
        expect(loadImageScript(IMAGE_ID)).toContain(`docker image inspect ${IMAGE_ID}`);
        expect(() => loadImageScript("latest")).toThrow(/sha256/);
    });
});

describe("the server stack with the dialogue service, under mocks", () => {
    let run: RunResult;
    beforeAll(async () => {
        const config = { ...stackFileConfig("server"), "triton-platform:dialogue": JSON.stringify({ server: { imageArchive: "out/images/dialogue.oci.tar", imageId: IMAGE_ID } }) };
        run = await runMocked(() => deployPlatform(loadDefinition(), readSecrets()), { stack: "server", config, secrets: { dialogueReplyUrls: URLS } });
    });
    const command = (name: string) => one(run, "command:remote:Command", name);

    it("sends the gateway's chat, webhook and message routes to the service on 127.0.0.1:8080", () => {
        const cfg: string = command("server-gateway-config").inputs.stdin;
        for (const route of ["chat", "webhook", "messages", "message-result"]) {
            expect(cfg).toMatch(new RegExp(`backend route_${route}\\n(?: {4}.*\\n)*? {4}server upstream 127\\.0\\.0\\.1:8080\\n`));
        }
        expect(cfg).toMatch(/backend route_infer\n(?: {4}.*\n)*? {4}server upstream 127\.0\.0\.1:8000\n/);
    });

    it("writes the secrets from stdin only and runs the service from the loaded image, after Triton is ready", () => {
        for (const role of ["dialogue-hmac-key", "dialogue-reply-urls", "dialogue-redis-password", "dialogue-redis-config"]) {
            const c = command(`server-${role}`);
            expect(c.inputs.create, role).not.toMatch(/SERVER-CANARY|requirepass [0-9a-f]/);
            expect(c.inputs.logging, role).toBe("none");
        }
        // The reply URLs reach the engine as a secret value (Pulumi's secret envelope) on stdin.
        const stdin = command("server-dialogue-reply-urls").inputs.stdin as Record<string, unknown>;
        expect(stdin["4dabf18193072939515e22adb298388d"]).toBe("1b47061264138c4ac30d75fd1eb44270");
        expect(stdin.value).toBe(URLS);
        expect(command("server-dialogue-config").inputs.stdin).not.toContain("SERVER-CANARY");
        const svc = one(run, "docker:index/container:Container", "server-dialogue");
        expect(svc.inputs.image).toBe(IMAGE_ID);
        expect(JSON.stringify(svc.inputs)).not.toContain("SERVER-CANARY");
        expect(svc.opts.dependsOn).toBeDefined();
        expect(one(run, "command:remote:Command", "server-dialogue-image-load").inputs.create).toContain(`docker image inspect ${IMAGE_ID}`);
        expect(ofType(run, "command:remote:CopyToRemote").map((c) => c.name)).toEqual(["server-dialogue-image-archive"]);
        expect(one(run, "docker:index/container:Container", "server-dialogue-redis").inputs.networkMode).toBe("host");
    });

    it("finishes `up` only once the service answers its readiness probe, again after each new container", () => {
        const ready = command("server-dialogue-ready");
        expect(ready.inputs.create).toContain(`http://127.0.0.1:${SERVER_DIALOGUE_PORTS.admin}/readyz`);
        const names = (ready.opts.dependsOn as unknown as { __name: string }[]).map((r) => r.__name);
        expect(names).toEqual(expect.arrayContaining(["server-dialogue", "server-dialogue-redis"]));
        // Re-run when either container is replaced (their ids are the triggers).
        expect(ready.inputs.triggers).toHaveLength(2);
    });

    it("leaves the server as it was without dialogue.server: no dialogue containers, routes to Triton", async () => {
        const plain = await runMocked(() => deployPlatform(loadDefinition(), readSecrets()), { stack: "server", config: stackFileConfig("server") });
        expect(ofType(plain, "docker:index/container:Container").map((c) => c.name)).not.toContain("server-dialogue");
        const cfg: string = one(plain, "command:remote:Command", "server-gateway-config").inputs.stdin;
        expect(cfg).toMatch(/backend route_chat\n(?: {4}.*\n)*? {4}server upstream 127\.0\.0\.1:8000\n/);
    });
});
