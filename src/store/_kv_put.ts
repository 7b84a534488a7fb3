/**
 * The write path of `DenoKvStore.putDeltas`: a group-commit queue per instance, the atomic write
 * of each chunk (records, id pointers, seq slots, heads, arrival counters, region-log entries),
 * and the retry of a commit that lost a race on fresh reads. Layout in `deno_kv_store.ts`.
 */
import {
  backOff,
  chunkForAtomic,
  commitOrContend,
  type KvCommitStats,
  newCommitStats,
} from "./_kv_atomic.ts";
import type { EquivocationCounters, KvPlanRead, KvPlanReader } from "./_kv_plan_input.ts";
import { FIRST_DATA_SHARD, LOG_SHARDS, logShardFor, randomDataShard } from "./region_log.ts";
import { type Plan, planPut } from "./_put_plan.ts";
import type {
  DeltaOrigin,
  Equivocation,
  LogEntry,
  PutOutcome,
  StoredDelta,
} from "./region_store.ts";

/** Most deltas one group commit gathers from queued writers (bounds the wait of each). */
export const KV_GROUP_COMMIT_DELTAS_MAX = 1_000;
/** A region-log entry as stored under ["ls", shard, n] (["l", n] in the legacy shard). */
export type StoredLogEntry = Omit<LogEntry, "n" | "shard">;
/** An equivocation as stored under ["q", n]. */
export type StoredEquivocation = Omit<Equivocation, "n">;

interface PendingPut {
  readonly deltas: readonly StoredDelta[];
  readonly origin: DeltaOrigin;
  resolve(outcomes: PutOutcome[]): void;
  reject(error: unknown): void;
}

type Key = (...parts: Deno.KvKeyPart[]) => Deno.KvKey;
type Guard = <T>(work: () => Promise<T>) => Promise<T>;

/**
 * Group commit: writers of one instance queue here and one drain loop writes everything queued
 * so far in as few atomic commits as the limits allow. Commits cost a disk sync each, and
 * concurrent writers of one channel would otherwise collide on its counter and retry. Other
 * instances meet only on what both write: a channel's counter when they write one channel, and
 * a log shard's counter when they share a data shard — which each leaves for another at random
 * as soon as a commit of its lost a race (region_log.ts).
 */
export class KvDeltaWriter {
  readonly #kv: Deno.Kv;
  readonly #key: Key;
  readonly #guard: Guard;
  readonly #reader: KvPlanReader;
  readonly #queue: PendingPut[] = [];
  readonly #stats = newCommitStats();
  #draining = false;
  /** The data shard this instance logs to; another at random after a lost race. */
  #shard: number;

  constructor(kv: Deno.Kv, key: Key, guard: Guard, reader: KvPlanReader, shard?: number) {
    this.#kv = kv;
    this.#key = key;
    this.#guard = guard;
    this.#reader = reader;
    if (shard !== undefined && (shard < FIRST_DATA_SHARD || shard >= LOG_SHARDS)) {
      throw new RangeError(`Cannot log to shard ${shard}: data shards are ${FIRST_DATA_SHARD} on`);
    }
    this.#shard = shard ?? randomDataShard();
  }

  /** The data shard this instance logs to now. */
  get shard(): number {
    return this.#shard;
  }

  /** How this instance's delta commits went since it opened (a copy). */
  get stats(): KvCommitStats {
    return { ...this.#stats };
  }

  put(deltas: readonly StoredDelta[], origin: DeltaOrigin): Promise<PutOutcome[]> {
    return new Promise((resolve, reject) => {
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
        const own = this.#shard;
        const shards = [...new Set(channels.map((c) => logShardFor(c, own)))];
        const read = await this.#reader.read(chunk, channels, shards);
        const plan = planPut(chunk, read.input);
        if (plan.writes.length === 0) return plan.outcomes;
        const equivocations = plan.writes.some((w) => w.existingId !== undefined)
          ? await this.#reader.readEquivocations()
          : null;
        const { op, last } = this.#writeOf(plan, read, equivocations, origins, own);
        const conflicts = this.#stats.conflicts;
        const result = await commitOrContend(op, this.#stats);
        if (result.ok) {
          committed = true;
          this.#remember(plan, read, result.versionstamp, last);
          return plan.outcomes;
        }
        // Lost to another writer (not to SQLite's lock): perhaps one on our shard, so move.
        if (this.#stats.conflicts > conflicts) this.#shard = randomDataShard(Math.random, own);
      } finally {
        // Another writer got in first, or the store failed: what we knew may be stale.
        if (!committed) this.#reader.forget(channels);
      }
      await backOff(attempt, "commit deltas");
    }
  }

  /**
   * The atomic write of `plan`: checks of every counter it was planned from, each accepted
   * delta's record, id pointer, seq slot and region-log entry (in its shard), and the new
   * counters and heads. Equivocations are numbered above both `equivocations` counters.
   */
  #writeOf(
    plan: Plan,
    read: KvPlanRead,
    equivocations: EquivocationCounters | null,
    origins: readonly DeltaOrigin[],
    own: number,
  ) {
    const op = this.#kv.atomic();
    for (const channel of plan.lastArrival.keys()) {
      op.check({
        key: this.#key("c", channel),
        versionstamp: read.entries.get(channel)!.versionstamp,
      });
    }
    // Only the shards this write appends to are checked and bumped: a counter written for
    // nothing would fail other instances' commits for nothing.
    const logs = new Map<number, number>();
    for (const { delta } of plan.writes) {
      const shard = logShardFor(delta.channel, own);
      if (logs.has(shard)) continue;
      const counter = read.logs.get(shard)!;
      logs.set(shard, counter.last);
      op.check({ key: this.#key("gs", shard), versionstamp: counter.versionstamp });
    }
    let q = 0;
    if (equivocations !== null) {
      op.check({ key: this.#key("qn"), versionstamp: equivocations.own.versionstamp });
      op.check({ key: this.#key("g"), versionstamp: equivocations.legacy.versionstamp });
      q = Math.max(equivocations.own.last, equivocations.legacy.last);
    }
    // Writes follow the accepted outcomes in input order: this pairs each with its origin.
    const writeOrigins = plan.outcomes.flatMap((o, i) =>
      o.status === "duplicate" ? [] : [origins[i]]
    );
    plan.writes.forEach(({ delta, arrival, existingId }, i) => {
      const { channel, id, author, seq, body, sig } = delta;
      op.set(this.#key("a", channel, arrival), { id, author, seq, body, sig });
      op.set(this.#key("d", channel, id), arrival);
      if (existingId === undefined) op.set(this.#key("s", channel, author, seq), id);
      const shard = logShardFor(channel, own);
      const n = logs.get(shard)! + 1;
      logs.set(shard, n);
      const entry: StoredLogEntry = { channel, id, origin: writeOrigins[i] };
      op.set(this.#key("ls", shard, n), entry);
      if (existingId !== undefined) {
        const equivocation: StoredEquivocation = { author, channel, seq, id, existingId };
        op.set(this.#key("q", ++q), equivocation);
      }
    });
    for (const [shard, n] of logs) op.set(this.#key("gs", shard), n);
    if (q > 0) op.set(this.#key("qn"), q);
    for (const [channel, last] of plan.lastArrival) op.set(this.#key("c", channel), last);
    for (const [hk, head] of plan.heads) {
      const [channel, author] = hk.split("\u0000");
      op.set(this.#key("h", channel, author), head);
    }
    return { op, last: { logs, q } };
  }

  /** After a commit at `versionstamp`, the caches are exact again for what it wrote. */
  #remember(
    plan: Plan,
    read: KvPlanRead,
    versionstamp: string,
    last: { logs: Map<number, number>; q: number },
  ): void {
    for (const [shard, n] of last.logs) this.#reader.logs.set(shard, { versionstamp, last: n });
    const equivocations = this.#reader.equivocations;
    if (last.q > 0 && equivocations !== null) {
      this.#reader.equivocations = { ...equivocations, own: { versionstamp, last: last.q } };
    }
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
}
