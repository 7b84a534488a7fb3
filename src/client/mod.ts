/** The agent client: keys, signed deltas with seq and hybrid clock, and the region HTTP client. */
export { Agent } from "./agent.ts";
export { AgentKey } from "./agent_key.ts";
export { type HlcStamp, HybridClock } from "./hybrid_clock.ts";
export {
  batches,
  type Envelope,
  MeshClient,
  MeshHttpError,
  type TailPage,
  type ViewJson,
} from "./mesh_client.ts";
