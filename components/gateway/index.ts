export * from "./checks";
export * from "./gateway";
export * from "./haproxy";
export * from "./schema";
export * from "./server";
