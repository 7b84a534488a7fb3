/**
 * Reading a mailbox (docs/protocol.md §23.3): the direct messages of `_inbox:<owner>` that have
 * neither expired nor been acknowledged by the owner, in this region's arrival order. The owner's
 * acknowledgements are deltas in the same channel (`add {set: "acked", elem: <id>}`), so they
 * replicate like the messages and a message acknowledged in one region is gone from every other.
 * The scan starts at the mailbox's low-water mark: below it every message has expired or been
 * acknowledged, and every acknowledgement names only messages below it too (`deadPrefix`).
 */
import {
  ACK_SET,
  INBOX_LIMIT_DEFAULT,
  INBOX_LIMIT_MAX,
  inboxChannel,
  type InboxMessageJson,
  type MessageBody,
} from "../protocol/mod.ts";
import type { DeltaBody } from "../protocol/delta.ts";
import {
  DeadPrefix,
  moveLowWater,
  readLowWater,
  retainedArrivals,
} from "../region/retained_scan.ts";
import type { ArrivedDelta, RegionStore, StoredDelta } from "../store/region_store.ts";

export { INBOX_LIMIT_DEFAULT, INBOX_LIMIT_MAX };

/** A direct message as its recipient reads it, with this region's arrival number of it. */
export interface InboxMessage extends InboxMessageJson {
  /** This region's arrival number of the message: read on with `after`. */
  readonly arrival: number;
}

export interface InboxPage {
  readonly messages: InboxMessage[];
  /** The arrival number to read after next time (the last message's, or `after`). */
  readonly cursor: number;
  readonly more: boolean;
}

/** What a scan keeps of one arrival: never the sealed payload (a page fetches its own). */
type Scanned =
  | {
    readonly kind: "message";
    readonly id: string;
    readonly arrival: number;
    readonly from: string;
    readonly expires: number;
  }
  | { readonly kind: "ack"; readonly arrival: number; readonly ids: readonly string[] }
  | { readonly kind: "other"; readonly arrival: number };

function scanned(delta: ArrivedDelta, owner: string): Scanned {
  const { id, arrival } = delta;
  let body: MessageBody | DeltaBody;
  try {
    body = JSON.parse(delta.body);
  } catch {
    return { kind: "other", arrival };
  }
  if ("to" in body) {
    return { kind: "message", id, arrival, from: body.author, expires: body.ts + body.ttl };
  }
  if (body.author !== owner) return { kind: "other", arrival };
  const ids = body.ops.flatMap((op) => op.op === "add" && op.set === ACK_SET ? [op.elem] : []);
  return { kind: "ack", arrival, ids };
}

/** The message a stored direct message is, as its recipient reads it. */
function inboxMessage(stored: StoredDelta, arrival: number): InboxMessage {
  const body = JSON.parse(stored.body) as MessageBody;
  const { author, seq, ts, ttl, enc, ct } = body;
  const envelope = { body: stored.body, sig: stored.sig };
  return { id: stored.id, from: author, seq, ts, expires: ts + ttl, enc, ct, arrival, envelope };
}

/**
 * Up to `limit` unexpired, unacknowledged messages of `owner`'s mailbox with arrival above
 * `after`, at `nowMs`, leaving out those of `excluded` authors (quarantined). Scans the whole
 * retained mailbox (acknowledgements may come after the messages they name), keeping only ids,
 * senders and expiries, then reads the page's messages; then moves the low-water mark.
 */
export async function readInbox(
  store: RegionStore,
  owner: string,
  after: number,
  limit: number,
  nowMs: number,
  excluded: ReadonlySet<string> = new Set(),
): Promise<InboxPage> {
  const channel = inboxChannel(owner);
  const low = await readLowWater(store, channel);
  const acked = new Set<string>();
  const read: Scanned[] = [];
  for await (const delta of retainedArrivals(store, channel, low.arrival)) {
    const item = scanned(delta, owner);
    if (item.kind === "ack") { for (const id of item.ids) acked.add(id); }
    read.push(item);
  }
  const gone = (m: { id: string; expires: number }) => m.expires <= nowMs || acked.has(m.id);
  const live = read.filter((m): m is Extract<Scanned, { kind: "message" }> =>
    m.kind === "message" && !gone(m) && !excluded.has(m.from) && m.arrival > after
  );
  const page = live.slice(0, limit);
  const stored = await Promise.all(page.map((m) => store.getDelta(channel, m.id)));
  const messages = stored.flatMap((d, i) => d === null ? [] : [inboxMessage(d, page[i].arrival)]);
  await moveLowWater(
    store,
    channel,
    low,
    await deadPrefix(store, channel, low.arrival, read, gone),
  );
  return { messages, cursor: page.at(-1)?.arrival ?? after, more: live.length > limit };
}

/**
 * How far the low-water mark may move: over the run of dead arrivals right above it. A message
 * is dead once expired or acknowledged. An acknowledgement is dead only once every message it
 * names arrived before it and is dead — or was stored below the mark — so that however late a
 * message arrives here (its sender's or the owner's clock may lag by days), the acknowledgement
 * that hides it is still read: every region that holds both hides it alike.
 */
async function deadPrefix(
  store: RegionStore,
  channel: string,
  from: number,
  read: readonly Scanned[],
  gone: (m: { id: string; expires: number }) => boolean,
): Promise<number> {
  const messages = new Map<string, Extract<Scanned, { kind: "message" }>>();
  for (const item of read) if (item.kind === "message") messages.set(item.id, item);
  const dead = new DeadPrefix(from);
  for (const item of read) {
    if (item.arrival !== dead.upTo + 1) break;
    let isDead = item.kind === "other";
    if (item.kind === "message") isDead = gone(item);
    if (item.kind === "ack") {
      isDead = true;
      for (const id of item.ids) {
        const message = messages.get(id);
        const settled = message === undefined
          ? await store.getDelta(channel, id) !== null // stored, and not above the mark: below it
          : message.arrival < item.arrival && gone(message);
        if (!settled) isDead = false;
        if (!isDead) break;
      }
    }
    if (!isDead) break;
    dead.note(item.arrival, true);
  }
  return dead.upTo;
}
