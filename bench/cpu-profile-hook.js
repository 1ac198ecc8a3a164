// Loaded into every Node.js process of a profiled run through NODE_OPTIONS="--require <this file>"
// (Node refuses --cpu-prof in NODE_OPTIONS, and the Pulumi program and the policy pack are started by
// the language host, out of the benchmark's reach). When BENCH_CPU_PROFILE_DIR is set it samples the
// process with the inspector's profiler and writes the profile at exit. The engine kills the policy
// pack without an exit event, so that process writes a chunk every two seconds instead (what it did in
// its last two seconds is lost); chunks are not the default because stopping and restarting the
// profiler of a process that type-checks costs a lot. Plain JavaScript: it runs before ts-node.
"use strict";
const inspector = require("inspector");
const fs = require("fs");
const path = require("path");

const dir = process.env.BENCH_CPU_PROFILE_DIR;
if (dir) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${process.pid}.argv.json`), JSON.stringify({ argv: process.argv, ppid: process.ppid }));
    const session = new inspector.Session();
    session.connect();
    session.post("Profiler.enable");
    session.post("Profiler.setSamplingInterval", { interval: 1000 });
    session.post("Profiler.start");
    let seq = 0;
    const flush = (restart) => {
        // The in-process session answers synchronously, so this also works inside an exit handler.
        session.post("Profiler.stop", (err, result) => {
            if (!err && result) {
                const file = `${process.pid}.${String(seq++).padStart(4, "0")}.cpuprofile`;
                fs.writeFileSync(path.join(dir, file), JSON.stringify(result.profile));
            }
        });
        if (restart) {
            session.post("Profiler.start");
        }
    };
    if (process.argv.some((a) => a.includes("run-policy-pack"))) {
        setInterval(() => flush(true), 2000).unref();
    }
    process.on("exit", () => flush(false));
}
