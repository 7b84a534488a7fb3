/**
 * Wire format v1 of a delta: the strict schema of its body and the pure parse step that turns a
 * received envelope into a typed delta or a reject reason. Signature checking is the caller's
 * (it is async); this module prepares the exact bytes to verify.
 */
import { z } from "zod";
import { sha256 } from "../crypto/sha256.ts";
import { decodeBase64Url, encodeBase64Url } from "./base64url.ts";
import { hasDuplicateKeys } from "./duplicate_keys.ts";
import {
  expiresAt,
  inboxChannel,
  kindOf,
  MESSAGE_SIGNATURE_TAG,
  messageBodySchema,
  TOPIC_SIGNATURE_TAG,
  topicBodySchema,
  topicChannel,
} from "./message_kinds.ts";
import { utf8ByteLength, utf8Encode } from "./utf8.ts";
import {
  CHANNEL_PATTERN,
  CHANNEL_RULE,
  CLOCK_SKEW_FUTURE_MS_MAX,
  DELTA_BODY_BYTES_MAX,
  DELTA_OPS_MAX,
  DELTA_SIGNATURE_TAG,
  ELEMENT_BYTES_MAX,
  HLC_COUNTER_MAX,
  ID_PATTERN_SOURCE,
  INTEGER_MAX,
  KEY_BYTES_MAX,
  RMV_TAGS_MAX,
  VALUE_DEPTH_MAX,
} from "./limits.ts";

/** A JSON value as a `set` op carries it (bounded depth, finite numbers). */
export type OpValue =
  | null
  | boolean
  | number
  | string
  | OpValue[]
  | { [key: string]: OpValue };

/** Agent ids and delta ids: 32 bytes as unpadded base64url. */
export const ID_PATTERN = new RegExp(`^${ID_PATTERN_SOURCE}$`);
/** An OR-set add tag: `<delta id>:<op index>`. */
export const TAG_PATTERN = new RegExp(`^${ID_PATTERN_SOURCE}:(0|[1-9][0-9]?)$`);

function isBoundedJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
      return value.isWellFormed();
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (depth >= VALUE_DEPTH_MAX) return false;
      if (Array.isArray(value)) return value.every((item) => isBoundedJson(item, depth + 1));
      for (const [name, item] of Object.entries(value)) {
        if (!name.isWellFormed() || !isBoundedJson(item, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

const name = (what: string, bytesMax: number) =>
  z.string().min(1).refine((s) => s.isWellFormed(), {
    message: `${what} must not contain lone UTF-16 surrogates`,
  }).refine((s) => utf8ByteLength(s) <= bytesMax, {
    message: `${what} must be at most ${bytesMax} UTF-8 bytes`,
  });
const key = name("key", KEY_BYTES_MAX);
const element = name("element", ELEMENT_BYTES_MAX);
const VALUE_RULE =
  `value must be JSON nested at most ${VALUE_DEPTH_MAX} deep, with finite numbers and well-formed strings`;
const jsonValue = z.custom<OpValue>(
  (v) => v !== undefined && isBoundedJson(v, 0),
  { message: VALUE_RULE },
);
const safeInt = (min: number) => z.number().int().min(min).max(INTEGER_MAX);

const opSchema = z.discriminatedUnion("op", [
  z.strictObject({ op: z.literal("set"), key, value: jsonValue }),
  z.strictObject({ op: z.literal("del"), key }),
  z.strictObject({ op: z.literal("add"), set: key, elem: element }),
  z.strictObject({
    op: z.literal("rmv"),
    set: key,
    elem: element,
    tags: z.array(
      z.string().regex(TAG_PATTERN, "tag must be <delta id>:<op index>").refine(
        (tag) => Number(tag.slice(44)) < DELTA_OPS_MAX,
        `a tag's op index must be below ${DELTA_OPS_MAX}`,
      ),
    ).min(1)
      .max(RMV_TAGS_MAX),
  }),
  z.strictObject({
    op: z.literal("inc"),
    counter: key,
    by: safeInt(-INTEGER_MAX),
  }),
]);

/** The strict schema of a v1 delta body. Unknown fields anywhere are rejected. */
export const deltaBodySchema = z.strictObject({
  v: z.literal(1),
  author: z.string().regex(
    ID_PATTERN,
    "author must be a 32-byte ed25519 key as base64url",
  ),
  seq: safeInt(1),
  channel: z.string().regex(CHANNEL_PATTERN, `channel must match ${CHANNEL_RULE}`),
  ts: safeInt(0),
  lc: z.number().int().min(0).max(HLC_COUNTER_MAX),
  ops: z.array(opSchema).min(1).max(DELTA_OPS_MAX),
});

export type DeltaBody = z.infer<typeof deltaBodySchema>;
export type Op = DeltaBody["ops"][number];

/** A delta whose body parsed and passed the schema; its signature is not yet checked. */
export interface Delta extends DeltaBody {
  /**
   * Set for the other signed kinds carried as deltas (`message_kinds.ts`): a topic message (in
   * `_topic:<topic>`) or a direct message (in `_inbox:<to>`), whose `ops` are empty.
   */
  readonly kind?: "topic" | "message";
  /**
   * For those kinds: when the message expires (`ts + ttl`); for a ballot, when its proposal
   * closes (`deadline + grace`). In ms since the epoch; agents may not push it afterwards.
   */
  readonly expires?: number;
  /** base64url(sha256(body bytes)). */
  readonly id: string;
  /** Body text exactly as received. */
  readonly body: string;
  /** Signature as received (base64url). */
  readonly sig: string;
}

/** Why a delta was rejected. Stable strings: part of the protocol (docs/protocol.md). */
export type RejectReason =
  | "bad_envelope"
  | "bad_encoding"
  | "body_too_large"
  | "bad_json"
  | "bad_schema"
  | "bad_signature"
  | "future_timestamp"
  | "reserved_channel"
  | "seq_conflict"
  /** A `_equivocations` delta that is not made only of valid equivocation proofs. */
  | "bad_proof"
  /** The author is proven to have equivocated: this region refuses its deltas. */
  | "quarantined"
  /** The author is over its rate limit in this region: not stored; retry later. */
  | "rate_limited"
  /** A `_certificates` delta that is not made only of operator-signed certificates. */
  | "bad_certificate"
  /** The channel's admission policy does not admit this author (at this delta's `ts`). */
  | "not_admitted"
  /** A `_registry` delta that is not one announce or withdraw of its author's own card. */
  | "bad_card"
  /** A topic or direct message pushed by an agent after its `ts + ttl`. */
  | "expired"
  /** An `_inbox:` delta that is not its owner acknowledging message ids. */
  | "bad_ack"
  /** A `_proposals` delta that is not one proposal of its author (docs §24). */
  | "bad_proposal"
  /** A `_votes:` delta that is not one ballot of its author (docs §24). */
  | "bad_vote"
  /** A `_blobs` delta that is not made only of its author's blob references (docs §25). */
  | "bad_blob_ref"
  /** A kind this push route does not take (a topic message sent to `/v1/deltas`, ...). */
  | "wrong_route";

/** The result of the synchronous checks on one envelope. */
export type Parsed =
  | {
    readonly ok: true;
    readonly delta: Delta;
    /** Public key, signature and signed message bytes, ready for the verifier. */
    readonly publicKey: Uint8Array;
    readonly signature: Uint8Array;
    readonly message: Uint8Array;
  }
  | {
    readonly ok: false;
    readonly id: string | null;
    readonly reason: RejectReason;
    readonly detail: string;
  };

const TAG_BYTES = {
  delta: utf8Encode(DELTA_SIGNATURE_TAG),
  topic: utf8Encode(TOPIC_SIGNATURE_TAG),
  message: utf8Encode(MESSAGE_SIGNATURE_TAG),
};

/**
 * The bytes a signature covers: the domain tag of the body's kind (default a delta's) followed
 * by the body bytes.
 */
export function signedMessage(
  bodyBytes: Uint8Array,
  kind: "delta" | "topic" | "message" = "delta",
): Uint8Array<ArrayBuffer> {
  const tag = TAG_BYTES[kind];
  const message = new Uint8Array(tag.length + bodyBytes.length);
  message.set(tag, 0);
  message.set(bodyBytes, tag.length);
  return message;
}

/** Delta id of a body: base64url(sha256(body bytes)). */
export function deltaId(bodyBytes: Uint8Array): string {
  return encodeBase64Url(sha256(bodyBytes));
}

export const reject = (
  id: string | null,
  reason: RejectReason,
  detail: string,
): Parsed => ({
  ok: false,
  id,
  reason,
  detail,
});

/**
 * The checks of one received envelope that hold in every channel: shape, encoding, size, JSON,
 * schema and clock skew against `nowMs` — not the signature, and not the rules of system
 * channels (`parseEnvelope` in `envelope.ts` adds those). Pure; never throws.
 */
export function parseDeltaEnvelope(envelope: unknown, nowMs: number): Parsed {
  if (
    typeof envelope !== "object" || envelope === null || Array.isArray(envelope)
  ) {
    return reject(
      null,
      "bad_envelope",
      "envelope must be an object {body, sig}",
    );
  }
  const { body, sig, ...extra } = envelope as Record<string, unknown>;
  if (
    typeof body !== "string" || typeof sig !== "string" ||
    Object.keys(extra).length > 0
  ) {
    return reject(
      null,
      "bad_envelope",
      "envelope must be exactly {body: string, sig: string}",
    );
  }
  if (!body.isWellFormed()) {
    return reject(
      null,
      "bad_encoding",
      "body contains a lone UTF-16 surrogate",
    );
  }
  if (utf8ByteLength(body) > DELTA_BODY_BYTES_MAX) {
    return reject(
      null,
      "body_too_large",
      `body exceeds ${DELTA_BODY_BYTES_MAX} bytes`,
    );
  }
  const bodyBytes = utf8Encode(body);
  const id = deltaId(bodyBytes);
  const signature = decodeBase64Url(sig);
  if (signature === null || signature.length !== 64) {
    return reject(
      id,
      "bad_signature",
      "sig must be 64 bytes as unpadded base64url",
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return reject(id, "bad_json", "body is not valid JSON");
  }
  if (hasDuplicateKeys(body)) {
    return reject(id, "bad_json", "body repeats a member name in some object");
  }
  const checked = typedBody(json);
  if (!checked.ok) return reject(id, "bad_schema", checked.detail);
  const fields = checked.fields;
  if (fields.ts > nowMs + CLOCK_SKEW_FUTURE_MS_MAX) {
    return reject(
      id,
      "future_timestamp",
      `ts is more than ${CLOCK_SKEW_FUTURE_MS_MAX} ms ahead of this region's clock`,
    );
  }
  return {
    ok: true,
    delta: { ...fields, id, body, sig },
    publicKey: decodeBase64Url(fields.author)!,
    signature,
    message: signedMessage(bodyBytes, fields.kind ?? "delta"),
  };
}

type DeltaFields = Omit<Delta, "id" | "body" | "sig">;

/**
 * The body checked against the schema of the kind it claims (`kindOf`), as delta fields: a topic
 * message in channel `_topic:<topic>`, a direct message in `_inbox:<to>`, both with no ops.
 */
function typedBody(json: unknown):
  | { readonly ok: true; readonly fields: DeltaFields }
  | { readonly ok: false; readonly detail: string } {
  const kind = kindOf(json);
  const schema = kind === "topic"
    ? topicBodySchema
    : kind === "message"
    ? messageBodySchema
    : deltaBodySchema;
  const checked = schema.safeParse(json);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    return { ok: false, detail: `${issue.path.join(".") || "body"}: ${issue.message}` };
  }
  const data = checked.data;
  if (kind === "delta") return { ok: true, fields: data as DeltaBody };
  const { v, author, seq, ts, lc } = data as { v: 1 } & Pick<Delta, "author" | "seq" | "ts" | "lc">;
  const expires = expiresAt(data as { ts: number; ttl: number });
  if ("topic" in data) {
    if (!isBoundedJson(data.data, 0)) {
      return { ok: false, detail: "data: " + VALUE_RULE };
    }
    const channel = topicChannel(data.topic);
    return { ok: true, fields: { v, author, seq, ts, lc, channel, ops: [], kind, expires } };
  }
  const channel = inboxChannel((data as { to: string }).to);
  return { ok: true, fields: { v, author, seq, ts, lc, channel, ops: [], kind, expires } };
}
