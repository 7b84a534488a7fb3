/**
 * Set fingerprints over delta ids, as in Negentropy: the ids (32-byte hashes, read as
 * little-endian 256-bit integers) are summed modulo 2^256, the sum and the count are hashed, and
 * the first 16 bytes are the fingerprint. The sum is incremental (add one id in O(1)) and
 * order-free, so two replicas holding the same set agree whatever the order of arrival, and range
 * reconciliation can combine sub-range sums.
 */
import { sha256 } from "../crypto/sha256.ts";
import { encodeBase64Url } from "./base64url.ts";

/** Bytes of the fingerprint kept from the hash. */
export const FINGERPRINT_BYTES = 16;
const ID_BYTES = 32;

/** A running sum of ids modulo 2^256, plus how many ids went in. */
export class IdAccumulator {
  readonly #sum = new Uint8Array(ID_BYTES);
  #count = 0;

  get count(): number {
    return this.#count;
  }

  /** Adds one 32-byte id. Adding the same id twice counts it twice: callers dedupe. */
  add(id: Uint8Array): void {
    if (id.length !== ID_BYTES) {
      throw new RangeError(`id must be ${ID_BYTES} bytes`);
    }
    let carry = 0;
    for (let i = 0; i < ID_BYTES; i++) {
      const s = this.#sum[i] + id[i] + carry;
      this.#sum[i] = s & 255;
      carry = s >> 8;
    }
    this.#count++;
  }

  /** Adds another accumulator's ids (for combining ranges). */
  addAll(other: IdAccumulator): void {
    let carry = 0;
    const o = other.#sum;
    for (let i = 0; i < ID_BYTES; i++) {
      const s = this.#sum[i] + o[i] + carry;
      this.#sum[i] = s & 255;
      carry = s >> 8;
    }
    this.#count += other.#count;
  }

  /** A copy of the running sum (32 bytes, little-endian): what a checkpoint keeps of the ids. */
  sumBytes(): Uint8Array {
    return this.#sum.slice();
  }

  /**
   * An accumulator holding `count` ids that sum to `sum` (as `sumBytes` gave them): a fold
   * restored from a checkpoint goes on adding ids to it.
   */
  static restore(sum: Uint8Array, count: number): IdAccumulator {
    if (sum.length !== ID_BYTES || !Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(`Cannot restore an id sum from ${sum.length} bytes and count ${count}`);
    }
    const restored = new IdAccumulator();
    restored.#sum.set(sum);
    restored.#count = count;
    return restored;
  }

  /** The fingerprint bytes: sha256(sum || varint(count))[0..16]. */
  fingerprintBytes(): Uint8Array {
    const varint = encodeVarint(this.#count);
    const input = new Uint8Array(ID_BYTES + varint.length);
    input.set(this.#sum, 0);
    input.set(varint, ID_BYTES);
    return sha256(input).slice(0, FINGERPRINT_BYTES);
  }

  /** The fingerprint as unpadded base64url (22 characters). */
  fingerprint(): string {
    return encodeBase64Url(this.fingerprintBytes());
  }
}

/** Unsigned LEB128 varint: 7 bits a byte, low bits first, high bit set when more bytes follow. */
export function encodeVarint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`varint needs a safe integer ≥ 0`);
  }
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 128;
    out.push(byte);
  } while (n > 0);
  return Uint8Array.from(out);
}
