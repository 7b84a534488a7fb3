/** The public face of src/store/: what other folders may use. Files starting with _ stay private. */
export * from "./blob_store.ts";
export * from "./deno_kv_store.ts";
export * from "./index_limits.ts";
export * from "./memory_store.ts";
export * from "./region_log.ts";
export * from "./region_store.ts";
export * from "./upstash_store.ts";
