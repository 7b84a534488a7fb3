/** The public face of src/compose/: what other folders may use. Files starting with _ stay private. */
export * from "./background.ts";
export * from "./blob_peers.ts";
export * from "./config.ts";
export * from "./host.ts";
export * from "./instrumented_store.ts";
export * from "./jobs_route.ts";
export * from "./metrics_route.ts";
export * from "./prometheus_text.ts";
export * from "./mesh_region_app.ts";
export * from "./open_region.ts";
