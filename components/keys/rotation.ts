// Deterministic key rotation (R5): time is cut into fixed windows of `rotationDays` days counted from the
// Unix epoch. The window's number is a keeper of every generated key, so the first `pulumi up` in a new
// window replaces them, and a preview shows it. No state, no scheduler: the date decides.
import type { KeysSettings } from "./schema";

export const DAY_MS = 86_400_000;
/** Environment variable that fixes "now" (ISO 8601) for tests and end-to-end runs. */
export const NOW_ENV = "TRITON_PLATFORM_NOW";

/** The rotation window a key generated at `now` belongs to. */
export interface RotationWindow {
    /** floor(epochDays / rotationDays): changes exactly when keys must rotate. */
    period: number;
    /** First instant of the window (ISO 8601, UTC). */
    startsAt: string;
    /** First instant of the next window: the keys are replaced by the first `pulumi up` from then on. */
    expiresAt: string;
    /** Keepers of every generated key: a change of any value generates new keys. */
    keepers: Record<string, string>;
}

/** The clock: an explicit `now`, else TRITON_PLATFORM_NOW, else the system time. */
export function resolveNow(now?: Date, env: NodeJS.ProcessEnv = process.env): Date {
    if (now) {
        return now;
    }
    const fixed = env[NOW_ENV];
    if (fixed !== undefined && fixed !== "") {
        const parsed = new Date(fixed);
        if (Number.isNaN(parsed.getTime())) {
            throw new Error(`${NOW_ENV}="${fixed}" is not a date: use ISO 8601, e.g. 2026-01-31T00:00:00Z`);
        }
        return parsed;
    }
    return new Date();
}

/** The rotation window of `now` for the given settings. */
export function rotationWindow(now: Date, settings: Pick<KeysSettings, "rotationDays" | "generation">): RotationWindow {
    const epochDays = Math.floor(now.getTime() / DAY_MS);
    const period = Math.floor(epochDays / settings.rotationDays);
    const start = period * settings.rotationDays * DAY_MS;
    return {
        period,
        startsAt: new Date(start).toISOString(),
        expiresAt: new Date(start + settings.rotationDays * DAY_MS).toISOString(),
        keepers: {
            rotationDays: String(settings.rotationDays),
            rotationPeriod: String(period),
            generation: String(settings.generation),
        },
    };
}

/** The two JWT secret slots: `a` holds the key of even rotation periods, `b` of odd ones. */
export type JwtSlot = "a" | "b";

/**
 * The JWT secret's rotation without an outage. Two random resources alternate: the slot of the current
 * period's parity holds the signing secret (its keepers carry the current period, so the first `up` of
 * a new window replaces it); the other slot keeps the previous period's secret untouched (its keepers
 * still carry that period). The gateway accepts the previous secret until `previousAcceptedUntil`:
 * the window's start plus `previousKeyOverlapSeconds`. Tokens minted before the rotation keep working
 * during the overlap; after it, only the new secret verifies.
 */
export interface JwtRotation {
    /** Slot whose secret signs (and verifies) now. */
    signing: JwtSlot;
    /** Slot whose secret is accepted until previousAcceptedUntil. */
    previous: JwtSlot;
    /** Keepers of each slot's random resource. */
    keepers: Record<JwtSlot, Record<string, string>>;
    /** End of the overlap (ISO 8601, UTC); equals the window start when the overlap is 0. */
    previousAcceptedUntil: string;
    /** The same instant in Unix seconds (written into haproxy.cfg). */
    previousAcceptedUntilEpoch: number;
}

/** The JWT rotation of `now` for the given settings. Pure: tests call it directly. */
export function jwtRotation(
    now: Date,
    settings: Pick<KeysSettings, "rotationDays" | "generation"> & { jwt: Pick<KeysSettings["jwt"], "previousKeyOverlapSeconds"> },
): JwtRotation {
    const window = rotationWindow(now, settings);
    const n = window.period;
    const periodOf = (slot: JwtSlot) => (slot === (n % 2 === 0 ? "a" : "b") ? n : n - 1);
    // The same keepers as every other key, with the slot's own period: slot a of an even period is the
    // historic single `jwt-secret` resource, so upgrading in an even period keeps its secret.
    const keepersOf = (slot: JwtSlot) => ({ ...window.keepers, rotationPeriod: String(periodOf(slot)) });
    const signing: JwtSlot = n % 2 === 0 ? "a" : "b";
    const until = Date.parse(window.startsAt) + settings.jwt.previousKeyOverlapSeconds * 1000;
    return {
        signing,
        previous: signing === "a" ? "b" : "a",
        keepers: { a: keepersOf("a"), b: keepersOf("b") },
        previousAcceptedUntil: new Date(until).toISOString(),
        previousAcceptedUntilEpoch: Math.floor(until / 1000),
    };
}
