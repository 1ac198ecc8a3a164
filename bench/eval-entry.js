// Starts bench/eval-child.ts the way `pulumi preview` starts the program: source-map-support installed
// first (@pulumi/pulumi/cmd/run/index.js does so for every program), then what main.js does (the
// project's loader, V8's own stack traces).
//
//   node --expose-gc bench/eval-entry.js <models> | sdk-floor:<resources>
"use strict";
require("source-map-support/register");
const loader = require("../tools/ts-loader");
loader.register();
loader.nativeStackTraces();
require("./eval-child.ts");
