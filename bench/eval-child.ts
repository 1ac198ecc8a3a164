// One measurement of program evaluation under Pulumi mocks, in a fresh process: the dev stack's
// definition with N models, parsed by parseDefinition and declared by deployPlatform through the test
// harness's runMocked. bench/run.ts starts this once per run and size (`node --expose-gc`), so a
// previous size's heap, JIT state and module cache never colour the next one, just as every real
// preview evaluates the program in a new Node.js process.
//
//   node --expose-gc bench/eval-entry.js <models>
//   node --expose-gc bench/eval-entry.js sdk-floor:<resources>
//
// The second form is the SDK's floor: a Kubernetes provider and ConfigMaps, <resources> in all, under
// the same mocks. What the program costs beyond it is the program's own.
//
// Prints one JSON line (EvalSample) on stdout. With BENCH_EVAL_PROFILE=<file>, it also writes a CPU
// profile of the evaluation alone (parse and deploy, not the imports) to that file.
import * as fs from "fs";
import { Session } from "inspector";
import { performance } from "perf_hooks";

/** What one evaluation measured. */
export interface EvalSample {
    /** Models of the definition; 0 for the SDK floor. */
    models: number;
    /** Resources the program registered (components and custom resources, the stack excluded). */
    resources: number;
    /** Custom (provider-managed) resources among them. */
    customResources: number;
    /** Loading the SDK, providers' SDKs and the program's modules (TypeScript through tools/ts-loader.js), ms. */
    importMs: number;
    /** parseDefinition of the N-model definition, ms. */
    parseMs: number;
    /** runMocked(deployPlatform): declaring every resource until every registration settled, ms. */
    deployMs: number;
    /** parseMs + deployMs: what a preview spends evaluating the program once its modules are loaded. */
    evalMs: number;
    /** CPU time (user + system) of the process during parse and deploy, ms: what the evaluation costs
     * regardless of how busy the machine is. */
    evalCpuMs: number;
    /** Peak resident set size of the process over its whole life, bytes (getrusage maxrss). */
    peakRssBytes: number;
    /** Resident set size after the imports, before evaluation, bytes. */
    rssBeforeBytes: number;
    /** Highest V8 heapUsed sampled during the evaluation, bytes. */
    peakHeapBytes: number;
    /** heapUsed after a full GC, minus the same before evaluation: what the evaluation retained, bytes. */
    retainedHeapBytes: number;
}

/** Starts the inspector's profiler; the returned function stops it and writes the profile. */
function startProfile(file: string): () => void {
    const session = new Session();
    session.connect();
    session.post("Profiler.enable");
    session.post("Profiler.setSamplingInterval", { interval: 500 });
    session.post("Profiler.start");
    return () =>
        session.post("Profiler.stop", (err, result) => {
            if (err) {
                throw err;
            }
            fs.writeFileSync(file, JSON.stringify(result.profile));
            session.disconnect();
        });
}

function gc(): void {
    (globalThis as { gc?: () => void }).gc?.();
}

async function main(): Promise<void> {
    const arg = process.argv[2] ?? "";
    const floorOf = /^sdk-floor:(\d+)$/.exec(arg);
    const models = floorOf ? 0 : Number(arg);
    if (!floorOf && (!Number.isInteger(models) || models < 1)) {
        throw new Error(`usage: eval-child.ts <models> | sdk-floor:<resources> (got ${arg})`);
    }
    const t0 = performance.now();
    const harness = await import("../test/support/harness");
    const definition = await import("../stack/definition");
    const program = await import("../stack/program");
    const k8s = await import("@pulumi/kubernetes");
    const importMs = performance.now() - t0;

    // The dev stack file's config, decoded the way loadDefinition decodes raw config, with N models.
    const config = harness.stackFileConfig("dev");
    const prefix = `${harness.PROJECT}:`;
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config)) {
        if (k.startsWith(prefix)) {
            const t = v.trim();
            raw[k.slice(prefix.length)] = t.startsWith("{") || t.startsWith("[") ? JSON.parse(t) : v;
        }
    }
    raw.models = Array.from({ length: Math.max(models, 1) }, (_, i) => ({ name: `m${i}` }));

    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const rssBeforeBytes = process.memoryUsage().rss;
    let peakHeapBytes = heapBefore;
    const sampler = setInterval(() => {
        peakHeapBytes = Math.max(peakHeapBytes, process.memoryUsage().heapUsed);
    }, 2);

    const profileFile = process.env.BENCH_EVAL_PROFILE;
    const stopProfile = profileFile ? startProfile(profileFile) : undefined;
    const cpu1 = process.cpuUsage();
    const t1 = performance.now();
    let declare: () => Record<string, unknown>;
    if (floorOf) {
        const count = Number(floorOf[1]);
        declare = () => {
            const provider = new k8s.Provider("floor", { renderYamlToDirectory: "out/floor" });
            for (let i = 1; i < count; i++) {
                new k8s.core.v1.ConfigMap(`floor-${i}`, { metadata: { namespace: "floor" }, data: { key: `value-${i}` } }, { provider });
            }
            return {};
        };
    } else {
        const parsed = definition.parseDefinition(raw, { project: harness.PROJECT, stack: "dev" });
        if (!parsed.ok) {
            throw new Error(`the ${models}-model dev definition is invalid: ${parsed.issues.map((i) => `${i.key}: ${i.message}`).join("; ")}`);
        }
        const def = parsed.definition;
        declare = () => program.deployPlatform(def, definition.readSecrets());
    }
    const t2 = performance.now();
    const result = await harness.runMocked(declare, { stack: "dev", config });
    const t3 = performance.now();
    const cpu = process.cpuUsage(cpu1);
    stopProfile?.();
    clearInterval(sampler);
    peakHeapBytes = Math.max(peakHeapBytes, process.memoryUsage().heapUsed);

    // `result` is still referenced below, so the GC counts what the evaluation produced as retained.
    gc();
    const retainedHeapBytes = process.memoryUsage().heapUsed - heapBefore;
    const sample: EvalSample = {
        models,
        resources: result.resources.length,
        customResources: result.resources.filter((r) => r.custom).length,
        importMs,
        parseMs: t2 - t1,
        deployMs: t3 - t2,
        evalMs: t3 - t1,
        evalCpuMs: (cpu.user + cpu.system) / 1000,
        // Linux reports maxRSS in kilobytes.
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
        rssBeforeBytes,
        peakHeapBytes,
        retainedHeapBytes,
    };
    process.stdout.write(JSON.stringify(sample) + "\n");
}

main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
});
