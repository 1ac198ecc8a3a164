// Waiting for something a test started: polls a probe until it returns a value, remembering the last
// error so a time-out says what went wrong instead of only that it took too long.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `probe` every `intervalMs` until it returns something other than undefined, and returns that.
 * After `seconds` it throws, naming `what`, the probe's last error and `diagnostics()` when given.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, seconds: number, diagnostics?: () => string, intervalMs = 500): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    let last: unknown;
    while (Date.now() < deadline) {
        try {
            const v = await probe();
            if (v !== undefined) {
                return v;
            }
        } catch (e) {
            last = e;
        }
        await sleep(intervalMs);
    }
    throw new Error(`gave up after ${seconds} s waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}${diagnostics ? `\n${diagnostics()}` : ""}`);
}
