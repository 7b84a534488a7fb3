/** Content-addressed blobs: uploads, reads, peer pulls and collection (docs/protocol.md §25). */
export * from "./blobs.ts";
export * from "./budget.ts";
export * from "./collector.ts";
export * from "./peer_pull.ts";
export * from "./range.ts";
export * from "./read_route.ts";
export * from "./read_stream.ts";
export * from "./receive.ts";
export * from "./references.ts";
export * from "./routes.ts";
export * from "./upload_route.ts";
