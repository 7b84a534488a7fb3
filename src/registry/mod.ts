/** The agent registry: signed cards in `_registry`, the discovery index, liveness, routes. */
export * from "./registry.ts";
export * from "./routes.ts";
export * from "./heartbeat_route.ts";
export * from "./discovery.ts";
export * from "./index_layout.ts";
export * from "./indexer.ts";
export * from "./liveness.ts";
