// The case table: for every policy of the pack, resources that violate it and resources that comply.
// policies.test.ts runs every case through the runtime-faithful kit and checks that the table covers
// every policy with at least one violating and one compliant case.
import { PackConfig, Res } from "./kit";
import { NFTABLES, NS, SSHD, clusterStack, configMap, deployment, edit, editIn, hpa, keys, labels, prometheusRule, serverStack, without } from "./fixtures";

export interface Case {
    name: string;
    resources: Res[];
    config?: PackConfig;
    /** A violating case: some message matches this. */
    expect?: RegExp;
    /** A compliant case that complies by having nothing the policy applies to (no bare Pod at all). */
    vacuous?: boolean;
}

export interface PolicyCases {
    violating: Case[];
    compliant: Case[];
}

const DEP = "kubernetes:apps/v1:Deployment";
const SVC = "kubernetes:core/v1:Service";
const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
const PDB = "kubernetes:policy/v1:PodDisruptionBudget";
const NP = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const CMD = "command:remote:Command";

const stack = clusterStack;
const blue = (change: (p: any) => void) => editIn(stack(), DEP, "triton-blue", change);
const triton = (p: any) => p.spec.template.spec.containers[0];
const sync = (p: any) => p.spec.template.spec.initContainers[0];
const tplSpec = (p: any) => p.spec.template.spec;

/** A ConfigMap with only binaryData entries (base64 values), as a model or certificate bundle would be. */
function binaryConfigMap(binaryData: Record<string, string>): Res {
    const cm = configMap({});
    return { ...cm, props: { ...cm.props, data: undefined, binaryData } };
}

/** A log shipper DaemonSet reading node logs, as the log sink would declare it. */
function shipper(change: (p: any) => void = () => {}): Res {
    const selector = { "app.kubernetes.io/name": "triton", "app.kubernetes.io/component": "log-shipper" };
    return edit(
        {
            type: "kubernetes:apps/v1:DaemonSet",
            name: "logs-shipper",
            props: {
                apiVersion: "apps/v1",
                kind: "DaemonSet",
                metadata: { namespace: NS, labels: labels("log-shipper") },
                spec: {
                    selector: { matchLabels: selector },
                    template: {
                        metadata: { labels: labels("log-shipper") },
                        spec: {
                            automountServiceAccountToken: false,
                            securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: "RuntimeDefault" } },
                            containers: [
                                {
                                    name: "shipper",
                                    image: "docker.io/fluent/fluent-bit:3.1.9",
                                    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
                                    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                                    startupProbe: { httpGet: { path: "/api/v1/health", port: 2020 } },
                                    livenessProbe: { httpGet: { path: "/", port: 2020 } },
                                    readinessProbe: { httpGet: { path: "/api/v1/health", port: 2020 } },
                                    volumeMounts: [{ name: "varlog", mountPath: "/var/log", readOnly: true }],
                                },
                            ],
                            volumes: [{ name: "varlog", hostPath: { path: "/var/log/pods" } }],
                        },
                    },
                },
            },
        },
        change,
    );
}

/** The shipper as components/logsink runs it: root (node log files are root-owned 0640), confined. */
function rootShipper(change: (p: any) => void = () => {}): Res {
    return shipper((p) => {
        p.spec.template.spec.securityContext = { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, seccompProfile: { type: "RuntimeDefault" } };
        p.spec.template.spec.containers[0].securityContext.privileged = false;
        change(p);
    });
}
const shipperContainer = (p: any) => p.spec.template.spec.containers[0];

/** A node exporter DaemonSet as components/observability declares it: /proc, /sys and / read-only. */
function nodeExporter(change: (p: any) => void = () => {}): Res {
    const ds = shipper((p) => {
        p.metadata.labels = labels("node-exporter");
        p.spec.selector.matchLabels["app.kubernetes.io/component"] = "node-exporter";
        p.spec.template.metadata.labels = labels("node-exporter");
        const c = shipperContainer(p);
        c.name = "node-exporter";
        c.image = "docker.io/prom/node-exporter:v1.9.1";
        c.volumeMounts = [
            { name: "proc", mountPath: "/host/proc", readOnly: true },
            { name: "sys", mountPath: "/host/sys", readOnly: true },
            { name: "root", mountPath: "/host/root", readOnly: true, mountPropagation: "HostToContainer" },
        ];
        p.spec.template.spec.volumes = [
            { name: "proc", hostPath: { path: "/proc", type: "Directory" } },
            { name: "sys", hostPath: { path: "/sys", type: "Directory" } },
            { name: "root", hostPath: { path: "/", type: "Directory" } },
        ];
        change(p);
    });
    return { ...ds, name: "node-exporter" };
}

function ingress(change: (p: any) => void = () => {}): Res {
    return edit(
        {
            type: "kubernetes:networking.k8s.io/v1:Ingress",
            name: "entry",
            props: {
                apiVersion: "networking.k8s.io/v1",
                kind: "Ingress",
                metadata: { namespace: NS, labels: labels("entry-point") },
                spec: {
                    tls: [{ hosts: ["bot.example.com"], secretName: "bot-tls" }],
                    rules: [{ host: "bot.example.com", http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "triton", port: { number: 18789 } } } }] } }],
                },
            },
        },
        change,
    );
}

const firewall = (f: (t: string) => string) => serverStack({ firewall: f(NFTABLES) });
/** The server's firewall without its DOCKER-USER chain. */
const noDockerFilter = (t: string) => t.replace(/\tchain docker_user \{[\s\S]*?\n\t\}\n/, "");
/**
 * A server stack whose model container runs through @pulumi/docker (as components/server does) rather
 * than `docker run`: the remote command publishes nothing, the container resource's `ports` do.
 */
function containerStack(ports: unknown[], options: { firewall?: (t: string) => string; networkMode?: string } = {}): Res[] {
    return [
        ...serverStack({ firewall: (options.firewall ?? ((t) => t))(NFTABLES), run: "set -eu\ndocker image inspect nvcr.io/nvidia/tritonserver:23.12-py3 >/dev/null\n" }),
        {
            type: "docker:index/container:Container",
            name: "server-triton",
            parent: "triton-platform:server:LightweightServer::server",
            props: { name: "triton", image: "nvcr.io/nvidia/tritonserver:23.12-py3", ports, ...(options.networkMode ? { networkMode: options.networkMode } : {}) },
        },
    ];
}

export const cases: Record<string, PolicyCases> = {
    // --- workloads ---------------------------------------------------------------------------
    "image-tag-pinned": {
        violating: [
            { name: "latest tag", resources: blue((p) => (triton(p).image = "nvcr.io/nvidia/tritonserver:latest")), expect: /container "triton" uses an unpinned image/ },
            { name: "no tag", resources: blue((p) => (sync(p).image = "docker.io/amazon/aws-cli")), expect: /init container "model-sync"/ },
            { name: "stable tag", resources: blue((p) => (triton(p).image = "nvcr.io/nvidia/tritonserver:stable")), expect: /the mutable tag "stable"/ },
            { name: "Latest in another case", resources: blue((p) => (triton(p).image = "nvcr.io/nvidia/tritonserver:Latest")), expect: /the mutable tag "Latest"/ },
            { name: "a tag naming no version", resources: blue((p) => (sync(p).image = "docker.io/amazon/aws-cli:bookworm-slim")), expect: /the mutable tag "bookworm-slim"/ },
            { name: "a tag added to mutableTags", resources: stack(), config: { "image-tag-pinned": { mutableTags: ["latest", "23.12-py3"] } }, expect: /the mutable tag "23.12-py3"/ },
            { name: "a release tag when requireDigest is set (prod)", resources: stack(), config: { "image-tag-pinned": { requireDigest: true } }, expect: /without a sha256 digest, and requireDigest is set/ },
        ],
        compliant: [
            { name: "release tags", resources: stack() },
            { name: "digest", resources: blue((p) => (triton(p).image = `nvcr.io/nvidia/tritonserver@sha256:${"a".repeat(64)}`)) },
            { name: "a moving tag with a digest", resources: blue((p) => (triton(p).image = `nvcr.io/nvidia/tritonserver:stable@sha256:${"a".repeat(64)}`)) },
            {
                name: "digests everywhere when requireDigest is set",
                resources: blue((p) => {
                    triton(p).image = `nvcr.io/nvidia/tritonserver:23.12-py3@sha256:${"a".repeat(64)}`;
                    sync(p).image = `docker.io/amazon/aws-cli@sha256:${"b".repeat(64)}`;
                }).filter((r) => r.name === "triton-blue"),
                config: { "image-tag-pinned": { requireDigest: true } },
            },
        ],
    },
    "image-registry-allowed": {
        violating: [{ name: "ghcr.io", resources: blue((p) => (triton(p).image = "ghcr.io/acme/triton:1.0")), expect: /outside the allow-list/ }],
        compliant: [
            { name: "nvcr.io and docker.io", resources: stack() },
            { name: "an image this repository built, loaded into the node's store (localhost)", resources: blue((p) => (triton(p).image = `localhost/triton-platform/dialogue@sha256:${"a".repeat(64)}`)) },
            { name: "registry added by config", resources: blue((p) => (triton(p).image = "ghcr.io/acme/triton:1.0")), config: { "image-registry-allowed": { allowedRegistries: ["nvcr.io", "docker.io", "ghcr.io"] } } },
        ],
    },
    "container-resource-requests": {
        violating: [
            { name: "no cpu request", resources: blue((p) => delete triton(p).resources.requests.cpu), expect: /no cpu request/ },
            { name: "init container without requests", resources: blue((p) => delete sync(p).resources.requests), expect: /init container "model-sync" has no cpu and memory request/ },
        ],
        compliant: [{ name: "requests set", resources: stack() }],
    },
    "container-memory-limit": {
        violating: [{ name: "no memory limit", resources: blue((p) => delete triton(p).resources.limits.memory), expect: /no memory limit/ }],
        compliant: [{ name: "limits set", resources: stack() }],
    },
    "gpu-limit-when-requested": {
        violating: [
            { name: "request without limit", resources: blue((p) => delete triton(p).resources.limits["nvidia.com/gpu"]), expect: /without a limit/ },
            { name: "request differs from limit", resources: blue((p) => (triton(p).resources.requests["nvidia.com/gpu"] = "2")), expect: /different/ },
        ],
        compliant: [
            { name: "equal request and limit", resources: stack() },
            { name: "CPU only", resources: blue((p) => { delete triton(p).resources.requests["nvidia.com/gpu"]; delete triton(p).resources.limits["nvidia.com/gpu"]; }) },
        ],
    },
    "emptydir-size-limit": {
        violating: [{ name: "unsized /dev/shm", resources: blue((p) => delete tplSpec(p).volumes[1].emptyDir.sizeLimit), expect: /emptyDir volume "shm" has no sizeLimit/ }],
        compliant: [{ name: "sized", resources: stack() }],
    },
    "readiness-probe-present": {
        violating: [{ name: "no readiness probe", resources: blue((p) => delete triton(p).readinessProbe), expect: /no readinessProbe/ }],
        compliant: [{ name: "probes set (init containers exempt)", resources: stack() }],
    },
    "liveness-probe-present": {
        violating: [{ name: "no liveness probe", resources: [shipper((p) => delete p.spec.template.spec.containers[0].livenessProbe)], expect: /container "shipper" has no livenessProbe/ }],
        compliant: [{ name: "probes set", resources: [...stack(), shipper()] }],
    },
    "startup-probe-present": {
        violating: [{ name: "no startup probe", resources: blue((p) => delete triton(p).startupProbe), expect: /no startupProbe/ }],
        compliant: [{ name: "probes set", resources: stack() }],
    },
    "probes-not-identical": {
        violating: [{ name: "liveness equals readiness", resources: blue((p) => (triton(p).livenessProbe = { ...triton(p).readinessProbe })), expect: /identical liveness and readiness/ }],
        compliant: [{ name: "live vs ready", resources: stack() }],
    },
    "workload-min-replicas": {
        violating: [{ name: "no HPA, replicas unset", resources: without(stack(), (r) => r.type === HPA && r.name === "triton-green"), expect: /Deployment "triton-green": runs 1 replica/ }],
        compliant: [
            { name: "HPA-scaled", resources: stack() },
            {
                name: "idle slot scaled to zero",
                resources: editIn(without(stack(), (r) => r.type === HPA && r.name === "triton-green"), DEP, "triton-green", (p) => (p.spec.replicas = 0)),
            },
            { name: "fixed replicas", resources: editIn(without(stack(), (r) => r.type === HPA && r.name === "triton-green"), DEP, "triton-green", (p) => (p.spec.replicas = 3)) },
        ],
    },
    "hpa-target-replicas-unset": {
        violating: [
            { name: "replicas with an HPA", resources: blue((p) => (p.spec.replicas = 3)), expect: /sets spec.replicas although an HPA/ },
            {
                name: "declared replicas in a live object's __inputs",
                resources: blue((p) => {
                    p.__inputs = JSON.parse(JSON.stringify({ ...p, spec: { ...p.spec, replicas: 3 } }));
                    p.spec.replicas = 5;
                }),
                expect: /sets spec.replicas/,
            },
        ],
        compliant: [
            { name: "replicas unset", resources: stack() },
            {
                name: "live object: the API server's replicas, none declared",
                resources: blue((p) => {
                    p.__inputs = JSON.parse(JSON.stringify(p));
                    p.spec.replicas = 5;
                }),
            },
        ],
    },
    "hpa-target-exists": {
        violating: [{ name: "dangling target", resources: editIn(stack(), HPA, "triton-blue", (p) => (p.spec.scaleTargetRef.name = "triton-old")), expect: /HorizontalPodAutoscaler "triton-blue": scaleTargetRef matches no workload/ }],
        compliant: [{ name: "targets exist", resources: stack() }],
    },
    "hpa-min-replicas-zones": {
        violating: [{ name: "min 2 for 3 zones", resources: editIn(stack(), HPA, "triton-blue", (p) => (p.spec.minReplicas = 2)), expect: /minReplicas 2 is below the zone count 3/ }],
        compliant: [
            { name: "min 3", resources: stack() },
            { name: "two zones by config", resources: editIn(stack(), HPA, "triton-blue", (p) => (p.spec.minReplicas = 2)), config: { "hpa-min-replicas-zones": { zoneCount: 2 } } },
        ],
    },
    "hpa-max-above-min": {
        violating: [{ name: "max equals min", resources: editIn(stack(), HPA, "triton-blue", (p) => (p.spec.maxReplicas = 3)), expect: /can never scale out/ }],
        compliant: [{ name: "9 > 3", resources: stack() }],
    },
    "pdb-selects-every-workload": {
        violating: [{ name: "green without PDB", resources: without(stack(), (r) => r.type === PDB && r.name === "triton-green"), expect: /Deployment "triton-green": no PodDisruptionBudget/ }],
        compliant: [{ name: "one PDB per slot", resources: stack() }],
    },
    "pdb-has-policy": {
        violating: [
            { name: "both fields", resources: editIn(stack(), PDB, "triton-blue", (p) => (p.spec.minAvailable = 2)), expect: /sets both/ },
            { name: "neither field", resources: editIn(stack(), PDB, "triton-blue", (p) => delete p.spec.maxUnavailable), expect: /sets neither/ },
        ],
        compliant: [{ name: "maxUnavailable 1", resources: stack() }],
    },
    "pdb-allows-disruption": {
        violating: [
            { name: "maxUnavailable 0", resources: editIn(stack(), PDB, "triton-blue", (p) => (p.spec.maxUnavailable = 0)), expect: /allows no disruption/ },
            { name: "minAvailable 100%", resources: editIn(stack(), PDB, "triton-blue", (p) => { delete p.spec.maxUnavailable; p.spec.minAvailable = "100%"; }), expect: /100%/ },
            { name: "minAvailable = HPA minimum", resources: editIn(stack(), PDB, "triton-blue", (p) => { delete p.spec.maxUnavailable; p.spec.minAvailable = 3; }), expect: /minimum scale of 3/ },
        ],
        compliant: [
            { name: "maxUnavailable 1", resources: stack() },
            { name: "minAvailable 2 of 3", resources: editIn(stack(), PDB, "triton-blue", (p) => { delete p.spec.maxUnavailable; p.spec.minAvailable = 2; }) },
        ],
    },
    "pdb-min-available-within-hpa-min": {
        violating: [{ name: "minAvailable above HPA min", resources: editIn(stack(), PDB, "triton-blue", (p) => { delete p.spec.maxUnavailable; p.spec.minAvailable = 4; }), expect: /exceeds the HPA minimum of 3/ }],
        compliant: [{ name: "minAvailable equal to HPA min", resources: editIn(stack(), PDB, "triton-blue", (p) => { delete p.spec.maxUnavailable; p.spec.minAvailable = 3; }) }],
    },
    "zone-topology-spread": {
        violating: [
            { name: "no zone constraint", resources: blue((p) => (tplSpec(p).topologySpreadConstraints = tplSpec(p).topologySpreadConstraints.slice(1))), expect: /no topology spread constraint on topology.kubernetes.io\/zone/ },
            { name: "selector of other pods", resources: blue((p) => (tplSpec(p).topologySpreadConstraints[0].labelSelector = { matchLabels: { app: "other" } })), expect: /does not match its own pods/ },
        ],
        compliant: [{ name: "zone spread", resources: stack() }],
    },
    "hostname-spread": {
        violating: [{ name: "zone only", resources: blue((p) => (tplSpec(p).topologySpreadConstraints = tplSpec(p).topologySpreadConstraints.slice(0, 1))), expect: /does not spread its pods across nodes/ }],
        compliant: [
            { name: "hostname spread", resources: stack() },
            {
                name: "preferred anti-affinity",
                resources: blue((p) => {
                    tplSpec(p).topologySpreadConstraints = tplSpec(p).topologySpreadConstraints.slice(0, 1);
                    tplSpec(p).affinity = {
                        podAntiAffinity: {
                            preferredDuringSchedulingIgnoredDuringExecution: [
                                { weight: 100, podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { "triton-platform/slot": "blue" } } } },
                            ],
                        },
                    };
                }),
            },
        ],
    },
    "recommended-labels": {
        violating: [
            { name: "object without component label", resources: editIn(stack(), SVC, "triton", (p) => delete p.metadata.labels["app.kubernetes.io/component"]), expect: /Service "triton": lacks the labels app.kubernetes.io\/component/ },
            { name: "pod template without labels", resources: blue((p) => delete p.spec.template.metadata.labels["app.kubernetes.io/part-of"]), expect: /pod template lacks/ },
        ],
        compliant: [{ name: "labels helper", resources: stack() }],
    },
    "no-bare-pods": {
        violating: [{ name: "a Pod", resources: [{ type: "kubernetes:core/v1:Pod", name: "debug", props: { metadata: { namespace: NS }, spec: { containers: [{ name: "c", image: "docker.io/library/busybox:1.36" }] } } }], expect: /bare Pod/ }],
        compliant: [{ name: "controllers only", resources: stack(), vacuous: true }],
    },
    "no-default-namespace": {
        violating: [
            { name: "default namespace", resources: editIn(stack(), SVC, "triton", (p) => (p.metadata.namespace = "default")), expect: /is in the default namespace/ },
            { name: "no namespace", resources: editIn(stack(), HPA, "triton-blue", (p) => delete p.metadata.namespace), expect: /does not set metadata.namespace/ },
        ],
        compliant: [{ name: "stack namespace", resources: stack() }],
    },
    "rolling-update-strategy": {
        violating: [
            { name: "Recreate", resources: blue((p) => (p.spec.strategy = { type: "Recreate" })), expect: /RollingUpdate/ },
            { name: "OnDelete DaemonSet", resources: [shipper((p) => (p.spec.updateStrategy = { type: "OnDelete" }))], expect: /DaemonSet "logs-shipper"/ },
        ],
        compliant: [{ name: "RollingUpdate or default", resources: [...stack(), shipper()] }],
    },
    "no-duplicate-env": {
        violating: [{ name: "HOME twice", resources: blue((p) => sync(p).env.push({ name: "MODEL_REPOSITORY_URI", value: "s3://other" })), expect: /"MODEL_REPOSITORY_URI" more than once/ }],
        compliant: [{ name: "unique names", resources: stack() }],
    },

    // --- pod security ------------------------------------------------------------------------
    "no-privileged-containers": {
        violating: [{ name: "privileged", resources: blue((p) => (triton(p).securityContext.privileged = true)), expect: /runs privileged/ }],
        compliant: [{ name: "unprivileged", resources: stack() }],
    },
    "no-privilege-escalation": {
        violating: [{ name: "not set", resources: blue((p) => delete sync(p).securityContext.allowPrivilegeEscalation), expect: /init container "model-sync" does not set allowPrivilegeEscalation/ }],
        compliant: [{ name: "false", resources: stack() }],
    },
    "run-as-non-root": {
        violating: [
            { name: "uid 0", resources: blue((p) => (triton(p).securityContext.runAsUser = 0)), expect: /runs as uid 0/ },
            {
                name: "not required",
                resources: blue((p) => {
                    delete tplSpec(p).securityContext.runAsNonRoot;
                    delete triton(p).securityContext.runAsNonRoot;
                }),
                expect: /container "triton" is not required to run as non-root/,
            },
            { name: "root shipper that may escalate", resources: [rootShipper((p) => (shipperContainer(p).securityContext.allowPrivilegeEscalation = true))], expect: /container "shipper" may run as root, .*"log-shipper".* but allowPrivilegeEscalation is not false/ },
            { name: "root shipper with a writable root filesystem", resources: [rootShipper((p) => delete shipperContainer(p).securityContext.readOnlyRootFilesystem)], expect: /but readOnlyRootFilesystem is not true/ },
            { name: "root shipper keeping capabilities", resources: [rootShipper((p) => (shipperContainer(p).securityContext.capabilities = { drop: ["NET_RAW"] }))], expect: /but capabilities.drop does not contain ALL/ },
            { name: "root shipper adding a capability", resources: [rootShipper((p) => (shipperContainer(p).securityContext.capabilities.add = ["DAC_READ_SEARCH"]))], expect: /but it adds capabilities/ },
            { name: "root shipper writing to a hostPath", resources: [rootShipper((p) => (shipperContainer(p).volumeMounts[0].readOnly = false))], expect: /but it mounts hostPath volume "varlog" writable/ },
            { name: "root shipper, privileged", resources: [rootShipper((p) => (shipperContainer(p).securityContext.privileged = true))], expect: /but it is privileged/ },
            {
                name: "every failed condition named",
                resources: [rootShipper((p) => { shipperContainer(p).securityContext = { allowPrivilegeEscalation: true }; })],
                expect: /but allowPrivilegeEscalation is not false; readOnlyRootFilesystem is not true; capabilities.drop does not contain ALL\. Fix/,
            },
            { name: "root in a component that is not exempt", resources: [rootShipper((p) => (p.spec.template.metadata.labels["app.kubernetes.io/component"] = "log-reader"))], expect: /container "shipper" runs as uid 0/ },
            { name: "root shipper once the config lists no exemption", resources: [rootShipper()], config: { "run-as-non-root": { exemptComponents: [] } }, expect: /container "shipper" runs as uid 0/ },
        ],
        compliant: [
            { name: "container level", resources: stack() },
            { name: "pod level only", resources: blue((p) => { delete triton(p).securityContext.runAsNonRoot; delete sync(p).securityContext.runAsNonRoot; }) },
            { name: "confined root log shipper (exemptComponents default)", resources: [rootShipper()] },
            { name: "confined log shipper without runAsNonRoot", resources: [rootShipper((p) => (p.spec.template.spec.securityContext = { seccompProfile: { type: "RuntimeDefault" } }))] },
            { name: "another component exempted by config", resources: [rootShipper((p) => (p.spec.template.metadata.labels["app.kubernetes.io/component"] = "log-reader"))], config: { "run-as-non-root": { exemptComponents: ["log-reader"] } } },
        ],
    },
    "read-only-root-filesystem": {
        violating: [{ name: "writable", resources: blue((p) => (triton(p).securityContext.readOnlyRootFilesystem = false)), expect: /writable root filesystem/ }],
        compliant: [{ name: "read-only", resources: stack() }],
    },
    "drop-all-capabilities": {
        violating: [
            { name: "drops only NET_RAW", resources: blue((p) => (triton(p).securityContext.capabilities = { drop: ["NET_RAW"] })), expect: /does not drop ALL/ },
            { name: "adds SYS_ADMIN", resources: blue((p) => (triton(p).securityContext.capabilities.add = ["SYS_ADMIN"])), expect: /beyond NET_BIND_SERVICE/ },
        ],
        compliant: [
            { name: "drop ALL", resources: stack() },
            { name: "NET_BIND_SERVICE added back", resources: blue((p) => (triton(p).securityContext.capabilities.add = ["NET_BIND_SERVICE"])) },
        ],
    },
    "seccomp-runtime-default": {
        violating: [
            { name: "Unconfined container", resources: blue((p) => (triton(p).securityContext.seccompProfile = { type: "Unconfined" })), expect: /container "triton" runs without the RuntimeDefault/ },
            { name: "unset everywhere", resources: [shipper((p) => delete p.spec.template.spec.securityContext.seccompProfile)], expect: /container "shipper"/ },
        ],
        compliant: [
            { name: "pod and container RuntimeDefault", resources: stack() },
            { name: "pod level only", resources: [shipper()] },
        ],
    },
    "no-host-namespaces": {
        violating: [{ name: "hostNetwork", resources: blue((p) => (tplSpec(p).hostNetwork = true)), expect: /shares host namespaces \(hostNetwork\)/ }],
        compliant: [{ name: "isolated", resources: stack() }],
    },
    "no-host-path": {
        violating: [
            { name: "writable log mount", resources: [shipper((p) => (p.spec.template.spec.containers[0].volumeMounts[0].readOnly = false))], expect: /"varlog" writable/ },
            { name: "outside /var/log", resources: [shipper((p) => (p.spec.template.spec.volumes[0].hostPath.path = "/var/lib/docker"))], expect: /outside the prefixes allowed to its component/ },
            { name: "prefix trick", resources: [shipper((p) => (p.spec.template.spec.volumes[0].hostPath.path = "/var/logs-and-more"))], expect: /outside the prefixes/ },
            { name: "dot-dot escape", resources: [shipper((p) => (p.spec.template.spec.volumes[0].hostPath.path = "/var/log/../../etc"))], expect: /outside the prefixes/ },
            { name: "model server host path", resources: blue((p) => tplSpec(p).volumes.push({ name: "host", hostPath: { path: "/var/log" } })), expect: /component is not allowed host paths/ },
            { name: "node exporter mounting / writable", resources: [nodeExporter((p) => delete shipperContainer(p).volumeMounts[2].readOnly)], expect: /DaemonSet "node-exporter": mounts hostPath volume "root" writable/ },
            { name: "node exporter once the config drops it", resources: [nodeExporter()], config: { "no-host-path": { allowedHostPaths: { "log-shipper": ["/var/log"] } } }, expect: /"proc" but its component is not allowed host paths/ },
        ],
        compliant: [
            { name: "shipper reads /var/log/pods read-only", resources: [...stack(), shipper()] },
            {
                name: "another component allowed by config",
                resources: [shipper((p) => { p.spec.template.metadata.labels["app.kubernetes.io/component"] = "node-exporter"; p.spec.template.spec.volumes[0].hostPath.path = "/proc"; })],
                config: { "no-host-path": { allowedHostPaths: { "log-shipper": ["/var/log"], "node-exporter": ["/proc", "/sys"] } } },
            },
            { name: "node exporter reads /proc, /sys and / read-only (default)", resources: [nodeExporter()] },
        ],
    },
    "no-host-port": {
        violating: [{ name: "hostPort", resources: blue((p) => (triton(p).ports[0].hostPort = 18789)), expect: /binds a hostPort/ }],
        compliant: [{ name: "container ports only", resources: stack() }],
    },
    "no-service-account-token": {
        violating: [
            { name: "token mounted", resources: blue((p) => delete tplSpec(p).automountServiceAccountToken), expect: /mounts a service-account token/ },
            { name: "node exporter is not listed", resources: [nodeExporter((p) => (p.spec.template.spec.automountServiceAccountToken = true))], expect: /DaemonSet "node-exporter": mounts a service-account token/ },
            { name: "log shipper once the config lists no component", resources: [shipper((p) => (p.spec.template.spec.automountServiceAccountToken = true))], config: { "no-service-account-token": { apiAccessComponents: [] } }, expect: /mounts a service-account token/ },
        ],
        compliant: [
            { name: "automount false", resources: stack() },
            { name: "component allowed API access", resources: [shipper((p) => delete p.spec.template.spec.automountServiceAccountToken)], config: { "no-service-account-token": { apiAccessComponents: ["log-shipper"] } } },
            { name: "log shipper (k8sattributes) by default", resources: [shipper((p) => (p.spec.template.spec.automountServiceAccountToken = true))] },
        ],
    },

    // --- network ------------------------------------------------------------------------------
    "network-policy-covers-pods": {
        violating: [
            { name: "no NetworkPolicy", resources: without(stack(), (r) => r.type === NP), expect: /Deployment "triton-blue": no NetworkPolicy selects its pods/ },
            { name: "other namespace", resources: stack().map((r) => (r.type === NP ? edit(r, (p) => (p.metadata.namespace = "elsewhere")) : r)), expect: /no NetworkPolicy/ },
        ],
        compliant: [{ name: "default deny + allow", resources: [...stack(), shipper()] }],
    },
    "network-policy-selects-pods": {
        violating: [{ name: "typo in selector", resources: editIn(stack(), NP, "security-group-model-server-ingress", (p) => (p.spec.podSelector.matchLabels["app.kubernetes.io/component"] = "model-sever")), expect: /podSelector matches no workload/ }],
        compliant: [{ name: "selectors match", resources: stack() }],
    },
    "service-selects-pods": {
        violating: [
            { name: "selector matches nothing", resources: editIn(stack(), SVC, "triton", (p) => (p.spec.selector["triton-platform/slot"] = "purple")), expect: /matches no workload/ },
            { name: "no selector", resources: editIn(stack(), SVC, "triton", (p) => delete p.spec.selector), expect: /has no selector/ },
        ],
        compliant: [{ name: "slot selectors", resources: stack() }],
    },
    "no-node-port": {
        violating: [{ name: "NodePort", resources: editIn(stack(), SVC, "triton", (p) => (p.spec.type = "NodePort")), expect: /NodePort/ }],
        compliant: [{ name: "ClusterIP", resources: stack() }],
    },
    "load-balancer-entry-point-only": {
        violating: [{ name: "undeclared LoadBalancer", resources: editIn(stack(), SVC, "triton-green", (p) => (p.spec.type = "LoadBalancer")), expect: /Service "triton-green": is a LoadBalancer but not the declared entry point/ }],
        compliant: [
            { name: "no LoadBalancer", resources: stack() },
            { name: "declared entry point", resources: editIn(stack(), SVC, "triton", (p) => (p.spec.type = "LoadBalancer")), config: { "load-balancer-entry-point-only": { entryPointNames: ["triton"] } } },
        ],
    },
    "no-external-ips": {
        violating: [{ name: "externalIPs", resources: editIn(stack(), SVC, "triton", (p) => (p.spec.externalIPs = ["203.0.113.7"])), expect: /externalIPs/ }],
        compliant: [{ name: "none", resources: stack() }],
    },
    "ingress-tls-host": {
        violating: [
            { name: "no TLS", resources: [ingress((p) => delete p.spec.tls)], expect: /rule 0 is not covered by TLS/ },
            { name: "no host", resources: [ingress((p) => delete p.spec.rules[0].host)], expect: /rule 0 has no host/ },
            { name: "default backend", resources: [ingress((p) => (p.spec.defaultBackend = { service: { name: "triton", port: { number: 18789 } } }))], expect: /defaultBackend/ },
        ],
        compliant: [{ name: "host + TLS", resources: [ingress()] }],
    },
    "declared-ports-only": {
        violating: [
            { name: "extra container port", resources: blue((p) => triton(p).ports.push({ name: "debug", containerPort: 9090 })), expect: /container "triton" port 9090 is not declared/ },
            { name: "internal port on a LoadBalancer", resources: editIn(stack(), SVC, "triton", (p) => { p.spec.type = "LoadBalancer"; p.spec.ports = [{ port: 8001 }]; }), expect: /externally exposed port 8001/ },
            { name: "NetworkPolicy opens 9200", resources: editIn(stack(), NP, "security-group-model-server-ingress", (p) => p.spec.ingress.push({ ports: [{ protocol: "TCP", port: 9200 }] })), expect: /ingress rule port 9200 is not declared/ },
            { name: "shipper ports once the config drops them", resources: [shipper((p) => (shipperContainer(p).ports = [{ name: "metrics", containerPort: 8888 }]))], config: { "declared-ports-only": { internalPorts: [8000, 8001, 8002] } }, expect: /container "shipper" port 8888 is not declared/ },
            { name: "NetworkPolicy opens every port", resources: editIn(stack(), NP, "security-group-model-server-ingress", (p) => p.spec.ingress.push({ from: [{ ipBlock: { cidr: "10.0.0.0/8" } }] })), expect: /without ports/ },
        ],
        compliant: [
            { name: "18789 and Triton's ports", resources: stack() },
            { name: "port added by config", resources: blue((p) => triton(p).ports.push({ name: "debug", containerPort: 9090 })), config: { "declared-ports-only": { internalPorts: [8000, 8001, 8002, 9090] } } },
            {
                name: "shipper metrics and health, node exporter by default",
                resources: [
                    shipper((p) => (shipperContainer(p).ports = [{ name: "metrics", containerPort: 8888 }, { name: "health", containerPort: 13133 }])),
                    nodeExporter((p) => (shipperContainer(p).ports = [{ name: "metrics", containerPort: 9100 }])),
                ],
            },
        ],
    },

    // --- secrets ------------------------------------------------------------------------------
    "no-secret-in-env": {
        violating: [
            { name: "JWT_SECRET literal", resources: blue((p) => triton(p).env.push({ name: "JWT_SECRET", value: "CANARY-jwt-secret-literal" })), expect: /env var "JWT_SECRET" to a literal secret/ },
            { name: "token-shaped value", resources: blue((p) => triton(p).env.push({ name: "CONFIG", value: "Bearer CANARYabcdefghijklmnopqrstuvwxyz0123" })), expect: /looks like a bearer token/ },
        ],
        compliant: [
            { name: "secretKeyRef and file paths", resources: stack() },
            { name: "reference to another var", resources: blue((p) => triton(p).env.push({ name: "API_KEY", value: "$(TRITON_ADMIN_KEY)" })) },
        ],
    },
    "no-secret-in-configmap": {
        violating: [
            { name: "key named like a secret", resources: [configMap({ "api-key": "CANARY-0123456789" })], expect: /entry "api-key" is a literal secret/ },
            { name: "password in a config file", resources: [configMap({ "app.ini": "[db]\nuser = triton\npassword = CANARY-hunter22\n" })], expect: /entry "app.ini" contains a literal value for key "password"/ },
            { name: "private key", resources: [configMap({ "tls.key": "-----BEGIN RSA PRIVATE KEY-----\nCANARY\n-----END RSA PRIVATE KEY-----" })], expect: /PEM private key/ },
            {
                name: "private key in binaryData",
                resources: [binaryConfigMap({ "server.pem": Buffer.from("-----BEGIN PRIVATE KEY-----\nCANARY\n-----END PRIVATE KEY-----\n").toString("base64") })],
                expect: /binaryData entry "server.pem" contains a PEM private key/,
            },
            {
                name: "password in a binaryData config file",
                resources: [binaryConfigMap({ "app.ini": Buffer.from("[db]\npassword = CANARY-hunter22\n").toString("base64") })],
                expect: /binaryData entry "app.ini" contains a literal value for key "password"/,
            },
            { name: "binaryData named like a secret", resources: [binaryConfigMap({ "api-key": Buffer.from([0x01, 0xfe, 0x33]).toString("base64") })], expect: /binaryData entry "api-key" is named like a secret/ },
        ],
        compliant: [
            { name: "model config and aws config", resources: stack() },
            { name: "reference to a mounted secret", resources: [configMap({ "app.ini": "password_file = /run/secrets/db\ntoken = ${TOKEN}\n" })] },
            { name: "binaryData without a secret (a gzip header and a plain file)", resources: [binaryConfigMap({ "model.bin": Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0]).toString("base64"), "labels.txt": Buffer.from("cat\ndog\n").toString("base64") })] },
        ],
    },
    "no-secret-in-args": {
        violating: [
            { name: "--api-key value", resources: blue((p) => (triton(p).args = ["--api-key", "CANARY-abcdefgh"])), expect: /option "--api-key"/ },
            { name: "--password=", resources: blue((p) => (sync(p).command = ["/bin/sh", "-c", "login --password=CANARY-hunter22 && run"])), expect: /init container "model-sync" command line contains/ },
        ],
        compliant: [
            { name: "shell expansion of an env var", resources: stack() },
            { name: "--password-stdin", resources: blue((p) => (sync(p).command = ["/bin/sh", "-c", 'echo "$TOKEN" | docker login --password-stdin nvcr.io'])) },
        ],
    },
    "no-secret-in-remote-commands": {
        violating: [
            { name: "password in create", resources: editIn(serverStack(), CMD, "server-model", (p) => (p.create = "mysql -u root --password=CANARY-hunter22 -e 'select 1'")), expect: /Command "server-model": its create script contains a literal value for option "--password"/ },
            { name: "exported key in update", resources: editIn(serverStack(), CMD, "server-model", (p) => (p.update = "export API_KEY=CANARY0123456789abcdef\nrun")), expect: /its update script contains a literal value for key "API_KEY"/ },
        ],
        compliant: [{ name: "secrets on stdin and environment", resources: serverStack() }],
    },
    "random-key-length": {
        violating: [{ name: "16 characters", resources: [edit(keys()[0], (p) => (p.length = 16))], expect: /shorter than 32/ }],
        compliant: [{ name: "48 and 32", resources: keys() }],
    },
    "key-rotation-period": {
        violating: [
            { name: "no keepers", resources: [edit(keys()[0], (p) => delete p.keepers)], expect: /never rotates/ },
            { name: "180 days", resources: [edit(keys()[1], (p) => (p.keepers.rotationDays = "180"))], expect: /less often than every 90 days/ },
        ],
        compliant: [{ name: "90-day windows", resources: keys() }],
    },

    // --- server -------------------------------------------------------------------------------
    "server-firewall-default-drop": {
        violating: [
            { name: "input policy accept", resources: firewall((t) => t.replace("hook input priority filter; policy drop;", "hook input priority filter; policy accept;")), expect: /does not drop by default/ },
            { name: "no firewall", resources: editIn(serverStack(), CMD, "server-firewall", (p) => { delete p.stdin; p.create = "true"; }), expect: /installs no host firewall ruleset/ },
        ],
        compliant: [
            { name: "nftables input policy drop", resources: serverStack() },
            { name: "iptables INPUT DROP", resources: serverStack({ firewall: "iptables -P INPUT DROP\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n" }) },
        ],
    },
    "server-firewall-declared-ports": {
        violating: [
            { name: "node exporter opened", resources: firewall((t) => t.replace('\t\tiif "lo" accept', '\t\tiif "lo" accept\n\t\ttcp dport 9100 accept')), expect: /accepts tcp port 9100, beyond the declared ports/ },
            { name: "accept without a port", resources: firewall((t) => t.replace('\t\tiif "lo" accept', '\t\tiif "lo" accept\n\t\tip saddr 10.0.0.0/8 accept')), expect: /accepts every port/ },
            { name: "range in a jumped chain", resources: firewall((t) => t.replace("ct original proto-dst 80 accept", "ct original proto-dst 80-90 accept")), expect: /tcp port 80-90/ },
            { name: "iptables rule", resources: serverStack({ firewall: "iptables -P INPUT DROP\niptables -A INPUT -p tcp --dport 3306 -j ACCEPT\n" }), expect: /tcp port 3306/ },
        ],
        compliant: [{ name: "22, 80, 18789 and DHCP", resources: serverStack() }],
    },
    "server-ssh-no-root-login": {
        violating: [
            { name: "prohibit-password", resources: serverStack({ sshd: SSHD.replace("PermitRootLogin no", "PermitRootLogin prohibit-password") }), expect: /sets PermitRootLogin to a value other than no/ },
            { name: "never set", resources: serverStack({ sshd: "PasswordAuthentication no\n" }), expect: /never sets PermitRootLogin no/ },
        ],
        compliant: [
            { name: "drop-in", resources: serverStack() },
            { name: "sed replacement, comment ignored", resources: serverStack({ sshd: "#PermitRootLogin yes\nPasswordAuthentication no\n" }).map((r) => (r.name === "server-sshd" ? edit(r, (p) => (p.create += "sudo sed -i 's/^#\\?PermitRootLogin yes/PermitRootLogin no/' /etc/ssh/sshd_config\n")) : r)) },
        ],
    },
    "server-ssh-no-password-login": {
        violating: [{ name: "password auth on", resources: serverStack({ sshd: SSHD.replace("PasswordAuthentication no", "PasswordAuthentication yes") }), expect: /PasswordAuthentication to a value other than no/ }],
        compliant: [{ name: "keys only", resources: serverStack() }],
    },
    "server-published-ports-filtered": {
        violating: [
            { name: "no DOCKER-USER filter", resources: firewall((t) => t.replace(/\tchain docker_user \{[\s\S]*?\n\t\}\n/, "")), expect: /without a DOCKER-USER/ },
            { name: "random host port", resources: serverStack({ run: "docker run -d -p 8000 nvcr.io/nvidia/tritonserver:23.12-py3" }), expect: /random host port/ },
            { name: "undeclared host port", resources: serverStack({ run: "docker run -d --publish=9000:8000 nvcr.io/nvidia/tritonserver:23.12-py3" }), expect: /host port 9000/ },
            { name: "docker.Container on every address, no filter", resources: containerStack([{ internal: 8000, external: 18789 }], { firewall: noDockerFilter }), expect: /without a DOCKER-USER/ },
            { name: "docker.Container on a random host port", resources: containerStack([{ internal: 8000, ip: "0.0.0.0" }]), expect: /random host port/ },
            { name: "docker.Container on an undeclared host port", resources: containerStack([{ internal: 8002, external: 8002 }]), expect: /host port 8002/ },
        ],
        compliant: [
            { name: "early forward chain", resources: serverStack() },
            { name: "iptables DOCKER-USER", resources: serverStack({ firewall: "iptables -P INPUT DROP\niptables -I DOCKER-USER -m conntrack --ctorigdstport 18789 -j ACCEPT\niptables -A DOCKER-USER -j DROP\n" }) },
            { name: "loopback publish behind a proxy", resources: firewall(noDockerFilter).map((r) => (r.name === "server-model" ? edit(r, (p) => (p.create = "docker run -d -p 127.0.0.1:8000:8000 nvcr.io/nvidia/tritonserver:23.12-py3")) : r)) },
            { name: "docker.Container on declared ports, early forward chain", resources: containerStack([{ internal: 8000, external: 18789 }, { internal: 8080, external: 80, ip: "0.0.0.0" }]) },
            { name: "docker.Container on loopback only, no filter", resources: containerStack([{ internal: 8000, external: 8000, ip: "127.0.0.1" }], { firewall: noDockerFilter }) },
            { name: "docker.Container on the host network", resources: containerStack([{ internal: 8000 }], { firewall: noDockerFilter, networkMode: "host" }) },
        ],
    },

    // --- operations ---------------------------------------------------------------------------
    "model-service-log-sink": {
        violating: [
            { name: "cluster without LogSink", resources: without(stack(), (r) => r.type === "triton-platform:logsink:LogSink"), expect: /ModelService "triton": runs the model service but no LogSink/ },
            { name: "server without LogSink or shipper", resources: without(serverStack(), (r) => r.type === "triton-platform:logsink:LogSink"), expect: /LightweightServer "server": runs the model service but neither/ },
            {
                name: "server pulling only the model image through @pulumi/docker",
                resources: [
                    ...without(serverStack(), (r) => r.type === "triton-platform:logsink:LogSink"),
                    { type: "docker:index/remoteImage:RemoteImage", name: "server-image", parent: "triton-platform:server:LightweightServer::server", props: { name: "nvcr.io/nvidia/tritonserver:23.12-py3", keepLocally: true } },
                ],
                expect: /runs the model service but neither/,
            },
        ],
        compliant: [
            { name: "LogSink declared", resources: stack() },
            {
                name: "server running a shipper container",
                resources: editIn(without(serverStack(), (r) => r.type === "triton-platform:logsink:LogSink"), CMD, "server-model", (p) => (p.create += "docker run -d --name shipper -v /var/lib/docker/containers:/var/lib/docker/containers:ro docker.io/otel/opentelemetry-collector-contrib:0.130.0\n")),
            },
            {
                name: "server pulling a pinned shipper image through @pulumi/docker",
                resources: [
                    ...without(serverStack(), (r) => r.type === "triton-platform:logsink:LogSink"),
                    { type: "docker:index/remoteImage:RemoteImage", name: "server-log-shipper-image", parent: "triton-platform:server:LightweightServer::server", props: { name: "docker.io/otel/opentelemetry-collector-contrib:0.130.0", keepLocally: true } },
                ],
            },
        ],
    },
    "alert-rules-r14": {
        violating: [
            { name: "no disk alert", resources: editIn(stack(), "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-r14", (p) => p.spec.groups[0].rules.pop()), expect: /no alert rule for R14 disk usage/ },
            { name: "looser latency", resources: editIn(stack(), "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-r14", (p) => { const r = p.spec.groups[0].rules[0]; r.annotations.triton_platform_threshold = "1000"; r.expr = r.expr.replace("> 800", "> 1000"); }), expect: /looser than R14 \(800 ms\)/ },
            { name: "expression disagrees with annotation", resources: editIn(stack(), "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-r14", (p) => (p.spec.groups[0].rules[1].expr = "sum(rate(nv_inference_request_failure[5m])) > 5")), expect: /"TritonErrorRateHigh" \(error-rate\) expression does not compare/ },
            { name: "no threshold annotation", resources: editIn(stack(), "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-r14", (p) => delete p.spec.groups[0].rules[2].annotations.triton_platform_threshold), expect: /no numeric triton_platform_threshold/ },
            { name: "no rules at all", resources: without(stack(), (r) => r.name === "monitoring-r14"), expect: /no alert rule for R14 P99/ },
        ],
        compliant: [
            { name: "R14 thresholds", resources: stack() },
            {
                name: "stricter thresholds in base units",
                resources: editIn(stack(), "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-r14", (p) => {
                    const [lat, , avail, disk] = p.spec.groups[0].rules;
                    lat.annotations.triton_platform_threshold = "700";
                    lat.expr = 'histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket[5m]))) > 0.7';
                    avail.annotations.triton_platform_threshold = "95";
                    avail.expr = "100 * available / desired < 95";
                    disk.expr = "node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.15";
                }),
            },
        ],
    },
    "blue-green-slots": {
        violating: [
            { name: "green missing", resources: without(stack(), (r) => r.name === "triton-green"), expect: /no counterpart in the green slot/ },
            { name: "two blues", resources: [...stack(), { ...deployment("blue"), name: "triton-blue-2" }], expect: /Deployment "triton-blue-2": is a second model-server Deployment in the blue slot/ },
            { name: "no slot label", resources: blue((p) => delete p.spec.template.metadata.labels["triton-platform/slot"]), expect: /without a valid triton-platform\/slot label/ },
        ],
        compliant: [{ name: "blue and green", resources: stack() }],
    },
    "service-selects-one-slot": {
        violating: [
            { name: "routing without slot", resources: editIn(stack(), SVC, "triton", (p) => delete p.spec.selector["triton-platform/slot"]), expect: /Service "triton": routes port 18789 without selecting a slot/ },
            { name: "slot without Deployment", resources: editIn(stack(), SVC, "triton", (p) => (p.spec.selector["triton-platform/slot"] = "purple")), expect: /selects 0 model-server Deployments/ },
            { name: "no routing Service", resources: without(stack(), (r) => r.type === SVC), expect: /no Service routes port 18789/ },
        ],
        compliant: [
            { name: "routing and per-slot Services", resources: stack() },
            { name: "switched to green", resources: editIn(stack(), SVC, "triton", (p) => (p.spec.selector["triton-platform/slot"] = "green")) },
        ],
    },
    "stable-api-versions": {
        violating: [
            { name: "autoscaling/v2beta2", resources: [edit(hpa("blue"), (p) => (p.apiVersion = "autoscaling/v2beta2"))].map((r) => ({ ...r, type: "kubernetes:autoscaling/v2beta2:HorizontalPodAutoscaler" })), expect: /alpha or beta API version/ },
            { name: "alpha custom resource", resources: [edit(prometheusRule(), (p) => (p.apiVersion = "monitoring.coreos.com/v1alpha1"))].map((r) => ({ ...r, type: "kubernetes:monitoring.coreos.com/v1alpha1:PrometheusRule" })), expect: /alpha or beta/ },
        ],
        compliant: [{ name: "v1 and v2", resources: stack() }],
    },
};
