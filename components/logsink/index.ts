// LogSink (R13): conversation and server logs to S3-compatible object storage. One concern, two targets:
// kubernetes.ts declares the OpenTelemetry Collector DaemonSet, server.ts the lightweight server's shipper
// (from server-plan.ts); config.ts, network-policy.ts and retention.ts hold the pure builders both use.
export * from "./config";
export * from "./kubernetes";
export * from "./network-policy";
export * from "./retention";
export * from "./schema";
export * from "./server";
export * from "./server-plan";
export * from "./shared";
