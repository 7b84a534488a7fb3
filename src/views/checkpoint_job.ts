/**
 * The job that writes view checkpoints (`view_checkpoint.ts`), run by the one instance of the
 * region that holds the `view-checkpoints` lease. Each tick reads one page of the channel
 * directory (`channels`: the region's, src/views/channel_directory.ts) with the channels'
 * arrival counts, and their checkpoint pointers,
 * and writes a checkpoint for each channel that is large enough and due: `everyDeltas` arrivals
 * past its checkpoint (and `CHECKPOINT_DELTAS_PER_CHUNK` per chunk of it, so a large state is not
 * rewritten as often), or any arrival and a checkpoint older than `CHECKPOINT_AGE_MS_MAX`. A tick
 * writes at most `CHECKPOINT_WRITES_PER_TICK_MAX`; the directory cursor moves on only when the
 * page has nothing left due, so a burst of due channels is worked off over the next ticks.
 *
 * The fold written is the job's own `ChannelViews` caught up — from the previous checkpoint and
 * the arrivals after it — so a write costs the new arrivals and the state's size, not the
 * channel's history.
 */
import type { RegionStore } from "../store/region_store.ts";
import { createTelemetry, names, type Telemetry } from "../telemetry/mod.ts";
import { ChannelViews, viewlessReason } from "./channel_views.ts";
import {
  type CheckpointWrite,
  readPointers,
  type StoredPointer,
  writeCheckpoint,
} from "./view_checkpoint.ts";

/** The lease that makes one instance of the region the checkpoint writer. */
export const CHECKPOINT_LEASE = "view-checkpoints";
/** Default period of the job, in ms. */
export const CHECKPOINT_JOB_MS_DEFAULT = 2_000;
/** Channels with fewer arrivals are not checkpointed: they fold cold in tens of ms. */
export const CHECKPOINT_MIN_DELTAS_DEFAULT = 2_000;
/**
 * Default arrivals past a channel's checkpoint that make a new one due: a cold read folds at most
 * about this many (plus what arrives in a job period) after the checkpoint.
 */
export const CHECKPOINT_EVERY_DELTAS_DEFAULT = 1_000;
/**
 * Arrivals past a checkpoint per chunk it has before it is written again, at least: a large state
 * is rewritten less often, so a write costs at most ~64 characters per arrival on average.
 */
export const CHECKPOINT_DELTAS_PER_CHUNK = 250;
/** Age past which a checkpoint with any arrival after it is written again, in ms (10 minutes). */
export const CHECKPOINT_AGE_MS_MAX = 600_000;
/** Channels of the directory one tick examines (one `readIndex` of their pointers: ≤ 256). */
export const CHECKPOINT_SCAN_CHANNELS = 256;
/** Checkpoints one tick writes at most. */
export const CHECKPOINT_WRITES_PER_TICK_MAX = 4;

/** A page of the region's channels with their arrival counts, in name order. */
export interface ChannelCountPage {
  readonly channels: readonly { readonly channel: string; readonly deltas: number }[];
  /** The last channel examined, to list after; null when the listing is done. */
  readonly after: string | null;
}

export interface CheckpointJobOptions {
  readonly region: string;
  readonly store: RegionStore;
  /**
   * Up to `limit` channels after `after` (from the first when undefined): the region's channel
   * directory (`listChannels` of src/views/channel_directory.ts).
   */
  readonly channels: (after: string | undefined, limit: number) => Promise<ChannelCountPage>;
  /** This instance's name as lease holder. */
  readonly instance: string;
  /** Wall clock in ms. Default `Date.now`. */
  readonly now?: () => number;
  /** Lease length; default three job periods, so the holder keeps it from tick to tick. */
  readonly leaseTtlMs?: number;
  readonly telemetry?: Telemetry;
  /** Default `CHECKPOINT_MIN_DELTAS_DEFAULT`. */
  readonly minDeltas?: number;
  /** Default `CHECKPOINT_EVERY_DELTAS_DEFAULT`. */
  readonly everyDeltas?: number;
}

/** What one tick did. */
export interface CheckpointTick {
  /** Whether this instance held the lease (else it did nothing). */
  readonly leader: boolean;
  /** Channels of the directory examined. */
  readonly examined: number;
  /** Checkpoints written, and due ones left for a later tick. */
  readonly written: number;
  readonly deferred: number;
}

export class CheckpointJob {
  readonly #o: Required<Omit<CheckpointJobOptions, "telemetry">> & { telemetry: Telemetry };
  readonly #base: Record<string, string>;
  readonly #views: ChannelViews;
  /** The last channel of the directory page examined; undefined: from the start. */
  #after: string | undefined;

  constructor(options: CheckpointJobOptions) {
    this.#o = {
      now: Date.now,
      leaseTtlMs: 3 * CHECKPOINT_JOB_MS_DEFAULT,
      minDeltas: CHECKPOINT_MIN_DELTAS_DEFAULT,
      everyDeltas: CHECKPOINT_EVERY_DELTAS_DEFAULT,
      ...options,
      telemetry: options.telemetry ?? createTelemetry(),
    };
    this.#base = {
      [names.ATTR_REGION]: options.region,
      [names.ATTR_STORE_KIND]: options.store.kind,
    };
    this.#views = new ChannelViews(options.store, {
      telemetry: this.#o.telemetry,
      base: this.#base,
    });
  }

  /** One round (see the module doc). Store errors propagate to the scheduler. */
  async tick(): Promise<CheckpointTick> {
    const { store, instance, leaseTtlMs, now } = this.#o;
    const lease = await store.acquireLease(CHECKPOINT_LEASE, instance, leaseTtlMs, now());
    if (lease.holder !== instance) return { leader: false, examined: 0, written: 0, deferred: 0 };
    const page = await this.#o.channels(this.#after, CHECKPOINT_SCAN_CHANNELS);
    const candidates = page.channels.filter((c) =>
      c.deltas >= this.#o.minDeltas && viewlessReason(c.channel) === null
    );
    const pointers = candidates.length === 0
      ? []
      : await readPointers(store, candidates.map((c) => c.channel));
    const due = candidates.flatMap((c, i) =>
      this.#due(c.deltas, pointers[i]) ? [{ channel: c.channel, previous: pointers[i] }] : []
    );
    let written = 0;
    for (const { channel, previous } of due.slice(0, CHECKPOINT_WRITES_PER_TICK_MAX)) {
      if ((await this.write(channel, previous)).outcome === "written") written++;
    }
    const deferred = Math.max(0, due.length - CHECKPOINT_WRITES_PER_TICK_MAX);
    if (deferred === 0) this.#after = page.after ?? undefined;
    return { leader: true, examined: page.channels.length, written, deferred };
  }

  #due(arrivals: number, previous: StoredPointer): boolean {
    const at = previous.pointer;
    if (at === null) return true;
    const behind = arrivals - at.cursor;
    return behind >= Math.max(this.#o.everyDeltas, at.chunks * CHECKPOINT_DELTAS_PER_CHUNK) ||
      (behind > 0 && this.#o.now() - at.writtenAtMs >= CHECKPOINT_AGE_MS_MAX);
  }

  /**
   * Writes `channel`'s checkpoint now, replacing `previous` (its pointer as read; read here
   * when not given) if it is still the stored one. The lease is the caller's business.
   */
  write(channel: string, previous?: StoredPointer): Promise<CheckpointWrite> {
    const { telemetry, store, now } = this.#o;
    const attributes = { ...this.#base, [names.ATTR_CHANNEL]: channel };
    return telemetry.inSpan(names.SPAN_VIEW_CHECKPOINT, attributes, async (span) => {
      const [read] = previous === undefined ? await readPointers(store, [channel]) : [previous];
      const copy = await this.#views.checkpoint(channel);
      const { cursor, deltas, fingerprint } = copy;
      const result = await writeCheckpoint(store, channel, copy.text, {
        cursor,
        deltas,
        fingerprint,
        writtenAtMs: now(),
      }, read);
      span.setAttributes({
        [names.ATTR_VIEW_CHECKPOINT_OUTCOME]: result.outcome,
        [names.ATTR_VIEW_CHECKPOINT_CHARS]: copy.text.length,
        [names.ATTR_VIEW_CHECKPOINT_CURSOR]: cursor,
      });
      telemetry.viewCheckpoints.add(1, {
        ...this.#base,
        [names.ATTR_VIEW_CHECKPOINT_OUTCOME]: result.outcome,
      });
      return result;
    });
  }
}
