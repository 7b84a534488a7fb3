/**
 * End-to-end encryption of direct messages: regions carry `enc` and `ct`, only the recipient opens.
 *
 * HPKE (RFC 9180) base mode, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM
 * (kem 0x0020, kdf 0x0001, aead 0x0001), single-shot. The recipient key is the X25519 image of
 * the recipient's Ed25519 agent id (`x25519.ts`), so no second key is published. Exact bytes:
 *
 * - `info` = UTF-8 of {@linkcode SEALED_INFO}, `"mesh.message.v1 hpke"` (20 bytes);
 * - `aad` = UTF-8 of `"mesh.message.v1|" + authorId + "|" + recipientId` (103 bytes), both ids
 *   43-character unpadded base64url Ed25519 public keys, so `|` cannot occur inside them.
 *
 * Binding the author in the AAD means a third party who copies `enc` and `ct` into a message it
 * signs itself produces a ciphertext the recipient cannot open. Base mode does not authenticate
 * the sender by itself: the signature on the envelope that names `authorId` does that.
 */

import {
  SEALED_CT_BYTES_MAX,
  SEALED_ENC_BYTES,
  SEALED_TAG_BYTES,
} from "../protocol/message_kinds.ts";
export { SEALED_CT_BYTES_MAX, SEALED_ENC_BYTES, SEALED_TAG_BYTES };
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { decodeBase64Url, encodeBase64Url } from "../protocol/base64url.ts";
import type { AgentKey } from "./agent_key.ts";
import { x25519PublicFromEd25519 } from "./x25519.ts";

/** The HPKE `info` string, as UTF-8. Changing it is a new message format version. */
export const SEALED_INFO = "mesh.message.v1 hpke";
/** Start of the AAD string; the AAD is this, the author id, `|`, the recipient id, as UTF-8. */
export const SEALED_AAD_PREFIX = "mesh.message.v1|";
/** Most plaintext bytes {@linkcode sealFor} accepts. */
export const SEALED_PLAINTEXT_BYTES_MAX = SEALED_CT_BYTES_MAX - SEALED_TAG_BYTES;
/** Length of `enc` as unpadded base64url, in characters. */
export const SEALED_ENC_CHARS = 43;
/** Most characters `ct` may have as unpadded base64url. */
export const SEALED_CT_CHARS_MAX = 15_702;
/** Length of an agent id (an Ed25519 public key as unpadded base64url), in characters. */
const AGENT_ID_CHARS = 43;
/** Length of a decoded agent id, in bytes. */
const AGENT_ID_BYTES = 32;

const base64UrlChars = (bytes: number) => Math.ceil((bytes * 4) / 3);
if (
  base64UrlChars(SEALED_ENC_BYTES) !== SEALED_ENC_CHARS ||
  base64UrlChars(SEALED_CT_BYTES_MAX) !== SEALED_CT_CHARS_MAX ||
  base64UrlChars(AGENT_ID_BYTES) !== AGENT_ID_CHARS
) {
  throw new Error("SEALED_*_CHARS must be the base64url lengths of the SEALED_*_BYTES limits");
}

/** A sealed direct message as it travels: both fields unpadded base64url. */
export interface SealedMessage {
  /** The HPKE encapsulated key, {@linkcode SEALED_ENC_BYTES} bytes decoded. */
  readonly enc: string;
  /** The AES-128-GCM ciphertext and tag, at most {@linkcode SEALED_CT_BYTES_MAX} bytes decoded. */
  readonly ct: string;
}

/** Why {@linkcode openSealed} refused: bad encoding or lengths, or the AEAD did not verify. */
export type SealedMessageRejectReason = "malformed" | "undecryptable";

/** A sealed message that cannot be opened by this recipient for this author. */
export class SealedMessageError extends TypeError {
  override readonly name = "SealedMessageError";
  constructor(readonly reason: SealedMessageRejectReason, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

const SUITE = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});
const utf8 = new TextEncoder();
const INFO_BYTES = utf8.encode(SEALED_INFO);

const aadOf = (authorId: string, recipientId: string) =>
  utf8.encode(`${SEALED_AAD_PREFIX}${authorId}|${recipientId}`);

/** The 32 public-key bytes of an agent id, or null when it is not 43 chars of base64url. */
function decodeAgentId(id: unknown): Uint8Array | null {
  if (typeof id !== "string" || id.length !== AGENT_ID_CHARS) return null;
  const bytes = decodeBase64Url(id);
  return bytes !== null && bytes.length === AGENT_ID_BYTES ? bytes : null;
}

/**
 * Encrypts `plaintext` so only the holder of `recipientId`'s key can open it, bound to
 * `authorId` (both agent ids: 43-character base64url Ed25519 public keys).
 *
 * Throws a TypeError for a plaintext over {@linkcode SEALED_PLAINTEXT_BYTES_MAX} bytes, an id that
 * is not 43 characters of base64url, or a recipient id that is not an acceptable Ed25519 point.
 */
export async function sealFor(
  recipientId: string,
  authorId: string,
  plaintext: Uint8Array,
): Promise<SealedMessage> {
  if (!(plaintext instanceof Uint8Array) || plaintext.length > SEALED_PLAINTEXT_BYTES_MAX) {
    throw new TypeError(
      `Cannot seal message as the plaintext is over ${SEALED_PLAINTEXT_BYTES_MAX} bytes: ` +
        `it is ${plaintext?.length} bytes`,
    );
  }
  const recipientBytes = decodeAgentId(recipientId);
  if (recipientBytes === null) {
    throw new TypeError(
      `Cannot seal message as the recipient id is not an agent id: "${recipientId}"`,
    );
  }
  if (decodeAgentId(authorId) === null) {
    throw new TypeError(`Cannot seal message as the author id is not an agent id: "${authorId}"`);
  }
  const recipientPublicKey = await SUITE.kem.deserializePublicKey(
    x25519PublicFromEd25519(recipientBytes),
  );
  const sealed = await SUITE.seal(
    { recipientPublicKey, info: INFO_BYTES },
    plaintext,
    aadOf(authorId, recipientId),
  );
  return {
    enc: encodeBase64Url(new Uint8Array(sealed.enc)),
    ct: encodeBase64Url(new Uint8Array(sealed.ct)),
  };
}

/** Decodes `enc` and `ct`, checking lengths before decoding; throws a "malformed" error. */
function decodeSealed(enc: string, ct: string): { enc: Uint8Array; ct: Uint8Array } {
  const encBytes = typeof enc === "string" && enc.length === SEALED_ENC_CHARS
    ? decodeBase64Url(enc)
    : null;
  if (encBytes === null || encBytes.length !== SEALED_ENC_BYTES) {
    throw new SealedMessageError(
      "malformed",
      `Cannot open sealed message as enc is not ${SEALED_ENC_BYTES} bytes of base64url`,
    );
  }
  const ctBytes = typeof ct === "string" && ct.length <= SEALED_CT_CHARS_MAX
    ? decodeBase64Url(ct)
    : null;
  if (ctBytes === null || ctBytes.length < SEALED_TAG_BYTES) {
    throw new SealedMessageError(
      "malformed",
      `Cannot open sealed message as ct is not ${SEALED_TAG_BYTES} to ${SEALED_CT_BYTES_MAX} ` +
        "bytes of base64url",
    );
  }
  return { enc: encBytes, ct: ctBytes };
}

/**
 * Decrypts a message sealed to `recipient` by {@linkcode sealFor} with this `authorId`.
 *
 * Throws a {@linkcode SealedMessageError}: reason "malformed" for an author id, `enc` or `ct` that
 * is not well-formed base64url of the right length, "undecryptable" when the ciphertext was
 * sealed to another key, under another author or recipient id, or was altered.
 */
export async function openSealed(
  recipient: AgentKey,
  authorId: string,
  enc: string,
  ct: string,
): Promise<Uint8Array> {
  if (decodeAgentId(authorId) === null) {
    throw new SealedMessageError(
      "malformed",
      `Cannot open sealed message as the author id is not ${AGENT_ID_CHARS} characters of base64url`,
    );
  }
  const sealed = decodeSealed(enc, ct);
  const secret = recipient.x25519SecretKey();
  try {
    const recipientKey = await SUITE.kem.deserializePrivateKey(secret);
    const plaintext = await SUITE.open(
      { recipientKey, enc: sealed.enc, info: INFO_BYTES },
      sealed.ct,
      aadOf(authorId, recipient.id),
    );
    return new Uint8Array(plaintext);
  } catch (cause) {
    throw new SealedMessageError(
      "undecryptable",
      "Cannot open sealed message as it does not decrypt for this recipient and author",
      { cause },
    );
  } finally {
    secret.fill(0);
  }
}
