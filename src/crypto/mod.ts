/** Signatures: one Ed25519 acceptance rule shared by every region and backend. */

export {
  createVerifier,
  generateKeyPair,
  KEY_CACHE_ENTRIES_MAX,
  PUBLIC_KEY_BYTES,
  publicKeyFromSecret,
  SECRET_KEY_BYTES,
  SIGNATURE_BYTES,
  signEd25519,
  verifyEd25519,
} from "./ed25519.ts";
export type { Verifier, VerifierBackend, VerifierOptions } from "./ed25519.ts";
export { sha256 } from "./sha256.ts";
export { AgentKey } from "./agent_key.ts";
