/**
 * Region-to-region messages: JSON bodies signed by the sending region's ed25519 key.
 *
 * The request body is the message JSON; the signature (header `mesh-signature`) covers the UTF-8
 * bytes of `mesh.region.v1:` followed by the body bytes exactly as sent, so deltas inside a message
 * are not escaped twice. A receiver accepts a message only when: the sender is in the topology,
 * the signature verifies under the sender's key, the message is addressed to the receiver,
 * `sentAtMs` lies within the clock window, its nonce has not been seen within that window (replay),
 * and its epoch is admitted: not below an epoch recently seen from that sender (a deposed
 * leader is fenced; see MeshNode for how "recently" lets a region whose store was reset back in).
 *
 * The answer to a region message is a region message too: JSON signed by the answering region
 * under its own tag `mesh.region.answer.v1:` (so a request never passes as an answer, nor an
 * answer as a request), naming both regions and bound to the request it answers by the request's
 * nonce and the sha256 of the request body bytes as received. The binding is what makes an answer
 * fresh: an answer to another request, or to an altered one, does not match.
 */
import { z } from "zod";
import { sha256 } from "../crypto/sha256.ts";
import { decodeBase64Url, encodeBase64Url } from "../protocol/base64url.ts";
import { ID_PATTERN } from "../protocol/delta.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import type { RegionInfo, Topology } from "./topology.ts";
import { Problem } from "../region/problem.ts";

/** Domain tag of region message signatures (distinct from deltas' `mesh.delta.v1:`). */
export const REGION_SIGNATURE_TAG = "mesh.region.v1:";
/** Domain tag of answer signatures: distinct from requests', so neither passes as the other. */
export const ANSWER_SIGNATURE_TAG = "mesh.region.answer.v1:";
/** Header carrying the base64url signature (of a request, and of its answer). */
export const SIGNATURE_HEADER = "mesh-signature";
/** How far a message's `sentAtMs` may differ from the receiver's clock, either way, in ms. */
export const REGION_MESSAGE_SKEW_MS_MAX = 30_000;
/** Nonces remembered for replay detection (a message older than the window is refused anyway). */
export const REPLAY_NONCES_MAX = 100_000;
/** Largest region message body, in bytes. */
export const REGION_MESSAGE_BYTES_MAX = 4_194_304;

const NONCE_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/** The fields every region message carries; `kind` selects the rest. */
export const messageHeadSchema = z.object({
  v: z.literal(1),
  kind: z.string().min(1).max(32),
  from: z.string().min(1).max(32),
  to: z.string().min(1).max(32),
  sentAtMs: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** 16 random bytes as base64url: makes each message unique for replay detection. */
  nonce: z.string().regex(NONCE_PATTERN),
  /** The sender's leader epoch (fencing token). */
  epoch: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});

export type MessageHead = z.infer<typeof messageHeadSchema>;

/** Why a region message was refused. */
export type MessageRejection =
  | "bad_message"
  | "unknown_sender"
  | "bad_signature"
  | "wrong_recipient"
  | "stale_clock"
  | "replayed"
  | "stale_epoch";

/** The problem+json a refused region message is answered with (403 identity, 409 fencing, 400). */
export function refusalProblem(reason: MessageRejection, detail: string): Problem {
  return new Problem(REFUSAL_PROBLEMS[reason], `${reason}: ${detail}`);
}

const REFUSAL_PROBLEMS = {
  bad_message: "invalid-request",
  stale_clock: "stale-message",
  replayed: "stale-message",
  stale_epoch: "stale-message",
  unknown_sender: "region-refused",
  bad_signature: "region-refused",
  wrong_recipient: "region-refused",
} as const satisfies Record<MessageRejection, string>;

export type Checked<T> =
  | { readonly ok: true; readonly message: MessageHead & T }
  | { readonly ok: false; readonly reason: MessageRejection; readonly detail: string };

/** A signed body: its text and the signature header value. */
export interface SignedBody {
  readonly body: string;
  readonly signature: string;
}

/**
 * Signs a message body: returns the body text and the signature header value, at once for a
 * synchronous `sign` and as a promise for an asynchronous one (`AgentKey.signAsync`).
 */
export function signRegionMessage(
  sign: (bytes: Uint8Array) => Uint8Array,
  message: MessageHead & Record<string, unknown>,
): SignedBody;
export function signRegionMessage(
  sign: (bytes: Uint8Array) => Promise<Uint8Array>,
  message: MessageHead & Record<string, unknown>,
): Promise<SignedBody>;
export function signRegionMessage(
  sign: (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>,
  message: MessageHead & Record<string, unknown>,
): SignedBody | Promise<SignedBody> {
  return signedBody(sign, REGION_SIGNATURE_TAG, message);
}

/** The JSON text of `value` and its signature under `tag`, sync or async as `sign` is. */
function signedBody(
  sign: (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>,
  tag: string,
  value: unknown,
): SignedBody | Promise<SignedBody> {
  const body = JSON.stringify(value);
  const signature = sign(utf8Encode(tag + body));
  const signed = (s: Uint8Array) => ({ body, signature: encodeBase64Url(s) });
  return signature instanceof Promise ? signature.then(signed) : signed(signature);
}

/** A fresh message head from `from` to `to` at `nowMs`. */
export function messageHead(
  kind: string,
  from: string,
  to: string,
  epoch: number,
  nowMs: number,
): MessageHead {
  return {
    v: 1,
    kind,
    from,
    to,
    sentAtMs: nowMs,
    nonce: encodeBase64Url(crypto.getRandomValues(new Uint8Array(16))),
    epoch,
  };
}

/** Remembers nonces seen within the clock window, bounded by REPLAY_NONCES_MAX. */
export class ReplayGuard {
  readonly #seen = new Map<string, number>(); // nonce → sentAtMs, in insertion order

  /** True the first time `nonce` is seen; false for a replay. */
  admit(nonce: string, sentAtMs: number, nowMs: number): boolean {
    for (const [old, at] of this.#seen) { // oldest first: drop what left the window
      if (at >= nowMs - REGION_MESSAGE_SKEW_MS_MAX && this.#seen.size < REPLAY_NONCES_MAX) break;
      this.#seen.delete(old);
    }
    if (this.#seen.has(nonce)) return false;
    this.#seen.set(nonce, sentAtMs);
    return true;
  }
}

export interface VerifyContext<T> {
  /** The message kind this endpoint takes (a message of another kind is refused). */
  readonly kind: string;
  readonly topology: Topology;
  readonly self: string;
  readonly nowMs: number;
  readonly replay: ReplayGuard;
  /** The schema of the kind-specific fields (strict about the head via messageHeadSchema). */
  readonly schema: z.ZodType<T>;
  readonly verify: (
    publicKey: Uint8Array,
    signature: Uint8Array,
    message: Uint8Array,
  ) => Promise<boolean>;
  /**
   * Claims a message's nonce in the regional store (first claim true), so a replay to another
   * instance of the region, or after a restart, is refused too. Absent: the in-memory guard only.
   */
  readonly claimNonce?: (key: string, ttlMs: number) => Promise<boolean>;
  /** Whether a message of `region` with `epoch` is not from a deposed leader (see MeshNode). */
  readonly admitEpoch: (region: string, epoch: number) => Promise<boolean>;
  /**
   * Told the sender as soon as it is known, before the signature is checked, so what admitEpoch
   * will read can be read meanwhile (it must not change anything: the message is not yet proven).
   */
  readonly senderKnown?: (region: string) => void;
}

/** Checks a received region message (everything but what its kind means). */
export async function checkRegionMessage<T>(
  body: string,
  signature: string | null,
  ctx: VerifyContext<T>,
): Promise<Checked<T>> {
  const fail = (reason: MessageRejection, detail: string): Checked<T> => ({
    ok: false,
    reason,
    detail,
  });
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return fail("bad_message", "body is not JSON");
  }
  const head = messageHeadSchema.safeParse(json);
  if (!head.success) return fail("bad_message", `message head: ${head.error.issues[0].message}`);
  if (head.data.kind !== ctx.kind) {
    return fail(
      "bad_message",
      `a "${head.data.kind}" message cannot be sent here (takes "${ctx.kind}")`,
    );
  }
  const sender = ctx.topology.region(head.data.from);
  if (sender === undefined) {
    return fail("unknown_sender", `region "${head.data.from}" is not in the topology`);
  }
  const sig = signature === null ? null : decodeBase64Url(signature);
  if (sig === null || sig.length !== 64 || !ID_PATTERN.test(sender.publicKey)) {
    return fail("bad_signature", `${SIGNATURE_HEADER} must be a 64-byte base64url signature`);
  }
  ctx.senderKnown?.(sender.id);
  const signed = utf8Encode(REGION_SIGNATURE_TAG + body);
  if (!await ctx.verify(decodeBase64Url(sender.publicKey)!, sig, signed)) {
    return fail("bad_signature", `signature does not verify under region "${sender.id}"'s key`);
  }
  if (head.data.to !== ctx.self) {
    return fail("wrong_recipient", `message is for "${head.data.to}", not "${ctx.self}"`);
  }
  if (Math.abs(head.data.sentAtMs - ctx.nowMs) > REGION_MESSAGE_SKEW_MS_MAX) {
    return fail(
      "stale_clock",
      `sentAtMs is more than ${REGION_MESSAGE_SKEW_MS_MAX} ms from this region's clock`,
    );
  }
  const rest = ctx.schema.safeParse(json);
  if (!rest.success) {
    const issue = rest.error.issues[0];
    return fail("bad_message", `${issue.path.join(".")}: ${issue.message}`);
  }
  if (!await ctx.admitEpoch(sender.id, head.data.epoch)) {
    return fail("stale_epoch", staleEpochDetail(sender.id, head.data.epoch));
  }
  if (!ctx.replay.admit(head.data.nonce, head.data.sentAtMs, ctx.nowMs)) {
    return fail("replayed", "this message was already received");
  }
  // A message is acceptable while its sentAtMs is within the window either way of the clock.
  const claimed = ctx.claimNonce === undefined ||
    await ctx.claimNonce(`${sender.id}:${head.data.nonce}`, 2 * REGION_MESSAGE_SKEW_MS_MAX);
  if (!claimed) return fail("replayed", "this message was already received by this region");
  return { ok: true, message: { ...head.data, ...rest.data } };
}

/** What a `stale_epoch` refusal says. */
export function staleEpochDetail(region: string, epoch: number): string {
  return `epoch ${epoch} is below one recently seen from "${region}"`;
}

/** Verifies an ed25519 signature; never throws for bad input. */
export type RegionVerifyFn = (
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
) => Promise<boolean>;

/** The fields every answer carries; the request's kind selects the rest. */
export const answerHeadSchema = z.object({
  v: z.literal(1),
  /** The kind of the request answered. */
  kind: z.string().min(1).max(32),
  /** The answering region (the request's `to`). */
  from: z.string().min(1).max(32),
  /** The asking region (the request's `from`). */
  to: z.string().min(1).max(32),
  /** The request answered: its nonce, and base64url(sha256(request body bytes as received)). */
  inReplyTo: z.strictObject({
    nonce: z.string().regex(NONCE_PATTERN),
    bodySha256: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  }),
});

export type AnswerHead = z.infer<typeof answerHeadSchema>;

/** Why an answer was refused. */
export type AnswerRejection = "bad_answer" | "bad_signature" | "wrong_signer" | "unbound";

export type CheckedAnswer<T> =
  | { readonly ok: true; readonly answer: AnswerHead & T }
  | { readonly ok: false; readonly reason: AnswerRejection; readonly detail: string };

/** base64url(sha256(UTF-8 bytes of `body`)): what an answer's `inReplyTo.bodySha256` holds. */
export function bodySha256(body: string): string {
  return encodeBase64Url(sha256(utf8Encode(body)));
}

/** The head of the answer to `request`, whose body text (as received) is `requestBody`. */
export function answerHead(request: MessageHead, requestBody: string): AnswerHead {
  return {
    v: 1,
    kind: request.kind,
    from: request.to,
    to: request.from,
    inReplyTo: { nonce: request.nonce, bodySha256: bodySha256(requestBody) },
  };
}

/** Signs an answer body: as {@linkcode signRegionMessage}, under the answer tag. */
export function signRegionAnswer(
  sign: (bytes: Uint8Array) => Uint8Array,
  answer: AnswerHead & Record<string, unknown>,
): SignedBody;
export function signRegionAnswer(
  sign: (bytes: Uint8Array) => Promise<Uint8Array>,
  answer: AnswerHead & Record<string, unknown>,
): Promise<SignedBody>;
export function signRegionAnswer(
  sign: (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>,
  answer: AnswerHead & Record<string, unknown>,
): SignedBody | Promise<SignedBody> {
  return signedBody(sign, ANSWER_SIGNATURE_TAG, answer);
}

/** What the asking region expects of the answer to the request it sent. */
export interface AnswerExpectation<T> {
  /** The head of the request as sent. */
  readonly request: MessageHead;
  /** The request body text exactly as sent. */
  readonly requestBody: string;
  /** The region asked (from the topology): the answer must be signed with its key. */
  readonly peer: Pick<RegionInfo, "id" | "publicKey">;
  /** The schema of the kind-specific fields of the answer. */
  readonly schema: z.ZodType<T>;
  readonly verify: RegionVerifyFn;
}

/**
 * Checks a received answer: signed under the asked region's key (answer tag), from that region
 * to the asker, for the request's kind, bound to the request's nonce and body bytes, and with the
 * fields `schema` asks for. An answer that fails any of these says nothing about the request.
 */
export async function checkRegionAnswer<T>(
  body: string,
  signature: string | null,
  expect: AnswerExpectation<T>,
): Promise<CheckedAnswer<T>> {
  const fail = (reason: AnswerRejection, detail: string): CheckedAnswer<T> => ({
    ok: false,
    reason,
    detail,
  });
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return fail("bad_answer", "answer body is not JSON");
  }
  const sig = signature === null ? null : decodeBase64Url(signature);
  const key = decodeBase64Url(expect.peer.publicKey);
  if (sig === null || sig.length !== 64 || key === null) {
    return fail(
      "bad_signature",
      `answer ${SIGNATURE_HEADER} must be a 64-byte base64url signature`,
    );
  }
  if (!await expect.verify(key, sig, utf8Encode(ANSWER_SIGNATURE_TAG + body))) {
    return fail(
      "bad_signature",
      `answer signature does not verify under region "${expect.peer.id}"'s key`,
    );
  }
  const head = answerHeadSchema.safeParse(json);
  if (!head.success) return fail("bad_answer", `answer head: ${head.error.issues[0].message}`);
  const { from, to, kind, inReplyTo } = head.data;
  if (from !== expect.peer.id || to !== expect.request.from) {
    return fail("wrong_signer", `answer is from "${from}" to "${to}"`);
  }
  if (
    kind !== expect.request.kind || inReplyTo.nonce !== expect.request.nonce ||
    inReplyTo.bodySha256 !== bodySha256(expect.requestBody)
  ) {
    return fail("unbound", "answer is not bound to the request sent (kind, nonce or body hash)");
  }
  const rest = expect.schema.safeParse(json);
  if (!rest.success) {
    const issue = rest.error.issues[0];
    return fail("bad_answer", `${issue.path.join(".")}: ${issue.message}`);
  }
  return { ok: true, answer: { ...head.data, ...rest.data } };
}
