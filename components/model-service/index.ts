export * from "./model-config";
export * from "./model-service";
export * from "./schema";
export * from "./workload";
