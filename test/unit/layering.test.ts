// The shared kit sits below every component: it may import npm packages and its own files, nothing of
// the components or the stack composition above it, so arrows between the layers run one way.
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");
const IMPORT = /(?:from|import|require\()\s*["']([^"']+)["']/g;

function relativeImports(dir: string): { file: string; spec: string }[] {
    return fs
        .readdirSync(path.join(ROOT, dir))
        .filter((f) => f.endsWith(".ts"))
        .flatMap((f) => [...fs.readFileSync(path.join(ROOT, dir, f), "utf8").matchAll(IMPORT)].map((m) => ({ file: `${dir}/${f}`, spec: m[1] })))
        .filter((i) => i.spec.startsWith("."));
}

describe("layers", () => {
    it("kit/ imports nothing above it", () => {
        const imports = relativeImports("kit");
        expect(imports.length).toBeGreaterThan(0); // the scan reads the kit's own imports
        expect(imports.filter((i) => !i.spec.startsWith("./"))).toEqual([]);
    });

    it("no component imports anything of stack/ (not even a type): the stack composes the components, never the reverse", () => {
        const components = fs.readdirSync(path.join(ROOT, "components")).filter((d) => fs.statSync(path.join(ROOT, "components", d)).isDirectory());
        const imports = components.flatMap((c) => relativeImports(`components/${c}`));
        expect(imports.length).toBeGreaterThan(0);
        expect(imports.filter((i) => /(^|\/)stack\//.test(i.spec))).toEqual([]);
    });
});
