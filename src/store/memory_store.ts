/** In-memory RegionStore for pure unit tests. Same semantics as the durable stores. */
import {
  assertIndexList,
  assertIndexRead,
  assertIndexWrite,
  compareIndexKeys,
  hasIndexPrefix,
  joinIndexKey,
} from "./_index_args.ts";
import { INDEX_PAGE_ENTRIES_MAX } from "./index_limits.ts";
import { grantLease, releasedLease } from "./_lease.ts";
import { MemoryBlobs } from "./_memory_blobs.ts";
import {
  assertLogShard,
  FIRST_DATA_SHARD,
  LEGACY_LOG_SHARD,
  LOG_SHARDS,
  logShardFor,
  logTotal,
} from "./region_log.ts";
import { idKey, planPut, slotKey } from "./_put_plan.ts";
import { assertTokenRequests, type BucketState, bucketTtlMs, drawTokens } from "./_token_bucket.ts";
import {
  assertArrivalCounts,
  assertChangeMarks,
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
  type ArrivedDelta,
  type AuthorHead,
  type ChangeMarks,
  type DeltaOrigin,
  type Equivocation,
  type EquivocationPage,
  type IndexEntry,
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

/** Token buckets kept before those already full again are swept out. */
const MEMORY_BUCKETS_MAX = 100_000;

/** Nonces one memory store remembers. */
export const MEMORY_NONCES_MAX = 100_000;

export class MemoryStore implements RegionStore {
  readonly kind = "memory";
  readonly #records = new Map<string, ArrivedDelta>(); // `${channel}\0${id}`
  readonly #slots = new Map<string, string>();
  readonly #heads = new Map<string, AuthorHead>();
  readonly #arrivals = new Map<string, ArrivedDelta[]>();
  /** The region log's shards; entry n of a shard is at index n - 1 of its list. */
  readonly #log: LogEntry[][] = Array.from({ length: LOG_SHARDS }, () => []);
  readonly #equivocations: Equivocation[] = [];
  /** The data shard this store writes its log entries to. */
  readonly #shard: number;
  readonly #index = new Map<string, IndexEntry>();
  /** The index entries in key order, rebuilt on the first list after a write. */
  #sorted: IndexEntry[] | null = null;
  readonly #cursors = new Map<string, number>();
  readonly #leases = new Map<string, Lease>();
  /** Claimed nonces with their expiry (insertion order ≈ expiry order). */
  readonly #nonces = new Map<string, number>();
  readonly #buckets = new Map<string, BucketState & { readonly expiresAtMs: number }>();
  /** When set, every operation throws StoreUnavailableError (for failure tests). */
  failing = false;
  /**
   * When set, writes the log as stores did before it was sharded (issue 13): every entry in
   * shard 0, equivocations numbered by their log entry. For tests of a region upgraded in place.
   */
  legacyLog = false;
  readonly blobs: MemoryBlobs = new MemoryBlobs(() => this.#check());

  /** `logShard`: the data shard this store logs to. Default the first. */
  constructor(options: { readonly logShard?: number } = {}) {
    this.#shard = options.logShard ?? FIRST_DATA_SHARD;
  }

  // deno-lint-ignore require-await
  async putDeltas(
    deltas: readonly StoredDelta[],
    origin: DeltaOrigin = "agent",
  ): Promise<PutOutcome[]> {
    assertOrigin(origin);
    this.#check();
    const plan = planPut(deltas, {
      slots: this.#slots,
      heads: this.#heads,
      nextArrival: new Map(
        [...new Set(deltas.map((d) => d.channel))].map((
          c,
        ) => [c, (this.#arrivals.get(c)?.length ?? 0) + 1]),
      ),
      storedAbove: (channel, author, seq) => this.#slots.has(slotKey(channel, author, seq)),
      stored: (channel, id) => this.#records.has(idKey(channel, id)),
    });
    for (const { delta, arrival, existingId } of plan.writes) {
      const arrived = { ...delta, arrival };
      this.#records.set(idKey(delta.channel, delta.id), arrived);
      if (existingId === undefined) {
        this.#slots.set(slotKey(delta.channel, delta.author, delta.seq), delta.id);
      }
      let list = this.#arrivals.get(delta.channel);
      if (list === undefined) this.#arrivals.set(delta.channel, list = []);
      list.push(arrived);
      const shard = this.legacyLog ? LEGACY_LOG_SHARD : logShardFor(delta.channel, this.#shard);
      const n = this.#log[shard].length + 1;
      this.#log[shard].push({ shard, n, channel: delta.channel, id: delta.id, origin });
      if (existingId !== undefined) {
        const { author, channel, seq, id } = delta;
        const legacy = this.#log[LEGACY_LOG_SHARD].length;
        const e = this.legacyLog ? n : Math.max(this.#equivocations.at(-1)?.n ?? 0, legacy) + 1;
        this.#equivocations.push({ n: e, author, channel, seq, id, existingId });
      }
    }
    for (const [key, head] of plan.heads) this.#heads.set(key, head);
    return plan.outcomes;
  }

  // deno-lint-ignore require-await
  async listEquivocations(after: number, limit: number): Promise<EquivocationPage> {
    assertLogPage(after, limit);
    this.#check();
    const from = this.#equivocations.findIndex((e) => e.n > after);
    const rest = from < 0 ? [] : this.#equivocations.slice(from);
    const entries = rest.slice(0, Math.min(limit, LOG_PAGE_ENTRIES_MAX));
    return { entries, cursor: entries.at(-1)?.n ?? after, more: rest.length > entries.length };
  }

  // deno-lint-ignore require-await
  async getDelta(channel: string, id: string): Promise<StoredDelta | null> {
    this.#check();
    const record = this.#records.get(idKey(channel, id));
    return record === undefined ? null : strip(record);
  }

  // deno-lint-ignore require-await
  async listArrivals(
    channel: string,
    after: number,
    limit: number,
  ): Promise<ArrivalPage> {
    this.#check();
    const list = this.#arrivals.get(channel) ?? [];
    const deltas = list.slice(after, after + limit);
    return {
      deltas,
      cursor: deltas.at(-1)?.arrival ?? after,
      more: after + deltas.length < list.length,
    };
  }

  // deno-lint-ignore require-await
  async arrivalCounts(channels: readonly string[]): Promise<number[]> {
    assertArrivalCounts(channels);
    this.#check();
    return channels.map((c) => this.#arrivals.get(c)?.length ?? 0);
  }

  // deno-lint-ignore require-await
  async changeMarks(channels: readonly string[]): Promise<ChangeMarks> {
    assertChangeMarks(channels);
    this.#check();
    const arrivals = channels.map((c) => this.#arrivals.get(c)?.length ?? 0);
    return { arrivals, equivocations: this.#equivocations.at(-1)?.n ?? 0 };
  }

  // deno-lint-ignore require-await
  async getHead(channel: string, author: string): Promise<AuthorHead | null> {
    this.#check();
    return this.#heads.get(`${channel}\u0000${author}`) ?? null;
  }

  // deno-lint-ignore require-await
  async listLog(shard: number, after: number, limit: number): Promise<LogPage> {
    assertLogShard(shard);
    assertLogPage(after, limit);
    this.#check();
    const log = this.#log[shard];
    const entries = log.slice(after, after + Math.min(limit, LOG_PAGE_ENTRIES_MAX));
    const cursor = entries.at(-1)?.n ?? after;
    return { entries, cursor, more: cursor < log.length };
  }

  // deno-lint-ignore require-await
  async logHeads(): Promise<number[]> {
    this.#check();
    return this.#log.map((log) => log.length);
  }

  async logHead(): Promise<number> {
    return logTotal(await this.logHeads());
  }

  // deno-lint-ignore require-await
  async getCursors(names: readonly string[]): Promise<number[]> {
    assertCursorNames(names);
    this.#check();
    return names.map((name) => this.#cursors.get(name) ?? 0);
  }

  // deno-lint-ignore require-await
  async getCursor(name: string): Promise<number> {
    assertName("cursor name", name);
    this.#check();
    return this.#cursors.get(name) ?? 0;
  }

  // deno-lint-ignore require-await
  async advanceCursor(name: string, n: number): Promise<number> {
    assertCursorAdvance(name, n);
    this.#check();
    const after = Math.max(this.#cursors.get(name) ?? 0, n);
    this.#cursors.set(name, after);
    return after;
  }

  // deno-lint-ignore require-await
  async acquireLease(name: string, holder: string, ttlMs: number, nowMs: number): Promise<Lease> {
    assertLeaseRequest(name, holder, ttlMs, nowMs);
    this.#check();
    const lease = grantLease(this.#leases.get(name) ?? null, holder, ttlMs, nowMs);
    this.#leases.set(name, lease);
    return lease;
  }

  // deno-lint-ignore require-await
  async releaseLease(name: string, holder: string): Promise<void> {
    assertName("lease name", name);
    this.#check();
    const released = releasedLease(this.#leases.get(name) ?? null, holder);
    if (released !== null) this.#leases.set(name, released);
  }

  // deno-lint-ignore require-await
  async claimNonce(nonce: string, ttlMs: number, nowMs: number): Promise<boolean> {
    assertName("nonce", nonce);
    this.#check();
    for (const [old, expiresAtMs] of this.#nonces) { // oldest first: drop the expired
      if (expiresAtMs > nowMs && this.#nonces.size < MEMORY_NONCES_MAX) break;
      this.#nonces.delete(old);
    }
    const held = this.#nonces.get(nonce);
    if (held !== undefined && held > nowMs) return false;
    this.#nonces.set(nonce, nowMs + ttlMs);
    return true;
  }

  // deno-lint-ignore require-await
  async getLease(name: string): Promise<Lease | null> {
    assertName("lease name", name);
    this.#check();
    return this.#leases.get(name) ?? null;
  }

  // deno-lint-ignore require-await
  async takeTokensMany(requests: readonly TokenRequest[], nowMs: number): Promise<TokenGrant[]> {
    assertTokenRequests(requests, nowMs);
    this.#check();
    if (this.#buckets.size > MEMORY_BUCKETS_MAX) {
      for (const [name, b] of this.#buckets) if (b.expiresAtMs <= nowMs) this.#buckets.delete(name);
    }
    return requests.map((request) => {
      const { grant, write } = drawTokens(
        this.#buckets.get(request.bucket) ?? null,
        request,
        nowMs,
      );
      if (write !== null) {
        const expiresAtMs = write.atMs + bucketTtlMs(write.tokens, request);
        this.#buckets.set(request.bucket, { ...write, expiresAtMs });
      }
      return grant;
    });
  }

  // deno-lint-ignore require-await
  async writeIndex(write: IndexWrite): Promise<boolean> {
    assertIndexWrite(write);
    this.#check();
    for (const e of write.expect ?? []) {
      if ((this.#index.get(joinIndexKey(e.key))?.value ?? null) !== e.value) return false;
    }
    for (const key of write.delete ?? []) this.#index.delete(joinIndexKey(key));
    for (const { key, value } of write.set ?? []) {
      this.#index.set(joinIndexKey(key), { key: [...key], value });
    }
    this.#sorted = null;
    return true;
  }

  // deno-lint-ignore require-await
  async readIndex(keys: readonly IndexKey[]): Promise<(string | null)[]> {
    assertIndexRead(keys);
    this.#check();
    return keys.map((k) => this.#index.get(joinIndexKey(k))?.value ?? null);
  }

  // deno-lint-ignore require-await
  async listIndex(prefix: IndexKey, options: IndexListOptions): Promise<IndexPage> {
    const { after, limit, reverse = false } = options;
    assertIndexList(prefix, limit, after);
    this.#check();
    this.#sorted ??= [...this.#index.values()].sort((a, b) => compareIndexKeys(a.key, b.key));
    const all = this.#sorted.filter((e) => hasIndexPrefix(e.key, prefix));
    if (reverse) all.reverse();
    const beyond = (e: IndexEntry) =>
      after === undefined || (reverse ? 1 : -1) * compareIndexKeys(after, e.key) > 0;
    const rest = all.filter(beyond);
    const take = Math.min(limit, INDEX_PAGE_ENTRIES_MAX);
    return { entries: rest.slice(0, take), more: rest.length > take };
  }

  // deno-lint-ignore require-await
  async ping(): Promise<void> {
    this.#check();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #check(): void {
    if (this.failing) {
      throw new StoreUnavailableError("memory store is set to fail");
    }
  }
}

function strip(record: ArrivedDelta): StoredDelta {
  const { arrival: _, ...delta } = record;
  return delta;
}
