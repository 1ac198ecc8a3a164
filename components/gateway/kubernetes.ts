import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { imageVersion } from "../../kit/image-ref";
import { recommendedLabels, selectorLabels } from "../../kit/labels";
import { hardenedContainer, statelessDeploymentSpec, zonePlacement } from "../../kit/pod";
import { ADMIN_KEY_HEADER } from "../model-service/workload";
import { JWT_PREVIOUS_SECRET_ENV, JWT_SECRET_ENV, JwtPolicy, renderHaproxyConfig } from "./haproxy";
import { GatewaySettings } from "./schema";

type PodSpec = k8s.types.input.core.v1.PodSpec;

/** Unprivileged port haproxy listens on inside the pod (the Service maps 80 to it). */
export const GATEWAY_HTTP_PORT = 8080;
/** Folder of haproxy.cfg in the official image. */
export const CONFIG_DIR = "/usr/local/etc/haproxy";
/** Key of the JWT secret in the gateway's Secret. */
export const JWT_SECRET_KEY = "jwt-secret";
/** Key of the previous rotation period's JWT secret in the same Secret (accepted during the overlap). */
export const JWT_PREVIOUS_SECRET_KEY = "jwt-secret-previous";
/** Seconds the pod keeps serving after termination starts, so endpoints drop it before haproxy stops listening. */
export const PRE_STOP_SECONDS = 5;
/** uid/gid of the `haproxy` user of the official image. */
export const HAPROXY_UID = 99;

/** Where the model service is, as the gateway sees it. */
export interface GatewayUpstream {
    /** The routing Service of the model service (active blue/green slot). */
    serviceName: pulumi.Input<string>;
    /** Namespace of that Service. */
    namespace: pulumi.Input<string>;
    /** Triton's HTTP API on the Service (R7: 18789). */
    httpPort: number;
    /** Triton's metrics port on the Service (8002); the `metrics` route forwards there. */
    metricsPort: number;
    /** The dialogue service's Service (routes with upstream `dialogue`); unset: those routes go to Triton. */
    dialogue?: { serviceName: pulumi.Input<string>; port: number };
}

/** Arguments of {@link Gateway}. */
export interface GatewayArgs {
    /** Namespace of every object. */
    namespace: pulumi.Input<string>;
    /** app.kubernetes.io/instance value, `<project>-<stack>`. */
    instance: string;
    /** User labels, put after the recommended ones. */
    labels?: Record<string, string>;
    /** Zones the replicas spread across (R13). */
    zones: string[];
    /** The `gateway` settings of the definition. */
    settings: GatewaySettings;
    /** R10 claims to enforce (the `keys.jwt` settings). */
    jwt: JwtPolicy;
    /** HS256 secret (secret Output of the Keys component); stored in a Secret, never in the config. */
    jwtSecret: pulumi.Input<string>;
    /**
     * Key rotation without an outage (Keys.jwtPreviousSecret and jwtRotation): the previous period's
     * secret, accepted until `acceptedUntilEpoch` (Unix seconds). Unset: only `jwtSecret` verifies.
     */
    previousJwt?: { secret: pulumi.Input<string>; acceptedUntilEpoch: pulumi.Input<number> };
    upstream: GatewayUpstream;
    /** Who else the gateway talks to, for its NetworkPolicies. */
    network: GatewayNetwork;
    /** The explicit Kubernetes provider. */
    provider: k8s.Provider;
}

/** The gateway's neighbours, for its NetworkPolicies. */
export interface GatewayNetwork {
    /** Namespace of the Prometheus that scrapes the stats port. */
    monitoringNamespace: string;
    /** Labels selecting the model-server pods (both slots). */
    modelServerSelector: Record<string, string>;
    /** Triton's pod ports behind the routing Service. */
    modelServerPorts: { http: number; metrics: number };
    /** The dialogue service's pods and port, when deployed (the gateway may reach them, nothing else of theirs). */
    dialogue?: { selector: Record<string, string>; port: number };
}

type NetworkPolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;

/**
 * The gateway's NetworkPolicies. The namespace denies everything by default (components/network), so
 * the gateway must open its own paths: HTTP from the ingress controller, stats from monitoring, and
 * Triton's HTTP and metrics ports from the gateway pods only. Pure: tests call it directly.
 */
export function gatewayNetworkPolicies(a: {
    gatewaySelector: Record<string, string>;
    settings: GatewaySettings;
    network: GatewayNetwork;
}): { gateway: NetworkPolicySpec; modelServer: NetworkPolicySpec } {
    const ns = (name: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } } });
    return {
        gateway: {
            podSelector: { matchLabels: a.gatewaySelector },
            policyTypes: ["Ingress", "Egress"],
            ingress: [
                { from: a.settings.ingressNamespaces.map(ns), ports: [{ protocol: "TCP", port: GATEWAY_HTTP_PORT }] },
                { from: [ns(a.network.monitoringNamespace)], ports: [{ protocol: "TCP", port: a.settings.statsPort }] },
            ],
            egress: [
                {
                    to: [{ podSelector: { matchLabels: a.network.modelServerSelector } }],
                    ports: [
                        { protocol: "TCP", port: a.network.modelServerPorts.http },
                        { protocol: "TCP", port: a.network.modelServerPorts.metrics },
                    ],
                },
                ...(a.network.dialogue
                    ? [{ to: [{ podSelector: { matchLabels: a.network.dialogue.selector } }], ports: [{ protocol: "TCP", port: a.network.dialogue.port }] }]
                    : []),
            ],
        },
        modelServer: {
            podSelector: { matchLabels: a.network.modelServerSelector },
            policyTypes: ["Ingress"],
            ingress: [
                {
                    from: [{ podSelector: { matchLabels: a.gatewaySelector } }],
                    ports: [
                        { protocol: "TCP", port: a.network.modelServerPorts.http },
                        { protocol: "TCP", port: a.network.modelServerPorts.metrics },
                    ],
                },
            ],
        },
    };
}

/** The haproxy.cfg of the Kubernetes gateway for a resolved upstream (Service DNS names). Pure. */
export function kubernetesGatewayConfig(a: {
    settings: GatewaySettings;
    jwt: JwtPolicy;
    serviceName: string;
    namespace: string;
    httpPort: number;
    metricsPort: number;
    /** The dialogue service's Service name and port, when deployed. */
    dialogue?: { serviceName: string; port: number };
}): string {
    const host = `${a.serviceName}.${a.namespace}.svc.${a.settings.clusterDomain}`;
    const dialogue = a.dialogue && { host: `${a.dialogue.serviceName}.${a.namespace}.svc.${a.settings.clusterDomain}`, port: a.dialogue.port };
    return renderHaproxyConfig({
        settings: a.settings,
        jwt: a.jwt,
        listeners: [{ name: "http", address: "", port: GATEWAY_HTTP_PORT }],
        statsListener: { address: "", port: a.settings.statsPort },
        upstreams: { triton: { host, port: a.httpPort }, "triton-metrics": { host, port: a.metricsPort }, ...(dialogue ? { dialogue } : {}) },
        dns: true,
        stripHeaders: [ADMIN_KEY_HEADER],
    });
}

/** Inputs of {@link gatewayPodSpec}. */
export interface GatewayPodSpecArgs {
    settings: GatewaySettings;
    zones: string[];
    /** Labels selecting the gateway's pods (topology spread). */
    selector: Record<string, string>;
    serviceAccountName: pulumi.Input<string>;
    configMapName: pulumi.Input<string>;
    secretName: pulumi.Input<string>;
    /** The Secret also holds the previous period's JWT secret (key rotation overlap). */
    previousSecret?: boolean;
}

/** The gateway's pod spec, hardened like the model service's. Pure. */
export function gatewayPodSpec(a: GatewayPodSpecArgs): PodSpec {
    const s = a.settings;
    const limits: Record<string, string> = { memory: s.resources.memoryLimit };
    if (s.resources.cpuLimit) {
        limits.cpu = s.resources.cpuLimit;
    }
    const probe = (periodSeconds: number, failureThreshold: number) => ({
        httpGet: { path: "/healthz", port: "stats" },
        periodSeconds,
        timeoutSeconds: 2,
        failureThreshold,
    });
    return {
        serviceAccountName: a.serviceAccountName,
        // haproxy needs no Kubernetes API access.
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        // preStop, then SIGUSR1 (the image's stop signal): haproxy finishes open requests and WebSockets
        // for up to drainSeconds (hard-stop-after), then exits.
        terminationGracePeriodSeconds: PRE_STOP_SECONDS + s.drainSeconds + 5,
        securityContext: {
            runAsNonRoot: true,
            runAsUser: HAPROXY_UID,
            runAsGroup: HAPROXY_UID,
            seccompProfile: { type: "RuntimeDefault" },
        },
        ...zonePlacement(a.zones, a.selector),
        containers: [
            {
                name: "haproxy",
                image: s.image,
                // Master-worker in the foreground, as the image's entrypoint would run it, but explicit.
                command: ["haproxy", "-W", "-db", "-f", `${CONFIG_DIR}/haproxy.cfg`],
                env: [
                    { name: JWT_SECRET_ENV, valueFrom: { secretKeyRef: { name: a.secretName, key: JWT_SECRET_KEY } } },
                    ...(a.previousSecret ? [{ name: JWT_PREVIOUS_SECRET_ENV, valueFrom: { secretKeyRef: { name: a.secretName, key: JWT_PREVIOUS_SECRET_KEY } } }] : []),
                ],
                ports: [
                    { name: "http", containerPort: GATEWAY_HTTP_PORT, protocol: "TCP" },
                    { name: "stats", containerPort: s.statsPort, protocol: "TCP" },
                ],
                // haproxy starts in well under a second; the startup probe only keeps liveness off until then.
                startupProbe: probe(1, 30),
                readinessProbe: probe(5, 2),
                livenessProbe: probe(10, 3),
                lifecycle: { preStop: { exec: { command: ["/bin/sh", "-c", `sleep ${PRE_STOP_SECONDS}`] } } },
                resources: { requests: { cpu: s.resources.cpuRequest, memory: s.resources.memoryRequest }, limits },
                securityContext: hardenedContainer,
                volumeMounts: [{ name: "config", mountPath: CONFIG_DIR, readOnly: true }],
            },
        ],
        volumes: [{ name: "config", configMap: { name: a.configMapName } }],
    };
}

/** cert-manager and controller annotations of the Ingress (or Gateway). Pure. */
export function exposureAnnotations(s: GatewaySettings): Record<string, string> {
    const out: Record<string, string> = {};
    if (s.tls.issuer) {
        out[s.tls.issuer.kind === "ClusterIssuer" ? "cert-manager.io/cluster-issuer" : "cert-manager.io/issuer"] = s.tls.issuer.name;
    }
    if (s.exposure.kind === "ingress" && s.exposure.className === "nginx") {
        // ingress-nginx defaults (1 MiB bodies, 60 s read timeout) would cut WebSockets and large
        // requests before the gateway sees them: align them with the gateway's own limits.
        const maxBody = Math.max(...s.routes.map((r) => r.maxBodyBytes ?? s.maxBodyBytes));
        out["nginx.ingress.kubernetes.io/proxy-body-size"] = String(maxBody);
        out["nginx.ingress.kubernetes.io/proxy-read-timeout"] = String(s.timeouts.tunnelIdleSeconds);
        out["nginx.ingress.kubernetes.io/proxy-send-timeout"] = String(s.timeouts.tunnelIdleSeconds);
        out["nginx.ingress.kubernetes.io/ssl-redirect"] = "true";
    }
    return { ...out, ...s.exposure.annotations };
}

/** The Ingress spec: TLS for the R8 host, everything to the gateway Service. Pure. */
export function ingressSpec(s: GatewaySettings, serviceName: pulumi.Input<string>): k8s.types.input.networking.v1.IngressSpec {
    if (s.exposure.kind !== "ingress") {
        throw new Error("ingressSpec needs exposure.kind ingress");
    }
    return {
        ingressClassName: s.exposure.className,
        tls: [{ hosts: [s.host], secretName: s.tls.secretName }],
        rules: [
            {
                host: s.host,
                http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: serviceName, port: { name: "http" } } } }] },
            },
        ],
    };
}

/** The Gateway API `Gateway` spec the stack creates when no parentRef is given: one HTTPS listener for the R8 host. Pure. */
export function gatewayApiGatewaySpec(s: GatewaySettings): Record<string, unknown> {
    if (s.exposure.kind !== "gatewayApi") {
        throw new Error("gatewayApiGatewaySpec needs exposure.kind gatewayApi");
    }
    return {
        gatewayClassName: s.exposure.gatewayClassName,
        listeners: [
            {
                name: "https",
                protocol: "HTTPS",
                port: 443,
                hostname: s.host,
                tls: { mode: "Terminate", certificateRefs: [{ kind: "Secret", name: s.tls.secretName }] },
                allowedRoutes: { namespaces: { from: "Same" } },
            },
        ],
    };
}

/** The HTTPRoute spec: the R8 host, every path to the gateway Service on port 80, under `parentRef`. Pure. */
export function httpRouteSpec(
    s: GatewaySettings,
    parentRef: Record<string, pulumi.Input<string>>,
    serviceName: pulumi.Input<string>,
): Record<string, unknown> {
    return {
        parentRefs: [parentRef],
        hostnames: [s.host],
        rules: [{ matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: [{ name: serviceName, port: 80 }] }],
    };
}

/** The gateway Service: HTTP on 80 (to haproxy's unprivileged port) and the stats port. Pure. */
export function gatewayServiceSpec(selector: Record<string, string>, s: GatewaySettings): k8s.types.input.core.v1.ServiceSpec {
    return {
        type: "ClusterIP",
        selector,
        ports: [
            { name: "http", port: 80, targetPort: "http", protocol: "TCP" },
            { name: "stats", port: s.statsPort, targetPort: "stats", protocol: "TCP" },
        ],
    };
}

/** The gateway Deployment spec around {@link gatewayPodSpec}; `configSha256` rolls the pods when haproxy.cfg changes. Pure. */
export function gatewayDeploymentSpec(
    a: GatewayPodSpecArgs & { podLabels: Record<string, string>; configSha256: pulumi.Input<string> },
): k8s.types.input.apps.v1.DeploymentSpec {
    const { podLabels, configSha256, ...pod } = a;
    return statelessDeploymentSpec({
        replicas: a.settings.replicas,
        selector: a.selector,
        podLabels,
        // A config change alone would not restart haproxy.
        podAnnotations: { "triton-platform/gateway-config-sha256": configSha256, "kubectl.kubernetes.io/default-container": "haproxy" },
        podSpec: gatewayPodSpec(pod),
    });
}

/**
 * The collaboration-platform entry point (R8-R10) in front of Triton on Kubernetes: haproxy verifying
 * HS256 JWTs (signature, iss, aud, exp, scope per route), with per-mode timeouts from the R9 budgets,
 * body limits and a per-token rate limit; exposed by an Ingress or a Gateway API HTTPRoute with TLS for
 * the R8 host. The config (a ConfigMap) holds no secret: the JWT secret reaches haproxy as an
 * environment variable from an immutable Secret, so a rotated secret gets a new Secret and a rollout.
 */
export class Gateway extends pulumi.ComponentResource {
    /** The gateway Service's name (port 80). */
    public readonly serviceName: pulumi.Output<string>;
    /** The public URL (R8 host, TLS). */
    public readonly url: pulumi.Output<string>;
    /** The WebSocket URL collaboration platforms connect to (R9): the first exact-path websocket route. */
    public readonly chatUrl: pulumi.Output<string | undefined>;

    constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("triton-platform:gateway:Gateway", name, {}, opts);
        const s = args.settings;
        const child = { parent: this, provider: args.provider };
        const base = { name: "triton", instance: args.instance, component: "gateway" };
        const selector = selectorLabels(base);
        const labels = recommendedLabels({ ...base, version: imageVersion(s.image), extra: args.labels });
        const metadata = () => ({ namespace: args.namespace, labels });

        const secret = new k8s.core.v1.Secret(
            `${name}-jwt`,
            // Immutable and auto-named: a rotated secret is a new Secret, so the pod template changes
            // and the pods roll (an env var would otherwise keep the old value until a restart).
            {
                metadata: metadata(),
                type: "Opaque",
                immutable: true,
                stringData: { [JWT_SECRET_KEY]: args.jwtSecret, ...(args.previousJwt ? { [JWT_PREVIOUS_SECRET_KEY]: args.previousJwt.secret } : {}) },
            },
            child,
        );
        const config = pulumi
            .all([args.upstream.serviceName, args.upstream.namespace, args.previousJwt?.acceptedUntilEpoch, args.upstream.dialogue?.serviceName])
            .apply(([serviceName, namespace, previousKeyValidUntil, dialogueService]) =>
                kubernetesGatewayConfig({
                    settings: s,
                    jwt: previousKeyValidUntil === undefined ? args.jwt : { ...args.jwt, previousKeyValidUntil },
                    serviceName,
                    namespace,
                    httpPort: args.upstream.httpPort,
                    metricsPort: args.upstream.metricsPort,
                    dialogue: dialogueService === undefined ? undefined : { serviceName: dialogueService, port: args.upstream.dialogue!.port },
                }),
            );
        const configMap = new k8s.core.v1.ConfigMap(`${name}-config`, { metadata: metadata(), data: { "haproxy.cfg": config } }, child);
        const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}`, { metadata: metadata(), automountServiceAccountToken: false }, child);
        const deployment = gatewayDeploymentSpec({
            settings: s,
            zones: args.zones,
            selector,
            podLabels: labels,
            configSha256: config.apply((c) => createHash("sha256").update(c).digest("hex")),
            serviceAccountName: serviceAccount.metadata.name,
            configMapName: configMap.metadata.name,
            secretName: secret.metadata.name,
            previousSecret: args.previousJwt !== undefined,
        });
        new k8s.apps.v1.Deployment(`${name}`, { metadata: metadata(), spec: deployment }, child);
        const policies = gatewayNetworkPolicies({ gatewaySelector: selector, settings: s, network: args.network });
        new k8s.networking.v1.NetworkPolicy(`${name}`, { metadata: metadata(), spec: policies.gateway }, child);
        new k8s.networking.v1.NetworkPolicy(`${name}-to-model-server`, { metadata: metadata(), spec: policies.modelServer }, child);
        new k8s.policy.v1.PodDisruptionBudget(`${name}`, { metadata: metadata(), spec: { maxUnavailable: 1, selector: { matchLabels: selector } } }, child);
        const service = new k8s.core.v1.Service(`${name}`, { metadata: metadata(), spec: gatewayServiceSpec(selector, s) }, child);
        this.serviceName = service.metadata.name;
        this.expose(name, s, metadata, service.metadata.name, child);

        this.url = pulumi.output(`https://${s.host}`);
        const chat = s.routes.find((r) => r.access === "websocket" && r.match === "exact");
        this.chatUrl = pulumi.output(chat ? `wss://${s.host}${chat.path}` : undefined);

        this.registerOutputs({ serviceName: this.serviceName, url: this.url, chatUrl: this.chatUrl });
    }

    /** The public side: an Ingress, or a Gateway API HTTPRoute (under the given parentRef, or a Gateway of its own). */
    private expose(
        name: string,
        s: GatewaySettings,
        metadata: () => { namespace: pulumi.Input<string>; labels: Record<string, string> },
        serviceName: pulumi.Output<string>,
        child: pulumi.CustomResourceOptions,
    ): void {
        const annotations = exposureAnnotations(s);
        if (s.exposure.kind === "ingress") {
            new k8s.networking.v1.Ingress(`${name}`, { metadata: { ...metadata(), annotations }, spec: ingressSpec(s, serviceName) }, child);
            return;
        }
        let parentRef: Record<string, pulumi.Input<string>> = { ...s.exposure.parentRef };
        if (!s.exposure.parentRef) {
            const gateway = new k8s.apiextensions.CustomResource(
                `${name}`,
                { apiVersion: "gateway.networking.k8s.io/v1", kind: "Gateway", metadata: { ...metadata(), annotations }, spec: gatewayApiGatewaySpec(s) },
                child,
            );
            parentRef = { name: gateway.metadata.name, sectionName: "https" };
        }
        new k8s.apiextensions.CustomResource(
            `${name}`,
            { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", metadata: metadata(), spec: httpRouteSpec(s, parentRef, serviceName) },
            child,
        );
    }
}
