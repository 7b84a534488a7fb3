/** The public face of src/status/: the status document, its stream and the status page. */
export * from "./accept.ts";
export * from "./board.ts";
export * from "./coordination.ts";
export * from "./document.ts";
export * from "./feed.ts";
export * from "./lag_reservoir.ts";
export * from "./links.ts";
export * from "./page.ts";
export * from "./routes.ts";
export * from "./throughput.ts";
