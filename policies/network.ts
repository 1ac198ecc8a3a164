// Network policies (R3, R6, R7): every pod behind a NetworkPolicy, no dead selectors, no node ports
// or stray load balancers, TLS on ingresses, and only the declared ports opened.
import { T, WORKLOAD_TYPES, containersOf, mapSelectorMatches, podTemplate, selectorMatches } from "./lib/k8s";
import { PackPolicy, resourcePolicy, stackPolicy } from "./lib/policy";
import { stackView } from "./lib/stack-view";

export const networkPolicyCoversPods = stackPolicy({
    name: "network-policy-covers-pods",
    description: "Every workload's pods are selected by at least one NetworkPolicy in their namespace.",
    area: "network",
    source: "R6; kube-score pod-networkpolicy, Kyverno add-networkpolicy",
    details: "For each workload pod template, some NetworkPolicy of the same namespace must have a podSelector matching the template labels (`{}` matches every pod).",
    enforcementLevel: "mandatory",
    remediation: "Declare a default-deny NetworkPolicy (podSelector: {}) in the namespace and allow only what the pods serve.",
    validate: (ctx) => {
        const view = stackView(ctx);
        if (view.incomplete.has("netpol")) {
            return;
        }
        for (const w of view.workloads) {
            if (!view.netpols.some((n) => n.namespace === w.namespace && selectorMatches(n.podSelector, w.podLabels))) {
                ctx.report(w.r, "no NetworkPolicy selects its pods, so they accept traffic from anywhere in the cluster", "add a default-deny NetworkPolicy to the namespace and allow its ports explicitly");
            }
        }
    },
});

export const networkPolicySelectsPods = stackPolicy({
    name: "network-policy-selects-pods",
    description: "Every NetworkPolicy selects the pods of at least one workload (a selector matching nothing is a typo).",
    area: "network",
    source: "kube-score networkpolicy-targets-pod",
    details: "A NetworkPolicy with a non-empty podSelector must match the pod template labels of some workload in its namespace.",
    enforcementLevel: "advisory",
    remediation: "Fix the podSelector labels, or remove the NetworkPolicy.",
    validate: (ctx) => {
        const view = stackView(ctx);
        if (view.incomplete.has("workload")) {
            return;
        }
        for (const n of view.netpols) {
            const empty = n.podSelector !== undefined && Object.keys(n.podSelector.matchLabels ?? {}).length === 0 && (n.podSelector.matchExpressions ?? []).length === 0;
            if (empty) {
                continue;
            }
            if (!view.workloads.some((w) => w.namespace === n.namespace && selectorMatches(n.podSelector, w.podLabels))) {
                ctx.report(n.r, "podSelector matches no workload of the stack", "correct the podSelector labels to the pods it should protect");
            }
        }
    },
});

export const serviceSelectsPods = stackPolicy({
    name: "service-selects-pods",
    description: "Every Service selects the pods of at least one workload of the stack.",
    area: "network",
    source: "kube-score service-targets-pod",
    details: "A Service (except type ExternalName) needs a non-empty `spec.selector` matching the pod template labels of a workload in its namespace.",
    enforcementLevel: "mandatory",
    remediation: "Set spec.selector to the labels of the pods that serve it.",
    validate: (ctx) => {
        const view = stackView(ctx);
        if (view.incomplete.has("workload")) {
            return;
        }
        for (const s of view.services) {
            if (s.type === "ExternalName") {
                continue;
            }
            if (Object.keys(s.selector ?? {}).length === 0) {
                ctx.report(s.r, "has no selector, so it routes to no pod of the stack", "set spec.selector to the serving pods' labels");
            } else if (!view.workloads.some((w) => w.namespace === s.namespace && mapSelectorMatches(s.selector, w.podLabels))) {
                ctx.report(s.r, "selector matches no workload of the stack, so it has no endpoints", "correct spec.selector to the serving pods' labels");
            }
        }
    },
});

export const noNodePort = resourcePolicy({
    name: "no-node-port",
    description: "No Service is of type NodePort.",
    area: "network",
    source: "R6; kube-score service-type, Kyverno restrict-nodeport",
    details: "`spec.type` of a Service must not be NodePort (it opens the port on every node, around NetworkPolicies and cloud firewalls).",
    enforcementLevel: "mandatory",
    remediation: "Use a ClusterIP Service behind the declared entry point.",
    types: [T.Service],
    validate: (ctx) => {
        if (ctx.props.spec?.type === "NodePort") {
            ctx.report("is a NodePort Service, which opens its port on every node", "use type ClusterIP");
        }
    },
});

export const loadBalancerEntryPointOnly = resourcePolicy<{ entryPointNames: string[] }>({
    name: "load-balancer-entry-point-only",
    description: "Only the declared entry-point Service may be of type LoadBalancer.",
    area: "network",
    source: "R6, R8",
    details: "A Service of type LoadBalancer is a violation unless its Pulumi resource name or metadata.name is listed in `entryPointNames` (empty by default: no load balancer is declared).",
    enforcementLevel: "mandatory",
    remediation: "Use a ClusterIP Service, or add the entry point's name to entryPointNames in the policy config after review.",
    config: {
        entryPointNames: {
            type: "array",
            items: { type: "string" },
            description: "Pulumi resource names (or metadata.names) of the Services allowed to be LoadBalancers.",
            default: [],
        },
    },
    types: [T.Service],
    validate: (ctx) => {
        if (ctx.props.spec?.type !== "LoadBalancer") {
            return;
        }
        const names = ctx.config.entryPointNames;
        if (!names.includes(ctx.name) && !names.includes(ctx.props.metadata?.name)) {
            ctx.report("is a LoadBalancer but not the declared entry point", "make it ClusterIP, or declare it in the policy's entryPointNames");
        }
    },
});

export const noExternalIps = resourcePolicy({
    name: "no-external-ips",
    description: "No Service sets externalIPs.",
    area: "network",
    source: "CVE-2020-8554; Kyverno restrict-external-ips",
    details: "`spec.externalIPs` of every Service must be empty.",
    enforcementLevel: "mandatory",
    remediation: "Remove spec.externalIPs; expose traffic through the declared entry point.",
    types: [T.Service],
    validate: (ctx) => {
        if ((ctx.props.spec?.externalIPs ?? []).length > 0) {
            ctx.report("sets externalIPs, which can intercept traffic to those addresses cluster-wide", "remove spec.externalIPs");
        }
    },
});

export const ingressTlsHost = resourcePolicy({
    name: "ingress-tls-host",
    description: "Every Ingress names a host on each rule and serves every host over TLS.",
    area: "network",
    source: "R8; Polaris, Kyverno",
    details: "Each `spec.rules[]` needs a `host`, every host must appear in some `spec.tls[].hosts`, and a `defaultBackend` (host-less) is not allowed.",
    enforcementLevel: "mandatory",
    remediation: "Set a host on every rule and a tls entry (secretName + hosts) covering it.",
    types: [T.Ingress],
    validate: (ctx) => {
        const spec = ctx.props.spec ?? {};
        const tlsHosts = new Set<string>((spec.tls ?? []).flatMap((t: any) => [...(t.hosts ?? [])]));
        if (spec.defaultBackend !== undefined) {
            ctx.report("has a defaultBackend that answers any host", "remove spec.defaultBackend and route by host");
        }
        const rules: any[] = [...(spec.rules ?? [])];
        if (rules.length === 0 && spec.defaultBackend === undefined) {
            ctx.report("has no rules", "add a rule with a host");
        }
        rules.forEach((r, i) => {
            if (!r.host) {
                ctx.report(`rule ${i} has no host`, "set spec.rules[].host (R8 domain)");
            } else if (!tlsHosts.has(r.host)) {
                ctx.report(`rule ${i} is not covered by TLS`, "list the rule's host in spec.tls[].hosts with a certificate secret");
            }
        });
    },
});

export const declaredPortsOnly = resourcePolicy<{ externalPorts: number[]; internalPorts: number[] }>({
    name: "declared-ports-only",
    description: "Services, containers and NetworkPolicies open only the declared ports.",
    area: "network",
    source: "R3, R6, R7",
    details:
        "LoadBalancer/NodePort Service ports must be in `externalPorts`; ClusterIP Service ports and numeric targetPorts, container ports and NetworkPolicy ingress ports must be in `externalPorts` + `internalPorts` (Triton's 8000-8002, the log shipper's 8888 and 13133, the node exporter's 9100, the gateway's 8080 and 8405). Named ports and egress rules are not checked.",
    enforcementLevel: "mandatory",
    remediation: "Use a declared port, or add the port to the policy config after review.",
    config: {
        externalPorts: { type: "array", items: { type: "integer" }, description: "Ports reachable from outside (R3: SSH, HTTP, model service).", default: [22, 80, 18789] },
        internalPorts: {
            type: "array",
            items: { type: "integer" },
            description: "Ports open inside the cluster only (Triton HTTP, gRPC, metrics; log shipper metrics and health; node exporter).",
            default: [
                // components/model-service: Triton HTTP, gRPC, metrics.
                8000, 8001, 8002,
                // components/logsink: the log shipper's own metrics (scraped from the monitoring namespace).
                8888,
                // components/logsink: the log shipper's health_check extension (probes).
                13133,
                // components/observability: the node exporter's metrics.
                9100,
                // components/gateway: haproxy's listener behind the gateway Service's port 80.
                8080,
                // components/gateway: haproxy's stats and /healthz (probes, the monitoring namespace).
                8405,
            ],
        },
    },
    types: [T.Service, T.NetworkPolicy, ...(WORKLOAD_TYPES as readonly string[])],
    validate: (ctx) => {
        const external = ctx.config.externalPorts;
        const all = [...external, ...ctx.config.internalPorts];
        const check = (port: unknown, allowed: number[], what: string) => {
            if (typeof port === "number" && !allowed.includes(port)) {
                ctx.report(`${what} ${port} is not declared (declared: ${allowed.join(", ")})`, "use a declared port, or declare it in the policy config after review");
            }
        };
        if (ctx.type === T.Service) {
            const exposed = ctx.props.spec?.type === "LoadBalancer" || ctx.props.spec?.type === "NodePort";
            for (const p of ctx.props.spec?.ports ?? []) {
                check(p.port, exposed ? external : all, exposed ? "externally exposed port" : "port");
                check(p.targetPort, all, "target port");
            }
        } else if (ctx.type === T.NetworkPolicy) {
            for (const rule of ctx.props.spec?.ingress ?? []) {
                for (const p of rule.ports ?? []) {
                    if (typeof p.port === "number") {
                        const end = typeof p.endPort === "number" ? p.endPort : p.port;
                        for (let port = p.port; port <= end && port - p.port < 1024; port++) {
                            if (!all.includes(port)) {
                                check(port, all, "ingress rule port");
                                break;
                            }
                        }
                    }
                }
                if (rule.ports === undefined || rule.ports.length === 0) {
                    ctx.report("has an ingress rule without ports, which opens every port", "list the declared ports in the rule");
                }
            }
        } else {
            for (const { c, where } of containersOf(podTemplate(ctx.type, ctx.props)?.spec)) {
                for (const p of c.ports ?? []) {
                    check(p.containerPort, all, `${where} port`);
                }
            }
        }
    },
});

export const networkPolicies: PackPolicy[] = [
    networkPolicyCoversPods,
    networkPolicySelectsPods,
    serviceSelectsPods,
    noNodePort,
    loadBalancerEntryPointOnly,
    noExternalIps,
    ingressTlsHost,
    declaredPortsOnly,
];
