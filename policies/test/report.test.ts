// The PR report: from an engine event log (data/preview-events.ndjson, shaped after
// apitype.EngineEvent of Pulumi 3.259) to the comment and the gate's exit code.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { policies } from "../catalog";
import { COMMENT_MARKER, EngineEvent, PolicyConfigFile, advisoryConfig, analyze, effectiveLevels, main, parseEvents, parseUrn, renderComment, verdict } from "../report";

const SAMPLE = path.join(__dirname, "data", "preview-events.ndjson");
const EXAMPLE = path.join(__dirname, "..", "policy-config.example.json");
const example = JSON.parse(fs.readFileSync(EXAMPLE, "utf8")) as PolicyConfigFile;
const events = () => parseEvents(fs.readFileSync(SAMPLE, "utf8"));

describe("levels", () => {
    it("reconciles like the engine: per-policy level, else `all`, else the policy's default", () => {
        const levels = effectiveLevels({ all: "advisory", "no-host-port": "mandatory", "no-node-port": { enforcementLevel: "disabled" } });
        expect(levels.get("no-host-port")).toBe("mandatory");
        expect(levels.get("no-node-port")).toBe("disabled");
        expect(levels.get("image-tag-pinned")).toBe("advisory");
        expect(effectiveLevels({}).get("image-tag-pinned")).toBe("mandatory");
        expect(effectiveLevels({}).get("recommended-labels")).toBe("advisory");
    });

    it("the example config keeps every policy at its default level (it never weakens a mandatory policy)", () => {
        const levels = effectiveLevels(example);
        expect(policies.filter((p) => levels.get(p.name) !== p.enforcementLevel).map((p) => p.name)).toEqual([]);
    });

    it("the example config only sets properties the policies declare, with their schema's types", () => {
        for (const [name, entry] of Object.entries(example)) {
            if (name === "all" || typeof entry === "string") continue;
            const p = policies.find((x) => x.name === name);
            expect(p, name).toBeDefined();
            for (const [k, v] of Object.entries(entry)) {
                if (k === "enforcementLevel") continue;
                const schema = p!.configSchema?.properties[k];
                expect(schema, `${name}.${k}`).toBeDefined();
                expect(Array.isArray(v) ? "array" : typeof v === "number" ? (Number.isInteger(v) ? ["integer", "number"] : "number") : typeof v).toEqual(
                    Array.isArray(v) ? "array" : typeof v === "number" ? expect.arrayContaining([schema!.type]) : schema!.type,
                );
            }
        }
    });

    it("the advisory config makes every policy advisory and keeps the properties", () => {
        const advisory = advisoryConfig({ ...example, "no-node-port": "disabled" });
        const levels = effectiveLevels(advisory);
        expect(new Set([...levels].filter(([n]) => n !== "no-node-port").map(([, l]) => l))).toEqual(new Set(["advisory"]));
        expect(levels.get("no-node-port")).toBe("disabled");
        expect(advisory["alert-rules-r14"]).toEqual({ p99LatencyMs: 800, errorRatePercent: 2, availabilityPercent: 90, diskUsagePercent: 85 });
        // No per-policy level survives: it would override `all` in the engine.
        expect(Object.entries(advisory).filter(([n, e]) => n !== "all" && n !== "no-node-port" && (typeof e === "string" || e.enforcementLevel !== undefined))).toEqual([]);
    });
});

describe("reading the event log", () => {
    it("reads JSON lines, arrays and {events}, and refuses a --json digest", () => {
        const lines = events();
        expect(lines.length).toBe(13);
        expect(parseEvents(JSON.stringify(lines))).toEqual(lines);
        expect(parseEvents(JSON.stringify({ events: lines }))).toEqual(lines);
        expect(() => parseEvents(JSON.stringify({ steps: [], changeSummary: {} }, null, 2))).toThrow(/--event-log/);
    });

    it("parses URNs of nested resources", () => {
        expect(parseUrn("urn:pulumi:prod::triton-platform::triton-platform:modelService:ModelService$kubernetes:apps/v1:Deployment::triton-blue")).toEqual({
            type: "kubernetes:apps/v1:Deployment",
            name: "triton-blue",
        });
        expect(parseUrn(undefined)).toBeUndefined();
    });

    it("turns policy events into findings with the reviewed levels, descriptions and colours stripped, duplicates merged", () => {
        const r = analyze(events(), effectiveLevels(example));
        expect(r.findings).toEqual([
            {
                policy: "no-host-port",
                level: "mandatory",
                resource: 'kubernetes:apps/v1:Deployment "triton-blue"',
                message: 'container "triton" binds a hostPort. Fix: remove ports[].hostPort.',
            },
            expect.objectContaining({ policy: "recommended-labels", level: "advisory", resource: 'kubernetes:core/v1:Service "triton"' }),
            expect.objectContaining({ policy: "blue-green-slots", level: "mandatory" }),
        ]);
        expect(r.cannotRun).toEqual([expect.objectContaining({ policy: "no-secret-in-env", resource: 'kubernetes:apps/v1:DaemonSet "logs-shipper"' })]);
        expect(r.completed).toBe(true);
        expect(r.packRan).toBe(true);
        expect(r.failed).toEqual(["recommended-labels", "no-host-port", "blue-green-slots"]); // catalog order
        expect(r.errors).toEqual([]);
    });
});

describe("the gate", () => {
    const levels = effectiveLevels(example);

    it("fails on a mandatory violation even though the preview ran advisory", () => {
        expect(verdict(analyze(events(), levels))).toEqual({ ok: false, reasons: ["2 mandatory policy violations"] });
    });

    it("passes when only advisory findings remain", () => {
        const onlyAdvisory = events().filter((e) => !["no-host-port", "blue-green-slots"].includes(e.policyEvent?.policyName ?? ""));
        expect(verdict(analyze(onlyAdvisory, levels))).toEqual({ ok: true, reasons: [] });
    });

    it("fails when the preview did not finish, failed, or the pack never ran", () => {
        const noSummary = events().filter((e) => !e.summaryEvent);
        expect(verdict(analyze(noSummary, levels)).reasons).toContain("the preview did not complete");
        const failed = events().map((e): EngineEvent => (e.summaryEvent ? { summaryEvent: { ...e.summaryEvent, result: "failed" } } : e));
        expect(verdict(analyze(failed, levels)).reasons).toContain("the preview did not complete");
        const clean: EngineEvent[] = [{ summaryEvent: { result: "succeeded", PolicyPacks: {} } }];
        expect(verdict(analyze(clean, levels))).toEqual({ ok: false, reasons: ["the policy pack triton-platform did not run"] });
        expect(verdict(analyze([{ summaryEvent: { result: "succeeded", PolicyPacks: { "triton-platform": "v0.1.0" } } }], levels), 255).reasons).toEqual([
            "the preview exited with code 255",
        ]);
    });

    it("counts error diagnostics of the preview", () => {
        const withError = [{ diagnosticEvent: { message: "<{%fg 1%}>error: program failed<{%reset%}>", severity: "error" } }, ...events()];
        const r = analyze(withError, levels);
        expect(r.errors).toEqual(["error: program failed"]);
        expect(verdict(r).reasons).toContain("the preview reported 1 error");
    });
});

describe("the comment", () => {
    it("lists mandatory findings in a table, advisory ones folded, with escaped cells", () => {
        const text = renderComment(analyze(events(), effectiveLevels(example)), { stack: "prod", runUrl: "https://example.com/run/1" });
        expect(text.startsWith(COMMENT_MARKER)).toBe(true);
        expect(text).toContain("## ❌ Policy check failed (stack `prod`): 2 mandatory policy violations");
        expect(text).toContain("### Mandatory: must be fixed before merge");
        expect(text).toContain('| `no-host-port` | mandatory | kubernetes:apps/v1:Deployment "triton-blue" | container "triton" binds a hostPort. Fix: remove ports[].hostPort. |');
        expect(text).toContain("<details><summary>Advisory: 1 finding to consider</summary>");
        expect(text).toContain("app.kubernetes.io/part-of \\| app.kubernetes.io/managed-by");
        expect(text).toContain("Not verified in this preview: 1 check");
        expect(text).toContain(`${policies.length - 3} of ${policies.length} policies found nothing`);
        expect(text).toContain("[workflow run](https://example.com/run/1)");
        expect(text).not.toContain("other-pack");
    });

    it("says so when everything passed", () => {
        const text = renderComment(analyze([{ summaryEvent: { result: "succeeded", PolicyPacks: { "triton-platform": "v0.1.0" } } }], effectiveLevels(example)), { stack: "prod" });
        expect(text).toContain("## ✅ Policy check passed (stack `prod`)");
        expect(text).not.toContain("### Mandatory");
    });
});

describe("the command line", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "policy-report-"));

    it("gate exits 1 on the sample and names the mandatory violations", () => {
        const out: string[] = [];
        expect(main(["gate", "--events", SAMPLE, "--config", EXAMPLE], (s) => out.push(s))).toBe(1);
        expect(out.join("")).toContain("policy gate: failed: 2 mandatory policy violations");
        expect(out.join("")).toContain("mandatory no-host-port");
    });

    it("gate fails when the event log is missing (the preview never ran)", () => {
        expect(main(["gate", "--events", path.join(tmp, "missing.ndjson"), "--config", EXAMPLE], () => {})).toBe(1);
    });

    it("comment and advisory-config write their files", () => {
        const comment = path.join(tmp, "comment.md");
        expect(main(["comment", "--events", SAMPLE, "--config", EXAMPLE, "--stack", "prod", "--out", comment], () => {})).toBe(0);
        expect(fs.readFileSync(comment, "utf8")).toContain(COMMENT_MARKER);
        const advisory = path.join(tmp, "advisory.json");
        expect(main(["advisory-config", "--config", EXAMPLE, "--out", advisory], () => {})).toBe(0);
        expect(JSON.parse(fs.readFileSync(advisory, "utf8")).all).toBe("advisory");
    });

    it("rejects an unknown command", () => {
        expect(main(["publish"], () => {})).toBe(2);
    });
});
