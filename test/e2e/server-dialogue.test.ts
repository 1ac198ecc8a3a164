// The dialogue service on the lightweight server for real, as the README tells a user to run it: the image
// built by scripts/build-dialogue-image.sh, `dialogue.server.imageArchive` / `imageId` and the secret reply
// URLs set with `pulumi config set`, then `pulumi up` of the server stack (real CLI, @pulumi/command over
// SSH, @pulumi/docker over ssh://) onto the test host of support/server-host.sh (a network namespace with
// Debian's sshd and dockerd) with the real Triton image of scripts/build-triton-image.sh. The archive is
// copied over SSH and `docker load`ed by the host's own Docker (Debian 12's 20.10), Redis is a stand-in
// built from Debian's redis-server (no registry is reachable). Everything a platform sees is checked from
// outside the host, through the gateway (haproxy, JWT) on 18789 and 80:
// - a WebSocket conversation of several turns on /chat where the model sees the history (also across
//   connections and ports: the history is in Redis);
// - webhooks acknowledged within R9's budget (200 ms) whose signed replies reach the platform's reply URL
//   (a receiver on this machine), also for a message sent with the README's `npm run -s token -- --send`;
// - async REST: 202 with a result URL, then the answer;
// - a replayed message_id answered once (no second inference, no second delivery), a bad signature refused;
// and on the host what is cheap to check: both containers non-root, read-only, capability-free, listening
// on 127.0.0.1 only (and dropped from outside), no secret in any command line or Docker setting. A second
// `up` changes nothing; `destroy` removes every container and resource.
// Needs root and what `npm test` installs first; without it the suite fails, it never skips. The host's
// addresses follow server-host.sh's environment (E2E_NETNS, E2E_VETH, E2E_HOST_IP, E2E_NS_IP,
// E2E_CLIENT_IP), so the test can run beside another test host.
import { Stack, UpResult } from "@pulumi/pulumi/automation";
import { spawnSync } from "child_process";
import { createHmac, randomBytes, randomUUID } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as yaml from "js-yaml";
import * as path from "path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { WebSocket } from "ws";
import { SERVER_DIALOGUE_CONTAINER, SERVER_DIALOGUE_PORTS, SERVER_REDIS_CONTAINER, serverRedisPassword } from "../../components/dialogue";
import { slotContainerName } from "../../components/model-service/server-slots";
import { buildSignedEnvelope, canonicalJson, Envelope } from "../../components/envelope";
import { mintToken } from "../../components/keys/jwt";
import { until } from "../support/wait";
import { cli, makeSandbox, openStack, REPO_ROOT, repoStackFile, Sandbox } from "./support/project";
import { describeAsRoot, hostPrerequisiteProblems, ServerHost, SERVER_USER } from "./support/server-host";
import { changesOf, hostAddresses, loadRedisImage, missingPlugins, probe, request, setSecretFromStdin, stackKeys } from "./support/server-stack";

const STACK = "server-dialogue-e2e";
/** Images built on this machine: the real Triton (its tag is the model's release), a stand-in haproxy and Redis. */
const TRITON_IMAGE = "localhost/tritonserver-cpu:e2e-1";
const GATEWAY_IMAGE = "localhost/haproxy-stand-in:e2e-1";
const REDIS_IMAGE = "localhost/redis-stand-in:e2e-1";
/** The gateway's public ports (R7 service port, R8 HTTP). */
const PORTS = [18789, 80] as const;
const SERVICE_PORT = 18789;
/** Container names of components/server (Triton's blue slot serves, the green one waits stopped) and components/dialogue/server.ts. */
const TRITON_CONTAINER = slotContainerName("blue");
const IDLE_CONTAINER = slotContainerName("green");
const GATEWAY_CONTAINER = "triton-gateway";
const RUNNING = [TRITON_CONTAINER, GATEWAY_CONTAINER, SERVER_REDIS_CONTAINER, SERVER_DIALOGUE_CONTAINER];
const MANAGED = [...RUNNING, IDLE_CONTAINER];
/** The platform with a reply URL, and R9's budget for a webhook's acknowledgement. */
const PLATFORM = "dingtalk";
const WEBHOOK_BUDGET_MS = 200;
/** What the README tells the user to set (relative to the project, as `pulumi config set` takes it). */
const ARCHIVE = "out/images/dialogue.oci.tar";
/** Where the program keeps the run's ssh-agent socket (components/server/ssh.ts): this stack's own. */
const AGENT_SOCKET = `/tmp/triton-platform-ssh-${process.getuid?.() ?? 0}/triton-platform-${STACK}.agent`;

const addr = hostAddresses();
const outside = { server: addr.server, from: addr.hostSide };

type Config = Record<string, any>;
type Reply = Record<string, unknown>;

/**
 * The repository's server stack pointed at the test host, as server.test.ts points it (host, user, pinned
 * host key, both blue-green slots on the Triton image built here, SSH from this machine's address only,
 * 120 s readiness, a small disk minimum on this shared machine), plus the dialogue service's Redis image. The log shipper is off: its
 * path is server.test.ts's, and MinIO would only add load here. The image archive, its id and the reply
 * URLs are set the README's way, after this file is written.
 */
function stackConfig(hostKey: string): Config {
    const doc = yaml.load(repoStackFile("server")) as { config: Config };
    const c = doc.config;
    const merge = (key: string, values: Record<string, unknown>) => (c[`triton-platform:${key}`] = { ...(c[`triton-platform:${key}`] ?? {}), ...values });
    merge("server", { host: addr.server, user: SERVER_USER, hostKey, readyTimeoutSeconds: 120, minDiskGB: 2 });
    c["triton-platform:slots"] = { blue: { image: TRITON_IMAGE }, green: { image: TRITON_IMAGE } };
    merge("gateway", { image: GATEWAY_IMAGE });
    merge("securityGroup", { sshCidrs: [`${addr.hostSide}/32`] });
    merge("logSink", { enabled: false });
    merge("dialogue", { store: { image: REDIS_IMAGE } });
    return doc;
}

/** Measured figures, printed at the end (docs/DIALOGUE.md quotes them). */
const figures: Record<string, unknown> = {};

describeAsRoot("the dialogue service on the lightweight server", () => {
    let host: ServerHost;
    let sandbox: Sandbox;
    let stack: Stack;
    let imageId = "";
    let firstUp: UpResult | undefined;
    let keys: ReturnType<typeof stackKeys>;
    let chatToken = "";
    /** The platform's reply endpoint on this machine, reached by the server at the veth address. */
    let receiver: http.Server | undefined;
    const replyPath = `/reply/${randomBytes(12).toString("hex")}`;
    const delivered: { body: Reply; at: number }[] = [];
    const strayDeliveries: string[] = [];

    const stackFile = () => path.join(sandbox.dir, `Pulumi.${STACK}.yaml`);
    const container = (name: string) => host.exec(["docker", "inspect", "--format", "{{.Id}} {{.Image}} {{.State.Status}}", name]).stdout.trim().split(" ");
    const containerNames = () => host.exec(["docker", "ps", "-a", "--format", "{{.Names}}"]).stdout.split("\n").filter(Boolean).sort();
    /** The last log lines of the service and the gateway (for failure messages). */
    const serviceLogs = () =>
        [SERVER_DIALOGUE_CONTAINER, GATEWAY_CONTAINER]
            .map((name) => {
                const r = host.exec(["docker", "logs", "--tail", "30", name]);
                return `--- docker logs ${name}\n${r.stdout}${r.stderr}`;
            })
            .join("\n");
    const remoteSteps = async () => {
        const d = (await stack.exportStack()).deployment as { resources?: { type: string; urn: string }[] };
        return (d.resources ?? []).filter((r) => r.type === "command:remote:Command").map((r) => r.urn.split("::").pop());
    };
    /** The run's ssh-agent socket is gone: its watchdog removes it within a second or two of the CLI's exit. */
    const agentGone = () => until("the run's ssh-agent socket to be removed", async () => (fs.existsSync(AGENT_SOCKET) ? undefined : true), 15);
    const needsUp = () => expect(firstUp?.summary.result, "needs a successful `pulumi up` (see the first test)").toBe("succeeded");

    /** An R11 message signed with the stack's HMAC key (or `key`). */
    const message = (o: { session: string; query: string; key?: string; messageId?: string }) =>
        buildSignedEnvelope({ platform: PLATFORM, sessionId: o.session, query: o.query, messageId: o.messageId }, o.key ?? keys.hmacKey);
    /** Whether a reply carries the R11 signature of the stack's HMAC key over its other fields. */
    const signedByStack = (r: Reply) => {
        const { signature, ...rest } = r;
        return signature === createHmac("sha256", keys.hmacKey).update(canonicalJson(rest)).digest("hex");
    };
    const turnOf = (r: Reply) => /turn (\d+)/.exec(String(r.reply))?.[1];
    const post = (port: number, urlPath: string, body: unknown) =>
        request(outside, "POST", port, urlPath, { headers: { authorization: `Bearer ${chatToken}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    /** Triton's count of successful inferences of the model, read through the gateway with a metrics:read token. */
    const inferences = async () => {
        const reader = await mintToken(keys.jwtSecret, keys.claims, { scope: ["metrics:read"] });
        const r = await request(outside, "GET", SERVICE_PORT, "/metrics", { headers: { authorization: `Bearer ${reader}` } });
        expect(r.status, r.body.slice(0, 300)).toBe(200);
        const m = /^nv_inference_request_success\{model="dialogue",version="1"\} (\d+)/m.exec(r.body);
        expect(m, "Triton's inference counter").not.toBeNull();
        return Number(m![1]);
    };
    /** The signed reply delivered to the receiver for a message id (waits up to 30 s). */
    const deliveryOf = (messageId: string) =>
        until(`the webhook reply to ${messageId} at the reply URL`, async () => delivered.find((d) => d.body.in_reply_to === messageId), 30, serviceLogs, 100);

    /** A WebSocket on /chat through the gateway on `port`, token in ?token= (R9); `ask` sends one message and waits for its answer. */
    const openChat = async (port: number, token = chatToken) => {
        const ws = new WebSocket(`ws://${addr.server}:${port}/chat?token=${token}`, { localAddress: addr.hostSide, handshakeTimeout: 10_000 });
        await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
        // An error after the handshake shows as a missing answer (ask's timeout), not an uncaught exception.
        ws.on("error", () => undefined);
        const inbox: ((m: Reply) => void)[] = [];
        ws.on("message", (d) => inbox.shift()?.(JSON.parse(d.toString()) as Reply));
        return {
            ws,
            ask: (m: Envelope) =>
                new Promise<{ reply: Reply; ms: number }>((resolve, reject) => {
                    const t0 = performance.now();
                    const timer = setTimeout(() => reject(new Error(`no answer on ws://${addr.server}:${port}/chat within 15 s\n${serviceLogs()}`)), 15_000);
                    inbox.push((reply) => {
                        clearTimeout(timer);
                        resolve({ reply, ms: performance.now() - t0 });
                    });
                    ws.send(JSON.stringify(m));
                }),
        };
    };

    beforeAll(async () => {
        const problems = hostPrerequisiteProblems();
        if (!fs.existsSync("/usr/bin/redis-server")) {
            problems.push("redis-server is missing: apt-get install redis-server (listed in scripts/apt-packages.txt; the Redis stand-in image is built from it)");
        }
        if (problems.length > 0) {
            throw new Error(`the test host cannot be built on this machine:\n- ${problems.join("\n- ")}`);
        }
        sandbox = makeSandbox({});
        const plugins = missingPlugins(sandbox.env);
        if (plugins.length > 0) {
            throw new Error(`the server stack cannot run on the real engine:\n- ${plugins.join("\n- ")}`);
        }
        // The README's first step, into the project's out/images (cached Debian base: seconds after the first build).
        const t0 = Date.now();
        const built = spawnSync("bash", [path.join(REPO_ROOT, "scripts/build-dialogue-image.sh"), path.join(sandbox.dir, ARCHIVE)], { encoding: "utf8", timeout: 20 * 60_000 });
        if (built.status !== 0) {
            throw new Error(`scripts/build-dialogue-image.sh failed (exit ${built.status}):\n${built.stderr.slice(-3000)}`);
        }
        figures.imageBuildSeconds = (Date.now() - t0) / 1000;
        imageId = /^image-id (sha256:[0-9a-f]{64})$/m.exec(built.stdout)?.[1] ?? "";
        expect(imageId, built.stdout).not.toBe("");

        host = ServerHost.start();
        host.loadImage("triton", TRITON_IMAGE);
        host.loadImage("gateway", GATEWAY_IMAGE);
        loadRedisImage(host, REDIS_IMAGE);

        // The platform's reply URL: port 80 of this machine's veth address (restricted egress lets the
        // server reach 80 and 443 only), a path that carries a token as real reply URLs do.
        receiver = http.createServer((req, res) => {
            let b = "";
            req.on("data", (c) => (b += c)).on("end", () => {
                if (req.method !== "POST" || req.url !== replyPath) {
                    strayDeliveries.push(`${req.method} ${req.url}`);
                    res.writeHead(404).end();
                    return;
                }
                delivered.push({ body: JSON.parse(b) as Reply, at: performance.now() });
                res.writeHead(200).end();
            });
        });
        await new Promise<void>((resolve, reject) => receiver!.once("error", reject).listen(80, addr.hostSide, resolve));

        fs.writeFileSync(stackFile(), yaml.dump(stackConfig(host.hostKey)));
        stack = await openStack(sandbox, STACK);
        setSecretFromStdin(sandbox, STACK, "serverPrivateKey", host.privateKey);
        // README: the image the build printed, and the reply URLs as a secret (here from stdin).
        for (const [key, value] of [
            ["dialogue.server.imageArchive", ARCHIVE],
            ["dialogue.server.imageId", imageId],
        ]) {
            const r = cli(sandbox, ["config", "set", "--path", key, value, "--stack", STACK]);
            expect(r.code, r.stderr).toBe(0);
        }
        setSecretFromStdin(sandbox, STACK, "dialogueReplyUrls", JSON.stringify({ [PLATFORM]: `http://${addr.hostSide}${replyPath}` }));
    });

    afterAll(async () => {
        host?.stop();
        await new Promise((r) => (receiver ? receiver.close(r) : r(undefined)));
        sandbox?.cleanup();
        process.stdout.write(`server-dialogue figures: ${JSON.stringify(figures)}\n`);
    });

    it("runs the service beside Triton after `pulumi up`, from the archive copied and loaded over SSH", async () => {
        let log = "";
        const t0 = Date.now();
        try {
            firstUp = await stack.up({ onOutput: (o) => (log += o) });
        } catch (e) {
            throw new Error(`pulumi up failed: ${(e as Error).message}\n${host.logTail("docker", 15)}`);
        }
        figures.firstUpSeconds = (Date.now() - t0) / 1000;
        expect(firstUp.summary.result).toBe("succeeded");
        expect(firstUp.outputs.serverEndpoint?.value).toBe(`http://${addr.server}:${SERVICE_PORT}`);
        for (const name of RUNNING) {
            expect({ name, status: container(name)[2] }).toEqual({ name, status: "running" });
        }
        // The service runs the image the build printed, loaded by the host's Docker (no registry).
        expect(container(SERVER_DIALOGUE_CONTAINER)[1]).toBe(imageId);
        expect(await remoteSteps()).toEqual(expect.arrayContaining(["server-dialogue-image-load", "server-dialogue-ready"]));
        expect(host.exec(["test", "-e", "/tmp/triton-platform-dialogue.oci.tar"]).code, "the uploaded archive is removed after the load").not.toBe(0);
        // It answers its readiness probe, which asks Redis.
        const ready = host.exec(["curl", "-fsS", "--max-time", "5", `http://127.0.0.1:${SERVER_DIALOGUE_PORTS.admin}/readyz`]);
        expect(ready.stdout, ready.stderr).toBe('{"status":"ready","store":"redis"}');
        // Neither the run's output nor the state at rest holds the HMAC key or the reply URL's token.
        keys = stackKeys(sandbox, STACK);
        chatToken = await mintToken(keys.jwtSecret, keys.claims, { scope: ["chat:write"] });
        const exported = cli(sandbox, ["stack", "export", "--stack", STACK]);
        expect(exported.code, exported.stderr).toBe(0);
        for (const secret of [keys.hmacKey, replyPath, serverRedisPassword(keys.hmacKey)]) {
            expect(log).not.toContain(secret);
            expect(exported.stdout).not.toContain(secret);
        }
        await agentGone();
    });

    it("holds a WebSocket conversation on /chat through the gateway where the model sees the history, on 18789 and on 80", async () => {
        needsUp();
        // No token, no chat: the gateway refuses the upgrade.
        const refused = await new Promise<number>((resolve, reject) => {
            const ws = new WebSocket(`ws://${addr.server}:${SERVICE_PORT}/chat`, { localAddress: addr.hostSide });
            ws.once("unexpected-response", (_req, res) => {
                resolve(res.statusCode ?? 0);
                ws.terminate();
            });
            ws.once("open", () => reject(new Error("a WebSocket without a token was opened")));
            ws.on("error", () => undefined);
        });
        expect(refused).toBe(401);

        const session = `ws-${randomUUID()}`;
        const first = await openChat(SERVICE_PORT);
        const turns: { reply: Reply; ms: number }[] = [];
        for (const query of ["hello", "how are you", "tell me more", "thanks"]) {
            turns.push(await first.ask(message({ session, query })));
        }
        first.ws.close();
        // A new connection, on the other port: the conversation goes on from Redis.
        const second = await openChat(80);
        turns.push(await second.ask(message({ session, query: "one more, on port 80" })));
        second.ws.close();
        figures.websocketTurnMs = turns.map((t) => Math.round(t.ms * 10) / 10);

        const replies = turns.map((t) => t.reply);
        expect(replies.map((r) => [r.type, r.session_id, r.platform])).toEqual(Array(5).fill(["reply", session, PLATFORM]));
        // The example model counts the user turns it was given: turn n means it saw the n-1 before it.
        expect(replies.map(turnOf)).toEqual(["1", "2", "3", "4", "5"]);
        // The release is the Triton image's tag: the real model on the server answered.
        expect(replies[3].reply).toBe('[e2e-1] turn 4: you said "thanks"');
        expect(replies.every(signedByStack), "every reply carries the stack's R11 signature").toBe(true);
        // The history is in the host's Redis (password from redis.conf; AUTH on stdin, never an argument).
        const password = serverRedisPassword(keys.hmacKey);
        expect(host.exec(["redis-cli", "-h", "127.0.0.1", "-p", String(SERVER_DIALOGUE_PORTS.redis), "ping"]).stdout.trim(), "Redis asks for its password").toMatch(/^NOAUTH/);
        const stored = host.execInput(["redis-cli", "-h", "127.0.0.1", "-p", String(SERVER_DIALOGUE_PORTS.redis)], `AUTH ${password}\nLLEN dialogue:h:${session}\n`);
        expect(stored.stdout.trim().split("\n"), stored.stderr).toEqual(["OK", "10"]);
    });

    it("acknowledges webhooks within R9's budget and delivers each signed reply to the platform's reply URL", async () => {
        needsUp();
        // The service's own measure of each acknowledgement (arrival to 202), from its metrics on the host's loopback.
        const acked = () => {
            const text = host.exec(["curl", "-fsS", "--max-time", "5", `http://127.0.0.1:${SERVER_DIALOGUE_PORTS.admin}/metrics`]).stdout;
            const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}.]/g, "\\$&")} (\\d+)`, "m").exec(text)?.[1] ?? 0); // absent before the first webhook
            const labels = `route="webhook",platform="${PLATFORM}"`;
            return { total: value(`dialogue_request_duration_seconds_count{${labels}}`), withinBudget: value(`dialogue_request_duration_seconds_bucket{le="${WEBHOOK_BUDGET_MS / 1000}",${labels}}`) };
        };
        const before = acked();
        const sent: { m: Envelope; ackMs: number; sentAt: number }[] = [];
        for (let i = 0; i < 10; i++) {
            const m = message({ session: `hook-${i}-${randomUUID()}`, query: `webhook ${i}` });
            const sentAt = performance.now();
            const res = await post(PORTS[i % 2], `/webhook/${PLATFORM}`, m);
            if (res.status !== 202) {
                // The service logs each message with its code and duration: what it saw of this one.
                throw new Error(`webhook ${i} (${m.header.message_id}) got ${res.status} after ${Math.round(res.ms)} ms: ${res.body}\n${serviceLogs()}`);
            }
            expect(JSON.parse(res.body)).toEqual({ status: "accepted", message_id: m.header.message_id });
            sent.push({ m, ackMs: res.ms, sentAt });
        }
        const after = acked();
        const ackMs = sent.map((s) => s.ackMs).sort((a, b) => a - b);
        figures.webhookAckMs = sent.map((s) => Math.round(s.ackMs * 10) / 10);
        figures.webhookAckMedianMs = Math.round(ackMs[ackMs.length / 2] * 10) / 10;
        // R9: acknowledged within 200 ms. Seen by the platform (a new TCP connection, the gateway's JWT
        // check, the service) at the median: single requests on this shared 2-core machine wait for a core
        // now and then. Inside the service (checks, HMAC, claim in Redis, queue), every one of them.
        expect(ackMs[ackMs.length / 2], `median acknowledgement of ${ackMs.map(Math.round).join(", ")} ms`).toBeLessThan(WEBHOOK_BUDGET_MS);
        expect({ total: after.total - before.total, withinBudget: after.withinBudget - before.withinBudget }).toEqual({ total: sent.length, withinBudget: sent.length });
        const deliveryMs: number[] = [];
        for (const [i, s] of sent.entries()) {
            const d = await deliveryOf(s.m.header.message_id);
            deliveryMs.push(Math.round((d.at - s.sentAt) * 10) / 10);
            expect(d.body).toMatchObject({ type: "reply", session_id: s.m.payload.session_id, platform: PLATFORM, reply: `[e2e-1] turn 1: you said "webhook ${i}"` });
            expect(signedByStack(d.body), "the delivered reply carries the stack's R11 signature").toBe(true);
        }
        figures.webhookDeliveryMs = deliveryMs;
        expect(strayDeliveries).toEqual([]);
    });

    it("answers a message sent with the README's `npm run -s token -- --send` and delivers its reply", async () => {
        needsUp();
        // The operator's view: the project's scripts in the checkout, the stack's backend and passphrase.
        for (const entry of ["scripts", "tools", "package-lock.json"]) {
            fs.cpSync(path.join(REPO_ROOT, entry), path.join(sandbox.dir, entry), { recursive: true });
        }
        const url = `http://${addr.server}:${SERVICE_PORT}/webhook/${PLATFORM}`;
        const r = spawnSync("npm", ["run", "-s", "token", "--", "--stack", STACK, "--send", url, "--platform", PLATFORM, "--query", "hello from the README"], {
            cwd: sandbox.dir,
            env: { ...process.env, ...sandbox.env },
            encoding: "utf8",
            timeout: 180_000,
        });
        expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
        expect(r.stdout).toMatch(/^HTTP 202/m);
        const messageId = (JSON.parse(r.stdout.split("\n").filter(Boolean).pop()!) as { message_id: string }).message_id;
        const d = await deliveryOf(messageId);
        expect(d.body.reply).toBe('[e2e-1] turn 1: you said "hello from the README"');
        expect(signedByStack(d.body)).toBe(true);
        // The script prints no key or token.
        expect(r.stdout + r.stderr).not.toContain(keys.hmacKey);
        expect(r.stdout + r.stderr).not.toContain(keys.jwtSecret);
    });

    it("accepts async REST with 202 and a result URL, then serves the answer", async () => {
        needsUp();
        const m = message({ session: `rest-${randomUUID()}`, query: "async please" });
        const res = await post(SERVICE_PORT, "/v1/messages", m);
        expect(res.status, res.body).toBe(202);
        const body = JSON.parse(res.body) as { status: string; id: string; result_url: string };
        expect(body).toEqual({ status: "accepted", id: m.header.message_id, result_url: `/v1/messages/${m.header.message_id}` });
        expect(res.headers.location).toBe(body.result_url);
        figures.restAcceptMs = Math.round(res.ms * 10) / 10;
        const t0 = performance.now();
        const result = await until(
            "the REST answer",
            async () => {
                const r = await request(outside, "GET", 80, body.result_url, { headers: { authorization: `Bearer ${chatToken}` } });
                return r.status === 200 ? (JSON.parse(r.body) as Reply) : undefined;
            },
            30,
            serviceLogs,
            50,
        );
        figures.restAnswerAfterMs = Math.round(performance.now() - t0);
        expect(result).toMatchObject({ type: "reply", in_reply_to: m.header.message_id, reply: '[e2e-1] turn 1: you said "async please"' });
        expect(signedByStack(result)).toBe(true);
        // Without a token the gateway refuses before the service; an unknown id is 404.
        expect((await request(outside, "GET", SERVICE_PORT, body.result_url)).status).toBe(401);
        expect((await request(outside, "GET", SERVICE_PORT, `/v1/messages/${randomUUID()}`, { headers: { authorization: `Bearer ${chatToken}` } })).status).toBe(404);
    });

    it("answers a replayed message_id once: the first answer again, no second inference, no second webhook delivery", async () => {
        needsUp();
        const m = message({ session: `replay-${randomUUID()}`, query: "only once" });
        const c = await openChat(SERVICE_PORT);
        const before = await inferences();
        const first = (await c.ask(m)).reply;
        const afterFirst = await inferences();
        const again = (await c.ask(m)).reply;
        c.ws.close();
        expect(afterFirst, "the first message ran the model").toBe(before + 1);
        expect(first.type).toBe("reply");
        expect([again.reply, again.message_id, again.replayed]).toEqual([first.reply, first.message_id, true]);
        expect(signedByStack(again)).toBe(true);
        // A platform retrying a webhook: acknowledged as a duplicate, delivered once.
        const hook = message({ session: `replay-hook-${randomUUID()}`, query: "deliver once" });
        expect((await post(SERVICE_PORT, `/webhook/${PLATFORM}`, hook)).status).toBe(202);
        await deliveryOf(hook.header.message_id);
        const dup = await post(80, `/webhook/${PLATFORM}`, hook);
        expect([dup.status, JSON.parse(dup.body)]).toEqual([200, { status: "duplicate", message_id: hook.header.message_id }]);
        await new Promise((r) => setTimeout(r, 1500));
        expect(delivered.filter((d) => d.body.in_reply_to === hook.header.message_id)).toHaveLength(1);
        expect(await inferences(), "only the two first messages ran the model").toBe(afterFirst + 1);
    });

    it("refuses a bad signature on every route, before any inference or delivery", async () => {
        needsUp();
        const before = await inferences();
        const forged = (query: string) => message({ session: `forged-${randomUUID()}`, query, key: "not-the-stacks-hmac-key-0123456789abcdef" });
        const c = await openChat(SERVICE_PORT);
        const onChat = (await c.ask(forged("on chat"))).reply;
        c.ws.close();
        expect([onChat.type, onChat.error]).toEqual(["error", "bad_signature"]);
        const hook = forged("on a webhook");
        const onHook = await post(SERVICE_PORT, `/webhook/${PLATFORM}`, hook);
        expect([onHook.status, JSON.parse(onHook.body).error]).toEqual([401, "bad_signature"]);
        const onRest = await post(80, "/v1/messages", forged("on REST"));
        expect([onRest.status, JSON.parse(onRest.body).error]).toEqual([401, "bad_signature"]);
        await new Promise((r) => setTimeout(r, 1500));
        expect(delivered.filter((d) => d.body.in_reply_to === hook.header.message_id)).toEqual([]);
        expect(await inferences()).toBe(before);
    });

    it("runs Redis and the service as non-root, read-only, capability-free containers on 127.0.0.1 only, with no secret on a command line", async () => {
        needsUp();
        const expected: Record<string, string> = { [SERVER_DIALOGUE_CONTAINER]: "10001", [SERVER_REDIS_CONTAINER]: "999" };
        const password = serverRedisPassword(keys.hmacKey);
        for (const [name, uid] of Object.entries(expected)) {
            const inspect = JSON.parse(host.exec(["docker", "inspect", name]).stdout)[0];
            expect({
                name,
                user: inspect.Config.User,
                readOnly: inspect.HostConfig.ReadonlyRootfs,
                network: inspect.HostConfig.NetworkMode,
                capDrop: inspect.HostConfig.CapDrop,
                capAdd: inspect.HostConfig.CapAdd ?? [],
                securityOpt: inspect.HostConfig.SecurityOpt,
                privileged: inspect.HostConfig.Privileged,
            }).toEqual({ name, user: `${uid}:${uid}`, readOnly: true, network: "host", capDrop: ["ALL"], capAdd: [], securityOpt: ["no-new-privileges:true"], privileged: false });
            // The running process, not only the setting.
            const status = host.exec(["cat", `/proc/${inspect.State.Pid}/status`]).stdout;
            expect(/^Uid:\s+(.*)$/m.exec(status)?.[1].split(/\s+/), name).toEqual([uid, uid, uid, uid]);
            // Every mount read-only but Redis's tmpfs; no secret in any Docker setting (command, env, labels).
            expect((inspect.Mounts as { RW: boolean }[]).every((m) => !m.RW), `${name}: read-only mounts`).toBe(true);
            const text = JSON.stringify(inspect);
            for (const secret of [keys.hmacKey, password, replyPath]) {
                expect(text.includes(secret), `${name}'s docker inspect holds a secret`).toBe(false);
            }
        }
        // No process on the machine (the host shares its process table) carries a secret in its arguments.
        const args = host.exec(["ps", "-eo", "args"]).stdout;
        expect(args).toMatch(/redis-server/);
        expect(args).toMatch(/\/srv\/dialogue\/main\.js/);
        for (const secret of [keys.hmacKey, password, replyPath]) {
            expect(args.includes(secret), "a command line holds a secret").toBe(false);
        }
        // The secret files: the service's (and Redis's) own user only.
        const files = host.exec(["stat", "-c", "%n %u:%g %a", "/etc/triton-platform/secrets/dialogue", "/etc/triton-platform/secrets/dialogue/hmac-key", "/etc/triton-platform/secrets/dialogue/reply-urls.json", "/etc/triton-platform/secrets/dialogue/redis-password", "/etc/triton-platform/secrets/dialogue-redis/redis.conf"]);
        expect(files.stdout.trim().split("\n"), files.stderr).toEqual([
            "/etc/triton-platform/secrets/dialogue 10001:10001 500",
            "/etc/triton-platform/secrets/dialogue/hmac-key 10001:10001 400",
            "/etc/triton-platform/secrets/dialogue/reply-urls.json 10001:10001 400",
            "/etc/triton-platform/secrets/dialogue/redis-password 10001:10001 400",
            "/etc/triton-platform/secrets/dialogue-redis/redis.conf 999:999 400",
        ]);
        // Listening on the loopback only, and nothing of theirs answers from outside.
        const ports = Object.values(SERVER_DIALOGUE_PORTS);
        const sockets = host.exec(["ss", "-Htln"]).stdout.split("\n").map((l) => l.split(/\s+/)[3]).filter((a) => a && ports.some((p) => a.endsWith(`:${p}`)));
        expect(sockets.sort()).toEqual(ports.map((p) => `127.0.0.1:${p}`).sort());
        const fromOutside = await Promise.all(ports.map(async (p) => [p, await probe(outside, p)]));
        expect(fromOutside.filter(([, r]) => r === "open")).toEqual([]);
    });

    it("changes nothing on a second `up`", async () => {
        needsUp();
        const before = MANAGED.map((name) => container(name)[0]);
        let out = "";
        const t0 = Date.now();
        const second = await stack.up({ diff: true, onOutput: (o) => (out += o) });
        figures.secondUpSeconds = (Date.now() - t0) / 1000;
        expect(second.summary.result).toBe("succeeded");
        expect(changesOf(second), out).toEqual([]);
        expect(MANAGED.map((name) => container(name)[0]), "no container was recreated").toEqual(before);
    });

    it("removes every container and resource on `pulumi destroy`", async () => {
        needsUp();
        const t0 = Date.now();
        const destroyed = await stack.destroy({ runProgram: true });
        figures.destroySeconds = (Date.now() - t0) / 1000;
        expect(destroyed.summary.result).toBe("succeeded");
        expect(containerNames()).toEqual([]);
        const d = (await stack.exportStack()).deployment as { resources?: { type: string }[] };
        expect((d.resources ?? []).filter((r) => !r.type.startsWith("pulumi:"))).toEqual([]);
        await agentGone();
    });
});
