// The real-engine measurements: `pulumi preview` of the dev stack, of an empty program (the floor) and
// with the policy pack; `pulumi up` from empty and without changes. Every run happens in throwaway
// copies of the project made by the e2e support (test/e2e/support/project.ts), with a temporary file
// backend, never in the repository itself.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as yaml from "js-yaml";
import * as path from "path";
import { cli, makeSandbox, REPO_ROOT, repoStackFile, Sandbox } from "../test/e2e/support/project";
import { useCompiledFloor, useCompiledProgram } from "./compile";
import { stats, Stats, timed } from "./measure";
import { hookedProcesses, ProfileSummary, summarizeCpuProfiles } from "./profile";

/**
 * The floor's program: declares nothing, but loads the SDK as every Pulumi program does, so the ratio
 * against it measures what this project adds to a preview rather than what Pulumi itself costs.
 */
const FLOOR_PROGRAM = `// The benchmark's floor: a Pulumi program with no resources (bench/engine.ts).
import "@pulumi/pulumi";
`;

/**
 * The reference floor with resources: an explicit Kubernetes provider in render mode and ConfigMaps,
 * as many resources as the dev stack registers, so the ratio against it is what the program costs
 * beyond registering that many resources through the same provider and engine.
 */
function resourceFloorProgram(resources: number): string {
    return `// The benchmark's resource floor (bench/engine.ts): ${resources} resources, no program logic.
import * as k8s from "@pulumi/kubernetes";

const provider = new k8s.Provider("floor", { renderYamlToDirectory: "out/floor" });
for (let i = 1; i < ${resources}; i++) {
    new k8s.core.v1.ConfigMap(\`floor-\${i}\`, { metadata: { namespace: "floor" }, data: { key: \`value-\${i}\` } }, { provider });
}
`;
}

/**
 * The reference policy pack: one advisory policy that never reports, started by a copy of our pack's
 * own main.js (so through the same loader), next to the floor's program.
 */
const EMPTY_PACK = {
    "PulumiPolicy.yaml": "description: The benchmark's empty policy pack (bench/engine.ts).\nruntime: nodejs\n",
    "package.json": JSON.stringify({ name: "bench-empty-pack", version: "0.0.1", main: "main.js" }, null, 4),
    "main.js": fs.readFileSync(path.join(REPO_ROOT, "policies/main.js"), "utf8"),
    "index.ts": `import { PolicyPack } from "@pulumi/policy";

new PolicyPack("bench-empty-pack", {
    policies: [{ name: "never-reports", description: "Reports nothing.", enforcementLevel: "advisory", validateResource: () => undefined }],
});
`,
};

/** The projects the engine runs. */
export interface Sandboxes {
    /** The project itself with the repository's dev stack file. */
    dev: Sandbox;
    /** An empty program with the project's Pulumi.yaml runtime block, package.json, tsconfig.json and node_modules. */
    floor: Sandbox;
    /** Reference: the floor declaring as many resources as the dev stack (a provider and ConfigMaps). */
    floorResources: Sandbox;
    /** What-if: the project through the Pulumi runtime's ts-node (type-check off), as before tools/ts-loader.js. */
    devTsNode?: Sandbox;
    /** What-if: the floor through the runtime's ts-node. */
    floorTsNode?: Sandbox;
    /** What-if: the project loaded by tsx (a maintained loader) instead of tools/ts-loader.js. */
    devTsx?: Sandbox;
    /** What-if: the project running its precompiled JavaScript (bench/compile.ts). */
    devJs?: Sandbox;
    /** What-if: the floor in JavaScript. */
    floorJs?: Sandbox;
    cleanup(): void;
}

function run(sandbox: Sandbox, args: string[], env: Record<string, string> = {}): { stdout: string; stderr: string } {
    const r = cli(sandbox, args, env);
    if (r.code !== 0) {
        const tail = (s: string) => s.split("\n").slice(-30).join("\n");
        throw new Error(`pulumi ${args.join(" ")} failed in ${sandbox.dir} (exit ${r.code}):\n${tail(r.stdout)}\n${tail(r.stderr)}`);
    }
    return r;
}

function initStack(sandbox: Sandbox): void {
    run(sandbox, ["stack", "init", "dev", "--secrets-provider", "passphrase", "--non-interactive"]);
}

/**
 * What-if "the runtime's ts-node": the setup this project had before tools/ts-loader.js, Pulumi's own
 * TypeScript support (ts-node) with the type-check off through a tsconfig with `noCheck`, and the pack
 * loaded by the policy runner's ts-node, which type-checks it whatever the tsconfig says.
 */
function useRuntimeTsNode(sandbox: Sandbox): void {
    const file = path.join(sandbox.dir, "Pulumi.yaml");
    const project = yaml.load(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    delete project.main;
    project.runtime = { name: "nodejs", options: { typescript: true, tsconfig: "tsconfig.nocheck.json" } };
    fs.writeFileSync(file, yaml.dump(project));
    // Pulumi reads the named file's compilerOptions without following `extends`: noCheck sits here.
    fs.writeFileSync(path.join(sandbox.dir, "tsconfig.nocheck.json"), JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { noCheck: true } }, null, 4));
    const pkgFile = path.join(sandbox.dir, "policies/package.json");
    if (fs.existsSync(pkgFile)) {
        const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8")) as Record<string, unknown>;
        fs.writeFileSync(pkgFile, JSON.stringify({ ...pkg, main: "index.ts" }, null, 4));
    }
}

/** tsx, the maintained loader measured against tools/ts-loader.js; installed apart, not a project dependency. */
export const TSX_VERSION = "4.23.15";

/** Installs tsx into the cache (once per version) and returns the folder holding its node_modules. */
function tsxPrefix(): string {
    const prefix = path.join(process.env.TOOLCHAIN_CACHE ?? path.join(os.homedir(), ".cache/triton-platform"), "bench-tsx", TSX_VERSION);
    if (!fs.existsSync(path.join(prefix, "node_modules/tsx/package.json"))) {
        execFileSync("npm", ["install", "--prefix", prefix, "--no-audit", "--no-fund", "--no-save", `tsx@${TSX_VERSION}`], { stdio: ["ignore", "ignore", "inherit"] });
    }
    return prefix;
}

/**
 * main.js and policies/main.js load the program and the pack through tsx's CommonJS hook instead of
 * tools/ts-loader.js: what replacing the loader would look like for both previews a user runs.
 */
function useTsx(sandbox: Sandbox): void {
    const hook = require.resolve("tsx/cjs", { paths: [tsxPrefix()] });
    const entry = (file: string) =>
        fs.writeFileSync(
            path.join(sandbox.dir, file),
            `"use strict";\n// bench what-if: tsx ${TSX_VERSION} instead of tools/ts-loader.js\nrequire(${JSON.stringify(hook)});\nmodule.exports = require("./index.ts");\n`,
        );
    entry("main.js");
    if (fs.existsSync(path.join(sandbox.dir, "policies/main.js"))) {
        entry("policies/main.js");
    }
}

function makeDev(): Sandbox {
    // A salt in the repository's file (left by a local `npm run up`) belongs to another passphrase.
    return makeSandbox({ dev: repoStackFile("dev", (t) => t.replace(/^encryptionsalt:.*$/m, "")) });
}

function makeFloor(program = FLOOR_PROGRAM): Sandbox {
    const floor = makeSandbox({ dev: "config: {}\n" });
    for (const folder of ["stack", "components", "policies"]) {
        fs.rmSync(path.join(floor.dir, folder), { recursive: true, force: true });
    }
    // Same runtime block and entry point (main.js and tools/ts-loader.js, which makeSandbox copied):
    // the floor loads its index.ts exactly as the program does.
    const project = yaml.load(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8")) as { runtime: unknown; main?: string };
    fs.writeFileSync(
        path.join(floor.dir, "Pulumi.yaml"),
        yaml.dump({ name: "triton-platform-floor", description: "Empty program: the benchmark's floor", runtime: project.runtime, main: project.main }),
    );
    fs.writeFileSync(path.join(floor.dir, "index.ts"), program);
    // The reference pack sits next to the program (its main.js loads ../tools/ts-loader.js, as ours does).
    fs.mkdirSync(path.join(floor.dir, "empty-pack"));
    for (const [name, text] of Object.entries(EMPTY_PACK)) {
        fs.writeFileSync(path.join(floor.dir, "empty-pack", name), text);
    }
    return floor;
}

/**
 * Makes the dev project's and the floor's sandboxes, each with an initialised `dev` stack; with
 * `compiled` (a folder bench/compile.ts filled), also their precompiled twins.
 */
export function makeSandboxes(options: { compiled?: string; whatIf?: boolean } = {}): Sandboxes {
    const made: Sandbox[] = [];
    const cleanup = () => made.forEach((s) => s.cleanup());
    const make = (f: () => Sandbox, prepare: (s: Sandbox) => void = () => undefined) => {
        const s = f();
        made.push(s);
        prepare(s);
        initStack(s);
        return s;
    };
    try {
        const dev = make(makeDev);
        const floor = make(makeFloor);
        const floorResources = make(() => makeFloor(resourceFloorProgram(DEV_RESOURCES)));
        const devTsNode = options.whatIf ? make(makeDev, useRuntimeTsNode) : undefined;
        const floorTsNode = options.whatIf ? make(() => makeFloor(), useRuntimeTsNode) : undefined;
        const devTsx = options.whatIf ? make(makeDev, useTsx) : undefined;
        const compiled = options.compiled;
        const devJs = compiled ? make(makeDev, (s) => useCompiledProgram(s, compiled)) : undefined;
        const floorJs = compiled ? make(() => makeFloor(), useCompiledFloor) : undefined;
        return { dev, floor, floorResources, devTsNode, floorTsNode, devTsx, devJs, floorJs, cleanup };
    } catch (e) {
        cleanup();
        throw e;
    }
}

/** What the engine reported about itself. */
export interface EngineInfo {
    cli: string;
    /** The executable `pulumi` resolves to in the sandboxes' environment. */
    path: string;
    plugins: string[];
}

/** Versions the engine reports: CLI and installed plugins. */
export function engineVersions(sandbox: Sandbox): EngineInfo {
    let where = "";
    try {
        where = execFileSync("bash", ["-c", "command -v pulumi"], { env: { ...process.env, ...sandbox.env }, encoding: "utf8" }).trim();
    } catch {
        where = "(not found)";
    }
    const version = cli(sandbox, ["version"]);
    const plugins = cli(sandbox, ["plugin", "ls", "--json"]);
    let list: string[] = [];
    try {
        list = (JSON.parse(plugins.stdout) as { name: string; kind: string; version: string }[]).map((p) => `${p.kind} ${p.name} ${p.version}`);
    } catch {
        list = [`(pulumi plugin ls failed: ${plugins.stderr.trim().split("\n")[0] ?? ""})`];
    }
    return { cli: version.stdout.trim() || `(pulumi version failed: ${version.stderr.trim()})`, path: where, plugins: list.sort() };
}

/** One kind of preview the benchmark repeats. */
export interface PreviewVariant {
    key: string;
    label: string;
    sandbox: Sandbox;
    args: string[];
    env: Record<string, string>;
    /** Checks the output is what the variant claims to measure (the pack really ran, resources planned). */
    check: (stdout: string) => string | undefined;
}

/** Figures of one variant over the runs. */
export interface PreviewFigures {
    key: string;
    label: string;
    command: string;
    wall: Stats;
    cpu: Stats;
    wallMs: number[];
    cpuMs: number[];
}

/** Resources the dev stack registers besides the stack itself (the resource floor declares as many). */
export const DEV_RESOURCES = 60;

const PREVIEW = ["preview", "--stack", "dev", "--non-interactive"];
const plans = (stdout: string) => (/\+ \d+ to create/.test(stdout) ? undefined : "the preview planned no resource");
const packRan = (stdout: string) => (/Policies:[\s\S]*triton-platform@/.test(stdout) ? plans(stdout) : "the policy pack did not report");
/** Key suffixes of the what-if variants (`devTsNode`, `floorPrecompiled`, ...). */
export const TS_NODE_SUFFIX = "TsNode";
export const PRECOMPILED_SUFFIX = "Precompiled";
export const TSX_SUFFIX = "Tsx";

/**
 * The previews: the three the issue asks for; with `whatIf`, the same through the Pulumi runtime's
 * ts-node (the project's setup before tools/ts-loader.js) and, when the sandboxes have them, with
 * program and pack precompiled to JavaScript.
 */
export function previewVariants(s: Sandboxes, whatIf: boolean): PreviewVariant[] {
    const base = (floor: Sandbox, dev: Sandbox): PreviewVariant[] => [
        { key: "floor", label: "empty program (floor)", sandbox: floor, args: PREVIEW, env: {}, check: () => undefined },
        { key: "dev", label: "dev stack", sandbox: dev, args: PREVIEW, env: {}, check: plans },
        { key: "devPolicy", label: "dev stack + policy pack", sandbox: dev, args: [...PREVIEW, "--policy-pack", "policies"], env: {}, check: packRan },
    ];
    const variants = base(s.floor, s.dev);
    // References, not targets: what any program of that size, and any policy pack, costs here.
    variants.push(
        { key: "floorResources", label: `reference: ${DEV_RESOURCES} resources (a provider and ConfigMaps), no program logic`, sandbox: s.floorResources, args: PREVIEW, env: {}, check: plans },
        {
            key: "floorEmptyPack",
            label: "reference: empty program + a one-policy pack",
            sandbox: s.floor,
            args: [...PREVIEW, "--policy-pack", "empty-pack"],
            env: {},
            check: (stdout) => (/Policies:[\s\S]*bench-empty-pack@/.test(stdout) ? undefined : "the empty pack did not report"),
        },
    );
    if (!whatIf) {
        return variants;
    }
    if (s.floorTsNode && s.devTsNode) {
        variants.push(
            ...base(s.floorTsNode, s.devTsNode).map((v) => ({
                ...v,
                key: `${v.key}${TS_NODE_SUFFIX}`,
                label: `${v.label}, what-if: the runtime's ts-node (type-check off; the pack's on)`,
            })),
        );
    }
    if (s.devTsx) {
        variants.push(
            { key: `dev${TSX_SUFFIX}`, label: `dev stack, what-if: tsx ${TSX_VERSION} as the loader`, sandbox: s.devTsx, args: PREVIEW, env: {}, check: plans },
            {
                key: `devPolicy${TSX_SUFFIX}`,
                label: `dev stack + policy pack, what-if: tsx ${TSX_VERSION} as the loader (program and pack)`,
                sandbox: s.devTsx,
                args: [...PREVIEW, "--policy-pack", "policies"],
                env: {},
                check: packRan,
            },
        );
    }
    if (s.floorJs && s.devJs) {
        variants.push(
            ...base(s.floorJs, s.devJs).map((v) => ({ ...v, key: `${v.key}${PRECOMPILED_SUFFIX}`, label: `${v.label}, what-if: precompiled JavaScript` })),
        );
    }
    return variants;
}

/**
 * Runs every variant `runs` times, interleaved (one of each per round, the order rotating) so a change
 * in the machine's load touches all variants alike. One untimed warm-up round fills the caches first.
 */
export function measurePreviews(variants: PreviewVariant[], runs: number, log: (m: string) => void): PreviewFigures[] {
    const wall = new Map<string, number[]>(variants.map((v) => [v.key, []]));
    const cpu = new Map<string, number[]>(variants.map((v) => [v.key, []]));
    for (let round = -1; round < runs; round++) {
        const order = variants.map((_, i) => variants[(i + Math.max(round, 0)) % variants.length]);
        for (const v of order) {
            const t = timed(() => run(v.sandbox, v.args, v.env));
            const problem = v.check(t.result.stdout);
            if (problem) {
                throw new Error(`${v.label}: ${problem}:\n${t.result.stdout.slice(-2000)}`);
            }
            if (round >= 0) {
                wall.get(v.key)!.push(t.wallMs);
                cpu.get(v.key)!.push(t.cpuMs);
            }
            log(`  ${round < 0 ? "warm-up" : `run ${round + 1}/${runs}`}: ${v.label}: ${(t.wallMs / 1000).toFixed(1)} s`);
        }
    }
    return variants.map((v) => ({
        key: v.key,
        label: v.label,
        command: `pulumi ${v.args.join(" ")}`,
        wall: stats(wall.get(v.key)!),
        cpu: stats(cpu.get(v.key)!),
        wallMs: wall.get(v.key)!,
        cpuMs: cpu.get(v.key)!,
    }));
}

/** Figures of `pulumi up`. */
export interface UpFigures {
    fromEmpty: Stats;
    noChange: Stats;
    fromEmptyCpu: Stats;
    noChangeCpu: Stats;
    /** Resources the first `up` created. */
    created: number;
}

/** The `Resources:` block of an update's output: operation -> count. */
export function resourceSummary(stdout: string): Record<string, number> {
    const block = /Resources:\n((?:[ \t]+.+\n?)+)/.exec(stdout)?.[1] ?? "";
    const out: Record<string, number> = {};
    for (const m of block.matchAll(/^\s*[+~\-]*\s*(\d+) ([a-z-]+)/gm)) {
        out[m[2]] = Number(m[1]);
    }
    return out;
}

/**
 * `pulumi up` of the dev stack as `npm run up` runs it (--skip-preview), from an empty stack, then again
 * with nothing to change; `destroy` (untimed) empties the stack before the next round.
 */
export function measureUps(s: Sandboxes, runs: number, log: (m: string) => void): UpFigures {
    const up = ["up", "--stack", "dev", "--yes", "--non-interactive", "--skip-preview"];
    const fromEmpty: number[] = [];
    const noChange: number[] = [];
    const fromEmptyCpu: number[] = [];
    const noChangeCpu: number[] = [];
    let created = 0;
    for (let round = 0; round < runs; round++) {
        const first = timed(() => run(s.dev, up));
        const made = resourceSummary(first.result.stdout);
        created = made.created ?? 0;
        if (!created) {
            throw new Error(`up from empty created nothing:\n${first.result.stdout.slice(-2000)}`);
        }
        const second = timed(() => run(s.dev, up));
        const changes = Object.entries(resourceSummary(second.result.stdout)).filter(([op]) => op !== "unchanged");
        if (changes.length > 0) {
            throw new Error(`the second up was not a no-op (${JSON.stringify(changes)}):\n${second.result.stdout.slice(-2000)}`);
        }
        run(s.dev, ["destroy", "--stack", "dev", "--yes", "--non-interactive", "--skip-preview"]);
        fromEmpty.push(first.wallMs);
        noChange.push(second.wallMs);
        fromEmptyCpu.push(first.cpuMs);
        noChangeCpu.push(second.cpuMs);
        log(`  run ${round + 1}/${runs}: up from empty ${(first.wallMs / 1000).toFixed(1)} s (${created} created), no-change up ${(second.wallMs / 1000).toFixed(1)} s`);
    }
    return { fromEmpty: stats(fromEmpty), noChange: stats(noChange), fromEmptyCpu: stats(fromEmptyCpu), noChangeCpu: stats(noChangeCpu), created };
}

/**
 * One preview with every Node.js process profiled (bench/cpu-profile-hook.js through NODE_OPTIONS):
 * the program and, with --policy-pack, the pack. Returns one summary per process worth reporting.
 */
export function profilePreview(variant: PreviewVariant, dir: string): { wallMs: number; processes: ProfileSummary[] } {
    fs.rmSync(dir, { recursive: true, force: true });
    const t = timed(() =>
        run(variant.sandbox, variant.args, {
            ...variant.env,
            NODE_OPTIONS: `--require ${path.join(__dirname, "cpu-profile-hook.js")}`,
            BENCH_CPU_PROFILE_DIR: dir,
        }),
    );
    const processes = hookedProcesses(dir).map((p) => summarizeCpuProfiles(p.files, { label: p.label, projectRoot: variant.sandbox.dir }));
    return { wallMs: t.wallMs, processes };
}
