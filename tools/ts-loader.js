// How the program (main.js) and the policy pack (policies/main.js) load their TypeScript: sucrase, a
// transpiler that strips types and keeps every line where it was. No type-check (tsc checks the whole repository once, in `npm run build` and `npm test`: a type error
// fails CI, not each preview), no source maps (sucrase keeps line numbers, so stack traces already
// point at the right line of the .ts file; mapping them cost a preview 0.4 s, docs/BENCHMARKS.md).
//
// Why not the Pulumi runtime's ts-node: it type-checks on every run unless told not to, and the
// policy-pack runner type-checks the pack on every `--policy-pack` preview whatever it is told
// (typeCheck: true is hard-coded in @pulumi/pulumi/cmd/run-policy-pack/run.js). So the .ts handler
// below replaces ts-node's rather than wrapping it, and compiles with Module.prototype._compile:
// ts-node 10 also hooks `.js`, and a handler that chained to it (as pirates does) would still have
// every .ts file compiled, and type-checked, by ts-node after sucrase.
//
// Transpiled files are kept in node_modules/.cache/triton-platform-ts, named by a hash of the source
// and of the transpiler's version and options: an edited file gets a new name, so the cache can never
// serve stale code, and a preview after no edit loads no transpiler at all. `npm ci` empties it;
// TRITON_PLATFORM_TS_CACHE=off turns it off, =<folder> moves it.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const Module = require("module");
const path = require("path");

/** TypeScript to CommonJS, with esModuleInterop semantics (tsconfig.json sets esModuleInterop). */
const SUCRASE_OPTIONS = {
    transforms: ["typescript", "imports"],
    // Node.js 20 runs ES2022 as is (tsconfig.json's target): leave class fields, optional chaining,
    // etc. alone, as tsc does for that target.
    disableESTransforms: true,
};

/** What the transpiled text depends on besides the source: a new sucrase or new options, new names. */
const CACHE_SALT = JSON.stringify({ format: 1, sucrase: require("sucrase/package.json").version, options: SUCRASE_OPTIONS });

/** The cache folder, or undefined when turned off. */
function cacheDir() {
    const setting = process.env.TRITON_PLATFORM_TS_CACHE;
    if (setting === "off") {
        return undefined;
    }
    return setting || path.join(__dirname, "..", "node_modules", ".cache", "triton-platform-ts");
}

/** Transpiles one file with sucrase (loaded on the first cache miss only). */
function transpile(source, filename) {
    const { transform } = require("sucrase");
    return transform(source, { ...SUCRASE_OPTIONS, filePath: filename }).code;
}

/** The transpiled text of a source, from the cache or freshly made (and then cached, if possible). */
function compiled(source, filename, dir) {
    if (!dir) {
        return transpile(source, filename);
    }
    const key = crypto.createHash("sha256").update(CACHE_SALT).update("\0").update(source).digest("hex");
    const file = path.join(dir, `${key}.js`);
    try {
        return fs.readFileSync(file, "utf8");
    } catch {
        // not cached yet
    }
    const code = transpile(source, filename);
    try {
        // Write then rename: two previews starting at once never read a half-written file.
        fs.mkdirSync(dir, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, code);
        fs.renameSync(tmp, file);
    } catch {
        // A read-only checkout still runs; it transpiles every time.
    }
    return code;
}

let registered = false;

/** Makes `require` load .ts files through sucrase. Idempotent. */
function register() {
    if (registered) {
        return;
    }
    registered = true;
    const dir = cacheDir();
    Module._extensions[".ts"] = function loadTypeScript(module, filename) {
        module._compile(compiled(fs.readFileSync(filename, "utf8"), filename, dir), filename);
    };
}

/**
 * Formats stack traces with V8's own formatter again, undoing the source-map-support that the Pulumi
 * runtime installs before it loads a program (@pulumi/pulumi/cmd/run/index.js, for precompiled
 * programs' .js.map files). This program needs no maps: sucrase keeps every line of every .ts file.
 * What the maps cost is the SDK's own frames: it keeps `new Error().stack` for four promises per
 * output of every resource it registers (runtime/debuggable.js, for promise-leak reports), and
 * formatting those through source-map-support and the SDK's .js.map files took half of the program's
 * evaluation (docs/BENCHMARKS.md). Afterwards, SDK frames name the SDK's .js files instead of its .ts.
 */
function nativeStackTraces() {
    Error.prepareStackTrace = undefined;
}

module.exports = { register, nativeStackTraces, SUCRASE_OPTIONS };
