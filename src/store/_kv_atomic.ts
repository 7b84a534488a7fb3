/**
 * Atomic writes on Deno KV: its documented limits, how a batch of deltas is split to fit them,
 * and the retry policy for commits that lose a race (a failed check, or SQLite's write lock
 * held by another process).
 */
import { headKey } from "./_put_plan.ts";
import { type StoredDelta, StoreUnavailableError } from "./region_store.ts";

/** Deno KV's own limits per atomic operation (documented; exceeding them throws). */
export const KV_ATOMIC_MUTATIONS_MAX = 1_000;
export const KV_ATOMIC_CHECKS_MAX = 100;
export const KV_ATOMIC_BYTES_MAX = 819_200;
/** Of which keys (of checks and mutations together), in bytes. */
export const KV_ATOMIC_KEY_BYTES_MAX = 81_920;
/** Deno KV's limits on one key and one value, serialized, in bytes. */
export const KV_KEY_BYTES_MAX = 2_048;
export const KV_VALUE_BYTES_MAX = 65_536;
/** Our budget per atomic write, below KV_ATOMIC_BYTES_MAX to leave room for keys and heads. */
export const KV_CHUNK_BYTES_MAX = 600_000;
/** Commit attempts of one write under write contention before answering 503. */
export const KV_COMMIT_ATTEMPTS_MAX = 20;
/** Longest backoff between two commit attempts, in ms. */
const KV_COMMIT_BACKOFF_MS_MAX = 50;
/**
 * Mutations one accepted delta costs at most: record, id pointer, seq slot, region-log entry,
 * and an equivocation entry when it is one.
 */
const MUTATIONS_PER_DELTA = 5;
/**
 * Checks (and at most as many mutations) every write with deltas costs once: the counters of the
 * two log shards it may append to (its data shard, the gating shard), and the equivocation
 * counter with the legacy log's counter it numbers above.
 */
const LOG_COUNTER_OPS = 4;
/**
 * Estimated bytes of the keys and small values one delta writes besides its body and sig: four
 * keys naming its channel (record, id pointer, seq slot, head), and id, author and channel
 * repeated in the values and the region-log entry.
 */
const DELTA_KEYS_BYTES = 768;

if (KV_CHUNK_BYTES_MAX >= KV_ATOMIC_BYTES_MAX) {
  throw new Error("KV_CHUNK_BYTES_MAX must stay below KV_ATOMIC_BYTES_MAX");
}

/**
 * Splits a batch so that each atomic write stays inside Deno KV's limits: mutations, checks
 * (counted per channel counter and per author head, plus the log and equivocation counters) and
 * bytes.
 * Chunks are consecutive slices of the batch, in order.
 */
export function chunkForAtomic(deltas: readonly StoredDelta[]): StoredDelta[][] {
  const chunks: StoredDelta[][] = [];
  let chunk: StoredDelta[] = [];
  let checked = new Set<string>();
  let bytes = 0;
  for (const delta of deltas) {
    const keys = [delta.channel, headKey(delta.channel, delta.author)];
    const checks = checked.size + keys.filter((k) => !checked.has(k)).length + LOG_COUNTER_OPS;
    const size = delta.body.length * 3 + delta.sig.length + DELTA_KEYS_BYTES;
    const fits = checks <= KV_ATOMIC_CHECKS_MAX &&
      (chunk.length + 1) * MUTATIONS_PER_DELTA + checks <= KV_ATOMIC_MUTATIONS_MAX &&
      bytes + size <= KV_CHUNK_BYTES_MAX;
    if (!fits && chunk.length > 0) {
      chunks.push(chunk);
      chunk = [];
      checked = new Set();
      bytes = 0;
    }
    chunk.push(delta);
    for (const k of keys) checked.add(k);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * How one store's delta commits went: how often an attempt lost a race, and to what. Instances
 * sharing a store see each other only here (a commit that lost is retried on fresh reads).
 */
export interface KvCommitStats {
  /** Atomic commits that stored deltas. */
  commits: number;
  /** Commit attempts with deltas to store, successful or not. */
  attempts: number;
  /** Attempts refused because a checked counter (a channel's, the log's) had changed. */
  conflicts: number;
  /** Attempts that met SQLite's write lock held by another process (a local file only). */
  locked: number;
}

export const newCommitStats = (): KvCommitStats => ({
  commits: 0,
  attempts: 0,
  conflicts: 0,
  locked: 0,
});

/**
 * Commits `op`; a commit that met SQLite's write lock held by another process is a lost race.
 * With `stats`, counts the attempt and how it ended.
 */
export async function commitOrContend(
  op: Deno.AtomicOperation,
  stats?: KvCommitStats,
): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
  if (stats !== undefined) stats.attempts++;
  const result = await op.commit().catch((error) => {
    if (!isLockContention(error)) throw error;
    if (stats !== undefined) stats.locked++;
    return null;
  });
  if (result === null) return { ok: false };
  if (stats !== undefined) result.ok ? stats.commits++ : stats.conflicts++;
  return result;
}

/**
 * Waits before commit attempt `attempt + 1`, or throws StoreUnavailableError when `attempt` was
 * the last one allowed.
 */
export async function backOff(attempt: number, what: string): Promise<void> {
  if (attempt >= KV_COMMIT_ATTEMPTS_MAX) {
    throw new StoreUnavailableError(
      `Cannot ${what} after ${attempt} attempts under write contention`,
    );
  }
  const ms = Math.random() * Math.min(KV_COMMIT_BACKOFF_MS_MAX, 2 ** attempt);
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Reads `key`, lets `decide` choose what to write (nothing, when `write` is absent) and what to
 * answer, and commits only if the key is unchanged since the read; on a lost race, reads again.
 */
export async function compareAndSet<T, R>(
  kv: Deno.Kv,
  key: Deno.KvKey,
  what: string,
  decide: (current: T | null) => { readonly write?: T; readonly result: R },
): Promise<R> {
  for (let attempt = 1;; attempt++) {
    const entry = await kv.get<T>(key);
    const { write, result } = decide(entry.value);
    if (write === undefined) return result;
    const committed = await commitOrContend(kv.atomic().check(entry).set(key, write));
    if (committed.ok) return result;
    await backOff(attempt, what);
  }
}

/**
 * Sets `key` to 1 for `ttlMs` unless it is present, atomically: true when this call set it. A
 * commit that meets SQLite's write lock held by another process is retried a few times.
 */
export async function setIfAbsent(kv: Deno.Kv, key: Deno.KvKey, ttlMs: number): Promise<boolean> {
  for (let attempt = 1;; attempt++) {
    try {
      const claimed = await kv.atomic().check({ key, versionstamp: null })
        .set(key, 1, { expireIn: ttlMs }).commit();
      return claimed.ok;
    } catch (error) {
      if (attempt >= 5 || !isLockContention(error)) throw error;
      await new Promise((r) => setTimeout(r, attempt * 5));
    }
  }
}

/** SQLite's "database is locked" (SQLITE_BUSY), seen when processes share one KV file. */
function isLockContention(error: unknown): boolean {
  return error instanceof Error && /database is locked|SQLITE_BUSY/i.test(error.message);
}
