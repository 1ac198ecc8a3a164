// Pure builders of the dialogue service's deployment: its runtime configuration (services/dialogue
// reads it), pod specs, NetworkPolicies and its alert. kubernetes.ts and server.ts only wire them to
// resources; tests call them directly.
import * as k8s from "@pulumi/kubernetes";
import { RuntimeConfigInput } from "../../services/dialogue/config";
import { hardenedContainer, zonePlacement } from "../../kit/pod";
import { DialogueSettings } from "./schema";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type NetworkPolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;

/** Where the configuration file is inside the container. */
export const CONFIG_DIR = "/etc/dialogue";
export const CONFIG_FILE = "config.json";
/** Where the secret files are inside the container (a Secret volume, or a read-only bind mount). */
export const SECRETS_DIR = "/run/secrets/dialogue";
/** Secret file names. */
export const SECRET_FILES = { hmacKey: "hmac-key", replyUrls: "reply-urls.json", redisPassword: "redis-password" } as const;
/** uid/gid the service runs as (the image's `dialogue` user; no root anywhere). */
export const DIALOGUE_UID = 10001;
/** uid/gid of the official Redis image's `redis` user. */
export const REDIS_UID = 999;
/** Seconds the pod keeps serving after termination starts, so endpoints drop it first. */
export const PRE_STOP_SECONDS = 5;
/** Seconds the service has to finish running answers and deliveries after SIGTERM. */
export const DRAIN_SECONDS = 15;

/** Where the service's neighbours are. */
export interface DialoguePlacement {
    /** Triton's KServe v2 HTTP endpoint of the active slot. */
    tritonUrl: string;
    /** The Redis the service uses (none: the memory store). */
    redis?: { host: string; port: number; password: boolean };
    /** Bind address of both listeners. @default 0.0.0.0 */
    listenHost?: string;
    /** Secret files folder as the service sees it. @default SECRETS_DIR */
    secretsDir?: string;
    /** Whether a reply URL file is provided. */
    replyUrls: boolean;
}

/** The service's configuration file (JSON), from the settings and where its neighbours are. Contains no secret. */
export function dialogueRuntimeConfig(s: DialogueSettings, p: DialoguePlacement): RuntimeConfigInput {
    const dir = p.secretsDir ?? SECRETS_DIR;
    const host = p.listenHost ?? "0.0.0.0";
    return {
        listen: { host, port: s.port },
        admin: { host, port: s.adminPort },
        tritonUrl: p.tritonUrl,
        model: s.model,
        hmacKeyFile: `${dir}/${SECRET_FILES.hmacKey}`,
        ...(p.replyUrls ? { replyUrlsFile: `${dir}/${SECRET_FILES.replyUrls}` } : {}),
        store:
            s.store.kind === "memory" || !p.redis
                ? { kind: "memory" }
                : {
                      kind: "redis",
                      host: p.redis.host,
                      port: p.redis.port,
                      ...(p.redis.password ? { passwordFile: `${dir}/${SECRET_FILES.redisPassword}` } : {}),
                      keyPrefix: "dialogue:",
                  },
        limits: s.limits,
        deadlinesMs: s.deadlinesMs,
        websocket: s.websocket,
        webhook: s.webhook,
        ttlSeconds: s.ttlSeconds,
        platforms: s.platforms,
    };
}

/**
 * redis.conf of the server path's Redis: no persistence (every key has a TTL), a memory cap, loopback
 * only, and the password, so it is never on a command line (`ps` would show it). A secret file.
 */
export function redisConfig(s: DialogueSettings, port: number, password: string): string {
    if (!/^[A-Za-z0-9]+$/.test(password)) {
        throw new Error("the Redis password must be letters and digits (it is written into redis.conf)");
    }
    return [
        `port ${port}`,
        "bind 127.0.0.1",
        'save ""',
        "appendonly no",
        "dir /data",
        `maxmemory ${s.store.maxMemoryMb}mb`,
        "maxmemory-policy volatile-lru",
        `requirepass ${password}`,
        "",
    ].join("\n");
}

/** Inputs of {@link dialoguePodSpec}. */
export interface DialoguePodSpecArgs {
    settings: DialogueSettings;
    zones: string[];
    selector: Record<string, string>;
    serviceAccountName: unknown;
    configMapName: unknown;
    secretName: unknown;
}

/** The dialogue Service: the service port (the gateway's upstream) and the admin port (probes, metrics). Pure. */
export function dialogueServiceSpec(selector: Record<string, string>, s: DialogueSettings): k8s.types.input.core.v1.ServiceSpec {
    return {
        type: "ClusterIP",
        selector,
        ports: [
            { name: "http", port: s.port, targetPort: "http", protocol: "TCP" },
            { name: "admin", port: s.adminPort, targetPort: "admin", protocol: "TCP" },
        ],
    };
}

/** The service's pod spec: non-root, read-only root, probes, zone spread, a drain on SIGTERM. Pure. */
export function dialoguePodSpec(a: DialoguePodSpecArgs): PodSpec {
    const s = a.settings;
    const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
        httpGet: { path, port: "admin" },
        periodSeconds,
        timeoutSeconds: 2,
        failureThreshold,
    });
    return {
        serviceAccountName: a.serviceAccountName as string,
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: PRE_STOP_SECONDS + DRAIN_SECONDS + 5,
        securityContext: { runAsNonRoot: true, runAsUser: DIALOGUE_UID, runAsGroup: DIALOGUE_UID, fsGroup: DIALOGUE_UID, seccompProfile: { type: "RuntimeDefault" } },
        ...zonePlacement(a.zones, a.selector),
        containers: [
            {
                name: "dialogue",
                image: s.image,
                env: [{ name: "DIALOGUE_CONFIG", value: `${CONFIG_DIR}/${CONFIG_FILE}` }],
                ports: [
                    { name: "http", containerPort: s.port, protocol: "TCP" },
                    { name: "admin", containerPort: s.adminPort, protocol: "TCP" },
                ],
                startupProbe: probe("/healthz", 1, 30),
                readinessProbe: probe("/readyz", 5, 2),
                livenessProbe: probe("/healthz", 10, 3),
                lifecycle: { preStop: { exec: { command: ["/bin/sleep", String(PRE_STOP_SECONDS)] } } },
                resources: { requests: { cpu: s.resources.cpuRequest, memory: s.resources.memoryRequest }, limits: { memory: s.resources.memoryLimit } },
                securityContext: hardenedContainer,
                volumeMounts: [
                    { name: "config", mountPath: CONFIG_DIR, readOnly: true },
                    { name: "secrets", mountPath: SECRETS_DIR, readOnly: true },
                ],
            },
        ],
        volumes: [
            { name: "config", configMap: { name: a.configMapName as string } },
            { name: "secrets", secret: { secretName: a.secretName as string, defaultMode: 0o440 } },
        ],
    };
}

/** Who the service talks to, for its NetworkPolicies. */
export interface DialogueNetwork {
    dialogueSelector: Record<string, string>;
    gatewaySelector: Record<string, string>;
    modelServerSelector: Record<string, string>;
    modelServerHttpPort: number;
    monitoringNamespace: string;
}

const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"];

/**
 * The service's NetworkPolicies (the namespace denies everything by default): the gateway reaches its
 * HTTP port and monitoring its admin port; it reaches Triton's HTTP port, Redis (pods of the namespace,
 * or `store.cidrs`) on the store port, and the webhook reply CIDRs on 443/80 (private ranges and the
 * metadata service excluded). Triton accepts it. Pure.
 */
export function dialogueNetworkPolicies(s: DialogueSettings, n: DialogueNetwork): { dialogue: NetworkPolicySpec; toModelServer: NetworkPolicySpec } {
    const ns = (name: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } } });
    const replyPeers = s.replyEgressCidrs.map((cidr) => ({
        ipBlock: { cidr, ...(cidr.includes(":") ? {} : { except: PRIVATE_RANGES.filter((r) => r !== cidr && cidr.endsWith("/0")) }) },
    }));
    return {
        dialogue: {
            podSelector: { matchLabels: n.dialogueSelector },
            policyTypes: ["Ingress", "Egress"],
            ingress: [
                { from: [{ podSelector: { matchLabels: n.gatewaySelector } }], ports: [{ protocol: "TCP", port: s.port }] },
                { from: [ns(n.monitoringNamespace)], ports: [{ protocol: "TCP", port: s.adminPort }] },
            ],
            egress: [
                { to: [{ podSelector: { matchLabels: n.modelServerSelector } }], ports: [{ protocol: "TCP", port: n.modelServerHttpPort }] },
                ...(s.store.kind === "redis"
                    ? [{ to: [{ podSelector: {} }, ...s.store.cidrs.map((cidr) => ({ ipBlock: { cidr } }))], ports: [{ protocol: "TCP", port: s.store.port }] }]
                    : []),
                ...(replyPeers.length > 0
                    ? [{ to: replyPeers, ports: [{ protocol: "TCP", port: 443 }, { protocol: "TCP", port: 80 }] }]
                    : []),
            ],
        },
        toModelServer: {
            podSelector: { matchLabels: n.modelServerSelector },
            policyTypes: ["Ingress"],
            ingress: [{ from: [{ podSelector: { matchLabels: n.dialogueSelector } }], ports: [{ protocol: "TCP", port: n.modelServerHttpPort }] }],
        },
    };
}

/** Server-side error codes: what the service or its dependencies failed at, not what a caller sent wrong. */
export const SERVER_ERROR_CODES = ["model_timeout", "model_error", "model_unavailable", "store_unavailable", "overloaded"] as const;

/**
 * The service's own alert (R14's error-rate threshold): the share of messages answered with a
 * server-side error, per route, over 5 minutes. Refused messages (bad signature, stale, too large)
 * are the caller's errors and do not count. Pure: the PrometheusRule's group.
 */
export function dialogueAlertGroup(errorRatePercent: number, namespace: string) {
    const codes = SERVER_ERROR_CODES.join("|");
    const sel = `namespace="${namespace}"`;
    return {
        name: "triton-platform-dialogue",
        rules: [
            {
                alert: "DialogueErrorRateHigh",
                expr:
                    `(sum by (route) (rate(dialogue_requests_total{${sel},code=~"${codes}"}[5m])) / ` +
                    `sum by (route) (rate(dialogue_requests_total{${sel}}[5m]))) * 100 > ${errorRatePercent}`,
                for: "5m",
                labels: { severity: "critical" },
                annotations: {
                    summary: `Dialogue service: more than ${errorRatePercent}% of {{ $labels.route }} messages fail on the service side`,
                    description: "Model timeouts or errors, Triton or Redis unreachable, or overload. Check the service's logs (code field) and Triton's health.",
                },
            },
        ],
    };
}
