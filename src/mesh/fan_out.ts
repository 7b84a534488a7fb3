/**
 * Eager fan-out: every accepted delta is in the region log (written atomically with the delta);
 * the leader drains the log to each exchange target, one cursor per target, advanced only after
 * the target acknowledged. So nothing is lost across crashes, and a peer that is down is retried
 * for ever from where it stopped.
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
 */
import type { DeltaOrigin, LogEntry, RegionStore, StoredDelta } from "../store/region_store.ts";
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

/** Cursor name of a target's fan-out progress. */
export const fanOutCursor = (target: string): string => `fanout:${target}`;

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
  /** Log entries after the cursor still to examine for this target. */
  readonly behind: number;
  /** The target's cursor after the drain. */
  readonly cursor: number;
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

/**
 * Drains the log to one target from its cursor until caught up or a send fails. Each step reads
 * FANOUT_MESSAGES_IN_FLIGHT messages' worth of log and sends its messages at once (a set has no
 * order to keep); the cursor moves past the step only when every message was acknowledged, so a
 * failure resends the whole step later (the receiver answers `duplicate` for what it has).
 * Entries whose ids are in `forwarded` (the target acknowledged them by eager forwarding) are
 * skipped and taken out of it.
 */
export async function drainTo(
  store: RegionStore,
  self: RegionInfo,
  target: RegionInfo,
  leadsZone: boolean,
  send: SendDeltas,
  forwarded: Set<string> = new Set(),
): Promise<DrainResult> {
  const name = fanOutCursor(target.id);
  let cursor = await store.getCursor(name);
  let sent = 0, skipped = 0, examined = 0;
  while (examined < FANOUT_ENTRIES_PER_DRAIN_MAX) {
    const page = await store.listLog(cursor, FANOUT_BATCH_DELTAS_MAX * FANOUT_MESSAGES_IN_FLIGHT);
    if (page.entries.length === 0) break;
    examined += page.entries.length;
    const byLabel = new Map<DeltaOrigin, LogEntry[]>();
    for (const entry of page.entries) {
      const label = fanOutLabel(entry.origin, self, target, leadsZone);
      if (label === null || forwarded.delete(entry.id)) skipped++;
      else byLabel.set(label, [...(byLabel.get(label) ?? []), entry]);
    }
    const messages: { label: DeltaOrigin; deltas: { body: string; sig: string }[] }[] = [];
    for (const [label, entries] of byLabel) {
      const records = await Promise.all(entries.map((e) => store.getDelta(e.channel, e.id)));
      const deltas = records.filter((r): r is StoredDelta => r !== null)
        .map(({ body, sig }) => ({ body, sig }));
      for (const batch of envelopeBatches(deltas)) messages.push({ label, deltas: batch });
    }
    const acks = await Promise.all(
      messages.map(({ label, deltas }) => send(target, label, deltas)),
    );
    if (acks.includes(false)) {
      return { sent, skipped, ok: false, behind: (await store.logHead()) - cursor, cursor };
    }
    sent += messages.reduce((n, m) => n + m.deltas.length, 0);
    cursor = await store.advanceCursor(name, page.cursor);
    if (!page.more) break;
  }
  return { sent, skipped, ok: true, behind: (await store.logHead()) - cursor, cursor };
}
