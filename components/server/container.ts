// Containers on the host, whatever runs in them: the settings Docker reads back as declared (durations,
// capabilities, memory), the container user, and the endpoint the host serves on.
import type { ServerSettings } from "./schema";

/** A `uid:gid` pair (`server.modelContainerUser`) as numbers. */
export function parseContainerUser(user: string): { uid: number; gid: number } {
    const m = /^(\d+):(\d+)$/.exec(user);
    if (!m) {
        throw new Error(`container user "${user}" is not \`uid:gid\` in numbers`);
    }
    return { uid: Number(m[1]), gid: Number(m[2]) };
}

/**
 * A duration as Docker reports it back (Go's time.Duration): 45 s is `45s`, 120 s is `2m0s`, an hour
 * `1h0m0s`. Written the way Docker reads it back, a healthcheck's durations show no drift on refresh.
 */
export function goDuration(seconds: number): string {
    if (!Number.isInteger(seconds) || seconds < 0) {
        throw new Error(`expected a whole number of seconds, got ${seconds}`);
    }
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

/**
 * Capabilities as Docker stores them (since 20.10 it adds the `CAP_` prefix; `ALL` stays as it is), so a
 * refresh reads back what was declared.
 */
export function dockerCapabilities(c: { drops?: readonly string[]; adds?: readonly string[] }): { drops?: string[]; adds?: string[] } {
    const canonical = (cap: string) => (cap === "ALL" || cap.startsWith("CAP_") ? cap : `CAP_${cap}`);
    return {
        ...(c.drops ? { drops: c.drops.map(canonical) } : {}),
        ...(c.adds ? { adds: c.adds.map(canonical) } : {}),
    };
}

/**
 * Memory limit of a container in MiB, with swap off: `memorySwap` equal to `memory` (Docker's default
 * would let the container swap as much again, and reports that as a value the program never set).
 */
export function memoryLimitMiB(mib: number): { memory: number; memorySwap: number } {
    return { memory: mib, memorySwap: mib };
}

/** The endpoint collaboration platforms use (R8: the domain when set). */
export function serverEndpoint(settings: Pick<ServerSettings, "host" | "domain">, servicePort: number): string {
    const host = settings.domain ?? settings.host;
    return `http://${host.includes(":") ? `[${host}]` : host}:${servicePort}`;
}
