/** The public face of src/crdt/: what other folders may use. Files starting with _ stay private. */
export * from "./author_heads.ts";
export * from "./channel_fold.ts";
export * from "./channel_state.ts";
export * from "./filtered_channel_state.ts";
export * from "./fold_snapshot.ts";
export * from "./lww_map.ts";
export * from "./or_set.ts";
export * from "./pn_counter.ts";
export * from "./stamp.ts";
