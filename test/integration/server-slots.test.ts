// Blue-green on the server (R16) with the real haproxy: the generated slot router (slots.cfg) beside the
// generated haproxy.cfg, and the switch script run by bash against it, with two stand-in slots (HTTP servers
// of this process that say which slot answered) and a fake `docker` (the containers' running state in
// files). Requests flow through the router over kept-alive connections while the script switches: none may
// fail, and every request sent after the switch must reach the new slot.
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { gatewaySchema } from "../../components/gateway/schema";
import { serverGateway } from "../../components/gateway/server-plan";
import { slotPorts, slotRoutingConfig, slotSwitchScript, SlotSwitchOptions } from "../../components/model-service/server-slots";
import type { SlotName } from "../../kit/slots";
import { until } from "../support/wait";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "server-slots-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
let seq = 0;

/** Triton's own ports of this test (the router's); the slots sit at +100 and +200. */
const TRITON = { http: 20000 + Math.floor(Math.random() * 9000), metrics: 0 };
TRITON.metrics = TRITON.http + 2;

/** A minimal haproxy.cfg in front of the router: the router uses its `defaults`, as it does the gateway's. */
const BASE = `global
    log stdout format raw local0 info
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
`;

/** Stand-in slots: /v2/health/ready answers 200 when ready, everything else names the slot. */
const servers: http.Server[] = [];
const ready: Record<SlotName, boolean> = { blue: true, green: true };
async function startSlots(): Promise<void> {
    for (const slot of ["blue", "green"] as const) {
        for (const port of Object.values(slotPorts(slot, TRITON))) {
            const server = http.createServer((req, res) => {
                if (req.url === "/v2/health/ready") {
                    res.writeHead(ready[slot] ? 200 : 503).end();
                    return;
                }
                res.writeHead(200, { "content-type": "text/plain" }).end(slot);
            });
            server.keepAliveTimeout = 30_000;
            await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
            servers.push(server);
        }
    }
}
afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** A fake `docker`: inspect/start/stop against files holding each container's running state; calls logged. */
function fakeDocker(dir: string, running: Record<string, boolean>): { bin: string; calls: () => string[]; running: (name: string) => string } {
    const bin = path.join(dir, "bin");
    const state = path.join(dir, "docker-state");
    fs.mkdirSync(bin, { recursive: true });
    fs.mkdirSync(state, { recursive: true });
    for (const [name, on] of Object.entries(running)) {
        fs.writeFileSync(path.join(state, name), on ? "true\n" : "false\n");
    }
    fs.writeFileSync(
        path.join(bin, "docker"),
        `#!/usr/bin/env bash
state=${JSON.stringify(state)}
echo "$*" >> "$state/calls"
name="\${@: -1}"
case "$1" in
  inspect) [[ -f "$state/$name" ]] && cat "$state/$name" || { echo "Error: No such object: $name" >&2; exit 1; } ;;
  start) echo true > "$state/$name"; echo "$name" ;;
  stop) echo false > "$state/$name"; echo "$name" ;;
  logs) echo "fake log line of $name" ;;
  *) echo "unexpected docker $*" >&2; exit 2 ;;
esac
`,
        { mode: 0o755 },
    );
    return {
        bin,
        calls: () => (fs.existsSync(path.join(state, "calls")) ? fs.readFileSync(path.join(state, "calls"), "utf8").split("\n").filter(Boolean) : []),
        running: (name) => fs.readFileSync(path.join(state, name), "utf8").trim(),
    };
}

let haproxy: ChildProcess | undefined;
afterEach(() => {
    haproxy?.kill("SIGKILL");
    haproxy = undefined;
});

/** Starts haproxy on the base config and the slot router file, as the gateway container does. */
async function startHaproxy(dir: string, routingFile: string): Promise<void> {
    fs.writeFileSync(path.join(dir, "haproxy.cfg"), BASE);
    let err = "";
    const proc = spawn("haproxy", ["-W", "-db", "-f", path.join(dir, "haproxy.cfg"), "-f", routingFile], { stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr!.on("data", (d) => (err += d));
    haproxy = proc;
    await until(
        "haproxy's slot router",
        async () => {
            if (proc.exitCode !== null) {
                throw new Error(`haproxy exited (${proc.exitCode}): ${err}`);
            }
            return (await get("/who").catch(() => undefined)) ? true : undefined;
        },
        20,
    );
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
afterAll(() => agent.destroy());
function get(urlPath: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port: TRITON.http, path: urlPath, agent, timeout: 10_000 }, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${res.statusCode} ${body}`))));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
    });
}

/** A switch scene: a folder, the routing file and socket paths, the script's options. */
function scene(active: SlotName, idle: "stopped" | "warm") {
    const dir = fs.mkdtempSync(path.join(scratch, `scene-${seq++}-`));
    const adminDir = path.join(dir, "admin");
    const o: SlotSwitchOptions = {
        active,
        deployed: ["blue", "green"],
        idle,
        triton: TRITON,
        routingFile: path.join(dir, "gateway", "slots.cfg"),
        adminDir,
        adminSocket: path.join(adminDir, "admin.sock"),
        timeoutSeconds: 5,
        stopSeconds: 35,
        intervalSeconds: 1,
    };
    const config = (slot: SlotName) => slotRoutingConfig({ active: slot, deployed: ["blue", "green"], router: TRITON, triton: TRITON, adminSocket: o.adminSocket });
    return { dir, o, config };
}

/** Runs the switch script as the remote step does: bash, the slot router's file on stdin. */
function runSwitch(o: SlotSwitchOptions, config: string, bin: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const p = spawn("bash", ["-c", slotSwitchScript(o)], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, TRITON_FILES_ROOT: "" } });
        let stdout = "";
        let stderr = "";
        p.stdout.on("data", (d) => (stdout += d));
        p.stderr.on("data", (d) => (stderr += d));
        p.on("close", (code) => resolve({ code: code ?? 128, stdout, stderr }));
        p.stdin.end(config);
    });
}

/** Requests through the router, back to back from 3 clients, while `action` runs (and 300 ms after). */
async function underLoad<T>(action: () => Promise<T>): Promise<{ result: T; samples: { sentAt: number; slot?: string; error?: string }[] }> {
    const samples: { sentAt: number; slot?: string; error?: string }[] = [];
    let stop = false;
    const worker = async () => {
        while (!stop && samples.length < 50_000) {
            const sentAt = Date.now();
            samples.push(await get("/who").then((slot) => ({ sentAt, slot }), (e: Error) => ({ sentAt, error: e.message })));
        }
    };
    const workers = [worker(), worker(), worker()];
    const result = await action();
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(workers);
    return { result, samples };
}

/** When the switch began and ended (epoch ms), as the script prints them. */
const switchWindow = (stdout: string, slot: SlotName) => {
    const m = new RegExp(`switched the gateway to ${slot} at (\\d+\\.\\d+) \\(began (\\d+\\.\\d+)\\)`).exec(stdout);
    if (!m) {
        throw new Error(`no switch instant in:\n${stdout}`);
    }
    return { began: Number(m[2]) * 1000, at: Number(m[1]) * 1000 };
};
const switchedAt = (stdout: string, slot: SlotName) => switchWindow(stdout, slot).at;

describe("the slot router and the switch script, with the real haproxy", () => {
    it("shellcheck finds nothing in the switch script", () => {
        const { o } = scene("green", "stopped");
        const file = path.join(scratch, "switch.sh");
        fs.writeFileSync(file, slotSwitchScript(o));
        const r = spawnSync("shellcheck", ["-s", "bash", file], { encoding: "utf8" });
        expect(r.stdout + r.stderr).toBe("");
        expect(r.status).toBe(0);
    });

    it("haproxy accepts the generated haproxy.cfg with the slot router after it", () => {
        const gw = serverGateway({ settings: gatewaySchema.parse({}), jwt: { issuer: "model-service", audience: "collaboration-platform", lifetimeSeconds: 3600 } });
        const { dir, config } = scene("blue", "stopped");
        fs.writeFileSync(path.join(dir, "haproxy.cfg"), gw.config);
        fs.writeFileSync(path.join(dir, "slots.cfg"), config("blue"));
        const r = spawnSync("haproxy", ["-c", "-f", path.join(dir, "haproxy.cfg"), "-f", path.join(dir, "slots.cfg")], {
            encoding: "utf8",
            env: { ...process.env, JWT_SECRET: "x".repeat(48) },
        });
        expect(r.status, r.stdout + r.stderr).toBe(0);
    });

    it("switches blue to green under load: no request fails, every one sent after the switch reaches green, blue is stopped, and a restarted haproxy stays on green", async () => {
        await startSlots();
        const { dir, o, config } = scene("green", "stopped");
        fs.mkdirSync(path.dirname(o.routingFile), { recursive: true });
        fs.mkdirSync(o.adminDir, { recursive: true });
        fs.writeFileSync(o.routingFile, config("blue"));
        // green exists but was created stopped (server.idleSlot: stopped): the switch starts it first.
        const docker = fakeDocker(dir, { "triton-model-server-blue": true, "triton-model-server-green": false });
        await startHaproxy(dir, o.routingFile);
        expect(await get("/who")).toBe("blue");

        const { result, samples } = await underLoad(() => runSwitch(o, config("green"), docker.bin));
        expect(result.code, result.stderr).toBe(0);
        const { began, at } = switchWindow(result.stdout, "green");
        expect(at - began, "both slots serve for a moment only").toBeLessThan(1000);
        expect(samples.filter((s) => s.error).map((s) => s.error)).toEqual([]);
        // Answered before the switch began: blue only (green was started and ready, yet got nothing).
        expect([...new Set(samples.filter((s) => s.sentAt < began - 20).map((s) => s.slot))]).toEqual(["blue"]);
        const after = samples.filter((s) => s.sentAt > at);
        expect(after.length).toBeGreaterThan(10);
        expect([...new Set(after.map((s) => s.slot))]).toEqual(["green"]);
        // Started before the switch, the retired slot stopped after it; the file says green.
        expect(docker.calls().filter((c) => !c.startsWith("inspect") && !c.startsWith("logs"))).toEqual(["start triton-model-server-green", "stop --time 35 triton-model-server-blue"]);
        expect(docker.running("triton-model-server-blue")).toBe("false");
        expect(fs.readFileSync(o.routingFile, "utf8")).toBe(config("green"));
        expect(result.stdout).toMatch(/stopped triton-model-server-blue \(server\.idleSlot: stopped\)/);

        // haproxy reads the file when it starts: a restart keeps routing to green.
        haproxy!.kill("SIGKILL");
        await new Promise((r) => setTimeout(r, 200));
        await startHaproxy(dir, o.routingFile);
        expect(await get("/who")).toBe("green");

        // A second run changes nothing and says so.
        const again = await runSwitch(o, config("green"), docker.bin);
        expect(again.code, again.stderr).toBe(0);
        expect(again.stdout).toMatch(/slots\.cfg unchanged/);
        expect(again.stdout).toMatch(/triton-model-server-blue not running/);
    });

    it("keeps the idle slot running with idleSlot warm", async () => {
        const { dir, o, config } = scene("blue", "warm");
        fs.mkdirSync(path.dirname(o.routingFile), { recursive: true });
        fs.mkdirSync(o.adminDir, { recursive: true });
        fs.writeFileSync(o.routingFile, config("green"));
        const docker = fakeDocker(dir, { "triton-model-server-blue": true, "triton-model-server-green": true });
        await startHaproxy(dir, o.routingFile);
        expect(await get("/who")).toBe("green");
        const { result, samples } = await underLoad(() => runSwitch(o, config("blue"), docker.bin));
        expect(result.code, result.stderr).toBe(0);
        expect(samples.filter((s) => s.error)).toEqual([]);
        expect([...new Set(samples.filter((s) => s.sentAt > switchedAt(result.stdout, "blue")).map((s) => s.slot))]).toEqual(["blue"]);
        expect(docker.calls().filter((c) => c.startsWith("stop"))).toEqual([]);
        expect(docker.running("triton-model-server-green")).toBe("true");
        expect(result.stdout).toMatch(/triton-model-server-green running \(server\.idleSlot: warm\)/);
    });

    it("leaves the routing alone when the new slot does not become ready in time", async () => {
        const { dir, o, config } = scene("green", "stopped");
        fs.mkdirSync(path.dirname(o.routingFile), { recursive: true });
        fs.mkdirSync(o.adminDir, { recursive: true });
        fs.writeFileSync(o.routingFile, config("blue"));
        const docker = fakeDocker(dir, { "triton-model-server-blue": true, "triton-model-server-green": true });
        await startHaproxy(dir, o.routingFile);
        ready.green = false;
        try {
            const { result, samples } = await underLoad(() => runSwitch({ ...o, timeoutSeconds: 2 }, config("green"), docker.bin));
            expect(result.code).toBe(1);
            expect(result.stderr).toMatch(/slot green is not ready after 2s \(server\.readyTimeoutSeconds\).*traffic stays where it was/);
            expect(result.stderr).toContain("fake log line of triton-model-server-green");
            expect(samples.filter((s) => s.error)).toEqual([]);
            expect([...new Set(samples.map((s) => s.slot))]).toEqual(["blue"]);
            expect(fs.readFileSync(o.routingFile, "utf8")).toBe(config("blue"));
            expect(docker.running("triton-model-server-blue")).toBe("true");
        } finally {
            ready.green = true;
        }
    });
});
