// The entry point the policy-pack runner loads (package.json `main`): the pack's TypeScript through the
// project's loader (../tools/ts-loader.js), not the runner's ts-node, which type-checks the whole
// pack on every `--policy-pack` preview. CI type-checks it once (`npm run build`).
"use strict";
require("../tools/ts-loader").register();
module.exports = require("./index.ts");
