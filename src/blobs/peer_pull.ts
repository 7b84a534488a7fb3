/**
 * Fetching a blob this region lacks from its peers, on demand (docs/protocol.md §25.5). The peers
 * are asked one after another — this region's zone first, then the others in topology order —
 * with `Mesh-Blob-Scope: local`, which makes a region answer from its own store only: a pull
 * never makes the peer pull in turn, so a request costs at most one hop. Whatever a peer sends
 * is streamed into this region's store through `receiveBlob` and committed only if it hashes to
 * the name asked for: a lying or broken peer cannot make this region keep or serve other bytes,
 * and the next peer is asked. One pull per hash runs at a time per instance; a hash no peer had
 * is not asked for again for `BLOB_MISS_TTL_MS`.
 */
import { BLOB_BYTES_MAX } from "../protocol/blob_ref.ts";
import type { BlobRecord, BlobStore } from "../store/blob_store.ts";
import { StoreUnavailableError } from "../store/region_store.ts";
import { names, type Telemetry } from "../telemetry/mod.ts";
import { receiveBlob } from "./receive.ts";

/** The header that keeps a read to the answering region's own store. */
export const BLOB_SCOPE_HEADER = "mesh-blob-scope";
/** Its one value. */
export const BLOB_SCOPE_LOCAL = "local";
/** Longest one peer may take to send a whole blob, in ms. */
export const BLOB_PEER_FETCH_MS_MAX = 60_000;
/** How long a hash no peer had is not asked for again, in ms (per instance). */
export const BLOB_MISS_TTL_MS = 2_000;
/** Hashes remembered as missing, per instance. */
export const BLOB_MISSES_MAX = 4_096;

/** A region a blob may be pulled from. */
export interface BlobPeer {
  readonly id: string;
  /** Its base URL, e.g. `https://eu-2.mesh.example`. */
  readonly url: string;
}

export interface PeerPullOptions {
  readonly blobs: BlobStore;
  /** The peers to ask, in order (read at each pull: a topology may say more later). */
  readonly peers: () => readonly BlobPeer[];
  readonly fetch: typeof fetch;
  readonly now: () => number;
  readonly telemetry: Telemetry;
  readonly base: Record<string, string>;
}

type PullOutcome = "pulled" | "absent" | "mismatch" | "failed";

export class PeerPuller {
  readonly #o: PeerPullOptions;
  readonly #inflight = new Map<string, Promise<BlobRecord | null>>();
  /** Hash → when it may be asked for again (insertion order ≈ expiry order). */
  readonly #misses = new Map<string, number>();

  constructor(options: PeerPullOptions) {
    this.#o = options;
  }

  /** The blob pulled from the first peer that has it (and is honest), or null. */
  pull(sha256: string): Promise<BlobRecord | null> {
    const running = this.#inflight.get(sha256);
    if (running !== undefined) return running;
    const until = this.#misses.get(sha256);
    if (until !== undefined && until > this.#o.now()) return Promise.resolve(null);
    const work = this.#pullAll(sha256).finally(() => this.#inflight.delete(sha256));
    this.#inflight.set(sha256, work);
    return work;
  }

  #pullAll(sha256: string): Promise<BlobRecord | null> {
    return this.#o.telemetry.inSpan(names.SPAN_BLOB_PULL, this.#o.base, async (span) => {
      for (const peer of this.#o.peers()) {
        const got = await this.#pullFrom(peer, sha256);
        if (got !== null) {
          span.setAttributes({ [names.ATTR_PEER]: peer.id, [names.ATTR_BLOB_SIZE]: got.size });
          return got;
        }
      }
      this.#rememberMiss(sha256);
      return null;
    });
  }

  /** The blob from `peer`, or null (it lacks it, failed, or sent other bytes). */
  async #pullFrom(peer: BlobPeer, sha256: string): Promise<BlobRecord | null> {
    const signal = AbortSignal.timeout(BLOB_PEER_FETCH_MS_MAX);
    let outcome: PullOutcome = "failed";
    let record: BlobRecord | null = null;
    try {
      const response = await this.#o.fetch(`${peer.url}/v1/blobs/${sha256}`, {
        headers: { [BLOB_SCOPE_HEADER]: BLOB_SCOPE_LOCAL },
        // A peer answers from its own store: a redirect (to anywhere) is not followed.
        redirect: "manual",
        signal,
      });
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => {});
        outcome = response.status === 404 ? "absent" : "failed";
        return null;
      }
      const declared = Number(response.headers.get("content-length") ?? "0");
      if (declared > BLOB_BYTES_MAX) {
        await response.body?.cancel().catch(() => {});
        outcome = "mismatch";
        return null;
      }
      const received = await receiveBlob(this.#o.blobs, sha256, response.body, {
        nowMs: this.#o.now(),
        bytesMax: BLOB_BYTES_MAX,
        signal,
      });
      if (received.status === "stored" || received.status === "exists") {
        outcome = "pulled";
        record = received.record;
        this.#o.telemetry.blobBytes.add(record.size, {
          ...this.#o.base,
          [names.ATTR_BLOB_DIRECTION]: "pull",
        });
      } else if (received.status !== "interrupted" && received.status !== "lost") {
        outcome = "mismatch"; // bytes that are not the blob: wrong hash, too many, or none
      }
      return record;
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error; // our store, not the peer
      return null; // unreachable, reset, timed out: ask the next peer
    } finally {
      this.#o.telemetry.blobPulls.add(1, {
        ...this.#o.base,
        [names.ATTR_PEER]: peer.id,
        [names.ATTR_BLOB_PULL_OUTCOME]: outcome,
      });
    }
  }

  #rememberMiss(sha256: string): void {
    const nowMs = this.#o.now();
    this.#misses.delete(sha256);
    this.#misses.set(sha256, nowMs + BLOB_MISS_TTL_MS);
    for (const [hash, until] of this.#misses) {
      if (this.#misses.size <= BLOB_MISSES_MAX && until > nowMs) break;
      this.#misses.delete(hash);
    }
  }
}
