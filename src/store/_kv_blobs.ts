/**
 * The blob part of `DenoKvStore` (rules in `blob_store.ts`). Layout under the store's prefix:
 *   ["blob", sha256]             → {size, chunkBytes, upload, storedAtMs}   (committed blob)
 *   ["blobu", upload]            → {startedAtMs, dead, chunks}              (open or dead upload)
 *   ["blobc", upload, index]     → Uint8Array                               (chunk, ≤ 60 KiB)
 * A `putChunks` commit checks the upload record's versionstamp and rewrites its chunk count, so
 * chunks never land in an upload that was dropped meanwhile; `commitBlob` checks that the blob
 * is absent and the upload unchanged, writes the blob record and deletes the upload record.
 */
import {
  backOff,
  commitOrContend,
  KV_ATOMIC_BYTES_MAX,
  KV_ATOMIC_MUTATIONS_MAX,
  KV_VALUE_BYTES_MAX,
} from "./_kv_atomic.ts";
import { KV_GET_MANY_KEYS_MAX } from "./_kv_plan_input.ts";
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

/** Raw bytes per chunk on Deno KV: a value holds at most 64 KiB serialized. */
export const KV_BLOB_CHUNK_BYTES = 61_440;
/** Chunks per commit: 720 KiB, below the 800 KiB a commit may carry. */
export const KV_BLOB_CHUNKS_PER_WRITE = 12;
/** Chunk keys deleted per commit when an upload is dropped. */
const KV_BLOB_DELETES_PER_COMMIT = 250;

if (KV_BLOB_CHUNK_BYTES + 1_024 > KV_VALUE_BYTES_MAX) {
  throw new Error("KV_BLOB_CHUNK_BYTES must fit a Deno KV value with its serialization");
}
if (KV_BLOB_CHUNK_BYTES * KV_BLOB_CHUNKS_PER_WRITE + 16_384 > KV_ATOMIC_BYTES_MAX) {
  throw new Error("KV_BLOB_CHUNKS_PER_WRITE chunks must fit one Deno KV commit");
}
if (KV_BLOB_DELETES_PER_COMMIT + 1 > KV_ATOMIC_MUTATIONS_MAX) {
  throw new Error("KV_BLOB_DELETES_PER_COMMIT must fit one Deno KV commit");
}

type StoredBlob = Omit<BlobRecord, "sha256">;
type StoredUpload = Omit<UploadRecord, "upload">;

export class KvBlobs implements BlobStore {
  readonly chunkBytes = KV_BLOB_CHUNK_BYTES;
  readonly chunksPerWrite = KV_BLOB_CHUNKS_PER_WRITE;
  readonly #kv: Deno.Kv;
  readonly #key: (...parts: Deno.KvKeyPart[]) => Deno.KvKey;
  readonly #guard: <T>(work: () => Promise<T>) => Promise<T>;

  constructor(
    kv: Deno.Kv,
    key: (...parts: Deno.KvKeyPart[]) => Deno.KvKey,
    guard: <T>(work: () => Promise<T>) => Promise<T>,
  ) {
    this.#kv = kv;
    this.#key = key;
    this.#guard = guard;
  }

  async beginUpload(upload: string, nowMs: number): Promise<void> {
    assertUploadId(upload);
    const value: StoredUpload = { startedAtMs: nowMs, dead: false, chunks: 0 };
    const key = this.#key("blobu", upload);
    const done = await this.#guard(() =>
      commitOrContend(this.#kv.atomic().check({ key, versionstamp: null }).set(key, value))
    );
    if (!done.ok) throw new Error(`Cannot begin upload ${upload} twice`);
  }

  async putChunks(upload: string, first: number, chunks: readonly Uint8Array[]): Promise<boolean> {
    assertChunks(this, upload, first, chunks);
    const key = this.#key("blobu", upload);
    return await this.#guard(async () => {
      for (let attempt = 1;; attempt++) {
        const entry = await this.#kv.get<StoredUpload>(key);
        if (entry.value === null || entry.value.dead) return false;
        const count = Math.max(entry.value.chunks, first + chunks.length);
        const op = this.#kv.atomic().check(entry).set(key, { ...entry.value, chunks: count });
        chunks.forEach((chunk, i) => op.set(this.#key("blobc", upload, first + i), chunk));
        if ((await commitOrContend(op)).ok) return true;
        await backOff(attempt, "write blob chunks");
      }
    });
  }

  async commitBlob(record: BlobRecord): Promise<CommitOutcome> {
    assertBlobRecord(record);
    const { sha256, ...stored } = record;
    const blobKey = this.#key("blob", sha256);
    const uploadKey = this.#key("blobu", record.upload);
    return await this.#guard(async () => {
      for (let attempt = 1;; attempt++) {
        const [blob, upload] = await this.#kv.getMany<[StoredBlob, StoredUpload]>([
          blobKey,
          uploadKey,
        ]);
        if (blob.value !== null) return "exists";
        if (upload.value === null || upload.value.dead) return "lost";
        const op = this.#kv.atomic().check(blob, upload).set(blobKey, stored).delete(uploadKey);
        if ((await commitOrContend(op)).ok) return "committed";
        await backOff(attempt, "commit a blob");
      }
    });
  }

  async getBlob(sha256: string): Promise<BlobRecord | null> {
    assertSha256(sha256);
    const entry = await this.#guard(() => this.#kv.get<StoredBlob>(this.#key("blob", sha256)));
    return entry.value === null ? null : { sha256, ...entry.value };
  }

  async touchBlob(sha256: string, nowMs: number): Promise<boolean> {
    assertSha256(sha256);
    const key = this.#key("blob", sha256);
    return await this.#guard(async () => {
      for (let attempt = 1;; attempt++) {
        const entry = await this.#kv.get<StoredBlob>(key);
        if (entry.value === null) return false;
        if (entry.value.storedAtMs >= nowMs) return true;
        const op = this.#kv.atomic().check(entry).set(key, { ...entry.value, storedAtMs: nowMs });
        if ((await commitOrContend(op)).ok) return true;
        await backOff(attempt, "touch a blob");
      }
    });
  }

  async readChunks(upload: string, first: number, count: number): Promise<(Uint8Array | null)[]> {
    assertChunkRead(this, upload, first, count);
    const keys = Array.from({ length: count }, (_, i) => this.#key("blobc", upload, first + i));
    const groups: Deno.KvKey[][] = [];
    for (let at = 0; at < keys.length; at += KV_GET_MANY_KEYS_MAX) {
      groups.push(keys.slice(at, at + KV_GET_MANY_KEYS_MAX));
    }
    const entries = await this.#guard(() =>
      Promise.all(groups.map((group) => this.#kv.getMany<Uint8Array[]>(group)))
    );
    return entries.flat().map((e) => e.value as Uint8Array | null);
  }

  listBlobs(cursor: string | null, limit: number): Promise<BlobPage<BlobRecord>> {
    return this.#page<StoredBlob, BlobRecord>(
      "blob",
      cursor,
      limit,
      (sha256, value) => ({ sha256, ...value }),
    );
  }

  listUploads(cursor: string | null, limit: number): Promise<BlobPage<UploadRecord>> {
    return this.#page<StoredUpload, UploadRecord>(
      "blobu",
      cursor,
      limit,
      (upload, value) => ({ upload, ...value }),
    );
  }

  async #page<S, T>(
    part: string,
    cursor: string | null,
    limit: number,
    make: (name: string, value: S) => T,
  ): Promise<BlobPage<T>> {
    assertBlobPage(limit);
    return await this.#guard(async () => {
      const items: T[] = [];
      const iter = this.#kv.list<S>(
        { prefix: this.#key(part) },
        { limit, cursor: cursor ?? undefined },
      );
      for await (const entry of iter) items.push(make(String(entry.key.at(-1)), entry.value));
      return { items, cursor: items.length < limit ? null : iter.cursor };
    });
  }

  async removeBlob(record: BlobRecord): Promise<boolean> {
    assertBlobRecord(record);
    const blobKey = this.#key("blob", record.sha256);
    const uploadKey = this.#key("blobu", record.upload);
    const removed = await this.#guard(async () => {
      for (let attempt = 1;; attempt++) {
        const entry = await this.#kv.get<StoredBlob>(blobKey);
        const held = entry.value;
        if (
          held === null || held.upload !== record.upload || held.storedAtMs !== record.storedAtMs
        ) return false;
        const dead: StoredUpload = {
          startedAtMs: 0,
          dead: true,
          chunks: chunkCount(held.size, held.chunkBytes),
        };
        const op = this.#kv.atomic().check(entry).delete(blobKey).set(uploadKey, dead);
        if ((await commitOrContend(op)).ok) return true;
        await backOff(attempt, "remove a blob");
      }
    });
    if (removed) await this.dropUpload(record.upload);
    return removed;
  }

  async dropUpload(upload: string, startedBeforeMs?: number): Promise<boolean> {
    assertUploadId(upload);
    const key = this.#key("blobu", upload);
    return await this.#guard(async () => {
      const dead = await this.#markDead(key, startedBeforeMs);
      if (dead === null) return false;
      for (let from = 0; from < dead.value.chunks; from += KV_BLOB_DELETES_PER_COMMIT) {
        const to = Math.min(dead.value.chunks, from + KV_BLOB_DELETES_PER_COMMIT);
        await this.#commitAnyway(() => {
          const op = this.#kv.atomic();
          for (let i = from; i < to; i++) op.delete(this.#key("blobc", upload, i));
          return op;
        }, "delete blob chunks");
      }
      // Last, and only if nothing rewrote it: a dead record is never rewritten.
      await commitOrContend(this.#kv.atomic().check(dead).delete(key));
      return true;
    });
  }

  /** The upload record marked dead (as committed), or null when it is not to be dropped. */
  async #markDead(
    key: Deno.KvKey,
    startedBeforeMs: number | undefined,
  ): Promise<{ key: Deno.KvKey; value: StoredUpload; versionstamp: string } | null> {
    for (let attempt = 1;; attempt++) {
      const entry = await this.#kv.get<StoredUpload>(key);
      if (entry.value === null) return null;
      if (entry.value.dead) {
        return entry as { key: Deno.KvKey; value: StoredUpload; versionstamp: string };
      }
      if (startedBeforeMs !== undefined && entry.value.startedAtMs >= startedBeforeMs) return null;
      const value = { ...entry.value, dead: true };
      const done = await commitOrContend(this.#kv.atomic().check(entry).set(key, value));
      if (done.ok) return { key, value, versionstamp: done.versionstamp };
      await backOff(attempt, "drop an upload");
    }
  }

  /** Commits unchecked mutations, retrying only SQLite's lock contention. */
  async #commitAnyway(build: () => Deno.AtomicOperation, what: string): Promise<void> {
    for (let attempt = 1;; attempt++) {
      if ((await commitOrContend(build())).ok) return;
      await backOff(attempt, what);
    }
  }
}
