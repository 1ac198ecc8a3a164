// The generated configurations that the unit suite builds as data, read here by the real tools that will
// consume them: the OpenTelemetry Collector (`otelcol validate`), nft in a throw-away network namespace,
// promtool and shellcheck. This tier needs those tools (scripts/test.sh installs them before it runs).
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterProvider } from "../../components/cluster/provider";
import { kubernetesShipperConfig, renderConfig, retentionScript, serverShipperConfig } from "../../components/logsink";
import { NFT_CHECK_TABLE, NFT_TABLE, renderNftables, renderSshCheckTable } from "../../components/network/server";
import { buildSecurityPolicy } from "../../components/network/rules";
import { securityGroupSchema } from "../../components/network/schema";
import { Monitoring } from "../../components/observability";
import { StackDefinition } from "../../stack/definition";
import { definitionFrom } from "../support/definitions";
import { one, PROJECT, RunResult, runMocked } from "../support/harness";
import { requireNetns } from "../support/netns";
import { runPromtool } from "../support/promtool";

type Yaml = Record<string, any>;
const definition = (raw: Record<string, unknown> = {}): StackDefinition => definitionFrom(raw);
const INSTANCE = `${PROJECT}-test`;
const identity = { stack: "test", instance: INSTANCE };

const tmp: string[] = [];
afterAll(() => tmp.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "generated-configs-"));
    tmp.push(d);
    return d;
}

/** The collector built by scripts/install-logsink-tools.sh (same version as the pinned image). */
function collectorBinary(): string {
    const cache = process.env.TOOLCHAIN_CACHE ?? path.join(os.homedir(), ".cache", "triton-platform");
    const version = (/:(\d+\.\d+\.\d+)$/.exec(definition().logSink.image) ?? [])[1];
    const bin = process.env.OTELCOL_LOGSINK ?? path.join(cache, "logsink", "bin", `otelcol-logsink-${version}`);
    if (!fs.existsSync(bin)) {
        throw new Error(`the log shipper build is missing (${bin}): run scripts/install-logsink-tools.sh otelcol`);
    }
    return bin;
}

/** `otelcol validate`: the collector parses the file, checks every component's config and builds the pipelines. */
function validate(config: Yaml, env: Record<string, string> = {}): { code: number; output: string } {
    const file = path.join(tempDir(), "config.yaml");
    fs.writeFileSync(file, renderConfig(config));
    const r = spawnSync(collectorBinary(), ["validate", `--config=${file}`], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env }, timeout: 60_000 });
    return { code: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

describe("the log shipper's configuration, read by the collector itself (otelcol validate)", () => {
    const podEnv = { K8S_NODE_NAME: "node-a", POD_IP: "10.0.0.7" };
    const def = definition({
        objectStorage: { endpoint: "http://minio.storage:9000", region: "eu-west-1", forcePathStyle: true },
        logSink: { bucket: "chat-logs", prefix: "prod/triton", bufferSize: "512Mi", flushIntervalSeconds: 30 },
    });
    const k8s: Yaml = kubernetesShipperConfig({ sink: def.logSink, store: def.objectStorage, identity, namespace: def.namespace });

    it("accepts the Kubernetes DaemonSet's configuration", () => {
        const r = validate(k8s, podEnv);
        expect(r.output).toBe("");
        expect(r.code).toBe(0);
    });

    it("rejects a broken one (the validation can fail)", () => {
        const broken = structuredClone(k8s);
        broken.exporters.awss3.s3uploader.storage_class = "CHEAP";
        const r = validate(broken, podEnv);
        expect(r.code).not.toBe(0);
        expect(r.output).toContain("invalid StorageClass");
    });

    it("accepts the lightweight server's configuration", () => {
        const server = definition({ logSink: { caBundle: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" } });
        const r = validate(serverShipperConfig({ sink: server.logSink, store: server.objectStorage, identity, zone: "zone-a", hostName: "models.example.com" }));
        expect(r.output).toBe("");
        expect(r.code).toBe(0);
    });
});

describe("the retention script", () => {
    it("passes shellcheck", () => {
        const file = path.join(tempDir(), "retention.sh");
        fs.writeFileSync(file, retentionScript());
        const r = spawnSync("shellcheck", ["-s", "sh", file], { encoding: "utf8" });
        expect(r.error, "shellcheck is needed (scripts/apt-packages.txt)").toBeUndefined();
        expect(`${r.stdout}${r.stderr}`).toBe("");
        expect(r.status).toBe(0);
    });
});

describe("the host firewall's nftables ruleset", () => {
    // As the unit suite builds them: the server path with the operators' SSH range.
    const policyOf = (settings: unknown) =>
        buildSecurityPolicy({
            settings: securityGroupSchema.parse({ sshCidrs: ["198.51.100.0/24"], ...(settings as object) }),
            servicePort: 18789,
            tritonPorts: { http: 8000, grpc: 8001, metrics: 8002 },
            objectStorageEndpoint: "https://s3.us-east-1.amazonaws.com",
            server: { sshPort: 22 },
        });

    it("is accepted by the kernel (nft -c in a throw-away network namespace), and loads", () => {
        requireNetns();
        const dir = tempDir();
        for (const [name, text] of [
            ["ruleset.nft", renderNftables(policyOf({ sshCidrs: ["198.51.100.0/24", "2001:db8::/32"], extraRules: [{ direction: "egress", port: 5432, toPort: 5433, cidrs: ["10.1.0.0/16"], description: 'db "quoted"' }] }))],
            ["open.nft", renderNftables(policyOf({ serverEgress: "open" }))],
            ["check.nft", renderSshCheckTable(policyOf({}))],
        ]) {
            fs.writeFileSync(path.join(dir, name), text);
            const res = spawnSync("unshare", ["-rn", "nft", "-c", "-f", path.join(dir, name)], { encoding: "utf8" });
            expect(res.stderr, name).toBe("");
            expect(res.status, name).toBe(0);
        }
        const listed = execFileSync("unshare", ["-rn", "sh", "-c", `nft -f ${dir}/ruleset.nft && nft list table inet ${NFT_TABLE}`], { encoding: "utf8" });
        expect(listed).toMatch(/hook forward priority filter - 1/);
        expect(listed).toMatch(/hook input priority filter; policy drop/);
        expect(NFT_CHECK_TABLE).not.toBe(NFT_TABLE);
    });
});

describe("the plain-Prometheus rule file (no Prometheus Operator)", () => {
    const def = definition({ monitoring: { prometheusOperator: false, nodeExporter: { enabled: false }, grafana: { dashboard: false } } });
    let result: RunResult;
    beforeAll(async () => {
        result = await runMocked(async () => {
            const provider = clusterProvider("cluster", { mode: "render", directory: "out/test" }, "test");
            const shipper = { namespaceName: "triton-logging", podSelector: { "app.kubernetes.io/name": "log-shipper" }, metricsPortName: "metrics" };
            new Monitoring("monitoring", { definition: def, provider, namespace: def.namespace, logShipper: { ...shipper, namespace: shipper.namespaceName } });
        });
    });

    it("is accepted by promtool", () => {
        // The scrape configs are not checked by promtool here: Debian's build leaves out Kubernetes
        // service discovery (it rejects kubernetes_sd_configs); the unit suite asserts their relabelling.
        const cm = one(result, "kubernetes:core/v1:ConfigMap").inputs;
        const dir = tempDir();
        fs.writeFileSync(path.join(dir, "rules.yaml"), cm.data["triton-platform.rules.yaml"]);
        const r = runPromtool(["check", "rules", "rules.yaml"], dir);
        expect(r.code, r.output).toBe(0);
        expect(r.output).toContain("SUCCESS: 12 rules found");
    });
});
