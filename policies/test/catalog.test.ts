// The pack as a whole: enough policies, each well-formed for the runtime and the engine, the pack
// files the CLI loads, and docs/POLICIES.md in step with the code.
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { PACK_NAME, policies } from "../catalog";
import { DOC_PATH, renderPolicyTable } from "../docs";
import { AREAS } from "../lib/policy";

const PACK_DIR = path.resolve(__dirname, "..");

describe("the policies", () => {
    it("number at least 40, with unique kebab-case names the runtime accepts", () => {
        expect(policies.length).toBeGreaterThanOrEqual(40);
        const names = policies.map((p) => p.name);
        expect(new Set(names).size).toBe(names.length);
        for (const n of names) {
            expect(n).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
            expect(n).not.toBe("all"); // reserved by the engine for pack-wide config
        }
    });

    it("each have a one-sentence description, a default level, an area, details and a remediation", () => {
        for (const p of policies) {
            expect(p.description, p.name).toMatch(/^[A-Z].*\.$/);
            expect(p.description, p.name).not.toMatch(/[.!?]\s+[A-Z]/);
            expect(["mandatory", "advisory"], p.name).toContain(p.enforcementLevel);
            expect(AREAS, p.name).toContain(p.area);
            expect(p.details.length, p.name).toBeGreaterThan(20);
            expect(p.remediationSteps?.length ?? 0, p.name).toBeGreaterThan(10);
        }
    });

    it("are either resource or stack policies", () => {
        for (const p of policies) {
            const resource = "validateResource" in p && typeof p.validateResource === "function";
            const stack = "validateStack" in p && typeof p.validateStack === "function";
            expect(resource !== stack, p.name).toBe(true);
        }
        expect(policies.some((p) => "validateStack" in p)).toBe(true);
        expect(policies.some((p) => "validateResource" in p)).toBe(true);
    });

    it("declare config the engine accepts: typed properties with defaults, no enforcementLevel property", () => {
        for (const p of policies) {
            for (const [k, v] of Object.entries(p.configSchema?.properties ?? {})) {
                expect(k, p.name).not.toBe("enforcementLevel");
                expect(v.default, `${p.name}.${k}`).toBeDefined();
                expect(v.type, `${p.name}.${k}`).toBeDefined();
                expect(v.description, `${p.name}.${k}`).toBeDefined();
            }
            expect(p.configSchema?.required ?? [], p.name).not.toContain("enforcementLevel");
        }
    });

    it("cover the policy areas and the guide's requirements", () => {
        const sources = policies.map((p) => p.source).join(" ");
        for (const r of ["R3", "R5", "R6", "R13", "R14", "R16"]) {
            expect(sources).toContain(r);
        }
        for (const area of AREAS) {
            expect(policies.some((p) => p.area === area), area).toBe(true);
        }
    });
});

describe("the pack files", () => {
    it("package.json names a version and main and installs nothing of its own", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(PACK_DIR, "package.json"), "utf8"));
        expect(pkg.version).toMatch(/^\d+\.\d+\.\d+$/);
        expect(pkg.main).toBe("main.js");
        expect(pkg.dependencies).toBeUndefined();
        expect(pkg.devDependencies).toBeUndefined();
    });

    it("PulumiPolicy.yaml declares the nodejs runtime", () => {
        expect(fs.readFileSync(path.join(PACK_DIR, "PulumiPolicy.yaml"), "utf8")).toMatch(/^runtime: nodejs$/m);
    });

    it("index.ts only constructs the PolicyPack from the catalog", () => {
        const text = fs.readFileSync(path.join(PACK_DIR, "index.ts"), "utf8");
        const imports = [...text.matchAll(/from "([^"]+)"/g)].map((m) => m[1]);
        expect(imports.sort()).toEqual(["./catalog", "@pulumi/policy"]);
        expect(text.match(/new PolicyPack\(/g)).toHaveLength(1);
        expect(PACK_NAME).toMatch(/^[a-zA-Z0-9-_.]{1,100}$/); // the runtime's packNameRE
    });
});

describe("docs/POLICIES.md", () => {
    const doc = fs.readFileSync(DOC_PATH, "utf8");

    it("holds the table generated from the policies (run `npx ts-node --transpile-only policies/docs.ts` after a change)", () => {
        expect(doc).toContain(renderPolicyTable());
    });

    it("explains how a reviewer reads the result", () => {
        expect(doc).toMatch(/^## How a reviewer reads the result$/m);
    });
});
