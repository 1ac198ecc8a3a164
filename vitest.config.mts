import { defineConfig } from "vitest/config";

// Test tiers, by what they need (README, "Tests"):
// - `unit`: pure functions and whole programs under Pulumi mocks. Node and npm packages only: no system
//   tools, no root; seconds on a fresh clone after `npm ci`.
// - `integration`: the generated artefacts read by the real tools that consume them (haproxy, nft in a
//   network namespace, promtool, amtool, shellcheck, sshd -t, the OpenTelemetry Collector, MinIO).
// - `e2e`: the real Pulumi engine, providers and local services; `e2e-server` bootstraps a real SSH +
//   Docker host.
// `npm test` runs them all, after scripts/test.sh installed what each needs.
export default defineConfig({
    test: {
        // vitest's default is cores - 1 workers: one on a 2-core machine, so the files ran one after
        // another (docs/BENCHMARKS.md, section 5). Two workers keep both cores busy.
        maxWorkers: 2,
        projects: [
            {
                test: {
                    name: "unit",
                    sequence: { groupOrder: 0 },
                    include: ["test/unit/**/*.test.ts", "policies/test/**/*.test.ts"],
                    environment: "node",
                    pool: "forks",
                    // Files share their worker's process, so @pulumi/pulumi, @pulumi/kubernetes and zod
                    // load once per worker, not once per file (docs/BENCHMARKS.md, section 5). Process
                    // state does not leak between files: runMocked resets Pulumi's mocks and config on
                    // every run, and the setup file restores process.env and the working directory.
                    isolate: false,
                    setupFiles: ["test/support/process-state.ts"],
                    testTimeout: 30_000,
                    // Hooks run whole programs under mocks (blue-green: two per file); on a loaded machine they outlast
                    // vitest's 10 s hook default.
                    hookTimeout: 30_000,
                },
            },
            {
                test: {
                    name: "integration",
                    // Projects run one group after another: the integration suite's real haproxy and the
                    // e2e suite's must never share the machine's loopback ports (haproxy binds with
                    // SO_REUSEPORT, so a clash splits traffic silently instead of failing).
                    sequence: { groupOrder: 1 },
                    include: ["test/integration/**/*.test.ts"],
                    environment: "node",
                    pool: "forks",
                    isolate: false,
                    setupFiles: ["test/support/process-state.ts"],
                    testTimeout: 60_000,
                },
            },
            {
                test: {
                    name: "e2e",
                    sequence: { groupOrder: 2 },
                    include: ["test/e2e/**/*.test.ts"],
                    exclude: ["test/e2e/server*.test.ts"],
                    environment: "node",
                    pool: "forks",
                    fileParallelism: false,
                    testTimeout: 20 * 60_000,
                    hookTimeout: 40 * 60_000,
                },
            },
            {
                // The lightweight server for real (SSH + Docker in a network namespace), with the command
                // and docker provider plugins that scripts/toolchain.sh builds from their release sources.
                test: {
                    name: "e2e-server",
                    sequence: { groupOrder: 3 },
                    include: ["test/e2e/server*.test.ts"],
                    environment: "node",
                    pool: "forks",
                    fileParallelism: false,
                    testTimeout: 20 * 60_000,
                    hookTimeout: 40 * 60_000,
                },
            },
        ],
    },
});
