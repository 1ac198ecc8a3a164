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
