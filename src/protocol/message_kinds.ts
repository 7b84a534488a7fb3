/**
 * The two signed message kinds besides deltas (docs/protocol.md §22, §23): a **topic message**
 * (`mesh.topic.v1:`), published to a topic and kept until its TTL for replay, and a **direct
 * message** (`mesh.message.v1:`), sealed (HPKE) to one recipient and kept in its mailbox.
 *
 * Both travel through the delta pipeline unchanged — stored, deduplicated by id, fanned out,
 * reconciled and quarantined like deltas — as members of a reserved channel: a topic `t` is the
 * channel `_topic:t`, the mailbox of agent `r` the channel `_inbox:r`. The author's `seq` counts
 * per channel, so a publisher's messages in one topic are numbered 1, 2, 3, ... Each kind has its
 * own domain tag and a strict body schema whose members differ from a delta's (`topic` or `to`
 * instead of `channel` and `ops`), so one signature can never be read as another kind. Pure.
 */
import { z } from "zod";
import { decodeBase64Url } from "./base64url.ts";
import { CHANNEL_CHARS_MAX, HLC_COUNTER_MAX, ID_PATTERN_SOURCE, INTEGER_MAX } from "./limits.ts";

/** Domain tag of a topic message's signature. */
export const TOPIC_SIGNATURE_TAG = "mesh.topic.v1:";
/** Domain tag of a direct message's signature. */
export const MESSAGE_SIGNATURE_TAG = "mesh.message.v1:";
/** The channel prefix of topics: topic `t` is kept in channel `_topic:t`. */
export const TOPIC_CHANNEL_PREFIX = "_topic:";
/** The channel prefix of mailboxes: the mailbox of agent `r` is channel `_inbox:r`. */
export const INBOX_CHANNEL_PREFIX = "_inbox:";
/** Longest topic name (and subscription pattern), in characters: the channel name must fit. */
export const TOPIC_CHARS_MAX = CHANNEL_CHARS_MAX - TOPIC_CHANNEL_PREFIX.length;
/** Longest time a topic message is kept (its `ttl` at most): the retention window, in ms. */
export const TOPIC_TTL_MS_MAX = 86_400_000;
/** Longest time an unacknowledged direct message is kept (its `ttl` at most), in ms. */
export const MESSAGE_TTL_MS_MAX = 604_800_000;
/** Shortest `ttl` of either kind, in ms. */
export const MESSAGE_TTL_MS_MIN = 1_000;
/** Size of a sealed message's HPKE encapsulated key `enc`, in bytes. */
export const SEALED_ENC_BYTES = 32;
/** The AEAD tag at the end of every sealed ciphertext, in bytes (an empty plaintext is just it). */
export const SEALED_TAG_BYTES = 16;
/** Largest sealed ciphertext `ct` (AEAD tag included), in bytes before base64url. */
export const SEALED_CT_BYTES_MAX = 11_776;
/** Most message ids one acknowledgement delta may name (one `add` op each). */
export const ACK_IDS_MAX = 64;
/** The set of a mailbox that holds the ids its owner acknowledged. */
export const ACK_SET = "acked";

/** One topic token: letters, digits, `_` and `-`. */
const TOKEN = "[A-Za-z0-9_-]+";
/** Topic names: tokens joined by `.`, e.g. `agents.a1.status` (no wildcards). */
export const TOPIC_PATTERN = new RegExp(`^${TOKEN}(\\.${TOKEN})*$`);
/** The topic rule in words, for error details. */
export const TOPIC_RULE = `tokens of [A-Za-z0-9_-] joined by ".", at most ${TOPIC_CHARS_MAX} chars`;

const ID = new RegExp(`^${ID_PATTERN_SOURCE}$`);
const safeInt = (min: number) => z.number().int().min(min).max(INTEGER_MAX);
const author = z.string().regex(ID, "author must be a 32-byte ed25519 key as base64url");
const ttl = (max: number) => z.number().int().min(MESSAGE_TTL_MS_MIN).max(max);
const base64Bytes = (what: string, min: number, max: number) =>
  z.string().refine((s) => {
    const bytes = decodeBase64Url(s);
    return bytes !== null && bytes.length >= min && bytes.length <= max;
  }, `${what} must be ${min === max ? min : `${min} to ${max}`} bytes as unpadded base64url`);

/** Whether `topic` is a valid topic name. */
export function isTopic(topic: string): boolean {
  return topic.length <= TOPIC_CHARS_MAX && TOPIC_PATTERN.test(topic);
}

/**
 * The strict schema of a topic message body. `data` is any JSON value (its bounds are checked by
 * the caller with the delta value rules: depth, finite numbers, well-formed strings).
 */
export const topicBodySchema = z.strictObject({
  v: z.literal(1),
  author,
  seq: safeInt(1),
  topic: z.string().refine(isTopic, `topic must be ${TOPIC_RULE}`),
  ts: safeInt(0),
  lc: z.number().int().min(0).max(HLC_COUNTER_MAX),
  ttl: ttl(TOPIC_TTL_MS_MAX),
  data: z.unknown().refine((v) => v !== undefined, "data is required"),
});

/** The strict schema of a direct message body: HPKE `enc` and `ct`, nothing in the clear. */
export const messageBodySchema = z.strictObject({
  v: z.literal(1),
  author,
  seq: safeInt(1),
  to: z.string().regex(ID, "to must be a 32-byte ed25519 key as base64url"),
  ts: safeInt(0),
  lc: z.number().int().min(0).max(HLC_COUNTER_MAX),
  ttl: ttl(MESSAGE_TTL_MS_MAX),
  enc: base64Bytes("enc", SEALED_ENC_BYTES, SEALED_ENC_BYTES),
  ct: base64Bytes("ct", SEALED_TAG_BYTES, SEALED_CT_BYTES_MAX),
});

export type TopicBody = z.infer<typeof topicBodySchema>;
export type MessageBody = z.infer<typeof messageBodySchema>;

/** Which kind a parsed body is, by the member only that kind has. */
export type MessageKind = "delta" | "topic" | "message";

/** The kind a body claims by its members: `topic` for a topic message, `to` for a direct one. */
export function kindOf(json: unknown): MessageKind {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "delta";
  if (Object.hasOwn(json, "topic")) return "topic";
  if (Object.hasOwn(json, "to")) return "message";
  return "delta";
}

/** The channel a topic is kept in. */
export function topicChannel(topic: string): string {
  return TOPIC_CHANNEL_PREFIX + topic;
}

/** The mailbox channel of an agent. */
export function inboxChannel(agent: string): string {
  return INBOX_CHANNEL_PREFIX + agent;
}

/** When a message of either kind expires: its `ts` plus its `ttl`, in ms since the epoch. */
export function expiresAt(body: { readonly ts: number; readonly ttl: number }): number {
  return body.ts + body.ttl;
}
