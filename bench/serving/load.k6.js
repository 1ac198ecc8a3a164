// k6 scenario of the serving benchmark (bench/serving.ts starts it; see bench/README.md). One path
// (URL) at one load, then the summary as JSON to SUMMARY_FILE. Environment:
//   URL          the KServe v2 infer URL (direct Triton or through the gateway)
//   BODY_FILE    the request body (JSON)
//   TOKEN        bearer token, or empty (direct Triton checks none)
//   MODE         "rate": open loop, RATE requests per second (constant-arrival-rate): a slow answer
//                does not slow the arrivals, so queueing shows in the latency;
//                "vus": closed loop, VUS concurrent requests back to back (constant-vus)
//   RATE, VUS, DURATION (k6 duration, e.g. 10s), MAX_VUS (open loop: cap on requests in flight)
import http from "k6/http";
import { Counter } from "k6/metrics";

// Answers refused by the gateway's rate limit (429), counted apart from other errors.
const rateLimited = new Counter("status_429");

const body = open(__ENV.BODY_FILE);
const headers = { "content-type": "application/json" };
if (__ENV.TOKEN) {
    headers.authorization = `Bearer ${__ENV.TOKEN}`;
}
const duration = __ENV.DURATION || "10s";
const scenario =
    __ENV.MODE === "vus"
        ? { executor: "constant-vus", vus: Number(__ENV.VUS), duration }
        : {
              executor: "constant-arrival-rate",
              rate: Number(__ENV.RATE),
              timeUnit: "1s",
              duration,
              preAllocatedVUs: Math.min(Number(__ENV.MAX_VUS || 200), Math.max(8, Math.ceil(Number(__ENV.RATE) / 20))),
              maxVUs: Number(__ENV.MAX_VUS || 200),
          };

export const options = {
    scenarios: { load: scenario },
    discardResponseBodies: true,
    summaryTrendStats: ["min", "med", "p(95)", "p(99)", "max", "avg"],
};

export default function () {
    // An answer slower than 10 s counts as an error.
    const res = http.post(__ENV.URL, body, { headers, timeout: "10s", responseCallback: http.expectedStatuses(200) });
    if (res.status === 429) {
        rateLimited.add(1);
    }
}

export function handleSummary(data) {
    return { [__ENV.SUMMARY_FILE]: JSON.stringify(data) };
}
