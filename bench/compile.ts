// The what-if "precompiled" variants: the program and the policy pack compiled to JavaScript ahead of
// time (tsc --noCheck: emit only, the type-check belongs to `npm run build` and CI), so no preview
// loads ts-node, transpiles, type-checks or source-maps a stack trace. Everything happens in scratch
// folders and sandboxes; the repository is only read.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { REPO_ROOT, Sandbox } from "../test/e2e/support/project";

/** Compiles the repository's TypeScript to `outDir` (no type-check, no source maps). */
export function compileProject(outDir: string): void {
    fs.rmSync(outDir, { recursive: true, force: true });
    try {
        execFileSync(
            process.execPath,
            [path.join(REPO_ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json", "--outDir", outDir, "--noCheck", "--sourceMap", "false", "--declaration", "false"],
            { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
        );
    } catch (e) {
        // tsc exits non-zero on syntax errors but still emits; a missing entry point is the real failure.
        if (!fs.existsSync(path.join(outDir, "index.js"))) {
            const err = e as { stdout?: string };
            throw new Error(`tsc emitted no index.js:\n${(err.stdout ?? "").slice(-3000)}`);
        }
    }
    // The compiled harness reads Pulumi.<stack>.yaml next to its root, as the TypeScript one does.
    fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.dev.yaml"), path.join(outDir, "Pulumi.dev.yaml"));
    if (!fs.existsSync(path.join(outDir, "node_modules"))) {
        fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(outDir, "node_modules"), "dir");
    }
}

function setJsRuntime(sandbox: Sandbox, main: string): void {
    const file = path.join(sandbox.dir, "Pulumi.yaml");
    const project = yaml.load(fs.readFileSync(file, "utf8")) as { runtime: { name: string; options?: Record<string, unknown> } };
    project.runtime = { ...project.runtime, options: { ...(project.runtime.options ?? {}), typescript: false } };
    fs.writeFileSync(file, yaml.dump({ ...project, main }));
}

/** Turns a sandbox of the project into one that runs the compiled program and policy pack. */
export function useCompiledProgram(sandbox: Sandbox, compiled: string): void {
    const bin = path.join(sandbox.dir, "bin");
    fs.mkdirSync(bin, { recursive: true });
    // Every compiled folder: the program imports from kit/ and services/ too, and more may come.
    for (const entry of fs.readdirSync(compiled).filter((e) => !["test", "bench", "Pulumi.dev.yaml"].includes(e))) {
        fs.cpSync(path.join(compiled, entry), path.join(bin, entry), { recursive: true });
    }
    setJsRuntime(sandbox, "bin/index.js");
    // The pack folder keeps PulumiPolicy.yaml; its package.json points at the compiled entry point.
    const pkgFile = path.join(sandbox.dir, "policies/package.json");
    const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8")) as Record<string, unknown>;
    fs.writeFileSync(pkgFile, JSON.stringify({ ...pkg, main: "../bin/policies/index.js" }, null, 4));
}

/** Turns the floor's sandbox into the same empty program in JavaScript. */
export function useCompiledFloor(sandbox: Sandbox): void {
    fs.writeFileSync(path.join(sandbox.dir, "index.js"), `// The benchmark's floor, precompiled: no resources.\nrequire("@pulumi/pulumi");\n`);
    fs.rmSync(path.join(sandbox.dir, "index.ts"), { force: true });
    setJsRuntime(sandbox, "index.js");
}
