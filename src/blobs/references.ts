/**
 * Which blobs are wanted: those a live entry of the `_blobs` view references (docs/protocol.md
 * §25.2). The view is the region's fold of the channel — quarantined authors left out — so the
 * answer is a function of the replicated delta set, the same in every region that holds the same
 * set. The set of hashes is derived once per change of the fold.
 */
import type { ChannelState } from "../crdt/channel_state.ts";
import { BLOBS_CHANNEL, parseBlobRefKey } from "../protocol/blob_ref.ts";
import type { ChannelViews } from "../region/channel_views.ts";

export class BlobReferences {
  readonly #views: ChannelViews;
  #derived: { state: ChannelState; size: number; hashes: ReadonlySet<string> } | null = null;

  constructor(views: ChannelViews) {
    this.#views = views;
  }

  /** The hashes some live `_blobs` entry references, caught up with the store. */
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

  /** Whether a live `_blobs` entry references `sha256`. */
  async has(sha256: string): Promise<boolean> {
    return (await this.referenced()).has(sha256);
  }
}
