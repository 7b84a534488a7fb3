/**
 * SHA-256, synchronous. Uses the runtime's native `node:crypto` when it exposes one through
 * `process.getBuiltinModule` (Deno, Node, workerd with nodejs_compat) — about twice as fast as
 * pure JS on the ingest hot path — and `@noble/hashes` everywhere else. Both compute the same
 * function; a test checks them against each other.
 */
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { nodeCrypto } from "./_node_crypto.ts";

type Hasher = (data: Uint8Array) => Uint8Array;

function nativeSha256(): Hasher | null {
  const native = nodeCrypto(["createHash"]);
  if (native === null) return null;
  return (data) => new Uint8Array(native.createHash("sha256").update(data).digest());
}

/** The pure-JS implementation, exported for the cross-check test. */
export const sha256Portable: Hasher = (data) => nobleSha256(data);

/** SHA-256 of `data` (32 bytes). */
export const sha256: Hasher = nativeSha256() ?? sha256Portable;

/** An incremental SHA-256: `update` with each piece of the bytes in order, then `digest()` once. */
export interface Sha256Stream {
  update(data: Uint8Array): void;
  /** The 32-byte hash of everything given to `update`. */
  digest(): Uint8Array;
}

/** The pure-JS incremental hash, exported for the cross-check test. */
export function createSha256Portable(): Sha256Stream {
  const hash = nobleSha256.create();
  return { update: (data) => void hash.update(data), digest: () => hash.digest() };
}

/**
 * A new incremental SHA-256 (native where `sha256` is): hashes a stream (a blob of up to 16 MiB)
 * piece by piece without holding it.
 */
export const createSha256: () => Sha256Stream = nativeSha256Stream() ?? createSha256Portable;

function nativeSha256Stream(): (() => Sha256Stream) | null {
  const native = nodeCrypto(["createHash"]);
  if (native === null) return null;
  return () => {
    const hash = native.createHash("sha256");
    return {
      update: (data) => void hash.update(data),
      digest: () => new Uint8Array(hash.digest()),
    };
  };
}
