/**
 * Takes a blob's bytes from a stream into the store — an agent's upload or a peer's answer
 * alike — without ever holding more than one write's worth (≤ 1 MiB): the bytes are hashed as
 * they come, cut into the store's chunks, written under a fresh upload id, and committed as the
 * blob only when the stream ended, the size is within bounds and the hash is the one asked for.
 * Anything else drops the upload, so nothing partial or wrong ever becomes readable.
 */
import { createSha256 } from "../crypto/sha256.ts";
import type { BlobRecord, BlobStore } from "../store/blob_store.ts";

export interface ReceiveOptions {
  /** The region's clock, ms since the epoch: the upload's start and the blob's `storedAtMs`. */
  readonly nowMs: number;
  /** Most bytes taken; the stream is cancelled as soon as it passes them. */
  readonly bytesMax: number;
  /**
   * Called before each store write with the total bytes written so far plus this write's: the
   * caller charges the budget and throws to stop (the upload is dropped, the error rethrown).
   */
  readonly charge?: (totalBytes: number) => Promise<void>;
  /** Cancels the read when it aborts (a deadline); the outcome is then `interrupted`. */
  readonly signal?: AbortSignal;
}

/** What became of a received stream. Only `stored` and `exists` leave anything readable. */
export type Received =
  /** Committed now. */
  | { readonly status: "stored"; readonly record: BlobRecord }
  /** The blob was there already (another upload won); this upload was dropped. */
  | { readonly status: "exists"; readonly record: BlobRecord }
  /** More than `bytesMax` bytes. */
  | { readonly status: "too_large"; readonly bytesMax: number }
  /** No bytes at all. */
  | { readonly status: "empty" }
  /** The bytes hash to something else. */
  | { readonly status: "mismatch"; readonly actual: string; readonly size: number }
  /** The stream failed or was aborted before its end. */
  | { readonly status: "interrupted"; readonly detail: string }
  /** The upload was dropped by the collector while it was written (it took far too long). */
  | { readonly status: "lost" };

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += b.toString(16).padStart(2, "0");
  return text;
}

/** Reads `body` into the store as blob `sha256` (see the module doc). Store errors propagate. */
export async function receiveBlob(
  blobs: BlobStore,
  sha256: string,
  body: ReadableStream<Uint8Array> | null,
  options: ReceiveOptions,
): Promise<Received> {
  const upload = crypto.randomUUID();
  await blobs.beginUpload(upload, options.nowMs);
  let outcome: Received | undefined;
  try {
    outcome = await fill(blobs, upload, sha256, body, options);
    return outcome;
  } finally {
    if (outcome?.status !== "stored") {
      // Best effort: what is left is an open upload, which the collector drops after its grace.
      await blobs.dropUpload(upload).catch(() => false);
    }
  }
}

async function fill(
  blobs: BlobStore,
  upload: string,
  sha256: string,
  body: ReadableStream<Uint8Array> | null,
  options: ReceiveOptions,
): Promise<Received> {
  const writer = new ChunkWriter(blobs, upload, options.charge);
  const hash = createSha256();
  const reader = body?.getReader();
  const abort = () => void reader?.cancel("deadline").catch(() => {});
  options.signal?.addEventListener("abort", abort, { once: true });
  try {
    for (;;) {
      if (reader === undefined) break;
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        return { status: "interrupted", detail: String((error as Error)?.message ?? error) };
      }
      if (options.signal?.aborted) return { status: "interrupted", detail: "deadline passed" };
      if (next.done) break;
      if (writer.size + next.value.length > options.bytesMax) {
        await reader.cancel("too large").catch(() => {});
        return { status: "too_large", bytesMax: options.bytesMax };
      }
      hash.update(next.value);
      if (!await writer.write(next.value)) return { status: "lost" };
    }
  } finally {
    options.signal?.removeEventListener("abort", abort);
    reader?.releaseLock();
    await writer.settled();
  }
  if (!await writer.flush()) return { status: "lost" };
  if (writer.size === 0) return { status: "empty" };
  const actual = toHex(hash.digest());
  if (actual !== sha256) return { status: "mismatch", actual, size: writer.size };
  const record: BlobRecord = {
    sha256,
    size: writer.size,
    chunkBytes: blobs.chunkBytes,
    upload,
    storedAtMs: options.nowMs,
  };
  const committed = await blobs.commitBlob(record);
  if (committed === "lost") return { status: "lost" };
  if (committed === "committed") return { status: "stored", record };
  return { status: "exists", record: (await blobs.getBlob(sha256)) ?? record };
}

/**
 * Cuts bytes into chunks and writes them a batch (`chunksPerWrite` chunks) at a time, with one
 * write in flight while the next batch fills: reading the stream and committing to the store
 * overlap, and at most two batches (≤ 2 × 720 KiB on Deno KV) are held. The buffers grow with
 * the bytes received (doubling from one chunk up to a batch), so an upload whose body stalls
 * holds nothing and a slow one about what it sent: a client cannot pin a batch per request.
 */
class ChunkWriter {
  readonly #blobs: BlobStore;
  readonly #upload: string;
  readonly #charge?: (totalBytes: number) => Promise<void>;
  readonly #batchBytes: number;
  #buffer = new Uint8Array(0);
  /** The buffer of the write in flight (or last sent), reused for the batch after next. */
  #spare = new Uint8Array(0);
  #filled = 0;
  #written = 0;
  #nextChunk = 0;
  /** The write in flight: resolves false when the upload was dropped meanwhile. */
  #inFlight: Promise<boolean> = Promise.resolve(true);

  constructor(blobs: BlobStore, upload: string, charge?: (totalBytes: number) => Promise<void>) {
    this.#blobs = blobs;
    this.#upload = upload;
    this.#charge = charge;
    this.#batchBytes = blobs.chunkBytes * blobs.chunksPerWrite;
  }

  /** Bytes taken so far (written, in flight or buffered). */
  get size(): number {
    return this.#written + this.#filled;
  }

  /** Takes `bytes`; sends each full batch. False when the upload was dropped meanwhile. */
  async write(bytes: Uint8Array): Promise<boolean> {
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, this.#batchBytes - this.#filled);
      this.#reserve(this.#filled + n);
      this.#buffer.set(bytes.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled === this.#batchBytes && !await this.#send()) return false;
    }
    return true;
  }

  /** Grows the buffer being filled to hold `bytes` (doubling, at most a batch). */
  #reserve(bytes: number): void {
    if (bytes <= this.#buffer.length) return;
    let capacity = Math.max(this.#buffer.length, this.#blobs.chunkBytes);
    while (capacity < bytes) capacity *= 2;
    const grown = new Uint8Array(Math.min(capacity, this.#batchBytes));
    grown.set(this.#buffer.subarray(0, this.#filled));
    this.#buffer = grown;
  }

  /** Sends what is buffered (the last chunk may be short) and waits for every write. */
  async flush(): Promise<boolean> {
    if (this.#filled > 0 && !await this.#send()) return false;
    return await this.#inFlight;
  }

  /** Waits for the write in flight, whatever its outcome (before the upload is dropped). */
  async settled(): Promise<void> {
    await this.#inFlight.catch(() => false);
  }

  /** Charges and starts writing the buffered batch once the previous write is done. */
  async #send(): Promise<boolean> {
    await this.#charge?.(this.#written + this.#filled);
    if (!await this.#inFlight) return false;
    const { chunkBytes } = this.#blobs;
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < this.#filled; at += chunkBytes) {
      chunks.push(this.#buffer.subarray(at, Math.min(at + chunkBytes, this.#filled)));
    }
    this.#inFlight = this.#blobs.putChunks(this.#upload, this.#nextChunk, chunks);
    this.#inFlight.catch(() => {}); // awaited by the next send, flush or settled
    this.#nextChunk += chunks.length;
    this.#written += this.#filled;
    this.#filled = 0;
    [this.#buffer, this.#spare] = [this.#spare, this.#buffer];
    return true;
  }
}
