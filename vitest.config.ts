import { defineConfig } from "vitest/config";

// Two projects: `unit` runs in seconds under Pulumi mocks and pure functions; `e2e` drives the real
// Pulumi engine, providers and local services and is slow. `npm test` runs both.
export default defineConfig({
    test: {
        projects: [
            {
                test: {
                    name: "unit",
                    include: ["test/unit/**/*.test.ts", "policies/test/**/*.test.ts"],
                    environment: "node",
                    // Pulumi mocks are process-global state: isolate each file in its own worker.
                    pool: "forks",
                    testTimeout: 30_000,
                },
            },
            {
                test: {
                    name: "e2e",
                    include: ["test/e2e/**/*.test.ts"],
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
