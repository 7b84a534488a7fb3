/**
 * Ed25519 signatures with one acceptance rule on every backend.
 *
 * Regions must accept and reject exactly the same (publicKey, signature, message) triples, or the
 * mesh diverges forever. Ed25519 implementations disagree on edge cases (cofactored vs cofactorless
 * equation, small-order keys, non-canonical encodings), so this module fixes the rule itself and
 * runs the same byte-level pre-checks in front of every backend. A triple is accepted iff:
 *
 * 1. the public key A is 32 bytes, its y coordinate (low 255 bits, little endian) is < p, it
 *    decodes to a curve point, and that point is not of small order;
 * 2. the signature is 64 bytes and S (bytes 32..64, little endian) is < L;
 * 3. R (bytes 0..32) has a canonical y coordinate (< p);
 * 4. the cofactorless equation holds on bytes: encode([S]B - [k]A) equals R, where
 *    k = SHA-512(R || A || message) mod L over the bytes as given.
 *
 * Rule 4 is what Deno's WebCrypto (ring/BoringSSL style) and its `node:crypto` compute, so those
 * backends only need rules 1-3 in front of them (each is used only if it gets the probes below
 * right); the noble backend computes rule 4 with noble's point arithmetic
 * instead of `ed.verify`, whose strict mode is cofactored and accepts torsion-shifted R values.
 */

import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { z } from "zod";
import { nodeCrypto, type NodeKey } from "./_node_crypto.ts";
import { AGREEMENT_PROBES } from "./_ed25519_probes.ts";

// noble v3's synchronous API needs a SHA-512 wired in; this is the same function everywhere.
ed.hashes.sha512 = sha512;

/** Length of an Ed25519 public key, in bytes. */
export const PUBLIC_KEY_BYTES = 32;
/** Length of an Ed25519 secret key seed (RFC 8032), in bytes. */
export const SECRET_KEY_BYTES = 32;
/** Length of an Ed25519 signature (R || S), in bytes. */
export const SIGNATURE_BYTES = 64;
/** Most public keys one verifier keeps checked and imported; the default and the ceiling. */
export const KEY_CACHE_ENTRIES_MAX = 10_000;

/** A concrete verification backend. */
export type VerifierBackend = "native" | "webcrypto" | "noble";

/** Options of {@linkcode createVerifier}. */
export interface VerifierOptions {
  /**
   * `"native"` uses the runtime's `node:crypto` (synchronous, on the calling thread),
   * `"webcrypto"` uses `crypto.subtle` (a worker thread), `"noble"` uses pure-JS point arithmetic;
   * `"auto"` picks the first of these whose Ed25519 passes the agreement probes, and where both
   * native ones do, sends a burst's checks past NATIVE_BURST_MAX to WebCrypto. Default `"auto"`.
   */
  backend?: VerifierBackend | "auto";
  /** LRU key cache bound, in keys. Default and ceiling {@linkcode KEY_CACHE_ENTRIES_MAX}. */
  keyCacheEntriesMax?: number;
}

/** Verifies Ed25519 signatures under the rule in this module's doc comment. */
export interface Verifier {
  /** The backend actually in use (`"auto"` is resolved when the verifier is created). */
  readonly backend: VerifierBackend;
  /** Public keys currently in the key cache, valid or rejected. */
  readonly cacheSize: number;
  /** Resolves true iff the signature is valid; never rejects, bad input resolves false. */
  verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<boolean>;
}

const POINT_BYTES = 32;
const CURVE = ed.Point.CURVE();

/** Writes a non-negative bigint as `length` little-endian bytes. */
function bigintToBytesLe(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++, value >>= 8n) out[i] = Number(value & 0xffn);
  return out;
}

/** Reads little-endian bytes as a non-negative bigint. */
function bytesLeToBigint(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  return value;
}

const P_BYTES_LE = bigintToBytesLe(CURVE.p, POINT_BYTES);
const L_BYTES_LE = bigintToBytesLe(CURVE.n, POINT_BYTES);

/**
 * Whether the 32 little-endian bytes at `bytes[offset..]`, with the top byte masked by `topMask`,
 * are below `limitLe`. Compares from the most significant byte down, so the hot path allocates no
 * BigInt.
 */
function isBelowLe(bytes: Uint8Array, offset: number, limitLe: Uint8Array, topMask: number) {
  for (let i = POINT_BYTES - 1; i >= 0; i--) {
    const byte = i === POINT_BYTES - 1 ? bytes[offset + i] & topMask : bytes[offset + i];
    if (byte !== limitLe[i]) return byte < limitLe[i];
  }
  return false;
}

/** Rules 2 and 3: the signature's shape, S < L and R's y < p, on bytes. */
function isCanonicalSignature(signature: Uint8Array): boolean {
  return signature.length === SIGNATURE_BYTES &&
    isBelowLe(signature, POINT_BYTES, L_BYTES_LE, 0xff) &&
    isBelowLe(signature, 0, P_BYTES_LE, 0x7f);
}

/** Rule 1: returns the decoded point of an acceptable public key, or null. Runs once per key. */
function decodePublicKey(publicKey: Uint8Array): ed.Point | null {
  if (!isBelowLe(publicKey, 0, P_BYTES_LE, 0x7f)) return null;
  let point: ed.Point;
  try {
    point = ed.Point.fromBytes(publicKey, false);
  } catch {
    return null; // y is not on the curve (or x = 0 with the sign bit set, which is small order)
  }
  return point.isSmallOrder() ? null : point;
}

/** Whether `value` is a Uint8Array; guards callers outside the type system. */
function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/** WebCrypto takes only ArrayBuffer-backed views; copy the rare others so both backends agree. */
export function asBufferSource(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer
    ? bytes as Uint8Array<ArrayBuffer>
    : new Uint8Array(bytes);
}

/** Cache id of a public key: one char per byte, cheaper to build and hash than hex. */
function keyId(publicKey: Uint8Array): string {
  return String.fromCharCode.apply(null, publicKey as unknown as number[]);
}

/** How one backend prepares a key once and checks rule 4 per signature. */
interface Backend<K> {
  readonly name: VerifierBackend;
  /** Turns an acceptable key (rule 1 already passed) into the handle `check` needs, or null. */
  prepare(publicKey: Uint8Array, point: ed.Point): Promise<K | null>;
  /** Rule 4, given rules 1-3 hold. */
  check(
    key: K,
    publicKey: Uint8Array,
    signature: Uint8Array,
    message: Uint8Array,
  ): Promise<boolean>;
}

const webCryptoBackend: Backend<CryptoKey> = {
  name: "webcrypto",
  async prepare(publicKey) {
    try {
      const raw = asBufferSource(publicKey);
      return await crypto.subtle.importKey("raw", raw, "Ed25519", false, ["verify"]);
    } catch {
      return null;
    }
  },
  check(key, _publicKey, signature, message) {
    return crypto.subtle.verify("Ed25519", key, asBufferSource(signature), asBufferSource(message));
  },
};

/** `node:crypto`'s Ed25519 where the runtime has it (a public key is imported as SPKI DER). */
const NODE = nodeCrypto(["createPublicKey", "verify"]);
/** DER of an Ed25519 SubjectPublicKeyInfo, before the 32 key bytes (RFC 8410). */
const SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

const nativeBackend: Backend<NodeKey> = {
  name: "native",
  prepare(publicKey) {
    try {
      const der = Uint8Array.from([...SPKI_PREFIX, ...publicKey]);
      return Promise.resolve(NODE!.createPublicKey({ key: der, format: "der", type: "spki" }));
    } catch {
      return Promise.resolve(null);
    }
  },
  check(key, publicKey, signature, message) {
    try {
      return Promise.resolve(NODE!.verify(null, message, key, signature));
    } catch {
      // Not an answer: the rule's own arithmetic decides (rule 1 passed, so the point decodes).
      return nobleBackend.check(decodePublicKey(publicKey)!, publicKey, signature, message);
    }
  },
};

const nobleBackend: Backend<ed.Point> = {
  name: "noble",
  prepare(_publicKey, point) {
    return Promise.resolve(point);
  },
  check(point, publicKey, signature, message) {
    const r = signature.subarray(0, POINT_BYTES);
    const digest = sha512.create().update(r).update(publicKey).update(message).digest();
    const k = ed.etc.mod(bytesLeToBigint(digest), CURVE.n);
    const s = bytesLeToBigint(signature.subarray(POINT_BYTES, SIGNATURE_BYTES));
    // Unsafe (variable-time) multiplication is fine: every input here is public.
    const rPrime = ed.Point.BASE.multiplyUnsafe(s).subtract(point.multiplyUnsafe(k)).toBytes();
    for (let i = 0; i < POINT_BYTES; i++) {
      if (rPrime[i] !== r[i]) return Promise.resolve(false);
    }
    return Promise.resolve(true);
  },
};

/** A verifier with a bounded LRU cache of per-key results (Map insertion order is LRU order). */
class CachedVerifier<K> implements Verifier {
  readonly #backend: Backend<K>;
  readonly #entriesMax: number;
  /** Key id → prepared handle, or null for a key that fails rule 1. */
  readonly #keys = new Map<string, K | null>();

  constructor(backend: Backend<K>, entriesMax: number) {
    this.#backend = backend;
    this.#entriesMax = entriesMax;
  }

  get backend(): VerifierBackend {
    return this.#backend.name;
  }

  get cacheSize(): number {
    return this.#keys.size;
  }

  async verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array) {
    if (!isBytes(publicKey) || !isBytes(signature) || !isBytes(message)) return false;
    if (publicKey.length !== PUBLIC_KEY_BYTES || !isCanonicalSignature(signature)) return false;
    const id = keyId(publicKey);
    let key = this.#keys.get(id);
    if (key === undefined) {
      key = await this.#prepare(publicKey);
      this.#remember(id, key);
    } else {
      this.#keys.delete(id); // move to the most recently used end
      this.#keys.set(id, key);
    }
    if (key === null) return false;
    return await this.#backend.check(key, publicKey, signature, message);
  }

  async #prepare(publicKey: Uint8Array): Promise<K | null> {
    const point = decodePublicKey(publicKey);
    return point === null ? null : await this.#backend.prepare(publicKey, point);
  }

  #remember(id: string, key: K | null) {
    this.#keys.delete(id); // a concurrent verify may have prepared the same key meanwhile
    while (this.#keys.size >= this.#entriesMax) {
      this.#keys.delete(this.#keys.keys().next().value as string);
    }
    this.#keys.set(id, key);
  }
}

/** Most checks one synchronous run may start for them all to run natively. */
export const NATIVE_BURST_MAX = 16;

/**
 * `auto` where both native backends agree. A check on the calling thread costs less than the hop
 * to a worker thread and back, but a push of 256 deltas would hold the event loop ~11 ms in one
 * block, where WebCrypto spreads it over the cores. So the checks started in one synchronous run
 * (one `Promise.all` over a push) are counted until its end: at most NATIVE_BURST_MAX run
 * natively, more all go to WebCrypto. Both answer every triple alike (the probes), so which one
 * checks is invisible.
 */
class BurstVerifier implements Verifier {
  readonly #native: Verifier;
  readonly #pool: Verifier;
  /** The verifier of the run under way, once it has ended; its checks so far. */
  #burst: { chosen: Promise<Verifier>; size: number } | null = null;

  constructor(native: Verifier, pool: Verifier) {
    this.#native = native;
    this.#pool = pool;
  }

  get backend(): VerifierBackend {
    return this.#native.backend;
  }

  get cacheSize(): number {
    return this.#native.cacheSize;
  }

  verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array) {
    if (this.#burst === null) {
      let choose!: (verifier: Verifier) => void;
      const burst = { chosen: new Promise<Verifier>((r) => choose = r), size: 0 };
      this.#burst = burst;
      queueMicrotask(() => {
        this.#burst = null;
        choose(burst.size <= NATIVE_BURST_MAX ? this.#native : this.#pool);
      });
    }
    this.#burst.size++;
    return this.#burst.chosen.then((v) => v.verify(publicKey, signature, message));
  }
}

/** Whether `backend` exists on this runtime and agrees with the rule on every probe. */
async function agrees<K>(backend: Backend<K>): Promise<boolean> {
  try {
    for (const probe of AGREEMENT_PROBES) {
      const publicKey = ed.etc.hexToBytes(probe.publicKey);
      const signature = ed.etc.hexToBytes(probe.signature);
      const point = decodePublicKey(publicKey);
      const key = point === null ? null : await backend.prepare(publicKey, point);
      if (key === null) return false;
      const valid = await backend.check(key, publicKey, signature, probe.message);
      if (valid !== probe.valid) return false;
    }
    return true;
  } catch {
    return false;
  }
}

// Probed once at load so that "auto" resolves synchronously in createVerifier().
const AGREES: Record<VerifierBackend, boolean> = {
  native: NODE !== null && await agrees(nativeBackend),
  webcrypto: await agrees(webCryptoBackend),
  noble: true,
};
// A backend's methods take its own key type; each is only ever given keys it prepared itself.
const BACKENDS: Record<VerifierBackend, Backend<unknown>> = {
  native: nativeBackend,
  webcrypto: webCryptoBackend,
  noble: nobleBackend,
};

const verifierOptionsSchema = z.strictObject({
  backend: z.enum(["native", "webcrypto", "noble", "auto"]).default("auto"),
  keyCacheEntriesMax: z.int().min(1).max(KEY_CACHE_ENTRIES_MAX).default(KEY_CACHE_ENTRIES_MAX),
});

/**
 * Creates a verifier on the chosen backend. Throws if the options are invalid or a backend is
 * asked for that this runtime lacks or whose Ed25519 fails the agreement probes.
 */
export function createVerifier(options: VerifierOptions = {}): Verifier {
  const parsed = verifierOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const subject = issue.path.length > 0
      ? `option '${issue.path.join(".")}' is invalid`
      : "options are invalid";
    throw new TypeError(`Cannot create verifier as ${subject}: ${issue.message}`);
  }
  const { backend, keyCacheEntriesMax } = parsed.data;
  if (backend !== "auto" && !AGREES[backend]) {
    throw new Error(
      `Cannot create verifier as backend "${backend}" is unusable: ` +
        "this runtime lacks its Ed25519 or it disagrees with the verification rule",
    );
  }
  const cached = <K>(b: Backend<K>) => new CachedVerifier(b, keyCacheEntriesMax);
  if (backend === "auto" && AGREES.native && AGREES.webcrypto) {
    return new BurstVerifier(cached(BACKENDS.native), cached(BACKENDS.webcrypto));
  }
  const chosen = backend === "auto"
    ? (["native", "webcrypto", "noble"] as const).find((b) => AGREES[b])!
    : backend;
  return cached(BACKENDS[chosen]);
}

const defaultVerifier = createVerifier();

/**
 * Resolves true iff `signature` is a valid Ed25519 signature of `message` by `publicKey` under the
 * rule in this module's doc comment. Never rejects: malformed input resolves false.
 */
export function verifyEd25519(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
): Promise<boolean> {
  return defaultVerifier.verify(publicKey, signature, message);
}

/** Generates a key pair: `secretKey` is the 32-byte RFC 8032 seed, `publicKey` 32 bytes. */
export function generateKeyPair(): { secretKey: Uint8Array; publicKey: Uint8Array } {
  return ed.keygen();
}

/** Derives the 32-byte public key of a 32-byte secret key seed. Throws on a wrong length. */
export function publicKeyFromSecret(secretKey: Uint8Array): Uint8Array {
  return ed.getPublicKey(secretKey);
}
