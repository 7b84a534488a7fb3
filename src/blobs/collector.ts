/**
 * Garbage collection of blobs (docs/protocol.md §25.6), a scheduled job that one instance per
 * region runs at a time (the `blob-gc` lease). Each tick walks a bounded number of records, from
 * where the last tick stopped:
 *   - a blob no live `_blobs` entry references, stored (or last uploaded again) more than the
 *     grace ago, is removed: an upload nobody ever referenced goes too;
 *   - an upload still open more than `abandonedMs` after it began (a crash or a client that went
 *     away mid-body) is dropped, and a dead one (a removal cut short) is finished.
 * Removal is conditional on the record being unchanged, so a blob uploaded again meanwhile stays.
 */
import type { BlobStore } from "../store/blob_store.ts";
import type { RegionStore } from "../store/region_store.ts";
import { names, type Telemetry } from "../telemetry/mod.ts";
import type { BlobReferences } from "./references.ts";

/** Default grace of an unreferenced blob, in ms (1 hour). */
export const BLOB_GRACE_MS_DEFAULT = 3_600_000;
/** Default age at which an open upload counts as abandoned, in ms (30 minutes). */
export const BLOB_ABANDONED_MS_DEFAULT = 1_800_000;
/** Default period of the collector's job, in ms. */
export const BLOB_GC_MS_DEFAULT = 60_000;
/** Records (blobs and uploads together) one tick examines at most. */
export const BLOB_GC_ITEMS_PER_TICK = 2_000;
/** Records read per store page. */
export const BLOB_GC_PAGE_ITEMS = 250;
/** The lease that makes one instance of the region the collector. */
export const BLOB_GC_LEASE = "blob-gc";

export interface CollectorOptions {
  readonly store: RegionStore;
  readonly references: BlobReferences;
  readonly now: () => number;
  readonly graceMs: number;
  readonly abandonedMs: number;
  /** This instance's name as lease holder. */
  readonly instance: string;
  /** Lease length: a few job periods, so the holder keeps it from tick to tick. */
  readonly leaseTtlMs: number;
  readonly telemetry: Telemetry;
  readonly base: Record<string, string>;
}

/** What one tick did. */
export interface CollectTick {
  /** Whether this instance held the lease (else it did nothing). */
  readonly leader: boolean;
  readonly examined: number;
  readonly removedBlobs: number;
  readonly droppedUploads: number;
}

export class BlobCollector {
  readonly #o: CollectorOptions;
  #blobCursor: string | null = null;
  #uploadCursor: string | null = null;

  constructor(options: CollectorOptions) {
    this.#o = options;
  }

  /** One collection step (see the module doc). Store errors propagate to the scheduler. */
  tick(): Promise<CollectTick> {
    const { telemetry, base, store, instance, leaseTtlMs, now } = this.#o;
    return telemetry.inSpan(names.SPAN_BLOB_GC, base, async (span) => {
      const lease = await store.acquireLease(BLOB_GC_LEASE, instance, leaseTtlMs, now());
      if (lease.holder !== instance) {
        return { leader: false, examined: 0, removedBlobs: 0, droppedUploads: 0 };
      }
      const blobs = await this.#sweepBlobs(BLOB_GC_ITEMS_PER_TICK);
      const uploads = await this.#sweepUploads(BLOB_GC_ITEMS_PER_TICK - blobs.examined);
      const tick = {
        leader: true,
        examined: blobs.examined + uploads.examined,
        removedBlobs: blobs.removed,
        droppedUploads: uploads.removed,
      };
      span.setAttribute(names.ATTR_BLOB_GC_EXAMINED, tick.examined);
      this.#count("blob", tick.removedBlobs);
      this.#count("upload", tick.droppedUploads);
      return tick;
    });
  }

  /** Removes unreferenced blobs past their grace, walking at most `budget` records. */
  async #sweepBlobs(budget: number): Promise<{ examined: number; removed: number }> {
    const { store, references, now, graceMs } = this.#o;
    const referenced = await references.referenced();
    let examined = 0, removed = 0;
    while (examined < budget) {
      const page = await store.blobs.listBlobs(
        this.#blobCursor,
        Math.min(BLOB_GC_PAGE_ITEMS, budget - examined),
      );
      examined += page.items.length;
      for (const record of page.items) {
        if (referenced.has(record.sha256) || record.storedAtMs + graceMs > now()) continue;
        if (await store.blobs.removeBlob(record)) removed++;
      }
      this.#blobCursor = page.cursor;
      if (page.cursor === null) break;
    }
    return { examined, removed };
  }

  /** Drops abandoned and dead uploads, walking at most `budget` records. */
  async #sweepUploads(budget: number): Promise<{ examined: number; removed: number }> {
    const { store, now, abandonedMs } = this.#o;
    const blobs: BlobStore = store.blobs;
    let examined = 0, removed = 0;
    while (examined < budget) {
      const page = await blobs.listUploads(
        this.#uploadCursor,
        Math.min(BLOB_GC_PAGE_ITEMS, budget - examined),
      );
      examined += page.items.length;
      const cutoff = now() - abandonedMs;
      for (const upload of page.items) {
        if (!upload.dead && upload.startedAtMs >= cutoff) continue;
        if (await blobs.dropUpload(upload.upload, cutoff)) removed++;
      }
      this.#uploadCursor = page.cursor;
      if (page.cursor === null) break;
    }
    return { examined, removed };
  }

  #count(kind: "blob" | "upload", n: number): void {
    if (n === 0) return;
    this.#o.telemetry.blobCollected.add(n, { ...this.#o.base, [names.ATTR_BLOB_GC_KIND]: kind });
  }
}
