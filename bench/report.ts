// Renders docs/BENCHMARKS.md from one run's results: the machine, the targets with PASS/MISS, the
// figures of each measurement, and the profiles of what dominated where a target was missed.
import { EngineInfo, PRECOMPILED_SUFFIX, PreviewFigures, TS_NODE_SUFFIX, TSX_SUFFIX, UpFigures } from "./engine";
import type { EvalFigures } from "./evaluation";
import { fmtMiB, fmtMs, fmtStats, Machine } from "./measure";
import type { ProfileSummary } from "./profile";
import type { ServingResults } from "./serving/run";
import { renderServing, servingTargets } from "./serving/report";
import type { UnitFigures } from "./unit";

/** Everything one `npm run bench` measured. */
export interface Results {
    startedAt: string;
    finishedAt: string;
    options: { runs: number; upRuns: number; unitRuns: number; sizes: number[]; whatIf: boolean; sections: string[] };
    machine: Machine;
    /** Load averages when the run ended. */
    loadEnd: number[];
    engine?: EngineInfo;
    packages: Record<string, string>;
    git: { commit: string; modifiedFiles: number };
    previews?: PreviewFigures[];
    evaluation?: EvalFigures[];
    /** The SDK's floor (a provider and ConfigMaps, as many resources as the largest size) under the same mocks. */
    evaluationSdkFloor?: EvalFigures[];
    /** What-if: the largest size and the SDK floor evaluated from precompiled JavaScript. */
    evaluationPrecompiled?: EvalFigures[];
    up?: UpFigures;
    unit?: UnitFigures;
    /** What-if: the unit suite with other vitest options. */
    unitWhatIf?: UnitFigures[];
    /** The serving section: real Triton, the gateway, k6. */
    serving?: ServingResults;
    profiles: { title: string; note?: string; processes: ProfileSummary[] }[];
    errors: { section: string; message: string }[];
    /** Set when the report joins several partial runs (`--from A,B`): each run and its sections. */
    merged?: { startedAt: string; finishedAt: string; sections: string[]; loadStart: number[]; loadEnd: number[]; commit: string; modifiedFiles: number }[];
}

/** The sections a Results holds figures of. */
const SECTION_FIELDS: Record<string, (keyof Results)[]> = {
    eval: ["evaluation", "evaluationSdkFloor", "evaluationPrecompiled"],
    preview: ["previews"],
    up: ["up"],
    unit: ["unit", "unitWhatIf"],
    serving: ["serving"],
};

/**
 * Joins the results of partial runs (`npm run bench -- --only ...`, one section per run at most) into
 * one report's results: each section from the one run that measured it, profiles and errors of all,
 * and a record of every run (when, its sections, the load at its start and end, its commit) for the
 * report's header. Throws if two runs measured the same section.
 */
export function mergeResults(runs: Results[]): Results {
    if (runs.length === 0) {
        throw new Error("nothing to merge");
    }
    if (runs.length === 1) {
        return runs[0];
    }
    const sorted = [...runs].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    const owner = new Map<string, Results>();
    for (const r of sorted) {
        for (const section of r.options.sections) {
            if (owner.has(section)) {
                throw new Error(`two runs measured the section ${section} (${owner.get(section)!.startedAt} and ${r.startedAt}): merge runs of different sections`);
            }
            owner.set(section, r);
        }
    }
    const optionsFrom = owner.get("preview") ?? owner.get("eval") ?? sorted[0];
    const last = sorted[sorted.length - 1];
    const out: Results = {
        ...sorted[0],
        finishedAt: sorted.map((r) => r.finishedAt).sort().pop()!,
        options: { ...optionsFrom.options, sections: [...owner.keys()] },
        loadEnd: last.loadEnd,
        engine: sorted.find((r) => r.engine)?.engine,
        git: last.git,
        profiles: sorted.flatMap((r) => r.profiles),
        errors: sorted.flatMap((r) => r.errors),
        merged: sorted.map((r) => ({
            startedAt: r.startedAt,
            finishedAt: r.finishedAt,
            sections: r.options.sections,
            loadStart: r.machine.loadavg,
            loadEnd: r.loadEnd,
            commit: r.git.commit,
            modifiedFiles: r.git.modifiedFiles,
        })),
    };
    for (const field of Object.values(SECTION_FIELDS).flat()) {
        delete (out as unknown as Record<string, unknown>)[field];
    }
    for (const [section, r] of owner) {
        for (const field of SECTION_FIELDS[section] ?? []) {
            if (r[field] !== undefined) {
                (out as unknown as Record<string, unknown>)[field] = r[field];
            }
        }
    }
    return out;
}

/** One target of the issue and how this run fared against it. */
export interface TargetResult {
    id: string;
    what: string;
    figure: string;
    limit: string;
    verdict: "PASS" | "MISS" | "n/a";
}

const preview = (r: Results, key: string) => r.previews?.find((p) => p.key === key);
const ratio = (a: number, b: number) => a / b;
const x = (v: number) => `${v.toFixed(2)}x`;

/** The dev preview's ratio to the floor, or undefined when either was not measured. */
export function floorRatio(r: Results, suffix = ""): number | undefined {
    const dev = preview(r, `dev${suffix}`);
    const floor = preview(r, `floor${suffix}`);
    return dev && floor ? ratio(dev.wall.median, floor.wall.median) : undefined;
}

/** The policy pack's overhead ratio, or undefined. */
export function policyRatio(r: Results, suffix = ""): number | undefined {
    const dev = preview(r, `dev${suffix}`);
    const pack = preview(r, `devPolicy${suffix}`);
    return dev && pack ? ratio(pack.wall.median, dev.wall.median) : undefined;
}

/** Growth of evaluation time between the two largest sizes, and the linear bound it is held to. */
export function growth(r: Results): { from: EvalFigures; to: EvalFigures; ratio: number; bound: number } | undefined {
    const sizes = [...(r.evaluation ?? [])].sort((a, b) => a.models - b.models);
    if (sizes.length < 2) {
        return undefined;
    }
    const from = sizes[sizes.length - 2];
    const to = sizes[sizes.length - 1];
    // Linear with 10 % slack: 50 models against 5 is held to 11x, as the issue states.
    return { from, to, ratio: to.evalMs.median / from.evalMs.median, bound: 1.1 * (to.models / from.models) };
}

/** Each target of the issue, judged on the median wall times of this run. */
export function targets(r: Results): TargetResult[] {
    const out: TargetResult[] = [];
    const judge = (v: number | undefined, limit: number) => (v === undefined ? "n/a" : v <= limit ? "PASS" : "MISS");
    const fr = floorRatio(r);
    out.push({ id: "1", what: "dev preview against the empty-program floor", figure: fr === undefined ? "not measured" : x(fr), limit: "<= 1.5x", verdict: judge(fr, 1.5) });
    const g = growth(r);
    out.push({
        id: "2a",
        what: g ? `evaluation growth, ${g.to.models} models against ${g.from.models}` : "evaluation growth",
        figure: g ? x(g.ratio) : "not measured",
        limit: g ? `<= ${g.bound.toFixed(1)}x` : "<= 11x",
        verdict: g ? judge(g.ratio, g.bound) : "n/a",
    });
    const worst = r.evaluation?.length ? r.evaluation.reduce((a, b) => (b.msPerResource > a.msPerResource ? b : a)) : undefined;
    out.push({
        id: "2b",
        what: worst
            ? `evaluation per resource (worst size: ${worst.models} model${worst.models === 1 ? "" : "s"}, ${worst.resources} resources)`
            : "evaluation per resource",
        figure: worst ? `${worst.msPerResource.toFixed(2)} ms (CPU ${worst.cpuMsPerResource.toFixed(2)} ms)` : "not measured",
        limit: "<= 2 ms",
        verdict: judge(worst?.msPerResource, 2),
    });
    const pr = policyRatio(r);
    out.push({ id: "3", what: "preview with the policy pack against without", figure: pr === undefined ? "not measured" : x(pr), limit: "<= 1.3x", verdict: judge(pr, 1.3) });
    const unit = r.unit?.wall.median;
    out.push({
        id: "5",
        what: `unit suite wall time (${r.machine.cores} cores)`,
        figure: unit === undefined ? "not measured" : fmtMs(unit),
        limit: "<= 20 s",
        verdict: judge(unit === undefined ? undefined : unit / 1000, 20),
    });
    if (r.serving) {
        out.push(...servingTargets(r.serving));
    }
    return out;
}

/** How much faster the project's loader must be to be kept over a maintained one. */
export const LOADER_MARGIN = 0.1;

/** One loader's figures for the two previews a user runs. */
export interface LoaderFigures {
    label: string;
    /** Median wall time of the dev preview, ms. */
    dev?: number;
    /** Median wall time of the dev preview with the policy pack (the pull-request check), ms. */
    pack?: number;
}

/**
 * The loader decision: tools/ts-loader.js is kept only if it saves at least LOADER_MARGIN of the wall
 * time a user waits for over the best maintained loader, counted over both previews a user runs (the dev
 * preview, and the preview with the policy pack that every pull request runs), so a loader that is quick
 * on the program but slow on the pack (the runtime's ts-node type-checks the pack) is not preferred for
 * half of the work. Loaders measured on one preview only are compared on that one.
 */
export function loaderVerdict(own: LoaderFigures, others: LoaderFigures[]): { keep: boolean; text: string } | undefined {
    const total = (l: LoaderFigures, both: boolean) => (both ? (l.dev ?? NaN) + (l.pack ?? NaN) : (l.dev ?? NaN));
    const scored = others
        .map((l) => {
            const both = own.pack !== undefined && l.pack !== undefined;
            const theirs = total(l, both);
            const ours = total(own, both);
            return { l, both, gain: 1 - ours / theirs, theirs, ours };
        })
        .filter((x) => Number.isFinite(x.gain));
    if (own.dev === undefined || scored.length === 0) {
        return undefined;
    }
    const worst = scored.reduce((a, b) => (b.gain < a.gain ? b : a));
    const what = (x: (typeof scored)[number]) => (x.both ? "the dev preview and the preview with the policy pack together" : "the dev preview");
    const pct = (v: number) => `${(Math.abs(v) * 100).toFixed(0)} %`;
    if (worst.gain >= LOADER_MARGIN) {
        return {
            keep: true,
            text:
                `**keep tools/ts-loader.js**: over ${what(worst)}, it takes ${pct(worst.gain)} less wall time than the closest maintained loader ` +
                `(${worst.l.label}: ${(worst.theirs / 1000).toFixed(2)} s against ${(worst.ours / 1000).toFixed(2)} s), at least the ${LOADER_MARGIN * 100} % that pays for a hand-written loader.`,
        };
    }
    return {
        keep: false,
        text:
            worst.gain > 0
                ? `**replace it with ${worst.l.label}**: over ${what(worst)}, tools/ts-loader.js saves only ${pct(worst.gain)} of the wall time ` +
                  `(${(worst.ours / 1000).toFixed(2)} s against ${(worst.theirs / 1000).toFixed(2)} s), under the ${LOADER_MARGIN * 100} % that would pay for a hand-written loader to maintain.`
                : `**replace it with ${worst.l.label}**: over ${what(worst)}, it is ${pct(worst.gain)} faster than tools/ts-loader.js ` +
                  `(${(worst.theirs / 1000).toFixed(2)} s against ${(worst.ours / 1000).toFixed(2)} s).`,
    };
}

/**
 * tools/ts-loader.js (sucrase, hand-written) against the maintained loaders, from the same interleaved
 * rounds: tsx (program and pack), and the Pulumi runtime's ts-node (type-check off for the program; the
 * policy runner's ts-node type-checks the pack, which cannot be turned off), for the dev preview and the
 * preview with the policy pack.
 */
export function loaders(r: Results): string | undefined {
    const fig = (label: string, suffix: string): LoaderFigures => ({ label, dev: preview(r, `dev${suffix}`)?.wall.median, pack: preview(r, `devPolicy${suffix}`)?.wall.median });
    const own = fig("tools/ts-loader.js (the project's)", "");
    const others = [fig(`tsx ${TSX_VERSION_LABEL(r)}`, TSX_SUFFIX), fig("the runtime's ts-node (type-check off; the pack's on)", TS_NODE_SUFFIX)].filter((l) => l.dev !== undefined);
    const v = loaderVerdict(own, others);
    if (!v) {
        return undefined;
    }
    const cell = (key: string) => {
        const p = preview(r, key);
        return p ? `${fmtStats(p.wall)} (CPU ${fmtStats(p.cpu)})` : "not measured";
    };
    const against = (mine: number | undefined, theirs: number | undefined) => (mine !== undefined && theirs !== undefined ? x(theirs / mine) : "");
    const rows: [LoaderFigures, string][] = [
        [own, ""],
        ...others.map((l): [LoaderFigures, string] => [l, l.label.startsWith("tsx") ? TSX_SUFFIX : TS_NODE_SUFFIX]),
    ];
    return [
        "Program loader: tools/ts-loader.js, hand-written on sucrase, against maintained loaders, for the two previews a user runs: the dev preview, and the preview with " +
            "the policy pack (every pull request). Same interleaved rounds as the table above; the machine's load is in the Machine table.",
        "",
        table(
            ["loader", "dev preview wall time", "with the policy pack", "dev: against tools/ts-loader.js", "with the pack: against tools/ts-loader.js"],
            rows.map(([l, suffix]) => [
                l.label,
                cell(`dev${suffix}`),
                cell(`devPolicy${suffix}`),
                suffix === "" ? "" : against(own.dev, l.dev),
                suffix === "" ? "" : against(own.pack, l.pack),
            ]),
        ),
        "",
        `Verdict (kept only if it saves ${LOADER_MARGIN * 100} % or more of both previews' wall time against every maintained loader): ${v.text}`,
    ].join("\n");
}

/** tsx's version as the run labelled it. */
const TSX_VERSION_LABEL = (r: Results) => /tsx (\S+)/.exec(preview(r, `dev${TSX_SUFFIX}`)?.label ?? "")?.[1] ?? r.packages.tsx ?? "";

function table(header: string[], rows: string[][]): string {
    const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
    return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(" / ");

function profileSection(p: Results["profiles"][number]): string {
    const parts = [`### ${p.title}`, ""];
    if (p.note) {
        parts.push(p.note, "");
    }
    for (const s of p.processes) {
        parts.push(
            `**${s.label}**: profiled for ${fmtMs(s.wallMs)}, ${fmtMs(s.busyMs)} of it on the CPU or waiting for one` +
                (s.profilerMs > 0 ? ` (the profiler's own restarts, ${fmtMs(s.profilerMs)}, left out).` : "."),
            "",
            table(
                ["phase (each sample counted once)", "time", "share of profiled time"],
                s.phases.map((e) => [e.name, fmtMs(e.ms), `${((100 * e.ms) / s.wallMs).toFixed(0)} %`]),
            ),
            "",
            "<details><summary>Self time by package or folder, and the heaviest functions</summary>",
            "",
            table(["package or folder", "self time"], s.byCategory.map((e) => [e.name, fmtMs(e.ms)])),
            "",
            table(["function", "self time"], s.byFunction.map((e) => [`\`${e.name}\``, fmtMs(e.ms)])),
            "",
            "</details>",
            "",
        );
    }
    return parts.join("\n");
}

/** The whole report. `findings` is the hand-written analysis (bench/findings.md), included as is. */
export function renderReport(r: Results, findings: string): string {
    const out: string[] = [];
    const m = r.machine;
    out.push(
        "# Benchmarks",
        "",
        `Generated by \`npm run bench\` (bench/run.ts) on ${r.startedAt} (finished ${r.finishedAt}); do not edit by hand, run it again. ` +
            "How to run it and what each figure means: [bench/README.md](../bench/README.md).",
        "",
        `Runs: ${r.options.runs} per preview and per evaluation size, ${r.options.upRuns} per \`up\`, ${r.options.unitRuns} of the unit suite; ` +
            "figures are medians with the range (min–max) in parentheses. Ratios are ratios of medians of wall time.",
        ...(r.merged
            ? [
                  "",
                  `This report joins ${r.merged.length} partial runs (\`npm run bench -- --only ...\`, then \`--from\` their results.json files), one after the other on the same machine; each section comes from one run:`,
                  "",
                  ...r.merged.map(
                      (m) =>
                          `- ${m.sections.join(", ")}: ${m.startedAt} to ${m.finishedAt}, load average ${load(m.loadStart)} at its start and ${load(m.loadEnd)} at its end, ` +
                          `commit ${m.commit}${m.modifiedFiles ? ` plus ${m.modifiedFiles} uncommitted file(s)` : ""}`,
                  ),
              ]
            : []),
        "",
        "## Machine",
        "",
        table(
            ["", ""],
            [
                ["cores", String(m.cores)],
                ["CPU", m.cpuModel],
                ["memory", `${m.memoryGiB.toFixed(1)} GiB`],
                ["OS", m.os],
                ["load average (1/5/15 min) at start", load(m.loadavg)],
                ["load average (1/5/15 min) at end", load(r.loadEnd)],
                ["Node.js", m.node],
                ["Pulumi CLI", r.engine ? `${r.engine.cli} (${r.engine.path})` : "not used"],
                ["plugins", r.engine?.plugins.join(", ") ?? "not used"],
                ...Object.entries(r.packages).map(([k, v]) => [k, v]),
                ["commit", `${r.git.commit}${r.git.modifiedFiles ? ` plus ${r.git.modifiedFiles} uncommitted file(s)` : ""}`],
            ],
        ),
        "",
    );
    // The load at the end includes the bench's own parallel work (the unit suite); at the start it is others'.
    if (m.loadavg[0] > m.cores / 2 || m.loadavg[1] > m.cores) {
        out.push(
            `> The machine was shared: other work kept its ${m.cores} cores busy (load average at the start), which ` +
                "lengthens every wall time. Ratios of interleaved runs suffer less than absolute figures; the CPU-time columns " +
                "show the work itself.",
            "",
        );
    }

    out.push("## Targets", "", table(["#", "measurement", "figure", "target", "verdict"], targets(r).map((t) => [t.id, t.what, t.figure, t.limit, t.verdict])), "");
    const whatIfs: string[][] = [];
    const orNa = (v: number | undefined) => (v === undefined ? "not measured" : x(v));
    for (const [suffix, label] of [
        [TS_NODE_SUFFIX, "before tools/ts-loader.js: the Pulumi runtime's ts-node, type-check off (`noCheck`) for program and floor; the policy runner's ts-node type-checks the pack"],
        [PRECOMPILED_SUFFIX, "program, pack and floor precompiled to JavaScript (bench/compile.ts)"],
    ]) {
        if (preview(r, `dev${suffix}`)) {
            whatIfs.push([label, orNa(floorRatio(r, suffix)), orNa(policyRatio(r, suffix))]);
        }
    }
    if (whatIfs.length > 0) {
        out.push(
            "What-if figures (not the targets' figures: the same previews with a fix applied in the sandbox only):",
            "",
            table(["what-if", "dev / floor (target 1)", "with pack / without (target 3)"], whatIfs),
            "",
        );
    }
    const pre = r.evaluationPrecompiled?.find((e) => e.models > 0);
    if (pre) {
        out.push(
            `What-if for target 2b: the evaluation of ${pre.models} models from precompiled JavaScript takes ${fmtStats(pre.evalMs)}, ` +
                `**${pre.msPerResource.toFixed(2)} ms per resource** (CPU ${pre.cpuMsPerResource.toFixed(2)} ms).`,
            "",
        );
    }
    const unitWhatIfs = r.unitWhatIf ?? [];
    if (unitWhatIfs.length > 0) {
        out.push(
            "What-if for target 5, with the settings vitest.config.mts replaced: " +
                unitWhatIfs
                    .map((u) => {
                        const last = u.runs[u.runs.length - 1];
                        return `\`${u.extraArgs.join(" ")}\` takes **${fmtMs(u.wall.median)}** (${last.passed} passed, ${last.failed} failed)`;
                    })
                    .join("; ") +
                ".",
            "",
        );
    }

    if (r.previews) {
        out.push(
            "## 1 and 3. Previews",
            "",
            "`pulumi preview` of the `dev` stack in a throwaway copy of the project (temporary file backend, render mode: no " +
                "cluster), of an empty program with the same runtime options and node_modules, and of the dev stack with " +
                "`--policy-pack policies`. One untimed warm-up round, then the variants interleaved round by round. CPU time " +
                "counts the processes the CLI waits for: the policy pack, which the engine kills at the end, is probably missing from it.",
            "",
            table(
                ["variant", "wall time", "CPU time (all processes)", "runs"],
                r.previews.map((p) => [p.label, fmtStats(p.wall), fmtStats(p.cpu), String(p.wall.n)]),
            ),
            "",
        );
        const fr = floorRatio(r);
        const pr = policyRatio(r);
        out.push(
            `- dev stack / floor: **${fr === undefined ? "n/a" : x(fr)}** (target <= 1.5x)`,
            `- dev stack with the policy pack / without: **${pr === undefined ? "n/a" : x(pr)}** (target <= 1.3x)`,
            "",
        );
        const loaderText = loaders(r);
        if (loaderText) {
            out.push(loaderText, "");
        }
        const dev = preview(r, "dev");
        const floor = preview(r, "floor");
        const resources = preview(r, "floorResources");
        const emptyPack = preview(r, "floorEmptyPack");
        const pack = preview(r, "devPolicy");
        if (dev && floor && resources && emptyPack && pack) {
            const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
            out.push(
                "References (not targets): where the time above goes, measured in the same rounds.",
                "",
                `- Registering as many resources through the same provider, with no program logic, takes ` +
                    `**${x(ratio(resources.wall.median, floor.wall.median))}** of the floor (${s(resources.wall.median)}); ` +
                    `the dev stack takes **${x(ratio(dev.wall.median, resources.wall.median))}** of that. The first figure is ` +
                    "Pulumi's cost for a stack of this size (the SDK's registrations, the provider's start-up and checks, the engine); " +
                    "the second is what this program adds to it.",
                `- An empty program with a one-policy pack takes **${x(ratio(emptyPack.wall.median, floor.wall.median))}** of the floor ` +
                    `(+${s(emptyPack.wall.median - floor.wall.median)}): the engine starts a pack and waits for it before it runs the ` +
                    `program. This project's pack adds +${s(pack.wall.median - dev.wall.median)} to the dev preview.`,
                "",
            );
        }
    }

    if (r.evaluation) {
        out.push(
            "## 2. Program evaluation under mocks",
            "",
            "`parseDefinition` of the dev stack file with N models (`m0`, `m1`, ...) and `runMocked(() => deployPlatform(...))` " +
                "of test/support/harness.ts, each run in a fresh `node --expose-gc` process, with source-map-support and " +
                "TypeScript loaded as `pulumi preview` loads them (bench/eval-entry.js). *Evaluation* is parse plus deploy; imports are timed apart. Per-resource figures divide " +
                "the median evaluation by every registered resource (components included).",
            "",
            table(
                ["models", "resources (custom)", "imports", "parse", "deploy", "evaluation", "evaluation CPU", "per resource", "peak RSS", "peak heap", "heap retained"],
                [
                    ...r.evaluation.map((e) => ({ e, label: String(e.models) })),
                    ...(r.evaluationSdkFloor ?? []).map((e) => ({ e, label: "SDK floor (no program)" })),
                    ...(r.evaluationPrecompiled ?? []).map((e) => ({ e, label: `${e.models > 0 ? e.models : "SDK floor"}, what-if: precompiled` })),
                ].map(({ e, label }) => [
                    label,
                    `${e.resources} (${e.customResources})`,
                    fmtMs(e.importMs.median),
                    fmtMs(e.parseMs.median),
                    fmtMs(e.deployMs.median),
                    fmtStats(e.evalMs),
                    fmtMs(e.evalCpuMs.median),
                    `${e.msPerResource.toFixed(2)} ms (CPU ${e.cpuMsPerResource.toFixed(2)} ms)`,
                    fmtMiB(e.peakRssBytes.median),
                    fmtMiB(e.peakHeapBytes.median),
                    fmtMiB(e.retainedHeapBytes.median),
                ]),
            ),
            "",
        );
        const floor = r.evaluationSdkFloor?.[0];
        const largest = [...r.evaluation].sort((a, b) => b.models - a.models)[0];
        if (floor && largest) {
            out.push(
                `- SDK floor: a Kubernetes provider and ConfigMaps, ${floor.resources} resources, under the same mocks and loader: ` +
                    `${floor.msPerResource.toFixed(2)} ms per resource (CPU ${floor.cpuMsPerResource.toFixed(2)} ms). The program at ` +
                    `${largest.models} models takes **${x(largest.evalMs.median / floor.evalMs.median)}** of that: what the program itself adds.`,
            );
        }
        const g = growth(r);
        if (g) {
            out.push(
                `- growth: ${g.to.models} models take **${x(g.ratio)}** the evaluation time of ${g.from.models} (linear bound ${g.bound.toFixed(1)}x); ` +
                    `the resource count goes from ${g.from.resources} to ${g.to.resources}` +
                    (g.from.resources === g.to.resources ? ": models add entries to one ConfigMap and arguments to the pod template, not resources." : "."),
                "",
            );
        }
    }

    if (r.up) {
        out.push(
            "## 4. `pulumi up`",
            "",
            "`pulumi up --yes --skip-preview` of the dev stack (as `npm run up` runs it) on an empty stack, then again with " +
                "nothing to change; an untimed `destroy` empties the stack between rounds. No target: reported for reference.",
            "",
            table(
                ["", "wall time", "CPU time (all processes)"],
                [
                    [`up from empty (${r.up.created} resources created)`, fmtStats(r.up.fromEmpty), fmtStats(r.up.fromEmptyCpu)],
                    ["no-change up", fmtStats(r.up.noChange), fmtStats(r.up.noChangeCpu)],
                ],
            ),
            "",
        );
    }

    if (r.unit) {
        const last = r.unit.runs[r.unit.runs.length - 1];
        out.push(
            "## 5. Unit suite",
            "",
            "`npx vitest run --project unit` in the repository, timed from start to exit.",
            "",
            table(
                ["", ""],
                [
                    ["wall time", fmtStats(r.unit.wall)],
                    ["CPU time (all workers)", fmtStats(r.unit.cpu)],
                    ["tests (last run)", `${last.passed} passed, ${last.failed} failed, ${last.skipped} skipped, in ${last.files} files`],
                    [
                        "vitest's split (last run, summed over workers)",
                        Object.entries(last.phases)
                            .map(([k, v]) => `${k} ${fmtMs(v)}`)
                            .join(", ") || "not reported",
                    ],
                ],
            ),
            "",
            "Slowest files (last run; the time vitest's JSON report gives each file):",
            "",
            table(["file", "time"], last.slowest.slice(0, 8).map((f) => [f.file, fmtMs(f.ms)])),
            "",
        );
        if (last.failed > 0) {
            out.push(`> ${last.failed} test(s) failed in this run: the suite was being edited; the time is still the suite's time.`, "");
        }
    }

    if (r.serving) {
        out.push(renderServing(r.serving), "");
    }

    if (r.profiles.length > 0) {
        out.push("## What dominated (profiles of the missed targets)", "", "Taken in the same run, one profiled execution each (profiling slows it; use the shares, not the times).", "");
        for (const p of r.profiles) {
            out.push(profileSection(p));
        }
    }

    if (r.errors.length > 0) {
        out.push("## Errors", "", ...r.errors.map((e) => `- ${e.section}: ${e.message.split("\n")[0]}`), "");
    }

    out.push(findings.trim(), "");
    return out.join("\n");
}
