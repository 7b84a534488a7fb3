/**
 * SHA-256, synchronous. Uses the runtime's native `node:crypto` when it exposes one through
 * `process.getBuiltinModule` (Deno, Node, workerd with nodejs_compat) — about twice as fast as
 * pure JS on the ingest hot path — and `@noble/hashes` everywhere else. Both compute the same
 * function; a test checks them against each other.
 */
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";

type Hasher = (data: Uint8Array) => Uint8Array;

interface NodeCrypto {
  createHash(algorithm: string): { update(data: Uint8Array): { digest(): Uint8Array } };
}

function nativeSha256(): Hasher | null {
  const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } })
    .process;
  const nodeCrypto = process?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;
  if (typeof nodeCrypto?.createHash !== "function") return null;
  return (data) => new Uint8Array(nodeCrypto.createHash("sha256").update(data).digest());
}

/** The pure-JS implementation, exported for the cross-check test. */
export const sha256Portable: Hasher = (data) => nobleSha256(data);

/** SHA-256 of `data` (32 bytes). */
export const sha256: Hasher = nativeSha256() ?? sha256Portable;
