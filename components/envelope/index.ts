export * from "./schema";
export * from "./sign";
