/**
 * Token buckets on Deno KV, one key per bucket: `[...prefix, "rl", bucket]` → `{tokens, atMs}`.
 *
 * A draw reads the buckets, applies the rule of `_token_bucket.ts`, and commits the new levels
 * with a check of each written bucket's versionstamp, so draws by other instances (or processes
 * on one file) serialise by retrying; a bucket is written with `expireIn` a little past the time
 * it is full again, so idle buckets disappear. This is its own write path: it never touches the
 * channel counters, the region log or the channel cache of `putDeltas`.
 *
 * Within one instance, draws queue and one loop commits everything queued so far together (each
 * commit costs a disk sync; several pushes drawing from one address bucket at once would
 * otherwise collide on its versionstamp and retry).
 */
import { backOff, commitOrContend, KV_ATOMIC_CHECKS_MAX } from "./_kv_atomic.ts";
import { KV_GET_MANY_KEYS_MAX } from "./_kv_plan_input.ts";
import { type BucketState, bucketTtlMs, drawTokens } from "./_token_bucket.ts";
import type { TokenGrant, TokenRequest } from "./region_store.ts";

/** Most token requests one commit cycle gathers from queued callers. */
const TOKEN_GROUP_REQUESTS_MAX = 2_048;

/** One request with the clock of the call it came in. */
interface Timed {
  readonly request: TokenRequest;
  readonly nowMs: number;
}

interface PendingDraw {
  readonly draws: readonly Timed[];
  resolve(grants: TokenGrant[]): void;
  reject(error: unknown): void;
}

export class KvTokenBuckets {
  readonly #kv: Deno.Kv;
  readonly #key: (bucket: string) => Deno.KvKey;
  readonly #queue: PendingDraw[] = [];
  #draining = false;

  constructor(kv: Deno.Kv, key: (bucket: string) => Deno.KvKey) {
    this.#kv = kv;
    this.#key = key;
  }

  /** Queues the requests (at `nowMs`) for the next commit cycle; resolves with their grants. */
  take(requests: readonly TokenRequest[], nowMs: number): Promise<TokenGrant[]> {
    if (requests.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.#queue.push({ draws: requests.map((request) => ({ request, nowMs })), resolve, reject });
      if (!this.#draining) this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    while (this.#queue.length > 0) {
      const group: PendingDraw[] = [];
      let size = 0;
      while (
        this.#queue.length > 0 &&
        (group.length === 0 || size + this.#queue[0].draws.length <= TOKEN_GROUP_REQUESTS_MAX)
      ) {
        const next = this.#queue.shift()!;
        group.push(next);
        size += next.draws.length;
      }
      try {
        const grants = await this.#drawAll(group.flatMap((g) => g.draws));
        let offset = 0;
        for (const g of group) g.resolve(grants.slice(offset, offset += g.draws.length));
      } catch (error) {
        for (const g of group) g.reject(error);
      }
    }
    this.#draining = false;
  }

  /** Grants of `draws` in order; buckets are committed in chunks within the check limit. */
  async #drawAll(draws: readonly Timed[]): Promise<TokenGrant[]> {
    const grants: TokenGrant[] = new Array(draws.length);
    const buckets = [...new Set(draws.map((d) => d.request.bucket))];
    for (let i = 0; i < buckets.length; i += KV_ATOMIC_CHECKS_MAX) {
      const chunk = new Set(buckets.slice(i, i + KV_ATOMIC_CHECKS_MAX));
      const indices = draws.flatMap((d, k) => chunk.has(d.request.bucket) ? [k] : []);
      const chunkGrants = await this.#commitChunk([...chunk], indices.map((k) => draws[k]));
      indices.forEach((k, j) => grants[k] = chunkGrants[j]);
    }
    return grants;
  }

  /** Draws on `buckets` (all of `draws`' buckets) in one checked commit, retried on a lost race. */
  async #commitChunk(buckets: string[], draws: readonly Timed[]): Promise<TokenGrant[]> {
    for (let attempt = 1;; attempt++) {
      const entries = await this.#read(buckets);
      const levels = new Map(buckets.map((b, i) => [b, entries[i].value]));
      const written = new Map<string, { state: BucketState; request: TokenRequest }>();
      const grants = draws.map(({ request, nowMs }) => {
        const { grant, write } = drawTokens(levels.get(request.bucket) ?? null, request, nowMs);
        if (write !== null) {
          levels.set(request.bucket, write);
          written.set(request.bucket, { state: write, request });
        }
        return grant;
      });
      if (written.size === 0) return grants;
      const op = this.#kv.atomic();
      buckets.forEach((bucket, i) => {
        const w = written.get(bucket);
        if (w === undefined) return;
        op.check(entries[i]);
        op.set(entries[i].key, w.state, { expireIn: bucketTtlMs(w.state.tokens, w.request) });
      });
      if ((await commitOrContend(op)).ok) return grants;
      await backOff(attempt, "take tokens");
    }
  }

  async #read(buckets: readonly string[]): Promise<Deno.KvEntryMaybe<BucketState>[]> {
    const pages: Promise<Deno.KvEntryMaybe<BucketState>[]>[] = [];
    for (let i = 0; i < buckets.length; i += KV_GET_MANY_KEYS_MAX) {
      const keys = buckets.slice(i, i + KV_GET_MANY_KEYS_MAX).map((b) => this.#key(b));
      pages.push(this.#kv.getMany<BucketState[]>(keys));
    }
    return (await Promise.all(pages)).flat();
  }
}
