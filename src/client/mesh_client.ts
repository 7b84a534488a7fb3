/**
 * HTTP client of one region: push envelopes in bounded batches, read views (counters exact, as
 * `bigint`), tail channels, read author heads, discover agents and read their cards (verified
 * offline against the signed delta, so the region need not be trusted), send signed heartbeats,
 * publish to and subscribe to topics, send direct messages and read and acknowledge a mailbox.
 * A region that answers with an error is a `MeshHttpError` carrying its problem details; one that
 * cannot be reached is a `MeshUnreachableError` naming the URL tried.
 */
import {
  fetchSignedProposal,
  listProposals,
  type ProposalAnswer,
  type ProposalList,
  type ProposalListQuery,
  type ProposalQuery,
  readProposal,
} from "./_proposal_reads.ts";
import type { DeltaResult } from "../protocol/result.ts";
import { TAIL_LIMIT_MAX } from "../protocol/limits.ts";
import type { AuthorHead } from "../protocol/result.ts";
import type { AgentCard } from "../protocol/agent_card.ts";
import type { Proposal } from "../protocol/proposal.ts";
import { parseView, type ViewJson } from "./view_json.ts";
import type { AgentKey } from "../crypto/agent_key.ts";
import { type VerifiedAgentCard, verifyCardAnswer } from "./agent_card_answer.ts";
import { signRequest, type SignRequestOptions } from "./request_signer.ts";
import {
  type BlobMetaInput,
  type BlobSigner,
  type BlobSource,
  type ByteRange,
  getBlob,
  openBlob,
  type OpenedBlob,
  putBlob,
  type PutBlobResult,
} from "./blob_client.ts";
import { type TraceOptions, TRACEPARENT_HEADER, traceparentFor } from "./trace_context.ts";
import {
  batches,
  type Envelope,
  MeshHttpError,
  MeshUnreachableError,
  RegionHttp,
} from "./_http.ts";
import {
  pollTopic,
  publishTopic,
  type SubscribedMessage,
  subscribeTopic,
  type TopicPage,
  type TopicPollQuery,
  type TopicQuery,
} from "./topic_client.ts";
import {
  ackMessages,
  type InboxPage,
  type InboxQuery,
  readInbox,
  sendMessages,
} from "./mailbox_client.ts";

export type { Envelope, TraceOptions, ViewJson };
export { batches, MeshHttpError, MeshUnreachableError };

export interface TailPage {
  readonly deltas: Envelope[];
  readonly cursor: string;
  readonly more: boolean;
}

/** A discovery query (docs/protocol.md §20.4): every criterion given must match. */
export interface DiscoverQuery {
  /** A skill id, exact. */
  readonly skill?: string;
  /** Tags, any case; the card must carry all of them (at most 8). */
  readonly tags?: readonly string[];
  /** Text: each of its words must be a word of the card's name or description. */
  readonly q?: string;
  /** Agents per page, 1 … 100 (region default 20). */
  readonly limit?: number;
  /** The `cursor` of the previous page of the same query. */
  readonly cursor?: string;
}

/** An agent as discovery lists it. The card is the region's word: `card(id)` verifies it. */
export interface DiscoveredAgent {
  readonly id: string;
  readonly card: AgentCard;
  /** Largest signed `ts` of the agent's deltas the region stores, ms since the epoch. */
  readonly lastSeen: number;
  readonly stale: boolean;
  /** The region that stored the delta `lastSeen` comes from; null when unknown. */
  readonly region: string | null;
}

export interface DiscoverPage {
  readonly agents: DiscoveredAgent[];
  /** Pass as `cursor` for the next page; null when there is none. */
  readonly cursor: string | null;
}

export class MeshClient {
  readonly url: string;
  readonly #http: RegionHttp;

  /** `url` is the region's base URL, e.g. `http://127.0.0.1:8000`. */
  constructor(url: string, options: { fetch?: typeof fetch } = {}) {
    this.#http = new RegionHttp(url, options.fetch ?? fetch);
    this.url = this.#http.url;
  }

  /**
   * Pushes envelopes in batches within the push limits; results in input order. Every batch
   * carries one W3C `traceparent`: `trace.traceparent`, else the span of `trace.context` or of
   * the active OpenTelemetry context, else a new trace's; the regions' spans of the push, its
   * fan-out and the other regions' ingest continue it.
   */
  async push(envelopes: readonly Envelope[], trace: TraceOptions = {}): Promise<DeltaResult[]> {
    const traceparent = traceparentFor(trace);
    const results: DeltaResult[] = [];
    for (const batch of batches(envelopes)) {
      const answer = await this.#http.json<{ results: DeltaResult[] }>(
        "push",
        "/v1/deltas",
        {
          method: "POST",
          headers: { "content-type": "application/json", [TRACEPARENT_HEADER]: traceparent },
          body: JSON.stringify({ deltas: batch }),
        },
      );
      results.push(...answer.results);
    }
    return results;
  }

  /** The channel's view; counters are exact `bigint`s (they may exceed 2^53). */
  async view(channel: string): Promise<ViewJson> {
    return parseView(await this.#http.text("view", `/v1/channels/${encodeURIComponent(channel)}`));
  }

  /**
   * The channel's view once it is no longer the one with `fingerprint` (the `fingerprint` of a
   * view read before), waiting up to `waitS` seconds (at most 30) for a change; null when none
   * came in that time (docs/protocol.md §12.2).
   */
  async viewChange(channel: string, fingerprint: string, waitS = 25): Promise<ViewJson | null> {
    const text = await this.#http.textUnlessNotModified(
      "view",
      `/v1/channels/${encodeURIComponent(channel)}?wait=${waitS}`,
      { headers: { "if-none-match": `"${fingerprint}"` } },
    );
    return text === null ? null : parseView(text);
  }

  /**
   * One page of the channel's deltas after `cursor` ("0" or omitted: from the start). With
   * `waitS`, a page that would be empty waits up to that many seconds (at most 30) for a delta.
   */
  tail(
    channel: string,
    cursor = "0",
    limit = TAIL_LIMIT_MAX,
    waitS = 0,
  ): Promise<TailPage> {
    const query = new URLSearchParams({ after: cursor, limit: String(limit) });
    if (waitS > 0) query.set("wait", String(waitS));
    return this.#http.json(
      "tail",
      `/v1/channels/${encodeURIComponent(channel)}/deltas?${query}`,
    );
  }

  /** Every delta of the channel after `cursor`, page by page, until caught up. */
  async *tailAll(
    channel: string,
    cursor = "0",
  ): AsyncGenerator<Envelope & { cursor: string }> {
    for (;;) {
      const page = await this.tail(channel, cursor);
      for (const delta of page.deltas) yield { ...delta, cursor: page.cursor };
      cursor = page.cursor;
      if (!page.more) return;
    }
  }

  /**
   * How far `author` got in `channel` (highest seq stored, ...). With `key` the request is signed
   * by it: a mailbox head is read only by the mailbox's owner or by that author (its own seqs to
   * a recipient), and a members-only channel or topic only by its members.
   */
  async head(channel: string, author: string, key?: AgentKey): Promise<AuthorHead> {
    const path = `/v1/channels/${encodeURIComponent(channel)}/authors/${author}`;
    if (key === undefined) return await this.#http.json("head", path);
    return await this.#http.json("head", await signRequest(key, new Request(this.url + path)));
  }

  /** One page of agents matching `query`, newest card first. */
  discover(query: DiscoverQuery = {}): Promise<DiscoverPage> {
    const params = new URLSearchParams();
    if (query.skill !== undefined) params.set("skill", query.skill);
    for (const tag of query.tags ?? []) params.append("tag", tag);
    if (query.q !== undefined) params.set("q", query.q);
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.cursor !== undefined) params.set("cursor", query.cursor);
    return this.#http.json("discover", `/v1/agents?${params}`);
  }

  /** Every agent matching `query`, following cursors page by page (each agent once). */
  async *discoverAll(query: Omit<DiscoverQuery, "cursor"> = {}): AsyncGenerator<DiscoveredAgent> {
    let cursor: string | undefined;
    do {
      const page = await this.discover({ ...query, cursor });
      yield* page.agents;
      cursor = page.cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * The agent's current card, verified: its envelope is a `_registry` delta signed by `id` and
   * the card shown is the card signed (else `CardVerificationError`). Null when the region holds
   * no card for `id` (never announced, withdrawn, or quarantined).
   */
  async card(id: string): Promise<VerifiedAgentCard | null> {
    let text: string;
    try {
      text = await this.#http.text("card", `/v1/agents/${encodeURIComponent(id)}`);
    } catch (error) {
      if (error instanceof MeshHttpError && error.status === 404) return null;
      throw error;
    }
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = null; // malformed: verifyCardAnswer says so
    }
    return await verifyCardAnswer(id, answer);
  }

  /**
   * Tells the region that `key`'s agent is alive: `POST /v1/agents/{id}/heartbeat` signed with
   * the key (RFC 9421, a fresh nonce each call). Raises the agent's `lastSeen` in this region
   * only; a refusal is a `MeshHttpError` (401 with the reason, 429 over the heartbeat budget).
   */
  async heartbeat(key: AgentKey, options: SignRequestOptions = {}): Promise<void> {
    const url = `${this.url}/v1/agents/${key.id}/heartbeat`;
    await this.#http.text(
      "heartbeat",
      await signRequest(key, new Request(url, { method: "POST" }), options),
    );
  }

  /**
   * Publishes signed topic messages of `topic` (`signTopicMessage`), in batches within the push
   * limits; one result per envelope, in input order, as `push()`.
   */
  publish(topic: string, envelopes: readonly Envelope[]): Promise<DeltaResult[]> {
    return publishTopic(this.#http, topic, envelopes);
  }

  /**
   * One long-poll of `subject` (a topic, or a pattern: `*` one token, a final `>` one or more):
   * up to `limit` messages after `cursor` (or from `since`), waiting up to `waitS` seconds for
   * the first. Read on with the answer's `cursor`.
   */
  messages(subject: string, query: TopicPollQuery = {}): Promise<TopicPage> {
    return pollTopic(this.#http, subject, query);
  }

  /**
   * Follows `subject` as Server-Sent Events: each message with the cursor to resume after it.
   * Reconnects from the last cursor after a network error or a `dropped` event, so nothing is
   * lost or repeated; ends when `query.signal` aborts. Verify messages with `verifyTopicEvent`.
   */
  subscribe(subject: string, query: TopicQuery = {}): AsyncGenerator<SubscribedMessage> {
    return subscribeTopic(this.#http, subject, query);
  }

  /** Sends sealed direct messages (`sealDirectMessage`); one result per envelope, in order. */
  send(envelopes: readonly Envelope[]): Promise<DeltaResult[]> {
    return sendMessages(this.#http, envelopes);
  }

  /**
   * One page of `key`'s own mailbox (a request signed with `key`): messages still sealed, open
   * each with `openDirectMessage(key, message)`. Read on with `after: page.cursor`.
   */
  inbox(key: AgentKey, query: InboxQuery = {}): Promise<InboxPage> {
    return readInbox(this.#http, key, query);
  }

  /**
   * Acknowledges messages of `key`'s mailbox with acknowledgement envelopes (`signAck`), in
   * requests signed with `key`: they are then gone from the mailbox in every region.
   */
  ack(
    key: AgentKey,
    envelopes: readonly Envelope[],
    signing?: SignRequestOptions,
  ): Promise<DeltaResult[]> {
    return ackMessages(this.#http, key, envelopes, signing);
  }

  /**
   * Proposal `id` as this region tallies it (§24.5): state, outcome once decided, counted
   * weights, and a page of ballots (`votesLimit`, default 100, after voter `votesAfter`).
   * Check its signed envelope with `verifyProposalAnswer`. With `query.key` the request is
   * signed: a proposal weighted by activity in a members-only channel answers only its members.
   */
  proposal(id: string, query: ProposalQuery = {}): Promise<ProposalAnswer> {
    return readProposal(this.#http, id, query);
  }

  /**
   * Proposal `id` as its author signed it (defaults filled in, no tally), verified; null when the
   * region does not hold it. Read through the open fetch route, so any agent may: a voter that is
   * not a member of a members-only activity channel (§24.5) votes from this.
   */
  signedProposal(id: string): Promise<Proposal | null> {
    return fetchSignedProposal(this.#http, id);
  }

  /**
   * One page of the proposals this region holds, by state (§24.6); read on with `cursor`. With
   * `query.key` the request is signed, and also lists the proposals private to its channels.
   */
  proposals(query: ProposalListQuery = {}): Promise<ProposalList> {
    return listProposals(this.#http, query);
  }

  health(): Promise<{ status: string; region: string; store: string }> {
    return this.#http.json("health", "/v1/health");
  }

  /**
   * Uploads a blob (a request `signer` signs, §25.3), then pushes `signer`'s signed metadata
   * for it in `_blobs` (§25.2), so any region serves it and it is kept. `signer` is an `Agent`.
   */
  putBlob(
    signer: BlobSigner,
    source: BlobSource,
    meta: BlobMetaInput,
    signing: SignRequestOptions = {},
  ): Promise<PutBlobResult> {
    return putBlob(this.#http, (e) => this.push(e), signer, source, meta, signing);
  }

  /** Blob `sha256`'s bytes, whole (checked against the name) or the `range` asked for (§25.4). */
  getBlob(sha256: string, options: { readonly range?: ByteRange } = {}): Promise<Uint8Array> {
    return getBlob(this.#http, sha256, options);
  }

  /** Blob `sha256` as a stream; a whole blob's stream errors at its end if the bytes lie. */
  openBlob(sha256: string, options: { readonly range?: ByteRange } = {}): Promise<OpenedBlob> {
    return openBlob(this.#http, sha256, options);
  }
}
