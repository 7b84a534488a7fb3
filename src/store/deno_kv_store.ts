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
 *   ["l", n]                     → {channel, id, origin}                (region log entry n)
 *   ["g"]                        → last region-log number n
 *   ["q", n]                     → {author, channel, seq, id, existingId} (equivocation whose
 *                                   second half is log entry n; its slot keeps the first half)
 *   ["cur", name]                → n                                    (named cursor)
 *   ["lease", name]              → {holder, epoch, expiresAtMs}
 *   ["rl", bucket]               → {tokens, atMs}                       (token bucket, expiring)
 *   ["x", ...key]                → value                                (store index, _kv_index.ts)
 *   ["blob"…], ["blobu"…], ["blobc"…]                                    (blobs, _kv_blobs.ts)
 * Every write in a channel bumps its counter, and each commit checks the versionstamps of the
 * counters it bumps: so any concurrent write to the same channel (its slots, heads or arrivals)
 * fails the commit, which is retried on fresh reads. No arrival number is skipped or reused.
 * Every commit that accepts deltas also appends them to the region log and bumps (and checks)
 * its counter ["g"], so log numbers are gapless too — at the price that writers on different
 * channels from different instances now serialise on that one key.
 */
import {
  backOff,
  chunkForAtomic,
  commitOrContend,
  compareAndSet,
  setIfAbsent,
} from "./_kv_atomic.ts";
import { KvBlobs } from "./_kv_blobs.ts";
import { KvIndex } from "./_kv_index.ts";
import { type KvPlanRead, KvPlanReader, storedRunAbove } from "./_kv_plan_input.ts";
import { KvTokenBuckets } from "./_kv_token_buckets.ts";
import { grantLease, releasedLease } from "./_lease.ts";
import { type Plan, planPut } from "./_put_plan.ts";
import { assertTokenRequests } from "./_token_bucket.ts";
import {
  assertCursorAdvance,
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
  type Equivocation,
  type EquivocationPage,
  type IndexKey,
  type IndexListOptions,
  type IndexPage,
  type IndexWrite,
  type Lease,
  type LogEntry,
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
} from "./_kv_atomic.ts";
export { KV_GET_MANY_KEYS_MAX } from "./_kv_plan_input.ts";

/** Most deltas one group commit gathers from queued writers (bounds the wait of each). */
export const KV_GROUP_COMMIT_DELTAS_MAX = 1_000;
/** A delta as stored under ["a", channel, arrival]. */
type StoredRecord = Omit<StoredDelta, "channel">;
/** A region-log entry as stored under ["l", n]. */
type StoredLogEntry = Omit<LogEntry, "n">;
/** An equivocation as stored under ["q", n]. */
type StoredEquivocation = Omit<Equivocation, "n">;

interface PendingPut {
  readonly deltas: readonly StoredDelta[];
  readonly origin: DeltaOrigin;
  resolve(outcomes: PutOutcome[]): void;
  reject(error: unknown): void;
}

export interface DenoKvStoreOptions {
  /** Key prefix, so several regions or tests can share one database. Default `[]`. */
  readonly prefix?: Deno.KvKey;
  /** Close the Kv handle on `close()`. Default true. */
  readonly ownsKv?: boolean;
}

export class DenoKvStore implements RegionStore {
  readonly kind = "denokv";
  readonly #kv: Deno.Kv;
  readonly #prefix: Deno.KvKey;
  readonly #ownsKv: boolean;
  /**
   * Group commit: writers of one instance queue here and one drain loop writes everything queued
   * so far in as few atomic commits as the limits allow. Commits cost a disk sync each, and
   * concurrent writers of one channel would otherwise collide on its counter and retry. Other
   * instances are still serialised by the counter checks (channel counters and the log's).
   */
  readonly #queue: PendingPut[] = [];
  readonly #reader: KvPlanReader;
  /** Token buckets: their own queue and commits, apart from the delta path and its caches. */
  readonly #buckets: KvTokenBuckets;
  readonly #index: KvIndex;
  readonly blobs: KvBlobs;
  #draining = false;

  constructor(kv: Deno.Kv, options: DenoKvStoreOptions = {}) {
    this.#kv = kv;
    this.#prefix = options.prefix ?? [];
    this.#ownsKv = options.ownsKv ?? true;
    this.#reader = new KvPlanReader(kv, (...parts) => this.#key(...parts));
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

  putDeltas(deltas: readonly StoredDelta[], origin: DeltaOrigin = "agent"): Promise<PutOutcome[]> {
    return new Promise((resolve, reject) => {
      assertOrigin(origin);
      this.#queue.push({ deltas, origin, resolve, reject });
      if (!this.#draining) this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    while (this.#queue.length > 0) {
      const group: PendingPut[] = [];
      let size = 0;
      while (
        this.#queue.length > 0 &&
        (group.length === 0 || size + this.#queue[0].deltas.length <= KV_GROUP_COMMIT_DELTAS_MAX)
      ) {
        const next = this.#queue.shift()!;
        group.push(next);
        size += next.deltas.length;
      }
      try {
        const outcomes: PutOutcome[] = [];
        const origins = group.flatMap((g) => g.deltas.map(() => g.origin));
        for (const chunk of chunkForAtomic(group.flatMap((g) => g.deltas))) {
          const chunkOrigins = origins.slice(outcomes.length, outcomes.length + chunk.length);
          outcomes.push(...await this.#guard(() => this.#putChunk(chunk, chunkOrigins)));
        }
        let offset = 0;
        for (const g of group) {
          g.resolve(outcomes.slice(offset, offset += g.deltas.length));
        }
      } catch (error) {
        for (const g of group) g.reject(error);
      }
    }
    this.#draining = false;
  }

  /** Writes one chunk in one atomic commit; `origins[i]` is the log origin of `chunk[i]`. */
  async #putChunk(
    chunk: readonly StoredDelta[],
    origins: readonly DeltaOrigin[],
  ): Promise<PutOutcome[]> {
    const channels = [...new Set(chunk.map((d) => d.channel))];
    for (let attempt = 1;; attempt++) {
      let committed = false;
      try {
        const read = await this.#reader.read(chunk, channels);
        const plan = planPut(chunk, read.input);
        if (plan.writes.length === 0) return plan.outcomes;
        const { op, logLast } = this.#writeOf(plan, read, origins);
        const result = await commitOrContend(op);
        if (result.ok) {
          committed = true;
          this.#remember(plan, read, result.versionstamp, logLast);
          return plan.outcomes;
        }
      } finally {
        // Another writer got in first, or the store failed: what we knew may be stale.
        if (!committed) this.#reader.forget(channels);
      }
      await backOff(attempt, "commit deltas");
    }
  }

  /**
   * The atomic write of `plan`: checks of every counter it was planned from, each accepted
   * delta's record, id pointer, seq slot and region-log entry, and the new counters and heads.
   */
  #writeOf(plan: Plan, read: KvPlanRead, origins: readonly DeltaOrigin[]) {
    const op = this.#kv.atomic();
    for (const channel of plan.lastArrival.keys()) {
      op.check({
        key: this.#key("c", channel),
        versionstamp: read.entries.get(channel)!.versionstamp,
      });
    }
    op.check({ key: this.#key("g"), versionstamp: read.log.versionstamp });
    // Writes follow the accepted outcomes in input order: this pairs each with its origin.
    const writeOrigins = plan.outcomes.flatMap((o, i) =>
      o.status === "duplicate" ? [] : [origins[i]]
    );
    let n = read.log.last;
    plan.writes.forEach(({ delta, arrival, existingId }, i) => {
      const { channel, id, author, seq, body, sig } = delta;
      op.set(this.#key("a", channel, arrival), { id, author, seq, body, sig });
      op.set(this.#key("d", channel, id), arrival);
      if (existingId === undefined) op.set(this.#key("s", channel, author, seq), id);
      const entry: StoredLogEntry = { channel, id, origin: writeOrigins[i] };
      op.set(this.#key("l", ++n), entry);
      if (existingId !== undefined) {
        const equivocation: StoredEquivocation = { author, channel, seq, id, existingId };
        op.set(this.#key("q", n), equivocation);
      }
    });
    op.set(this.#key("g"), n);
    for (const [channel, last] of plan.lastArrival) op.set(this.#key("c", channel), last);
    for (const [hk, head] of plan.heads) op.set(this.#headKvKey(hk), head);
    return { op, logLast: n };
  }

  /** After a commit at `versionstamp`, the caches are exact again for what it wrote. */
  #remember(plan: Plan, read: KvPlanRead, versionstamp: string, logLast: number): void {
    this.#reader.log = { versionstamp, last: logLast };
    for (const [channel, last] of plan.lastArrival) {
      const entry = read.entries.get(channel)!;
      entry.versionstamp = versionstamp;
      entry.last = last;
    }
    for (const [hk, head] of plan.heads) {
      const [channel, author] = hk.split("\u0000");
      this.#reader.cache.setHead(read.entries.get(channel)!, author, head);
    }
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

  async listLog(after: number, limit: number): Promise<LogPage> {
    assertLogPage(after, limit);
    const take = Math.min(limit, LOG_PAGE_ENTRIES_MAX);
    return await this.#guard(async () => {
      const page = await this.#listAfter<StoredLogEntry>(["l"], after, take);
      const entries = page.items.map(({ n, value }) => ({ n, ...value }));
      return { entries, cursor: entries.at(-1)?.n ?? after, more: page.more };
    });
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

  logHead(): Promise<number> {
    return this.#guard(async () => (await this.#kv.get<number>(this.#key("g"))).value ?? 0);
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

  /** The Deno KV key of an author head named by `headKey(channel, author)`. */
  #headKvKey(hk: string): Deno.KvKey {
    const [channel, author] = hk.split("\u0000");
    return this.#key("h", channel, author);
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
