/** The public face of src/mesh/: what other folders may use. Files starting with _ stay private. */
export * from "./eager_forward.ts";
export * from "./fan_out.ts";
export * from "./leader_lease.ts";
export * from "./mesh_node.ts";
export * from "./mesh_observer.ts";
export * from "./partition.ts";
export * from "./peer_health.ts";
export * from "./peer_client.ts";
export * from "./peer_inbox.ts";
export * from "./peer_routes.ts";
export * from "./phi_accrual.ts";
export * from "./region_index.ts";
export * from "./region_message.ts";
export * from "./scheduler.ts";
export * from "./tick_scheduler.ts";
export * from "./topology.ts";
