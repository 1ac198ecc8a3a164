// Server policies (R3, R6; moby issue 4737). The lightweight server is configured over SSH by
// `command:remote:Command` resources, so what the server will run is visible only as the commands'
// text. These policies read that text, explicitly:
//
//   corpus = create + update + stdin of every command:remote:Command of the stack
//
// and look for an nftables (or iptables) ruleset, sshd directives and `docker run -p` publications in
// it (parsers in lib/text.ts, documented in docs/POLICIES.md). Containers the stack runs through
// @pulumi/docker (`docker:index/container:Container`) publish ports through their `ports` inputs
// instead; server-published-ports-filtered reads both. A stack without a LightweightServer, remote
// commands or Docker containers is not applicable.
import { PolicyResource } from "@pulumi/policy";
import { PackPolicy, StackContext, stackPolicy } from "./lib/policy";
import {
    AcceptedPort,
    acceptedInboundPorts,
    dockerPublishedPorts,
    hasFirewallRuleset,
    hasInboundDefaultDrop,
    hasPublishedPortFilter,
    isLoopbackAddress,
    PublishedPort,
    sshdDirectiveValues,
} from "./lib/text";

export const SERVER_TYPE = "triton-platform:server:LightweightServer";
export const REMOTE_COMMAND = "command:remote:Command";
export const DOCKER_CONTAINER = "docker:index/container:Container";
export const REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage";
/** Fields of a remote command whose text reaches the server. */
const TEXT_FIELDS = ["create", "update", "stdin"] as const;

interface Corpus {
    text: string;
    /** Some command text was unknown (preview): absence of evidence proves nothing. */
    incomplete: boolean;
    /** The resource violations are reported against: the server component, else the first command. */
    subject: PolicyResource;
}

/**
 * The string values of `fields` of every resource of a type. `incomplete` when one of them is unknown
 * until the update (preview); an absent field is skipped, not unknown.
 */
export function knownStrings(ctx: StackContext<unknown>, type: string, fields: readonly string[]): { values: string[]; incomplete: boolean } {
    let incomplete = false;
    const values: string[] = [];
    for (const r of ctx.resources.filter((x) => x.type === type)) {
        for (const field of fields) {
            // null: the field is absent; undefined: its value is unknown until the update (preview).
            const value = ctx.known(() => (r.props[field] === undefined ? null : r.props[field]));
            if (value === undefined) {
                incomplete = true;
            } else if (typeof value === "string") {
                values.push(value);
            }
        }
    }
    return { values, incomplete };
}

/** The text of every remote command of the stack (create + update + stdin). */
export function remoteCommandText(ctx: StackContext<unknown>): { text: string; incomplete: boolean } {
    const { values, incomplete } = knownStrings(ctx, REMOTE_COMMAND, TEXT_FIELDS);
    return { text: values.join("\n"), incomplete };
}

/** The server corpus, or notApplicable when the stack manages no server. */
function serverCorpus(ctx: StackContext<unknown>, options: { containers?: boolean } = {}): Corpus {
    const server = ctx.resources.find((r) => r.type === SERVER_TYPE);
    const commands = ctx.resources.filter((r) => r.type === REMOTE_COMMAND);
    const containers = options.containers ? ctx.resources.filter((r) => r.type === DOCKER_CONTAINER) : [];
    if (!server && commands.length === 0 && containers.length === 0) {
        ctx.notApplicable("the stack manages no lightweight server (no LightweightServer, no remote command, no Docker container)");
    }
    return { ...remoteCommandText(ctx), subject: server ?? commands[0] ?? containers[0] };
}

/**
 * Ports published by the stack's docker.Container resources (`ports: [{ internal, external, ip }]`).
 * As Docker does: no `ip` binds every address, no `external` picks a random host port. A container
 * on the host network publishes nothing (its sockets face the input chain like any process).
 */
export function containerPublishedPorts(ctx: StackContext<unknown>): { ports: PublishedPort[]; incomplete: boolean } {
    let incomplete = false;
    const ports: PublishedPort[] = [];
    for (const c of ctx.resources.filter((r) => r.type === DOCKER_CONTAINER)) {
        const list = ctx.known(() => (c.props.networkMode === "host" ? [] : ((c.props.ports as unknown[] | undefined) ?? [])));
        if (list === undefined) {
            incomplete = true;
            continue;
        }
        for (const entry of list) {
            const port = ctx.known(() => {
                const p = entry as { external?: unknown; ip?: unknown };
                return { external: p.external, ip: p.ip };
            });
            if (port === undefined) {
                incomplete = true;
                continue;
            }
            ports.push({
                hostPort: typeof port.external === "number" ? port.external : undefined,
                loopback: typeof port.ip === "string" && isLoopbackAddress(port.ip),
            });
        }
    }
    return { ports, incomplete };
}

export const firewallDefaultDrop = stackPolicy({
    name: "server-firewall-default-drop",
    description: "The server's host firewall drops inbound traffic by default (R3).",
    area: "server",
    source: "R3, R6",
    details:
        "The remote commands' text must contain an nftables base chain `type filter hook input priority ...; policy drop;` (or `iptables -P INPUT DROP`).",
    enforcementLevel: "mandatory",
    remediation: "Install the SecurityGroup's nftables ruleset (components/network) from the server bootstrap.",
    validate: (ctx) => {
        const corpus = serverCorpus(ctx);
        if (hasInboundDefaultDrop(corpus.text) || corpus.incomplete) {
            return;
        }
        ctx.report(
            corpus.subject,
            hasFirewallRuleset(corpus.text) ? "installs a firewall whose input chain does not drop by default" : "installs no host firewall ruleset",
            "load an nftables ruleset with an input chain `policy drop` in the server bootstrap",
        );
    },
});

function portsText(ports: number[]): string {
    return ports.join(", ");
}

function describeAccepted(a: AcceptedPort): string {
    if (a.range === "all") return `every ${a.protocol === "any" ? "" : `${a.protocol} `}port`;
    if (a.range === "unparsed") return `a ${a.protocol === "any" ? "" : `${a.protocol} `}port set it cannot verify`;
    const r = a.range.from === a.range.to ? `${a.range.from}` : `${a.range.from}-${a.range.to}`;
    return `${a.protocol === "any" ? "" : `${a.protocol} `}port ${r}`;
}

export const firewallDeclaredPorts = stackPolicy<{ serverPorts: number[]; serverUdpPorts: number[] }>({
    name: "server-firewall-declared-ports",
    description: "The server's firewall accepts inbound connections only on the declared ports 22, 80 and 18789 (R3, R6).",
    area: "server",
    source: "R3, R6",
    details:
        "Every accept rule reachable from the input hook (and DOCKER-USER, or an early forward chain for DNATed traffic) must match a port: TCP ports in `serverPorts`, UDP ports in `serverUdpPorts` (DHCP client replies). Accepts of loopback, established/related traffic and ICMP are fine; an accept without a port match, or with a port set it cannot parse, is a violation.",
    enforcementLevel: "mandatory",
    remediation: "Remove the extra accept rule, or declare the port in the policy config after review.",
    config: {
        serverPorts: { type: "array", items: { type: "integer" }, description: "TCP ports the server may accept (R3: SSH, HTTP, model service).", default: [22, 80, 18789] },
        serverUdpPorts: { type: "array", items: { type: "integer" }, description: "UDP ports the server may accept (DHCP client replies).", default: [68, 546] },
    },
    validate: (ctx) => {
        const corpus = serverCorpus(ctx);
        for (const a of acceptedInboundPorts(corpus.text)) {
            const lists = a.protocol === "tcp" ? [ctx.config.serverPorts] : a.protocol === "udp" ? [ctx.config.serverUdpPorts] : [ctx.config.serverPorts, ctx.config.serverUdpPorts];
            const ok =
                typeof a.range === "object" &&
                lists.every((list) => {
                    const r = a.range as { from: number; to: number };
                    for (let p = r.from; p <= r.to; p++) {
                        if (!list.includes(p)) return false;
                    }
                    return true;
                });
            if (!ok) {
                ctx.report(
                    corpus.subject,
                    `the host firewall accepts ${describeAccepted(a)}, beyond the declared ports (tcp ${portsText(ctx.config.serverPorts)}; udp ${portsText(ctx.config.serverUdpPorts)})`,
                    "remove the accept rule or declare the port in serverPorts after review",
                );
            }
        }
    },
});

function sshPolicy(name: string, directive: string, requirement: string) {
    return stackPolicy({
        name,
        description: `The server's sshd sets ${directive} no (${requirement}).`,
        area: "server",
        source: "R3; CIS Ubuntu 22.04 5.2",
        details: `The remote commands' text must set \`${directive} no\` (sshd_config or a drop-in, written by heredoc, echo, tee or sed) and must not set it to anything else; commented-out lines and sed search patterns do not count.`,
        enforcementLevel: "mandatory",
        remediation: `Write \`${directive} no\` to /etc/ssh/sshd_config.d/ in the server bootstrap and reload sshd.`,
        validate: (ctx) => {
            const corpus = serverCorpus(ctx);
            const values = sshdDirectiveValues(corpus.text, directive);
            if (values.some((v) => v !== "no")) {
                ctx.report(corpus.subject, `sets ${directive} to a value other than no`, `set only \`${directive} no\``);
            } else if (values.length === 0 && !corpus.incomplete) {
                ctx.report(corpus.subject, `never sets ${directive} no, so the distribution default applies`, `write \`${directive} no\` to an sshd_config drop-in`);
            }
        },
    });
}

export const sshNoRootLogin = sshPolicy("server-ssh-no-root-login", "PermitRootLogin", "R3: root remote login disabled");
export const sshNoPasswordLogin = sshPolicy("server-ssh-no-password-login", "PasswordAuthentication", "keys only");

export const publishedPortsFiltered = stackPolicy<{ serverPorts: number[] }>({
    name: "server-published-ports-filtered",
    description: "Ports Docker publishes on the server are declared and filtered before Docker's own rules (DOCKER-USER), since they bypass the INPUT chain.",
    area: "server",
    source: "moby issue 4737; R3, R6",
    details:
        "Finds ports published by `docker run|create -p/--publish` and compose `ports:` in the remote commands' text, and by the `ports` of `docker:index/container:Container` resources (no `ip`: every address; no `external`: a random host port). If any is published on a non-loopback address: each host port must be in `serverPorts` (a random host port is a violation), and the text must filter DNATed traffic, either with a DOCKER-USER chain that drops (nftables or iptables) or with an nftables base chain on the forward hook at a priority before `filter` that drops `ct status dnat` traffic it did not accept.",
    enforcementLevel: "mandatory",
    remediation: "Filter published ports in DOCKER-USER (or an nftables forward chain at priority filter - 1), or bind the port to 127.0.0.1 behind a reverse proxy.",
    config: {
        serverPorts: { type: "array", items: { type: "integer" }, description: "Host ports the server may publish.", default: [22, 80, 18789] },
    },
    validate: (ctx) => {
        const corpus = serverCorpus(ctx, { containers: true });
        const containers = containerPublishedPorts(ctx);
        const published = [...dockerPublishedPorts(corpus.text), ...containers.ports].filter((p) => !p.loopback);
        if (published.length === 0) {
            return;
        }
        for (const p of published) {
            if (p.hostPort === undefined) {
                ctx.report(corpus.subject, "publishes a container port on a random host port", "publish on a declared host port (-p 18789:8000)");
            } else if (!ctx.config.serverPorts.includes(p.hostPort)) {
                ctx.report(corpus.subject, `publishes host port ${p.hostPort}, which is not declared (${portsText(ctx.config.serverPorts)})`, "publish only declared ports, or bind to 127.0.0.1");
            }
        }
        if (!hasPublishedPortFilter(corpus.text) && !corpus.incomplete && !containers.incomplete) {
            ctx.report(
                corpus.subject,
                "publishes Docker ports without a DOCKER-USER (or early forward) filter, so they bypass the input firewall",
                "drop DNATed traffic not accepted by the security group in DOCKER-USER or an nftables forward chain at priority filter - 1",
            );
        }
    },
});

export const serverPolicies: PackPolicy[] = [firewallDefaultDrop, firewallDeclaredPorts, sshNoRootLogin, sshNoPasswordLogin, publishedPortsFiltered];
