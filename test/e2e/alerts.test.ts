// The R14 alerts on real metrics, and their way to the on-call channel. Real programs on
// loopback only: Triton 2.51 (CPU, from PyPI's nvidia-pytriton: scripts/install-triton.sh) serving
// Python-backend test models whose faults the test controls (test/e2e/models/faulty), Debian's node
// exporter watching a small ext4 file system the test fills (a loop mount in a private mount and PID
// namespace: it disappears with the namespace), Debian's Prometheus loading the rule file the program
// generates (the plain-Prometheus ConfigMap), and Alertmanager (built by scripts/install-alertmanager.sh:
// Debian's 0.25 refuses `url_file`) loading the generated alert route, delivering to a stand-in for the
// collaboration platform's robot URLs. Every threshold and window comes from the stack definition.
//
// Not covered here: ModelServiceAvailabilityLow, ModelServiceHpaAtMaximum and ModelServicePodUnschedulable
// read kube-state-metrics (kube_deployment_*, kube_horizontalpodautoscaler_*, kube_pod_status_*), which
// runs nowhere in this suite (the cluster test has no kube-state-metrics); their expressions are covered
// by promtool on synthetic series (test/integration/observability-promtool.test.ts). TritonMetricsAbsent (no Triton target at all, 10 minutes) is promtool-tested; here
// a stopped Triton raises TritonMetricsScrapeDown.
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterProvider } from "../../components/cluster/provider";
import { JOBS, Monitoring, R14_THRESHOLD_ANNOTATION, scrapeTargets } from "../../components/observability";
import { StackDefinition } from "../../stack/definition";
import { definitionFrom } from "../support/definitions";
import { ofType, runMocked } from "../support/harness";
import { freePort } from "../support/ports";
import { sleep, until } from "../support/wait";

const ROOT = path.resolve(__dirname, "../..");
const NAMESPACE = "triton-e2e";
const SLOT = "blue";
/** Short windows, set through the definition as a user would (monitoring.alertFor, alertRoute timing). */
const ALERT_FOR_SECONDS = 8;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "alerts-e2e-"));
const urlDir = path.join(work, "webhook-urls");
const TOKENS = { oncall: crypto.randomBytes(16).toString("hex"), team: crypto.randomBytes(16).toString("hex") };

/** The test models: name, share of failing requests, delay each request asks for (ms). */
const MODELS = {
    errors5: { name: "errors-5pct", failureFraction: 0.05 },
    errorsHalf: { name: "errors-half-pct", failureFraction: 0.005 },
    slow: { name: "replies-900ms", failureFraction: 0 },
    fast: { name: "replies-100ms", failureFraction: 0 },
    // Fails 5% (critical error rate) and, once that fires, replies in 900 ms: its latency warning must be inhibited.
    both: { name: "failing-then-slow", failureFraction: 0.05 },
} as const;

// ---------- the definition and what the program generates from it --------------------------------------

function rawDefinition(thresholds: Record<string, number> = {}): Record<string, unknown> {
    return {
        namespace: NAMESPACE,
        monitoring: {
            prometheusOperator: false,
            scrapeInterval: "1s",
            alertFor: `${ALERT_FOR_SECONDS}s`,
            thresholds,
            alertRoute: {
                receivers: [
                    { name: "oncall", urlSecret: "alertWebhookOncall", severities: ["critical"] },
                    { name: "team-chat", urlSecret: "alertWebhookTeamChat", severities: ["warning"] },
                ],
                groupWait: "1s",
                groupInterval: "2s",
                repeatInterval: "1h",
                urlFileDirectory: urlDir,
            },
        },
        // Only their presence is checked by the definition; the values reach the program as secrets.
        alertWebhookOncall: "set",
        alertWebhookTeamChat: "set",
    };
}

/** How the Pulumi runtime marks a secret value on the wire. */
const SECRET_SIG = pulumi.runtime.specialSigKey;
const SECRET_SIG_VALUE = pulumi.runtime.specialSecretSig;

interface Generated {
    definition: StackDefinition;
    rules: string;
    alertmanager: string;
    webhookSecret: Record<string, string>;
}

/** Runs the Monitoring component under mocks and returns the files it declares (plain-Prometheus form). */
async function generate(thresholds: Record<string, number> = {}, receiverPort = 0): Promise<Generated> {
    const definition = definitionFrom(rawDefinition(thresholds), "e2e");
    const urls = {
        alertWebhookOncall: `http://127.0.0.1:${receiverPort}/robot/send?key=${TOKENS.oncall}`,
        alertWebhookTeamChat: `http://127.0.0.1:${receiverPort}/robot/send?key=${TOKENS.team}`,
    };
    const result = await runMocked(async () => {
        const provider = clusterProvider("cluster", { mode: "render", directory: path.join(work, "manifests") }, "e2e");
        new Monitoring("monitoring", { definition, provider, namespace: NAMESPACE, alertWebhookUrls: urls });
    });
    const configMaps = Object.fromEntries(ofType(result, "kubernetes:core/v1:ConfigMap").map((r) => [r.name, r.inputs]));
    const secret = ofType(result, "kubernetes:core/v1:Secret").find((r) => r.name === "monitoring-alert-webhooks")!.inputs;
    // The engine receives the URLs as a secret value (the mock shows its signature and the plain value).
    const data = secret.stringData as { [SECRET_SIG]?: string; value?: Record<string, string> };
    if (data?.[SECRET_SIG] !== SECRET_SIG_VALUE || typeof data.value !== "object") {
        throw new Error("the webhook Secret's data does not reach the engine as a secret value");
    }
    const webhookSecret = data.value;
    return {
        definition,
        rules: configMaps["monitoring-prometheus"].data["triton-platform.rules.yaml"],
        alertmanager: configMaps["monitoring-alertmanager"].data["alertmanager.yaml"],
        webhookSecret,
    };
}

// ---------- processes -------------------------------------------------------------------------------

const started: ChildProcess[] = [];

function start(name: string, cmd: string, args: string[], opts: { stdin?: "pipe"; env?: Record<string, string> } = {}): ChildProcess {
    const out = fs.openSync(path.join(work, `${name}.log`), "a");
    const proc = spawn(cmd, args, { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: work, ...opts.env }, stdio: [opts.stdin ?? "ignore", out, out] });
    fs.closeSync(out);
    started.push(proc);
    return proc;
}

async function stop(proc: ChildProcess, graceMs = 20_000): Promise<void> {
    if (proc.exitCode !== null || proc.signalCode !== null) {
        return;
    }
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
}

function logOf(name: string): string {
    const f = path.join(work, `${name}.log`);
    return fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "";
}

/** The shared poll (test/support/wait.ts), with the time-out in milliseconds as this file gives it. */
const waitFor = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> => until(what, probe, timeoutMs / 1000, undefined, 1000);

async function getJson(url: string): Promise<any> {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) {
        throw new Error(`${url}: HTTP ${res.status}`);
    }
    return res.json();
}

// ---------- the stand-in collaboration platform --------------------------------------------------------

interface Notification {
    receiver: string;
    status: "firing" | "resolved";
    groupKey: string;
    alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}
const received: { oncall: Notification[]; team: Notification[]; refused: number } = { oncall: [], team: [], refused: 0 };

function startReceiver(port: number): Promise<http.Server> {
    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const key = new URL(req.url ?? "/", "http://x").searchParams.get("key");
            const which = key === TOKENS.oncall ? "oncall" : key === TOKENS.team ? "team" : undefined;
            if (req.method !== "POST" || !which) {
                received.refused++;
                res.writeHead(403).end();
                return;
            }
            received[which].push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
            res.writeHead(200, { "content-type": "application/json" }).end('{"errcode":0}');
        });
    });
    return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

/** Firing notifications of one receiver that carry an alert matching name and labels. */
function notified(list: Notification[], status: "firing" | "resolved", alertname: string, labels: Record<string, string> = {}) {
    return list.filter((n) => n.alerts.some((a) => a.status === status && a.labels.alertname === alertname && Object.entries(labels).every(([k, v]) => a.labels[k] === v)));
}

// ---------- Triton and its load ------------------------------------------------------------------------

const ports = { tritonHttp: 0, tritonMetrics: 0, nodeExporter: 0, prometheus: 0, alertmanager: 0, receiver: 0 };
let tritonBin = "";
let triton: ChildProcess | undefined;
const repo = path.join(work, "models");

function writeModelRepository(): void {
    const source = fs.readFileSync(path.join(ROOT, "test/e2e/models/faulty/model.py"), "utf8");
    for (const m of Object.values(MODELS)) {
        fs.mkdirSync(path.join(repo, m.name, "1"), { recursive: true });
        fs.writeFileSync(path.join(repo, m.name, "1", "model.py"), source);
        // As the platform configures its models (R12): batching up to 32 with the dynamic batcher.
        fs.writeFileSync(
            path.join(repo, m.name, "config.pbtxt"),
            [
                `name: "${m.name}"`,
                'backend: "python"',
                "max_batch_size: 32",
                "dynamic_batching { }",
                'input [ { name: "DELAY_MS" data_type: TYPE_INT32 dims: [ 1 ] } ]',
                'output [ { name: "ECHO_MS" data_type: TYPE_INT32 dims: [ 1 ] } ]',
                "instance_group [ { kind: KIND_CPU count: 1 } ]",
                `parameters { key: "failure_fraction" value: { string_value: "${m.failureFraction}" } }`,
                "",
            ].join("\n"),
        );
    }
}

async function startTriton(): Promise<void> {
    triton = start("triton", tritonBin, [
        `--model-repository=${repo}`,
        `--backend-directory=${path.join(path.dirname(tritonBin), "..", "backends")}`,
        "--http-address=127.0.0.1",
        `--http-port=${ports.tritonHttp}`,
        "--allow-grpc=false",
        "--metrics-address=127.0.0.1",
        `--metrics-port=${ports.tritonMetrics}`,
        // As the model service runs Triton: per-model latency quantiles for the P99 alert.
        "--metrics-config=summary_latencies=true",
        "--allow-gpu-metrics=false",
        "--exit-timeout-secs=5",
    ]);
    await waitFor("Triton to load the test models", 120_000, async () => {
        if (triton!.exitCode !== null) {
            throw new Error(`tritonserver exited ${triton!.exitCode}:\n${logOf("triton").slice(-3000)}`);
        }
        for (const m of Object.values(MODELS)) {
            const res = await fetch(`http://127.0.0.1:${ports.tritonHttp}/v2/models/${m.name}/ready`, { signal: AbortSignal.timeout(2000) });
            if (res.status !== 200) {
                return undefined;
            }
        }
        return true;
    });
}

/** One inference; resolves to whether Triton answered 200. */
async function infer(model: string, delayMs: number): Promise<boolean> {
    const res = await fetch(`http://127.0.0.1:${ports.tritonHttp}/v2/models/${model}/infer`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ inputs: [{ name: "DELAY_MS", shape: [1, 1], datatype: "INT32", data: [delayMs] }] }),
        signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    return res.status === 200;
}

/** A bounded request loop: one request at a time to one model, until stopped, maxRequests or maxMs. */
interface Loop {
    delayMs: number;
    stopped: boolean;
    sent: number;
    failed: number;
    done: Promise<void>;
}
const loops: Loop[] = [];

function drive(model: string, delayMs: number, opts: { pauseMs?: number; maxRequests?: number; maxMs?: number } = {}): Loop {
    const loop: Loop = { delayMs, stopped: false, sent: 0, failed: 0, done: Promise.resolve() };
    const deadline = Date.now() + (opts.maxMs ?? 6 * 60_000);
    const max = opts.maxRequests ?? 40_000;
    loop.done = (async () => {
        while (!loop.stopped && loop.sent < max && Date.now() < deadline) {
            loop.sent++;
            try {
                if (!(await infer(model, loop.delayMs))) {
                    loop.failed++;
                }
            } catch {
                loop.failed++;
                await sleep(200);
            }
            if (opts.pauseMs) {
                await sleep(opts.pauseMs);
            }
        }
    })();
    loops.push(loop);
    return loop;
}

async function stopLoops(): Promise<void> {
    loops.forEach((l) => (l.stopped = true));
    await Promise.all(loops.map((l) => l.done));
}

// ---------- the disk node exporter watches -------------------------------------------------------------

const disk = { mountpoint: path.join(work, "disk"), image: path.join(work, "disk.img") };
let nodeNs: ChildProcess | undefined;

/**
 * Node exporter as PID 1's child in a private mount and PID namespace holding a loop-mounted 32 MiB
 * ext4 file system: node exporter reads the mounts of PID 1 of its namespace, so it sees this file
 * system and the host sees nothing. The shell reads fill levels (percent) from stdin; when the test's
 * stdin closes or the shell dies, the namespace ends and the kernel unmounts it and frees the loop device.
 */
/** Mount points of this process's mount namespace (field 5 of mountinfo, octal escapes decoded). */
function hostMountPoints(): string[] {
    return fs
        .readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => line.split(" ")[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function startNodeExporter(): void {
    fs.mkdirSync(disk.mountpoint, { recursive: true });
    execFileSync("truncate", ["-s", "32M", disk.image]);
    execFileSync("mkfs.ext4", ["-q", "-F", "-m", "0", disk.image]);
    const script = `set -eu
mount -o loop "$1" "$2"
mnt="$2"; shift 2
"$@" &
ne=$!
trap 'kill $ne 2>/dev/null; wait $ne 2>/dev/null' EXIT
while read -r pct; do
  rm -f "$mnt/fill"; sync
  set -- $(df -B1 --output=size,avail "$mnt" | tail -n 1)
  fill=$(( $1 * pct / 100 - ($1 - $2) ))
  if [ "$fill" -gt 0 ]; then fallocate -l "$fill" "$mnt/fill"; fi
  sync
  echo "filled $(df --output=pcent "$mnt" | tail -n 1 | tr -d ' ')"
done`;
    nodeNs = start(
        "node-exporter",
        "unshare",
        [
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            disk.image,
            disk.mountpoint,
            "/usr/bin/prometheus-node-exporter",
            `--web.listen-address=127.0.0.1:${ports.nodeExporter}`,
            "--collector.disable-defaults",
            "--collector.filesystem",
            // Only the test file system: the host's own disks (whose fill level varies with other work on
            // the machine) must not raise NodeDiskUsageHigh alerts of their own in the same group. The new
            // mount namespace starts as a copy of this one, so these are all the other mount points.
            `--collector.filesystem.mount-points-exclude=^(${hostMountPoints().map(escapeRegExp).join("|")})$`,
        ],
        { stdin: "pipe" },
    );
}

async function fillDisk(percent: number): Promise<void> {
    const before = fs.readFileSync(path.join(work, "node-exporter.log"), "utf8").split("filled").length;
    nodeNs!.stdin!.write(`${percent}\n`);
    await waitFor(`the test file system filled to ${percent}%`, 30_000, async () =>
        fs.readFileSync(path.join(work, "node-exporter.log"), "utf8").split("filled").length > before ? true : undefined,
    );
}

// ---------- Prometheus and Alertmanager ----------------------------------------------------------------

let prometheus: ChildProcess | undefined;
let generated: Generated;

function prometheusConfig(def: StackDefinition): string {
    // The program's scrape configs discover pods through the Kubernetes API; here the same targets are
    // static, with the labels that discovery and relabelling give them (job, namespace, pod, slot, instance).
    const targets = scrapeTargets(def);
    const triton = targets.find((t) => t.job === JOBS.triton)!;
    const node = targets.find((t) => t.job === JOBS.nodeExporter)!;
    return JSON.stringify({
        global: { scrape_interval: def.monitoring.scrapeInterval, evaluation_interval: "1s" },
        rule_files: [path.join(work, "rules.yaml")],
        alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${ports.alertmanager}`] }] }] },
        scrape_configs: [
            {
                job_name: triton.job,
                static_configs: [{ targets: [`127.0.0.1:${ports.tritonMetrics}`], labels: { namespace: triton.namespace, pod: "triton-e2e-0", container: "triton", slot: SLOT } }],
            },
            {
                job_name: node.job,
                static_configs: [{ targets: [`127.0.0.1:${ports.nodeExporter}`], labels: { namespace: node.namespace, instance: "e2e-node" } }],
            },
        ],
    });
}

interface PromAlert {
    labels: Record<string, string>;
    annotations: Record<string, string>;
    state: "pending" | "firing";
    value: string;
}

/**
 * What a user sees, kept for docs/OBSERVABILITY.md: with ALERTS_E2E_EVIDENCE=<folder> the firing alerts
 * from /api/v1/alerts and the notifications the stand-in platform received are written there.
 */
const evidence: Record<string, unknown> = {};

async function prometheusAlerts(): Promise<PromAlert[]> {
    return (await getJson(`http://127.0.0.1:${ports.prometheus}/api/v1/alerts`)).data.alerts;
}

function matching(alerts: PromAlert[], alertname: string, labels: Record<string, string> = {}): PromAlert[] {
    return alerts.filter((a) => a.labels.alertname === alertname && Object.entries(labels).every(([k, v]) => a.labels[k] === v));
}

/** Waits until Prometheus's /api/v1/alerts shows the alert firing, and returns it. */
async function firing(alertname: string, labels: Record<string, string>, timeoutMs = 90_000): Promise<PromAlert> {
    const alert = await waitFor(`${alertname} ${JSON.stringify(labels)} to fire`, timeoutMs, async () =>
        matching(await prometheusAlerts(), alertname, labels).find((a) => a.state === "firing"),
    );
    evidence[`${alertname} ${JSON.stringify(labels)}`] = alert;
    return alert;
}

/** The value of a PromQL query (one series expected), or undefined when it has none. */
async function query(expr: string): Promise<number | undefined> {
    const r = await getJson(`http://127.0.0.1:${ports.prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const v = r.data.result[0]?.value?.[1];
    return v === undefined ? undefined : Number(v);
}

async function loadRules(rules: string): Promise<void> {
    fs.writeFileSync(path.join(work, "rules.yaml"), rules);
    if (prometheus) {
        const res = await fetch(`http://127.0.0.1:${ports.prometheus}/-/reload`, { method: "POST" });
        expect(res.status, await res.text()).toBe(200);
    }
}

// ---------- setup --------------------------------------------------------------------------------------

beforeAll(async () => {
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) {
        ports[k] = await freePort();
    }
    const install = (script: string, ...args: string[]) => {
        const r = spawnSync("bash", [path.join(ROOT, "scripts", script), ...args], { encoding: "utf8", timeout: 15 * 60_000 });
        if (r.status !== 0) {
            throw new Error(`scripts/${script} failed (exit ${r.status}):\n${r.stderr}`);
        }
        return r.stdout.trim().split("\n");
    };
    [tritonBin] = install("install-triton.sh", "--print-path");
    const [alertmanagerBin] = install("install-alertmanager.sh");
    for (const tool of ["/usr/bin/prometheus", "/usr/bin/prometheus-node-exporter"]) {
        if (!fs.existsSync(tool)) {
            throw new Error(`${tool} is missing: install the Debian packages of scripts/apt-packages.txt (prometheus, prometheus-node-exporter)`);
        }
    }

    await startReceiver(ports.receiver).then((s) => cleanups.push(() => new Promise<void>((r) => s.close(() => r()))));
    generated = await generate({}, ports.receiver);
    // The Secret's keys, mounted as files where the configuration's url_file expects them.
    fs.mkdirSync(urlDir, { recursive: true, mode: 0o700 });
    for (const [key, url] of Object.entries(generated.webhookSecret)) {
        fs.writeFileSync(path.join(urlDir, key), url, { mode: 0o600 });
    }
    fs.writeFileSync(path.join(work, "alertmanager.yaml"), generated.alertmanager);
    await loadRules(generated.rules);
    fs.writeFileSync(path.join(work, "prometheus.yaml"), prometheusConfig(generated.definition));

    writeModelRepository();
    startNodeExporter();
    start("alertmanager", alertmanagerBin, [
        `--config.file=${path.join(work, "alertmanager.yaml")}`,
        `--storage.path=${path.join(work, "alertmanager-data")}`,
        `--web.listen-address=127.0.0.1:${ports.alertmanager}`,
        "--cluster.listen-address=",
    ]);
    prometheus = start("prometheus", "/usr/bin/prometheus", [
        `--config.file=${path.join(work, "prometheus.yaml")}`,
        `--storage.tsdb.path=${path.join(work, "prometheus-data")}`,
        `--web.listen-address=127.0.0.1:${ports.prometheus}`,
        "--web.enable-lifecycle",
        // Alerts reach Alertmanager within a second of changing state (the default waits a minute to resend).
        "--rules.alert.resend-delay=1s",
    ]);
    await startTriton();
    await waitFor("Prometheus and Alertmanager to be ready", 60_000, async () => {
        const a = await fetch(`http://127.0.0.1:${ports.prometheus}/-/ready`);
        const b = await fetch(`http://127.0.0.1:${ports.alertmanager}/-/ready`);
        return a.ok && b.ok ? true : undefined;
    });
    await fillDisk(80);

    // The load: one request at a time per model, bounded in count and time.
    drive(MODELS.errors5.name, 0, { pauseMs: 10 });
    drive(MODELS.errorsHalf.name, 0, { pauseMs: 5 });
    drive(MODELS.slow.name, 900);
    drive(MODELS.fast.name, 100);
    bothLoop = drive(MODELS.both.name, 0, { pauseMs: 20 });
}, 20 * 60_000);

let bothLoop: Loop;
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
    await stopLoops();
    nodeNs?.stdin?.end();
    for (const p of started.reverse()) {
        await stop(p);
    }
    for (const c of cleanups) {
        await c();
    }
    if (process.env.ALERTS_E2E_EVIDENCE) {
        fs.mkdirSync(process.env.ALERTS_E2E_EVIDENCE, { recursive: true });
        fs.writeFileSync(path.join(process.env.ALERTS_E2E_EVIDENCE, "alerts.json"), JSON.stringify({ prometheus: evidence, received }, null, 2));
    }
    // The namespace's loop mount went with it; nothing stays mounted on the host.
    expect(fs.readFileSync("/proc/self/mounts", "utf8")).not.toContain(disk.mountpoint);
    fs.rmSync(work, { recursive: true, force: true });
}, 120_000);

// ---------- the tests ----------------------------------------------------------------------------------

describe("R14 alerts against a live Triton and node exporter", () => {
    it("Prometheus and Alertmanager run the generated rule file and alert route, and no webhook URL is in either", async () => {
        const rules = (await getJson(`http://127.0.0.1:${ports.prometheus}/api/v1/rules`)).data.groups;
        const names = rules.flatMap((g: { rules: { name: string }[] }) => g.rules.map((r) => r.name));
        expect(names).toEqual(expect.arrayContaining(["TritonErrorRateHigh", "TritonInferenceLatencyP99High", "NodeDiskUsageHigh", "TritonMetricsScrapeDown"]));
        const status = await getJson(`http://127.0.0.1:${ports.alertmanager}/api/v2/status`);
        expect(status.config.original).toContain(`url_file: ${urlDir}/oncall.url`);
        for (const token of Object.values(TOKENS)) {
            expect(generated.alertmanager).not.toContain(token);
            expect(generated.rules).not.toContain(token);
            expect(status.config.original).not.toContain(token);
        }
    });

    it("TritonErrorRateHigh fires for a model failing 5% of its requests and stays silent for one failing 0.5%", async () => {
        const alert = await firing("TritonErrorRateHigh", { model: MODELS.errors5.name, namespace: NAMESPACE, slot: SLOT });
        expect(alert.labels.severity).toBe("critical");
        expect(alert.annotations[R14_THRESHOLD_ANNOTATION]).toBe("2");
        expect(Number(alert.value)).toBeGreaterThan(2);
        expect(Number(alert.value)).toBeLessThanOrEqual(5.5);
        // The 0.5% model failed too, and its error rate is visible, below the threshold, not alerting.
        const failures = await query(`sum(nv_inference_request_failure{model="${MODELS.errorsHalf.name}"})`);
        expect(failures).toBeGreaterThan(0);
        const rate = await query(
            `100 * sum(rate(nv_inference_request_failure{model="${MODELS.errorsHalf.name}"}[5m])) / (sum(rate(nv_inference_request_success{model="${MODELS.errorsHalf.name}"}[5m])) + sum(rate(nv_inference_request_failure{model="${MODELS.errorsHalf.name}"}[5m])))`,
        );
        expect(rate).toBeGreaterThan(0);
        expect(rate).toBeLessThan(2);
        expect(matching(await prometheusAlerts(), "TritonErrorRateHigh", { model: MODELS.errorsHalf.name })).toEqual([]);
    });

    it("TritonInferenceLatencyP99High fires for 900 ms replies and stays silent for 100 ms replies", async () => {
        const alert = await firing("TritonInferenceLatencyP99High", { model: MODELS.slow.name, namespace: NAMESPACE, slot: SLOT });
        expect(alert.labels.severity).toBe("warning");
        expect(alert.annotations[R14_THRESHOLD_ANNOTATION]).toBe("800");
        expect(Number(alert.value)).toBeGreaterThan(800);
        const fastP99 = await query(`nv_inference_request_summary_us{model="${MODELS.fast.name}", quantile="0.99"} / 1000`);
        expect(fastP99).toBeGreaterThanOrEqual(100);
        expect(fastP99).toBeLessThan(800);
        expect(matching(await prometheusAlerts(), "TritonInferenceLatencyP99High", { model: MODELS.fast.name })).toEqual([]);
    });

    it("NodeDiskUsageHigh is silent for a file system 80% full and fires at 90%", async () => {
        const usage = `100 * (1 - node_filesystem_avail_bytes{mountpoint="${disk.mountpoint}"} / node_filesystem_size_bytes{mountpoint="${disk.mountpoint}"})`;
        const at80 = await waitFor("node exporter to report the test file system", 30_000, () => query(usage));
        expect(at80).toBeGreaterThan(75);
        expect(at80).toBeLessThan(85);
        // The exporter sees the test file system only, whatever the host's own disks hold.
        expect(await query("count(node_filesystem_size_bytes)")).toBe(1);
        // The errors and latency alerts above fired after the same `for` window, so this one had time to.
        expect(matching(await prometheusAlerts(), "NodeDiskUsageHigh", { mountpoint: disk.mountpoint })).toEqual([]);
        await fillDisk(90);
        const alert = await firing("NodeDiskUsageHigh", { mountpoint: disk.mountpoint });
        expect(alert.labels.severity).toBe("warning");
        expect(alert.labels.fstype).toBe("ext4");
        expect(alert.annotations[R14_THRESHOLD_ANNOTATION]).toBe("85");
        expect(Number(alert.value)).toBeGreaterThan(85);
    });

    it("a critical error rate inhibits the latency warning of the same model", async () => {
        await firing("TritonErrorRateHigh", { model: MODELS.both.name });
        bothLoop.delayMs = 900; // the same model now also answers slowly
        await firing("TritonInferenceLatencyP99High", { model: MODELS.both.name });
        const amAlerts = await waitFor("Alertmanager to inhibit the latency warning", 30_000, async () => {
            const all: any[] = await getJson(`http://127.0.0.1:${ports.alertmanager}/api/v2/alerts`);
            const warning = all.find((a) => a.labels.alertname === "TritonInferenceLatencyP99High" && a.labels.model === MODELS.both.name);
            return warning?.status.inhibitedBy.length > 0 ? all : undefined;
        });
        const critical = amAlerts.find((a: any) => a.labels.alertname === "TritonErrorRateHigh" && a.labels.model === MODELS.both.name);
        const warning = amAlerts.find((a: any) => a.labels.alertname === "TritonInferenceLatencyP99High" && a.labels.model === MODELS.both.name);
        expect(warning.status.inhibitedBy).toEqual([critical.fingerprint]);
        await sleep(5000); // several group intervals: an uninhibited warning would have been sent by now
        expect(notified(received.team, "firing", "TritonInferenceLatencyP99High", { model: MODELS.both.name })).toEqual([]);
    });

    it("the on-call receiver gets each critical once, the team channel each warning once, with model, threshold and runbook", async () => {
        const oncallErr = await waitFor("the error-rate page", 30_000, async () => {
            const n = notified(received.oncall, "firing", "TritonErrorRateHigh", { model: MODELS.errors5.name });
            return n.length > 0 ? n : undefined;
        });
        const warnP99 = await waitFor("the latency notice", 30_000, async () => {
            const n = notified(received.team, "firing", "TritonInferenceLatencyP99High", { model: MODELS.slow.name });
            return n.length > 0 ? n : undefined;
        });
        await waitFor("the disk notice", 30_000, async () => (notified(received.team, "firing", "NodeDiskUsageHigh", { mountpoint: disk.mountpoint }).length > 0 ? true : undefined));
        await sleep(5000); // more group intervals pass: nothing is sent twice while the alerts keep firing
        expect(notified(received.oncall, "firing", "TritonErrorRateHigh", { model: MODELS.errors5.name })).toHaveLength(1);
        expect(notified(received.team, "firing", "TritonInferenceLatencyP99High", { model: MODELS.slow.name })).toHaveLength(1);
        expect(notified(received.team, "firing", "NodeDiskUsageHigh", { mountpoint: disk.mountpoint })).toHaveLength(1);
        const page = oncallErr[0].alerts.find((a) => a.labels.alertname === "TritonErrorRateHigh")!;
        expect(oncallErr[0].receiver).toBe("oncall");
        expect(page.labels).toMatchObject({ model: MODELS.errors5.name, severity: "critical", namespace: NAMESPACE, slot: SLOT });
        expect(page.annotations[R14_THRESHOLD_ANNOTATION]).toBe("2");
        expect(page.annotations.summary).toBe("Inference error rate above 2% (R14)");
        expect(page.annotations.runbook).toMatch(/nv_inference_request_failure/);
        expect(warnP99[0].alerts[0].annotations[R14_THRESHOLD_ANNOTATION]).toBe("800");
        expect(warnP99[0].alerts[0].annotations.runbook).toMatch(/queue/);
        // Severity routing: warnings never page, criticals never go to the warning channel.
        expect(received.oncall.flatMap((n) => n.alerts).filter((a) => a.labels.severity !== "critical")).toEqual([]);
        expect(received.team.flatMap((n) => n.alerts).filter((a) => a.labels.severity !== "warning")).toEqual([]);
        // Nothing silent was sent: the 0.5% model and the 100 ms model were never notified.
        expect(notified(received.oncall, "firing", "TritonErrorRateHigh", { model: MODELS.errorsHalf.name })).toEqual([]);
        expect(notified(received.team, "firing", "TritonInferenceLatencyP99High", { model: MODELS.fast.name })).toEqual([]);
        expect(received.refused).toBe(0);
    });

    it("the resolved notice arrives when the disk is freed again", async () => {
        await fillDisk(70);
        const resolved = await waitFor("the disk alert's resolved notice", 60_000, async () => {
            const n = notified(received.team, "resolved", "NodeDiskUsageHigh", { mountpoint: disk.mountpoint });
            return n.length > 0 ? n : undefined;
        });
        expect(resolved[0].status).toBe("resolved");
        expect(matching(await prometheusAlerts(), "NodeDiskUsageHigh", { mountpoint: disk.mountpoint })).toEqual([]);
    });

    it("changing errorRatePercent in the definition moves the live alert: at 0.25% the 0.5% model fires", async () => {
        const stricter = await generate({ errorRatePercent: 0.25 }, ports.receiver);
        await loadRules(stricter.rules);
        const alert = await firing("TritonErrorRateHigh", { model: MODELS.errorsHalf.name });
        expect(alert.annotations[R14_THRESHOLD_ANNOTATION]).toBe("0.25");
        expect(alert.annotations.summary).toBe("Inference error rate above 0.25% (R14)");
        expect(Number(alert.value)).toBeGreaterThan(0.25);
        expect(Number(alert.value)).toBeLessThan(2);
        await waitFor("the page for the 0.5% model", 30_000, async () =>
            notified(received.oncall, "firing", "TritonErrorRateHigh", { model: MODELS.errorsHalf.name }).length > 0 ? true : undefined,
        );
    });

    it("TritonMetricsScrapeDown pages when Triton stops, and resolves when it is back", async () => {
        await stopLoops();
        await stop(triton!);
        const alert = await firing("TritonMetricsScrapeDown", { namespace: NAMESPACE }, 60_000);
        expect(alert.labels).toMatchObject({ severity: "critical", pod: "triton-e2e-0", job: JOBS.triton });
        await waitFor("the scrape-down page", 30_000, async () => (notified(received.oncall, "firing", "TritonMetricsScrapeDown").length > 0 ? true : undefined));
        await startTriton();
        await waitFor("the scrape-down resolved notice", 60_000, async () =>
            notified(received.oncall, "resolved", "TritonMetricsScrapeDown").length > 0 ? true : undefined,
        );
        expect(notified(received.oncall, "firing", "TritonMetricsScrapeDown")).toHaveLength(1);
    });

    it("no process logged a webhook URL", () => {
        for (const name of ["alertmanager", "prometheus", "triton", "node-exporter"]) {
            for (const token of Object.values(TOKENS)) {
                expect(logOf(name), name).not.toContain(token);
            }
        }
    });
});
