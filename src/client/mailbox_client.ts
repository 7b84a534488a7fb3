/**
 * Mailboxes from the agent's side (docs/protocol.md §23): send sealed direct messages, and, with
 * requests the owner signs (RFC 9421), read one's own mailbox and acknowledge what was read. The
 * region sees ciphertext only; `openDirectMessage` (messaging.ts) verifies and decrypts.
 * `MeshClient.send/inbox/ack` call these.
 */
import {
  ACK_BODY_BYTES_MAX,
  INBOX_LIMIT_MAX,
  type InboxMessageJson,
} from "../protocol/message_wire.ts";
import type { AgentKey } from "../crypto/agent_key.ts";
import type { DeltaResult } from "../protocol/result.ts";
import { batches, type Envelope, type RegionHttp } from "./_http.ts";
import { signRequest, type SignRequestOptions } from "./request_signer.ts";

/** Largest acknowledgement request body a region takes, in bytes. */
export const ACK_REQUEST_BYTES_MAX = ACK_BODY_BYTES_MAX;
export { INBOX_LIMIT_MAX };

/** A direct message as its recipient reads it: sealed, with the signed envelope. */
export type InboxMessage = InboxMessageJson;

/** One page of a mailbox: unexpired, unacknowledged messages in this region's arrival order. */
export interface InboxPage {
  readonly messages: InboxMessage[];
  /** Pass as `after` to read the messages after these (this region's numbering). */
  readonly cursor: string;
  /** Whether more messages are waiting after this page. */
  readonly more: boolean;
}

/** An inbox read: messages after `after` (default 0: all), at most `limit` (1 … 256). */
export interface InboxQuery {
  readonly after?: string | number;
  readonly limit?: number;
  /** How the request is signed (clock, nonce); defaults as `signRequest`. */
  readonly signing?: SignRequestOptions;
}

/** Sends sealed direct messages (`POST /v1/messages`) in batches; results in input order. */
export async function sendMessages(
  http: RegionHttp,
  envelopes: readonly Envelope[],
): Promise<DeltaResult[]> {
  const results: DeltaResult[] = [];
  for (const batch of batches(envelopes)) {
    const answer = await http.json<{ results: DeltaResult[] }>("send", "/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: batch }),
    });
    results.push(...answer.results);
  }
  return results;
}

/** One page of `key`'s own mailbox: `GET /v1/agents/{id}/inbox`, signed with `key`. */
export async function readInbox(
  http: RegionHttp,
  key: AgentKey,
  query: InboxQuery = {},
): Promise<InboxPage> {
  const params = new URLSearchParams({ after: String(query.after ?? 0) });
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  const url = `${http.url}/v1/agents/${key.id}/inbox?${params}`;
  const request = await signRequest(key, new Request(url), query.signing);
  return await http.json("inbox", request);
}

/**
 * Acknowledges messages of `key`'s mailbox: posts acknowledgement envelopes (`signAck`) to
 * `POST /v1/agents/{id}/inbox/ack`, each request signed with `key`; results in input order.
 */
export async function ackMessages(
  http: RegionHttp,
  key: AgentKey,
  envelopes: readonly Envelope[],
  signing: SignRequestOptions = {},
): Promise<DeltaResult[]> {
  const results: DeltaResult[] = [];
  const url = `${http.url}/v1/agents/${key.id}/inbox/ack`;
  for (const [i, batch] of batches(envelopes, ACK_REQUEST_BYTES_MAX).entries()) {
    const request = new Request(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ acks: batch }),
    });
    const answer = await http.json<{ results: DeltaResult[] }>(
      "ack",
      await signRequest(key, request, i === 0 ? signing : { ...signing, nonce: undefined }),
    );
    results.push(...answer.results);
  }
  return results;
}
