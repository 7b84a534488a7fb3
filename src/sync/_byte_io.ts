/**
 * Byte reading and writing for version-2 frames (`_cell_frame.ts`): minimal LEB128 varints,
 * little-endian u32, and the frame size bound. Private to `src/sync/`.
 */
import { SyncFrameError } from "./_range_frame.ts";

/** Largest version-2 frame, either way, in bytes (version-1 frames stay within 64 KiB). */
export const SYNC_FRAME_BYTES_MAX = 4 * 1_048_576;

export class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) throw new SyncFrameError("not-bytes", "A frame is bytes");
    if (bytes.length > SYNC_FRAME_BYTES_MAX) {
      throw new SyncFrameError("oversize", `Cannot accept a frame of ${bytes.length} bytes`);
    }
  }

  u8(): number {
    if (this.pos >= this.bytes.length) throw truncated();
    return this.bytes[this.pos++];
  }

  u32(): number {
    const b = this.take(4);
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }

  take(n: number): Uint8Array {
    if (this.pos + n > this.bytes.length) throw truncated();
    return this.bytes.slice(this.pos, this.pos += n);
  }

  varint(max: number, what: string): number {
    let value = 0;
    for (let shift = 0; shift <= 28; shift += 7) {
      const byte = this.u8();
      value += (byte & 127) * 2 ** shift;
      if (value > max) throw new SyncFrameError("limit", `Cannot accept ${what} above ${max}`);
      if ((byte & 128) === 0) {
        if (byte === 0 && shift > 0) throw new SyncFrameError("malformed", "Non-minimal varint");
        return value;
      }
    }
    throw new SyncFrameError("limit", `Cannot read a long ${what}`);
  }

  end(): void {
    if (this.pos !== this.bytes.length) {
      throw new SyncFrameError(
        "malformed",
        `Cannot accept ${this.bytes.length - this.pos} trailing bytes`,
      );
    }
  }
}

function truncated(): SyncFrameError {
  return new SyncFrameError("truncated", "Cannot read past the end of the frame");
}

/** A growable byte writer. */
export class Writer {
  #bytes = new Uint8Array(256);
  pos = 0;

  #room(n: number): void {
    if (this.pos + n <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.pos + n));
    grown.set(this.#bytes.subarray(0, this.pos));
    this.#bytes = grown;
  }

  u8(n: number): void {
    this.#room(1);
    this.#bytes[this.pos++] = n;
  }

  u32(n: number): void {
    this.#room(4);
    for (let k = 0; k < 4; k++) this.#bytes[this.pos++] = (n >>> (8 * k)) & 255;
  }

  put(bytes: Uint8Array): void {
    this.#room(bytes.length);
    this.#bytes.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  varint(n: number): void {
    do {
      this.u8((n % 128) | (n >= 128 ? 128 : 0));
      n = Math.floor(n / 128);
    } while (n > 0);
  }

  done(): Uint8Array {
    if (this.pos > SYNC_FRAME_BYTES_MAX) throw new RangeError(`Cannot encode ${this.pos} bytes`);
    return this.#bytes.slice(0, this.pos);
  }
}
