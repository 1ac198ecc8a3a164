// CIDR arithmetic for rule validation and rendering. Prefix blocks either nest or are disjoint, which
// is what makes deny-rule subtraction (`ipBlock.except`) exact without general interval algebra.
import { isCidr } from "../../kit/schema";

/** A parsed CIDR block. */
export interface Block {
    family: 4 | 6;
    /** Network address as an unsigned integer (host bits cleared). */
    network: bigint;
    prefix: number;
    /** Canonical text form (host bits cleared, IPv6 lower-case and compressed). */
    text: string;
}

const BITS = { 4: 32, 6: 128 } as const;

/** The IPv4 and IPv6 "anywhere" blocks a rule without peers stands for. */
export const ANYWHERE = ["0.0.0.0/0", "::/0"] as const;

function parseV4(addr: string): bigint {
    return addr.split(".").reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function parseV6(addr: string): bigint | undefined {
    const halves = addr.split("::");
    if (halves.length > 2) {
        return undefined;
    }
    const head = halves[0] ? halves[0].split(":") : [];
    const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
    const missing = 8 - head.length - tail.length;
    if ((halves.length === 1 && missing !== 0) || missing < 0) {
        return undefined;
    }
    const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
    if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) {
        return undefined;
    }
    return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function formatV4(n: bigint): string {
    return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join(".");
}

function formatV6(n: bigint): string {
    const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt((7 - i) * 16)) & 0xffffn));
    // Compress the longest run of zero groups (RFC 5952).
    let best = { start: -1, len: 0 };
    for (let i = 0; i < 8; ) {
        if (groups[i] !== 0) {
            i++;
            continue;
        }
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i > best.len && j - i > 1) best = { start: i, len: j - i };
        i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (best.start < 0) {
        return hex.join(":");
    }
    return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.len).join(":")}`;
}

function mask(family: 4 | 6, prefix: number): bigint {
    const bits = BITS[family];
    return prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
}

/**
 * Parses a CIDR. Returns undefined when it is not one, and `hostBits: true` when the address has bits
 * set beyond the prefix (10.0.0.1/8): such a block is ambiguous, nft and some CNIs read it differently.
 */
export function parseCidr(value: string): (Block & { hostBits: boolean }) | undefined {
    if (!isCidr(value)) {
        return undefined;
    }
    const [addr, bits] = value.split("/");
    const family: 4 | 6 = addr.includes(":") ? 6 : 4;
    const raw = family === 4 ? parseV4(addr) : parseV6(addr);
    if (raw === undefined) {
        return undefined;
    }
    const prefix = Number(bits);
    const network = raw & mask(family, prefix);
    const text = `${family === 4 ? formatV4(network) : formatV6(network)}/${prefix}`;
    return { family, network, prefix, text, hostBits: network !== raw };
}

/** Parses a CIDR that is known to be valid (validated earlier); throws otherwise. */
export function block(value: string): Block {
    const b = parseCidr(value);
    if (!b) {
        throw new Error(`not a CIDR block: ${value}`);
    }
    return b;
}

/** True when `outer` contains every address of `inner`. */
export function contains(outer: Block, inner: Block): boolean {
    return outer.family === inner.family && outer.prefix <= inner.prefix && (inner.network & mask(outer.family, outer.prefix)) === outer.network;
}

/** True when two blocks share at least one address (for prefixes: one contains the other). */
export function overlaps(a: Block, b: Block): boolean {
    return contains(a, b) || contains(b, a);
}

/** Splits CIDRs by address family, canonical form, in the given order without duplicates. */
export function byFamily(cidrs: readonly string[]): { v4: string[]; v6: string[] } {
    const v4: string[] = [];
    const v6: string[] = [];
    for (const c of cidrs) {
        const b = block(c);
        const list = b.family === 4 ? v4 : v6;
        if (!list.includes(b.text)) list.push(b.text);
    }
    return { v4, v6 };
}
