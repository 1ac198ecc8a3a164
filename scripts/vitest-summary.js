// The closing line of `npm test`, read by people and by CI: "vitest: N passed, N failed, N skipped".
//
// vitest's own counts miss two kinds of failure: a test file that fails to load (an import that throws,
// a failing beforeAll) has no failed test, and an unhandled error makes vitest exit 1 with every test
// passed. Both count here, so the line never says "0 failed" for a run that failed. A skipped or todo
// test is not a passed one: the line counts it apart and `failed()` treats it as a failure, so a part
// of the suite that did not run can never pass unnoticed.
//
//   node scripts/vitest-summary.js <vitest json report> <vitest exit status>
// prints the line (and one line per failed file) and exits 1 when the run did not pass.
"use strict";

const fs = require("fs");
const path = require("path");

/**
 * Counts a vitest JSON report (the jest-compatible shape of `--reporter=json`).
 * @param {object} report the parsed report, or undefined when vitest wrote none
 * @param {number} status vitest's exit status
 */
function summarize(report, status) {
    if (!report) {
        return {
            passed: 0,
            failed: 1,
            skipped: 0,
            problems: [`vitest wrote no report (exit status ${status}): it stopped before running the tests`],
        };
    }
    const problems = [];
    let fileFailures = 0;
    for (const file of report.testResults ?? []) {
        const failedTests = (file.assertionResults ?? []).filter((a) => a.status === "failed").length;
        if (file.status === "failed" && failedTests === 0) {
            // The file failed as a whole: it did not load, or a hook failed before its tests ran.
            fileFailures += 1;
            const reason = (file.message || "failed without a failed test").split("\n")[0];
            problems.push(`${path.relative(process.cwd(), file.name)}: ${reason}`);
        } else if (failedTests > 0) {
            problems.push(`${path.relative(process.cwd(), file.name)}: ${failedTests} failed test(s)`);
        }
    }
    let failed = (report.numFailedTests ?? 0) + fileFailures;
    const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    if (status !== 0 && failed === 0) {
        // Unhandled errors, or a threshold vitest enforces itself: the run failed although every test passed.
        failed = 1;
        problems.push(`vitest exited with status ${status} although no test failed (an unhandled error: see its output above)`);
    }
    if (skipped > 0) {
        problems.push(`${skipped} test(s) skipped or todo: a test that did not run is not a passed one`);
    }
    return { passed: report.numPassedTests ?? 0, failed, skipped, problems };
}

/** The run passed: nothing failed and nothing was left out. */
function passed(summary) {
    return summary.failed === 0 && summary.skipped === 0;
}

function line(summary) {
    return `vitest: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`;
}

module.exports = { summarize, passed, line };

if (require.main === module) {
    const [reportFile, statusText] = process.argv.slice(2);
    let report;
    try {
        report = JSON.parse(fs.readFileSync(reportFile, "utf8"));
    } catch {
        report = undefined;
    }
    const summary = summarize(report, Number(statusText ?? 1));
    for (const problem of summary.problems) console.log(`  - ${problem}`);
    console.log(line(summary));
    process.exit(passed(summary) ? 0 : 1);
}
