// The dialogue service's own alert (DialogueErrorRateHigh), checked and unit-tested by promtool: it
// fires when more than the R14 error rate of a route's messages fail on the service side, and stays
// silent below it and for refused messages (the caller's errors: bad signatures, stale timestamps).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { dialogueAlertGroup } from "../../components/dialogue";
import { runPromtool } from "../support/promtool";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Per-minute counts of dialogue_requests_total, by code, for route websocket in namespace triton. */
function series(perMinute: Record<string, number>) {
    return Object.entries(perMinute).map(([code, n]) => ({
        series: `dialogue_requests_total{namespace="triton",route="websocket",platform="dingtalk",code="${code}"}`,
        values: `0+${n}x30`,
    }));
}

function run(threshold: number, scenarios: { name: string; perMinute: Record<string, number>; fires: boolean }[]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dialogue-rules-"));
    dirs.push(dir);
    const group = dialogueAlertGroup(threshold, "triton");
    fs.writeFileSync(path.join(dir, "rules.yaml"), JSON.stringify({ groups: [group] }));
    const rule = group.rules[0];
    const tests = {
        rule_files: ["rules.yaml"],
        evaluation_interval: "1m",
        tests: scenarios.map((s) => ({
            interval: "1m",
            input_series: series(s.perMinute),
            alert_rule_test: [
                {
                    eval_time: "20m",
                    alertname: rule.alert,
                    exp_alerts: s.fires
                        ? [
                              {
                                  exp_labels: { route: "websocket", ...rule.labels },
                                  exp_annotations: { ...rule.annotations, summary: rule.annotations.summary.replace("{{ $labels.route }}", "websocket") },
                              },
                          ]
                        : [],
                },
            ],
        })),
    };
    fs.writeFileSync(path.join(dir, "tests.yaml"), JSON.stringify(tests));
    return { check: runPromtool(["check", "rules", "rules.yaml"], dir), test: runPromtool(["test", "rules", "tests.yaml"], dir) };
}

describe("DialogueErrorRateHigh", () => {
    it("passes promtool check rules, fires above the threshold and stays silent below it and for refused messages", () => {
        const r = run(2, [
            { name: "3% model timeouts", perMinute: { ok: 97, model_timeout: 3 }, fires: true },
            { name: "3% Redis unreachable", perMinute: { ok: 97, store_unavailable: 3 }, fires: true },
            { name: "1% model errors", perMinute: { ok: 99, model_error: 1 }, fires: false },
            { name: "30% bad signatures (the caller's)", perMinute: { ok: 70, bad_signature: 20, stale: 10 }, fires: false },
        ]);
        expect(r.check.code, r.check.output).toBe(0);
        expect(r.check.output).toContain("SUCCESS: 1 rules found");
        expect(r.test.code, r.test.output).toBe(0);
    });

    it("is a real test: the same series against a wrong expectation fails", () => {
        const r = run(2, [{ name: "1% model errors, wrongly expected to fire", perMinute: { ok: 99, model_error: 1 }, fires: true }]);
        expect(r.test.code).not.toBe(0);
    });
});
