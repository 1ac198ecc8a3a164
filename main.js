// The entry point Pulumi runs (Pulumi.yaml `main`): loads the TypeScript program with the project's
// own loader (tools/ts-loader.js says why it is not ts-node), then hands index.ts's exports, the stack
// outputs, to the Pulumi runtime.
"use strict";
require("./tools/ts-loader").register();
module.exports = require("./index.ts");
