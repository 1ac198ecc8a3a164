// `npm run bench`: measures the cost of a preview (against an empty program, with and without the policy
// pack), of program evaluation as the model count grows, of `up`, and of the unit suite, in one run; then
// writes docs/BENCHMARKS.md. See bench/README.md for the options and what each figure means.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../test/e2e/support/project";
import { compileProject } from "./compile";
import {
    engineVersions,
    makeSandboxes,
    measurePreviews,
    measureUps,
    PreviewVariant,
    profilePreview,
    previewVariants,
    PRECOMPILED_SUFFIX,
    Sandboxes,
    TS_NODE_SUFFIX,
} from "./engine";
import { measureEvaluation, profileEvaluation } from "./evaluation";
import { machine } from "./measure";
import { mergeResults, renderReport, Results, targets } from "./report";
import { measureServing, ServingOptions, stopStartedServers } from "./serving/run";
import { measureUnitSuite } from "./unit";

const SECTIONS = ["eval", "preview", "up", "unit", "serving"] as const;
type Section = (typeof SECTIONS)[number];

interface Options {
    runs: number;
    upRuns: number;
    unitRuns: number;
    sizes: number[];
    sections: Section[];
    whatIf: boolean;
    profile: boolean;
    strict: boolean;
    out: string;
    /** Re-render the report from a results.json of an earlier run instead of measuring. */
    from?: string;
    /** --out was given (a partial run then writes there; otherwise into its scratch folder). */
    outGiven: boolean;
    serving: ServingOptions;
}

const USAGE = `usage: npm run bench -- [options]
  --runs N         runs per preview variant and per evaluation size (default 5)
  --up-runs N      rounds of up-from-empty + no-change up (default 3)
  --unit-runs N    runs of the unit suite (default 3)
  --sizes A,B,C    model counts of the evaluation (default 1,5,50)
  --only LIST      sections to run, of ${SECTIONS.join(",")} (default all; the report covers what ran and,
                   without --out, goes to bench/results/<timestamp>/BENCHMARKS.md: docs/BENCHMARKS.md is
                   replaced only by a run of every section, or by naming it with --out)
  --no-what-if     skip the what-if variants (runtime ts-node, precompiled, unit-suite options)
  --no-profile     skip profiling the missed targets
  --strict         exit 1 when a target is missed
  --out FILE       report path (default docs/BENCHMARKS.md)
  --from FILE[,FILE]  measure nothing: render the report again from an earlier run's results.json
                   (after editing bench/findings.md), or join partial runs of different sections
                   (--only) into one report
serving section (real Triton, the generated gateway, k6):
  --rates A,B,C          offered rates, req/s (default 100,200,400,800,1200,1600)
  --dialogue-rates A,B   the dialogue paths' rates, turns or webhook messages/s (default: the --rates)
  --serving-seconds N    seconds per path and rate (default 8)
  --serving-rounds N     rounds of the rate sweep (default 2)
  --concurrency A,B,C    batching sweep levels (default 1,2,4,8,16,32,64)
  --batch-seconds N      seconds per batching level (default 4)
  --compute-ms N         the bundled model's service time per execution (default 2)
  --triton-bin PATH      tritonserver to run (default: scripts/install-triton.sh; a GPU host: its own build)
  --model-repository DIR your model repository: it must hold MODEL and MODEL-nobatch
  --model NAME           the model (default fixed, bundled)
  --request FILE         one KServe v2 request body for that model`;

export function parseArgs(argv: string[]): Options {
    const o: Options = {
        runs: 5,
        upRuns: 3,
        unitRuns: 3,
        sizes: [1, 5, 50],
        sections: [...SECTIONS],
        whatIf: true,
        profile: true,
        strict: false,
        out: path.join(REPO_ROOT, "docs/BENCHMARKS.md"),
        outGiven: false,
        serving: {
            rates: [100, 200, 400, 800, 1200, 1600],
            durationSeconds: 8,
            rounds: 2,
            concurrency: [1, 2, 4, 8, 16, 32, 64],
            batchDurationSeconds: 4,
            computeMs: 2,
            model: "fixed",
            whatIf: true,
        },
    };
    const count = (flag: string, v: string | undefined) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) {
            throw new Error(`${flag} needs a positive integer, got ${v}\n${USAGE}`);
        }
        return n;
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
        const value = () => inline ?? argv[++i];
        switch (flag) {
            case "--runs":
                o.runs = count(flag, value());
                break;
            case "--up-runs":
                o.upRuns = count(flag, value());
                break;
            case "--unit-runs":
                o.unitRuns = count(flag, value());
                break;
            case "--sizes":
                o.sizes = value()
                    .split(",")
                    .map((s) => count(flag, s));
                break;
            case "--only": {
                const list = value().split(",");
                const bad = list.filter((s) => !(SECTIONS as readonly string[]).includes(s));
                if (bad.length > 0) {
                    throw new Error(`unknown section(s) ${bad.join(", ")}\n${USAGE}`);
                }
                o.sections = list as Section[];
                break;
            }
            case "--no-what-if":
                o.whatIf = false;
                o.serving.whatIf = false;
                break;
            case "--rates":
                o.serving.rates = value()
                    .split(",")
                    .map((s) => count(flag, s));
                break;
            case "--dialogue-rates":
                o.serving.dialogueRates = value()
                    .split(",")
                    .map((s) => count(flag, s));
                break;
            case "--serving-seconds":
                o.serving.durationSeconds = count(flag, value());
                break;
            case "--serving-rounds":
                o.serving.rounds = count(flag, value());
                break;
            case "--concurrency":
                o.serving.concurrency = value()
                    .split(",")
                    .map((s) => count(flag, s));
                break;
            case "--batch-seconds":
                o.serving.batchDurationSeconds = count(flag, value());
                break;
            case "--compute-ms":
                o.serving.computeMs = count(flag, value());
                break;
            case "--triton-bin":
                o.serving.tritonBin = path.resolve(value());
                break;
            case "--model-repository":
                o.serving.modelRepository = path.resolve(value());
                break;
            case "--model":
                o.serving.model = value();
                break;
            case "--request":
                o.serving.requestFile = path.resolve(value());
                break;
            case "--no-profile":
                o.profile = false;
                o.serving.profile = false;
                break;
            case "--strict":
                o.strict = true;
                break;
            case "--out":
                o.out = path.resolve(value());
                o.outGiven = true;
                break;
            case "--from":
                o.from = value();
                break;
            case "--help":
            case "-h":
                process.stdout.write(USAGE + "\n");
                process.exit(0);
                break;
            default:
                throw new Error(`unknown option ${a}\n${USAGE}`);
        }
    }
    return o;
}

function log(message: string): void {
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function packageVersions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of ["@pulumi/pulumi", "@pulumi/kubernetes", "@pulumi/random", "@pulumi/policy", "typescript", "ts-node", "sucrase", "tsx", "vitest", "zod"]) {
        try {
            out[name] = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
        } catch {
            out[name] = "not installed";
        }
    }
    return out;
}

function gitState(): Results["git"] {
    const git = (args: string[]) => execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    try {
        return { commit: git(["rev-parse", "--short", "HEAD"]), modifiedFiles: git(["status", "--porcelain"]).split("\n").filter(Boolean).length };
    } catch {
        return { commit: "unknown", modifiedFiles: 0 };
    }
}

/**
 * npm and npx put node_modules/.bin first on PATH, where the `pulumi` npm package's launcher lives: a
 * Node.js script that starts the CLI, adding a Node.js start-up to every CLI call and making the figures
 * depend on how the bench was started. Drop those folders so scripts/toolchain.sh decides the CLI.
 */
function withoutNpmBins(pathValue: string): string {
    return pathValue
        .split(path.delimiter)
        .filter((d) => !d.endsWith(`${path.sep}node_modules${path.sep}.bin`))
        .join(path.delimiter);
}

function writeReport(results: Results, out: string): void {
    const findingsFile = path.join(__dirname, "findings.md");
    const findings = fs.existsSync(findingsFile) ? fs.readFileSync(findingsFile, "utf8") : "";
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, renderReport(results, findings));
    for (const t of targets(results)) {
        log(`target ${t.id} ${t.verdict}: ${t.what}: ${t.figure} (${t.limit})`);
    }
    log(`wrote ${path.relative(process.cwd(), out)}`);
}

async function main(): Promise<void> {
    const o = parseArgs(process.argv.slice(2));
    if (o.from) {
        // Several files: partial runs of different sections, joined into one report.
        const runs = o.from.split(",").map((f) => JSON.parse(fs.readFileSync(path.resolve(f), "utf8")) as Results);
        writeReport(mergeResults(runs), o.out);
        return;
    }
    process.env.PATH = withoutNpmBins(process.env.PATH ?? "");
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const scratch = path.join(__dirname, "results", stamp);
    fs.mkdirSync(scratch, { recursive: true });
    // A partial run must not replace the full report with one section.
    const partial = SECTIONS.some((s) => !o.sections.includes(s));
    const out = partial && !o.outGiven ? path.join(scratch, "BENCHMARKS.md") : o.out;
    // Interrupted (Ctrl-C, kill): stop the servers and remove the sandboxes this run started, then exit.
    // Node runs the handler once the current synchronous child (a k6 or pulumi run, bounded) returns.
    let sandboxesToClean: Sandboxes | undefined;
    const interrupted = (signal: NodeJS.Signals) => {
        log(`${signal}: stopping the servers and removing the sandboxes this run started`);
        sandboxesToClean?.cleanup();
        void stopStartedServers().finally(() => process.exit(130));
    };
    process.once("SIGINT", interrupted);
    process.once("SIGTERM", interrupted);
    const results: Results = {
        startedAt: new Date().toISOString(),
        finishedAt: "",
        options: { runs: o.runs, upRuns: o.upRuns, unitRuns: o.unitRuns, sizes: o.sizes, whatIf: o.whatIf, sections: o.sections },
        machine: machine(),
        loadEnd: [],
        packages: packageVersions(),
        git: gitState(),
        profiles: [],
        errors: [],
    };
    log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} on ${results.machine.cores} cores; scratch: ${scratch}`);
    const section = async (name: string, body: () => void | Promise<void>) => {
        try {
            await body();
        } catch (e) {
            const message = e instanceof Error ? e.message : String(e);
            log(`${name} failed: ${message}`);
            results.errors.push({ section: name, message });
        }
    };
    const missed = (id: string) => targets(results).some((t) => t.id === id && t.verdict === "MISS");

    let compiled: string | undefined;
    if (o.whatIf && (o.sections.includes("eval") || o.sections.includes("preview"))) {
        await section("precompile (what-if)", () => {
            log("compiling the project to JavaScript for the precompiled what-if (tsc --noCheck)");
            compileProject(path.join(scratch, "js"));
            compiled = path.join(scratch, "js");
        });
    }

    if (o.sections.includes("eval")) {
        await section("evaluation", () => {
            log(`evaluation under mocks: ${o.sizes.join(", ")} models, ${o.runs} run(s) each`);
            results.evaluation = measureEvaluation(o.sizes, o.runs, log);
            const largest = Math.max(...o.sizes);
            const resources = results.evaluation.find((e) => e.models === largest)!.resources;
            log(`SDK floor: ${resources} resources (a provider and ConfigMaps) under the same mocks, ${o.runs} run(s)`);
            results.evaluationSdkFloor = measureEvaluation([{ sdkFloor: resources }], o.runs, log);
            if (compiled) {
                log(`what-if: evaluation of ${largest} models and of the SDK floor from precompiled JavaScript, ${o.runs} run(s)`);
                results.evaluationPrecompiled = measureEvaluation([largest, { sdkFloor: resources }], o.runs, log, compiled);
            }
            if (o.profile && (missed("2a") || missed("2b"))) {
                const largest = Math.max(...o.sizes);
                log(`profiling the evaluation of ${largest} models`);
                results.profiles.push({
                    title: `Evaluation under mocks (targets 2a/2b): ${largest} models`,
                    note: "CPU profile of parse and deploy only, in the same kind of process as the measured runs.",
                    processes: [profileEvaluation(largest, path.join(scratch, "profiles"))],
                });
            }
        });
    }

    let sandboxes: Sandboxes | undefined;
    try {
        if (o.sections.includes("preview") || o.sections.includes("up")) {
            await section("engine setup", () => {
                log("making the sandboxes (dev project and empty floor) with temporary file backends");
                sandboxes = makeSandboxes({ compiled: o.sections.includes("preview") ? compiled : undefined, whatIf: o.whatIf && o.sections.includes("preview") });
                sandboxesToClean = sandboxes;
                results.engine = engineVersions(sandboxes.dev);
                log(`pulumi ${results.engine.cli} (${results.engine.path}); plugins: ${results.engine.plugins.join(", ")}`);
            });
        }
        const s = sandboxes;
        if (s && o.sections.includes("preview")) {
            await section("previews", () => {
                const variants = previewVariants(s, o.whatIf);
                log(`previews: ${variants.length} variants, ${o.runs} run(s) each after a warm-up round`);
                results.previews = measurePreviews(variants, o.runs, log);
                const byKey = (k: string) => variants.find((v) => v.key === k) as PreviewVariant;
                const profiled = (title: string, keys: string[], note: string) => {
                    const processes = keys.flatMap((k) => {
                        log(`profiling: ${byKey(k).label}`);
                        const p = profilePreview(byKey(k), path.join(scratch, "profiles", k));
                        const whole = `${(p.wallMs / 1000).toFixed(1)} s`;
                        return p.processes.map((proc) => ({ ...proc, label: `${byKey(k).label} (whole preview ${whole}): ${proc.label}` }));
                    });
                    results.profiles.push({ title, note, processes });
                };
                if (o.profile && missed("1")) {
                    profiled(
                        "Dev preview against the floor (target 1)",
                        ["floor", "dev", ...(o.whatIf ? [`dev${TS_NODE_SUFFIX}`, `dev${PRECOMPILED_SUFFIX}`] : [])].filter((k) =>
                            variants.some((v) => v.key === k),
                        ),
                        "Every Node.js process of one preview of each, profiled through NODE_OPTIONS (bench/cpu-profile-hook.js). " +
                            "The rest of a preview's wall time is the engine and the providers (Go), not profiled here.",
                    );
                }
                if (o.profile && missed("3")) {
                    profiled(
                        "Policy pack overhead (target 3)",
                        ["devPolicy", ...(o.whatIf ? [`devPolicy${TS_NODE_SUFFIX}`, `devPolicy${PRECOMPILED_SUFFIX}`] : [])].filter((k) => variants.some((v) => v.key === k)),
                        "The program and the policy pack run side by side: the pack's own start-up is what the preview waits for at the end.",
                    );
                }
            });
        }
        if (s && o.sections.includes("up")) {
            await section("up", () => {
                log(`up: ${o.upRuns} round(s) of up from empty, no-change up, destroy`);
                results.up = measureUps(s, o.upRuns, log);
            });
        }
    } finally {
        sandboxes?.cleanup();
        sandboxesToClean = undefined;
    }

    if (o.sections.includes("unit")) {
        await section("unit suite", () => {
            log(`unit suite: ${o.unitRuns} run(s)`);
            results.unit = measureUnitSuite(o.unitRuns, scratch, log);
            if (o.whatIf) {
                // The suite's own settings (vitest.config.mts: maxWorkers 2, isolate false) against the
                // two it replaced: vitest's default worker count (cores - 1: one on 2 cores) and
                // per-file isolation.
                const defaultWorkers = String(Math.max(1, results.machine.cores - 1));
                for (const extra of [["--isolate"], [`--maxWorkers=${defaultWorkers}`, "--isolate"]]) {
                    log(`unit suite what-if: ${extra.join(" ")}, ${o.unitRuns} run(s)`);
                    results.unitWhatIf = [...(results.unitWhatIf ?? []), measureUnitSuite(o.unitRuns, scratch, log, extra)];
                }
            }
        });
    }

    if (o.sections.includes("serving")) {
        await section("serving", async () => {
            const s = o.serving;
            log(`serving: rates ${s.rates.join(", ")} req/s, ${s.durationSeconds} s each, ${s.rounds} round(s); batching at ${s.concurrency.join(", ")}`);
            results.serving = await measureServing(s, scratch);
            const p = results.serving.serviceProfile;
            if (p) {
                results.profiles.push({
                    title: "The dialogue service under WebSocket turns (targets S2, S3)",
                    note:
                        `node --cpu-prof of a second instance of the service, from start to exit, under ${p.rate} turns/s of WebSocket sessions (3 turns each) ` +
                        `for ${s.durationSeconds} s after a 2 s warm-up: ${p.figures.rps.toFixed(0)} turns/s served, p99 ${p.figures.p99.toFixed(1)} ms. ` +
                        "Its start-up (loading and transpiling its modules) is in the profile too. The phase names are the preview profiles'; for the service, " +
                        "read the packages and functions: `services/dialogue` and `components/envelope` are its own code, `ws` the WebSocket server, " +
                        "`node:internal` Node's HTTP client and streams, `writev` the kernel's loopback writes (a sample there is also time the process waited for a core).",
                    processes: [p.summary],
                });
            }
        });
    }

    results.finishedAt = new Date().toISOString();
    results.loadEnd = os.loadavg();
    fs.writeFileSync(path.join(scratch, "results.json"), JSON.stringify(results, null, 2));
    writeReport(results, out);
    if (out !== o.out) {
        log(`a partial run (--only ${o.sections.join(",")}): docs/BENCHMARKS.md left as it was; the report is ${path.relative(process.cwd(), out)}`);
    }
    log(`raw results in ${path.relative(process.cwd(), scratch)}`);
    if (results.errors.length > 0 || (o.strict && targets(results).some((t) => t.verdict === "MISS"))) {
        process.exitCode = 1;
    }
}

main().catch((e) => {
    log(e instanceof Error ? e.message : String(e));
    process.exit(1);
});
