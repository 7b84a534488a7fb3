/**
 * RegionStore on Deno KV: embedded SQLite locally (`:memory:` in tests, a file under MESH_DATA
 * when started), FoundationDB on Deno Deploy.
 *
 * Layout under `prefix`:
 *   ["a", channel, arrival]      → record {id, author, seq, body, sig}   (arrival order, tailing)
 *   ["d", channel, id]           → arrival                              (lookup by id)
 *   ["s", channel, author, seq]  → id                                   (seq slot: dedupe, conflicts)
 *   ["h", channel, author]       → {contiguous, max, count}             (author head)
 *   ["c", channel]               → last arrival number
 *   ["ls", shard, n]             → {channel, id, origin}                (region log, shard ≥ 1)
 *   ["gs", shard]                → last entry number n of the shard
 *   ["l", n], ["g"]              → the same, of the legacy shard 0: the one log of a store
 *                                   written before the log was sharded (read, never written)
 *   ["q", n]                     → {author, channel, seq, id, existingId} (equivocation n; its
 *                                   slot keeps the first half)
 *   ["qn"]                       → last equivocation number (new ones go above ["g"] too)
 *   ["cur", name]                → n                                    (named cursor)
 *   ["lease", name]              → {holder, epoch, expiresAtMs}
 *   ["rl", bucket]               → {tokens, atMs}                       (token bucket, expiring)
 *   ["x", ...key]                → value                                (store index, _kv_index.ts)
 *   ["blob"…], ["blobu"…], ["blobc"…]                                    (blobs, _kv_blobs.ts)
 * Every write in a channel bumps its counter, and each commit checks the versionstamps of the
 * counters it bumps: so any concurrent write to the same channel (its slots, heads or arrivals)
 * fails the commit, which is retried on fresh reads. No arrival number is skipped or reused.
 * Every commit that accepts deltas also appends them to the region log, in the shard each goes
 * to (region_log.ts), and bumps and checks those shards' counters, so each shard is gapless too.
 * Until issue 13 the log was one counter ["g"] that every commit checked, so instances writing
 * different channels still serialised on it; now each instance appends to a data shard of its
 * own, and instances collide only while two of them happen to share one (the loser moves).
 */
import { compareAndSet, type KvCommitStats, setIfAbsent } from "./_kv_atomic.ts";
import { KvBlobs } from "./_kv_blobs.ts";
import { KvIndex } from "./_kv_index.ts";
import { KV_GET_MANY_KEYS_MAX, KvPlanReader, storedRunAbove } from "./_kv_plan_input.ts";
import { assertLogShard, LEGACY_LOG_SHARD, LOG_SHARDS, logTotal } from "./region_log.ts";
import { KvDeltaWriter, type StoredEquivocation, type StoredLogEntry } from "./_kv_put.ts";
import { KvTokenBuckets } from "./_kv_token_buckets.ts";
import { grantLease, releasedLease } from "./_lease.ts";
import { assertTokenRequests } from "./_token_bucket.ts";
import {
  assertCursorAdvance,
  assertCursorNames,
  assertLeaseRequest,
  assertLogPage,
  assertName,
  assertOrigin,
  LOG_PAGE_ENTRIES_MAX,
} from "./_store_args.ts";
import {
  type ArrivalPage,
  type AuthorHead,
  type DeltaOrigin,
  type EquivocationPage,
  type IndexKey,
  type IndexListOptions,
  type IndexPage,
  type IndexWrite,
  type Lease,
  type LogPage,
  type PutOutcome,
  type RegionStore,
  type StoredDelta,
  StoreUnavailableError,
  type TokenGrant,
  type TokenRequest,
} from "./region_store.ts";

export {
  chunkForAtomic,
  KV_ATOMIC_BYTES_MAX,
  KV_ATOMIC_CHECKS_MAX,
  KV_ATOMIC_MUTATIONS_MAX,
  KV_CHUNK_BYTES_MAX,
  KV_COMMIT_ATTEMPTS_MAX,
  type KvCommitStats,
} from "./_kv_atomic.ts";
export { KV_GET_MANY_KEYS_MAX } from "./_kv_plan_input.ts";
export { KV_GROUP_COMMIT_DELTAS_MAX } from "./_kv_put.ts";

/** A delta as stored under ["a", channel, arrival]. */
type StoredRecord = Omit<StoredDelta, "channel">;

export interface DenoKvStoreOptions {
  /** Key prefix, so several regions or tests can share one database. Default `[]`. */
  readonly prefix?: Deno.KvKey;
  /** Close the Kv handle on `close()`. Default true. */
  readonly ownsKv?: boolean;
  /** The data shard of the region log to start on (region_log.ts). Default: one at random. */
  readonly logShard?: number;
}

export class DenoKvStore implements RegionStore {
  readonly kind = "denokv";
  readonly #kv: Deno.Kv;
  readonly #prefix: Deno.KvKey;
  readonly #ownsKv: boolean;
  readonly #reader: KvPlanReader;
  /** Token buckets: their own queue and commits, apart from the delta path and its caches. */
  readonly #buckets: KvTokenBuckets;
  readonly #index: KvIndex;
  readonly blobs: KvBlobs;
  readonly #writer: KvDeltaWriter;

  constructor(kv: Deno.Kv, options: DenoKvStoreOptions = {}) {
    this.#kv = kv;
    this.#prefix = options.prefix ?? [];
    this.#ownsKv = options.ownsKv ?? true;
    this.#reader = new KvPlanReader(kv, (...parts) => this.#key(...parts));
    this.#writer = new KvDeltaWriter(
      kv,
      (...parts) => this.#key(...parts),
      (work) => this.#guard(work),
      this.#reader,
      options.logShard,
    );
    this.#buckets = new KvTokenBuckets(kv, (bucket) => this.#key("rl", bucket));
    this.#index = new KvIndex(kv, this.#key("x"), (work) => this.#guard(work));
    this.blobs = new KvBlobs(kv, (...parts) => this.#key(...parts), (work) => this.#guard(work));
  }

  /** Opens a store at `path` (a file, or `:memory:`). */
  static async open(
    path: string,
    options: DenoKvStoreOptions = {},
  ): Promise<DenoKvStore> {
    return new DenoKvStore(await Deno.openKv(path), options);
  }

  /** How this instance's delta commits went since it opened (a copy). */
  get commitStats(): KvCommitStats {
    return this.#writer.stats;
  }

  /** The data shard of the region log this instance appends to now (region_log.ts). */
  get logShard(): number {
    return this.#writer.shard;
  }

  putDeltas(deltas: readonly StoredDelta[], origin: DeltaOrigin = "agent"): Promise<PutOutcome[]> {
    try {
      assertOrigin(origin);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#writer.put(deltas, origin);
  }

  getDelta(channel: string, id: string): Promise<StoredDelta | null> {
    return this.#guard(async () => {
      const arrival = await this.#kv.get<number>(this.#key("d", channel, id));
      if (arrival.value === null) return null;
      const record = await this.#kv.get<StoredRecord>(this.#key("a", channel, arrival.value));
      return record.value === null ? null : { channel, ...record.value };
    });
  }

  listArrivals(channel: string, after: number, limit: number): Promise<ArrivalPage> {
    return this.#guard(async () => {
      const page = await this.#listAfter<StoredRecord>(["a", channel], after, limit);
      const deltas = page.items.map(({ n, value }) => ({ channel, ...value, arrival: n }));
      return { deltas, cursor: deltas.at(-1)?.arrival ?? after, more: page.more };
    });
  }

  arrivalCounts = (c: readonly string[]) => this.#reader.arrivalCounts(c, (w) => this.#guard(w));
  changeMarks = (c: readonly string[]) => this.#reader.changeMarks(c, (w) => this.#guard(w));

  /**
   * The stored head, with `contiguous` carried over any run of stored seqs right above it: a
   * head an older version left short (issue 16) reads right at once; the author's next write in
   * the channel stores the repaired figure.
   */
  getHead(channel: string, author: string): Promise<AuthorHead | null> {
    return this.#guard(async () => {
      const head = (await this.#kv.get<AuthorHead>(this.#key("h", channel, author))).value;
      if (head === null || head.contiguous >= head.max) return head;
      const run = await storedRunAbove(
        this.#kv,
        (...parts) => this.#key(...parts),
        channel,
        author,
        head.contiguous,
      );
      return { ...head, contiguous: head.contiguous + run.length };
    });
  }

  async listEquivocations(after: number, limit: number): Promise<EquivocationPage> {
    assertLogPage(after, limit);
    const take = Math.min(limit, LOG_PAGE_ENTRIES_MAX);
    return await this.#guard(async () => {
      const page = await this.#listAfter<StoredEquivocation>(["q"], after, take);
      const entries = page.items.map(({ n, value }) => ({ n, ...value }));
      return { entries, cursor: entries.at(-1)?.n ?? after, more: page.more };
    });
  }

  async listLog(shard: number, after: number, limit: number): Promise<LogPage> {
    assertLogShard(shard);
    assertLogPage(after, limit);
    const take = Math.min(limit, LOG_PAGE_ENTRIES_MAX);
    const parts = shard === LEGACY_LOG_SHARD ? ["l"] : ["ls", shard];
    return await this.#guard(async () => {
      const page = await this.#listAfter<StoredLogEntry>(parts, after, take);
      const entries = page.items.map(({ n, value }) => ({ shard, n, ...value }));
      return { entries, cursor: entries.at(-1)?.n ?? after, more: page.more };
    });
  }

  /** The shards' counters, the legacy one ["g"] first, in getMany calls of 10 keys. */
  logHeads(): Promise<number[]> {
    const keys = Array.from(
      { length: LOG_SHARDS },
      (_, shard) => shard === LEGACY_LOG_SHARD ? this.#key("g") : this.#key("gs", shard),
    );
    return this.#guard(async () => (await this.#getMany<number>(keys)).map((n) => n ?? 0));
  }

  /** The entries under `[...parts, n]` for n > `after` in order: `take` of them, and if more. */
  async #listAfter<T>(parts: Deno.KvKeyPart[], after: number, take: number) {
    const items: { n: number; value: T }[] = [];
    const iter = this.#kv.list<T>({
      prefix: this.#key(...parts),
      start: this.#key(...parts, after + 1),
    }, { limit: take + 1 });
    for await (const entry of iter) {
      items.push({ n: entry.key.at(-1) as number, value: entry.value });
    }
    const more = items.length > take;
    if (more) items.pop();
    return { items, more };
  }

  async logHead(): Promise<number> {
    return logTotal(await this.logHeads());
  }

  async getCursors(names: readonly string[]): Promise<number[]> {
    assertCursorNames(names);
    return await this.#guard(async () =>
      (await this.#getMany<number>(names.map((name) => this.#key("cur", name)))).map((n) => n ?? 0)
    );
  }

  /** The values at `keys` (null where absent), in getMany calls of at most 10 keys at once. */
  async #getMany<T>(keys: Deno.KvKey[]): Promise<(T | null)[]> {
    const pages: Promise<Deno.KvEntryMaybe<T>[]>[] = [];
    for (let i = 0; i < keys.length; i += KV_GET_MANY_KEYS_MAX) {
      pages.push(this.#kv.getMany<T[]>(keys.slice(i, i + KV_GET_MANY_KEYS_MAX)));
    }
    return (await Promise.all(pages)).flat().map((entry) => entry.value);
  }

  async getCursor(name: string): Promise<number> {
    assertName("cursor name", name);
    return await this.#guard(async () =>
      (await this.#kv.get<number>(this.#key("cur", name))).value ?? 0
    );
  }

  async advanceCursor(name: string, n: number): Promise<number> {
    assertCursorAdvance(name, n);
    return await this.#guard(() =>
      compareAndSet<number, number>(
        this.#kv,
        this.#key("cur", name),
        "advance a cursor",
        (at) => at !== null && at >= n ? { result: at } : { write: n, result: n },
      )
    );
  }

  async acquireLease(name: string, holder: string, ttlMs: number, nowMs: number): Promise<Lease> {
    assertLeaseRequest(name, holder, ttlMs, nowMs);
    return await this.#guard(() =>
      compareAndSet<Lease, Lease>(
        this.#kv,
        this.#key("lease", name),
        "acquire a lease",
        (current) => {
          const next = grantLease(current, holder, ttlMs, nowMs);
          return next === current ? { result: current } : { write: next, result: next };
        },
      )
    );
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    assertName("lease name", name);
    return await this.#guard(() =>
      compareAndSet<Lease, void>(
        this.#kv,
        this.#key("lease", name),
        "release a lease",
        (current) => {
          const next = releasedLease(current, holder);
          return next === null ? { result: undefined } : { write: next, result: undefined };
        },
      )
    );
  }

  async claimNonce(nonce: string, ttlMs: number, nowMs: number): Promise<boolean> {
    assertName("nonce", nonce);
    void nowMs; // Deno KV expires the key itself
    return await this.#guard(() => setIfAbsent(this.#kv, this.#key("nonce", nonce), ttlMs));
  }

  async getLease(name: string): Promise<Lease | null> {
    assertName("lease name", name);
    return await this.#guard(async () =>
      (await this.#kv.get<Lease>(this.#key("lease", name))).value
    );
  }

  async takeTokensMany(requests: readonly TokenRequest[], nowMs: number): Promise<TokenGrant[]> {
    assertTokenRequests(requests, nowMs);
    return await this.#guard(() => this.#buckets.take(requests, nowMs));
  }

  writeIndex(write: IndexWrite): Promise<boolean> {
    return this.#index.write(write);
  }

  readIndex(keys: readonly IndexKey[]): Promise<(string | null)[]> {
    return this.#index.read(keys);
  }

  listIndex(prefix: IndexKey, options: IndexListOptions): Promise<IndexPage> {
    return this.#index.list(prefix, options);
  }

  ping(): Promise<void> {
    return this.#guard(async () => {
      await this.#kv.get(this.#key("c", ""));
    });
  }

  close(): Promise<void> {
    if (this.#ownsKv) this.#kv.close();
    return Promise.resolve();
  }

  #key(...parts: Deno.KvKeyPart[]): Deno.KvKey {
    return [...this.#prefix, ...parts];
  }

  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError(`Deno KV failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}
