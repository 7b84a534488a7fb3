/**
 * HTTP client of one region: push envelopes in bounded batches, read views (counters exact, as
 * `bigint`), tail channels, read author heads, discover agents and read their cards (verified
 * offline against the signed delta, so the region need not be trusted), send signed heartbeats.
 * A region that answers with an error is a `MeshHttpError` carrying its problem details; one that
 * cannot be reached is a `MeshUnreachableError` naming the URL tried.
 */
import type { DeltaResult } from "../protocol/result.ts";
import { PUSH_BYTES_MAX, PUSH_DELTAS_MAX, TAIL_LIMIT_MAX } from "../protocol/limits.ts";
import type { AuthorHead } from "../protocol/result.ts";
import type { AgentCard } from "../protocol/agent_card.ts";
import { parseView, type ViewJson } from "./view_json.ts";
import type { AgentKey } from "../crypto/agent_key.ts";
import { type VerifiedAgentCard, verifyCardAnswer } from "./agent_card_answer.ts";
import { signRequest, type SignRequestOptions } from "./request_signer.ts";

export type { ViewJson };

/** A signed delta on the wire. */
export interface Envelope {
  readonly body: string;
  readonly sig: string;
}

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

/** An HTTP answer other than 2xx; `problem` holds the RFC 9457 body when there was one. */
export class MeshHttpError extends Error {
  readonly status: number;
  readonly problem: Record<string, unknown> | null;

  constructor(
    status: number,
    problem: Record<string, unknown> | null,
    what: string,
  ) {
    super(
      `${what} failed with ${status}: ${problem?.detail ?? problem?.title ?? "no details"}`,
    );
    this.name = "MeshHttpError";
    this.status = status;
    this.problem = problem;
  }
}

/** No HTTP answer at all (connection refused, DNS, TLS, reset): `url` is what was tried. */
export class MeshUnreachableError extends Error {
  readonly url: string;

  constructor(url: string, what: string, cause: unknown) {
    super(`${what} could not reach ${url}: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "MeshUnreachableError";
    this.url = url;
  }
}

export class MeshClient {
  readonly url: string;
  readonly #fetch: typeof fetch;

  /** `url` is the region's base URL, e.g. `http://127.0.0.1:8000`. */
  constructor(url: string, options: { fetch?: typeof fetch } = {}) {
    this.url = url.replace(/\/+$/, "");
    this.#fetch = options.fetch ?? fetch;
  }

  /** Pushes envelopes in batches within the push limits; results in input order. */
  async push(envelopes: readonly Envelope[]): Promise<DeltaResult[]> {
    const results: DeltaResult[] = [];
    for (const batch of batches(envelopes)) {
      const answer = await this.#request<{ results: DeltaResult[] }>(
        "push",
        "/v1/deltas",
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ deltas: batch }),
        },
      );
      results.push(...answer.results);
    }
    return results;
  }

  /** The channel's view; counters are exact `bigint`s (they may exceed 2^53). */
  async view(channel: string): Promise<ViewJson> {
    return parseView(await this.#text("view", `/v1/channels/${encodeURIComponent(channel)}`));
  }

  /** One page of the channel's deltas after `cursor` ("0" or omitted: from the start). */
  tail(
    channel: string,
    cursor = "0",
    limit = TAIL_LIMIT_MAX,
  ): Promise<TailPage> {
    const query = new URLSearchParams({ after: cursor, limit: String(limit) });
    return this.#request(
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

  head(channel: string, author: string): Promise<AuthorHead> {
    return this.#request(
      "head",
      `/v1/channels/${encodeURIComponent(channel)}/authors/${author}`,
    );
  }

  /** One page of agents matching `query`, newest card first. */
  discover(query: DiscoverQuery = {}): Promise<DiscoverPage> {
    const params = new URLSearchParams();
    if (query.skill !== undefined) params.set("skill", query.skill);
    for (const tag of query.tags ?? []) params.append("tag", tag);
    if (query.q !== undefined) params.set("q", query.q);
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.cursor !== undefined) params.set("cursor", query.cursor);
    return this.#request("discover", `/v1/agents?${params}`);
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
      text = await this.#text("card", `/v1/agents/${encodeURIComponent(id)}`);
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
    await this.#text(
      "heartbeat",
      await signRequest(key, new Request(url, { method: "POST" }), options),
    );
  }

  health(): Promise<{ status: string; region: string; store: string }> {
    return this.#request("health", "/v1/health");
  }

  async #request<T>(what: string, path: string, init?: RequestInit): Promise<T> {
    return JSON.parse(await this.#text(what, path, init)) as T;
  }

  /** The answer's text; `target` is a path under the region's URL, or a whole request. */
  async #text(what: string, target: string | Request, init?: RequestInit): Promise<string> {
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(typeof target === "string" ? this.url + target : target, init);
      text = await response.text();
    } catch (error) {
      throw new MeshUnreachableError(this.url, what, error);
    }
    if (!response.ok) {
      let problem: Record<string, unknown> | null = null;
      try {
        problem = JSON.parse(text);
      } catch { /* not problem+json: keep null */ }
      throw new MeshHttpError(response.status, problem, what);
    }
    return text;
  }
}

/** Splits envelopes into pushes within PUSH_DELTAS_MAX and PUSH_BYTES_MAX. */
export function batches(envelopes: readonly Envelope[]): Envelope[][] {
  const out: Envelope[][] = [];
  let batch: Envelope[] = [];
  let bytes = 16;
  for (const envelope of envelopes) {
    const size = JSON.stringify(envelope).length * 3 + 1; // UTF-8 upper bound, plus comma
    if (
      batch.length > 0 &&
      (batch.length >= PUSH_DELTAS_MAX || bytes + size > PUSH_BYTES_MAX)
    ) {
      out.push(batch);
      batch = [];
      bytes = 16;
    }
    batch.push(envelope);
    bytes += size;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}
