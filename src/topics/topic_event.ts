/**
 * A stored topic message as subscribers receive it: the fields of its body, its publisher's
 * cursor key, and the signed envelope so any subscriber can verify it itself. Pure.
 */
import type { StoredDelta } from "../store/region_store.ts";
import { expiresAt, TOPIC_CHANNEL_PREFIX, type TopicBody } from "../protocol/message_kinds.ts";
import { publisherKey } from "./cursor.ts";
import type { TopicMessageJson } from "../protocol/message_wire.ts";

export interface TopicEvent extends Omit<TopicMessageJson, "envelope"> {
  /** The publisher's cursor key (`publisherKey(topic, author)`). */
  readonly key: string;
  readonly body: string;
  readonly sig: string;
}

/**
 * The event of a stored delta when it is a topic message, else null. The body was verified when
 * it was stored, so it parses; anything that does not is not a topic message.
 */
export function topicEventOf(stored: StoredDelta): TopicEvent | null {
  if (!stored.channel.startsWith(TOPIC_CHANNEL_PREFIX)) return null;
  let body: TopicBody;
  try {
    body = JSON.parse(stored.body) as TopicBody;
  } catch {
    return null;
  }
  if (typeof body !== "object" || body === null || typeof body.topic !== "string") return null;
  const { topic, author, seq, ts, data } = body;
  return {
    id: stored.id,
    topic,
    author,
    seq,
    ts,
    expires: expiresAt(body),
    data,
    key: publisherKey(topic, author),
    body: stored.body,
    sig: stored.sig,
  };
}

/** The JSON a subscriber gets for one event (SSE `data:` and long-poll `messages[]`). */
export function eventJson(event: TopicEvent): TopicMessageJson {
  const { id, topic, author, seq, ts, expires, data, body, sig } = event;
  return { id, topic, author, seq, ts, expires, data, envelope: { body, sig } };
}
