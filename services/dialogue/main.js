// Runs the dialogue service from its TypeScript source (development and tests), with the project's
// loader (tools/ts-loader.js). The image runs the transpiled bundle instead (scripts/build-dialogue.sh).
"use strict";
require("../../tools/ts-loader").register();
require("./main.ts")
    .main()
    .catch((e) => {
        process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: "error", event: "start_failed", detail: e.message })}\n`);
        process.exit(1);
    });
