/**
 * The acknowledged ids of each mailbox (docs/protocol.md §23.5), kept in the store index so a
 * mailbox read can stop after the messages it lists instead of scanning the whole mailbox for
 * acknowledgements that might name them (strangers choose how big a mailbox is).
 *
 * The index is a function of the stored set, whatever the arrival order: the union of the ids
 * named by every delta the owner signed in its own mailbox (both halves of an equivocation
 * included). Each owner delta is recorded once (`own` key) together with the ids it names and a
 * count of recorded owner deltas, in one conditional write; ingest records them right after
 * storing them. The store counts the owner's deltas itself, atomically with each put (its author
 * head), so a read knows the index is complete when the two counts agree; when they do not (a
 * crash between the put and the index write, an acknowledgement committing at that moment, or a
 * store written before this index existed), `ensureAckIndex` sweeps the mailbox from where the
 * last sweep stopped and records what it finds. Derived data: losing it costs one sweep.
 */
import { ACK_SET, INBOX_CHANNEL_PREFIX, inboxChannel } from "../protocol/message_kinds.ts";
import type { IndexEntry, IndexKey, RegionStore } from "../store/region_store.ts";

/** Arrivals one sweep reads per page. */
export const ACK_SWEEP_PAGE = 256;
/** Times one batch's conditional write is retried after another writer moved the count. */
export const ACK_INDEX_TRIES_MAX = 16;
/** Keys one index write carries at most (under the store's 128, `index_limits.ts`). */
const WRITE_KEYS_MAX = 120;
/** Expectations one index write carries at most (under the store's 64). */
const WRITE_EXPECT_MAX = 60;

/** One delta the owner signed in its mailbox: its id and the message ids it acknowledges. */
export interface OwnDelta {
  readonly id: string;
  readonly acked: readonly string[];
}

export const ackedKey = (owner: string, id: string): IndexKey => ["mailbox", "acked", owner, id];
const ownKey = (owner: string, id: string): IndexKey => ["mailbox", "own", owner, id];
const countKey = (owner: string): IndexKey => ["mailbox", "owncount", owner];
const sweptKey = (owner: string): IndexKey => ["mailbox", "swept", owner];

/**
 * The owner and what it acknowledges, for a delta its owner signed in its own mailbox (an
 * acknowledgement, or a message to itself: none); null for any other delta. Pure.
 */
export function ownDelta(
  delta: {
    readonly id: string;
    readonly channel: string;
    readonly author: string;
    readonly ops?: readonly { op: string; set?: string; elem?: unknown }[];
  },
): { owner: string; delta: OwnDelta } | null {
  if (!delta.channel.startsWith(INBOX_CHANNEL_PREFIX)) return null;
  const owner = delta.channel.slice(INBOX_CHANNEL_PREFIX.length);
  if (delta.author !== owner) return null;
  const acked = (delta.ops ?? []).flatMap((op) =>
    op.op === "add" && op.set === ACK_SET && typeof op.elem === "string" ? [op.elem] : []
  );
  return { owner, delta: { id: delta.id, acked: [...new Set(acked)] } };
}

/**
 * Records the owner deltas among `deltas` (stored deltas of any channels). Idempotent; a write
 * that keeps losing to other writers is given up (the next read's sweep records it).
 */
export async function recordOwnDeltas(
  store: RegionStore,
  deltas: readonly Parameters<typeof ownDelta>[0][],
): Promise<void> {
  const byOwner = new Map<string, OwnDelta[]>();
  for (const d of deltas) {
    const own = ownDelta(d);
    if (own === null) continue;
    const list = byOwner.get(own.owner) ?? [];
    list.push(own.delta);
    byOwner.set(own.owner, list);
  }
  for (const [owner, own] of byOwner) await record(store, owner, own);
}

/**
 * Records `own` for `owner`, in writes within the store's limits, each against the count: true
 * when every one is recorded.
 */
async function record(
  store: RegionStore,
  owner: string,
  own: readonly OwnDelta[],
): Promise<boolean> {
  let left = [...new Map(own.map((d) => [d.id, d])).values()];
  let conflicts = 0;
  while (left.length > 0 && conflicts < ACK_INDEX_TRIES_MAX) {
    const keys = left.slice(0, WRITE_EXPECT_MAX).map((d) => ownKey(owner, d.id));
    const [count, ...held] = await store.readIndex([countKey(owner), ...keys]);
    left = left.filter((_, i) => i >= keys.length || held[i] === null);
    const batch: OwnDelta[] = [];
    let size = 2; // the count: expected and set
    for (const d of left.slice(0, WRITE_EXPECT_MAX - 1)) {
      if (size + 2 + d.acked.length > WRITE_KEYS_MAX) break;
      batch.push(d);
      size += 2 + d.acked.length;
    }
    if (batch.length === 0) break;
    const n = count === null ? 0 : Number(count);
    const set: IndexEntry[] = [{ key: countKey(owner), value: String(n + batch.length) }];
    const acked = new Set<string>(); // two deltas of a batch may name one id
    for (const d of batch) {
      set.push({ key: ownKey(owner, d.id), value: "1" });
      for (const id of d.acked) acked.add(id);
    }
    for (const id of acked) set.push({ key: ackedKey(owner, id), value: "1" });
    const expect = [
      { key: countKey(owner), value: count },
      ...batch.map((d) => ({ key: ownKey(owner, d.id), value: null })),
    ];
    if (await store.writeIndex({ expect, set })) {
      const done = new Set(batch.map((d) => d.id));
      left = left.filter((d) => !done.has(d.id));
      conflicts = 0;
    } else conflicts++;
  }
  return left.length === 0;
}

/**
 * Makes the acknowledgement index of `owner`'s mailbox complete for every delta stored before the
 * call: when it has recorded fewer owner deltas than the store holds, sweeps the arrivals after
 * the last sweep's end and records the owner deltas there. Returns the arrivals swept (0 when
 * the index was complete: the usual case, two reads).
 */
export async function ensureAckIndex(store: RegionStore, owner: string): Promise<number> {
  const channel = inboxChannel(owner);
  const head = await store.getHead(channel, owner);
  const [count, swept] = await store.readIndex([countKey(owner), sweptKey(owner)]);
  if ((head?.count ?? 0) <= (count === null ? 0 : Number(count))) return 0;
  const from = swept === null ? 0 : Number(swept);
  let after = Number.isSafeInteger(from) && from > 0 ? from : 0;
  let read = 0;
  let recorded = true;
  for (;;) {
    const page = await store.listArrivals(channel, after, ACK_SWEEP_PAGE);
    read += page.deltas.length;
    const own = page.deltas.flatMap((d) => {
      const found = ownDelta({ ...d, ops: opsOf(d.body) });
      return found === null ? [] : [found.delta];
    });
    if (own.length > 0 && !await record(store, owner, own)) recorded = false;
    after = page.cursor;
    if (!page.more) break;
  }
  // The mark moves only over what is recorded, so no owner delta below it is ever missed.
  if (!recorded) return read;
  await store.writeIndex({
    expect: [{ key: sweptKey(owner), value: swept }],
    set: [{ key: sweptKey(owner), value: String(after) }],
  }).catch(() => false); // a concurrent sweep wins; derived data
  return read;
}

/** The ops of a stored body (none for a direct message, or a body that does not parse). */
function opsOf(body: string): { op: string; set?: string; elem?: unknown }[] {
  try {
    const ops = (JSON.parse(body) as { ops?: unknown }).ops;
    return Array.isArray(ops) ? ops : [];
  } catch {
    return [];
  }
}
