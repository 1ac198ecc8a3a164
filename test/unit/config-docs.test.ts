import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { configJsonSchema, renderConfigDocs } from "../../scripts/config-docs";

const root = path.resolve(__dirname, "../..");

describe("configuration reference", () => {
    it("docs/CONFIG.md matches the schemas (regenerate with `npm run docs:config`)", () => {
        expect(fs.readFileSync(path.join(root, "docs/CONFIG.md"), "utf8")).toBe(renderConfigDocs());
    });

    it("docs/config.schema.json matches the schemas", () => {
        expect(JSON.parse(fs.readFileSync(path.join(root, "docs/config.schema.json"), "utf8"))).toEqual(configJsonSchema());
    });

    it("documents every top-level key declared in Pulumi.yaml", () => {
        const project = fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8");
        const declared = project
            .slice(project.indexOf("\nconfig:\n"))
            .split("\n")
            .filter((l) => /^  [A-Za-z]+:\s*$/.test(l))
            .map((l) => l.trim().replace(":", ""));
        expect(declared.length).toBeGreaterThan(10);
        const doc = renderConfigDocs();
        for (const key of declared) {
            expect(doc, key).toContain(`triton-platform:${key}`);
        }
    });
});
