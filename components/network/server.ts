// Renders the security group as the server's host firewall: one nftables table, inbound default drop.
//
// Docker and the firewall (moby issue 4737): a published port is DNATed in prerouting and then forwarded
// to the container, so it never traverses the INPUT hook and an input-only firewall does not protect it.
// Docker's answer for iptables is the DOCKER-USER chain. This ruleset does not write into DOCKER-USER:
//   - on Debian/Ubuntu Docker drives iptables-nft, whose tables belong to Docker (it recreates them on
//     restart; native nft rules written into them can make `iptables` unable to read them back);
//   - restoring a DOCKER-USER chain before Docker starts makes Docker skip its jump to it, failing open
//     (moby/libnetwork issue 2631);
//   - Docker 29's own nftables backend has no DOCKER-USER chain at all.
// Instead the table has its own base chain at the forward hook with priority `filter - 1`, which runs
// before Docker's filter chains whatever backend Docker uses (iptables-nft, iptables-legacy, nftables);
// a drop in any base chain is final. This is the replacement Docker documents for DOCKER-USER. Published
// connections are matched by `ct status dnat` and their original destination port, so the same rule
// chain (`security_group_in`) judges the host's own ports and Docker-published ports.
import { byFamily } from "./cidr";
import { isCidrPeer, SecurityPolicy, SecurityRule } from "./rules";

/** Name of the nftables table the program owns (inet family: IPv4 and IPv6 in one ruleset). */
export const NFT_TABLE = "triton_platform";
/** Name of the throw-away table the firewall script loads to check it will not lock out the operator. */
export const NFT_CHECK_TABLE = "triton_platform_ssh_check";
/** Docker bridge interfaces: the default bridge and user-defined networks. */
const DOCKER_BRIDGES = ["docker0", "br-*"];

function comment(text: string): string {
    // nft comments are quoted strings of at most 128 bytes.
    const clean = text.replace(/["\\\n\r\t]/g, " ").replace(/[^\x20-\x7e]/g, "?");
    return `comment "${clean.slice(0, 120)}"`;
}

function portMatch(r: SecurityRule): string {
    const ports = r.port === r.toPort ? `${r.port}` : `${r.port}-${r.toPort}`;
    return `meta l4proto ${r.protocol} ct original proto-dst ${ports}`;
}

/** The nft lines of one rule (one per address family that has peers). */
export function ruleLines(r: SecurityRule): string[] {
    const cidrs = r.peers.filter(isCidrPeer).map((p) => p.cidr);
    if (cidrs.length === 0) {
        return [];
    }
    const addr = r.direction === "ingress" ? "saddr" : "daddr";
    const verdict = r.action === "allow" ? "accept" : "drop";
    const { v4, v6 } = byFamily(cidrs);
    const lines: string[] = [];
    const note = comment(`[${r.priority}] ${r.description} (${r.origin})`);
    if (v4.length > 0) {
        const match = v4.includes("0.0.0.0/0") ? "meta nfproto ipv4" : `ip ${addr} { ${v4.join(", ")} }`;
        lines.push(`${match} ${portMatch(r)} ${verdict} ${note}`);
    }
    if (v6.length > 0) {
        const match = v6.includes("::/0") ? "meta nfproto ipv6" : `ip6 ${addr} { ${v6.join(", ")} }`;
        lines.push(`${match} ${portMatch(r)} ${verdict} ${note}`);
    }
    return lines;
}

/** Origin of the built-in egress rule to the object store (rules.ts, builtinRules). */
const OBJECT_STORAGE_ORIGIN = "baseline object storage";

function serverRules(policy: SecurityPolicy, direction: "ingress" | "egress"): SecurityRule[] {
    // The server's log shipper (R13) writes to the object store too: its egress rule (the store's address,
    // objectStorageCidrs, else anywhere, on the endpoint's port) applies on the host as well, so a store on
    // a port other than 80/443 is reachable with restricted egress. An in-cluster store has no CIDR peer and
    // renders nothing here.
    return policy.rules.filter((r) => r.direction === direction && (r.sides.includes("server") || (direction === "egress" && r.origin === OBJECT_STORAGE_ORIGIN)));
}

const indent = (lines: string[], depth: number): string[] => lines.map((l) => `${"\t".repeat(depth)}${l}`);

/**
 * The server's nftables ruleset. Loading it with `nft -f` atomically replaces this program's table and
 * nothing else (never `flush ruleset`, which would delete Docker's rules).
 */
export function renderNftables(policy: SecurityPolicy): string {
    const restricted = policy.serverEgress === "restricted";
    const inRules = serverRules(policy, "ingress").flatMap(ruleLines);
    const outRules = serverRules(policy, "egress").flatMap(ruleLines);
    const drop = (what: string) => [`limit rate 10/minute log prefix "${NFT_TABLE} ${what} drop: "`, "drop"];
    const containerEgress = DOCKER_BRIDGES.flatMap((bridge) => [
        `iifname "${bridge}" oifname != "${DOCKER_BRIDGES[0]}" oifname != "${DOCKER_BRIDGES[1]}" ct state new jump security_group_out`,
        `iifname "${bridge}" oifname != "${DOCKER_BRIDGES[0]}" oifname != "${DOCKER_BRIDGES[1]}" ct state new drop`,
    ]);
    const lines = [
        "#!/usr/sbin/nft -f",
        "# Host firewall of the triton-platform server (R3, R6). Generated by Pulumi: local edits are overwritten.",
        "# Only this table is replaced; Docker's own tables are left alone (no `flush ruleset`).",
        `table inet ${NFT_TABLE}`,
        `delete table inet ${NFT_TABLE}`,
        `table inet ${NFT_TABLE} {`,
        "\t# The security group's ingress rules, lowest priority number first. Matching the conntrack original",
        "\t# destination port makes one chain serve both the host's ports and Docker-published ports.",
        "\tchain security_group_in {",
        ...indent(inRules, 2),
        "\t}",
        "",
        "\tchain security_group_out {",
        ...indent(outRules, 2),
        "\t}",
        "",
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        '\t\tiif "lo" accept',
        "\t\tct state invalid drop",
        "\t\tct state established,related accept",
        "\t\ticmp type { destination-unreachable, time-exceeded, parameter-problem, echo-request } accept",
        "\t\ticmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept",
        `\t\tudp sport 67 udp dport 68 accept ${comment("DHCPv4 client: losing the lease would lose the server")}`,
        `\t\tip6 saddr fe80::/10 udp sport 547 udp dport 546 accept ${comment("DHCPv6 client")}`,
        "\t\tjump security_group_in",
        ...indent(drop("in"), 2),
        "\t}",
        "",
        "\t# DOCKER-USER equivalent: runs before Docker's forward chains (priority filter - 1); a drop here is final.",
        "\tchain docker_user {",
        "\t\ttype filter hook forward priority filter - 1; policy accept;",
        "\t\tct state established,related accept",
        `\t\tct status dnat jump security_group_in ${comment("connections to Docker-published ports")}`,
        `\t\tct status dnat limit rate 10/minute log prefix "${NFT_TABLE} published drop: "`,
        "\t\tct status dnat drop",
        ...(restricted ? indent(containerEgress, 2) : []),
        "\t}",
        ...(restricted
            ? [
                  "",
                  "\tchain output {",
                  "\t\ttype filter hook output priority filter; policy drop;",
                  '\t\toif "lo" accept',
                  "\t\tct state invalid drop",
                  "\t\tct state established,related accept",
                  "\t\tmeta l4proto { icmp, ipv6-icmp } accept",
                  `\t\tudp sport 68 udp dport 67 accept ${comment("DHCPv4 client")}`,
                  `\t\tudp sport 546 udp dport 547 accept ${comment("DHCPv6 client")}`,
                  // The host's own connections to its containers (docker-proxy for ports published on
                  // 127.0.0.1, health checks, local scrapes) leave through Docker's bridges, not the uplink.
                  `\t\toifname "docker0" accept ${comment("host to its containers")}`,
                  `\t\toifname "br-*" accept ${comment("host to its containers")}`,
                  "\t\tjump security_group_out",
                  ...indent(drop("out"), 2),
                  "\t}",
              ]
            : []),
        "}",
        "",
    ];
    return lines.join("\n");
}

/** The CIDRs allowed to reach the server's SSH port by allow rules (used to refuse a self-lockout). */
export function sshSources(policy: SecurityPolicy): { v4: string[]; v6: string[] } {
    const port = policy.sshPort;
    if (port === undefined) {
        return { v4: [], v6: [] };
    }
    const cidrs = serverRules(policy, "ingress")
        .filter((r) => r.action === "allow" && r.protocol === "tcp" && r.port <= port && r.toPort >= port)
        .flatMap((r) => r.peers.filter(isCidrPeer).map((p) => p.cidr));
    return byFamily(cidrs);
}

/**
 * A throw-away table holding the SSH sources as interval sets: the firewall script loads it and asks
 * `nft get element` whether each connected SSH peer is inside, before it applies the real ruleset.
 */
export function renderSshCheckTable(policy: SecurityPolicy): string {
    const { v4, v6 } = sshSources(policy);
    const set = (name: string, type: string, elements: string[]) =>
        `\tset ${name} { type ${type}; flags interval; auto-merge;${elements.length > 0 ? ` elements = { ${elements.join(", ")} };` : ""} }`;
    return [
        `table inet ${NFT_CHECK_TABLE}`,
        `delete table inet ${NFT_CHECK_TABLE}`,
        `table inet ${NFT_CHECK_TABLE} {`,
        set("v4", "ipv4_addr", v4),
        set("v6", "ipv6_addr", v6),
        "}",
        "",
    ].join("\n");
}
