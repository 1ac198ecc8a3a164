// The closing line of `npm test` (scripts/vitest-summary.js): a fresh machine once printed
// "853 passed, 0 failed, 1 skipped" for a run that failed, because a test file that failed to load had no
// failed test. The line and the exit status must never disagree.
import { describe, expect, it } from "vitest";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const summary = require("../../scripts/vitest-summary.js") as {
    summarize(report: unknown, status: number): { passed: number; failed: number; skipped: number; problems: string[] };
    passed(s: { failed: number; skipped: number }): boolean;
    line(s: { passed: number; failed: number; skipped: number }): string;
};

const file = (name: string, status: string, tests: string[], message = "") => ({
    name,
    status,
    message,
    assertionResults: tests.map((s) => ({ status: s })),
});

describe("npm test's closing line", () => {
    it("counts a test file that failed to load as a failure", () => {
        const report = {
            numPassedTests: 853,
            numFailedTests: 0,
            numPendingTests: 0,
            numTodoTests: 0,
            testResults: [
                file("test/unit/a.test.ts", "passed", ["passed", "passed"]),
                file("test/unit/server-logsink-store.test.ts", "failed", [], "Error: minio is missing: run scripts/install-logsink-tools.sh all\n    at tool"),
            ],
        };
        const s = summary.summarize(report, 1);
        expect(summary.line(s)).toBe("vitest: 853 passed, 1 failed, 0 skipped");
        expect(summary.passed(s)).toBe(false);
        expect(s.problems).toEqual(["test/unit/server-logsink-store.test.ts: Error: minio is missing: run scripts/install-logsink-tools.sh all"]);
    });

    it("counts failed tests once, not again as a failed file", () => {
        const report = {
            numPassedTests: 1,
            numFailedTests: 2,
            testResults: [file("b.test.ts", "failed", ["passed", "failed", "failed"])],
        };
        expect(summary.line(summary.summarize(report, 1))).toBe("vitest: 1 passed, 2 failed, 0 skipped");
    });

    it("never reports 0 failed when vitest exited non-zero (unhandled errors)", () => {
        const s = summary.summarize({ numPassedTests: 10, numFailedTests: 0, testResults: [file("c.test.ts", "passed", ["passed"])] }, 1);
        expect(s.failed).toBe(1);
        expect(summary.passed(s)).toBe(false);
    });

    it("does not count a skipped or todo test as passed, and fails the run for it", () => {
        const s = summary.summarize({ numPassedTests: 5, numFailedTests: 0, numPendingTests: 1, numTodoTests: 1, testResults: [] }, 0);
        expect(summary.line(s)).toBe("vitest: 5 passed, 0 failed, 2 skipped");
        expect(summary.passed(s)).toBe(false);
    });

    it("fails when vitest wrote no report at all", () => {
        const s = summary.summarize(undefined, 1);
        expect(summary.line(s)).toBe("vitest: 0 passed, 1 failed, 0 skipped");
        expect(summary.passed(s)).toBe(false);
    });

    it("passes a clean run", () => {
        const s = summary.summarize({ numPassedTests: 3, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, testResults: [file("d.test.ts", "passed", ["passed"])] }, 0);
        expect(summary.passed(s)).toBe(true);
        expect(summary.line(s)).toBe("vitest: 3 passed, 0 failed, 0 skipped");
    });
});
