/**
 * The read side of `DenoKvStore.putDeltas`: what `planPut` needs to know, from this instance's
 * caches where they are warm and from the store where not, plus the versionstamps the commit
 * must check. A warm instance pushing fresh seqs reads nothing at all.
 */
import { type CachedChannel, KvChannelCache } from "./_kv_channel_cache.ts";
import { headKey, idKey, type PlanInput, slotKey } from "./_put_plan.ts";
import { assertArrivalCounts, assertChangeMarks } from "./_store_args.ts";
import type { AuthorHead, ChangeMarks, StoredDelta } from "./region_store.ts";

/** Deno KV's limit of keys per getMany. */
export const KV_GET_MANY_KEYS_MAX = 10;
/** Page size when scanning stored seqs above a head to advance it past a filled gap. */
const SLOT_SCAN_PAGE_MAX = 32;

/**
 * What this instance knows of a counter — a log shard's ["gs", shard], or the equivocations'
 * ["qn"] — exact while the counter keeps this versionstamp (null: no counter yet). Every commit
 * that bumps one checks it, so a stale one only costs a failed commit, after which it is
 * forgotten and read again.
 */
export interface CachedCounter {
  readonly versionstamp: string | null;
  readonly last: number;
}

export interface KvPlanRead {
  readonly input: PlanInput;
  /** Cache entries of the chunk's channels: their counter versionstamps are the checks. */
  readonly entries: Map<string, CachedChannel>;
  /** The counters of the log shards the chunk writes to, by shard. */
  readonly logs: Map<number, CachedCounter>;
}

/**
 * The numbering of equivocations: their own counter ["qn"] and, read-only, the counter ["g"] of
 * the log before it was sharded (the old numbering was by log entry, so new numbers start above
 * it). A commit that stores an equivocation checks both.
 */
export interface EquivocationCounters {
  readonly own: CachedCounter;
  readonly legacy: CachedCounter;
}

export class KvPlanReader {
  /** Per-channel counters and heads, exact at their counter's versionstamp. */
  readonly cache = new KvChannelCache();
  /** Log shard counters as last read or written by this instance. */
  readonly logs = new Map<number, CachedCounter>();
  /** The equivocation counters as last read or written here; null when unknown. */
  equivocations: EquivocationCounters | null = null;
  readonly #kv: Deno.Kv;
  readonly #key: (...parts: Deno.KvKeyPart[]) => Deno.KvKey;

  constructor(kv: Deno.Kv, key: (...parts: Deno.KvKeyPart[]) => Deno.KvKey) {
    this.#kv = kv;
    this.#key = key;
  }

  /**
   * `RegionStore.arrivalCounts`: each channel's counter `["c", channel]` (its last arrival), read
   * by `guard` in `getMany` calls of at most `KV_GET_MANY_KEYS_MAX` keys.
   */
  async arrivalCounts(
    channels: readonly string[],
    guard: <T>(work: () => Promise<T>) => Promise<T>,
  ): Promise<number[]> {
    assertArrivalCounts(channels);
    const read = await guard(() => this.#getMany<number>(channels.map((c) => this.#key("c", c))));
    return read.map((entry) => Number(entry.value ?? 0));
  }

  /**
   * `RegionStore.changeMarks`: the channels' counters and ["qn"] (every equivocation stored since
   * issue 13 raises it) in one getMany, which reads one snapshot.
   */
  async changeMarks(
    channels: readonly string[],
    guard: <T>(work: () => Promise<T>) => Promise<T>,
  ): Promise<ChangeMarks> {
    assertChangeMarks(channels);
    const keys = [...channels.map((c) => this.#key("c", c)), this.#key("qn")];
    const read = await guard(() => this.#kv.getMany<number[]>(keys));
    const values = read.map((entry) => Number(entry.value ?? 0));
    return { arrivals: values.slice(0, -1), equivocations: values.at(-1)! };
  }

  /** After a failed commit or a store error: what this instance knew may be stale. */
  forget(channels: readonly string[]): void {
    for (const channel of channels) this.cache.drop(channel);
    this.logs.clear();
    this.equivocations = null;
  }

  /** The equivocation counters, read (both in one go) when not known. */
  async readEquivocations(): Promise<EquivocationCounters> {
    if (this.equivocations !== null) return this.equivocations;
    const [own, legacy] = await this.#getMany<number>([this.#key("qn"), this.#key("g")]);
    const counter = (e: Deno.KvEntryMaybe<number>) => ({
      versionstamp: e.versionstamp,
      last: e.value ?? 0,
    });
    return this.equivocations = { own: counter(own), legacy: counter(legacy) };
  }

  /**
   * Reads what the plan of `chunk` needs. Counters (the channels' and the region log's) are read
   * before anything else: any write after that read changes a counter's versionstamp, so the
   * commit's check fails and nothing is planned from a torn read.
   */
  async read(
    chunk: readonly StoredDelta[],
    channels: readonly string[],
    shards: readonly number[],
  ): Promise<KvPlanRead> {
    const { entries, logs } = await this.#readCounters(channels, shards);
    const authors = [...new Map(chunk.map((d) => [headKey(d.channel, d.author), d])).values()];
    const unknown = authors.filter((d) => !entries.get(d.channel)!.heads.has(d.author));
    const read = await this.#getMany<AuthorHead>(
      unknown.map((d) => this.#key("h", d.channel, d.author)),
    );
    unknown.forEach((d, i) => this.cache.setHead(entries.get(d.channel)!, d.author, read[i].value));
    const headOf = (d: StoredDelta) => entries.get(d.channel)!.heads.get(d.author) ?? null;
    // A seq above the head's max has a free slot; only lower ones can be duplicates or conflicts.
    const uncertain = chunk.filter((d) => d.seq <= (headOf(d)?.max ?? 0));
    // A head with seqs missing below its max advances past stored seqs when this batch fills
    // the first missing one. A head just read from the store is checked once as well: an older
    // version could leave one short (issue 16), and this write then repairs it.
    const fills = new Map<string, Set<number>>();
    for (const d of chunk) {
      const hk = headKey(d.channel, d.author);
      if (!fills.has(hk)) fills.set(hk, new Set());
      fills.get(hk)!.add(d.seq);
    }
    const fresh = new Set(unknown);
    const gapped = authors.filter((d) => {
      const head = headOf(d);
      if (head === null || head.max <= head.contiguous) return false;
      return fresh.has(d) || fills.get(headKey(d.channel, d.author))!.has(head.contiguous + 1);
    });
    const [slotEntries, aboveLists] = await Promise.all([
      this.#getMany<string>(uncertain.map((d) => this.#key("s", d.channel, d.author, d.seq))),
      Promise.all(
        gapped.map((d) =>
          storedRunAbove(
            this.#kv,
            this.#key,
            d.channel,
            d.author,
            headOf(d)!.contiguous,
            fills.get(headKey(d.channel, d.author))!,
          )
        ),
      ),
    ]);
    const slots = new Map<string, string>();
    uncertain.forEach((d, i) => {
      const id = slotEntries[i].value;
      if (id !== null) slots.set(slotKey(d.channel, d.author, d.seq), id);
    });
    // A delta whose slot holds another id may be a second half of an equivocation stored before.
    const rivals = uncertain.filter((d, i) =>
      slotEntries[i].value !== null &&
      slotEntries[i].value !== d.id
    );
    const rivalEntries = await this.#getMany<number>(
      rivals.map((d) => this.#key("d", d.channel, d.id)),
    );
    const stored = new Set(
      rivals.flatMap((d, i) => rivalEntries[i].value === null ? [] : [idKey(d.channel, d.id)]),
    );
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
      stored: (channel, id) => stored.has(idKey(channel, id)),
    };
    return { input, entries, logs };
  }

  /**
   * Cache entries of `channels` and the counters of log `shards`, reading (in one go) those not
   * cached.
   */
  async #readCounters(channels: readonly string[], shards: readonly number[]) {
    const entries = new Map<string, CachedChannel>();
    const misses = channels.filter((c) => {
      const entry = this.cache.get(c);
      if (entry !== undefined) entries.set(c, entry);
      return entry === undefined;
    });
    const unknown = shards.filter((shard) => !this.logs.has(shard));
    const keys = [
      ...misses.map((c) => this.#key("c", c)),
      ...unknown.map((shard) => this.#key("gs", shard)),
    ];
    const counters = await this.#getMany<number>(keys);
    counters.splice(misses.length).forEach(({ versionstamp, value }, i) => {
      this.logs.set(unknown[i], { versionstamp, last: value ?? 0 });
    });
    const logs = new Map(shards.map((shard) => [shard, this.logs.get(shard)!]));
    misses.forEach((c, i) => {
      const entry = {
        versionstamp: counters[i].versionstamp,
        last: counters[i].value ?? 0,
        heads: new Map(),
      };
      entries.set(c, entry);
      this.cache.set(c, entry);
    });
    return { entries, logs };
  }

  async #getMany<T>(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
    const pages: Promise<Deno.KvEntryMaybe<T>[]>[] = [];
    for (let i = 0; i < keys.length; i += KV_GET_MANY_KEYS_MAX) {
      pages.push(this.#kv.getMany<T[]>(keys.slice(i, i + KV_GET_MANY_KEYS_MAX)));
    }
    return (await Promise.all(pages)).flat();
  }
}

/**
 * The seqs stored for an author in the run right above `from` (exclusive): each is `from + 1`
 * or follows the previous one directly or across seqs in `fills` (what the batch being planned
 * stores). Stops at the first seq neither stored nor filled, so filling gaps one by one costs
 * time linear in what is stored, not quadratic.
 */
export async function storedRunAbove(
  kv: Deno.Kv,
  key: (...parts: Deno.KvKeyPart[]) => Deno.KvKey,
  channel: string,
  author: string,
  from: number,
  fills: ReadonlySet<number> = new Set(),
): Promise<number[]> {
  const seqs: number[] = [];
  let next = from + 1;
  const iter = kv.list<string>({
    prefix: key("s", channel, author),
    start: key("s", channel, author, from + 1),
  }, { batchSize: SLOT_SCAN_PAGE_MAX });
  for await (const entry of iter) {
    const seq = entry.key.at(-1) as number;
    while (next < seq && fills.has(next)) next++;
    if (seq !== next) break;
    seqs.push(seq);
    next++;
  }
  return seqs;
}
