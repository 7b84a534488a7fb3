/**
 * Topic and direct messages as regions answer them (docs/protocol.md §22.5, §23.3): the JSON
 * shapes a subscriber and a mailbox reader receive, and the limits of the routes that answer
 * them — one definition for the regions that send them and the SDK that reads them.
 */

/** A signed envelope as it travels: the body text exactly as signed, and its signature. */
export interface EnvelopeJson {
  readonly body: string;
  readonly sig: string;
}

/** A topic message as a region delivers it (SSE `data:`, long-poll `messages[]`). */
export interface TopicMessageJson {
  /** The message id: base64url(sha256(body bytes)). */
  readonly id: string;
  readonly topic: string;
  readonly author: string;
  /** The author's seq in this topic. */
  readonly seq: number;
  /** Signed time of the message, ms since the epoch. */
  readonly ts: number;
  /** `ts + ttl`: after it the message is no longer delivered, ms since the epoch. */
  readonly expires: number;
  readonly data: unknown;
  /** The signed envelope, so any subscriber can verify the message itself. */
  readonly envelope: EnvelopeJson;
}

/** A direct message as its recipient reads it (`GET /v1/agents/{id}/inbox`): sealed, signed. */
export interface InboxMessageJson {
  /** The message id: base64url(sha256(body bytes)); acknowledge it by this id. */
  readonly id: string;
  /** The author's agent id. */
  readonly from: string;
  readonly seq: number;
  /** Signed time, ms since the epoch. */
  readonly ts: number;
  /** `ts + ttl`: after it the message is gone, read or not, ms since the epoch. */
  readonly expires: number;
  /** HPKE encapsulated key and ciphertext, unpadded base64url. */
  readonly enc: string;
  readonly ct: string;
  readonly envelope: EnvelopeJson;
}

/** Most messages one inbox read answers (`limit` at most). */
export const INBOX_LIMIT_MAX = 256;
/** Default `limit` of an inbox read. */
export const INBOX_LIMIT_DEFAULT = 100;
/** Largest acknowledgement request body (`POST /v1/agents/{id}/inbox/ack`), in bytes. */
export const ACK_BODY_BYTES_MAX = 65_536;
