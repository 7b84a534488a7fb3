/** The public face of src/views/: what other folders may use. Files starting with _ stay private. */
export * from "./ack_index.ts";
export * from "./channel_directory.ts";
export * from "./channel_views.ts";
export * from "./channel_watch.ts";
export * from "./checkpoint_job.ts";
export * from "./poll_chain.ts";
export * from "./view_checkpoint.ts";
