// The shared kit sits below every component: it may import npm packages and its own files, nothing of
// the components or the stack composition above it, so arrows between the layers run one way. The
// lightweight server (components/server) is a target, like a Kubernetes provider: the concerns running on
// it declare themselves through its host (their server.ts), never the reverse.
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

    it("the server target imports no concern that runs on it (model service, gateway, log shipper, dialogue service)", () => {
        const imports = relativeImports("components/server");
        expect(imports.length).toBeGreaterThan(0);
        expect(imports.filter((i) => /^\.\.\/(model-service|gateway|logsink|dialogue|observability|network)(\/|$)/.test(i.spec))).toEqual([]);
    });

    it("every container on the server goes through the host's one primitive (hostContainer in components/server/host.ts)", () => {
        const declaring = ["components/model-service/server.ts", "components/gateway/server.ts", "components/logsink/server.ts", "components/dialogue/server.ts"];
        for (const file of declaring) {
            const text = fs.readFileSync(path.join(ROOT, file), "utf8");
            expect(text, file).toContain("hostContainer(");
        }
        const direct = fs
            .readdirSync(path.join(ROOT, "components"))
            .flatMap((c) => (fs.statSync(path.join(ROOT, "components", c)).isDirectory() ? fs.readdirSync(path.join(ROOT, "components", c)).map((f) => `components/${c}/${f}`) : []))
            .filter((f) => f.endsWith(".ts") && f !== "components/server/host.ts")
            .filter((f) => /new docker\.(Container|RemoteImage)\(/.test(fs.readFileSync(path.join(ROOT, f), "utf8")));
        expect(direct).toEqual([]);
    });
});
