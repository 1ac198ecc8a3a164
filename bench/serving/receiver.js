// The serving benchmark's stand-in for the platforms' reply URLs (bench/serving/run.ts starts it): a
// loopback HTTP server that answers every POST 200 at once, so webhook deliveries succeed and the
// dialogue service retries none, and counts what arrived. Bounded: it keeps counters only (no bodies),
// reads at most 64 KiB of a body, and holds at most 512 connections. GET /stats gives the counters as
// JSON. Environment: PORT (0: the kernel picks one; the port is printed as `listening <port>`).
"use strict";
const http = require("http");

const MAX_BODY = 64 * 1024;
const counts = { requests: 0, replies: 0, errorReplies: 0, unreadable: 0, tooLarge: 0 };

const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/stats") {
        const text = JSON.stringify(counts);
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.end(text);
        return;
    }
    counts.requests++;
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
        size += c.length;
        if (size > MAX_BODY) {
            counts.tooLarge++;
            req.destroy();
            return;
        }
        chunks.push(c);
    });
    req.on("end", () => {
        // A delivery is a signed answer of the service: {"type":"reply",...} or {"type":"error",...}.
        try {
            const type = JSON.parse(Buffer.concat(chunks).toString("utf8")).type;
            if (type === "reply") {
                counts.replies++;
            } else if (type === "error") {
                counts.errorReplies++;
            } else {
                counts.unreadable++;
            }
        } catch {
            counts.unreadable++;
        }
        res.writeHead(200, { "content-length": "0" });
        res.end();
    });
});
server.maxConnections = 512;
server.keepAliveTimeout = 30_000;
server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
    process.stdout.write(`listening ${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
