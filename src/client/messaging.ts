/**
 * Topic messages, sealed direct messages and acknowledgements from the agent's side
 * (docs/protocol.md §22, §23): signing them, each checked first so that one every region would
 * refuse throws `InvalidDeltaError` before a seq is claimed, and checking what a region hands
 * back — a topic message or a direct message must carry its author's valid signature over exactly
 * the fields shown, so a region or proxy that alters or forges one is caught.
 */
import {
  openSealed,
  SEALED_PLAINTEXT_BYTES_MAX,
  SEALED_TAG_BYTES,
  sealFor,
  verifyEd25519,
} from "../crypto/mod.ts";
import type { AgentKey } from "../crypto/agent_key.ts";
import { encodeBase64Url } from "../protocol/base64url.ts";
import { canonicalJson, type JsonValue } from "../protocol/canonical_json.ts";
import { parseEnvelope } from "../protocol/envelope.ts";
import { HLC_COUNTER_MAX, INTEGER_MAX } from "../protocol/limits.ts";
import {
  ACK_IDS_MAX,
  ACK_SET,
  inboxChannel,
  type MessageBody,
  SEALED_ENC_BYTES,
  type TopicBody,
  topicChannel,
} from "../protocol/message_kinds.ts";
import type { VerifyFn } from "../protocol/result.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import { type Agent, InvalidDeltaError } from "./agent.ts";
import type { Envelope } from "./_http.ts";
import type { InboxMessage } from "./mailbox_client.ts";
import type { TopicMessage } from "./topic_client.ts";

/** How long a topic message is kept when no `ttlMs` is given, in ms (one hour). */
export const TOPIC_TTL_MS_DEFAULT = 3_600_000;
/** How long an unacknowledged direct message is kept when no `ttlMs` is given, in ms (a day). */
export const MESSAGE_TTL_MS_DEFAULT = 86_400_000;

export interface MessageOptions {
  /**
   * How long regions keep the message after its signed time, in ms: 1 000 … 86 400 000 for a
   * topic message (default one hour), up to 604 800 000 for a direct message (default a day).
   */
  readonly ttlMs?: number;
}

/** A direct message opened: the author, verified, and the payload it sealed. */
export interface OpenedMessage {
  readonly id: string;
  readonly from: string;
  readonly seq: number;
  /** Signed time and expiry, ms since the epoch. */
  readonly ts: number;
  readonly expires: number;
  readonly payload: unknown;
}

/** Why a message handed back by a region does not verify or open. */
export type MessageProblem =
  | "malformed" // not of the documented shape
  | "bad_envelope" // the envelope is not a valid message of this kind (signature aside)
  | "bad_signature" // the signature is not the author's
  | "wrong_recipient" // a direct message sealed to another agent
  | "mismatch" // a field shown differs from the field signed
  | "undecryptable" // the ciphertext does not open for this recipient and author
  | "bad_payload"; // the plaintext is not UTF-8 JSON

/** A message that does not verify or open: do not trust what the region showed. */
export class MessageVerificationError extends Error {
  constructor(readonly id: string | null, readonly problem: MessageProblem, detail: string) {
    super(`The message ${id ?? "(no id)"} does not verify (${problem}): ${detail}`);
    this.name = "MessageVerificationError";
  }
}

type Fields = (seq: number, ts: number, lc: number) => Record<string, unknown>;

/** A signature of the right length, for checks that leave the signature aside. */
const DUMMY_SIG = "A".repeat(86);

/**
 * Throws `InvalidDeltaError` when every region would refuse the body `fields` builds, whatever
 * its seq and clock: `parseEnvelope` on the body with the longest seq and stamp (as
 * `Agent.check`), so one that passes fits at any.
 */
function check(agent: Agent, fields: Fields): void {
  const body = { v: 1, author: agent.key.id, ...fields(INTEGER_MAX, INTEGER_MAX, HLC_COUNTER_MAX) };
  const parsed = parseEnvelope({ body: JSON.stringify(body), sig: DUMMY_SIG }, Infinity);
  if (!parsed.ok && parsed.reason !== "bad_signature") {
    throw new InvalidDeltaError(parsed.reason, parsed.detail);
  }
}

/** `value` as JSON text, or `InvalidDeltaError` when JSON cannot carry it. */
function jsonText(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new InvalidDeltaError("bad_json", `${what} is not JSON: ${(error as Error).message}`);
  }
  if (text === undefined) throw new InvalidDeltaError("bad_json", `${what} is not JSON`);
  return text;
}

/**
 * Signs the next topic message of `topic` carrying `data` (any JSON value, nested at most 16
 * deep) with `agent`'s key; publish it with `MeshClient.publish(topic, [envelope])`. A message
 * every region would refuse (bad topic name, ttl out of range, too large) throws
 * `InvalidDeltaError` before a seq is claimed. `data` is copied as JSON when called.
 */
export function signTopicMessage(
  agent: Agent,
  topic: string,
  data: unknown,
  options: MessageOptions = {},
): Promise<Envelope> {
  try {
    const ttl = options.ttlMs ?? TOPIC_TTL_MS_DEFAULT;
    const copy = JSON.parse(jsonText(data, "data"));
    const fields: Fields = (seq, ts, lc) => ({ seq, topic, ts, lc, ttl, data: copy });
    check(agent, fields);
    return agent.signNextOf(topicChannel(topic), "topic", fields);
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Seals `payload` (JSON-encoded as UTF-8) so only agent `to` can read it, and signs it as the
 * next direct message of `agent` to `to`; send it with `MeshClient.send([envelope])`. A
 * payload over SEALED_PLAINTEXT_BYTES_MAX bytes, a bad recipient id or ttl throws before a seq
 * is claimed (`InvalidDeltaError`, or a TypeError from `sealFor` for an id that is no key).
 */
export async function sealDirectMessage(
  agent: Agent,
  to: string,
  payload: unknown,
  options: MessageOptions = {},
): Promise<Envelope> {
  const ttl = options.ttlMs ?? MESSAGE_TTL_MS_DEFAULT;
  const plaintext = utf8Encode(jsonText(payload, "payload"));
  if (plaintext.length > SEALED_PLAINTEXT_BYTES_MAX) {
    throw new InvalidDeltaError(
      "body_too_large",
      `the payload is ${plaintext.length} bytes as JSON: a direct message carries at most ` +
        `${SEALED_PLAINTEXT_BYTES_MAX}`,
    );
  }
  const sealedAs = (enc: string, ct: string): Fields => (seq, ts, lc) => ({
    seq,
    to,
    ts,
    lc,
    ttl,
    enc,
    ct,
  });
  // The exact lengths the sealed form will have, so the check holds for it.
  const enc = encodeBase64Url(new Uint8Array(SEALED_ENC_BYTES));
  const ct = encodeBase64Url(new Uint8Array(plaintext.length + SEALED_TAG_BYTES));
  check(agent, sealedAs(enc, ct));
  const sealed = await sealFor(to, agent.key.id, plaintext);
  return await agent.signNextOf(inboxChannel(to), "message", sealedAs(sealed.enc, sealed.ct));
}

/**
 * Signs `agent`'s acknowledgement of the messages `ids` of its own mailbox (one `add` to the
 * set `acked` each, 1 … ACK_IDS_MAX ids); post it with `MeshClient.ack(key, [envelope])`.
 */
export function signAck(agent: Agent, ids: readonly string[]): Promise<Envelope> {
  if (ids.length === 0 || ids.length > ACK_IDS_MAX) {
    return Promise.reject(
      new InvalidDeltaError(
        "bad_ack",
        `an acknowledgement names 1 to ${ACK_IDS_MAX} message ids, got ${ids.length}`,
      ),
    );
  }
  const ops = ids.map((elem) => ({ op: "add" as const, set: ACK_SET, elem }));
  return agent.signNext(inboxChannel(agent.key.id), ops);
}

/** The parsed, signature-checked envelope of `kind`, or a `MessageVerificationError`. */
async function verifiedBody<T>(
  shown: unknown,
  kind: "topic" | "message",
  verify: VerifyFn,
): Promise<{ id: string; body: T }> {
  const message = isObject(shown) ? shown : {};
  const claimed = typeof message.id === "string" ? message.id : null;
  const envelope = message.envelope;
  if (!isObject(envelope)) throw new MessageVerificationError(claimed, "malformed", "no envelope");
  const parsed = parseEnvelope(envelope, Infinity); // the clock check is the receiving region's
  if (!parsed.ok) {
    const problem = parsed.reason === "bad_signature" ? "bad_signature" : "bad_envelope";
    throw new MessageVerificationError(claimed, problem, `${parsed.reason}: ${parsed.detail}`);
  }
  const { id } = parsed.delta;
  if (parsed.delta.kind !== kind) {
    const what = kind === "topic" ? "topic message" : "direct message";
    throw new MessageVerificationError(id, "bad_envelope", `the envelope is not a ${what}`);
  }
  if (!await verify(parsed.publicKey, parsed.signature, parsed.message)) {
    throw new MessageVerificationError(id, "bad_signature", "the signature is not the author's");
  }
  if (claimed !== id) {
    throw new MessageVerificationError(id, "mismatch", `id is shown as ${claimed}`);
  }
  return { id, body: JSON.parse(envelope.body as string) as T };
}

/** Throws "mismatch" naming the first field shown that is not the field signed. */
function sameFields(id: string, shown: Record<string, unknown>, signed: Record<string, unknown>) {
  for (const [name, value] of Object.entries(signed)) {
    if (!sameJson(shown[name], value)) {
      throw new MessageVerificationError(id, "mismatch", `${name} shown is not ${name} signed`);
    }
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  try {
    return canonicalJson(a as JsonValue) === canonicalJson(b as JsonValue);
  } catch {
    return false; // not JSON (undefined, a cycle): not what was signed
  }
}

/**
 * Checks a topic message a region delivered (`subscribe`, `messages`): its envelope is a topic
 * message signed by its author, and `id`, `topic`, `author`, `seq`, `ts`, `expires` and `data`
 * are what was signed. Returns it; else throws `MessageVerificationError`.
 */
export async function verifyTopicEvent<T extends TopicMessage>(
  event: T,
  verify: VerifyFn = verifyEd25519,
): Promise<T> {
  const { id, body } = await verifiedBody<TopicBody>(event, "topic", verify);
  const { topic, author, seq, ts, ttl, data } = body;
  sameFields(id, event as unknown as Record<string, unknown>, {
    topic,
    author,
    seq,
    ts,
    expires: ts + ttl,
    data,
  });
  return event;
}

/**
 * Verifies and opens a message of `key`'s mailbox: the envelope is a direct message signed by
 * its author, sealed to `key`'s id, whose id, author, seq, ts, expiry, `enc` and `ct` are the
 * ones shown; then decrypts it (HPKE, bound to author and recipient) and parses the JSON
 * payload. Throws `MessageVerificationError` otherwise.
 */
export async function openDirectMessage(
  key: AgentKey,
  message: InboxMessage,
  verify: VerifyFn = verifyEd25519,
): Promise<OpenedMessage> {
  const { id, body } = await verifiedBody<MessageBody>(message, "message", verify);
  if (body.to !== key.id) {
    throw new MessageVerificationError(id, "wrong_recipient", `it is sealed to ${body.to}`);
  }
  const { author, seq, ts, ttl, enc, ct } = body;
  const signed = { from: author, seq, ts, expires: ts + ttl, enc, ct };
  sameFields(id, message as unknown as Record<string, unknown>, signed);
  let plaintext: Uint8Array;
  try {
    plaintext = await openSealed(key, author, enc, ct);
  } catch (error) {
    throw new MessageVerificationError(id, "undecryptable", (error as Error).message);
  }
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plaintext));
  } catch {
    throw new MessageVerificationError(id, "bad_payload", "the plaintext is not UTF-8 JSON");
  }
  return { id, from: author, seq, ts, expires: ts + ttl, payload };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
