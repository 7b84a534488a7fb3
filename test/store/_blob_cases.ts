/**
 * The blob part of the store contract (`src/store/blob_store.ts`), run against every store: an
 * upload is invisible until its commit, a commit is all or nothing, a dropped upload takes no
 * more chunks and leaves none behind, removal is conditional, walks see every record.
 */
import assert from "node:assert/strict";
import { createSha256 } from "../../src/crypto/sha256.ts";
import type { BlobRecord, BlobStore } from "../../src/store/blob_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function sha256Hex(bytes: Uint8Array): string {
  const hash = createSha256();
  hash.update(bytes);
  return hex(hash.digest());
}

/** `size` bytes of a seeded pattern that covers every byte value. */
export function patternBytes(size: number, seed = 1): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** Writes `bytes` as upload `upload` (not committed); returns the record to commit. */
export async function writeUpload(
  blobs: BlobStore,
  bytes: Uint8Array,
  upload: string,
  nowMs: number,
): Promise<BlobRecord> {
  await blobs.beginUpload(upload, nowMs);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += blobs.chunkBytes) {
    chunks.push(bytes.subarray(at, at + blobs.chunkBytes));
  }
  for (let i = 0; i < chunks.length; i += blobs.chunksPerWrite) {
    assert.equal(await blobs.putChunks(upload, i, chunks.slice(i, i + blobs.chunksPerWrite)), true);
  }
  return {
    sha256: sha256Hex(bytes),
    size: bytes.length,
    chunkBytes: blobs.chunkBytes,
    upload,
    storedAtMs: nowMs,
  };
}

/** The blob's bytes as the store returns them, chunk by chunk (null if a chunk is missing). */
export async function readAll(blobs: BlobStore, record: BlobRecord): Promise<Uint8Array | null> {
  const out = new Uint8Array(record.size);
  const count = Math.ceil(record.size / record.chunkBytes);
  for (let i = 0; i < count; i += blobs.chunksPerWrite) {
    const got = await blobs.readChunks(record.upload, i, Math.min(blobs.chunksPerWrite, count - i));
    for (const [k, chunk] of got.entries()) {
      if (chunk === null) return null;
      out.set(chunk, (i + k) * record.chunkBytes);
    }
  }
  return out;
}

async function walk<T>(
  list: (
    cursor: string | null,
    limit: number,
  ) => Promise<{ items: readonly T[]; cursor: string | null }>,
): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1_000; pages++) {
    const page = await list(cursor, 2);
    all.push(...page.items);
    cursor = page.cursor;
    if (cursor === null) return all;
  }
  throw new Error("the walk did not end");
}

export interface BlobCaseFixture {
  readonly store: RegionStore;
  cleanup(): Promise<void>;
}

/** Registers the blob cases for one store kind. */
export function runBlobCases(
  name: string,
  open: () => Promise<BlobCaseFixture>,
  options: { ignore?: boolean } = {},
): void {
  const test = (title: string, fn: (blobs: BlobStore) => Promise<void>) =>
    Deno.test({
      name: `${name}.blobs: ${title}`,
      ignore: options.ignore ?? false,
      async fn() {
        const fixture = await open();
        try {
          await fn(fixture.store.blobs);
        } finally {
          await fixture.cleanup();
        }
      },
    });

  test("an upload is invisible until its commit, then reads back byte for byte", async (blobs) => {
    const bytes = patternBytes(blobs.chunkBytes * 2 + 17, 7);
    const record = await writeUpload(blobs, bytes, "up-1", 1_000);
    assert.equal(await blobs.getBlob(record.sha256), null);
    assert.equal(await blobs.commitBlob(record), "committed");
    assert.deepEqual(await blobs.getBlob(record.sha256), record);
    assert.deepEqual(await readAll(blobs, record), bytes);
    assert.deepEqual(await walk((c, l) => blobs.listUploads(c, l)), []);
  });

  test("a blob of many full writes reads back a full batch of chunks at a time", async (blobs) => {
    const bytes = patternBytes(blobs.chunkBytes * (blobs.chunksPerWrite * 2 + 1) - 3, 17);
    const record = await writeUpload(blobs, bytes, "up-many", 1_000);
    assert.equal(await blobs.commitBlob(record), "committed");
    const batch = await blobs.readChunks(record.upload, 0, blobs.chunksPerWrite);
    assert.equal(batch.length, blobs.chunksPerWrite);
    assert.ok(batch.every((c) => c?.length === blobs.chunkBytes));
    assert.deepEqual(await readAll(blobs, record), bytes);
  });

  test("a second upload of a stored blob is told exists and can be dropped whole", async (blobs) => {
    const bytes = patternBytes(1_000, 3);
    const first = await writeUpload(blobs, bytes, "up-a", 1_000);
    const second = await writeUpload(blobs, bytes, "up-b", 2_000);
    const outcomes = await Promise.all([blobs.commitBlob(first), blobs.commitBlob(second)]);
    assert.deepEqual([...outcomes].sort(), ["committed", "exists"]);
    const loser = outcomes[0] === "committed" ? second : first;
    const kept = (await blobs.getBlob(first.sha256))!;
    assert.notEqual(kept.upload, loser.upload);
    assert.equal(await blobs.dropUpload(loser.upload), true);
    assert.deepEqual(await blobs.readChunks(loser.upload, 0, 1), [null]);
    assert.deepEqual(await readAll(blobs, kept), bytes);
  });

  test("a dropped upload takes no chunk and cannot be committed", async (blobs) => {
    const record = await writeUpload(blobs, patternBytes(100), "up-x", 1_000);
    assert.equal(await blobs.dropUpload(record.upload), true);
    assert.equal(await blobs.putChunks(record.upload, 1, [new Uint8Array([1])]), false);
    assert.equal(await blobs.commitBlob(record), "lost");
    assert.equal(await blobs.getBlob(record.sha256), null);
    assert.deepEqual(await blobs.readChunks(record.upload, 0, 2), [null, null]);
    assert.equal(await blobs.putChunks("never-begun", 0, [new Uint8Array([1])]), false);
    assert.equal(await blobs.dropUpload("never-begun"), false);
  });

  test("dropUpload(startedBeforeMs) leaves a recent open upload and drops an old one", async (blobs) => {
    await writeUpload(blobs, patternBytes(10), "old", 1_000);
    await writeUpload(blobs, patternBytes(10, 2), "new", 5_000);
    assert.equal(await blobs.dropUpload("new", 5_000), false);
    assert.equal(await blobs.dropUpload("old", 5_000), true);
    const left = await walk((c, l) => blobs.listUploads(c, l));
    assert.deepEqual(left.map((u) => [u.upload, u.dead, u.chunks]), [["new", false, 1]]);
    await assert.rejects(blobs.beginUpload("new", 6_000));
  });

  test("touchBlob raises storedAtMs only, and removeBlob refuses a record that changed", async (blobs) => {
    const record = await writeUpload(blobs, patternBytes(blobs.chunkBytes + 1), "up-t", 1_000);
    await blobs.commitBlob(record);
    assert.equal(await blobs.touchBlob(record.sha256, 500), true);
    assert.equal((await blobs.getBlob(record.sha256))!.storedAtMs, 1_000);
    assert.equal(await blobs.touchBlob(record.sha256, 9_000), true);
    assert.equal(await blobs.removeBlob(record), false);
    const touched = (await blobs.getBlob(record.sha256))!;
    assert.equal(touched.storedAtMs, 9_000);
    assert.equal(await blobs.removeBlob(touched), true);
    assert.equal(await blobs.getBlob(record.sha256), null);
    assert.deepEqual(await blobs.readChunks(record.upload, 0, 2), [null, null]);
    assert.deepEqual(await walk((c, l) => blobs.listUploads(c, l)), []);
    assert.equal(await blobs.touchBlob(record.sha256, 10_000), false);
  });

  test("listBlobs walks every blob in pages", async (blobs) => {
    const made = new Set<string>();
    for (let i = 0; i < 7; i++) {
      const record = await writeUpload(blobs, patternBytes(50 + i, i + 1), `w-${i}`, 1_000 + i);
      await blobs.commitBlob(record);
      made.add(record.sha256);
    }
    await writeUpload(blobs, patternBytes(5, 99), "open-1", 3_000);
    const seen = await walk((c, l) => blobs.listBlobs(c, l));
    assert.deepEqual(new Set(seen.map((r) => r.sha256)), made);
    assert.ok(seen.every((r) => r.chunkBytes === blobs.chunkBytes && r.size >= 50));
    const uploads = await walk((c, l) => blobs.listUploads(c, l));
    assert.deepEqual(uploads.map((u) => u.upload), ["open-1"]);
  });

  test("chunks and reads outside the limits are refused as programming errors", async (blobs) => {
    await blobs.beginUpload("lim", 1);
    const big = new Uint8Array(blobs.chunkBytes + 1);
    await assert.rejects(blobs.putChunks("lim", 0, [big]), RangeError);
    const many = Array.from({ length: blobs.chunksPerWrite + 1 }, () => new Uint8Array(1));
    await assert.rejects(blobs.putChunks("lim", 0, many), RangeError);
    await assert.rejects(blobs.readChunks("lim", 0, blobs.chunksPerWrite + 1), RangeError);
    await assert.rejects(blobs.getBlob("ABC"), RangeError);
    await assert.rejects(blobs.beginUpload("bad id!", 1), RangeError);
  });
}
