// tools/ts-loader.js: how `pulumi preview` loads the program (main.js) and the policy pack
// (policies/main.js). Each case runs in a fresh Node.js process, as the Pulumi runtime and the policy
// runner do, against small TypeScript files in a scratch folder.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";

const REPO_ROOT = path.resolve(__dirname, "../..");
const LOADER = path.join(REPO_ROOT, "tools/ts-loader.js");
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "ts-loader-"));

afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function write(name: string, text: string): string {
    const file = path.join(scratch, name);
    fs.writeFileSync(file, text);
    return file;
}

/** Runs `script` (CommonJS) in a new Node.js process, resolving packages from the repository. */
function node(script: string, env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, ["-e", script], {
        cwd: scratch,
        // Each case its own transpile cache unless it says otherwise: no case sees another's files.
        env: { ...process.env, NODE_PATH: path.join(REPO_ROOT, "node_modules"), TRITON_PLATFORM_TS_CACHE: fs.mkdtempSync(path.join(scratch, "cache-")), ...env },
        encoding: "utf8",
        timeout: 60_000,
    });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

const register = `require(${JSON.stringify(LOADER)}).register();`;

describe("tools/ts-loader.js", () => {
    it("loads TypeScript with the compiled semantics the program uses: export =, default imports of CommonJS, enums, parameter properties", () => {
        write("lib.ts", "export enum Slot { Blue = 'blue', Green = 'green' }\nexport class Box { constructor(private readonly v: number) {}\n get value(): number { return this.v; } }\n");
        write("entry.ts", 'import path from "path";\nimport { Box, Slot } from "./lib";\nconst out = { sep: path.sep, slot: Slot.Green, value: new Box(7).value };\nexport = out;\n');
        const r = node(`${register} console.log(JSON.stringify(require("./entry.ts")));`);
        expect(r.stderr).toBe("");
        expect(JSON.parse(r.stdout)).toEqual({ sep: "/", slot: "green", value: 7 });
    });

    it("keeps line numbers: a stack trace names the .ts file and the line that threw, without source maps", () => {
        write("thrower.ts", "// line 1\ninterface Unused {\n    a: string;\n}\nexport function boom(): never {\n    throw new Error(\"boom\");\n}\n");
        const r = node(`${register} try { require("./thrower.ts").boom(); } catch (e) { console.log(e.stack); }`);
        expect(r.stdout).toContain(`${path.join(scratch, "thrower.ts")}:6:`);
    });

    it("still names the .ts line after main.js undoes the runtime's source-map-support", () => {
        // As `pulumi preview` runs main.js: @pulumi/pulumi/cmd/run/index.js installs source-map-support first.
        write("thrower2.ts", "type T = { a: string };\n\n\nexport function boom(t: T): never {\n    throw new Error(t.a);\n}\n");
        const prelude = `require("source-map-support/register"); const l = require(${JSON.stringify(LOADER)}); l.register(); l.nativeStackTraces();`;
        const r = node(`${prelude} try { require("./thrower2.ts").boom({ a: "boom" }); } catch (e) { console.log(e.stack); }`);
        expect(r.stderr).toBe("");
        expect(r.stdout).toContain(`${path.join(scratch, "thrower2.ts")}:5:`);
    });

    it("replaces the policy runner's type-checking ts-node instead of running after it", () => {
        // The runner registers ts-node with typeCheck: true (@pulumi/pulumi/cmd/run-policy-pack/run.js).
        // A type error that is valid syntax must load: type errors are CI's job, not every preview's.
        write("typed.ts", "const n: number = \"not a number\";\nexport = { n };\n");
        const tsNode = `require("ts-node").register({ typeCheck: true, skipProject: true, compilerOptions: { module: "commonjs" } });`;
        const r = node(`${tsNode} const before = require.extensions[".ts"]; ${register} console.log(JSON.stringify({ replaced: require.extensions[".ts"] !== before, ...require("./typed.ts") }));`);
        // With ts-node still in the chain, loading fails with TS2322 (number vs string) on stderr.
        expect(r.stderr).toBe("");
        expect(JSON.parse(r.stdout)).toEqual({ replaced: true, n: "not a number" });
    });

    it("reports a syntax error with the file and line", () => {
        write("broken.ts", "export const ok = 1;\nexport const bad = ;\n");
        const r = node(`${register} require("./broken.ts");`);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain("broken.ts");
        expect(r.stderr).toMatch(/\(2:\d+\)/);
    });
});

describe("tools/ts-loader.js's transpile cache", () => {
    const cache = path.join(scratch, "shared-cache");
    const load = `${register} console.log(JSON.stringify({ value: require("./cached.ts").value, sucraseLoaded: Object.keys(require.cache).some((f) => f.includes("/node_modules/sucrase/dist/")) }));`;

    it("serves an unchanged file from the cache without loading the transpiler, and never serves an edited file stale", () => {
        write("cached.ts", "export const value: string = \"first\";\n");
        const first = node(load, { TRITON_PLATFORM_TS_CACHE: cache });
        expect(JSON.parse(first.stdout)).toEqual({ value: "first", sucraseLoaded: true });
        expect(fs.readdirSync(cache).filter((f) => f.endsWith(".js"))).toHaveLength(1);

        const second = node(load, { TRITON_PLATFORM_TS_CACHE: cache });
        expect(JSON.parse(second.stdout)).toEqual({ value: "first", sucraseLoaded: false });

        write("cached.ts", "export const value: string = \"edited\";\n");
        const edited = node(load, { TRITON_PLATFORM_TS_CACHE: cache });
        expect(JSON.parse(edited.stdout)).toEqual({ value: "edited", sucraseLoaded: true });
    });

    it("still runs where the cache cannot be written, and with the cache turned off", () => {
        write("cached.ts", "export const value: string = \"uncached\";\n");
        const blocker = write("not-a-folder", "a file where the cache folder would go\n");
        const unwritable = node(load, { TRITON_PLATFORM_TS_CACHE: path.join(blocker, "cache") });
        expect(unwritable.stderr).toBe("");
        expect(JSON.parse(unwritable.stdout).value).toBe("uncached");
        const off = node(load, { TRITON_PLATFORM_TS_CACHE: "off" });
        expect(JSON.parse(off.stdout)).toEqual({ value: "uncached", sucraseLoaded: true });
    });
});

describe("the entry points Pulumi runs", () => {
    it("Pulumi.yaml runs main.js with the runtime's TypeScript support off, and both entry points use the loader", () => {
        const project = fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8");
        expect(project).toMatch(/^main: main\.js$/m);
        expect(project).toMatch(/^ {4}typescript: false$/m);
        const main = fs.readFileSync(path.join(REPO_ROOT, "main.js"), "utf8");
        expect(main).toContain('require("./tools/ts-loader")');
        expect(main).toMatch(/loader\.register\(\);\s*loader\.nativeStackTraces\(\);\s*module\.exports = require\("\.\/index\.ts"\);/);
        expect(fs.readFileSync(path.join(REPO_ROOT, "policies/main.js"), "utf8")).toContain('require("../tools/ts-loader").register()');
    });
});
