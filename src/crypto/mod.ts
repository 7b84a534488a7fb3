/**
 * Signatures: one Ed25519 acceptance rule shared by every region and backend. Sealed messages:
 * HPKE to the X25519 image of an agent id, so regions carry ciphertext only.
 */

export {
  createVerifier,
  generateKeyPair,
  KEY_CACHE_ENTRIES_MAX,
  PUBLIC_KEY_BYTES,
  publicKeyFromSecret,
  SECRET_KEY_BYTES,
  SIGNATURE_BYTES,
  verifyEd25519,
} from "./ed25519.ts";
export { createSigner, signEd25519, signEd25519Portable } from "./ed25519_sign.ts";
export type { AsyncSigner } from "./ed25519_sign.ts";
export type { Verifier, VerifierBackend, VerifierOptions } from "./ed25519.ts";
export { sha256 } from "./sha256.ts";
export { AgentKey } from "./agent_key.ts";
export {
  X25519_PUBLIC_KEY_BYTES,
  X25519_SECRET_KEY_BYTES,
  x25519PublicFromEd25519,
  x25519SecretFromEd25519Seed,
} from "./x25519.ts";
export {
  openSealed,
  SEALED_AAD_PREFIX,
  SEALED_CT_BYTES_MAX,
  SEALED_CT_CHARS_MAX,
  SEALED_ENC_BYTES,
  SEALED_ENC_CHARS,
  SEALED_INFO,
  SEALED_PLAINTEXT_BYTES_MAX,
  SEALED_TAG_BYTES,
  SealedMessageError,
  sealFor,
} from "./sealed_message.ts";
export type { SealedMessage, SealedMessageRejectReason } from "./sealed_message.ts";
