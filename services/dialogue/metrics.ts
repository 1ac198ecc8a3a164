// Prometheus metrics per route and platform (prom-client, its own registry: nothing global).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The service's metrics. Labels: route (websocket, webhook, rest), platform (bounded), code (ok or an error code). */
export class DialogueMetrics {
    readonly registry = new Registry();
    readonly requests = new Counter({
        name: "dialogue_requests_total",
        help: "Messages handled, by route, platform and result code (ok or the error code).",
        labelNames: ["route", "platform", "code"],
        registers: [this.registry],
    });
    readonly duration = new Histogram({
        name: "dialogue_request_duration_seconds",
        help: "Time from a message's arrival to its answer (for webhooks: to the acknowledgement).",
        labelNames: ["route", "platform"],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5],
        registers: [this.registry],
    });
    readonly inference = new Histogram({
        name: "dialogue_inference_duration_seconds",
        help: "Time of the model call to Triton, by route.",
        labelNames: ["route"],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5],
        registers: [this.registry],
    });
    readonly deliveries = new Counter({
        name: "dialogue_webhook_deliveries_total",
        help: "Webhook reply deliveries, by platform and outcome (delivered, retried, failed, dropped).",
        labelNames: ["platform", "outcome"],
        registers: [this.registry],
    });
    readonly replays = new Counter({
        name: "dialogue_replays_total",
        help: "Messages whose message_id was already answered (answered from the store, no inference).",
        labelNames: ["route", "platform"],
        registers: [this.registry],
    });
    readonly connections = new Gauge({ name: "dialogue_websocket_connections", help: "Open WebSocket connections.", registers: [this.registry] });
    readonly queue = new Gauge({ name: "dialogue_webhook_queue_length", help: "Webhook replies waiting for delivery in this replica.", registers: [this.registry] });
    readonly inFlight = new Gauge({ name: "dialogue_inferences_in_flight", help: "Model calls running in this replica.", registers: [this.registry] });

    constructor() {
        collectDefaultMetrics({ register: this.registry, prefix: "dialogue_process_" });
    }
}
