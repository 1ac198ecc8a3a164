// LogSink (R13): the generated shipper configuration (validated by the real collector build), the
// Kubernetes objects under Pulumi mocks, the lightweight-server shipper, and the retention script.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
    ATTRIBUTES,
    bufferBytes,
    bufferVolumeSizeLimit,
    dnsAndObjectStoreEgress,
    kubernetesShipperConfig,
    lifecycleRule,
    LogSink,
    loggingNamespaceName,
    logSinkNetworkPolicies,
    renderConfig,
    retentionEnv,
    retentionScript,
    serverLogShipper,
    serverShipperConfig,
    SHIPPER,
} from "../../components/logsink";
import { buildSecurityPolicy, renderNetworkPolicies, securityPolicyInput } from "../../components/network";
import { parseDefinition, StackDefinition } from "../../stack/definition";
import { definitionFrom } from "../support/definitions";
import { deployPlatform } from "../../stack/program";
import { ofType, one, PROJECT, Registered, RunResult, runMocked } from "../support/harness";
import { clusterProvider } from "../../components/cluster/provider";

const definition = (raw: Record<string, unknown> = {}): StackDefinition => definitionFrom(raw);

const INSTANCE = `${PROJECT}-test`;
const identity = { stack: "test", instance: INSTANCE };
type Yaml = Record<string, any>;
const k8sConfig = (def: StackDefinition): Yaml =>
    kubernetesShipperConfig({ sink: def.logSink, store: def.objectStorage, identity, namespace: def.namespace });

const tmp: string[] = [];
afterAll(() => tmp.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "logsink-"));
    tmp.push(d);
    return d;
}

describe("shipper configuration for Kubernetes", () => {
    const def = definition({
        objectStorage: { endpoint: "http://minio.storage:9000", region: "eu-west-1", forcePathStyle: true },
        logSink: { bucket: "chat-logs", prefix: "prod/triton", bufferSize: "512Mi", flushIntervalSeconds: 30 },
    });
    const config = k8sConfig(def);

    it("reads only the model-service namespace's pod logs, resuming from stored offsets", () => {
        expect(config.receivers.filelog.include).toEqual(["/var/log/pods/triton_*/*/*.log"]);
        expect(config.receivers.filelog.storage).toBe("file_storage");
        expect(config.receivers.filelog.operators[0]).toMatchObject({ type: "container", add_metadata_from_filepath: true });
    });

    it("parses Triton's ISO8601 lines and JSON lines", () => {
        const ops = config.receivers.filelog.operators as Yaml[];
        const triton = ops.find((o) => o.id === "triton")!;
        const regex = new RegExp(String(triton.regex).replace(/\(\?P</g, "(?<"));
        const m = regex.exec("2024-05-01T12:00:00Z E 1 model_repository_manager.cc:1234] failed to load 'dialogue'");
        expect(m?.groups).toMatchObject({ triton_time: "2024-05-01T12:00:00Z", triton_level: "E", triton_pid: "1", triton_source: "model_repository_manager.cc:1234" });
        expect(regex.exec("I0501 12:00:00.000000 1 server.cc:1] default format")).toBeNull();
        expect(triton.severity.mapping).toMatchObject({ error: "E", warn: "W", info: "I" });
        expect(ops.find((o) => o.id === "json")).toMatchObject({ type: "json_parser" });
    });

    it("adds stack, slot, zone and pod metadata", () => {
        const k8s = config.processors.k8sattributes;
        expect(k8s.extract.labels).toEqual([
            { tag_name: ATTRIBUTES.slot, key: "triton-platform/slot", from: "pod" },
            { tag_name: ATTRIBUTES.zone, key: "topology.kubernetes.io/zone", from: "node" },
        ]);
        expect(k8s.extract.metadata).toEqual(expect.arrayContaining(["k8s.pod.name", "k8s.deployment.name", "k8s.node.name", "container.image.tag"]));
        expect(k8s.filter).toEqual({ node_from_env_var: "K8S_NODE_NAME", namespace: "triton" });
        expect(config.processors.resource.attributes).toEqual([
            { key: ATTRIBUTES.stack, value: "test", action: "upsert" },
            { key: ATTRIBUTES.instance, value: INSTANCE, action: "upsert" },
        ]);
        expect(config.service.pipelines["logs/collect"].processors).toEqual(["memory_limiter", "k8sattributes", "resource"]);
    });

    it("writes gzip objects under bucket/prefix/date=YYYY-MM-DD/ on the definition's endpoint", () => {
        expect(config.exporters.awss3).toMatchObject({
            s3uploader: {
                region: "eu-west-1",
                s3_bucket: "chat-logs",
                s3_prefix: "prod/triton",
                s3_partition_format: "date=%Y-%m-%d",
                endpoint: "http://minio.storage:9000",
                s3_force_path_style: true,
                disable_ssl: true,
                compression: "gzip",
            },
            marshaler: "otlp_json",
            // Synchronous: a failed upload goes back to the disk queue instead of being dropped.
            sending_queue: { enabled: false },
        });
        const tls = k8sConfig(definition({ objectStorage: { endpoint: "https://s3.eu-west-1.amazonaws.com" } }));
        expect(tls.exporters.awss3.s3uploader).toMatchObject({ disable_ssl: false, s3_force_path_style: false });
    });

    it("buffers on disk up to bufferSize, retries forever and blocks instead of dropping", () => {
        const loop = config.exporters["otlp/loopback"];
        expect(bufferBytes(def.logSink)).toBe(512 * 2 ** 20);
        expect(loop.sending_queue).toMatchObject({
            enabled: true,
            storage: "file_storage",
            sizer: "bytes",
            queue_size: 512 * 2 ** 20,
            block_on_overflow: true,
            batch: { flush_timeout: "30s" },
        });
        expect(loop.retry_on_failure).toMatchObject({ enabled: true, max_elapsed_time: "0s" });
        // The loopback never leaves the pod.
        expect(loop.endpoint).toBe(`127.0.0.1:${SHIPPER.loopbackPort}`);
        expect(config.receivers.otlp.protocols.grpc.endpoint).toBe(`127.0.0.1:${SHIPPER.loopbackPort}`);
        expect(config.service.pipelines["logs/upload"]).toEqual({ receivers: ["otlp"], processors: [], exporters: ["awss3"] });
    });

    it("exposes health and metrics for the probes and Prometheus, with the metric names the alerts use", () => {
        expect(config.extensions.health_check.endpoint).toBe(`\${env:POD_IP}:${SHIPPER.healthPort}`);
        expect(config.service.telemetry.metrics.readers[0].pull.exporter.prometheus).toMatchObject({
            port: SHIPPER.metricsPort,
            without_units: true,
        });
    });

    it("holds no credentials", () => {
        expect(renderConfig(config)).not.toMatch(/AWS_|secret|access_key/i);
    });
});

describe("shipper configuration for the lightweight server", () => {
    const def = definition({ logSink: { caBundle: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" } });

    it("ships only containers labelled for it, with stack, zone and host name", () => {
        const config: Yaml = serverShipperConfig({ sink: def.logSink, store: def.objectStorage, identity, zone: "zone-a", hostName: "models.example.com" });
        const ops = config.receivers.filelog.operators as Yaml[];
        expect(config.receivers.filelog.include).toEqual(["/var/lib/docker/containers/*/*-json.log"]);
        expect(ops.find((o) => o.type === "filter")?.expr).toBe('attributes.attrs == nil or attributes.attrs["triton-platform.component"] == nil');
        expect(config.processors.resource.attributes).toEqual(
            expect.arrayContaining([
                { key: ATTRIBUTES.zone, value: "zone-a", action: "upsert" },
                { key: "host.name", value: "models.example.com", action: "upsert" },
            ]),
        );
    });

    it("gives the server component a hardened container and files without secrets", () => {
        const shipper = serverLogShipper({ definition: def, zone: "zone-a", staticKeys: true });
        expect(shipper.container.image).toBe(def.logSink.image);
        expect(shipper.container.image).not.toMatch(/:latest$/);
        expect(shipper.container).toMatchObject({ readOnlyRootFilesystem: true, capDrop: ["ALL"], securityOpt: ["no-new-privileges:true"] });
        expect(shipper.container.mounts).toContainEqual({ hostPath: "/var/lib/docker/containers", containerPath: "/var/lib/docker/containers", readOnly: true });
        expect(shipper.container.healthCheck.bindAddress).toBe("127.0.0.1");
        expect(shipper.container.env).toMatchObject({ AWS_CA_BUNDLE: `${SHIPPER.configDir}/${SHIPPER.caFile}`, TZ: "UTC" });
        expect(Object.keys(shipper.container.env)).not.toContain("AWS_SECRET_ACCESS_KEY");
        expect(shipper.credentialsEnvNames).toEqual(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
        expect(serverLogShipper({ definition: def, staticKeys: false }).credentialsEnvNames).toEqual([]);
        expect(shipper.sourceContainerOptions("model-server")).toEqual(
            expect.arrayContaining(["--label=triton-platform.component=model-server", "--log-opt=labels=triton-platform.component"]),
        );
        expect(shipper.config).toBe(renderConfig(serverShipperConfig({ sink: def.logSink, store: def.objectStorage, identity, zone: "zone-a" })));
    });
});

describe("LogSink on Kubernetes (Pulumi mocks)", () => {
    const KEY_ID = "AKIAEXAMPLEKEYID0001";
    const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let withKeys: RunResult;
    let withIdentity: RunResult;
    const program = (def: StackDefinition, keys: boolean) => async () => {
        const provider = clusterProvider("cluster", { mode: "render", directory: "out/test" }, "test");
        const sink = new LogSink("logsink", {
            definition: def,
            accessKeyId: keys ? KEY_ID : undefined,
            secretAccessKey: keys ? SECRET : undefined,
            provider,
            sourceNamespace: def.namespace,
        });
        return { destination: sink.destination };
    };
    beforeAll(async () => {
        withKeys = await runMocked(program(definition(), true));
        withIdentity = await runMocked(
            program(definition({ objectStorage: { serviceAccountAnnotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/logs" } }, logSink: { retentionMode: "manual" } }), false),
        );
    });
    const daemonSet = (r: RunResult) => one(r, "kubernetes:apps/v1:DaemonSet").inputs;
    const shipperPod = (r: RunResult) => daemonSet(r).spec.template.spec;

    it("runs in its own privileged-level namespace, because it mounts /var/log/pods read-only", () => {
        const ns = one(withKeys, "kubernetes:core/v1:Namespace").inputs.metadata;
        expect(ns.name).toBe(loggingNamespaceName("triton"));
        expect(ns.labels["pod-security.kubernetes.io/enforce"]).toBe("privileged");
        expect(daemonSet(withKeys).metadata.namespace).toBe("triton-logging");
        const pod = shipperPod(withKeys);
        expect(pod.volumes).toContainEqual({ name: "varlogpods", hostPath: { path: "/var/log/pods", type: "Directory" } });
        expect(pod.containers[0].volumeMounts).toContainEqual({ name: "varlogpods", mountPath: "/var/log/pods", readOnly: true });
    });

    it("keeps its disk buffer in a sized emptyDir, reserved on the node, and writes nothing on the node itself", () => {
        const pod = shipperPod(withKeys);
        // Default bufferSize 2Gi: twice that plus 64Mi, so a full queue and its compaction copy fit.
        expect(pod.volumes).toContainEqual({ name: "buffer", emptyDir: { sizeLimit: "4160Mi" } });
        expect(pod.containers[0].volumeMounts).toContainEqual({ name: "buffer", mountPath: SHIPPER.storageDir });
        expect(pod.containers[0].resources.requests["ephemeral-storage"]).toBe("4160Mi");
        const hostVolumes = new Set(pod.volumes.filter((v: Yaml) => v.hostPath).map((v: Yaml) => v.name));
        expect([...hostVolumes]).toEqual(["varlogpods"]);
        for (const m of pod.containers[0].volumeMounts.filter((x: Yaml) => hostVolumes.has(x.name))) {
            expect(m.readOnly, m.name).toBe(true);
        }
    });

    it("has a startup probe covering the buffer's compaction at start, so liveness does not kill it", () => {
        const c = shipperPod(withKeys).containers[0];
        expect(c.startupProbe).toEqual({ httpGet: { path: "/", port: "health" }, periodSeconds: 5, failureThreshold: 60 });
        expect(c.ports.map((p: Yaml) => p.containerPort)).toEqual([SHIPPER.metricsPort, SHIPPER.healthPort]);
    });

    it("is hardened: no capabilities, read-only root, no escalation, RuntimeDefault seccomp, every node", () => {
        const pod = shipperPod(withKeys);
        expect(pod.containers[0].securityContext).toEqual({
            allowPrivilegeEscalation: false,
            privileged: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
        });
        expect(pod.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" });
        expect(pod.hostNetwork).toBeUndefined();
        expect(pod.hostPID).toBeUndefined();
        expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
        expect(pod.containers[0].livenessProbe.httpGet.port).toBe("health");
        expect(pod.containers[0].image).toBe(definition().logSink.image);
    });

    it("takes static keys from a Secret, never as plain values outside it", () => {
        const env = shipperPod(withKeys).containers[0].env as Yaml[];
        const secret = one(withKeys, "kubernetes:core/v1:Secret");
        expect(env.find((e) => e.name === "AWS_SECRET_ACCESS_KEY")).toEqual({
            name: "AWS_SECRET_ACCESS_KEY",
            valueFrom: { secretKeyRef: { name: secret.inputs.metadata.name ?? expect.any(String), key: "AWS_SECRET_ACCESS_KEY" } },
        });
        const leaks = withKeys.resources
            .filter((r: Registered) => r !== secret)
            .filter((r) => JSON.stringify(r.inputs).includes(SECRET) || JSON.stringify(r.inputs).includes(KEY_ID));
        expect(leaks.map((r) => r.name)).toEqual([]);
        expect(JSON.stringify(secret.inputs)).toContain(SECRET);
    });

    it("uses workload identity through the service account when no keys are given", () => {
        expect(ofType(withIdentity, "kubernetes:core/v1:Secret")).toEqual([]);
        const sa = one(withIdentity, "kubernetes:core/v1:ServiceAccount", "logsink-shipper").inputs;
        expect(sa.metadata.annotations).toEqual({ "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/logs" });
        const env = (shipperPod(withIdentity).containers[0].env as Yaml[]).map((e) => e.name);
        expect(env).not.toContain("AWS_ACCESS_KEY_ID");
    });

    it("may read only pods and ReplicaSets of the model namespace, and nodes", () => {
        const role = one(withKeys, "kubernetes:rbac.authorization.k8s.io/v1:Role").inputs;
        expect(role.metadata.namespace).toBe("triton");
        expect(role.rules).toEqual([
            { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
            { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["get", "list", "watch"] },
        ]);
        expect(one(withKeys, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole").inputs.rules).toEqual([
            { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
        ]);
    });

    it("ships the generated configuration in a ConfigMap", () => {
        const cm = one(withKeys, "kubernetes:core/v1:ConfigMap", "logsink-config").inputs;
        expect(JSON.parse(cm.data[SHIPPER.configFile])).toEqual(JSON.parse(renderConfig(k8sConfig(definition()))));
    });

    it("applies retention with a Job in lifecycle mode only", () => {
        const job = one(withKeys, "kubernetes:batch/v1:Job").inputs;
        const env = Object.fromEntries((job.spec.template.spec.containers[0].env as Yaml[]).filter((e) => e.value).map((e) => [e.name, e.value]));
        expect(JSON.parse(env.RULE_JSON)).toEqual(lifecycleRule(definition().logSink, INSTANCE));
        expect(JSON.parse(env.RULE_JSON).Expiration).toEqual({ Days: 30 });
        expect(job.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
        expect(ofType(withIdentity, "kubernetes:batch/v1:Job")).toEqual([]);
    });

    it("gives every child the explicit provider and the component as parent", () => {
        const children = withKeys.resources.filter((r) => r.custom && r.type.startsWith("kubernetes:") && r.type !== "pulumi:providers:kubernetes");
        expect(children.length).toBeGreaterThan(8);
        for (const r of children) {
            expect(r.parent, r.name).toBe("triton-platform:logsink:LogSink::logsink");
            expect(r.provider, r.name).toMatch(/pulumi:providers:kubernetes::cluster/);
            expect(r.name.startsWith("logsink-"), r.name).toBe(true);
        }
    });
});

describe("buffer volume size", () => {
    it("is twice the queue bound plus 64Mi, in Mi, and follows bufferSize", () => {
        expect(bufferVolumeSizeLimit(definition().logSink)).toBe(`${2 * 2048 + 64}Mi`);
        expect(bufferVolumeSizeLimit(definition({ logSink: { bufferSize: "512Mi" } }).logSink)).toBe("1088Mi");
        // 1G (decimal) = 953.67Mi: rounded up, never below the bound.
        expect(bufferVolumeSizeLimit(definition({ logSink: { bufferSize: "1G" } }).logSink)).toBe(`${Math.ceil((2e9 + 64 * 2 ** 20) / 2 ** 20)}Mi`);
    });
});

describe("NetworkPolicies of the logging namespace", () => {
    const shipperSelector = { "app.kubernetes.io/component": "log-shipper" };
    const retentionSelector = { "app.kubernetes.io/component": "log-retention" };
    const policiesFor = (def: StackDefinition, retention = true) =>
        Object.fromEntries(
            logSinkNetworkPolicies({
                policy: buildSecurityPolicy(securityPolicyInput(def)),
                shipperSelector,
                retentionSelector: retention ? retentionSelector : undefined,
                apiServerCidrs: def.logSink.apiServerCidrs,
            }).map((d) => [d.role, d.spec]),
        );
    /** The model namespace's egress (components/network), to compare the store and DNS rules with. */
    const modelEgress = (def: StackDefinition) => renderNetworkPolicies(buildSecurityPolicy(securityPolicyInput(def))).find((d) => d.role === "egress")!.spec.egress!;

    it("deny everything by default, both ways", () => {
        expect(policiesFor(definition())["default-deny"]).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    });

    it("let only the monitoring namespace reach the shipper, on its metrics and health ports", () => {
        const spec = policiesFor(definition({ securityGroup: { monitoringNamespace: "observability" } })).shipper;
        expect(spec.podSelector).toEqual({ matchLabels: shipperSelector });
        expect(spec.ingress).toEqual([
            {
                ports: [
                    { protocol: "TCP", port: 8888 },
                    { protocol: "TCP", port: 13133 },
                ],
                from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "observability" } } }],
            },
        ]);
    });

    it("let the shipper reach DNS, the object store as the model namespace does, and the Kubernetes API", () => {
        // An in-cluster store: its namespace (from the endpoint), on its port.
        const def = definition({ objectStorage: { endpoint: "http://minio.storage.svc.cluster.local:9000" } });
        const egress = policiesFor(def).shipper.egress!;
        expect(egress).toContainEqual({ ports: [{ protocol: "TCP", port: 9000 }], to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "storage" } } }] });
        expect(egress).toContainEqual({
            ports: [{ protocol: "UDP", port: 53 }],
            to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
        });
        expect(egress).toContainEqual({
            ports: [
                { protocol: "TCP", port: 443 },
                { protocol: "TCP", port: 6443 },
            ],
            to: [{ ipBlock: { cidr: "0.0.0.0/0" } }, { ipBlock: { cidr: "::/0" } }],
        });
        expect(egress).toHaveLength(4);
        // Exactly the model namespace's rules for DNS and the store (and none of its other egress).
        const ports = (r: { ports: { port: number }[] }) => r.ports.map((p) => p.port);
        expect(egress.filter((r) => !ports(r).includes(6443))).toEqual(modelEgress(def).filter((r) => ports(r).includes(53) || ports(r).includes(9000)));
    });

    it("take the store's CIDRs from securityGroup.objectStorageCidrs and the API's from logSink.apiServerCidrs, deny rules applied", () => {
        const def = definition({
            objectStorage: { endpoint: "https://s3.eu-west-1.amazonaws.com" },
            securityGroup: {
                objectStorageCidrs: ["52.218.0.0/17"],
                extraRules: [
                    { direction: "egress", action: "deny", port: 443, cidrs: ["52.218.1.0/24"], priority: 50, description: "no" },
                    { direction: "egress", port: 5432, cidrs: ["10.1.0.0/16"], description: "database of the model service" },
                ],
            },
            logSink: { apiServerCidrs: ["10.0.0.10/32"] },
        });
        const egress = policiesFor(def).shipper.egress!;
        expect(egress).toContainEqual({ ports: [{ protocol: "TCP", port: 443 }], to: [{ ipBlock: { cidr: "52.218.0.0/17", except: ["52.218.1.0/24"] } }] });
        expect(egress).toContainEqual({
            ports: [
                { protocol: "TCP", port: 443 },
                { protocol: "TCP", port: 6443 },
            ],
            to: [{ ipBlock: { cidr: "10.0.0.10/32" } }],
        });
        // The model service's own extra egress is not the sink's.
        expect(JSON.stringify(egress)).not.toContain("5432");
        expect(dnsAndObjectStoreEgress(buildSecurityPolicy(securityPolicyInput(def)))).toEqual(policiesFor(def).retention.egress);
    });

    it("let the retention Job reach only DNS and the store, and accept nothing", () => {
        const def = definition();
        const spec = policiesFor(def).retention;
        expect(spec).toEqual({ podSelector: { matchLabels: retentionSelector }, policyTypes: ["Egress"], egress: dnsAndObjectStoreEgress(buildSecurityPolicy(securityPolicyInput(def))) });
        expect(spec.egress!.flatMap((r) => r.ports.map((p) => p.port)).sort()).toEqual([443, 53, 53]);
        expect(Object.keys(policiesFor(def, false))).toEqual(["default-deny", "shipper"]);
    });

    it("are declared in the logging namespace with recommended labels, selecting the shipper's and the Job's pods", async () => {
        const run = await runMocked(async () => {
            const def = definition();
            const provider = clusterProvider("cluster", { mode: "render", directory: "out/test" }, "test");
            new LogSink("logsink", { definition: def, provider, sourceNamespace: def.namespace });
        });
        const netpols = Object.fromEntries(ofType(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy").map((r) => [r.name, r.inputs]));
        expect(Object.keys(netpols).sort()).toEqual(["logsink-default-deny", "logsink-retention", "logsink-shipper"]);
        const ds = one(run, "kubernetes:apps/v1:DaemonSet").inputs;
        const job = one(run, "kubernetes:batch/v1:Job").inputs;
        expect(netpols["logsink-shipper"].spec.podSelector.matchLabels).toEqual(ds.spec.selector.matchLabels);
        for (const [k, v] of Object.entries(netpols["logsink-retention"].spec.podSelector.matchLabels)) {
            expect(job.spec.template.metadata.labels[k], k).toBe(v);
        }
        for (const [name, np] of Object.entries(netpols)) {
            expect(np.metadata.namespace, name).toBe("triton-logging");
            expect(np.metadata.labels, name).toMatchObject({
                "app.kubernetes.io/name": "log-shipper",
                "app.kubernetes.io/instance": INSTANCE,
                "app.kubernetes.io/component": "network-policy",
                "app.kubernetes.io/part-of": "triton-platform",
                "app.kubernetes.io/managed-by": "pulumi",
            });
        }
    });
});

describe("LogSink in the platform", () => {
    it("is composed from the definition and can be switched off", async () => {
        const program = (raw: Record<string, string>) => () =>
            deployPlatform(
                (() => {
                    const parsed = parseDefinition(
                        Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, JSON.parse(v)])),
                        { project: PROJECT, stack: "test" },
                    );
                    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
                    return parsed.definition;
                })(),
                {},
            );
        const on = await runMocked(program({}));
        expect(one(on, "triton-platform:logsink:LogSink").name).toBe("logsink");
        expect(on.outputs.logDestination).toBe("s3://conversation-logs/triton/");
        const off = await runMocked(program({ logSink: JSON.stringify({ enabled: false }) }));
        expect(ofType(off, "triton-platform:logsink:LogSink")).toEqual([]);
        expect(ofType(off, "kubernetes:apps/v1:DaemonSet").map((d) => d.name)).not.toContain("logsink-shipper");
    });
});

describe("retention script", () => {
    const def = definition({ logSink: { retentionDays: 45, prefix: "chat" } });
    const rule = lifecycleRule(def.logSink, INSTANCE);
    const env = retentionEnv({ bucket: "logs", endpoint: "https://s3.example.com", region: "eu-west-1", forcePathStyle: true, rule });

    /** Runs the script with a stand-in `aws` that serves `existing` (or an error) and records what is written. */
    function runWith(existing: { rules?: unknown[]; error?: string }) {
        const dir = tempDir();
        const written = path.join(dir, "written.json");
        fs.writeFileSync(path.join(dir, "retention.sh"), retentionScript());
        // The stand-in applies the JMESPath filters the script uses, with node.
        const stub = `#!/bin/sh
exec node -e '
const fs = require("fs");
const args = process.argv.slice(1);
const has = (a) => args.includes(a);
const q = args[args.indexOf("--query") + 1] || "";
const state = ${JSON.stringify(written)};
if (has("put-bucket-lifecycle-configuration")) {
  const file = args[args.indexOf("--lifecycle-configuration") + 1].replace("file://", "");
  fs.copyFileSync(file, state); process.exit(0);
}
if (!fs.existsSync(state)) {
  const err = ${JSON.stringify(existing.error ?? "")};
  if (err) { process.stderr.write(err); process.exit(254); }
}
const rules = fs.existsSync(state) ? JSON.parse(fs.readFileSync(state, "utf8")).Rules : ${JSON.stringify(existing.rules ?? [])};
const id = (/ID[!=]='"'"'([^'"'"']+)'"'"'/.exec(q) || [])[1];
if (q.includes("ID!=")) console.log(JSON.stringify(rules.filter((r) => r.ID !== id), null, 4));
else console.log(rules.filter((r) => r.ID === id).length);
' -- "$@"
`;
        fs.writeFileSync(path.join(dir, "aws"), stub, { mode: 0o755 });
        const r = spawnSync("/bin/sh", [path.join(dir, "retention.sh")], {
            encoding: "utf8",
            env: { ...env, PATH: `${dir}:${process.env.PATH}`, TMPDIR: dir },
        });
        return { code: r.status, output: `${r.stdout}${r.stderr}`, written: fs.existsSync(written) ? JSON.parse(fs.readFileSync(written, "utf8")) : undefined };
    }

    it("creates the rule on a bucket without a lifecycle configuration", () => {
        const r = runWith({ error: "An error occurred (NoSuchLifecycleConfiguration) when calling the GetBucketLifecycleConfiguration operation" });
        expect(r.code, r.output).toBe(0);
        expect(r.written).toEqual({ Rules: [rule] });
        expect(rule).toMatchObject({ Filter: { Prefix: "chat/" }, Expiration: { Days: 45 } });
    });

    it("keeps the bucket's other rules and replaces its own previous version", () => {
        const other = { ID: "archive", Filter: { Prefix: "archive/" }, Status: "Enabled", Expiration: { Days: 365 } };
        const stale = { ...rule, Expiration: { Days: 7 } };
        const r = runWith({ rules: [other, stale] });
        expect(r.code, r.output).toBe(0);
        expect(r.written).toEqual({ Rules: [other, rule] });
    });

    it("fails on any other error instead of overwriting the configuration", () => {
        const r = runWith({ error: "An error occurred (AccessDenied) when calling the GetBucketLifecycleConfiguration operation: Access Denied" });
        expect(r.code).not.toBe(0);
        expect(r.output).toContain("AccessDenied");
        expect(r.written).toBeUndefined();
    });
});

describe("log sink definition checks", () => {
    it("refuses plain-http object storage for prod conversation logs, accepts https", async () => {
        const { logSinkIssues } = await import("../../components/logsink/schema");
        const base = definition();
        expect(logSinkIssues({ ...base, environment: "prod", objectStorage: { ...base.objectStorage, endpoint: "http://minio:9000" } })).toEqual([
            [["objectStorage", "endpoint"], expect.stringContaining("use https")],
        ]);
        expect(logSinkIssues({ ...base, environment: "prod" })).toEqual([]);
        expect(logSinkIssues({ ...base, environment: "dev", objectStorage: { ...base.objectStorage, endpoint: "http://minio:9000" } })).toEqual([]);
    });

    it("rejects a bucket name S3 would refuse and a prefix with a leading slash", () => {
        const bad = parseDefinition({ logSink: { bucket: "Bad_Bucket", prefix: "/logs/", bufferSize: "1Mi" } }, { project: PROJECT, stack: "test" });
        expect(bad.ok).toBe(false);
        const keys = bad.ok ? [] : bad.issues.map((i) => i.key);
        expect(keys).toEqual(
            expect.arrayContaining([`${PROJECT}:logSink.bucket`, `${PROJECT}:logSink.prefix`, `${PROJECT}:logSink.bufferSize`]),
        );
    });
});
