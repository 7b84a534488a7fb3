/**
 * The public face of src/adapters/: one adapter per runtime, each giving a region what that
 * runtime has beyond web standards (files, Deno KV, the client's address, how jobs are woken).
 * Only entrypoints (main.ts, functions/) import them.
 */
export * from "./deno.ts";
export * from "./edge.ts";
export * from "./kv_queue_scheduler.ts";
export * from "./vercel_edge.ts";
export * from "./workerd.ts";
