/** The public face of src/compose/: what other folders may use. Files starting with _ stay private. */
export * from "./config.ts";
export * from "./mesh_region_app.ts";
export * from "./open_region.ts";
