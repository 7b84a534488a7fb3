/** The agent client: keys, signed deltas with seq and hybrid clock, and the region HTTP client. */
export { Agent, InvalidDeltaError } from "./agent.ts";
export {
  type CardProblem,
  CardVerificationError,
  type VerifiedAgentCard,
  verifyCardAnswer,
} from "./agent_card_answer.ts";
export { type AgentCard, parseAgentCard, REGISTRY_CHANNEL } from "../protocol/agent_card.ts";
export { AgentKey } from "../crypto/agent_key.ts";
export { FileSeqLedger, MemorySeqLedger, type SeqLedger, seqStatePath } from "./seq_ledger.ts";
export { exactJsonText, parseView } from "./view_json.ts";
export { signRequest, type SignRequestOptions } from "./request_signer.ts";
export { type HlcStamp, HybridClock } from "./hybrid_clock.ts";
export {
  batches,
  type DiscoveredAgent,
  type DiscoverPage,
  type DiscoverQuery,
  type Envelope,
  MeshClient,
  MeshHttpError,
  MeshUnreachableError,
  type TailPage,
  type ViewJson,
} from "./mesh_client.ts";
