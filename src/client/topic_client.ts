/**
 * Topics from the agent's side (docs/protocol.md §22): publish signed topic messages, read them
 * by long-poll, or follow them as Server-Sent Events. A subscription resumes where it left off
 * after a network error, a quiet connection or a `dropped` event, by sending the last cursor as
 * `Last-Event-ID`: cursors are the region's, valid on any region, and resuming from the last one
 * received loses nothing and repeats nothing. `MeshClient.publish/messages/subscribe` call these.
 */
import type { TopicMessageJson } from "../protocol/message_wire.ts";
import { createParser, type EventSourceMessage, type ParseError } from "eventsource-parser";
import type { AgentKey } from "../crypto/agent_key.ts";
import type { DeltaResult } from "../protocol/result.ts";
import { signRequest } from "./request_signer.ts";
import { batches, type Envelope, MeshHttpError, type RegionHttp } from "./_http.ts";

/** Longest quiet spell on an event stream before it is taken for dead, in ms (3 keep-alives). */
export const SUBSCRIBE_IDLE_MS_MAX = 45_000;
/** Pause before reconnecting when the region names none (`retry:`), in ms. */
export const SUBSCRIBE_RETRY_MS_DEFAULT = 1_000;
/** Longest pause between reconnection attempts (it doubles per failure up to this), in ms. */
export const SUBSCRIBE_BACKOFF_MS_MAX = 30_000;
/** Most characters of one event (or unfinished line) the stream parser buffers. */
export const SSE_EVENT_CHARS_MAX = 262_144;

/** A topic message as a region delivers it, with the signed envelope (`verifyTopicEvent`). */
export type TopicMessage = TopicMessageJson;

/** A message of a subscription and the cursor to resume after it (SSE `id:`). */
export interface SubscribedMessage extends TopicMessage {
  readonly cursor: string;
}

/** One long-poll answer: the messages and the cursor to read on from. */
export interface TopicPage {
  readonly messages: TopicMessage[];
  readonly cursor: string;
}

/** Where a subscription or long-poll starts. */
export interface TopicQuery {
  /** Resume after this cursor (a `cursor` or SSE `id:` the mesh issued); `since` is then unused. */
  readonly cursor?: string;
  /**
   * Start of a new subscription, ms since the epoch: messages signed at or after it (still
   * retained) are delivered. Default: the region's clock less 5 s.
   */
  readonly since?: number;
  /** Stops the request (and a subscription) when it aborts. */
  readonly signal?: AbortSignal;
  /**
   * Signs each request (each reconnection anew) with this agent's key (RFC 9421): needed for a
   * members-only topic, and for a pattern to show the members-only topics the agent may read.
   */
  readonly key?: AgentKey;
  /**
   * Subscriptions: told why a connection ended and how long until the next one (in ms), before
   * each reconnection. A `dropped` event reconnects at once, without a call.
   */
  readonly onReconnect?: (why: unknown, delayMs: number) => void;
}

/** A long-poll: `waitS` seconds at most (0 … 30) for the first message, `limit` (1 … 256). */
export interface TopicPollQuery extends TopicQuery {
  readonly waitS?: number;
  readonly limit?: number;
}

/** What a region's event stream held that is not an event stream: not worth reconnecting. */
export class SubscriptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SubscriptionError";
  }
}

/** Publishes topic messages of `topic` in batches within the push limits; results in order. */
export async function publishTopic(
  http: RegionHttp,
  topic: string,
  envelopes: readonly Envelope[],
): Promise<DeltaResult[]> {
  const results: DeltaResult[] = [];
  for (const batch of batches(envelopes)) {
    const answer = await http.json<{ results: DeltaResult[] }>(
      "publish",
      `/v1/topics/${encodeURIComponent(topic)}`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ messages: batch }),
      },
    );
    results.push(...answer.results);
  }
  return results;
}

/** One long-poll of `subject` (a topic or a pattern with `*` and a final `>`). */
export async function pollTopic(
  http: RegionHttp,
  subject: string,
  query: TopicPollQuery = {},
): Promise<TopicPage> {
  const params = new URLSearchParams();
  if (query.cursor !== undefined) params.set("cursor", query.cursor);
  else if (query.since !== undefined) params.set("since", String(query.since));
  if (query.waitS !== undefined) params.set("wait", String(query.waitS));
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  const url = `${http.url}/v1/topics/${encodeURIComponent(subject)}/messages?${params}`;
  return http.json(
    "messages",
    await signedIf(query.key, new Request(url, { signal: query.signal })),
  );
}

/** The request signed by `key`, or as it is without one. */
function signedIf(key: AgentKey | undefined, request: Request): Promise<Request> {
  return key === undefined ? Promise.resolve(request) : signRequest(key, request);
}

/** Where a subscription stands between connections. */
interface Position {
  cursor: string | undefined;
  retryMs: number;
  failures: number;
  /** The last connection ended with `dropped`: reconnect at once. */
  dropped: boolean;
}

/**
 * The messages of `subject` as they arrive, each with its cursor, until `query.signal` aborts
 * (then it simply ends) or the region refuses the subscription itself (a `MeshHttpError` 4xx,
 * e.g. a bad subject or cursor). Network errors, 5xx and 429 answers, a stream quiet for
 * SUBSCRIBE_IDLE_MS_MAX and a `dropped` event all lead to a reconnection from the last cursor.
 */
export async function* subscribeTopic(
  http: RegionHttp,
  subject: string,
  query: TopicQuery = {},
): AsyncGenerator<SubscribedMessage> {
  const { signal } = query;
  const at: Position = {
    cursor: query.cursor,
    retryMs: SUBSCRIBE_RETRY_MS_DEFAULT,
    failures: 0,
    dropped: false,
  };
  while (!signal?.aborted) {
    let why: unknown = "the region closed the stream";
    try {
      at.dropped = false;
      yield* connect(http, subject, query, at);
      if (signal?.aborted) return;
      if (at.dropped) continue; // the region closed a slow subscriber's stream: resume now
    } catch (error) {
      if (signal?.aborted) return;
      if (!retriable(error)) throw error;
      at.failures++;
      why = error;
    }
    const delayMs = Math.min(at.retryMs * 2 ** Math.min(at.failures, 16), SUBSCRIBE_BACKOFF_MS_MAX);
    query.onReconnect?.(why, delayMs);
    await sleep(delayMs, signal);
  }
}

function retriable(error: unknown): boolean {
  if (error instanceof MeshHttpError) return error.status >= 500 || error.status === 429;
  if (error instanceof SubscriptionError) return false;
  return true; // unreachable, reset, idle: the network's doing
}

/** One connection: yields its messages until the stream ends; updates `at` as it goes. */
async function* connect(
  http: RegionHttp,
  subject: string,
  query: TopicQuery,
  at: Position,
): AsyncGenerator<SubscribedMessage> {
  const { since, signal } = query;
  const idle = new AbortController();
  const headers = new Headers({ accept: "text/event-stream" });
  let path = `/v1/topics/${encodeURIComponent(subject)}/events`;
  if (at.cursor !== undefined) headers.set("last-event-id", at.cursor);
  else if (since !== undefined) path += `?since=${since}`;
  const both = signal === undefined ? idle.signal : AbortSignal.any([signal, idle.signal]);
  // Only waits on the region count as quiet: a consumer may take its time between messages.
  const quiet = <T>(promise: Promise<T>): Promise<T> => {
    const timer = setTimeout(() => idle.abort(), SUBSCRIBE_IDLE_MS_MAX);
    return promise.finally(() => clearTimeout(timer));
  };
  const request = await signedIf(
    query.key,
    new Request(http.url + path, { headers, signal: both }),
  );
  const response = await quiet(http.open("subscribe", request));
  const type = response.headers.get("content-type") ?? "";
  if (!type.startsWith("text/event-stream")) {
    await response.body?.cancel();
    throw new SubscriptionError(`subscribe got ${type || "no content type"}, not an event stream`);
  }
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const stream = new EventQueue(at);
    for (;;) {
      const { value, done } = await quiet(reader.read());
      if (done) return;
      for (const event of stream.feed(value)) {
        const message = delivered(event, at);
        if (message !== null) yield message;
        if (at.dropped) return;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** The stream parser of one connection: text in, whole events out, bounded. */
class EventQueue {
  readonly #events: EventSourceMessage[] = [];
  readonly #parser;
  #overflow: ParseError | null = null;

  constructor(at: Position) {
    this.#parser = createParser({
      onEvent: (event) => this.#events.push(event),
      onRetry: (ms) => at.retryMs = Math.min(Math.max(ms, 0), SUBSCRIBE_BACKOFF_MS_MAX),
      onError: (error) => {
        if (error.type === "max-buffer-size-exceeded") this.#overflow = error;
      },
      maxBufferSize: SSE_EVENT_CHARS_MAX,
    });
  }

  feed(text: string): EventSourceMessage[] {
    this.#parser.feed(text);
    if (this.#overflow !== null) {
      throw new SubscriptionError(
        `subscribe got an event over ${SSE_EVENT_CHARS_MAX} characters: not a topic stream`,
      );
    }
    return this.#events.splice(0);
  }
}

/** Applies one event to the position; the message it delivers, if any. */
function delivered(event: EventSourceMessage, at: Position): SubscribedMessage | null {
  switch (event.event) {
    case "ready":
      at.cursor = event.id ?? at.cursor;
      at.failures = 0;
      return null;
    case "message": {
      if (event.id === undefined || event.id === "") {
        throw new SubscriptionError("subscribe got a message event without an id (cursor)");
      }
      const message = dataOf(event) as unknown as TopicMessage;
      at.cursor = event.id;
      return { ...message, cursor: event.id };
    }
    case "dropped": {
      const { cursor } = dataOf(event);
      at.cursor = typeof cursor === "string" && cursor !== "" ? cursor : event.id ?? at.cursor;
      at.dropped = true;
      return null;
    }
    default:
      return null; // an event type this client does not know: ignored, as EventSource does
  }
}

function dataOf(event: EventSourceMessage): Record<string, unknown> {
  try {
    const data = JSON.parse(event.data);
    if (typeof data === "object" && data !== null && !Array.isArray(data)) return data;
  } catch { /* reported below */ }
  throw new SubscriptionError(`subscribe got a ${event.event} event whose data is not an object`);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
