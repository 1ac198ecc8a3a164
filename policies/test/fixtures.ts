// A compliant stack, shaped like the program's own resources (components/model-service, network,
// keys, the server's remote commands), and helpers to break one thing at a time. Each policy test
// starts from these, so a compliant case is the real shape and a violating case differs by one edit.
import { Res } from "./kit";

export const NS = "triton";
export const INSTANCE = "triton-platform-test";
const MODEL_SERVICE = "triton-platform:modelService:ModelService::triton";

/** Recommended labels (kit/labels.ts) plus extras. */
export function labels(component: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
        "app.kubernetes.io/name": "triton",
        "app.kubernetes.io/instance": INSTANCE,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "triton-platform",
        "app.kubernetes.io/managed-by": "pulumi",
        ...extra,
    };
}

/** Deep copy, then edit: the fixture itself never changes. */
export function edit(r: Res, change: (props: any) => void): Res {
    const copy: Res = JSON.parse(JSON.stringify(r));
    change(copy.props);
    return copy;
}

/** Replaces one resource of a list (matched by type and name) with an edited copy. */
export function editIn(list: Res[], type: string, name: string, change: (props: any) => void): Res[] {
    let found = false;
    const out = list.map((r) => {
        if (r.type === type && r.name === name) {
            found = true;
            return edit(r, change);
        }
        return r;
    });
    if (!found) throw new Error(`fixture has no ${type} ${name}`);
    return out;
}

export function without(list: Res[], pred: (r: Res) => boolean): Res[] {
    return list.filter((r) => !pred(r));
}

const securityContext = {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    privileged: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
};

const probe = (path: string, periodSeconds: number) => ({ httpGet: { path, port: "http" }, periodSeconds, timeoutSeconds: 5, failureThreshold: 3 });

/** The pod template of a model-server slot, as components/model-service/workload.ts builds it. */
export function modelPodTemplate(slot: string): any {
    const selector = { ...labels("model-server"), "triton-platform/slot": slot };
    return {
        metadata: { labels: { ...labels("model-server", { "triton-platform/slot": slot }), "app.kubernetes.io/version": "23.12-py3" } },
        spec: {
            serviceAccountName: "triton-sa",
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } },
            topologySpreadConstraints: [
                { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule", labelSelector: { matchLabels: selector } },
                { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: selector } },
            ],
            initContainers: [
                {
                    name: "model-sync",
                    image: "docker.io/amazon/aws-cli:2.17.0",
                    command: ["/bin/sh", "-c", 'set -eu\naws s3 sync "$MODEL_REPOSITORY_URI" /models --only-show-errors'],
                    env: [
                        { name: "MODEL_REPOSITORY_URI", value: "s3://models/triton" },
                        { name: "AWS_CONFIG_FILE", value: "/config/models/aws-config" },
                        { name: "AWS_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "object-store", key: "AWS_SECRET_ACCESS_KEY" } } },
                    ],
                    resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } },
                    securityContext,
                    volumeMounts: [{ name: "models", mountPath: "/models" }],
                },
            ],
            containers: [
                {
                    name: "triton",
                    image: "nvcr.io/nvidia/tritonserver:23.12-py3",
                    command: ["/bin/sh", "-c", 'exec tritonserver --model-repository=/models --http-restricted-api=model-repository:triton-admin-key="$TRITON_ADMIN_KEY"'],
                    env: [{ name: "TRITON_ADMIN_KEY", valueFrom: { secretKeyRef: { name: "admin-key", key: "admin-key" } } }],
                    ports: [
                        { name: "http", containerPort: 8000 },
                        { name: "grpc", containerPort: 8001 },
                        { name: "metrics", containerPort: 8002 },
                    ],
                    startupProbe: { ...probe("/v2/health/ready", 10), failureThreshold: 60 },
                    livenessProbe: { ...probe("/v2/health/live", 10), initialDelaySeconds: 30 },
                    readinessProbe: probe("/v2/health/ready", 5),
                    resources: { requests: { cpu: "2", memory: "8Gi", "nvidia.com/gpu": "1" }, limits: { memory: "8Gi", "nvidia.com/gpu": "1" } },
                    securityContext,
                    volumeMounts: [
                        { name: "models", mountPath: "/models", readOnly: true },
                        { name: "shm", mountPath: "/dev/shm" },
                    ],
                },
            ],
            volumes: [
                { name: "models", emptyDir: { sizeLimit: "20Gi" } },
                { name: "shm", emptyDir: { medium: "Memory", sizeLimit: "1Gi" } },
                { name: "model-config", configMap: { name: "model-config" } },
            ],
        },
    };
}

export function deployment(slot: string): Res {
    return {
        type: "kubernetes:apps/v1:Deployment",
        name: `triton-${slot}`,
        parent: MODEL_SERVICE,
        props: {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: `triton-${slot}-x1`, namespace: NS, labels: labels("model-server", { "triton-platform/slot": slot }) },
            spec: {
                revisionHistoryLimit: 3,
                selector: { matchLabels: { ...labels("model-server"), "triton-platform/slot": slot } },
                strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" } },
                template: modelPodTemplate(slot),
            },
        },
    };
}

export function hpa(slot: string): Res {
    return {
        type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        name: `triton-${slot}`,
        parent: MODEL_SERVICE,
        props: {
            apiVersion: "autoscaling/v2",
            kind: "HorizontalPodAutoscaler",
            metadata: { namespace: NS, labels: labels("model-server", { "triton-platform/slot": slot }) },
            spec: { scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: `triton-${slot}-x1` }, minReplicas: 3, maxReplicas: 9 },
        },
    };
}

export function pdb(slot: string): Res {
    return {
        type: "kubernetes:policy/v1:PodDisruptionBudget",
        name: `triton-${slot}`,
        parent: MODEL_SERVICE,
        props: {
            apiVersion: "policy/v1",
            kind: "PodDisruptionBudget",
            metadata: { namespace: NS, labels: labels("model-server", { "triton-platform/slot": slot }) },
            spec: { maxUnavailable: 1, selector: { matchLabels: { ...labels("model-server"), "triton-platform/slot": slot } } },
        },
    };
}

export function service(name: string, slot: string | undefined, extra: Record<string, unknown> = {}): Res {
    const selector: Record<string, string> = { ...labels("model-server") };
    delete selector["app.kubernetes.io/part-of"];
    delete selector["app.kubernetes.io/managed-by"];
    if (slot) selector["triton-platform/slot"] = slot;
    return {
        type: "kubernetes:core/v1:Service",
        name,
        parent: MODEL_SERVICE,
        props: {
            apiVersion: "v1",
            kind: "Service",
            metadata: { namespace: NS, labels: labels("model-server") },
            spec: {
                type: "ClusterIP",
                selector,
                ports: [
                    { name: "http", port: 18789, targetPort: "http", protocol: "TCP" },
                    { name: "grpc", port: 8001, targetPort: "grpc", protocol: "TCP" },
                ],
                ...extra,
            },
        },
    };
}

export function networkPolicies(): Res[] {
    const np = (role: string, spec: unknown): Res => ({
        type: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        name: `security-group-${role}`,
        props: { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { namespace: NS, labels: labels("security-group") }, spec },
    });
    return [
        np("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
        np("model-server-ingress", {
            podSelector: { matchLabels: { "app.kubernetes.io/component": "model-server" } },
            policyTypes: ["Ingress"],
            ingress: [
                { ports: [{ protocol: "TCP", port: 18789 }, { protocol: "TCP", port: 8000 }], from: [{ ipBlock: { cidr: "0.0.0.0/0" } }] },
                { ports: [{ protocol: "TCP", port: 8002 }], from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }] },
            ],
        }),
        np("egress", { podSelector: {}, policyTypes: ["Egress"], egress: [{ ports: [{ protocol: "UDP", port: 53 }] }, { ports: [{ protocol: "TCP", port: 443 }] }] }),
    ];
}

export function configMap(data: Record<string, string>): Res {
    return {
        type: "kubernetes:core/v1:ConfigMap",
        name: "triton-model-config",
        parent: MODEL_SERVICE,
        props: { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: NS, labels: labels("model-server") }, data },
    };
}

/** The R14 rules the observability component is expected to generate. */
export function prometheusRule(): Res {
    const rule = (alert: string, id: string, threshold: string, expr: string) => ({
        alert,
        expr,
        for: "5m",
        labels: { severity: "critical", triton_platform_alert: id },
        annotations: { summary: alert, triton_platform_threshold: threshold },
    });
    return {
        type: "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
        name: "monitoring-r14",
        props: {
            apiVersion: "monitoring.coreos.com/v1",
            kind: "PrometheusRule",
            metadata: { namespace: NS, labels: labels("monitoring") },
            spec: {
                groups: [
                    {
                        name: "triton-r14",
                        rules: [
                            rule("TritonP99LatencyHigh", "p99-latency", "800", 'max(nv_inference_request_summary_us{quantile="0.99"}) / 1000 > 800'),
                            rule(
                                "TritonErrorRateHigh",
                                "error-rate",
                                "2",
                                "sum(rate(nv_inference_request_failure[5m])) / (sum(rate(nv_inference_request_success[5m])) + sum(rate(nv_inference_request_failure[5m]))) > 0.02",
                            ),
                            rule("TritonAvailabilityLow", "availability", "90", "kube_deployment_status_replicas_available / kube_deployment_spec_replicas < 0.9"),
                            rule("NodeDiskUsageHigh", "disk-usage", "85", "(1 - node_filesystem_avail_bytes / node_filesystem_size_bytes) * 100 > 85"),
                        ],
                    },
                ],
            },
        },
    };
}

export function component(type: string, name: string): Res {
    return { type, name, props: {} };
}

/** A Triton-on-Kubernetes stack that passes every policy. */
export function clusterStack(): Res[] {
    return [
        component("triton-platform:modelService:ModelService", "triton"),
        component("triton-platform:logsink:LogSink", "logs"),
        { type: "kubernetes:core/v1:Namespace", name: "namespace", props: { apiVersion: "v1", kind: "Namespace", metadata: { name: NS, labels: labels("namespace") } } },
        ...["blue", "green"].flatMap((slot) => [deployment(slot), hpa(slot), pdb(slot), service(`triton-${slot}`, slot)]),
        service("triton", "blue"),
        ...networkPolicies(),
        configMap({ "dialogue.pbtxt": 'name: "dialogue"\nmax_batch_size: 32\n', "aws-config": "[default]\nregion = us-east-1\ns3 =\n    addressing_style = auto\n" }),
        prometheusRule(),
    ];
}

/** The server's firewall, shaped like components/network/server.ts renders it. */
export const NFTABLES = `#!/usr/sbin/nft -f
table inet triton_platform
delete table inet triton_platform
table inet triton_platform {
\tchain security_group_in {
\t\tmeta nfproto ipv4 meta l4proto tcp ct original proto-dst 22 accept comment "[100] SSH administration (R3) (service ssh)"
\t\tmeta nfproto ipv4 meta l4proto tcp ct original proto-dst 80 accept comment "[100] HTTP (R3, R6)"
\t\tmeta nfproto ipv4 meta l4proto tcp ct original proto-dst 18789 accept comment "[100] model service (R6, R7)"
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tiif "lo" accept
\t\tct state invalid drop
\t\tct state established,related accept
\t\ticmp type { destination-unreachable, time-exceeded, echo-request } accept
\t\tudp sport 67 udp dport 68 accept comment "DHCPv4 client"
\t\tjump security_group_in
\t\tlimit rate 10/minute log prefix "triton_platform in drop: "
\t\tdrop
\t}
\tchain docker_user {
\t\ttype filter hook forward priority filter - 1; policy accept;
\t\tct state established,related accept
\t\tct status dnat jump security_group_in comment "connections to Docker-published ports"
\t\tct status dnat drop
\t}
}
`;

export const SSHD = "PermitRootLogin no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n";

/** The server's bootstrap as remote commands. */
export function serverStack(parts: { firewall?: string; sshd?: string; run?: string } = {}): Res[] {
    const server = "triton-platform:server:LightweightServer::server";
    const conn = { host: "203.0.113.10", user: "ubuntu", privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nCANARYCANARY\n-----END OPENSSH PRIVATE KEY-----" };
    return [
        component("triton-platform:server:LightweightServer", "server"),
        component("triton-platform:logsink:LogSink", "logs"),
        {
            type: "command:remote:Command",
            name: "server-firewall",
            parent: server,
            props: { connection: conn, create: "set -eu\nsudo install -m 0600 /dev/stdin /etc/nftables.d/triton.nft\nsudo nft -f /etc/nftables.d/triton.nft\n", stdin: parts.firewall ?? NFTABLES },
        },
        {
            type: "command:remote:Command",
            name: "server-sshd",
            parent: server,
            props: {
                connection: conn,
                create: `set -eu\nsudo tee /etc/ssh/sshd_config.d/10-triton.conf >/dev/null <<'EOF'\n${parts.sshd ?? SSHD}EOF\nsudo systemctl reload ssh\n`,
            },
        },
        {
            type: "command:remote:Command",
            name: "server-model",
            parent: server,
            props: {
                connection: conn,
                create: parts.run ?? 'set -eu\ndocker run -d --name triton --restart unless-stopped \\\n  -p 18789:8000 \\\n  -e TRITON_ADMIN_KEY \\\n  nvcr.io/nvidia/tritonserver:23.12-py3 tritonserver --model-repository=/models\n',
                environment: { TRITON_ADMIN_KEY: "CANARY-admin-key-value-0123456789abcdef" },
            },
        },
    ];
}

/** Generated keys as components/keys declares them. */
export function keys(): Res[] {
    const keepers = { rotationDays: "90", rotationPeriod: "227", generation: "0" };
    return [
        { type: "random:index/randomPassword:RandomPassword", name: "keys-api-key", props: { length: 48, special: false, keepers } },
        { type: "random:index/randomBytes:RandomBytes", name: "keys-jwt-secret", props: { length: 32, keepers } },
    ];
}
