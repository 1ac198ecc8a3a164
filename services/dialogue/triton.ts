// Triton's KServe v2 HTTP/REST API on the active slot (the routing Service on Kubernetes, the local
// Triton on the server). REST, not gRPC: measured in docs/DIALOGUE.md (the model's own time dominates;
// REST keeps the service free of a protobuf toolchain and goes through the same port and
// NetworkPolicy as every other Triton client). Node's fetch keeps connections alive (undici).
import type { HistoryEntry } from "../../components/envelope";
import { DialogueError, inferRequest, replyOf } from "./protocol";

/** Calls the dialogue model. */
export interface ModelClient {
    infer(query: string, history: HistoryEntry[], deadlineMs: number): Promise<string>;
    ready(): Promise<boolean>;
}

/** KServe v2 over HTTP. */
export class TritonRestClient implements ModelClient {
    constructor(
        private readonly baseUrl: string,
        private readonly model: string,
    ) {}

    async infer(query: string, history: HistoryEntry[], deadlineMs: number): Promise<string> {
        let res: Response;
        try {
            res = await fetch(`${this.baseUrl.replace(/\/$/, "")}/v2/models/${this.model}/infer`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify(inferRequest(query, history)),
                signal: AbortSignal.timeout(deadlineMs),
            });
        } catch (e) {
            const err = e as Error;
            if (err.name === "TimeoutError" || err.name === "AbortError") {
                throw new DialogueError("model_timeout", `the model did not answer within ${deadlineMs} ms`);
            }
            throw new DialogueError("model_unavailable", `Triton could not be reached (${(err.cause as Error | undefined)?.message ?? err.message})`);
        }
        let body: unknown;
        try {
            body = await res.json();
        } catch (e) {
            const err = e as Error;
            if (err.name === "TimeoutError" || err.name === "AbortError") {
                throw new DialogueError("model_timeout", `the model did not answer within ${deadlineMs} ms`);
            }
            throw new DialogueError("model_error", `Triton answered ${res.status} without JSON`);
        }
        if (!res.ok) {
            // Triton's error text names the model and input, never the content: safe to pass on.
            const msg = typeof (body as { error?: unknown })?.error === "string" ? (body as { error: string }).error.slice(0, 200) : "";
            throw new DialogueError(res.status === 503 ? "model_unavailable" : "model_error", `Triton answered ${res.status}${msg ? `: ${msg}` : ""}`);
        }
        return replyOf(body);
    }

    async ready(): Promise<boolean> {
        try {
            const res = await fetch(`${this.baseUrl.replace(/\/$/, "")}/v2/models/${this.model}/ready`, { signal: AbortSignal.timeout(1000) });
            await res.arrayBuffer();
            return res.status === 200;
        } catch {
            return false;
        }
    }
}
