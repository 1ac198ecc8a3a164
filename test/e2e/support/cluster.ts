// End-to-end support: a real Kubernetes control plane for the test suite (scripts/cluster.sh: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler v1.34.4 as local processes on 127.0.0.1,
// kwok's fake kubelets as nodes in three zones). Each test file gets its own cluster, in its own work
// folder, and stops it in afterAll, on a failed start and when the process exits.
import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { REPO_ROOT } from "./project";

const execFileAsync = promisify(execFile);
const SCRIPT = path.join(REPO_ROOT, "scripts/cluster.sh");

/** A running test cluster. */
export interface TestCluster {
    name: string;
    /** Path of the admin kubeconfig (client certificate; a file outside the repository). */
    kubeconfig: string;
    /** Zone of each node, by node name. */
    zones: string[];
    /** Runs kubectl against the cluster; throws with kubectl's stderr on failure. */
    kubectl(args: string[], input?: string): string;
    /** Runs kubectl and parses its JSON output. */
    getJson<T = KubeList>(args: string[]): T;
    /** Runs kubectl; returns its exit code and output instead of throwing. */
    tryKubectl(args: string[], input?: string): { code: number; stdout: string; stderr: string };
    /** Stops the cluster and deletes its files (idempotent). */
    stop(): void;
}

/** The parts of a Kubernetes list the tests read. */
export interface KubeList<T = KubeObject> {
    items: T[];
}
/** The parts of a Kubernetes object the tests read (loosely typed: tests check what they use). */
export interface KubeObject {
    apiVersion?: string;
    kind?: string;
    metadata: {
        name: string;
        namespace?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
        ownerReferences?: { kind: string; name: string }[];
        deletionTimestamp?: string;
        generation?: number;
    };
    spec?: any;
    status?: any;
}

/** The binaries scripts/cluster.sh built (KEY=VALUE lines of `cluster.sh paths`). */
function builtPaths(): Record<string, string> {
    const out = execFileSync("bash", [SCRIPT, "paths"], { encoding: "utf8" });
    return Object.fromEntries(
        out
            .split("\n")
            .filter((l) => l.includes("="))
            .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
}

const running = new Set<TestCluster>();
process.on("exit", () => {
    for (const c of running) {
        c.stop();
    }
});

/**
 * Builds (cached: seconds) and starts a cluster named `e2e-<pid>` in a temporary work folder. The zones
 * are those of the prod-shaped stack; `nodesPerZone` kwok nodes each.
 */
export async function startCluster(opts: { zones: string[]; nodesPerZone?: number; podReadyDelay?: string }): Promise<TestCluster> {
    const name = `e2e-${process.pid}`;
    const workdir = fs.mkdtempSync(path.join(os.tmpdir(), "triton-cluster-"));
    const env = {
        ...process.env,
        CLUSTER_ZONES: opts.zones.join(","),
        CLUSTER_NODES_PER_ZONE: String(opts.nodesPerZone ?? 1),
        CLUSTER_POD_READY_DELAY: opts.podReadyDelay ?? "5s",
    };
    const args = ["--name", name, "--workdir", workdir];
    const stop = () => {
        if (!running.has(cluster) && !fs.existsSync(workdir)) {
            return;
        }
        running.delete(cluster);
        try {
            execFileSync("bash", [SCRIPT, "down", ...args], { env, stdio: ["ignore", "ignore", "pipe"], timeout: 120_000 });
        } finally {
            fs.rmSync(workdir, { recursive: true, force: true });
        }
    };
    const kubeconfig = path.join(workdir, "clusters", name, "kubeconfig.yaml");
    let kubectlBin = "";
    const tryKubectl = (a: string[], input?: string) => {
        try {
            const stdout = execFileSync(kubectlBin, ["--kubeconfig", kubeconfig, ...a], {
                encoding: "utf8",
                input,
                stdio: ["pipe", "pipe", "pipe"],
                maxBuffer: 64 * 1024 * 1024,
            });
            return { code: 0, stdout, stderr: "" };
        } catch (e) {
            const err = e as { status?: number; stdout?: string; stderr?: string };
            return { code: err.status ?? 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
        }
    };
    const kubectl = (a: string[], input?: string) => {
        const r = tryKubectl(a, input);
        if (r.code !== 0) {
            throw new Error(`kubectl ${a.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
        }
        return r.stdout;
    };
    const cluster: TestCluster = {
        name,
        kubeconfig,
        zones: opts.zones,
        kubectl,
        tryKubectl,
        getJson: <T>(a: string[]) => JSON.parse(kubectl([...a, "-o", "json"])) as T,
        stop,
    };
    running.add(cluster);
    try {
        // `up` builds first when the binaries are missing (cold: minutes, with progress lines on stderr).
        await execFileAsync("bash", [SCRIPT, "up", ...args], { env, maxBuffer: 64 * 1024 * 1024, timeout: 45 * 60_000 });
        kubectlBin = path.join(builtPaths().KUBE_DIR, "kubectl");
    } catch (e) {
        stop();
        const err = e as { stderr?: string; message: string };
        throw new Error(`scripts/cluster.sh up failed: ${err.message}\n${err.stderr ?? ""}`);
    }
    return cluster;
}

/** Polls `check` until it returns a value (not undefined) or the deadline passes; then throws `what`. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 60_000, intervalMs = 500): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const v = check();
            if (v !== undefined) {
                return v;
            }
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${String(last)}` : ""}`);
        }
        await new Promise((r) => setTimeout(r, intervalMs));
    }
}
