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
 * Whatever a changing leader or a partition makes this miss, anti-entropy repairs; a delta it
 * repairs is logged as the peer would have relayed it (`zone` from a region of my zone, `remote`
 * from another: region_index.ts, `repairOrigin`), so it goes on from here as a relay would.
 * `sync` is what older regions label their repairs.
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
/** Messages of one page, sent to the target at once. */
export const FANOUT_MESSAGES_IN_FLIGHT = 4;
/** Most deltas one page sends to its target: a page counts the entries that go there. */
export const FANOUT_PAGE_DELTAS_MAX = FANOUT_BATCH_DELTAS_MAX * FANOUT_MESSAGES_IN_FLIGHT;
/**
 * Most log entries one page may scan for its deltas. Entries that do not go to the target (a
 * zone leader's log holds every zone's deltas; few of them go to one far zone) are skipped
 * without filling the page, up to this bound per page (CPU and store reads per round trip).
 */
export const FANOUT_PAGE_SCAN_MAX = 4 * FANOUT_PAGE_DELTAS_MAX;
/** Log entries read from the store at once while a page is gathered. */
export const FANOUT_LOG_READ_MAX = 1_024;
/**
 * Pages of one drain sent to the target before the first is acknowledged (so at most
 * FANOUT_PAGES_IN_FLIGHT × FANOUT_MESSAGES_IN_FLIGHT messages to one target at once): a drain
 * moves up to this many pages per round trip.
 */
export const FANOUT_PAGES_IN_FLIGHT = 2;
/** Most log entries examined per target per drain (bounds one tick's work). */
export const FANOUT_ENTRIES_PER_DRAIN_MAX = 8_192;

if (FANOUT_PAGE_SCAN_MAX < FANOUT_PAGE_DELTAS_MAX) {
  throw new Error("FANOUT_PAGE_SCAN_MAX must let a page of target entries fill");
}

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
 * FANOUT_ENTRIES_PER_DRAIN_MAX entries examined in all. Each shard goes in pages of at most
 * FANOUT_PAGE_DELTAS_MAX entries for the target (FANOUT_PAGE_SCAN_MAX log entries scanned), each
 * page's messages sent at once (a set has no order to keep), FANOUT_PAGES_IN_FLIGHT pages at a
 * time. The shard's cursor moves past a page only when it and every page before it were
 * acknowledged, so a failure resends from the first page not acknowledged (the receiver answers
 * `duplicate` for what it has): nothing is skipped, nothing lost.
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

type Totals = { sent: number; skipped: number; examined: number };

/** One page: its messages, and the shard position it ends at. */
interface Page {
  readonly messages: { label: DeltaOrigin; deltas: { body: string; sig: string }[] }[];
  /** `n` of the last log entry the page scanned. */
  readonly last: number;
  /** The shard has nothing after the page (up to the bound). */
  readonly end: boolean;
}

/**
 * Drains one shard from `cursor[shard]` up to `bound` (its end when null), within the drain's
 * budget, FANOUT_PAGES_IN_FLIGHT pages at a time; moves `cursor[shard]` past each page once it
 * and the pages before it were acknowledged. False when a send failed.
 */
async function drainShard(
  o: ShardStep,
  shard: number,
  cursor: number[],
  bound: number | null,
  totals: Totals,
): Promise<boolean> {
  const sending: { last: number; acked: Promise<boolean> }[] = [];
  let read = cursor[shard], end = false;
  for (;;) {
    while (
      !end && sending.length < FANOUT_PAGES_IN_FLIGHT &&
      totals.examined < FANOUT_ENTRIES_PER_DRAIN_MAX
    ) {
      const page = await nextPage(o, shard, read, bound, totals);
      end = page.end;
      if (page.last === read) break;
      read = page.last;
      sending.push({ last: page.last, acked: sendPage(o, page, totals) });
    }
    const first = sending.shift();
    if (first === undefined) return true;
    if (!(await first.acked)) {
      await Promise.all(sending.map((s) => s.acked)); // resent from `first` next time
      return false;
    }
    cursor[shard] = await o.store.advanceCursor(o.name, first.last);
  }
}

/**
 * Gathers the page after `from`: log entries up to FANOUT_PAGE_DELTAS_MAX of which go to the
 * target, scanning at most FANOUT_PAGE_SCAN_MAX (and what is left of the drain's budget).
 */
async function nextPage(
  o: ShardStep,
  shard: number,
  from: number,
  bound: number | null,
  totals: Totals,
): Promise<Page> {
  const byLabel = new Map<DeltaOrigin, LogEntry[]>();
  const scanMax = Math.min(FANOUT_PAGE_SCAN_MAX, FANOUT_ENTRIES_PER_DRAIN_MAX - totals.examined);
  let last = from, scanned = 0, taken = 0, end = false;
  while (taken < FANOUT_PAGE_DELTAS_MAX) {
    const room = bound === null ? Infinity : bound - last;
    const limit = Math.min(FANOUT_LOG_READ_MAX, scanMax - scanned, room);
    if (limit <= 0) {
      end = room <= 0;
      break;
    }
    const read = await o.store.listLog(shard, last, limit);
    for (const entry of read.entries) {
      if (taken === FANOUT_PAGE_DELTAS_MAX) break;
      last = entry.n;
      scanned++;
      const label = fanOutLabel(entry.origin, o.self, o.target, o.leadsZone);
      if (label === null || o.forwarded.delete(entry.id)) {
        totals.skipped++;
        continue;
      }
      taken++;
      const entries = byLabel.get(label);
      if (entries === undefined) byLabel.set(label, [entry]);
      else entries.push(entry);
    }
    if (read.entries.length === 0 || (!read.more && last === read.cursor)) {
      end = true;
      break;
    }
  }
  totals.examined += scanned;
  const messages: Page["messages"] = [];
  for (const [label, entries] of byLabel) {
    const records = await Promise.all(entries.map((e) => o.store.getDelta(e.channel, e.id)));
    const deltas = records.filter((r): r is StoredDelta => r !== null)
      .map(({ body, sig }) => ({ body, sig }));
    for (const batch of envelopeBatches(deltas)) messages.push({ label, deltas: batch });
  }
  return { messages, last, end };
}

/** Sends a page's messages at once; true when every one was acknowledged. */
async function sendPage(o: ShardStep, page: Page, totals: Totals): Promise<boolean> {
  const acks = await Promise.all(
    page.messages.map(({ label, deltas }) => o.send(o.target, label, deltas).catch(() => false)),
  );
  if (acks.includes(false)) return false;
  totals.sent += page.messages.reduce((n, m) => n + m.deltas.length, 0);
  return true;
}
