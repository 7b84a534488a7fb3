/**
 * Which blobs are wanted: those a live entry of the `_blobs` view references (docs/protocol.md
 * §25.2). The view is the region's fold of the channel — quarantined authors left out — so the
 * answer is a function of the replicated delta set, the same in every region that holds the same
 * set. `has` (a public read of any name asks it) looks only at the keys that name the hash,
 * kept per hash from the channel's arrivals; the whole set of hashes (the collector's) is derived
 * from the view once per change of the fold.
 */
import type { ChannelFold } from "../crdt/channel_fold.ts";
import { allSettledOrThrow, StoreFollower } from "../guard/channel_follower.ts";
import { blobRefKey, BLOBS_CHANNEL, parseBlobRefKey } from "../protocol/blob_ref.ts";
import type { Op } from "../protocol/delta.ts";
import type { ChannelViews } from "../views/channel_views.ts";
import type { RegionStore } from "../store/region_store.ts";

/** `_blobs` deltas read per store page while catching up. */
const PAGE = 1_000;

export class BlobReferences {
  readonly #views: ChannelViews;
  #derived: { state: ChannelFold; size: number; hashes: ReadonlySet<string> } | null = null;
  /** Per hash, every author that ever set a reference to it (whether it still holds or not). */
  readonly #setters = new Map<string, Set<string>>();
  readonly #follower: StoreFollower;

  constructor(views: ChannelViews, store: RegionStore) {
    this.#views = views;
    this.#follower = new StoreFollower(0, async (cursor) => {
      const page = await store.listArrivals(BLOBS_CHANNEL, cursor, PAGE);
      for (const record of page.deltas) {
        const { ops } = JSON.parse(record.body) as { ops: Op[] };
        for (const op of ops) {
          const ref = op.op === "set" ? parseBlobRefKey(op.key) : null;
          if (ref === null) continue;
          const setters = this.#setters.get(ref.sha256) ?? new Set<string>();
          if (setters.size === 0) this.#setters.set(ref.sha256, setters);
          setters.add(ref.author);
        }
      }
      return page;
    });
  }

  /**
   * The hashes some live `_blobs` entry references, caught up with the store: the whole view,
   * derived once per change of the fold (the collector's walk).
   */
  async referenced(): Promise<ReadonlySet<string>> {
    const { state } = await this.#views.read(BLOBS_CHANNEL);
    const derived = this.#derived;
    if (derived !== null && derived.state === state && derived.size === state.size) {
      return derived.hashes;
    }
    const hashes = new Set<string>();
    for (const key of Object.keys(state.view().map)) {
      const ref = parseBlobRefKey(key);
      if (ref !== null) hashes.add(ref.sha256);
    }
    this.#derived = { state, size: state.size, hashes };
    return hashes;
  }

  /**
   * Whether a live `_blobs` entry references `sha256`: only the keys that name it are looked at
   * (a public read of any name calls this, so it must not cost the whole view).
   */
  async has(sha256: string): Promise<boolean> {
    // Both settle before the answer, even when one fails (allSettledOrThrow).
    const [{ state }] = await allSettledOrThrow([
      this.#views.read(BLOBS_CHANNEL),
      this.#follower.refresh(),
    ]);
    for (const author of this.#setters.get(sha256) ?? []) {
      if (state.mapValue(blobRefKey(author, sha256)) !== undefined) return true;
    }
    return false;
  }
}
