/** The agent client: keys, signed deltas with seq and hybrid clock, and the region HTTP client. */
export { Agent } from "./agent.ts";
export { AgentKey } from "../crypto/agent_key.ts";
export { FileSeqLedger, MemorySeqLedger, type SeqLedger, seqStatePath } from "./seq_ledger.ts";
export { exactJsonText, parseView } from "./view_json.ts";
export { type HlcStamp, HybridClock } from "./hybrid_clock.ts";
export {
  batches,
  type Envelope,
  MeshClient,
  MeshHttpError,
  MeshUnreachableError,
  type TailPage,
  type ViewJson,
} from "./mesh_client.ts";
