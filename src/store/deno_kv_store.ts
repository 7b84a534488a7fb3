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
 * Every write in a channel bumps its counter, and each commit checks the versionstamps of the
 * counters it bumps: so any concurrent write to the same channel (its slots, heads or arrivals)
 * fails the commit, which is retried on fresh reads. No arrival number is skipped or reused.
 */
import { type CachedChannel, KvChannelCache } from "./_kv_channel_cache.ts";
import { headKey, type PlanInput, planPut, slotKey } from "./_put_plan.ts";
import {
  type ArrivalPage,
  type ArrivedDelta,
  type AuthorHead,
  type PutOutcome,
  type RegionStore,
  type StoredDelta,
  StoreUnavailableError,
} from "./region_store.ts";

/** Deno KV's own limits per atomic operation (documented; exceeding them throws). */
export const KV_ATOMIC_MUTATIONS_MAX = 1_000;
export const KV_ATOMIC_CHECKS_MAX = 100;
export const KV_ATOMIC_BYTES_MAX = 819_200;
/** Deno KV's limit of keys per getMany. */
export const KV_GET_MANY_KEYS_MAX = 10;
/** Our budget per atomic write, below KV_ATOMIC_BYTES_MAX to leave room for keys and heads. */
export const KV_CHUNK_BYTES_MAX = 600_000;
/** Most deltas one group commit gathers from queued writers (bounds the wait of each). */
export const KV_GROUP_COMMIT_DELTAS_MAX = 1_000;
/** Commit attempts of one chunk under write contention before answering 503. */
export const KV_COMMIT_ATTEMPTS_MAX = 20;
/** Mutations one accepted delta costs: record, id pointer, seq slot. */
const MUTATIONS_PER_DELTA = 3;
/** Page size when scanning stored seqs above a head to advance it past a filled gap. */
const SLOT_SCAN_PAGE_MAX = 500;

interface PendingPut {
  readonly deltas: readonly StoredDelta[];
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
   * instances are still serialised by the counter checks.
   */
  readonly #queue: PendingPut[] = [];
  readonly #cache = new KvChannelCache();
  #draining = false;

  constructor(kv: Deno.Kv, options: DenoKvStoreOptions = {}) {
    this.#kv = kv;
    this.#prefix = options.prefix ?? [];
    this.#ownsKv = options.ownsKv ?? true;
  }

  /** Opens a store at `path` (a file, or `:memory:`). */
  static async open(
    path: string,
    options: DenoKvStoreOptions = {},
  ): Promise<DenoKvStore> {
    return new DenoKvStore(await Deno.openKv(path), options);
  }

  putDeltas(deltas: readonly StoredDelta[]): Promise<PutOutcome[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ deltas, resolve, reject });
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
        for (const chunk of chunkForAtomic(group.flatMap((g) => g.deltas))) {
          outcomes.push(...await this.#guard(() => this.#putChunk(chunk)));
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

  async #putChunk(chunk: readonly StoredDelta[]): Promise<PutOutcome[]> {
    const channels = [...new Set(chunk.map((d) => d.channel))];
    for (let attempt = 1;; attempt++) {
      let committed = false;
      try {
        const { input, entries } = await this.#readPlanInput(chunk, channels);
        const plan = planPut(chunk, input);
        if (plan.writes.length === 0) return plan.outcomes;
        const op = this.#kv.atomic();
        for (const channel of plan.lastArrival.keys()) {
          op.check({
            key: this.#key("c", channel),
            versionstamp: entries.get(channel)!.versionstamp,
          });
        }
        for (const { delta, arrival } of plan.writes) {
          const { channel, id, author, seq, body, sig } = delta;
          op.set(this.#key("a", channel, arrival), { id, author, seq, body, sig });
          op.set(this.#key("d", channel, id), arrival);
          op.set(this.#key("s", channel, author, seq), id);
        }
        for (const [channel, last] of plan.lastArrival) op.set(this.#key("c", channel), last);
        for (const [hk, head] of plan.heads) op.set(this.#headKvKey(hk), head);
        const result = await op.commit().catch((error) => {
          // Another process holds SQLite's write lock: contention, retried like a failed check.
          if (isLockContention(error)) return { ok: false } as const;
          throw error;
        });
        if (result.ok) {
          committed = true;
          for (const [channel, last] of plan.lastArrival) {
            const entry = entries.get(channel)!;
            entry.versionstamp = result.versionstamp;
            entry.last = last;
          }
          for (const [hk, head] of plan.heads) {
            const [channel, author] = hk.split("\u0000");
            this.#cache.setHead(entries.get(channel)!, author, head);
          }
          return plan.outcomes;
        }
      } finally {
        // Another writer got in first, or the store failed: what we knew may be stale.
        if (!committed) { for (const channel of channels) this.#cache.drop(channel); }
      }
      if (attempt >= KV_COMMIT_ATTEMPTS_MAX) {
        throw new StoreUnavailableError(
          `Cannot commit deltas after ${attempt} attempts under write contention`,
        );
      }
      await sleep(Math.random() * Math.min(50, 2 ** attempt));
    }
  }

  /**
   * What the plan needs, from the channel cache where it is warm and from the store where not.
   * Counters are read before anything else: any write after that read changes the counter's
   * versionstamp, so the commit's check fails and nothing is planned from a torn read.
   */
  async #readPlanInput(chunk: readonly StoredDelta[], channels: readonly string[]) {
    const entries = new Map<string, CachedChannel>();
    const misses = channels.filter((c) => {
      const entry = this.#cache.get(c);
      if (entry !== undefined) entries.set(c, entry);
      return entry === undefined;
    });
    const counters = await this.#getMany<number>(misses.map((c) => this.#key("c", c)));
    misses.forEach((c, i) => {
      const entry = {
        versionstamp: counters[i].versionstamp,
        last: counters[i].value ?? 0,
        heads: new Map(),
      };
      entries.set(c, entry);
      this.#cache.set(c, entry);
    });
    const authors = [...new Map(chunk.map((d) => [headKey(d.channel, d.author), d])).values()];
    const unknown = authors.filter((d) => !entries.get(d.channel)!.heads.has(d.author));
    const read = await this.#getMany<AuthorHead>(
      unknown.map((d) => this.#key("h", d.channel, d.author)),
    );
    unknown.forEach((d, i) =>
      this.#cache.setHead(entries.get(d.channel)!, d.author, read[i].value)
    );
    const headOf = (d: StoredDelta) => entries.get(d.channel)!.heads.get(d.author) ?? null;
    // A seq above the head's max has a free slot; only lower ones can be duplicates or conflicts.
    const uncertain = chunk.filter((d) => d.seq <= (headOf(d)?.max ?? 0));
    // Only a delta that fills the slot right above a head can advance it past stored seqs.
    const fills = new Set(chunk.map((d) => slotKey(d.channel, d.author, d.seq)));
    const gapped = authors.filter((d) => {
      const head = headOf(d);
      return head !== null && head.max > head.contiguous + 1 &&
        fills.has(slotKey(d.channel, d.author, head.contiguous + 1));
    });
    const [slotEntries, aboveLists] = await Promise.all([
      this.#getMany<string>(uncertain.map((d) => this.#key("s", d.channel, d.author, d.seq))),
      Promise.all(
        gapped.map((d) => this.#slotsAbove(d.channel, d.author, headOf(d)!.contiguous + 1)),
      ),
    ]);
    const slots = new Map<string, string>();
    uncertain.forEach((d, i) => {
      const id = slotEntries[i].value;
      if (id !== null) slots.set(slotKey(d.channel, d.author, d.seq), id);
    });
    const above = new Set<string>();
    gapped.forEach((d, i) =>
      aboveLists[i].forEach((seq) => above.add(slotKey(d.channel, d.author, seq)))
    );
    const heads = new Map<string, AuthorHead>();
    for (const d of authors) {
      const head = headOf(d);
      if (head !== null) heads.set(headKey(d.channel, d.author), head);
    }
    const input: PlanInput = {
      slots,
      heads,
      nextArrival: new Map(channels.map((c) => [c, entries.get(c)!.last + 1])),
      storedAbove: (channel, author, seq) => above.has(slotKey(channel, author, seq)),
    };
    return { input, entries };
  }

  /** Seqs stored for an author above `from` (exclusive), all pages. */
  async #slotsAbove(
    channel: string,
    author: string,
    from: number,
  ): Promise<number[]> {
    const seqs: number[] = [];
    const iter = this.#kv.list<string>({
      prefix: this.#key("s", channel, author),
      start: this.#key("s", channel, author, from + 1),
    }, { batchSize: SLOT_SCAN_PAGE_MAX });
    for await (const entry of iter) seqs.push(entry.key.at(-1) as number);
    return seqs;
  }

  getDelta(channel: string, id: string): Promise<StoredDelta | null> {
    return this.#guard(async () => {
      const arrival = await this.#kv.get<number>(this.#key("d", channel, id));
      if (arrival.value === null) return null;
      const record = await this.#kv.get<Omit<StoredDelta, "channel">>(
        this.#key("a", channel, arrival.value),
      );
      return record.value === null ? null : { channel, ...record.value };
    });
  }

  listArrivals(
    channel: string,
    after: number,
    limit: number,
  ): Promise<ArrivalPage> {
    return this.#guard(async () => {
      const deltas: ArrivedDelta[] = [];
      const iter = this.#kv.list<Omit<StoredDelta, "channel">>({
        prefix: this.#key("a", channel),
        start: this.#key("a", channel, after + 1),
      }, { limit: limit + 1 });
      for await (const entry of iter) {
        deltas.push({
          channel,
          ...entry.value,
          arrival: entry.key.at(-1) as number,
        });
      }
      const more = deltas.length > limit;
      if (more) deltas.pop();
      return { deltas, cursor: deltas.at(-1)?.arrival ?? after, more };
    });
  }

  getHead(channel: string, author: string): Promise<AuthorHead | null> {
    return this.#guard(async () =>
      (await this.#kv.get<AuthorHead>(this.#key("h", channel, author))).value
    );
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

  async #getMany<T>(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
    const pages: Promise<Deno.KvEntryMaybe<T>[]>[] = [];
    for (let i = 0; i < keys.length; i += KV_GET_MANY_KEYS_MAX) {
      pages.push(
        this.#kv.getMany<T[]>(keys.slice(i, i + KV_GET_MANY_KEYS_MAX)),
      );
    }
    return (await Promise.all(pages)).flat();
  }

  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError(
        `Deno KV failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
}

/**
 * Splits a batch so that each atomic write stays inside Deno KV's limits: mutations, checks
 * (one per channel counter and per author head) and bytes.
 */
export function chunkForAtomic(
  deltas: readonly StoredDelta[],
): StoredDelta[][] {
  const chunks: StoredDelta[][] = [];
  let chunk: StoredDelta[] = [];
  let checked = new Set<string>();
  let bytes = 0;
  for (const delta of deltas) {
    const newChecks = [delta.channel, headKey(delta.channel, delta.author)]
      .filter((k) => !checked.has(k));
    const size = delta.body.length * 3 + delta.sig.length + 512;
    const fits = checked.size + newChecks.length <= KV_ATOMIC_CHECKS_MAX &&
      (chunk.length + 1) * MUTATIONS_PER_DELTA + checked.size +
            newChecks.length <=
        KV_ATOMIC_MUTATIONS_MAX &&
      bytes + size <= KV_CHUNK_BYTES_MAX;
    if (!fits && chunk.length > 0) {
      chunks.push(chunk);
      chunk = [];
      checked = new Set();
      bytes = 0;
    }
    chunk.push(delta);
    for (const k of [delta.channel, headKey(delta.channel, delta.author)]) {
      checked.add(k);
    }
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** SQLite's "database is locked" (SQLITE_BUSY), seen when processes share one KV file. */
function isLockContention(error: unknown): boolean {
  return error instanceof Error && /database is locked|SQLITE_BUSY/i.test(error.message);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
