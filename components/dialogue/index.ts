export * from "./config";
export * from "./kubernetes";
export * from "./schema";
