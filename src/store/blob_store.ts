/**
 * The blob part of the regional store (`RegionStore.blobs`): content-addressed blobs of up to
 * 16 MiB, kept as chunks that fit the store's value limits (Deno KV: 64 KiB a value, 800 KiB a
 * commit; Upstash: 10 MB a request).
 *
 * An upload writes its chunks under a fresh upload id, invisible to readers, then one small
 * atomic commit makes it the blob's: a crash mid-upload leaves only an open upload, which the
 * collector drops once it is older than its grace. An upload record says how many chunks were
 * written and whether the upload is open or dead; chunks are written only to an open upload, and
 * a dead one has its chunks deleted before its record, so no chunk is ever left without a record
 * that leads to it. Removing a blob marks its upload dead in the same atomic write.
 */

/** A committed blob. */
export interface BlobRecord {
  /** The blob's SHA-256: 64 lowercase hex digits. */
  readonly sha256: string;
  /** Its length in bytes (≥ 1). */
  readonly size: number;
  /** Bytes of every chunk but the last, as written. */
  readonly chunkBytes: number;
  /** The upload whose chunks hold the bytes. */
  readonly upload: string;
  /** When it was committed, or last uploaded again, in ms since the epoch (the grace counts from it). */
  readonly storedAtMs: number;
}

/** An upload not (or no longer) committed: open, or dead with chunks still to delete. */
export interface UploadRecord {
  readonly upload: string;
  /** When `beginUpload` opened it, in ms since the epoch (0 for a removed blob's chunks). */
  readonly startedAtMs: number;
  /** Dropped: no chunk may be written to it, and its chunks are being deleted. */
  readonly dead: boolean;
  /** One more than the highest chunk index written to it. */
  readonly chunks: number;
}

/**
 * What `commitBlob` did: `committed` (the blob is now readable; the upload record is gone, its
 * chunks belong to the blob); `exists` (the blob was already stored; nothing changed, the
 * caller drops its upload); `lost` (the upload is no longer open: it was dropped meanwhile).
 */
export type CommitOutcome = "committed" | "exists" | "lost";

/** One page of a walk over records; a walk starts at cursor null and ends at a null cursor. */
export interface BlobPage<T> {
  readonly items: readonly T[];
  readonly cursor: string | null;
}

/** Most records one `listBlobs` or `listUploads` page may ask for. */
export const BLOB_PAGE_ITEMS_MAX = 1_000;
/** An upload id: what `crypto.randomUUID()` makes, or any 1 … 64 base64url-ish characters. */
export const UPLOAD_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** A blob's name in the store: its SHA-256 in lowercase hex. */
export const BLOB_SHA256_PATTERN = /^[0-9a-f]{64}$/;

export interface BlobStore {
  /** Raw bytes per chunk (every chunk but a blob's last is exactly this long). */
  readonly chunkBytes: number;
  /** Most chunks one `putChunks` or `readChunks` call takes. */
  readonly chunksPerWrite: number;
  /** Opens upload `upload` (a fresh id) at `nowMs`. */
  beginUpload(upload: string, nowMs: number): Promise<void>;
  /**
   * Writes chunks `first`, `first + 1`, … of an open upload (at most `chunksPerWrite`, each at
   * most `chunkBytes`), atomically with the upload's chunk count. False, writing nothing, when
   * the upload is not open (dropped by the collector, or never begun).
   */
  putChunks(upload: string, first: number, chunks: readonly Uint8Array[]): Promise<boolean>;
  /** Makes an open upload the blob `record.sha256`, atomically (see {@linkcode CommitOutcome}). */
  commitBlob(record: BlobRecord): Promise<CommitOutcome>;
  /** The blob's record, or null. */
  getBlob(sha256: string): Promise<BlobRecord | null>;
  /** Raises the blob's `storedAtMs` to `nowMs` (never lowers it); false when there is no blob. */
  touchBlob(sha256: string, nowMs: number): Promise<boolean>;
  /** Chunks `first` … `first + count − 1` of `upload` (count ≤ `chunksPerWrite`); null where absent. */
  readChunks(upload: string, first: number, count: number): Promise<(Uint8Array | null)[]>;
  /** A page of blob records. A record may appear twice in a walk (Redis HSCAN); never skipped. */
  listBlobs(cursor: string | null, limit: number): Promise<BlobPage<BlobRecord>>;
  /** A page of upload records (open or dead), like `listBlobs`. */
  listUploads(cursor: string | null, limit: number): Promise<BlobPage<UploadRecord>>;
  /**
   * Removes the blob if its record still equals `record` (same upload and `storedAtMs`), and
   * marks its upload dead in the same atomic write, then deletes the chunks (`dropUpload`).
   * True when it removed the record.
   */
  removeBlob(record: BlobRecord): Promise<boolean>;
  /**
   * Marks the upload dead — when open, and with `startedBeforeMs` only if it started before
   * then — and deletes its chunks, then its record. True when the upload is gone now; false when
   * there was none, or it is open and started too recently.
   */
  dropUpload(upload: string, startedBeforeMs?: number): Promise<boolean>;
}

/** Throws RangeError unless `upload` is an upload id. */
export function assertUploadId(upload: string): void {
  if (!UPLOAD_ID_PATTERN.test(upload)) {
    throw new RangeError(`Cannot use upload id ${JSON.stringify(upload)}: 1-64 of [A-Za-z0-9_-]`);
  }
}

/** Throws RangeError unless `sha256` is 64 lowercase hex digits. */
export function assertSha256(sha256: string): void {
  if (!BLOB_SHA256_PATTERN.test(sha256)) {
    throw new RangeError(`Cannot name a blob ${JSON.stringify(sha256)}: 64 lowercase hex digits`);
  }
}

/** Throws RangeError unless the chunks fit a store's `putChunks`. */
export function assertChunks(
  store: Pick<BlobStore, "chunkBytes" | "chunksPerWrite">,
  upload: string,
  first: number,
  chunks: readonly Uint8Array[],
): void {
  assertUploadId(upload);
  if (!Number.isSafeInteger(first) || first < 0) {
    throw new RangeError(`Cannot write chunks from index ${first}: a non-negative integer`);
  }
  if (chunks.length === 0 || chunks.length > store.chunksPerWrite) {
    throw new RangeError(`Cannot write ${chunks.length} chunks: 1 … ${store.chunksPerWrite}`);
  }
  const big = chunks.find((c) => c.length === 0 || c.length > store.chunkBytes);
  if (big !== undefined) {
    throw new RangeError(`Cannot write a chunk of ${big.length} bytes: 1 … ${store.chunkBytes}`);
  }
}

/** Throws RangeError unless a read of `count` chunks from `first` fits `chunksPerWrite`. */
export function assertChunkRead(
  store: Pick<BlobStore, "chunksPerWrite">,
  upload: string,
  first: number,
  count: number,
): void {
  assertUploadId(upload);
  if (
    !Number.isSafeInteger(first) || first < 0 || !Number.isSafeInteger(count) || count < 1 ||
    count > store.chunksPerWrite
  ) {
    throw new RangeError(`Cannot read ${count} chunks from ${first}: 1 … ${store.chunksPerWrite}`);
  }
}

/** Throws RangeError unless `record` is a well-formed blob record. */
export function assertBlobRecord(record: BlobRecord): void {
  assertSha256(record.sha256);
  assertUploadId(record.upload);
  for (
    const [name, value, least] of [
      ["size", record.size, 1],
      ["chunkBytes", record.chunkBytes, 1],
      ["storedAtMs", record.storedAtMs, 0],
    ] as const
  ) {
    if (!Number.isSafeInteger(value) || value < least) {
      throw new RangeError(`Cannot record a blob whose ${name} is ${value}`);
    }
  }
}

/** Throws RangeError unless `limit` is a page size: 1 … BLOB_PAGE_ITEMS_MAX. */
export function assertBlobPage(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > BLOB_PAGE_ITEMS_MAX) {
    throw new RangeError(`Cannot list ${limit} records: 1 … ${BLOB_PAGE_ITEMS_MAX}`);
  }
}

/** How many chunks a blob of `size` bytes takes at `chunkBytes` a chunk. */
export function chunkCount(size: number, chunkBytes: number): number {
  return Math.ceil(size / chunkBytes);
}
