/**
 * Waiting for a channel to change, for long-polls (`?wait=` on a view or a tail read). Whatever
 * this instance stores is told to the watch at once by the ingest (agent pushes, peer relays,
 * anti-entropy repairs alike); what other instances of the region store is read from the region
 * log, polled while anyone waits. A wake-up only says "read again": the caller reads the store
 * and decides whether what it holds changed, so a spurious wake-up costs one read and a missed
 * one at most a poll period.
 */
import { quarantineOf } from "../guard/quarantine.ts";
import { EQUIVOCATIONS_CHANNEL } from "../protocol/equivocation.ts";
import { readLogAfter } from "../store/region_log.ts";
import { PollChain } from "./poll_chain.ts";
import type { ArrivedDelta, RegionStore } from "../store/region_store.ts";

/** Pause between reads of the region log while anyone waits, in ms. */
export const WATCH_POLL_MS_DEFAULT = 50;
/** Ids this instance stored and told the watch of, remembered so the log poll skips them. */
const WATCH_RECENT_IDS_MAX = 8_192;
/** Region-log entries read per poll page (of each shard). */
const WATCH_LOG_PAGE = 512;
/** Deltas stored here kept per watched channel for the reads they wake (`arrived`). */
export const WATCH_ARRIVED_PER_CHANNEL_MAX = 32;
/** Body bytes kept for woken reads over all channels; past it, the oldest channels go. */
export const WATCH_ARRIVED_BYTES_MAX = 1 << 20;

/** One registration: resolves `woken` at the first change of its channel after it was made. */
export interface Ticket {
  /**
   * Resolves true when the channel may have changed since the ticket was taken, false after
   * `waitMs` or once `signal` aborts; the ticket is spent either way.
   */
  wait(waitMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Gives the ticket back without waiting. */
  cancel(): void;
}

interface Waiter {
  readonly channel: string;
  wake(): void;
  /** Ends the wait as if it had run out (the instance is shutting down). */
  end(): void;
}

export class ChannelWatch {
  readonly #store: RegionStore;
  readonly #waiters = new Set<Waiter>();
  /** The same waiters by channel, so a notification finds its own without scanning them all. */
  readonly #byChannel = new Map<string, Set<Waiter>>();
  /** The region-log position (per shard) read so far; null while nobody waits. */
  #logCursor: number[] | null = null;
  /** Ids told by `stored`, not met in the log yet (a second wake-up for them would be spurious). */
  readonly #recent = new Set<string>();
  /** Reads the region log every period while anyone waits (poll_chain.ts). */
  readonly #chain: PollChain;
  /** Deltas `stored` told of in channels someone waited on, by channel, for `arrived`. */
  readonly #arrived = new Map<string, ArrivedDelta[]>();
  #arrivedBytes = 0;
  /** The quarantine version the waiters' reads reflect at least; null while nobody waits. */
  #quarantineSeen: number | null = null;

  constructor(store: RegionStore, pollMs = WATCH_POLL_MS_DEFAULT) {
    this.#store = store;
    this.#chain = new PollChain(pollMs, async () => {
      if (this.#waiters.size === 0) {
        this.#logCursor = null;
        this.#quarantineSeen = null;
        this.#arrived.clear();
        this.#arrivedBytes = 0;
        return false;
      }
      await this.poll();
      return true;
    });
  }

  /** Set by `close`: no read waits any more. */
  #closed = false;

  /**
   * Ends every waiting read as if its wait had run out (each answers what it holds), and every
   * later one at once: a server shutdown would otherwise wait for them (up to the longest wait).
   */
  close(): void {
    this.#closed = true;
    for (const waiter of [...this.#waiters]) waiter.end();
  }

  /** Requests waiting now. */
  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Registers interest in `channel`. Resolves once every change stored from now on will wake the
   * ticket, so a read made after this misses nothing: take the ticket, read, then wait.
   */
  async ticket(channel: string): Promise<Ticket> {
    let woken = false;
    let wake: () => void = () => {
      woken = true;
    };
    let end = () => {};
    const waiter: Waiter = { channel, wake: () => wake(), end: () => end() };
    this.#waiters.add(waiter);
    let same = this.#byChannel.get(channel);
    if (same === undefined) this.#byChannel.set(channel, same = new Set());
    same.add(waiter);
    try {
      await this.#start();
    } catch (error) {
      this.#leave(waiter);
      throw error;
    }
    return {
      wait: (waitMs, signal) => {
        if (woken || signal?.aborted || this.#closed) {
          return Promise.resolve(this.#leave(waiter) && woken);
        }
        return new Promise<boolean>((resolve) => {
          const done = (changed: boolean) => {
            clearTimeout(timer);
            alive();
            signal?.removeEventListener("abort", aborted);
            this.#leave(waiter);
            resolve(changed);
          };
          const aborted = () => done(false);
          const timer = setTimeout(() => done(false), Math.max(0, waitMs));
          // This request keeps the log poll going while it waits, whoever started it.
          const alive = this.#chain.keepAlive();
          signal?.addEventListener("abort", aborted, { once: true });
          wake = () => done(true);
          end = () => done(false);
        });
      },
      cancel: () => void this.#leave(waiter),
    };
  }

  /**
   * Told of the deltas this instance just stored (the ingest): wakes the waiters of their
   * channels now, and the log poll will not wake anyone for them again. With `evidence` (one is
   * a proven equivocation), every waiter: its author's views change in every channel. `arrived`
   * (those accepted, with their arrival numbers) are kept for the reads they wake.
   */
  stored(
    deltas: readonly { readonly id: string; readonly channel: string }[],
    evidence = false,
    arrived: readonly ArrivedDelta[] = [],
  ) {
    if (this.#waiters.size === 0 || deltas.length === 0) return;
    this.#keep(arrived);
    if (evidence) this.notify([EQUIVOCATIONS_CHANNEL]);
    for (const { id } of deltas) {
      this.#recent.add(id);
      if (this.#recent.size > WATCH_RECENT_IDS_MAX) {
        this.#recent.delete(this.#recent.values().next().value!);
      }
    }
    this.notify(deltas.map((d) => d.channel));
  }

  /**
   * Deltas this instance stored in `channel` while someone waited on it (at most
   * `WATCH_ARRIVED_PER_CHANNEL_MAX`, kept until nobody waits), with their arrival numbers, so a
   * read they woke can fold them in without reading them back (`ChannelViews.read`, woken).
   */
  arrived(channel: string): readonly ArrivedDelta[] {
    return this.#arrived.get(channel) ?? [];
  }

  #keep(arrived: readonly ArrivedDelta[]): void {
    for (const delta of arrived) {
      if (!this.#byChannel.has(delta.channel)) continue;
      let list = this.#arrived.get(delta.channel);
      if (list === undefined) this.#arrived.set(delta.channel, list = []);
      list.push(delta);
      this.#arrivedBytes += delta.body.length;
      if (list.length > WATCH_ARRIVED_PER_CHANNEL_MAX) {
        this.#arrivedBytes -= list.shift()!.body.length;
      }
    }
    for (const [channel, list] of this.#arrived) {
      if (this.#arrivedBytes <= WATCH_ARRIVED_BYTES_MAX) break;
      this.#arrived.delete(channel);
      for (const delta of list) this.#arrivedBytes -= delta.body.length;
    }
  }

  /** Told of the channels deltas were just stored in: wakes their waiters. */
  notify(channels: Iterable<string>): void {
    if (this.#waiters.size === 0) return;
    const changed = new Set(channels);
    // A proof of equivocation changes the view of every channel its author wrote in.
    if (changed.has(EQUIVOCATIONS_CHANNEL)) {
      for (const waiter of [...this.#waiters]) waiter.wake();
      return;
    }
    for (const channel of changed) {
      const waiters = this.#byChannel.get(channel);
      if (waiters !== undefined) { for (const waiter of [...waiters]) waiter.wake(); }
    }
  }

  /** Reads the region log once now (tests; the timer does it otherwise). */
  async poll(): Promise<void> {
    // A proof stored by another instance changes the view of every channel its author wrote in,
    // not only the channel whose log entry shows it: so the quarantine is followed too.
    // Compared with the version the last poll (or the first waiter) saw, not one read now: any
    // other read of this instance (a view read, an ingest's refresh) may have caught the shared
    // quarantine up meanwhile, and its waiters must be woken all the same.
    const quarantine = quarantineOf(this.#store);
    // One read of the marks; the quarantine's lists only when they moved.
    const marks = await this.#store.changeMarks([EQUIVOCATIONS_CHANNEL]);
    await quarantine.catchUpTo(marks.arrivals[0], marks.equivocations);
    const seen = this.#quarantineSeen;
    this.#quarantineSeen = quarantine.version;
    if (seen !== null && quarantine.version !== seen) this.notify([EQUIVOCATIONS_CHANNEL]);
    while (this.#logCursor !== null) {
      const page = await readLogAfter(this.#store, this.#logCursor, WATCH_LOG_PAGE);
      // What this instance stored itself woke its waiters already.
      this.notify(page.entries.filter((e) => !this.#recent.delete(e.id)).map((e) => e.channel));
      if (this.#logCursor === null) return; // everyone left meanwhile
      const at = this.#logCursor;
      this.#logCursor = page.position.map((n, shard) => Math.max(n, at[shard]));
      if (!page.more) return;
    }
  }

  async #start(): Promise<void> {
    if (this.#logCursor === null) {
      // Taken with the ticket, before its caller reads: a later growth wakes it (`poll`).
      this.#quarantineSeen ??= quarantineOf(this.#store).version;
      // Read per request, not shared: an edge runtime (workerd) refuses a request's awaiting I/O
      // another request started. Heads read before the caller reads the store are early enough.
      const heads = await this.#store.logHeads();
      this.#logCursor ??= heads;
    }
    this.#chain.ensure();
  }

  /**
   * Removes `waiter`; true (for chaining). The log position stays until the next poll finds
   * nobody waiting, so a reader taking its next ticket right after a wake-up does not read the
   * log heads again.
   */
  #leave(waiter: Waiter): true {
    this.#waiters.delete(waiter);
    const same = this.#byChannel.get(waiter.channel);
    if (same?.delete(waiter) && same.size === 0) this.#byChannel.delete(waiter.channel);
    return true;
  }
}

const byStore = new WeakMap<RegionStore, ChannelWatch>();

/**
 * The watch of `store` in this instance (one per store, told by every ingest into it); `pollMs`
 * counts only on the first call.
 */
export function channelWatchOf(store: RegionStore, pollMs?: number): ChannelWatch {
  let watch = byStore.get(store);
  if (watch === undefined) byStore.set(store, watch = new ChannelWatch(store, pollMs));
  return watch;
}
