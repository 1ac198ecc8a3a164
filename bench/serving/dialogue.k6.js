// k6 scenario of the serving benchmark's dialogue path (bench/serving/run.ts starts it): open-loop
// WebSocket sessions at a constant arrival rate, each TURNS signed R11 messages one after another on one
// connection (a turn: send a message, wait for its reply frame), then the summary as JSON to
// SUMMARY_FILE. The turn time is the metric (`turn_duration`); the handshake is not in it. Environment:
//   URL (ws://.../chat, with ?token= through the gateway), HMAC_KEY (the R11 key), PLATFORM,
//   RATE (sessions per second), TURNS, DURATION, MAX_VUS.
import { Counter, Trend } from "k6/metrics";
import ws from "k6/ws";
import { envelope } from "./envelope.k6.js";

const turnDuration = new Trend("turn_duration", true);
const turnErrors = new Counter("turn_errors");
const turnsDone = new Counter("turns");
const TURNS = Number(__ENV.TURNS || 3);

export const options = {
    scenarios: {
        load: {
            executor: "constant-arrival-rate",
            rate: Number(__ENV.RATE),
            timeUnit: "1s",
            duration: __ENV.DURATION || "10s",
            preAllocatedVUs: Math.min(Number(__ENV.MAX_VUS || 200), Math.max(8, Math.ceil(Number(__ENV.RATE) / 5))),
            maxVUs: Number(__ENV.MAX_VUS || 200),
        },
    },
    summaryTrendStats: ["min", "med", "p(95)", "p(99)", "max", "avg"],
};

export default function () {
    const session = `bench-${__VU}-${__ITER}`;
    ws.connect(__ENV.URL, {}, (socket) => {
        let n = 0;
        let sent = 0;
        const send = () => {
            const msg = envelope(session, `turn ${n + 1} of the benchmark`);
            sent = Date.now();
            socket.send(msg);
        };
        socket.on("open", send);
        socket.on("message", (data) => {
            turnDuration.add(Date.now() - sent);
            turnsDone.add(1);
            let ok = false;
            try {
                ok = JSON.parse(data).type === "reply";
            } catch (e) {
                ok = false;
            }
            if (!ok) {
                turnErrors.add(1);
            }
            n++;
            if (n >= TURNS) {
                socket.close();
            } else {
                send();
            }
        });
        socket.on("error", () => {
            turnErrors.add(1);
            socket.close();
        });
        socket.setTimeout(() => {
            turnErrors.add(TURNS - n);
            socket.close();
        }, 10000);
    });
}

export function handleSummary(data) {
    return { [__ENV.SUMMARY_FILE]: JSON.stringify(data) };
}
