// How the program (main.js) and the policy pack (policies/main.js) load their TypeScript: sucrase, a
// transpiler that strips types and keeps every line where it was, registered through pirates. No
// type-check (tsc checks the whole repository once, in `npm run build` and `npm test`: a type error
// fails CI, not each preview), no source maps (sucrase keeps line numbers, so stack traces already
// point at the right line of the .ts file; mapping them cost a preview 0.4 s, docs/BENCHMARKS.md).
//
// Why not the Pulumi runtime's ts-node: it type-checks on every run unless told not to, and the
// policy-pack runner type-checks the pack on every `--policy-pack` preview whatever it is told
// (typeCheck: true is hard-coded in @pulumi/pulumi/cmd/run-policy-pack/run.js). So the .ts handler
// below replaces ts-node's rather than wrapping it, and compiles with Module.prototype._compile:
// ts-node 10 also hooks `.js`, and a handler that chained to it (as pirates does) would still have
// every .ts file compiled, and type-checked, by ts-node after sucrase.
"use strict";
const fs = require("fs");
const Module = require("module");
const { transform } = require("sucrase");

/** TypeScript to CommonJS, with esModuleInterop semantics (tsconfig.json sets esModuleInterop). */
const SUCRASE_OPTIONS = {
    transforms: ["typescript", "imports"],
    // Node.js 20 runs ES2022 as is (tsconfig.json's target): leave class fields, optional chaining,
    // etc. alone, as tsc does for that target.
    disableESTransforms: true,
};

let registered = false;

/** Makes `require` load .ts files through sucrase. Idempotent. */
function register() {
    if (registered) {
        return;
    }
    registered = true;
    Module._extensions[".ts"] = function loadTypeScript(module, filename) {
        const source = fs.readFileSync(filename, "utf8");
        module._compile(transform(source, { ...SUCRASE_OPTIONS, filePath: filename }).code, filename);
    };
}

module.exports = { register, SUCRASE_OPTIONS };
