/**
 * The agent client: keys, signed deltas with seq and hybrid clock, topic and direct messages, and
 * the region HTTP client.
 */
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
export {
  type BlobMetaInput,
  blobRefOp,
  type BlobSigner,
  type BlobSource,
  BlobVerificationError,
  type ByteRange,
  hashStream,
  type OpenedBlob,
  type PutBlobResult,
  type UploadedBlob,
} from "./blob_client.ts";
export {
  BLOB_BYTES_MAX,
  type BlobMeta,
  blobRefKey,
  BLOBS_CHANNEL,
  parseBlobRefKey,
} from "../protocol/blob_ref.ts";
export { type HlcStamp, HybridClock } from "./hybrid_clock.ts";
export { newTraceparent, type TraceOptions, traceparentFor } from "./trace_context.ts";
export {
  MESSAGE_TTL_MS_DEFAULT,
  type MessageOptions,
  type MessageProblem,
  MessageVerificationError,
  openDirectMessage,
  type OpenedMessage,
  sealDirectMessage,
  signAck,
  signTopicMessage,
  TOPIC_TTL_MS_DEFAULT,
  verifyTopicEvent,
} from "./messaging.ts";
export {
  SSE_EVENT_CHARS_MAX,
  SUBSCRIBE_BACKOFF_MS_MAX,
  SUBSCRIBE_IDLE_MS_MAX,
  SUBSCRIBE_RETRY_MS_DEFAULT,
  type SubscribedMessage,
  SubscriptionError,
  type TopicMessage,
  type TopicPage,
  type TopicPollQuery,
  type TopicQuery,
} from "./topic_client.ts";
export {
  ACK_REQUEST_BYTES_MAX,
  INBOX_LIMIT_MAX,
  type InboxMessage,
  type InboxPage,
  type InboxQuery,
} from "./mailbox_client.ts";
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
export {
  type ProposalAnswer,
  type ProposalInput,
  type ProposalList,
  type ProposalListQuery,
  type ProposalQuery,
  type ProposalState,
  type ProposalSummary,
  type ProposalVote,
  signProposal,
  signVote,
  verifyProposalAnswer,
} from "./proposal_client.ts";
