/**
 * Leadership of a region: one instance at a time holds the lease `leader` in the regional store
 * (atomic compare-and-set with expiry). Only the leader runs the inter-region exchange. It renews
 * every third of the lease; a dead leader's lease expires and another instance takes it within
 * two lease periods, with a higher epoch — the fencing token peers use to refuse the old one.
 */
import type { Lease, RegionStore } from "../store/region_store.ts";

/** Lease length, in ms. */
export const LEASE_TTL_MS_DEFAULT = 3_000;
/** Stop acting as leader this long before the lease's expiry (clock skew between instances). */
export const LEASE_SAFETY_MS = 250;
/** Name of the leadership lease in the regional store. */
export const LEADER_LEASE = "leader";

export class LeaderLease {
  readonly holder: string;
  readonly ttlMs: number;
  readonly #store: RegionStore;
  readonly #now: () => number;
  #lease: Lease | null = null;

  constructor(
    store: RegionStore,
    holder: string,
    options: { ttlMs?: number; now?: () => number } = {},
  ) {
    this.#store = store;
    this.holder = holder;
    this.ttlMs = options.ttlMs ?? LEASE_TTL_MS_DEFAULT;
    this.#now = options.now ?? Date.now;
    if (this.ttlMs <= 3 * LEASE_SAFETY_MS) {
      throw new Error("Lease TTL must exceed three safety margins");
    }
  }

  /** How often to call `tick()`, in ms: a third of the lease. */
  get renewEveryMs(): number {
    return Math.floor(this.ttlMs / 3);
  }

  /** Takes or renews the lease. A store failure leaves the last known lease in place. */
  async tick(): Promise<Lease | null> {
    try {
      this.#lease = await this.#store.acquireLease(
        LEADER_LEASE,
        this.holder,
        this.ttlMs,
        this.#now(),
      );
    } catch {
      // Unknown outcome: keep what we knew; `isLeader` lapses on its own at expiry.
    }
    return this.#lease;
  }

  /** The last lease seen (held by anyone). */
  get lease(): Lease | null {
    return this.#lease;
  }

  /** True while this instance holds an unexpired lease (with a safety margin). */
  get isLeader(): boolean {
    const lease = this.#lease;
    return lease !== null && lease.holder === this.holder &&
      this.#now() < lease.expiresAtMs - LEASE_SAFETY_MS;
  }

  /** The epoch of this instance's leadership; 0 when not leading. */
  get epoch(): number {
    return this.isLeader ? this.#lease!.epoch : 0;
  }

  /** Gives up the lease (on shutdown) so a successor need not wait for expiry. */
  async release(): Promise<void> {
    if (this.#lease?.holder !== this.holder) return;
    this.#lease = null;
    await this.#store.releaseLease(LEADER_LEASE, this.holder).catch(() => undefined);
  }
}
