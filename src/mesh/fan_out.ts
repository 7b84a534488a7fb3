/**
 * Eager fan-out: every accepted delta is in the region log (written atomically with the delta);
 * the leader drains the log to each exchange target, one cursor per target and log shard,
 * advanced only after the target acknowledged. So nothing is lost across crashes, and a peer
 * that is down is retried for ever from where it stopped. The legacy shard keeps the cursor name
 * the one log had (`fanout:<target>`), so a region upgraded in place goes on where it stopped.
 *
 * Where a delta goes depends on where it came from (its log origin), so that each region relays a
 * delta at most once and nothing echoes:
 *
 * | origin here | to a region of my zone                 | to another zone's leader        |
 * | ----------- | -------------------------------------- | ------------------------------- |
 * | agent       | yes, as `zone`                         | if I lead my zone, as `remote`  |
 * | zone        | no (the origin region sent it to all)  | if I lead my zone, as `remote`  |
 * | remote      | if I lead my zone, as `relay`          | no (its zone leader sent to all)|
 * | relay, sync | no                                     | no                              |
 *
 * Whatever a changing leader or a partition makes this miss, anti-entropy repairs.
 *
 * Order across shards: a delta admitted by a certificate must not reach a peer before the
 * certificate (the peer would refuse it, and only anti-entropy would bring it). Certificates are
 * logged in the gating shard, and a drain sends the legacy and gating shards to their end before
 * the data shards up to the heads it read first: a delta in a data shard below those heads was
 * committed before they were read, so its certificate was too, and has been sent.
 */
import type { DeltaOrigin, LogEntry, RegionStore, StoredDelta } from "../store/region_store.ts";
import { FIRST_DATA_SHARD, LEGACY_LOG_SHARD, LOG_SHARDS, logBehind } from "../store/region_log.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";
import { REGION_MESSAGE_BYTES_MAX } from "./region_message.ts";
import type { RegionInfo } from "./topology.ts";

/** Most deltas sent to one target in one message. */
export const FANOUT_BATCH_DELTAS_MAX = 256;
/**
 * Most bytes of envelopes in one region message: a quarter of what a receiver accepts
 * (REGION_MESSAGE_BYTES_MAX), leaving room for the message's own escaping of the bodies.
 */
export const FANOUT_MESSAGE_BYTES_MAX = 1_048_576;
/** Messages sent to one target at once during a drain. */
export const FANOUT_MESSAGES_IN_FLIGHT = 4;
/** Most log entries examined per target per drain (bounds one tick's work). */
export const FANOUT_ENTRIES_PER_DRAIN_MAX = 8_192;

// A message's JSON escapes each envelope once more: at most 2x for bodies of quotes and
// backslashes, plus the message head. A full batch must stay well under the receiver's limit.
if (FANOUT_MESSAGE_BYTES_MAX * 2 + 65_536 > REGION_MESSAGE_BYTES_MAX) {
  throw new Error("FANOUT_MESSAGE_BYTES_MAX must fit a receiver's REGION_MESSAGE_BYTES_MAX");
}

/** The origin label to send `entry` to `target` with, or null when it does not go there. */
export function fanOutLabel(
  origin: DeltaOrigin,
  self: RegionInfo,
  target: RegionInfo,
  leadsZone: boolean,
): DeltaOrigin | null {
  if (target.zone === self.zone) {
    if (origin === "agent") return "zone";
    if (origin === "remote" && leadsZone) return "relay";
    return null;
  }
  if (leadsZone && (origin === "agent" || origin === "zone")) return "remote";
  return null;
}

/**
 * Cursor name of a target's fan-out progress in one log shard. The legacy shard's is the name
 * the one log's cursor had.
 */
export const fanOutCursor = (target: string, shard: number = LEGACY_LOG_SHARD): string =>
  shard === LEGACY_LOG_SHARD ? `fanout:${target}` : `fanout:${target}:${shard}`;

/** The names of a target's fan-out cursors, one per log shard, in shard order. */
export const fanOutCursors = (target: string): string[] =>
  Array.from({ length: LOG_SHARDS }, (_, shard) => fanOutCursor(target, shard));

/** Sends a batch of envelopes to a target; resolves true when the target acknowledged. */
export type SendDeltas = (
  target: RegionInfo,
  origin: DeltaOrigin,
  deltas: { body: string; sig: string }[],
) => Promise<boolean>;

export interface DrainResult {
  readonly sent: number;
  readonly skipped: number;
  /** False when the target did not acknowledge (the cursor stayed where it was). */
  readonly ok: boolean;
  /** Log entries after the cursors still to examine for this target. */
  readonly behind: number;
  /** The target's cursor in each log shard after the drain. */
  readonly cursor: number[];
}

/**
 * Splits envelopes into messages of at most FANOUT_BATCH_DELTAS_MAX deltas and
 * FANOUT_MESSAGE_BYTES_MAX bytes (their JSON size inside a message), so no message can exceed
 * what a receiver accepts, whatever the deltas' sizes.
 */
export function envelopeBatches<T extends { body: string; sig: string }>(
  envelopes: readonly T[],
): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const envelope of envelopes) {
    const size = utf8ByteLength(JSON.stringify(envelope)) + 1;
    if (
      batch.length > 0 &&
      (batch.length >= FANOUT_BATCH_DELTAS_MAX || bytes + size > FANOUT_MESSAGE_BYTES_MAX)
    ) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(envelope);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** Whether a target acknowledged every entry up to `heads` (false when its cursors are unknown). */
export function caughtUp(acked: readonly number[] | null, heads: readonly number[]): boolean {
  return acked !== null && heads.every((head, shard) => acked[shard] >= head);
}

/** What a drain of one target starts from. */
export interface DrainStart {
  /** The log's heads, read before anything else of this drain (the data shards' bound). */
  readonly heads: readonly number[];
  /** The target's cursors as known here (null: read them from the store). */
  readonly acked: readonly number[] | null;
  /** Ids the target acknowledged by eager forwarding: skipped, and taken out of the set. */
  readonly forwarded?: Set<string>;
}

/**
 * Drains the log to one target from its cursors: the legacy and gating shards to their end, then
 * each data shard up to `start.heads` (see the module doc), at most
 * FANOUT_ENTRIES_PER_DRAIN_MAX entries in all. Each step reads FANOUT_MESSAGES_IN_FLIGHT
 * messages' worth of one shard and sends its messages at once (a set has no order to keep); the
 * shard's cursor moves past the step only when every message was acknowledged, so a failure
 * resends the whole step later (the receiver answers `duplicate` for what it has).
 */
export async function drainTo(
  store: RegionStore,
  self: RegionInfo,
  target: RegionInfo,
  leadsZone: boolean,
  send: SendDeltas,
  start: DrainStart,
): Promise<DrainResult> {
  const names = fanOutCursors(target.id);
  const cursor = start.acked === null ? await store.getCursors(names) : [...start.acked];
  const forwarded = start.forwarded ?? new Set<string>();
  const totals = { sent: 0, skipped: 0, examined: 0 };
  for (let shard = 0; shard < LOG_SHARDS; shard++) {
    const ordered = shard < FIRST_DATA_SHARD; // legacy and gating: to the end, and first
    if (!ordered && cursor[shard] >= start.heads[shard]) continue;
    const step = { store, self, target, leadsZone, send, forwarded, name: names[shard] };
    const ok = await drainShard(step, shard, cursor, ordered ? null : start.heads[shard], totals);
    const heads = ok ? null : await store.logHeads();
    if (!ok) return { ...totals, ok: false, behind: logBehind(heads!, cursor), cursor };
    // A budget spent before an ordered shard's end leaves the data shards for the next drain.
    if (totals.examined >= FANOUT_ENTRIES_PER_DRAIN_MAX) break;
  }
  const behind = logBehind(await store.logHeads(), cursor);
  return { sent: totals.sent, skipped: totals.skipped, ok: true, behind, cursor };
}

interface ShardStep {
  readonly store: RegionStore;
  readonly self: RegionInfo;
  readonly target: RegionInfo;
  readonly leadsZone: boolean;
  readonly send: SendDeltas;
  readonly forwarded: Set<string>;
  /** The cursor name of this target in this shard. */
  readonly name: string;
}

/**
 * Drains one shard from `cursor[shard]` up to `bound` (its end when null), within the drain's
 * budget; moves `cursor[shard]` with each acknowledged step. False when a send failed.
 */
async function drainShard(
  o: ShardStep,
  shard: number,
  cursor: number[],
  bound: number | null,
  totals: { sent: number; skipped: number; examined: number },
): Promise<boolean> {
  while (totals.examined < FANOUT_ENTRIES_PER_DRAIN_MAX) {
    const room = bound === null ? Infinity : bound - cursor[shard];
    const take = Math.min(FANOUT_BATCH_DELTAS_MAX * FANOUT_MESSAGES_IN_FLIGHT, room);
    if (take <= 0) return true;
    const page = await o.store.listLog(shard, cursor[shard], take);
    if (page.entries.length === 0) return true;
    totals.examined += page.entries.length;
    const byLabel = new Map<DeltaOrigin, LogEntry[]>();
    for (const entry of page.entries) {
      const label = fanOutLabel(entry.origin, o.self, o.target, o.leadsZone);
      if (label === null || o.forwarded.delete(entry.id)) totals.skipped++;
      else byLabel.set(label, [...(byLabel.get(label) ?? []), entry]);
    }
    const messages: { label: DeltaOrigin; deltas: { body: string; sig: string }[] }[] = [];
    for (const [label, entries] of byLabel) {
      const records = await Promise.all(entries.map((e) => o.store.getDelta(e.channel, e.id)));
      const deltas = records.filter((r): r is StoredDelta => r !== null)
        .map(({ body, sig }) => ({ body, sig }));
      for (const batch of envelopeBatches(deltas)) messages.push({ label, deltas: batch });
    }
    const acks = await Promise.all(
      messages.map(({ label, deltas }) => o.send(o.target, label, deltas)),
    );
    if (acks.includes(false)) return false;
    totals.sent += messages.reduce((n, m) => n + m.deltas.length, 0);
    cursor[shard] = await o.store.advanceCursor(o.name, page.cursor);
    if (!page.more) return true;
  }
  return true;
}
