/** The public face of src/region/: what other folders may use. Files starting with _ stay private. */
export * from "./agent_request.ts";
export * from "./app.ts";
export * from "./channel_list_route.ts";
export * from "./channel_routes.ts";
export * from "./channel_wait.ts";
export * from "./cors.ts";
export * from "./deps.ts";
export * from "./ingest.ts";
export * from "./problem.ts";
export * from "./push_route.ts";
export * from "./query_params.ts";
export * from "./read_body.ts";
export * from "./read_guard.ts";
export * from "./retained_scan.ts";
