export * from "./config";
export * from "./kubernetes";
export * from "./schema";
export * from "./server";
