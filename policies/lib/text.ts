// Text analysis the secrets and server policies share: secret-looking literals, nftables/iptables
// rulesets, sshd directives and Docker-published ports. Pure functions over strings, unit-tested in
// policies/test/text.test.ts. Findings carry positions and keys, never the matched value, so no
// caller can put a secret into a message by accident.

/** Key names that denote a secret (`JWT_SECRET`, `apiKey`, `db-password`, `--token`). */
const SECRET_KEY = /(^|[^a-z])(pass(word|wd|phrase)?|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?|auth[-_]?key|client[-_]?secret|hmac[-_]?key|signing[-_]?key|encryption[-_]?key)($|[^a-z])/i;
/** Suffixes that turn such a key into a reference or a setting, not a secret (`PASSWORD_FILE`). */
const NOT_A_SECRET_SUFFIX = /[-_.]?(file|files|path|dir|name|names|url|uri|endpoint|header|ttl|length|days|seconds|id|ref|stdin|env|from|source|command|cmd|enabled|policy|authentication|mode|type|format|version|count|size)$/i;

/** Whether a key name (env var, flag, config key) names a secret. */
export function isSecretKey(key: string): boolean {
    return SECRET_KEY.test(key) && !NOT_A_SECRET_SUFFIX.test(key);
}

/** Values that are clearly not secrets: references, placeholders, booleans, paths, empty. */
export function isLiteralSecretValue(raw: string): boolean {
    const v = raw.trim().replace(/^["']|["']$/g, "");
    if (v.length < 4) {
        return false;
    }
    if (/^(\$|\{\{|<|%|@)/.test(v)) {
        return false; // $VAR, ${VAR}, $(cmd), {{template}}, <placeholder>, %s, @file
    }
    if (/^(\/|\.\/|file:|secret:|ref\+|vault:|awskms:|gcpkms:|azurekeyvault:)/i.test(v)) {
        return false; // a path or a secret-store reference
    }
    if (/^(true|false|yes|no|none|null|nil|required|optional|redacted|\*+)$/i.test(v)) {
        return false;
    }
    return true;
}

/** Well-known credential formats, found anywhere in a text. */
const TOKEN_PATTERNS: { kind: string; re: RegExp }[] = [
    { kind: "a PEM private key", re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/ },
    { kind: "an AWS access key id", re: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
    { kind: "a JSON Web Token", re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/ },
    { kind: "a GitHub token", re: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b/ },
    { kind: "a Slack token", re: /\bxox[abprs]-[A-Za-z0-9-]{10,}/ },
    { kind: "a Google API key", re: /\bAIza[0-9A-Za-z_-]{35}\b/ },
    { kind: "a bearer token", re: /\bBearer\s+[A-Za-z0-9._~+/-]{20,}=*/ },
    { kind: "credentials in a URL", re: /[a-z][a-z0-9+.-]*:\/\/[^/\s:@$]+:[^/\s@$][^/\s@]*@/i },
];

/** One secret-looking literal: what it looks like and under which key, never its value. */
export interface SecretFinding {
    /** e.g. `a literal value for key "JWT_SECRET"` or `a PEM private key`. */
    what: string;
}

/** Credential formats found in a text. */
export function findTokens(text: string): SecretFinding[] {
    return TOKEN_PATTERNS.filter((p) => p.re.test(text)).map((p) => ({ what: p.kind }));
}

/** Strips one pair of surrounding quotes. */
function unquote(s: string): string {
    return s.replace(/^"(.*)"$/s, "$1").replace(/^'(.*)'$/s, "$1");
}

/**
 * Secret-looking literals in free text: credential formats, `KEY=value` / `key: value` assignments
 * and `--flag value` / `--flag=value` options whose key names a secret and whose value is a
 * literal (not `$VAR`, `${VAR}`, `$(cmd)`, a path or a placeholder).
 */
export function findSecretLiterals(text: string): SecretFinding[] {
    const out: SecretFinding[] = findTokens(text);
    const seen = new Set<string>();
    const add = (key: string, value: string) => {
        if (isSecretKey(key) && isLiteralSecretValue(unquote(value)) && !seen.has(key)) {
            seen.add(key);
            out.push({ what: `a literal value for ${key.startsWith("-") ? "option" : "key"} "${key}"` });
        }
    };
    // KEY=value, export KEY=value, key: value, "key": "value"
    const assignment = /(?:^|[\s;&|'"(,{:?/])(?:export\s+)?["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?[ \t]*(?:=|:[ \t])[ \t]*("[^"\n]*"|'[^'\n]*'|[^\s'";&|)}\],]+)/gm;
    for (const m of text.matchAll(assignment)) {
        add(m[1], m[2]);
    }
    // --flag=value, --flag value
    const option = /(?:^|\s)(--[A-Za-z][A-Za-z0-9-]*)(?:=|[ \t]+)("[^"\n]*"|'[^'\n]*'|[^\s'";&|)-][^\s'";&|)]*)/gm;
    for (const m of text.matchAll(option)) {
        add(m[1], m[2]);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Firewall rulesets (server policies)
// ---------------------------------------------------------------------------------------------

/** A port or port range a firewall rule accepts. */
export interface PortRange {
    from: number;
    to: number;
}

const SERVICE_PORTS: Record<string, number> = { ssh: 22, http: 80, https: 443 };

function parsePortList(spec: string): PortRange[] | undefined {
    const items = spec.replace(/[{}]/g, " ").split(/[\s,]+/).filter(Boolean);
    const out: PortRange[] = [];
    for (const item of items) {
        const range = /^(\d+)[-:](\d+)$/.exec(item);
        if (range) {
            out.push({ from: Number(range[1]), to: Number(range[2]) });
        } else if (/^\d+$/.test(item)) {
            out.push({ from: Number(item), to: Number(item) });
        } else if (SERVICE_PORTS[item] !== undefined) {
            out.push({ from: SERVICE_PORTS[item], to: SERVICE_PORTS[item] });
        } else {
            return undefined;
        }
    }
    return out;
}

/** One nftables chain: its name, body, and base-chain hook/priority/policy when it has them. */
export interface NftChain {
    name: string;
    body: string;
    hook?: string;
    priority?: string;
    policy?: string;
}

/** Removes `comment "..."` clauses, so words inside comments never look like verdicts. */
function stripComments(s: string): string {
    return s.replace(/\bcomment\s+"[^"]*"/g, "").replace(/#[^\n]*/g, "");
}

/** Every nftables `chain <name> { ... }` block (braces balanced), with its base-chain header parsed. */
export function nftChains(text: string): NftChain[] {
    const clean = stripComments(text);
    const out: NftChain[] = [];
    for (const m of clean.matchAll(/\bchain\s+("?[\w-]+"?)\s*\{/g)) {
        let depth = 1;
        let i = (m.index ?? 0) + m[0].length;
        const start = i;
        for (; i < clean.length && depth > 0; i++) {
            if (clean[i] === "{") depth++;
            else if (clean[i] === "}") depth--;
        }
        const body = clean.slice(start, i - 1);
        const header = /\btype\s+\w+\s+hook\s+(\w+)\s+(?:device\s+\S+\s+)?priority\s+([^;]+);\s*(?:policy\s+(\w+)\s*;)?/.exec(body);
        out.push({
            name: m[1].replace(/"/g, ""),
            body,
            hook: header?.[1],
            priority: header?.[2].trim(),
            policy: header?.[3],
        });
    }
    return out;
}

/** A statement with its quoted strings emptied (log prefixes and names never read as verdicts). */
function unquoted(s: string): string {
    return s.replace(/"[^"]*"/g, '""');
}

/** Statements of a chain body (sets kept on one line). */
function statements(body: string): string[] {
    const flat = body.replace(/\{[^{}]*\}/g, (set) => set.replace(/[\n;]/g, " "));
    return flat
        .split(/[\n;]/)
        .map((x) => x.trim())
        .filter((x) => x && !/^type\s+\w+\s+hook\b/.test(x) && !/^policy\s+\w+$/.test(x));
}

/** Whether a base chain's priority runs before the standard `filter` priority (0). */
function beforeFilter(priority: string | undefined): boolean {
    if (!priority) return false;
    const p = priority.replace(/\s+/g, "");
    return /^filter-\d+$/.test(p) || /^-\d+$/.test(p) || /^(raw|mangle|dstnat)([+-]\d+)?$/.test(p);
}

/** Whether the text sets a default-drop policy on inbound traffic (nftables input hook or iptables -P INPUT DROP). */
export function hasInboundDefaultDrop(text: string): boolean {
    const nft = nftChains(text).some((c) => c.hook === "input" && c.policy === "drop");
    const iptables = /\biptables(?:-legacy|-nft)?\s+(?:-w\s+)?-P\s+INPUT\s+DROP\b/.test(text) || /^:INPUT\s+DROP\b/m.test(text);
    return nft || iptables;
}

/** Whether any text holds an nftables or iptables ruleset at all. */
export function hasFirewallRuleset(text: string): boolean {
    return nftChains(text).length > 0 || /\biptables(?:-legacy|-nft)?\s+(?:-w\s+)?-[APIN]\s|^\*filter\b/m.test(text);
}

/** A port (or all ports) a firewall accepts inbound. */
export interface AcceptedPort {
    protocol: "tcp" | "udp" | "any";
    /** The range; `all` for an accept without a port match; `unparsed` for a port expression not understood (named sets, variables). */
    range: PortRange | "all" | "unparsed";
}

function protocolsOf(stmt: string): ("tcp" | "udp" | "any")[] {
    const direct = /\b(tcp|udp)\s+dport\b/.exec(stmt);
    if (direct) return [direct[1] as "tcp" | "udp"];
    const l4 = /\b(?:meta\s+l4proto|ip\s+protocol|ip6\s+nexthdr)\s+(\{[^}]*\}|\w+)/.exec(stmt);
    if (l4) {
        const names = l4[1].replace(/[{}]/g, " ").split(/[\s,]+/).filter(Boolean);
        const known = names.filter((n): n is "tcp" | "udp" => n === "tcp" || n === "udp");
        return known.length > 0 ? known : [];
    }
    return ["any"];
}

/** Accept statements that open no port to new inbound traffic: loopback, replies, ICMP. */
function harmlessAccept(stmt: string): boolean {
    return (
        /\bct\s+state\s+[\w,{} ]*\b(established|related)\b/.test(stmt) && !/\bnew\b/.test(stmt)
    ) || /\biif(name)?\s+"?lo"?\b/.test(stmt) || /\b(icmp|icmpv6)\s+type\b/.test(stmt) || /\bmeta\s+l4proto\s+(\{\s*icmp\s*,\s*ipv6-icmp\s*\}|icmp|ipv6-icmp)\b/.test(stmt);
}

/**
 * Ports the firewall accepts inbound. nftables: every `accept` statement of the chains hooked on
 * input and of the chains they `jump`/`goto` to, of a chain named DOCKER-USER, and of statements
 * matching `ct status dnat` in forward chains that run before `filter` (and their jump targets).
 * The port comes from `tcp|udp|th dport <spec>` or `ct original proto-dst <spec>`; an accept with
 * neither (and not loopback, replies or ICMP) opens every port. iptables: `-A/-I INPUT ... --dport N
 * -j ACCEPT` and `-A/-I DOCKER-USER ... --ctorigdstport N -j ACCEPT`.
 */
export function acceptedInboundPorts(text: string): AcceptedPort[] {
    const chains = nftChains(text);
    const byName = new Map<string, NftChain[]>();
    for (const c of chains) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
    const inbound: string[] = [];
    const visited = new Set<string>();
    const visit = (name: string) => {
        if (visited.has(name)) return;
        visited.add(name);
        for (const c of byName.get(name) ?? []) {
            inbound.push(...statements(c.body));
            for (const s of statements(c.body)) {
                const j = /\b(?:jump|goto)\s+([\w-]+)/.exec(s);
                if (j) visit(j[1]);
            }
        }
    };
    for (const c of chains) {
        if (c.hook === "input" || c.name === "DOCKER-USER") {
            visit(c.name);
        } else if (c.hook === "forward" && beforeFilter(c.priority)) {
            for (const s of statements(c.body).filter((x) => /\bct\s+status\s+dnat\b/.test(x))) {
                inbound.push(s);
                const j = /\b(?:jump|goto)\s+([\w-]+)/.exec(s);
                if (j) visit(j[1]);
            }
        }
    }
    const out: AcceptedPort[] = [];
    for (const s of inbound) {
        if (!/\baccept\b/.test(unquoted(s))) continue;
        const port = /\b(?:tcp|udp|th)\s+dport\s+(\{[^}]*\}|\S+)/.exec(s) ?? /\bct\s+original\s+proto-dst\s+(\{[^}]*\}|\S+)/.exec(s);
        const protocols = protocolsOf(s);
        if (!port) {
            if (!harmlessAccept(s)) out.push(...protocols.map((protocol) => ({ protocol, range: "all" as const })));
            continue;
        }
        const ranges = parsePortList(port[1]);
        for (const protocol of protocols) {
            if (ranges) out.push(...ranges.map((range) => ({ protocol, range })));
            else out.push({ protocol, range: "unparsed" });
        }
    }
    for (const line of text.replace(/\\\n/g, " ").split("\n")) {
        const rule = /(?:-A|-I|--append|--insert)\s+(INPUT|DOCKER-USER)\b(.*)-j\s+ACCEPT\b/.exec(line);
        if (!rule) continue;
        const proto = /-p\s+(tcp|udp)\b/.exec(rule[2])?.[1] as "tcp" | "udp" | undefined;
        const opt = rule[1] === "INPUT" ? /--dports?\s+(\S+)/.exec(rule[2]) : /--ctorigdstport\s+(\S+)/.exec(rule[2]);
        if (!opt) {
            if (!/-i\s+lo\b|--ctstate\s+(ESTABLISHED|RELATED)|--state\s+(ESTABLISHED|RELATED)|-p\s+icmp/.test(rule[2])) {
                out.push({ protocol: proto ?? "any", range: "all" });
            }
            continue;
        }
        const ranges = parsePortList(opt[1].replace(/:/g, "-"));
        if (ranges) out.push(...ranges.map((range) => ({ protocol: proto ?? ("any" as const), range })));
        else out.push({ protocol: proto ?? "any", range: "unparsed" });
    }
    return out;
}

/**
 * Whether Docker-published ports are filtered: a DOCKER-USER chain (nftables or iptables) that drops
 * or rejects, or an nftables base chain on the forward hook that runs before `filter` (Docker's
 * chains) and drops DNATed connections (`ct status dnat ... drop`, or `policy drop`).
 */
export function hasPublishedPortFilter(text: string): boolean {
    const chains = nftChains(text);
    const dockerUser = chains.some((c) => c.name === "DOCKER-USER" && /\b(drop|reject)\b/.test(unquoted(c.body)));
    const earlyForward = chains.some(
        (c) =>
            c.hook === "forward" &&
            beforeFilter(c.priority) &&
            (c.policy === "drop" || statements(c.body).some((s) => /\bct\s+status\s+dnat\b/.test(s) && /\b(drop|reject)\b/.test(unquoted(s)))),
    );
    const iptables = /(?:-A|-I|--append|--insert)\s+DOCKER-USER\b[^\n]*-j\s+(DROP|REJECT)\b/.test(text.replace(/\\\n/g, " "));
    return dockerUser || earlyForward || iptables;
}

/** A port published by `docker run -p` or a compose `ports:` entry. */
export interface PublishedPort {
    /** Host port; undefined when Docker picks one (`-p 8000`). */
    hostPort: number | undefined;
    /** Bound to 127.0.0.1 / ::1 only: unreachable from outside, no firewall rule needed. */
    loopback: boolean;
}

/** Whether a Docker port binding address (`-p <ip>:...`, a container's `ports[].ip`) is loopback only. */
export function isLoopbackAddress(ip: string): boolean {
    return /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(ip);
}

function parsePublishSpec(spec: string): PublishedPort | undefined {
    const s = spec.replace(/^["']|["']$/g, "").replace(/\/(tcp|udp|sctp)$/, "");
    const ipv6 = /^\[([^\]]+)\]:(\d*):(\d+(?:-\d+)?)$/.exec(s);
    if (ipv6) {
        return { hostPort: ipv6[2] ? Number(ipv6[2]) : undefined, loopback: isLoopbackAddress(ipv6[1]) };
    }
    const parts = s.split(":");
    if (parts.length === 1 && /^\d+(-\d+)?$/.test(parts[0])) {
        return { hostPort: undefined, loopback: false };
    }
    if (parts.length === 2 && /^\d+$/.test(parts[0])) {
        return { hostPort: Number(parts[0]), loopback: false };
    }
    if (parts.length === 3) {
        return { hostPort: parts[1] ? Number(parts[1]) : undefined, loopback: isLoopbackAddress(parts[0]) };
    }
    return undefined;
}

/** Ports published by `docker run`/`docker create` commands and compose `ports:` lists in a text. */
export function dockerPublishedPorts(text: string): PublishedPort[] {
    const out: PublishedPort[] = [];
    const joined = text.replace(/\\\r?\n/g, " ");
    for (const line of joined.split("\n")) {
        if (!/\bdocker\s+(?:container\s+)?(?:run|create)\b/.test(line)) {
            continue;
        }
        const tokens = line.split(/\s+/).filter(Boolean);
        for (let i = 0; i < tokens.length; i++) {
            const t = tokens[i];
            let spec: string | undefined;
            if (t === "-p" || t === "--publish") {
                spec = tokens[i + 1];
            } else if (t.startsWith("--publish=")) {
                spec = t.slice("--publish=".length);
            } else if (/^-p\d/.test(t)) {
                spec = t.slice(2);
            }
            const parsed = spec ? parsePublishSpec(spec) : undefined;
            if (parsed) {
                out.push(parsed);
            }
        }
    }
    if (/^\s*services\s*:/m.test(text)) {
        const block = /^([ \t]*)ports[ \t]*:[ \t]*\n((?:\1[ \t]+-[ \t]*.*\n?)+)/gm;
        for (const m of text.matchAll(block)) {
            for (const entry of m[2].split("\n")) {
                const e = /-\s*["']?([^"'\s]+)["']?/.exec(entry);
                const parsed = e ? parsePublishSpec(e[1]) : undefined;
                if (parsed) {
                    out.push(parsed);
                }
            }
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// sshd
// ---------------------------------------------------------------------------------------------

/**
 * Values an sshd directive is set to anywhere in the text (config files written by heredoc, echo,
 * tee or sed replacements), lower-cased. Commented-out directives (`#PermitRootLogin yes`) do not count.
 */
export function sshdDirectiveValues(text: string, directive: string): string[] {
    // The search side of a sed substitution (`s/^PermitRootLogin yes/.../`) is what gets replaced.
    const withoutSedPatterns = text.replace(/\bs([/|#,])((?:\\.|(?!\1)[^\n])*)\1/g, "s$1$1");
    const re = new RegExp(`(#[ \\t]*)?\\b${directive}[ \\t]+([A-Za-z-]+)`, "gi");
    const out: string[] = [];
    for (const m of withoutSedPatterns.matchAll(re)) {
        if (!m[1]) {
            out.push(m[2].toLowerCase());
        }
    }
    return out;
}
