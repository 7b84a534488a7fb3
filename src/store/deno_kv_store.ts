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
    for (let attempt = 1;; attempt++) {
      const { input, versions } = await this.#readPlanInput(chunk);
      const plan = planPut(chunk, input);
      if (plan.writes.length === 0) return plan.outcomes;
      const op = this.#kv.atomic();
      for (const channel of plan.lastArrival.keys()) {
        op.check({
          key: this.#key("c", channel),
          versionstamp: versions.get(channel) ?? null,
        });
      }
      for (const { delta, arrival } of plan.writes) {
        const { channel, id, author, seq, body, sig } = delta;
        op.set(this.#key("a", channel, arrival), {
          id,
          author,
          seq,
          body,
          sig,
        });
        op.set(this.#key("d", channel, id), arrival);
        op.set(this.#key("s", channel, author, seq), id);
      }
      for (const [channel, last] of plan.lastArrival) {
        op.set(this.#key("c", channel), last);
      }
      for (const [hk, head] of plan.heads) op.set(this.#headKvKey(hk), head);
      if ((await op.commit()).ok) return plan.outcomes;
      if (attempt >= KV_COMMIT_ATTEMPTS_MAX) {
        throw new StoreUnavailableError(
          `Cannot commit deltas after ${attempt} attempts under write contention`,
        );
      }
      await sleep(Math.random() * Math.min(50, 2 ** attempt));
    }
  }

  async #readPlanInput(chunk: readonly StoredDelta[]) {
    const channels = [...new Set(chunk.map((d) => d.channel))];
    const heads = [
      ...new Map(chunk.map((d) => [headKey(d.channel, d.author), d])).entries(),
    ];
    // Only a delta that fills the slot right above a head can advance it past stored seqs.
    const fills = new Set(
      chunk.map((d) => slotKey(d.channel, d.author, d.seq)),
    );
    const [counters, headEntries, slotEntries] = await Promise.all([
      this.#getMany<number>(channels.map((c) => this.#key("c", c))),
      this.#getMany<AuthorHead>(heads.map(([hk]) => this.#headKvKey(hk))),
      this.#getMany<string>(
        chunk.map((d) => this.#key("s", d.channel, d.author, d.seq)),
      ),
    ]);
    const versions = new Map<string, string | null>(); // by channel
    const nextArrival = new Map<string, number>();
    channels.forEach((c, i) => {
      versions.set(c, counters[i].versionstamp);
      nextArrival.set(c, (counters[i].value ?? 0) + 1);
    });
    const headMap = new Map<string, AuthorHead>();
    const above = new Set<string>();
    await Promise.all(heads.map(async ([hk, d], i) => {
      const head = headEntries[i].value;
      if (head === null) return;
      headMap.set(hk, head);
      if (
        head.max > head.contiguous + 1 &&
        fills.has(slotKey(d.channel, d.author, head.contiguous + 1))
      ) {
        for (
          const seq of await this.#slotsAbove(
            d.channel,
            d.author,
            head.contiguous + 1,
          )
        ) {
          above.add(slotKey(d.channel, d.author, seq));
        }
      }
    }));
    const slots = new Map<string, string>();
    chunk.forEach((d, i) => {
      const id = slotEntries[i].value;
      if (id !== null) slots.set(slotKey(d.channel, d.author, d.seq), id);
    });
    const input: PlanInput = {
      slots,
      heads: headMap,
      nextArrival,
      storedAbove: (channel, author, seq) => above.has(slotKey(channel, author, seq)),
    };
    return { input, versions };
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
