// The entry point Pulumi runs (Pulumi.yaml `main`): loads the TypeScript program with the project's
// own loader (tools/ts-loader.js says why it is not ts-node, and why stack traces need no source
// maps), then hands index.ts's exports, the stack outputs, to the Pulumi runtime.
"use strict";
const loader = require("./tools/ts-loader");
loader.register();
loader.nativeStackTraces();
module.exports = require("./index.ts");
