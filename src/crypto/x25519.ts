/**
 * The birational map from an agent's Ed25519 identity to an X25519 key pair (RFC 7748), so a
 * message can be encrypted to an agent id without a second published key.
 *
 * A public key is mapped only if it passes the same acceptance rule as signature verification
 * (rule 1 of `ed25519.ts`): a canonical y coordinate, a point on the curve, not of small order.
 * An id that no signature could ever verify under must not become an encryption key either.
 */

import { ed25519 } from "@noble/curves/ed25519.js";

/** Length of an X25519 public key (a u coordinate), in bytes. */
export const X25519_PUBLIC_KEY_BYTES = 32;
/** Length of an X25519 secret key (a clamped scalar), in bytes. */
export const X25519_SECRET_KEY_BYTES = 32;
/** Length of the Ed25519 seed and public key this module maps from, in bytes. */
const ED25519_KEY_BYTES = 32;

/**
 * Maps an Ed25519 public key to its X25519 public key, u = (1 + y) / (1 - y) mod p.
 *
 * Throws a TypeError unless `publicKey` is 32 bytes encoding a curve point with y < p that is
 * not of small order (the identity, the all-zero encoding and the other torsion points).
 */
export function x25519PublicFromEd25519(publicKey: Uint8Array): Uint8Array {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_KEY_BYTES) {
    throw new TypeError(
      `Cannot map Ed25519 public key to X25519 as it is not ${ED25519_KEY_BYTES} bytes`,
    );
  }
  let smallOrder: boolean;
  try {
    // zip215 = false: y must be < p and x = 0 with the sign bit set is refused.
    smallOrder = ed25519.Point.fromBytes(publicKey, false).isSmallOrder();
  } catch (cause) {
    throw new TypeError(
      "Cannot map Ed25519 public key to X25519 as it is not a canonical curve point",
      { cause },
    );
  }
  if (smallOrder) {
    throw new TypeError("Cannot map Ed25519 public key to X25519 as it is of small order");
  }
  return ed25519.utils.toMontgomery(publicKey);
}

/**
 * Derives the X25519 secret key of an Ed25519 seed (RFC 8032): the first 32 bytes of
 * SHA-512(seed), clamped. Its X25519 public key equals {@linkcode x25519PublicFromEd25519} of
 * the seed's Ed25519 public key. Returns a fresh 32-byte array the caller may wipe.
 */
export function x25519SecretFromEd25519Seed(seed: Uint8Array): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== ED25519_KEY_BYTES) {
    throw new TypeError(
      `Cannot derive X25519 secret key as the Ed25519 seed is not ${ED25519_KEY_BYTES} bytes`,
    );
  }
  // noble returns a view into the 64-byte hash; copy so the buffer is exactly the scalar.
  return ed25519.utils.toMontgomerySecret(seed).slice();
}
