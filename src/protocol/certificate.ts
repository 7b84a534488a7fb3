/**
 * Admission certificates: an operator key signs `{v, author, channels, expires}` to let `author`
 * write to the channels its patterns match, for deltas whose own `ts` is below `expires`.
 * Certificates travel as ordinary deltas in the system channel `_certificates`
 * (docs/protocol.md §19): each op is `set {key: <author>, value: {body: <cert JSON>, sig}}`, where
 * `sig` is an operator's signature over `mesh.cert.v1:` + the body bytes. Self-verifying, so any
 * signer may publish one.
 */
import { z } from "zod";
import { decodeBase64Url } from "./base64url.ts";
import type { Op } from "./delta.ts";
import { hasDuplicateKeys } from "./duplicate_keys.ts";
import { ID_PATTERN_SOURCE, INTEGER_MAX } from "./limits.ts";
import { utf8ByteLength, utf8Encode } from "./utf8.ts";

/** The system channel that holds admission certificates. */
export const CERTIFICATES_CHANNEL = "_certificates";
/** Domain tag of an operator's signature over a certificate body. */
export const CERT_SIGNATURE_TAG = "mesh.cert.v1:";
/** Largest certificate body, in UTF-8 bytes. */
export const CERT_BODY_BYTES_MAX = 2_048;
/** Most channel patterns one certificate may list. */
export const CERT_CHANNELS_MAX = 16;

/**
 * A channel pattern: an exact channel name, or a prefix ending in `*` that matches every channel
 * starting with it. Never a system channel (`_…`).
 */
export const CHANNEL_MATCH_PATTERN = /^(?!_)[A-Za-z0-9._:-]{0,64}\*?$/;

/** Whether `pattern` (exact name or `prefix*`) matches `channel`. */
export function channelMatches(pattern: string, channel: string): boolean {
  return pattern.endsWith("*") ? channel.startsWith(pattern.slice(0, -1)) : pattern === channel;
}

export const channelMatchSchema = z.string().regex(
  CHANNEL_MATCH_PATTERN,
  "must be a channel name or a prefix ending in *, not starting with _",
).refine((s) => s !== "", "must not be empty");

const ID = new RegExp(`^${ID_PATTERN_SOURCE}$`);

/** The strict schema of a v1 certificate body. */
export const certificateBodySchema = z.strictObject({
  v: z.literal(1),
  author: z.string().regex(ID, "author must be a 32-byte ed25519 key as base64url"),
  channels: z.array(channelMatchSchema).min(1).max(CERT_CHANNELS_MAX),
  /** Deltas with `ts` below this (ms since the epoch) are admitted. */
  expires: z.number().int().min(0).max(INTEGER_MAX),
});

export type Certificate = z.infer<typeof certificateBodySchema>;

/** A certificate as published: its body text and an operator's signature over it. */
export interface SignedCertificate {
  readonly body: string;
  readonly sig: string;
}

/** The result of the synchronous checks on one certificate value. */
export type CertificateShape =
  | {
    readonly ok: true;
    readonly certificate: Certificate;
    readonly signature: Uint8Array;
    readonly message: Uint8Array;
  }
  | { readonly ok: false; readonly detail: string };

const bad = (detail: string): CertificateShape => ({ ok: false, detail });

/** The bytes an operator signs: the domain tag followed by the body bytes. */
export function certificateMessage(body: string): Uint8Array<ArrayBuffer> {
  return utf8Encode(CERT_SIGNATURE_TAG + body);
}

/**
 * Every check on a published certificate filed under `author` except the operator signature:
 * exactly `{body, sig}`, a body within `CERT_BODY_BYTES_MAX` that is strict JSON matching the
 * schema and names `author`, and a 64-byte signature. Pure; never throws.
 */
export function checkCertificateShape(author: string, value: unknown): CertificateShape {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return bad("a certificate must be an object {body, sig}");
  }
  const { body, sig, ...extra } = value as Record<string, unknown>;
  if (Object.keys(extra).length > 0 || typeof body !== "string" || typeof sig !== "string") {
    return bad("a certificate must be exactly {body: string, sig: string}");
  }
  if (utf8ByteLength(body) > CERT_BODY_BYTES_MAX) {
    return bad(`a certificate body must be at most ${CERT_BODY_BYTES_MAX} bytes`);
  }
  const signature = decodeBase64Url(sig);
  if (signature === null || signature.length !== 64) {
    return bad("a certificate sig must be 64 bytes as unpadded base64url");
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return bad("a certificate body must be JSON");
  }
  if (hasDuplicateKeys(body)) return bad("a certificate body repeats a member name");
  const checked = certificateBodySchema.safeParse(json);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    return bad(`certificate ${issue.path.join(".") || "body"}: ${issue.message}`);
  }
  if (checked.data.author !== author) {
    return bad("a certificate must be filed under the author it admits");
  }
  return { ok: true, certificate: checked.data, signature, message: certificateMessage(body) };
}

/**
 * Why the ops of a `_certificates` delta are not all well-formed certificates (signatures
 * aside), or null: every op must be `set` with an author id as key and a certificate for it.
 */
export function certificateOpsProblem(ops: readonly Op[]): string | null {
  for (const [i, op] of ops.entries()) {
    if (op.op !== "set") return `ops.${i}: only set ops are allowed in ${CERTIFICATES_CHANNEL}`;
    if (!ID.test(op.key)) return `ops.${i}: key must be the author id the certificate admits`;
    const shape = checkCertificateShape(op.key, op.value);
    if (!shape.ok) return `ops.${i}: ${shape.detail}`;
  }
  return null;
}

/** The certificates of a `_certificates` delta whose shape was already checked, in op order. */
export function certificatesIn(ops: readonly Op[]): Extract<CertificateShape, { ok: true }>[] {
  return ops.flatMap((op) => {
    if (op.op !== "set") return [];
    const shape = checkCertificateShape(op.key, op.value);
    return shape.ok ? [shape] : [];
  });
}
