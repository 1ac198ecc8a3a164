// k6 scenario of the serving benchmark's dialogue path (bench/serving/run.ts starts it): open-loop
// WebSocket sessions at a constant arrival rate, each TURNS signed R11 messages one after another on one
// connection (a turn: send a message, wait for its reply frame), then the summary as JSON to
// SUMMARY_FILE. The turn time is the metric (`turn_duration`); the handshake is not in it. Environment:
//   URL (ws://.../chat, with ?token= through the gateway), HMAC_KEY (the R11 key), PLATFORM,
//   RATE (sessions per second), TURNS, DURATION, MAX_VUS.
import crypto from "k6/crypto";
import { Counter, Trend } from "k6/metrics";
import ws from "k6/ws";

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

const hex = (n) => {
    let s = "";
    for (let i = 0; i < n; i++) {
        s += Math.floor(Math.random() * 16).toString(16);
    }
    return s;
};
const uuid4 = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${"89ab"[Math.floor(Math.random() * 4)]}${hex(3)}-${hex(12)}`;

/** An R11 message signed as components/envelope signs it: HMAC-SHA256 over the RFC 8785 form (keys sorted). */
function envelope(session, query) {
    const header = { message_id: uuid4(), platform: __ENV.PLATFORM, timestamp: Date.now() };
    const payload = { context: { history: [] }, query, session_id: session };
    const canonical =
        `{"header":{"message_id":${JSON.stringify(header.message_id)},"platform":${JSON.stringify(header.platform)},"timestamp":${header.timestamp}},` +
        `"payload":{"context":{"history":[]},"query":${JSON.stringify(query)},"session_id":${JSON.stringify(session)}}}`;
    return JSON.stringify({ header, payload, signature: crypto.hmac("sha256", __ENV.HMAC_KEY, canonical, "hex") });
}

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
