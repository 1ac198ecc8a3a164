// Every policy of the pack against its violating and compliant cases (cases.ts), run the way the
// @pulumi/policy runtime runs them (kit.ts).
import { describe, expect, it } from "vitest";
import { policies } from "../catalog";
import { cases } from "./cases";
import { isStackPolicy, runPolicy } from "./kit";

/** `<type> "<name>": <problem>. Fix: <fix>.` or `stack: ...`: names the resource and the fix. */
const MESSAGE_SHAPE = /^(\S+ "[^"]+"|stack): [\s\S]+\. Fix: [\s\S]+\.$/;

describe("the case table", () => {
    it("covers every policy with at least one violating and one compliant case", () => {
        const missing = policies.filter((p) => !cases[p.name] || cases[p.name].violating.length === 0 || cases[p.name].compliant.length === 0).map((p) => p.name);
        expect(missing).toEqual([]);
    });

    it("has no cases for policies that do not exist", () => {
        const names = new Set(policies.map((p) => p.name));
        expect(Object.keys(cases).filter((k) => !names.has(k))).toEqual([]);
    });
});

for (const policy of policies) {
    const table = cases[policy.name] ?? { violating: [], compliant: [] };
    describe(policy.name, () => {
        for (const c of table.violating) {
            it(`reports a violation: ${c.name}`, async () => {
                const out = await runPolicy(policy, c.resources, c.config);
                expect(out.cannotRun).toEqual([]);
                expect(out.violations.length).toBeGreaterThan(0);
                if (c.expect) {
                    expect(out.violations.map((v) => v.message)).toContainEqual(expect.stringMatching(c.expect));
                }
                for (const v of out.violations) {
                    expect(v.message).toMatch(MESSAGE_SHAPE);
                    // Fixtures plant "CANARY" in every secret-looking value: no message may echo one.
                    expect(v.full).not.toContain("CANARY");
                    expect(v.level).toBe(policy.enforcementLevel);
                    expect(v.full.startsWith(`${policy.description}\n`)).toBe(true);
                }
            });
        }
        for (const c of table.compliant) {
            it(`passes: ${c.name}`, async () => {
                const out = await runPolicy(policy, c.resources, c.config);
                expect(out.violations.map((v) => v.message)).toEqual([]);
                expect(out.cannotRun).toEqual([]);
                // A pass must come from checking something, not from the policy not applying.
                if (c.vacuous) {
                    expect(out.notApplicable.length).toBe(c.resources.length);
                } else if (isStackPolicy(policy)) {
                    expect(out.notApplicable).toEqual([]);
                } else {
                    expect(out.notApplicable.length).toBeLessThan(c.resources.length);
                }
            });
        }
    });
}
