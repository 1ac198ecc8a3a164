// k6 scenario of the serving benchmark's webhook path (bench/serving/run.ts starts it): open-loop
// POST /webhook/<PLATFORM> at a constant arrival rate, each a new signed R11 message (its own
// message_id and session), as a collaboration platform sends them; the acknowledgement (202) is what is
// timed (`http_req_duration`), the reply itself goes to the platform's reply URL (the bench's loopback
// receiver). Then the summary as JSON to SUMMARY_FILE. Environment:
//   URL (http://.../webhook/<platform>), TOKEN (bearer, through the gateway; empty direct),
//   HMAC_KEY (the R11 key), PLATFORM, RATE, DURATION, MAX_VUS.
import http from "k6/http";
import { Counter } from "k6/metrics";
import { envelope } from "./envelope.k6.js";

// Answers 503 (the service's bounded webhook queue is full: `overloaded`), counted apart.
const overloaded = new Counter("status_503");
// Answers 429 (the gateway's rate limit).
const rateLimited = new Counter("status_429");

export const options = {
    scenarios: {
        load: {
            executor: "constant-arrival-rate",
            rate: Number(__ENV.RATE),
            timeUnit: "1s",
            duration: __ENV.DURATION || "10s",
            preAllocatedVUs: Math.min(Number(__ENV.MAX_VUS || 200), Math.max(8, Math.ceil(Number(__ENV.RATE) / 20))),
            maxVUs: Number(__ENV.MAX_VUS || 200),
        },
    },
    discardResponseBodies: true,
    summaryTrendStats: ["min", "med", "p(95)", "p(99)", "max", "avg"],
};

const headers = { "content-type": "application/json" };
if (__ENV.TOKEN) {
    headers.authorization = `Bearer ${__ENV.TOKEN}`;
}

export default function () {
    const body = envelope(`bench-webhook-${__VU}-${__ITER}`, "a webhook turn of the benchmark");
    // An acknowledgement slower than 10 s counts as an error.
    const res = http.post(__ENV.URL, body, { headers, timeout: "10s", responseCallback: http.expectedStatuses(202) });
    if (res.status === 503) {
        overloaded.add(1);
    } else if (res.status === 429) {
        rateLimited.add(1);
    }
}

export function handleSummary(data) {
    return { [__ENV.SUMMARY_FILE]: JSON.stringify(data) };
}
