/** The blob part of `MemoryStore` (unit tests): the same rules as the durable stores. */
import {
  assertBlobPage,
  assertBlobRecord,
  assertChunkRead,
  assertChunks,
  assertSha256,
  assertUploadId,
  type BlobPage,
  type BlobRecord,
  type BlobStore,
  chunkCount,
  type CommitOutcome,
  type UploadRecord,
} from "./blob_store.ts";

/** Chunk size of the memory store: as Deno KV's, so tests see many chunks. */
export const MEMORY_BLOB_CHUNK_BYTES = 61_440;
/** Chunks per write of the memory store. */
export const MEMORY_BLOB_CHUNKS_PER_WRITE = 10;

export class MemoryBlobs implements BlobStore {
  readonly chunkBytes = MEMORY_BLOB_CHUNK_BYTES;
  readonly chunksPerWrite = MEMORY_BLOB_CHUNKS_PER_WRITE;
  readonly #blobs = new Map<string, BlobRecord>();
  readonly #uploads = new Map<string, UploadRecord>();
  readonly #chunks = new Map<string, Map<number, Uint8Array>>();
  /** Throws StoreUnavailableError while the store is failing. */
  readonly #check: () => void;

  constructor(check: () => void) {
    this.#check = check;
  }

  /** Chunks held over all uploads (tests: what a drop leaves behind). */
  get chunksHeld(): number {
    let n = 0;
    for (const chunks of this.#chunks.values()) n += chunks.size;
    return n;
  }

  // deno-lint-ignore require-await
  async beginUpload(upload: string, nowMs: number): Promise<void> {
    assertUploadId(upload);
    this.#check();
    if (this.#uploads.has(upload) || this.#chunks.has(upload)) {
      throw new Error(`Cannot begin upload ${upload} twice`);
    }
    this.#uploads.set(upload, { upload, startedAtMs: nowMs, dead: false, chunks: 0 });
  }

  // deno-lint-ignore require-await
  async putChunks(upload: string, first: number, chunks: readonly Uint8Array[]): Promise<boolean> {
    assertChunks(this, upload, first, chunks);
    this.#check();
    const record = this.#uploads.get(upload);
    if (record === undefined || record.dead) return false;
    let held = this.#chunks.get(upload);
    if (held === undefined) this.#chunks.set(upload, held = new Map());
    chunks.forEach((chunk, i) => held.set(first + i, chunk.slice()));
    const count = Math.max(record.chunks, first + chunks.length);
    this.#uploads.set(upload, { ...record, chunks: count });
    return true;
  }

  // deno-lint-ignore require-await
  async commitBlob(record: BlobRecord): Promise<CommitOutcome> {
    assertBlobRecord(record);
    this.#check();
    if (this.#blobs.has(record.sha256)) return "exists";
    const upload = this.#uploads.get(record.upload);
    if (upload === undefined || upload.dead) return "lost";
    this.#uploads.delete(record.upload);
    this.#blobs.set(record.sha256, { ...record });
    return "committed";
  }

  // deno-lint-ignore require-await
  async getBlob(sha256: string): Promise<BlobRecord | null> {
    assertSha256(sha256);
    this.#check();
    return this.#blobs.get(sha256) ?? null;
  }

  // deno-lint-ignore require-await
  async touchBlob(sha256: string, nowMs: number): Promise<boolean> {
    assertSha256(sha256);
    this.#check();
    const record = this.#blobs.get(sha256);
    if (record === undefined) return false;
    if (nowMs > record.storedAtMs) this.#blobs.set(sha256, { ...record, storedAtMs: nowMs });
    return true;
  }

  // deno-lint-ignore require-await
  async readChunks(upload: string, first: number, count: number): Promise<(Uint8Array | null)[]> {
    assertChunkRead(this, upload, first, count);
    this.#check();
    const held = this.#chunks.get(upload);
    return Array.from({ length: count }, (_, i) => held?.get(first + i)?.slice() ?? null);
  }

  listBlobs(cursor: string | null, limit: number): Promise<BlobPage<BlobRecord>> {
    return this.#page(this.#blobs, cursor, limit);
  }

  listUploads(cursor: string | null, limit: number): Promise<BlobPage<UploadRecord>> {
    return this.#page(this.#uploads, cursor, limit);
  }

  // deno-lint-ignore require-await
  async #page<T>(map: Map<string, T>, cursor: string | null, limit: number): Promise<BlobPage<T>> {
    assertBlobPage(limit);
    this.#check();
    const keys = [...map.keys()].filter((k) => cursor === null || k > cursor).sort();
    const page = keys.slice(0, limit);
    return {
      items: page.map((k) => map.get(k)!),
      cursor: keys.length > limit ? page.at(-1)! : null,
    };
  }

  async removeBlob(record: BlobRecord): Promise<boolean> {
    assertBlobRecord(record);
    this.#check();
    const held = this.#blobs.get(record.sha256);
    if (
      held === undefined || held.upload !== record.upload || held.storedAtMs !== record.storedAtMs
    ) return false;
    this.#blobs.delete(record.sha256);
    const chunks = chunkCount(held.size, held.chunkBytes);
    this.#uploads.set(held.upload, { upload: held.upload, startedAtMs: 0, dead: true, chunks });
    await this.dropUpload(held.upload);
    return true;
  }

  // deno-lint-ignore require-await
  async dropUpload(upload: string, startedBeforeMs?: number): Promise<boolean> {
    assertUploadId(upload);
    this.#check();
    const record = this.#uploads.get(upload);
    if (record === undefined) return false;
    if (!record.dead && startedBeforeMs !== undefined && record.startedAtMs >= startedBeforeMs) {
      return false;
    }
    this.#chunks.delete(upload);
    this.#uploads.delete(upload);
    return true;
  }
}
