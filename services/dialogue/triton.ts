// Triton's KServe v2 HTTP/REST API on the active slot (the routing Service on Kubernetes, the local
// Triton on the server). REST, not gRPC: measured in docs/DIALOGUE.md (the model's own time dominates;
// REST keeps the service free of a protobuf toolchain and goes through the same port and
// NetworkPolicy as every other Triton client).
//
// node:http with a keep-alive agent rather than fetch: in a CPU profile of the service under load
// (docs/BENCHMARKS.md, section 6), fetch spent more of each turn than the service's own checks:
// - it always sends `accept-encoding: gzip, deflate`, so Triton gzips every answer (a few hundred
//   bytes) and the service gunzips it: CPU on both sides for nothing;
// - the AbortSignal.timeout() of the deadline is never cleared: it fires after every request that had
//   long finished, building a DOMException and aborting a completed fetch;
// - WHATWG streams around a body that is read whole anyway.
import * as http from "http";
import * as https from "https";
import type { HistoryEntry } from "../../components/envelope";
import { DialogueError, inferRequest, replyOf } from "./protocol";

/** Calls the dialogue model. */
export interface ModelClient {
    infer(query: string, history: HistoryEntry[], deadlineMs: number): Promise<string>;
    ready(): Promise<boolean>;
}

/** Largest answer read from Triton; a dialogue reply is a few hundred bytes. */
const MAX_RESPONSE_BYTES = 4 << 20;

/** KServe v2 over HTTP. */
export class TritonRestClient implements ModelClient {
    private readonly inferUrl: URL;
    private readonly readyUrl: URL;
    private readonly agent: http.Agent;
    private readonly transport: typeof http | typeof https;

    constructor(baseUrl: string, model: string) {
        const base = baseUrl.replace(/\/$/, "");
        this.inferUrl = new URL(`${base}/v2/models/${model}/infer`);
        this.readyUrl = new URL(`${base}/v2/models/${model}/ready`);
        this.transport = this.inferUrl.protocol === "https:" ? https : http;
        // Idle connections are kept 4 s (undici's default too), closed before Triton's own idle timeout.
        this.agent = new this.transport.Agent({ keepAlive: true, timeout: 4000 });
    }

    infer(query: string, history: HistoryEntry[], deadlineMs: number): Promise<string> {
        const body = JSON.stringify(inferRequest(query, history));
        return new Promise<string>((resolve, reject) => {
            let settled = false;
            const fail = (e: DialogueError) => {
                if (!settled) {
                    settled = true;
                    clearTimeout(timer);
                    reject(e);
                }
            };
            const req = this.transport.request(
                this.inferUrl,
                {
                    method: "POST",
                    agent: this.agent,
                    // Triton compresses its answer for a client that accepts gzip: not worth it for a few hundred bytes.
                    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), "accept-encoding": "identity" },
                },
                (res) => {
                    const chunks: Buffer[] = [];
                    let size = 0;
                    res.on("data", (c: Buffer) => {
                        size += c.length;
                        if (size > MAX_RESPONSE_BYTES) {
                            fail(new DialogueError("model_error", `Triton's answer is over ${MAX_RESPONSE_BYTES} bytes`));
                            req.destroy();
                            return;
                        }
                        chunks.push(c);
                    });
                    res.on("error", (e) => fail(new DialogueError("model_unavailable", `Triton's answer broke off (${e.message})`)));
                    res.on("end", () => {
                        if (settled) {
                            return;
                        }
                        const status = res.statusCode ?? 0;
                        let parsed: unknown;
                        try {
                            parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
                        } catch {
                            return fail(new DialogueError("model_error", `Triton answered ${status} without JSON`));
                        }
                        if (status < 200 || status > 299) {
                            // Triton's error text names the model and input, never the content: safe to pass on.
                            const msg = typeof (parsed as { error?: unknown })?.error === "string" ? (parsed as { error: string }).error.slice(0, 200) : "";
                            return fail(new DialogueError(status === 503 ? "model_unavailable" : "model_error", `Triton answered ${status}${msg ? `: ${msg}` : ""}`));
                        }
                        try {
                            const reply = replyOf(parsed);
                            settled = true;
                            clearTimeout(timer);
                            resolve(reply);
                        } catch (e) {
                            fail(e as DialogueError);
                        }
                    });
                },
            );
            const timer = setTimeout(() => {
                fail(new DialogueError("model_timeout", `the model did not answer within ${deadlineMs} ms`));
                req.destroy();
            }, deadlineMs);
            req.on("error", (e) => fail(new DialogueError("model_unavailable", `Triton could not be reached (${e.message})`)));
            req.end(body);
        });
    }

    async ready(): Promise<boolean> {
        try {
            const res = await fetch(this.readyUrl, { signal: AbortSignal.timeout(1000) });
            await res.arrayBuffer();
            return res.status === 200;
        } catch {
            return false;
        }
    }
}
