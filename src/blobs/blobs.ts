/**
 * One instance's blobs (docs/protocol.md §25): the store's blob part, the budgets uploads are
 * charged to, which blobs the `_blobs` view references, the on-demand pull from peers, and the
 * collector — tied to their triggers: a request (`routes.ts`) and the periodic job (`tick`,
 * `workers/blob_jobs.ts`). Everything durable is in the store, so any number of instances share
 * one region's blobs.
 */
import { ChannelViews } from "../views/channel_views.ts";
import type { RegionStore } from "../store/region_store.ts";
import { createTelemetry, names, type Telemetry } from "../telemetry/mod.ts";
import { type BlobBudgets, blobBudgets } from "./budget.ts";
import {
  BLOB_ABANDONED_MS_DEFAULT,
  BLOB_GC_MS_DEFAULT,
  BLOB_GRACE_MS_DEFAULT,
  BlobCollector,
  type CollectTick,
} from "./collector.ts";
import { type BlobPeer, PeerPuller } from "./peer_pull.ts";
import { BlobReferences } from "./references.ts";

/** Longest an upload may take from its first byte to its last, in ms (then it is cut off). */
export const BLOB_UPLOAD_MS_MAX = 600_000;
/** How many job periods the collector's lease lasts. */
const GC_LEASE_PERIODS = 3;

export interface BlobsOptions {
  /** This region's id (telemetry). */
  readonly region: string;
  readonly store: RegionStore;
  /** Wall clock in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * The regions to pull a missing blob from, in the order to ask them (read at each pull).
   * Default none: a standalone region serves only what it stores.
   */
  readonly peers?: () => readonly BlobPeer[];
  /** `fetch` for pulls from peers. Default `globalThis.fetch`. */
  readonly fetch?: typeof fetch;
  /** Grace of an unreferenced blob, in ms. Default 1 hour. */
  readonly graceMs?: number;
  /** Age past which an open upload is abandoned, in ms; above `BLOB_UPLOAD_MS_MAX`. Default 30 min. */
  readonly abandonedMs?: number;
  /** Period of the collector's job, in ms. Default 60 s. */
  readonly gcEveryMs?: number;
  /** Upload byte budgets; each field defaults to its constant in `budget.ts`. */
  readonly budgets?: Partial<BlobBudgets>;
  /** This instance's name (the collector's lease holder). Default a random one. */
  readonly instance?: string;
  readonly telemetry?: Telemetry;
}

export class Blobs {
  readonly store: RegionStore;
  readonly now: () => number;
  readonly budgets: BlobBudgets;
  readonly graceMs: number;
  readonly gcEveryMs: number;
  readonly telemetry: Telemetry;
  readonly references: BlobReferences;
  readonly puller: PeerPuller;
  readonly collector: BlobCollector;
  /** Attributes of every span and metric of the blobs. */
  readonly base: Record<string, string>;

  constructor(options: BlobsOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.budgets = blobBudgets(options.budgets);
    this.graceMs = positive("graceMs", options.graceMs ?? BLOB_GRACE_MS_DEFAULT);
    this.gcEveryMs = positive("gcEveryMs", options.gcEveryMs ?? BLOB_GC_MS_DEFAULT);
    const abandonedMs = options.abandonedMs ?? BLOB_ABANDONED_MS_DEFAULT;
    if (!(abandonedMs > BLOB_UPLOAD_MS_MAX)) {
      throw new TypeError(
        `Cannot collect blobs as 'abandonedMs' must exceed the longest upload (${BLOB_UPLOAD_MS_MAX} ms): ${abandonedMs}`,
      );
    }
    this.telemetry = options.telemetry ?? createTelemetry();
    this.base = { [names.ATTR_REGION]: options.region, [names.ATTR_STORE_KIND]: this.store.kind };
    this.references = new BlobReferences(new ChannelViews(this.store), this.store);
    this.puller = new PeerPuller({
      blobs: this.store.blobs,
      peers: options.peers ?? (() => []),
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      now: this.now,
      telemetry: this.telemetry,
      base: this.base,
    });
    this.collector = new BlobCollector({
      store: this.store,
      references: this.references,
      now: this.now,
      graceMs: this.graceMs,
      abandonedMs,
      instance: options.instance ?? `blobs-${crypto.randomUUID().slice(0, 8)}`,
      leaseTtlMs: GC_LEASE_PERIODS * this.gcEveryMs,
      telemetry: this.telemetry,
      base: this.base,
    });
  }

  /** The periodic job: one collection step (by the lease holder only). */
  tick(): Promise<CollectTick> {
    return this.collector.tick();
  }
}

function positive(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value > 0)) {
    throw new TypeError(`Cannot collect blobs as '${name}' must be a positive integer: ${value}`);
  }
  return value;
}
