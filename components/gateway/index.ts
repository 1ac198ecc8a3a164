export * from "./checks";
export * from "./haproxy";
export * from "./kubernetes";
export * from "./schema";
export * from "./server";
export * from "./server-plan";
