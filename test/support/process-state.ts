// Setup file of the unit project (vitest.config.mts). The unit project runs without isolation: the
// files of one worker share a process, so the SDKs load once per worker instead of once per file
// (the unit suite's wall time halves, docs/BENCHMARKS.md). What one file changes in that process
// must not reach the next file:
// - Pulumi's mock runtime and config: test/support/harness.ts resets both on every runMocked;
// - process.env and the working directory: restored here after every file, so a test that sets a
//   variable (TRITON_PLATFORM_NOW, HOME) and forgets to restore it cannot leak.
import { afterAll } from "vitest";

const env = { ...process.env };
const cwd = process.cwd();

afterAll(() => {
    for (const key of Object.keys(process.env)) {
        if (!(key in env)) {
            delete process.env[key];
        }
    }
    Object.assign(process.env, env);
    if (process.cwd() !== cwd) {
        process.chdir(cwd);
    }
});
