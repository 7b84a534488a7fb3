/**
 * The region log's shards (issue 13). Every accepted delta gets a log entry in the same atomic
 * write; the log is split into shards, each numbered 1, 2, 3, ... without gaps on its own, so
 * instances of one region that write at once append to different counters and do not collide:
 *
 * - shard 0, `LEGACY_LOG_SHARD`: the one log of stores written before the split. Read (fan-out
 *   and anti-entropy go on from where they were), never written again;
 * - shard 1, `GATING_LOG_SHARD`: entries of the channels that admit other deltas
 *   (`_certificates`), whichever instance writes them. Fan-out sends this shard before the data
 *   shards, so a peer holds a certificate before the deltas it admits;
 * - shards 2 … `LOG_SHARDS - 1`, the data shards: every other entry. An instance writes to one
 *   data shard of its own choosing, at random, and moves to another at random whenever a commit
 *   of its lost a race: instances spread over the shards by themselves, so their commits check
 *   different counters. A channel's entries may be in several shards; each channel's arrival
 *   numbers (its own counter) stay gapless as before.
 *
 * A log position is one number per shard (the last entry read or sent in each). Raising
 * `LOG_DATA_SHARDS` later needs no migration (new shards start empty); lowering it would strand
 * the entries of the shards dropped.
 */
import { CERTIFICATES_CHANNEL } from "../protocol/certificate.ts";
import type { LogEntry, RegionStore } from "./region_store.ts";

/** The log of stores written before the log was sharded: read, never written. */
export const LEGACY_LOG_SHARD = 0;
/** Where entries of channels that admit other deltas go; fan-out sends it first. */
export const GATING_LOG_SHARD = 1;
/** The first data shard. */
export const FIRST_DATA_SHARD = 2;
/** Data shards instances spread their writes over (each instance on one at a time). */
export const LOG_DATA_SHARDS = 16;
/** Every shard a store may hold entries in: legacy, gating, data. */
export const LOG_SHARDS = FIRST_DATA_SHARD + LOG_DATA_SHARDS;

/** Whether a channel's deltas admit others (their entries go to `GATING_LOG_SHARD`). */
export function isGatingChannel(channel: string): boolean {
  return channel === CERTIFICATES_CHANNEL;
}

/** The shard an entry of `channel` goes to when its writer's data shard is `own`. */
export function logShardFor(channel: string, own: number): number {
  return isGatingChannel(channel) ? GATING_LOG_SHARD : own;
}

/** A data shard at random; another than `not` when given. */
export function randomDataShard(random: () => number = Math.random, not?: number): number {
  const span = not === undefined ? LOG_DATA_SHARDS : LOG_DATA_SHARDS - 1;
  const pick = FIRST_DATA_SHARD + Math.min(span - 1, Math.floor(random() * span));
  return not !== undefined && pick >= not ? pick + 1 : pick;
}

/** Checks a shard number given to a store (a programmer bug when wrong). */
export function assertLogShard(shard: number): void {
  if (!Number.isSafeInteger(shard) || shard < 0 || shard >= LOG_SHARDS) {
    throw new RangeError(
      `Cannot read log shard ${shard} as shards are numbered 0 to ${LOG_SHARDS - 1}`,
    );
  }
}

/** The position before every entry: 0 in each shard. */
export function logStart(): number[] {
  return new Array(LOG_SHARDS).fill(0);
}

/** How many entries a position covers (the sum over shards): what `logHead()` reports. */
export function logTotal(position: readonly number[]): number {
  return position.reduce((sum, n) => sum + n, 0);
}

/** Entries between `position` and `heads`, summed over shards. */
export function logBehind(heads: readonly number[], position: readonly number[]): number {
  return heads.reduce((sum, head, shard) => sum + Math.max(0, head - (position[shard] ?? 0)), 0);
}

export interface LogRead {
  readonly entries: LogEntry[];
  /** The position after the entries returned. */
  readonly position: number[];
  /** True when some shard has entries after `position` still. */
  readonly more: boolean;
}

/**
 * One page of every shard with entries after `position` (at most `limit` entries of each), shard
 * by shard. Reads the heads first, so a shard with nothing new costs nothing more; call again
 * while `more`. Everything committed before the call is in this read or a later one.
 */
export async function readLogAfter(
  store: RegionStore,
  position: readonly number[],
  limit: number,
): Promise<LogRead> {
  const heads = await store.logHeads();
  const next = [...position];
  const behind = heads.flatMap((head, shard) => head > position[shard] ? [shard] : []);
  const pages = await Promise.all(behind.map((s) => store.listLog(s, position[s], limit)));
  const entries: LogEntry[] = [];
  let more = false;
  pages.forEach((page, i) => {
    entries.push(...page.entries);
    next[behind[i]] = page.cursor;
    more ||= page.more;
  });
  return { entries, position: next, more };
}
